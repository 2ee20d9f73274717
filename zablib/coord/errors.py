"""The errors a ZooKeeper client can see, named and numbered as kazoo names them.

A ZooKeeper server answers a failed request with an integer error *code* (``-101`` for "no such
node", ``-110`` for "node exists" ...; the list is ``KeeperException.Code`` in ZooKeeper's Java
source). The Python client kazoo turns each code into an exception class; this module gives the
same class names, the same hierarchy and the same ``code`` values as ``kazoo.exceptions`` 2.11.0,
so a program written against kazoo catches the same exceptions on zablib's simulated service.

The classes are zablib's own (zablib does not depend on kazoo); what carries over from kazoo is
the set of facts: names, codes, which class derives from which.

Examples
--------
>>> from zablib.coord.errors import NoNodeError, error_for_code
>>> NoNodeError.code
-101
>>> type(error_for_code(-110)).__name__
'NodeExistsError'
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType


class KazooException(Exception):
    """Base of every exception the client library raises."""


class ZookeeperError(KazooException):
    """Base of the errors a ZooKeeper server reports; each subclass has a numeric ``code``."""

    #: The server's error code (``KeeperException.Code``); set on every subclass below.
    code: int


# -- client-side exceptions without a server code (kazoo defines them; the client helper raises
# -- some of them, e.g. on a stopped client) ---------------------------------------------------
class CancelledError(KazooException):
    """A pending operation was cancelled."""


class ConfigurationError(KazooException):
    """The arguments that configure a client object are invalid."""


class ZookeeperStoppedError(KazooException):
    """The client is stopped, so it is not connected."""


class ConnectionDropped(KazooException):
    """The connection dropped (kazoo uses it internally to leave its loops)."""


class LockTimeout(KazooException):
    """A lock could not be acquired in time."""


class WriterNotClosedException(KazooException):
    """The client's writer could not be stopped."""


class SASLException(KazooException):
    """SASL authentication failed on the client."""


# -- server errors, one class per code ----------------------------------------------------------
class RolledBackError(ZookeeperError):
    """In a failed ``multi``: this operation was fine but was undone with the rest (code 0)."""

    code = 0


class SystemZookeeperError(ZookeeperError):
    """Marks the range of system errors; never sent by a server."""

    code = -1


class RuntimeInconsistency(ZookeeperError):
    """A runtime inconsistency; in a failed ``multi``, an operation after the failing one."""

    code = -2


class DataInconsistency(ZookeeperError):
    """A data inconsistency was found."""

    code = -3


class ConnectionLoss(ZookeeperError):
    """The connection to the server was lost; the request's outcome is unknown."""

    code = -4


class MarshallingError(ZookeeperError):
    """A request or response could not be (de)serialised."""

    code = -5


class UnimplementedError(ZookeeperError):
    """The operation is not implemented."""

    code = -6


class OperationTimeoutError(ZookeeperError):
    """The operation timed out."""

    code = -7


class BadArgumentsError(ZookeeperError):
    """The server rejected the arguments (an invalid path, deleting ``/zookeeper`` ...)."""

    code = -8


class UnknownSessionError(ZookeeperError):
    """Unknown session (used inside the server only)."""

    code = -12


class NewConfigNoQuorumError(ZookeeperError):
    """A reconfiguration found no quorum of the new configuration."""

    code = -13


class ReconfigInProcessError(ZookeeperError):
    """Another reconfiguration is in progress."""

    code = -14


class APIError(ZookeeperError):
    """Marks the range of API errors; never sent by a server."""

    code = -100


class NoNodeError(ZookeeperError):
    """The znode does not exist (or, for a create, its parent does not)."""

    code = -101


class NoAuthError(ZookeeperError):
    """The znode's access control list forbids the operation."""

    code = -102


class BadVersionError(ZookeeperError):
    """A conditional operation named a version the znode does not have."""

    code = -103


class NoChildrenForEphemeralsError(ZookeeperError):
    """An ephemeral znode cannot have children."""

    code = -108


class NodeExistsError(ZookeeperError):
    """The znode already exists."""

    code = -110


class NotEmptyError(ZookeeperError):
    """The znode has children, so it cannot be deleted."""

    code = -111


class SessionExpiredError(ZookeeperError):
    """The server expired (or closed) the session."""

    code = -112


class InvalidCallbackError(ZookeeperError):
    """An invalid callback was given."""

    code = -113


class InvalidACLError(ZookeeperError):
    """An invalid access control list was given."""

    code = -114


class AuthFailedError(ZookeeperError):
    """Client authentication failed."""

    code = -115


class SessionMovedError(ZookeeperError):
    """The session moved to another server; the request was ignored."""

    code = -118


class NotReadOnlyCallError(ZookeeperError):
    """A write was sent to a read-only server."""

    code = -119


class EphemeralOnLocalSessionError(ZookeeperError):
    """An ephemeral znode was requested on a local session."""

    code = -120


class NoWatcherError(ZookeeperError):
    """A watch to remove does not exist."""

    code = -121


class RequestTimeoutError(ZookeeperError):
    """The request did not complete within the allowed time."""

    code = -122


class ReconfigDisabledError(ZookeeperError):
    """Reconfiguration is disabled."""

    code = -123


class SessionClosedRequireSaslError(ZookeeperError):
    """The server requires SASL authentication and closed the session."""

    code = -124


class QuotaExceededError(ZookeeperError):
    """The path's quota was exceeded."""

    code = -125


class ThrottledOpError(ZookeeperError):
    """The server throttled the operation and did not run it."""

    code = -127


class ConnectionClosedError(SessionExpiredError):
    """The client's connection is closed (a call on a closed client); code of SessionExpiredError."""


def _coded_classes() -> dict[int, type[ZookeeperError]]:
    table: dict[int, type[ZookeeperError]] = {}
    pending = list(ZookeeperError.__subclasses__())
    while pending:
        klass = pending.pop()
        pending.extend(klass.__subclasses__())
        # A subclass that inherits its code (ConnectionClosedError) does not own it.
        if "code" in vars(klass):
            table[klass.code] = klass
    return dict(sorted(table.items(), reverse=True))


#: Error code -> exception class, as ``kazoo.exceptions.EXCEPTIONS`` (a read-only mapping here;
#: kazoo's raises RuntimeError for an unknown code, :func:`error_for_code` raises ValueError).
EXCEPTIONS: Mapping[int, type[ZookeeperError]] = MappingProxyType(_coded_classes())


def error_for_code(code: int, path: str | None = None) -> ZookeeperError:
    """The exception instance a client gets for a server error code.

    Parameters
    ----------
    code : int
        A ZooKeeper error code (``KeeperException.Code``), e.g. ``-101``.
    path : str, optional
        The path the failed operation named; it becomes the exception's message (kazoo's own
        instances carry no message; the class is what a program tests).

    Returns
    -------
    ZookeeperError
        An instance of the class registered for ``code`` (``RolledBackError`` for 0).

    Raises
    ------
    ValueError
        If ``code`` is not a known error code.
    """
    try:
        klass = EXCEPTIONS[code]
    except KeyError:
        raise ValueError(f"unknown ZooKeeper error code {code!r}; known codes are {sorted(EXCEPTIONS)}") \
            from None
    return klass(path) if path is not None else klass()


# Aliases kazoo keeps for the names of ZooKeeper's C library.
ConnectionLossException = ConnectionLoss
MarshallingErrorException = MarshallingError
SystemErrorException = SystemZookeeperError
RuntimeInconsistencyException = RuntimeInconsistency
DataInconsistencyException = DataInconsistency
UnimplementedException = UnimplementedError
OperationTimeoutException = OperationTimeoutError
BadArgumentsException = BadArgumentsError
ApiErrorException = APIError
NoNodeException = NoNodeError
NoAuthException = NoAuthError
BadVersionException = BadVersionError
NoChildrenForEphemeralsException = NoChildrenForEphemeralsError
NodeExistsException = NodeExistsError
InvalidACLException = InvalidACLError
AuthFailedException = AuthFailedError
NotEmptyException = NotEmptyError
SessionExpiredException = SessionExpiredError
InvalidCallbackException = InvalidCallbackError

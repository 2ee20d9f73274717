"""Client requests, the idempotent transactions ZAB carries, and the leader's step between them.

A client *asks* (a request: "create ``/q/item-`` as a sequential node", "delete ``/a`` if its
version is 3"). The answer may depend on the whole tree: which sequence number is next, whether
the version matches. ZooKeeper's leader resolves all of that once, in ``PrepRequestProcessor``,
against its latest tree, and turns the request into a *transaction* (txn) that no longer depends
on anything: "create ``/q/item-0000000003``, parent's child version becomes 4". ZAB then gives the
txn a *zxid* (ZooKeeper transaction id: the leader's epoch in the high 32 bits, a counter in the
low 32) and every server applies the committed txns in zxid order, reaching the same tree.

A request that must fail becomes an :class:`ErrorTxn` that still goes through ZAB, as in
ZooKeeper 3.8 (it is logged and answered in order, without changing the tree). A ``multi``
becomes a :class:`MultiTxn` whose failing op is an ErrorTxn.

:func:`prepare` is that leader step, a pure function. It reads the tree only through the public
read methods of :class:`zablib.coord.tree.DataTree` (``exists``, ``sequence_counter``,
``sessions``, ``apply``), so
this module does not import ``tree`` and ``tree`` may import it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import zablib.coord.errors as errors
import zablib.coord.paths as paths

#: ZooKeeper's ``jute.maxbuffer`` default (0xfffff): a server closes the connection of a client
#: whose request packet is longer than this many bytes (``NIOServerCnxn.readLength``).
JUTE_MAXBUFFER = 0xFFFFF

#: A "version" argument meaning "whatever the current version is".
ANY_VERSION = -1

_MAX_SESSION_ID = 2**63 - 1


class RequestTooLargeError(ValueError):
    """A request packet is longer than ``jute.maxbuffer``.

    A real server does not answer such a request: it closes the connection ("Len error"), and
    kazoo raises :class:`~zablib.coord.errors.ConnectionLoss` for it and reconnects. A service
    built on this module should do the same; :func:`prepare` raises this error so that an
    oversized request can never become a transaction.
    """


# -- argument checks (kazoo's client-side TypeErrors, shared with zablib's client) ----------------
def check_value(value: object, name: str = "value", allow_none: bool = True) -> None:
    """Raise kazoo's TypeError when ``value`` is not bytes (None allowed unless ``allow_none``)."""
    if (value is None and allow_none) or isinstance(value, bytes):
        return
    raise TypeError(f"Invalid type for '{name}' (must be a byte string), got {type(value).__name__}")


def check_version(version: object, name: str = "version") -> None:
    """Raise kazoo's TypeError when ``version`` is not an int.

    kazoo sends any int; a version below -1 reaches the server, which answers
    ``BadVersionError`` (no znode has a negative version), so that is not checked here.
    """
    if not isinstance(version, int):
        raise TypeError(f"Invalid type for '{name}' (int expected), got {type(version).__name__}")


def check_flag(flag: object, name: str) -> None:
    """Raise kazoo's TypeError when a flag argument is not a bool."""
    if not isinstance(flag, bool):
        raise TypeError(f"Invalid type for '{name}' (bool expected), got {type(flag).__name__}")


def _check_session_id(session_id: object) -> None:
    if not isinstance(session_id, int) or isinstance(session_id, bool) \
            or not 0 < session_id <= _MAX_SESSION_ID:
        raise ValueError(f"session id must be an int in 1..2**63-1, got {session_id!r}")


# -- requests: what a client asks -----------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CreateRequest:
    """Create a znode.

    Parameters
    ----------
    path : str
        Its path; for a sequential node, the prefix the counter is appended to.
    data : bytes or None, default b""
        Its data (kazoo's ``value``; None is stored as "no data", length 0).
    ephemeral : bool, default False
        An ephemeral znode lives as long as the session that created it.
    sequential : bool, default False
        Append the parent's 10-digit counter to the name.
    """

    path: str
    data: bytes | None = b""
    ephemeral: bool = False
    sequential: bool = False

    def __post_init__(self) -> None:
        paths.check_path_type(self.path)
        check_value(self.data)
        check_flag(self.ephemeral, "ephemeral")
        check_flag(self.sequential, "sequential")


@dataclass(frozen=True, slots=True)
class DeleteRequest:
    """Delete a znode if its version is ``version`` (-1: any version)."""

    path: str
    version: int = ANY_VERSION

    def __post_init__(self) -> None:
        paths.check_path_type(self.path)
        check_version(self.version)


@dataclass(frozen=True, slots=True)
class SetDataRequest:
    """Replace a znode's data if its version is ``version`` (-1: any version)."""

    path: str
    data: bytes | None
    version: int = ANY_VERSION

    def __post_init__(self) -> None:
        paths.check_path_type(self.path)
        check_value(self.data)
        check_version(self.version)


@dataclass(frozen=True, slots=True)
class CheckRequest:
    """In a multi: fail the whole multi unless the znode's version is ``version``."""

    path: str
    version: int

    def __post_init__(self) -> None:
        paths.check_path_type(self.path)
        check_version(self.version)


@dataclass(frozen=True, slots=True)
class SyncRequest:
    """Make the client's server catch up with the leader (not a transaction; see :func:`prepare`)."""

    path: str

    def __post_init__(self) -> None:
        paths.check_path_type(self.path)


OpRequest = CreateRequest | DeleteRequest | SetDataRequest | CheckRequest


@dataclass(frozen=True, slots=True)
class MultiRequest:
    """Several operations applied all together or not at all (kazoo's ``transaction()``)."""

    ops: tuple[OpRequest, ...]

    def __post_init__(self) -> None:
        ops = tuple(self.ops)
        for op in ops:
            if not isinstance(op, CreateRequest | DeleteRequest | SetDataRequest | CheckRequest):
                raise TypeError(f"a multi holds create, delete, set_data and check requests, got {op!r}")
        object.__setattr__(self, "ops", ops)


Request = OpRequest | MultiRequest


# -- transactions: what ZAB carries --------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CreateTxn:
    """Create znode ``path``.

    ``ephemeral_owner`` is the owning session's id for an ephemeral znode, 0 otherwise.
    ``parent_cversion`` is ZooKeeper's: the parent's count of child creations after this one
    (its stored cversion, see :meth:`~zablib.coord.tree.DataTree.sequence_counter`), fixed by the leader; -1
    means "one more than now" at apply time.
    """

    path: str
    data: bytes | None
    ephemeral_owner: int
    parent_cversion: int

    def describe(self) -> str:
        kind = f"ephemeral of {self.ephemeral_owner:#x}" if self.ephemeral_owner else "persistent"
        return f"create {self.path} ({kind})"


@dataclass(frozen=True, slots=True)
class DeleteTxn:
    """Delete znode ``path`` (the leader checked it exists, has no children, and its version)."""

    path: str

    def describe(self) -> str:
        return f"delete {self.path}"


@dataclass(frozen=True, slots=True)
class SetDataTxn:
    """Replace the data of ``path``; ``version`` is the znode's NEW version (ZooKeeper's)."""

    path: str
    data: bytes | None
    version: int

    def describe(self) -> str:
        return f"set {self.path} (version {self.version})"


@dataclass(frozen=True, slots=True)
class CheckVersionTxn:
    """A passed version check inside a multi; ``version`` is the version that was checked."""

    path: str
    version: int

    def describe(self) -> str:
        return f"check {self.path}"


@dataclass(frozen=True, slots=True)
class ErrorTxn:
    """A failed write, logged so that every server answers it in order; changes nothing.

    ``code`` is the ZooKeeper error code (see :mod:`zablib.coord.errors`); ``path`` the path the
    failed operation named, kept for the error's message ("" when unknown).
    """

    code: int
    path: str = ""

    def __post_init__(self) -> None:
        if self.code not in errors.EXCEPTIONS:
            raise ValueError(f"unknown ZooKeeper error code {self.code!r}")

    def error(self) -> errors.ZookeeperError:
        """The exception instance a client gets for this txn."""
        return errors.error_for_code(self.code, self.path or None)

    def describe(self) -> str:
        return f"error {errors.EXCEPTIONS[self.code].__name__}" + (f" {self.path}" if self.path else "")


OpTxn = CreateTxn | DeleteTxn | SetDataTxn | CheckVersionTxn | ErrorTxn


@dataclass(frozen=True, slots=True)
class MultiTxn:
    """The ops of a multi; if any op is an :class:`ErrorTxn`, the multi changes nothing."""

    txns: tuple[OpTxn, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "txns", tuple(self.txns))

    def failed(self) -> bool:
        """True when an op is an ErrorTxn, so the whole multi is rolled back."""
        return any(isinstance(txn, ErrorTxn) for txn in self.txns)

    def describe(self) -> str:
        return "multi [" + "; ".join(txn.describe() for txn in self.txns) + "]"


@dataclass(frozen=True, slots=True)
class CreateSessionTxn:
    """Open session ``session_id`` (a positive 64-bit id) with a timeout in milliseconds.

    A *session* is a client's connection to the service as ZooKeeper sees it: it survives a
    switch from one server to another, and when it ends (closed, or expired because the client
    was silent longer than the timeout) its ephemeral znodes are deleted.
    """

    session_id: int
    timeout_ms: int

    def __post_init__(self) -> None:
        _check_session_id(self.session_id)
        if not isinstance(self.timeout_ms, int) or self.timeout_ms <= 0:
            raise ValueError(f"session timeout must be a positive int of milliseconds, "
                             f"got {self.timeout_ms!r}")

    def describe(self) -> str:
        return f"open session {self.session_id:#x}"


@dataclass(frozen=True, slots=True)
class CloseSessionTxn:
    """Close (or expire) session ``session_id``: its ephemeral znodes are deleted."""

    session_id: int

    def __post_init__(self) -> None:
        _check_session_id(self.session_id)

    def describe(self) -> str:
        return f"close session {self.session_id:#x}"


#: Any transaction ZAB carries (an op txn, a multi, or a session's opening or closing).
Txn = OpTxn | MultiTxn | CreateSessionTxn | CloseSessionTxn


# -- request size ----------------------------------------------------------------------------------
# Byte counts of kazoo's wire encoding (kazoo.protocol.serialization); only the totals matter.
_HEADER = 8            # xid and op type
_OPEN_ACL = 4 + 23     # vector length + one ACL (perms, "world", "anyone")
_MULTI_HEADER = 9      # op type, done flag, error


def _string_length(text: str) -> int:
    return 4 + len(text.encode("utf-8", "surrogatepass"))


def _buffer_length(data: bytes | None) -> int:
    return 4 + (0 if data is None else len(data))


def _op_length(op: OpRequest) -> int:
    if isinstance(op, CreateRequest):
        return _string_length(op.path) + _buffer_length(op.data) + _OPEN_ACL + 4
    if isinstance(op, SetDataRequest):
        return _string_length(op.path) + _buffer_length(op.data) + 4
    return _string_length(op.path) + 4  # delete and check: path and version


def packet_length(request: Request) -> int:
    """The length a kazoo client announces for ``request`` on the wire (open ACL assumed).

    A ZooKeeper server refuses a packet longer than :data:`JUTE_MAXBUFFER` (1048575 bytes),
    so the largest data a plain ``create`` can carry is ``1048575 - 47 - len(path in UTF-8)``
    bytes, and a ``set`` ``1048575 - 20 - len(path)``.
    """
    if isinstance(request, MultiRequest):
        return _HEADER + sum(_MULTI_HEADER + _op_length(op) for op in request.ops) + _MULTI_HEADER
    return _HEADER + _op_length(request)


# -- the leader's step ----------------------------------------------------------------------------
class TreeView(Protocol):
    """What :func:`prepare` reads of a tree (``zablib.coord.tree.DataTree`` has it)."""

    def exists(self, path: str) -> Any: ...

    def sequence_counter(self, path: str) -> int: ...

    def sessions(self) -> Any: ...

    def apply(self, txn: Any, zxid: int, time: int) -> Any: ...


class _Refused(Exception):
    def __init__(self, error: type[errors.ZookeeperError], path: str) -> None:
        super().__init__(path)
        self.txn = ErrorTxn(error.code, path)


def _node(tree: TreeView, path: str) -> Any:
    stat = tree.exists(path) if "\0" not in path else None
    if stat is None:
        raise _Refused(errors.NoNodeError, path)
    return stat


def _check_version(stat: Any, expected: int, path: str) -> None:
    if expected != ANY_VERSION and expected != stat.version:
        raise _Refused(errors.BadVersionError, path)


def _parent_of(path: str, *, deleting: bool = False) -> str:
    # The server's first look at a create's or delete's path (validatePathForCreate,
    # getParentPathAndValidate): a '/', no NUL, and not one of ZooKeeper's own znodes for a
    # delete. A create's full path rules are checked only after its parent is found; a
    # delete's never (an invalid path simply names no znode).
    if "/" not in path or "\0" in path or (deleting and path in paths.SPECIAL_PATHS):
        raise _Refused(errors.BadArgumentsError, path)
    return paths.parent(path)


def _prepare_create(tree: TreeView, request: CreateRequest, session_id: int) -> CreateTxn:
    parent = _parent_of(request.path)
    parent_stat = _node(tree, parent)
    if parent == "/zookeeper/config":  # its ACL is read-only (DataTree.addConfigNode)
        raise _Refused(errors.NoAuthError, request.path)
    path = request.path
    counter = tree.sequence_counter(parent)
    if request.sequential:
        path = paths.sequential_path(path, counter)
    if paths.path_problem(path) is not None:
        raise _Refused(errors.BadArgumentsError, path)
    if tree.exists(path) is not None:
        raise _Refused(errors.NodeExistsError, path)
    if parent_stat.ephemeralOwner != 0:
        raise _Refused(errors.NoChildrenForEphemeralsError, path)
    owner = session_id if request.ephemeral else 0
    return CreateTxn(path, request.data, owner, counter + 1)


def _prepare_delete(tree: TreeView, request: DeleteRequest) -> DeleteTxn:
    _node(tree, _parent_of(request.path, deleting=True))
    stat = _node(tree, request.path)
    _check_version(stat, request.version, request.path)
    if stat.numChildren > 0:
        raise _Refused(errors.NotEmptyError, request.path)
    return DeleteTxn(request.path)


def _prepare_set(tree: TreeView, request: SetDataRequest) -> SetDataTxn:
    if paths.path_problem(request.path) is not None:
        raise _Refused(errors.BadArgumentsError, request.path)
    stat = _node(tree, request.path)
    if request.path == "/zookeeper/config":
        raise _Refused(errors.NoAuthError, request.path)
    _check_version(stat, request.version, request.path)
    return SetDataTxn(request.path, request.data, stat.version + 1)


def _prepare_check(tree: TreeView, request: CheckRequest) -> CheckVersionTxn:
    if paths.path_problem(request.path) is not None:
        raise _Refused(errors.BadArgumentsError, request.path)
    stat = _node(tree, request.path)
    _check_version(stat, request.version, request.path)
    return CheckVersionTxn(request.path, stat.version)


def _prepare_op(tree: TreeView, request: OpRequest, session_id: int) -> OpTxn:
    # ZooKeeper checks the session first in every write (SessionTracker.checkSession).
    if session_id not in tree.sessions():
        raise _Refused(errors.SessionExpiredError, request.path)
    if isinstance(request, CreateRequest):
        return _prepare_create(tree, request, session_id)
    if isinstance(request, DeleteRequest):
        return _prepare_delete(tree, request)
    if isinstance(request, SetDataRequest):
        return _prepare_set(tree, request)
    return _prepare_check(tree, request)


def _prepare_multi(tree: TreeView, request: MultiRequest, session_id: int) -> MultiTxn:
    txns: list[OpTxn] = []
    failed = False
    for op in request.ops:
        if failed:
            # After the failing op ZooKeeper does not even look (PrepRequestProcessor: "don't
            # bother trying the rest").
            txns.append(ErrorTxn(errors.RuntimeInconsistency.code, op.path))
            continue
        try:
            txn = _prepare_op(tree, op, session_id)
        except _Refused as refused:
            txns.append(refused.txn)
            failed = True
            continue
        txns.append(txn)
        # Later ops see this one's effect (ZooKeeper's outstanding change records); the zxid
        # and time do not matter for what prepare reads.
        tree = tree.apply(txn, 0, 0).tree
    return MultiTxn(tuple(txns))


def prepare(tree: TreeView, request: Request | CreateSessionTxn | CloseSessionTxn, session_id: int,
            time: int = 0) -> Txn:
    """The leader's step: turn a client request into the transaction ZAB will carry.

    Parameters
    ----------
    tree : ~zablib.coord.tree.DataTree
        The leader's tree after every txn it has already proposed (committed or not), so that
        sequence numbers and versions are resolved as they will be when this txn is applied.
    request : CreateRequest, DeleteRequest, SetDataRequest, MultiRequest, CreateSessionTxn or \
CloseSessionTxn
        What the client asked. A session txn is already idempotent and is returned unchanged.
    session_id : int
        The asking client's session; it must be open in ``tree`` (else SessionExpiredError),
        and owns the znode of an ephemeral create.
    time : int, default 0
        The leader's clock in ms; unused here (the same time is passed to ``apply``), kept in
        the signature for the service.

    Returns
    -------
    Txn
        A CreateTxn, DeleteTxn, SetDataTxn or MultiTxn; an ErrorTxn when the request must fail,
        with the error ZooKeeper 3.8 gives, checked in ZooKeeper's order (create: bad path
        shape, no parent, read-only parent, bad full path, node exists, ephemeral parent;
        delete: bad path or special znode, no parent, no node, bad version, not empty; set: bad
        path, no node, read-only node, bad version). In a failing MultiTxn the failing op is an
        ErrorTxn with its code and every later op an ErrorTxn(RuntimeInconsistency).

    Raises
    ------
    RequestTooLargeError
        If the request packet exceeds ``jute.maxbuffer`` (a real server closes the connection).
    TypeError
        For a :class:`SyncRequest` (sync is not a transaction: the service answers it when the
        server has caught up) or anything that is not a request.
    """
    del time  # documented above: not needed to resolve a request
    if isinstance(request, CreateSessionTxn | CloseSessionTxn):
        return request
    if isinstance(request, SyncRequest):
        raise TypeError("a sync is not a transaction: the service answers it once the client's "
                        "server has applied every txn the leader had committed")
    if not isinstance(request, CreateRequest | DeleteRequest | SetDataRequest | CheckRequest | MultiRequest):
        raise TypeError(f"not a request: {request!r}")
    length = packet_length(request)
    if length > JUTE_MAXBUFFER:
        raise RequestTooLargeError(
            f"request packet of {length} bytes exceeds jute.maxbuffer ({JUTE_MAXBUFFER} bytes); "
            f"a ZooKeeper server closes the connection (the client sees ConnectionLoss)")
    if isinstance(request, MultiRequest):
        return _prepare_multi(tree, request, session_id)
    try:
        return _prepare_op(tree, request, session_id)
    except _Refused as refused:
        return refused.txn

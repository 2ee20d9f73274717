"""What the coordination service's nodes say to each other: clients to servers, servers to servers.

Two conversations run beside ZAB's own messages (``zablib.protocols.zab``):

**A client and its server** (a TCP connection in ZooKeeper; here a FIFO link and a connection
number ``conn`` the client picks afresh for every attempt, so that a message of an earlier
connection is recognised and ignored):

=====================  ==========================================================================
client -> server       server -> client
=====================  ==========================================================================
``ConnectRequest``     ``ConnectResponse`` (``timeout_ms == 0``: the session has expired)
``Request``            ``Response`` (in the order the requests were sent), ``WatchNotice``
``ClientPing``         ``ClientPong``
(nothing)              ``Disconnect`` (the server closes the connection)
=====================  ==========================================================================

**A server and the leader** (ZooKeeper's ``Learner`` / ``LearnerHandler`` packets):
``Forward`` carries a client's write, sync or session request to the leader (``REQUEST``);
``Revalidate`` / ``Revalidated`` ask whether a session a client brings along is still alive
(``REVALIDATE``); ``Touches`` reports which sessions were heard from (the session part of
``PING``); ``SyncDone`` answers a forwarded sync once the leader's earlier proposals are
committed (``SYNC``).

Both conversations are TCP connections in ZooKeeper: nothing is lost unless the connection breaks.
The simulator's links may lose a message (a partition drops what is in flight), so every message
of a conversation carries a sequence number ``seq`` (1, 2, ... in each direction; a connection's
``ConnectResponse`` is 0), and a gap breaks the conversation as TCP would: a client or server
closes the connection, a follower drops its leader and synchronises again (a duplicate, which the
simulator may also make, is dropped). A follower reports its
``Touches`` every half tick and the leader answers each (``TouchesSeen``), so that even the last
message of a burst is known to have arrived, or not, within a half tick. A follower's conversation
with the leader is named by its ZAB session (``link``).

What ZAB carries is a :class:`TxnEntry`: the idempotent txn of ``zablib.coord.txn`` with the
header ZooKeeper's ``TxnHeader`` gives it (session, request number, the leader's time) and where
the request came from, so that the server that holds the client's connection answers it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import zablib.coord.txn as txn
from zablib.core import Message


# -- read requests (writes are the requests of zablib.coord.txn) ---------------------------------
@dataclass(frozen=True, slots=True)
class GetData:
    """Read a znode's data and stat; ``watch`` leaves a data watch on it."""

    path: str
    watch: bool = False

    def describe(self) -> str:
        return f"get {self.path}" + (" (watch)" if self.watch else "")


@dataclass(frozen=True, slots=True)
class Exists:
    """Read a znode's stat, or learn it is missing; ``watch`` leaves a data watch either way."""

    path: str
    watch: bool = False

    def describe(self) -> str:
        return f"exists {self.path}" + (" (watch)" if self.watch else "")


@dataclass(frozen=True, slots=True)
class GetChildren:
    """Read a znode's children (and its stat if ``include_data``); ``watch`` leaves a child watch."""

    path: str
    watch: bool = False
    include_data: bool = False

    def describe(self) -> str:
        return f"children {self.path}" + (" (watch)" if self.watch else "")


@dataclass(frozen=True, slots=True)
class CloseSession:
    """End the session (kazoo's ``stop()``): its ephemeral znodes are deleted."""

    def describe(self) -> str:
        return "close session"


READS = (GetData, Exists, GetChildren)


def describe_op(op: Any) -> str:
    """A short text for a request or txn (``create /a (ephemeral)``, ``set /a v3``): its own
    ``describe()`` if it has one, else a line for each request of ``zablib.coord.txn``."""
    describe = getattr(op, "describe", None)
    if describe is not None:
        return describe()
    if isinstance(op, txn.MultiRequest):
        return "multi [" + "; ".join(describe_op(o) for o in op.ops) + "]"
    if isinstance(op, txn.CreateRequest):
        kinds = [k for k, on in (("ephemeral", op.ephemeral), ("sequential", op.sequential)) if on]
        return f"create {op.path}" + (f" ({', '.join(kinds)})" if kinds else "")
    verb = {txn.DeleteRequest: "delete", txn.SetDataRequest: "set", txn.CheckRequest: "check",
            txn.SyncRequest: "sync"}.get(type(op))
    if verb is None:
        return repr(op)
    version = getattr(op, "version", -1)
    return f"{verb} {op.path}" + (f" v{version}" if version != -1 else "")


# -- what ZAB carries ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class TxnEntry:
    """One proposal of the service: a txn and its header.

    Attributes
    ----------
    txn : object
        The idempotent transaction (``zablib.coord.txn``).
    session_id : int
        The session that asked (0 for none).
    cxid : int
        The client's request number (its ``xid``) on its connection.
    time : int
        The leader's clock when it prepared the txn (ms); every server stamps ``ctime``/``mtime``
        with it, never with its own clock, so that all trees stay equal.
    origin : int
        The server holding the client's connection: the one that answers.
    conn : int
        That connection's number, so that an answer never goes to a later connection.
    """

    txn: Any
    session_id: int = 0
    cxid: int = 0
    time: int = 0
    origin: int = 0
    conn: int = 0

    def __repr__(self) -> str:
        who = f" for {self.session_id:#x}#{self.cxid}" if self.session_id else ""
        return f"<{describe_op(self.txn)}{who}>"


# -- client <-> server -----------------------------------------------------------------------------
@dataclass(frozen=True)
class ConnectRequest(Message):
    """Client -> server: open connection ``conn``, for a new session (``session_id`` 0) or to
    carry on an existing one; ``last_zxid`` is the newest state the client has seen."""

    conn: int
    last_zxid: int
    timeout_ms: int
    session_id: int = 0
    passwd: bytes = b""

    def describe(self) -> str:
        session = f"session {self.session_id:#x}" if self.session_id else "new session"
        return f"Connect(conn {self.conn}, {session}, seen {self.last_zxid:#x})"


@dataclass(frozen=True)
class ConnectResponse(Message):
    """Server -> client: the connection is open with this session and negotiated timeout;
    ``timeout_ms == 0`` says the session has expired (and the server closes the connection)."""

    conn: int
    timeout_ms: int
    session_id: int
    passwd: bytes
    zxid: int
    seq: int = 0

    def describe(self) -> str:
        if self.timeout_ms <= 0:
            return f"Connected(conn {self.conn}, session {self.session_id:#x} EXPIRED)"
        return f"Connected(conn {self.conn}, session {self.session_id:#x}, {self.timeout_ms} ms)"


@dataclass(frozen=True)
class Request(Message):
    """Client -> server: request number ``xid`` on connection ``conn``; ``include_stat`` asks a
    create to answer ``(path, stat)`` (ZooKeeper's ``create2``)."""

    conn: int
    xid: int
    op: Any
    include_stat: bool = False
    seq: int = 0

    def describe(self) -> str:
        return f"Request(#{self.xid} {describe_op(self.op)})"


@dataclass(frozen=True)
class Response(Message):
    """Server -> client: the answer to request ``xid``; ``result`` is the value or the error
    (an exception instance); ``zxid`` is the server's state the answer reflects."""

    conn: int
    xid: int
    zxid: int
    result: Any
    seq: int = 0

    def describe(self) -> str:
        result = self.result
        text = type(result).__name__ if isinstance(result, Exception) else _short(result)
        return f"Response(#{self.xid} {text})"


@dataclass(frozen=True)
class WatchNotice(Message):
    """Server -> client: a watch fired (``kind`` is an ``EventType`` value)."""

    conn: int
    kind: str
    path: str
    seq: int = 0

    def describe(self) -> str:
        return f"Watch({self.kind} {self.path})"


@dataclass(frozen=True)
class ClientPing(Message):
    """Client -> server heartbeat: keeps the connection and the session alive."""

    conn: int
    seq: int = 0

    def describe(self) -> str:
        return "Ping"


@dataclass(frozen=True)
class ClientPong(Message):
    """Server -> client: the answer to a ping."""

    conn: int
    seq: int = 0

    def describe(self) -> str:
        return "Pong"


@dataclass(frozen=True)
class Disconnect(Message):
    """Server -> client: the server closes connection ``conn`` (``reason`` says why)."""

    conn: int
    reason: str

    def describe(self) -> str:
        return f"Disconnect({self.reason})"


# -- server <-> leader -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Forward(Message):
    """Server -> leader: a client's write, sync or session request, to be ordered by the leader."""

    origin: int
    conn: int
    session_id: int
    cxid: int
    op: Any
    link: int = 0
    seq: int = 0

    def describe(self) -> str:
        return f"Forward({describe_op(self.op)} for {self.session_id:#x}#{self.cxid})"


@dataclass(frozen=True)
class Revalidate(Message):
    """Server -> leader: is ``session_id``, which a client brings to me, still alive?"""

    origin: int
    conn: int
    session_id: int
    timeout_ms: int
    link: int = 0
    seq: int = 0

    def describe(self) -> str:
        return f"Revalidate({self.session_id:#x})"


@dataclass(frozen=True)
class Revalidated(Message):
    """Leader -> server: whether ``session_id`` is alive (its expiry clock restarted if so)."""

    conn: int
    session_id: int
    valid: bool
    link: int = 0
    seq: int = 0

    def describe(self) -> str:
        return f"Revalidated({self.session_id:#x}, {'valid' if self.valid else 'expired'})"


@dataclass(frozen=True)
class Touches(Message):
    """Server -> leader: the sessions whose clients were heard from since the last report,
    as ``(session id, timeout ms)`` pairs."""

    sessions: tuple[tuple[int, int], ...]
    link: int = 0
    seq: int = 0

    def describe(self) -> str:
        return "Touches(" + ", ".join(f"{s:#x}" for s, _ in self.sessions) + ")"


@dataclass(frozen=True)
class TouchesSeen(Message):
    """Leader -> server: your ``Touches`` arrived; ``broken`` says a message of yours went
    missing before it (then drop me and synchronise again)."""

    link: int
    seq: int
    broken: bool = False

    def describe(self) -> str:
        return "TouchesSeen(broken)" if self.broken else "TouchesSeen"


@dataclass(frozen=True)
class SyncDone(Message):
    """Leader -> server: every proposal made before the sync is committed (and, FIFO, the commits
    are on their way ahead of this message): answer the client's sync."""

    conn: int
    session_id: int
    cxid: int
    path: str
    link: int = 0
    seq: int = 0

    def describe(self) -> str:
        return f"SyncDone({self.session_id:#x}#{self.cxid})"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."

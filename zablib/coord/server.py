"""A ZooKeeper server: ZAB underneath, the data tree on top, and clients' connections.

A :class:`CoordServer` is one simulation node that *contains* a real
:class:`zablib.protocols.zab.ZabServer` and hands it every ZAB message and timer unchanged: the
consensus is zablib's ZAB, not a copy of it. What ZAB delivers the server sees as ZAB's own
``deliver`` notes in the :class:`~zablib.core.Output` its ZAB returns (the documented trace of
every delivery, in zxid order), and applies each delivered :class:`~zablib.coord.messages.TxnEntry`
to its :class:`~zablib.coord.tree.DataTree`. So zab.py needs no hook, and its traces, golden
transcripts and invariants stay as they are.

Who does what (ZooKeeper 3.8's request processors, named in brackets):

* **Every server** holds client connections while it is *serving*: a follower (or an observer)
  from ZAB's ``UpToDate`` until it leaves its leader, the leader from the moment it is established until it
  steps down (a ZooKeeper server runs its ``ZooKeeperServer`` only in ZAB's broadcast phase). On
  leaving, it closes every connection: its clients see the connection drop and go elsewhere.
* A client's requests queue per connection, in the order sent [``CommitProcessor``]. A read at the
  head of the queue is answered at once from the server's own tree (possibly stale); a write,
  sync or session request is sent to the leader as soon as it arrives [``FollowerRequestProcessor``]
  and stays at its place in the queue until its txn is committed and applied here; reads behind it
  wait, so a client reads its own writes.
* The **leader** turns each write into an idempotent txn with ``zablib.coord.txn.prepare`` against
  its *pending tree*, the tree after every txn it has proposed, committed or not
  [``PrepRequestProcessor`` and its outstanding changes], and gives it to ZAB with the header of a
  :class:`~zablib.coord.messages.TxnEntry`: session, request number, the leader's clock, and the
  connection to answer on. It keeps the sessions' deadlines
  (:class:`~zablib.coord.sessions.SessionTracker`) and proposes ``CloseSessionTxn`` for a
  session silent past its timeout; followers report which sessions they heard from every half
  tick [``LearnerSessionTracker``, ``Learner.ping``]. A sync is answered once every proposal made
  before it is committed [``Leader.processSync``].
* Every server applies committed txns in zxid order (``epoch << 32 | counter``) with the tree's
  pure ``apply``; the triggers it returns fire the watches this server holds; then the server
  answers the request if it came from one of its own connections [``FinalRequestProcessor``].
  Watch notices of a txn are sent before any later response on the same FIFO link, so a client
  always hears of a change before it can read it.

Nothing between a follower and its leader, or a client and its server, is lost without the
connection breaking, as over TCP: the messages are numbered, and a gap makes a server close the
client's connection, or a follower drop its leader through ZAB's ``drop_leader`` (the leader, on
seeing a gap in a follower's messages, takes none of its later ones and tells it in its answer to
the follower's next half-tick ``Touches``). See ``zablib.coord.messages``.

A session is created and closed by txns, so its ephemeral znodes go away on every server at the
same point of the history. A client bringing an existing session to a server is checked with the
leader [``Learner.validateSession``]: alive (its clock restarts) or expired
(``ConnectResponse`` with timeout 0). A server refuses a client that has seen a newer zxid than it
has applied (the client tries another server), so a client never reads back in time.

Durable state is ZAB's alone (its history and commit point): a recovering server rebuilds its tree
by applying its committed history, as a ZooKeeper server loads its snapshot and replays its log.

Broken variants, for the checkers to catch (``Ensemble(variant=...)``):

``"stale-prepare"``
    The leader prepares against its committed tree, ignoring outstanding proposals: an ephemeral
    create prepared while its session's close is outstanding survives the close.
``"local-clock"``
    Each server stamps ``ctime``/``mtime`` with its own clock when it applies a txn, not with the
    leader's time carried in the txn: replicas' trees differ.
``"reads-jump-writes"``
    A read is answered as soon as it arrives, ahead of the same client's earlier writes still
    in flight: responses reach the client out of order, and it may not read its own write.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import zablib.coord.errors as errors
import zablib.coord.sessions as sessions
import zablib.coord.txn as txn
import zablib.protocols.zab as zab
from zablib.coord.messages import (
    READS,
    ClientPing,
    ClientPong,
    CloseSession,
    ConnectRequest,
    ConnectResponse,
    Disconnect,
    Exists,
    Forward,
    GetData,
    Request,
    Response,
    Revalidate,
    Revalidated,
    SyncDone,
    Touches,
    TouchesSeen,
    TxnEntry,
    WatchNotice,
)
from zablib.coord.tree import DataTree
from zablib.coord.watches import WatchTable
from zablib.core import Message, Node, NodeId, NodeStatus, Output

VARIANTS = ("correct", "stale-prepare", "local-clock", "reads-jump-writes")

#: ZooKeeper's ``tickTime`` scaled to ZAB's clock in zablib: ``zab.TICK_MS`` (20 ms), ZAB's
#: leader's ping period, as a ZooKeeper leader pings once a tick (2000 ms by default).
TICK_MS = zab.TICK_MS

#: The name of the server's own timer (ZAB's timers have their own names).
SESSION_TIMER = "sessions"


def zxid64(zxid: zab.Zxid) -> int:
    """ZAB's ``(epoch, counter)`` as ZooKeeper's 64-bit zxid: ``epoch << 32 | counter``."""
    return (zxid[0] << 32) | zxid[1]


@dataclass
class Pending:
    """A client request waiting in its connection's queue."""

    xid: int
    op: Any
    include_stat: bool = False
    done: bool = False
    result: Any = None

    @property
    def is_read(self) -> bool:
        """A read (answered by this server alone), not a write, sync or session request."""
        return isinstance(self.op, READS)


@dataclass
class Connection:
    """A client's connection to this server (ZooKeeper's ``ServerCnxn``), volatile.

    ``received`` and ``sent`` count the messages each way (see ``messages``: a gap breaks the
    connection, as TCP would).
    """

    client: NodeId
    conn: int
    session_id: int
    timeout_ms: int
    heard: float
    open: bool = False
    queue: deque = field(default_factory=deque)
    received: int = 0
    sent: int = 0

    def next_seq(self) -> int:
        """The sequence number of the next message to the client (the first after the
        ``ConnectResponse``, which is 0, is 1)."""
        self.sent += 1
        return self.sent


@dataclass
class Channel:
    """The leader's end of a follower's conversation with it, for one ZAB session (``link``)."""

    link: int
    received: int = 0
    sent: int = 0
    broken: bool = False

    def next_seq(self) -> int:
        """The sequence number of the leader's next message to the follower."""
        self.sent += 1
        return self.sent


@dataclass(frozen=True)
class ParkedSync:
    """A sync the leader answers once its commit point reaches ``target``."""

    target: zab.Zxid
    origin: NodeId
    conn: int
    session_id: int
    cxid: int
    path: str


class CoordServer(Node):
    """One ZooKeeper server of an ensemble (see the module docstring).

    Parameters
    ----------
    node_id : int
        Its id, 1..n.
    servers : tuple of int
        The ids of every server of the ensemble (ZAB's peers; clients are not).
    storage : Mapping
        ZAB's durable state from before a crash (empty at first boot).
    tick_ms : float
        ZooKeeper's ``tickTime``: sessions' deadlines are rounded to it, timeouts negotiated
        within ``[2, 20]`` ticks, session activity reported and checked every half tick.
    variant : str
        ``"correct"`` or one of the broken variants of the module docstring.
    zab_variant : str
        The contained ZAB server's variant (``zablib.protocols.zab.VARIANTS``), to break the
        consensus underneath the service.
    init_limit, sync_limit : int
        ZooKeeper's ``initLimit`` and ``syncLimit`` in ticks, for the ZAB server underneath
        (its timers are ``zab.Timers(tick_ms, init_limit, sync_limit)``).
    observers : tuple of int
        The servers among ``servers`` that are ZAB observers (``zablib.protocols.zab``): they
        serve clients like followers (local reads, writes forwarded to the leader) but never
        vote. Empty by default.
    """

    def __init__(self, node_id: NodeId, servers: tuple[NodeId, ...], storage: Mapping[str, Any],
                 tick_ms: float = TICK_MS, variant: str = "correct", zab_variant: str = "correct",
                 init_limit: int = zab.INIT_LIMIT, sync_limit: int = zab.SYNC_LIMIT,
                 observers: tuple[NodeId, ...] = ()):
        super().__init__(node_id, servers, storage)
        if variant not in VARIANTS:
            raise ValueError(f"unknown variant {variant!r}; use one of {', '.join(VARIANTS)}")
        self.variant = variant
        self.tick_ms = tick_ms
        config = {"voters": [i for i in servers if i not in observers],
                  "observers": observers} if observers else {}
        self.zab = zab.ZabServer(node_id, servers, storage, variant=zab_variant,
                                 timers=zab.Timers(tick_ms, init_limit, sync_limit), **config)
        self.tree = DataTree()
        self.applied: zab.Zxid = zab.ZERO
        for zxid, entry in self.zab.history:  # a restart: replay what was delivered
            if zxid > self.zab.committed_zxid:
                break
            self.tree = self._apply_entry(self.tree, zxid, entry, 0.0).tree
            self.applied = zxid
        # serving (volatile)
        self.serving: tuple | None = None  # the ZAB standing it serves under, while serving
        self.up_to_date: tuple | None = None  # the follower standing that received UpToDate
        self.conns: dict[NodeId, Connection] = {}
        self.by_session: dict[int, NodeId] = {}
        self.watches = WatchTable()
        self.touched: dict[int, int] = {}
        self.next_session_id = 0
        self.link_sent = 0  # following: messages sent to the leader in this ZAB session
        self.link_received = 0  # and received from it
        # leading (volatile)
        self.tracker: sessions.SessionTracker | None = None
        self.pending_tree = self.tree
        self.parked_syncs: list[ParkedSync] = []
        self.channels: dict[NodeId, Channel] = {}

    # -- what pictures and checks read -------------------------------------------------------
    @property
    def role(self) -> str:  # type: ignore[override]
        """ZAB's role: ``"looking"``, ``"following"``, ``"leading"`` or ``"observer"``."""
        return self.zab.role

    @property
    def applied_zxid(self) -> int:
        """The 64-bit zxid of the last txn applied to its ``tree`` (0 for none)."""
        return zxid64(self.applied)

    def status(self) -> str:
        serving = f" serving {len(self.conns)} clients" if self.serving else ""
        return f"{self.zab.status()} applied={self.applied_zxid:#x}{serving}"

    def report(self) -> NodeStatus:
        """ZAB's report (role, epoch, history, commit point) with the service's ``extra``:
        ``applied_zxid``, ``znodes`` (the tree's size), ``sessions`` (open sessions in the tree),
        ``serving`` and ``connections``."""
        status = self.zab.report()
        extra = dict(status.extra)
        extra.update(applied_zxid=self.applied_zxid, znodes=len(self.tree),
                     sessions=len(self.tree.sessions()), serving=self.serving is not None,
                     connections=len(self.conns))
        return replace(status, text=self.status(), extra=extra)

    # -- inputs ------------------------------------------------------------------------------
    def on_start(self, now: float) -> Output:
        out = self.zab.on_start(now)
        return out.set_timer(SESSION_TIMER, self.tick_ms / 2)

    def on_timer(self, now: float, name: str) -> Output:
        if name == SESSION_TIMER:
            out = Output()
            self._tick(now, out)
            return out.set_timer(SESSION_TIMER, self.tick_ms / 2)
        out = self.zab.on_timer(now, name)
        self._after_zab(now, out)
        return out

    def on_message(self, now: float, src: NodeId, msg: Message) -> Output:
        handler = self._HANDLERS.get(type(msg))
        if handler is not None:
            out = Output()
            handler(self, now, out, src, msg)
            return out
        out = self.zab.on_message(now, src, msg)
        if (isinstance(msg, zab.UpToDate) and self.zab.role in (zab.FOLLOWING, zab.OBSERVING)
                and self.zab.phase == "synced" and src == self.zab.leader_id
                and msg.session == self.zab.session):
            self.up_to_date = self._standing()
        self._after_zab(now, out)
        return out

    def _drop_leader(self, now: float, out: Output, why: str) -> None:
        """A message between this follower and its leader went missing: the connection they
        share is broken, so ZAB leaves the leader (and this server stops serving)."""
        zab_out = self.zab.drop_leader(now, why)
        notes = list(zab_out.notes)
        _merge(out, zab_out)
        self._after_zab(now, out, notes)

    # -- ZAB underneath ----------------------------------------------------------------------
    def _standing(self) -> tuple | None:
        """Where ZAB stands, as far as serving goes; None outside the broadcast phase."""
        z = self.zab
        if z.role == zab.LEADING and z.established:
            return (zab.LEADING, z.id, z.epoch)
        if z.role in (zab.FOLLOWING, zab.OBSERVING) and z.phase == "synced":
            return (z.role, z.leader_id, z.session)
        return None

    def _after_zab(self, now: float, out: Output, notes: list | None = None) -> None:
        """Apply what ZAB delivered (its ``notes``, by default ``out``'s), then start or stop
        serving as ZAB's role says."""
        self._apply_delivered(now, out, out.notes if notes is None else notes)
        standing = self._standing()
        if self.serving is not None and standing != self.serving:
            self._stop_serving(out, "the server left its leader")
        if self.serving is None and standing is not None and (
                standing[0] == zab.LEADING or standing == self.up_to_date):
            self._start_serving(now, out, standing)

    def _apply_delivered(self, now: float, out: Output, notes: list) -> None:
        delivered = [value for _, tag, value in notes if tag == "deliver"]
        for zxid, entry in delivered:
            self._deliver(now, out, zxid, entry)
        if delivered and self.parked_syncs:
            self._answer_syncs(out)

    def _propose(self, now: float, out: Output, entry: TxnEntry) -> None:
        """Leader: give ``entry`` to ZAB, merge ZAB's output into ``out``, and apply the txn to
        the pending tree under the zxid ZAB gave it."""
        zab_out = self.zab.on_client(now, entry)
        if not zab_out.reply:  # not an established leader after all: nothing was proposed
            return
        notes = list(zab_out.notes)
        _merge(out, zab_out)
        self.pending_tree = self._apply_entry(self.pending_tree, self.zab.last_zxid, entry, now).tree
        self._apply_delivered(now, out, notes)  # a one-server ensemble commits at once

    def _apply_entry(self, tree: DataTree, zxid: zab.Zxid, entry: TxnEntry, now: float) -> Any:
        time = int(now) if self.variant == "local-clock" else entry.time
        return tree.apply(entry.txn, zxid64(zxid), time)

    # -- serving -------------------------------------------------------------------------------
    def _start_serving(self, now: float, out: Output, standing: tuple) -> None:
        self.serving = standing
        self.next_session_id = sessions.first_session_id(self.id, now)
        self.touched = {}
        self.link_sent = self.link_received = 0
        self.channels = {}
        if standing[0] == zab.LEADING:
            self.tracker = sessions.SessionTracker(self.tick_ms)
            for session_id, timeout in sorted(self.tree.sessions().items()):
                self.tracker.track(session_id, timeout, now)
            self.pending_tree = self.tree
            self.parked_syncs = []
        out.note(f"serving clients ({standing[0]})", tag="serving", value=standing)

    def _stop_serving(self, out: Output, why: str) -> None:
        for client in sorted(self.conns):
            self._close(out, client, why)
        self.serving = None
        self.up_to_date = None
        self.tracker = None
        self.pending_tree = self.tree
        self.parked_syncs = []
        self.touched = {}
        out.note(f"stops serving clients: {why}", tag="serving", value=None)

    def _leader(self) -> NodeId | None:
        return self.serving[1] if self.serving is not None else None

    def _is_leader(self) -> bool:
        return self.serving is not None and self.serving[0] == zab.LEADING

    # -- applying committed txns ---------------------------------------------------------------
    def _deliver(self, now: float, out: Output, zxid: zab.Zxid, entry: TxnEntry) -> None:
        applied = self._apply_entry(self.tree, zxid, entry, now)
        self.tree = applied.tree
        self.applied = zxid
        for path, kind in applied.triggers:
            for watcher, event in self.watches.trigger(path, kind):
                conn = self.conns.get(watcher)
                if conn is not None and conn.open:
                    out.send(watcher, WatchNotice(conn.conn, event, path, conn.next_seq()))
        work = entry.txn
        if isinstance(work, txn.CreateSessionTxn):
            self._session_created(out, entry)
        elif entry.origin == self.id:
            self._answer(out, entry, applied.result)
        if isinstance(work, txn.CloseSessionTxn):
            if self.tracker is not None:
                self.tracker.remove(work.session_id)
            client = self.by_session.get(work.session_id)
            if client is not None:
                self._close(out, client, "session closed")

    def _session_created(self, out: Output, entry: TxnEntry) -> None:
        if entry.origin != self.id:
            return
        conn = self._session_connection(entry.session_id, entry.conn)
        if conn is not None and not conn.open:
            self._open(out, conn)

    def _answer(self, out: Output, entry: TxnEntry, result: Any) -> None:
        conn = self._session_connection(entry.session_id, entry.conn)
        if conn is None:
            return  # the connection is gone: the client got ConnectionLoss (outcome unknown)
        for pending in conn.queue:
            if pending.xid == entry.cxid and not pending.is_read and not pending.done:
                pending.done = True
                pending.result = self._final_result(pending, result)
                break
        self._drain(out, conn)

    def _final_result(self, pending: Pending, result: Any) -> Any:
        if pending.include_stat and isinstance(result, str):
            return (result, self.tree.exists(result))
        if isinstance(result, list):
            return tuple(result)
        return result

    # -- client connections --------------------------------------------------------------------
    def _on_connect(self, now: float, out: Output, src: NodeId, msg: ConnectRequest) -> None:
        if src in self.conns:
            self._close(out, src, "replaced by a new connection", notify=False)
        if self.serving is None:
            out.send(src, Disconnect(msg.conn, "server not serving"))
            return
        if msg.last_zxid > self.applied_zxid:
            out.send(src, Disconnect(msg.conn, f"client has seen zxid {msg.last_zxid:#x}, "
                                               f"our last zxid is {self.applied_zxid:#x}"))
            return
        timeout = sessions.negotiate(msg.timeout_ms, self.tick_ms)
        if msg.session_id == 0:
            session_id = self.next_session_id
            self.next_session_id += 1
            self._register(src, Connection(src, msg.conn, session_id, timeout, now))
            self._to_leader(now, out, Forward(self.id, msg.conn, session_id, 0,
                                              txn.CreateSessionTxn(session_id, timeout)))
            return
        if msg.session_id in self.by_session:  # the session's earlier connection here
            self._close(out, self.by_session[msg.session_id], "session reconnected", notify=False)
        conn = Connection(src, msg.conn, msg.session_id, timeout, now)
        if msg.passwd != sessions.password(msg.session_id):
            self._refuse_session(out, conn)
            return
        self._register(src, conn)
        ask = Revalidate(self.id, msg.conn, msg.session_id, timeout)
        if self._is_leader():
            self._revalidate(now, out, ask)
        else:
            self._send_leader(out, ask)

    def _register(self, client: NodeId, conn: Connection) -> None:
        self.conns[client] = conn
        self.by_session[conn.session_id] = client

    def _open(self, out: Output, conn: Connection) -> None:
        conn.open = True
        out.send(conn.client, ConnectResponse(conn.conn, conn.timeout_ms, conn.session_id,
                                              sessions.password(conn.session_id), self.applied_zxid))

    def _refuse_session(self, out: Output, conn: Connection) -> None:
        out.send(conn.client, ConnectResponse(conn.conn, 0, conn.session_id, b"", self.applied_zxid))
        if self.conns.get(conn.client) is conn:
            self._close(out, conn.client, "session expired", notify=False)

    def _on_revalidated(self, now: float, out: Output, src: NodeId, msg: Revalidated) -> None:
        if self._from_leader(now, out, src, msg):
            self._revalidated(out, msg)

    def _revalidated(self, out: Output, msg: Revalidated) -> None:
        conn = self._session_connection(msg.session_id, msg.conn)
        if conn is None or conn.open:
            return
        if msg.valid:
            self._open(out, conn)
        else:
            self._refuse_session(out, conn)

    def _close(self, out: Output, client: NodeId, why: str, notify: bool = True) -> None:
        conn = self.conns.pop(client)
        if self.by_session.get(conn.session_id) == client:
            del self.by_session[conn.session_id]
        self.watches.remove(client)
        if notify:
            out.send(client, Disconnect(conn.conn, why))

    def _session_connection(self, session_id: int, number: int) -> Connection | None:
        """The connection numbered ``number`` that ``session_id`` holds here, if it still does."""
        client = self.by_session.get(session_id)
        conn = self.conns.get(client) if client is not None else None
        return conn if conn is not None and conn.conn == number else None

    def _connection_of(self, src: NodeId, number: int) -> Connection | None:
        conn = self.conns.get(src)
        return conn if conn is not None and conn.conn == number and conn.open else None

    def _receive(self, out: Output, src: NodeId, msg: ClientPing | Request) -> Connection | None:
        """The open connection ``msg`` came on, if it lost nothing before it; else close it."""
        conn = self._connection_of(src, msg.conn)
        if conn is None:
            out.send(src, Disconnect(msg.conn, "unknown connection"))
            return None
        if msg.seq <= conn.received:
            return None  # a duplicate (TCP drops them)
        if msg.seq != conn.received + 1:
            self._close(out, src, f"message {conn.received + 1} of the connection was lost")
            return None
        conn.received += 1
        return conn

    def _heard(self, now: float, conn: Connection) -> None:
        conn.heard = now
        if self._is_leader():
            self.tracker.touch(conn.session_id, now)
        else:
            self.touched[conn.session_id] = conn.timeout_ms

    def _on_ping(self, now: float, out: Output, src: NodeId, msg: ClientPing) -> None:
        conn = self._receive(out, src, msg)
        if conn is not None:
            self._heard(now, conn)
            out.send(src, ClientPong(msg.conn, conn.next_seq()))

    def _on_request(self, now: float, out: Output, src: NodeId, msg: Request) -> None:
        conn = self._receive(out, src, msg)
        if conn is None:
            return
        self._heard(now, conn)
        op = msg.op
        if isinstance(op, txn.CreateRequest | txn.DeleteRequest | txn.SetDataRequest
                      | txn.CheckRequest | txn.MultiRequest) \
                and txn.packet_length(op) > txn.JUTE_MAXBUFFER:
            self._close(out, src, "Len error: request larger than jute.maxbuffer")
            return
        pending = Pending(msg.xid, op, include_stat=msg.include_stat)
        if pending.is_read and self.variant == "reads-jump-writes":
            out.send(src, Response(conn.conn, msg.xid, self.applied_zxid, self._read(src, op),
                                   conn.next_seq()))
            return
        conn.queue.append(pending)
        if not pending.is_read:
            work = txn.CloseSessionTxn(conn.session_id) if isinstance(op, CloseSession) else op
            self._to_leader(now, out, Forward(self.id, conn.conn, conn.session_id, msg.xid, work))
        self._drain(out, conn)

    def _drain(self, out: Output, conn: Connection) -> None:
        """Answer the head of the queue while it can be answered (ZooKeeper's CommitProcessor:
        a read waits for the same session's earlier writes)."""
        queue = conn.queue
        while queue:
            head = queue[0]
            if head.is_read:
                result = self._read(conn.client, head.op)
            elif head.done:
                result = head.result
            else:
                return
            queue.popleft()
            out.send(conn.client, Response(conn.conn, head.xid, self.applied_zxid, result,
                                           conn.next_seq()))
            if isinstance(head.op, CloseSession) and conn.client in self.conns:
                self._close(out, conn.client, "session closed")
                return

    def _read(self, client: NodeId, op: Any) -> Any:
        tree = self.tree
        try:
            if isinstance(op, GetData):
                data, stat = tree.get(op.path)
                if op.watch:
                    self.watches.add_data(op.path, client)
                return (data, stat)
            if isinstance(op, Exists):
                stat = tree.exists(op.path)
                if op.watch:
                    self.watches.add_data(op.path, client)
                return stat
            children = tuple(tree.children(op.path))
            if op.watch:
                self.watches.add_child(op.path, client)
            return (children, tree.exists(op.path)) if op.include_data else children
        except errors.ZookeeperError as error:
            return error

    def _to_leader(self, now: float, out: Output, forward: Forward) -> None:
        if self._is_leader():
            self._forwarded(now, out, forward)
        else:
            self._send_leader(out, forward)

    # -- the conversation between a follower and its leader ---------------------------------------
    def _send_leader(self, out: Output, msg: Forward | Revalidate | Touches) -> None:
        """Follower: send ``msg`` to the leader, numbered in this ZAB session."""
        self.link_sent += 1
        out.send(self._leader(), replace(msg, link=self.zab.session, seq=self.link_sent))

    def _from_leader(self, now: float, out: Output, src: NodeId,
                     msg: SyncDone | Revalidated | TouchesSeen) -> bool:
        """Follower: accept ``msg`` from the leader if nothing was lost before it; a gap (or the
        leader saying it missed one of ours) breaks the connection to the leader."""
        if self.serving is None or self._is_leader() or src != self._leader() \
                or msg.link != self.zab.session:
            return False
        if msg.seq <= self.link_received:
            return False  # a duplicate
        if msg.seq != self.link_received + 1 or getattr(msg, "broken", False):
            self._drop_leader(now, out, "a message between us went missing")
            return False
        self.link_received += 1
        return True

    def _channel(self, out: Output, src: NodeId, msg: Forward | Revalidate | Touches) -> Channel | None:
        """Leader: the conversation ``msg`` belongs to, if it is the follower's current one and
        lost nothing before ``msg``. On a gap the conversation is broken: nothing more of it is
        taken (a later request must not overtake a lost one), and the follower is told."""
        if not self._is_leader():
            return None  # a leader that stepped down: the follower will notice
        follower = self.zab.followers.get(src)
        if follower is None or follower.session != msg.link:
            return None
        channel = self.channels.get(src)
        if channel is None or channel.link != msg.link:
            channel = self.channels[src] = Channel(msg.link)
        if msg.seq <= channel.received and not channel.broken:
            return None  # a duplicate
        if not channel.broken and msg.seq != channel.received + 1:
            channel.broken = True
            out.note(f"lost a message from {src}: its connection is broken", tag="broken", value=src)
        if channel.broken:
            out.send(src, TouchesSeen(channel.link, channel.next_seq(), broken=True))
            return None
        channel.received += 1
        return channel

    def _send_follower(self, out: Output, follower: NodeId, msg: SyncDone | Revalidated) -> None:
        channel = self.channels.get(follower)
        if channel is not None and not channel.broken:
            out.send(follower, replace(msg, link=channel.link, seq=channel.next_seq()))

    # -- the leader's part -----------------------------------------------------------------------
    def _on_forward(self, now: float, out: Output, src: NodeId, msg: Forward) -> None:
        if self._channel(out, src, msg) is not None:
            self._forwarded(now, out, msg)

    def _forwarded(self, now: float, out: Output, msg: Forward) -> None:
        op = msg.op
        if isinstance(op, txn.SyncRequest):
            sync = ParkedSync(self.zab.last_zxid, msg.origin, msg.conn, msg.session_id, msg.cxid,
                              op.path)
            self.parked_syncs.append(sync)
            self._answer_syncs(out)
            return
        if isinstance(op, txn.CreateSessionTxn):
            self.tracker.track(op.session_id, op.timeout_ms, now)
            work: Any = op
        elif isinstance(op, txn.CloseSessionTxn):
            self.tracker.close(op.session_id)
            alive = op.session_id in self.pending_tree.sessions()
            work = op if alive else txn.ErrorTxn(errors.SessionExpiredError.code)
        else:
            self.tracker.touch(msg.session_id, now)  # a no-op for a closing or unknown session
            basis = self.tree if self.variant == "stale-prepare" else self.pending_tree
            work = txn.prepare(basis, op, msg.session_id, int(now))
        self._propose(now, out, TxnEntry(work, msg.session_id, msg.cxid, int(now), msg.origin, msg.conn))

    def _answer_syncs(self, out: Output) -> None:
        committed = self.zab.committed_zxid
        waiting = []
        for sync in self.parked_syncs:
            if sync.target > committed:
                waiting.append(sync)
                continue
            done = SyncDone(sync.conn, sync.session_id, sync.cxid, sync.path)
            if sync.origin == self.id:
                self._sync_done(out, done)
            else:
                self._send_follower(out, sync.origin, done)
        self.parked_syncs = waiting

    def _on_sync_done(self, now: float, out: Output, src: NodeId, msg: SyncDone) -> None:
        if self._from_leader(now, out, src, msg):
            self._sync_done(out, msg)

    def _sync_done(self, out: Output, msg: SyncDone) -> None:
        conn = self._session_connection(msg.session_id, msg.conn)
        if conn is None:
            return
        for pending in conn.queue:
            if pending.xid == msg.cxid and isinstance(pending.op, txn.SyncRequest):
                pending.done, pending.result = True, msg.path
                break
        self._drain(out, conn)

    def _on_revalidate(self, now: float, out: Output, src: NodeId, msg: Revalidate) -> None:
        if self._channel(out, src, msg) is not None:
            self._revalidate(now, out, msg)

    def _revalidate(self, now: float, out: Output, msg: Revalidate) -> None:
        valid = self.tracker.touch(msg.session_id, now, msg.timeout_ms) and \
            msg.session_id in self.pending_tree.sessions()
        answer = Revalidated(msg.conn, msg.session_id, valid)
        if msg.origin == self.id:
            self._revalidated(out, answer)
        else:
            self._send_follower(out, msg.origin, answer)

    def _on_touches(self, now: float, out: Output, src: NodeId, msg: Touches) -> None:
        channel = self._channel(out, src, msg)
        if channel is None:
            return
        for session_id, timeout in msg.sessions:
            self.tracker.touch(session_id, now, timeout)
        out.send(src, TouchesSeen(channel.link, channel.next_seq()))

    def _on_touches_seen(self, now: float, out: Output, src: NodeId, msg: TouchesSeen) -> None:
        self._from_leader(now, out, src, msg)

    def _tick(self, now: float, out: Output) -> None:
        """Twice a tick (a ZooKeeper leader pings its learners every half tick, and they answer
        with their session touches): report or check sessions, and close silent connections
        (ZooKeeper closes a connection not heard from within its session timeout)."""
        if self.serving is None:
            return
        for client, conn in sorted(self.conns.items()):
            if now - conn.heard > conn.timeout_ms:
                self._close(out, client, "connection timed out")
        if not self._is_leader():
            # Even with nothing to report: the leader's answer shows nothing was lost meanwhile.
            self._send_leader(out, Touches(tuple(sorted(self.touched.items()))))
            self.touched = {}
            return
        for session_id in self.tracker.expire(now):
            out.note(f"expires session {session_id:#x}", tag="expire", value=session_id)
            self._propose(now, out, TxnEntry(txn.CloseSessionTxn(session_id), session_id, 0,
                                             int(now), self.id, 0))

    _HANDLERS = {
        ConnectRequest: _on_connect,
        Request: _on_request,
        ClientPing: _on_ping,
        Forward: _on_forward,
        Revalidate: _on_revalidate,
        Revalidated: _on_revalidated,
        Touches: _on_touches,
        TouchesSeen: _on_touches_seen,
        SyncDone: _on_sync_done,
    }


def _merge(out: Output, part: Output) -> None:
    """Add ``part`` (an Output a contained node returned) to ``out``, keeping its order."""
    if part.persist:
        out.write(**part.persist)
    for text, tag, value in part.notes:
        out.note(text, tag, value)
    for name in part.cancel:
        out.cancel_timer(name)
    for name, delay in part.timers.items():
        out.set_timer(name, delay)
    for dst, msg in part.sends:
        out.send(dst, msg)

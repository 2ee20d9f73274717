"""An etcd server: a real Raft server underneath, the MVCC store on top, the lessor, watches.

:class:`EtcdServer` *is* a :class:`zablib.protocols.raft.RaftServer` (a subclass that changes
none of its rules): every Raft message, timer and read goes to Raft unchanged, and what Raft
decides shows in the ``apply`` and ``read`` notes of the :class:`~zablib.core.Output` it
returns. The server reads those notes, in order, after each input:

* ``apply`` of a client command: the server applies the request to its
  :class:`~zablib.etcd.mvcc.KVStore` (every server, in log order, so every store goes through the
  same revisions), feeds the changes to the watches it holds, and, if the request came from one
  of its own clients, answers it (note ``kv-response``). A Raft no-op applied by a leader of its
  own term promotes its lessor (below), as etcd's ``applyEntryNormal`` does.
* ``read`` of a range it was asked for: the read is served from the store, which has applied
  exactly the index Raft served the read at. Linearizable reads are Raft's ReadIndex (the
  leader's commit index, confirmed by a heartbeat round, applied here); serializable ones are
  Raft's local read: whatever this server has applied, at once, possibly stale.

Writes: a server that leads appends the request to its log; a follower forwards it to the
leader it knows (:class:`Forward`, as etcd's Raft forwards proposals); a server that knows no
leader refuses (``etcdserver: no leader``). A proposal lost with a deposed leader is never
answered and the client's deadline expires, as in etcd (whose clients do not retry a write
then). Each request id is applied once: the simulated network may duplicate a
:class:`Forward`, which etcd's peers, talking over TCP, never see.

Leases (etcd's lessor): that a lease exists, its TTL and its keys are replicated state (the
store). *When* it expires is the leader's alone: the primary lessor keeps an expiry per lease in
memory; a keepalive, sent to the leader (a follower forwards it, as etcd forwards
``LeaseRenew`` to the leader over HTTP), sets it to now + TTL; keepalives are not in the log.
Every :data:`LESSOR_MS` the leader looks for expired leases and proposes a
:class:`~zablib.etcd.mvcc.LeaseRevoke` for each: the keys go away on every server at the same
revision, through the log. A follower's lessor keeps no clock. When a server becomes leader
and applies the no-op of its term, it promotes its lessor: every lease expires one election
timeout plus its *full* TTL from then (etcd's ``Promote(ElectionTimeout)``; the remaining TTL
is not replicated unless etcd's optional lease checkpoints are on, so a leader change extends
every lease). A leader that steps down forgets its clocks (``Demote``).

Watches: a watch lives on the server its client is connected to (volatile: a crash loses it;
the client reconnects elsewhere from its last revision + 1, ``zablib.etcd.client``). Created
with a start revision in the past, it first replays the store's history from there (refused
with ``mvcc: required revision has been compacted`` if that is gone: note ``kv-watch-cancel``),
then follows the changes as the server applies them, one note ``kv-watch`` per revision, in
revision order. A start revision ahead of the server waits until the server gets there: a
watch never skips a revision and never repeats one.

Notes (``Trace.values(tag)``): ``kv-response`` ``(("req" | "read", id), response)``,
``kv-watch`` ``(watch_id, revision, events)``, ``kv-watch-cancel`` ``(watch_id, failure)``,
``lease-promote`` ``(term, lease ids)``, ``lease-expired`` ``(lease id)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import zablib.etcd.mvcc as mvcc
from zablib.core import Message, NodeId, Output
from zablib.etcd.errors import CompactedError, FutureRevisionError
from zablib.protocols.raft import LEADER, Entry, LocalRead, RaftServer, ReadIndex

#: How often a leader's lessor looks for expired leases, in simulated ms (etcd: 500 ms).
LESSOR_MS = 50.0
#: The lessor's timer (Raft's timers have their own names).
LESSOR_TIMER = "lessor"
#: Simulated ms per second of TTL.
SECOND_MS = 1000.0


# -- what clients ask (client requests to a server) ------------------------------------------------
@dataclass(frozen=True)
class Command:
    """A write as it goes into the Raft log: ``request`` from client request ``request_id``
    of server ``origin`` (0: the lessor's own revocation, answered to nobody)."""

    origin: NodeId
    request_id: int
    request: Any

    def __repr__(self) -> str:
        return f"{describe_request(self.request)}#{self.request_id}"


def describe_request(request: Any) -> str:
    """A request in a few characters for the trace: ``put /a=1``, ``txn``, ``grant 2s`` ..."""
    def text(b: bytes) -> str:
        return b.decode(errors="replace")
    if isinstance(request, mvcc.Put):
        return f"put {text(request.key)}={text(request.value)}"
    if isinstance(request, mvcc.DeleteRange):
        return f"delete {text(request.key)}{'..' if request.range_end else ''}"
    if isinstance(request, mvcc.Txn):
        return f"txn({len(request.compare)} if, {len(request.success)} then, {len(request.failure)} else)"
    if isinstance(request, mvcc.LeaseGrant):
        return f"grant {request.ttl}s"
    if isinstance(request, mvcc.LeaseRevoke):
        return f"revoke lease {request.id}"
    if isinstance(request, mvcc.Compact):
        return f"compact {request.revision}"
    return type(request).__name__


@dataclass(frozen=True)
class Propose:
    """Client request: replicate ``command``."""

    command: Command


@dataclass(frozen=True)
class RangeRead:
    """Client request: read ``range``; linearizable (ReadIndex) or serializable (local)."""

    read_id: int
    range: mvcc.Range
    linearizable: bool = True


@dataclass(frozen=True)
class KeepAlive:
    """Client request: renew lease ``lease`` (answered ``("req", request_id)``)."""

    request_id: int
    lease: int


@dataclass(frozen=True)
class WatchCreate:
    """Client request: watch ``[key, range_end)`` (or ``key``) from ``start_revision`` (0: the
    next change). The reply is the revision the watch starts from (0: cancelled)."""

    watch_id: int
    key: bytes
    range_end: bytes = b""
    start_revision: int = 0


@dataclass(frozen=True)
class WatchCancel:
    """Client request: stop watch ``watch_id``."""

    watch_id: int


# -- between servers ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Forward(Message):
    """A follower hands a client's write to its leader."""

    command: Command


@dataclass(frozen=True)
class Renew(Message):
    """A follower hands a client's keepalive to its leader."""

    request_id: int
    lease: int


@dataclass(frozen=True)
class Renewed(Message):
    """The leader's answer to a :class:`Renew`: the lease's TTL, or a failure."""

    request_id: int
    answer: Any


@dataclass(frozen=True)
class KeepAliveResponse:
    """A renewed lease and its TTL in seconds (etcd's ``LeaseKeepAliveResponse``)."""

    id: int
    ttl: int


@dataclass
class Watcher:
    """A watch this server holds: the range and the next revision it owes its client."""

    key: bytes
    range_end: bytes
    next_revision: int


class EtcdServer(RaftServer):
    """An etcd server on a Raft server (module docstring). Parameters: those of
    :class:`~zablib.protocols.raft.RaftServer`."""

    def __init__(self, node_id: NodeId, peers: tuple[NodeId, ...], storage: Mapping[str, Any],
                 *args: Any, **kwargs: Any):
        super().__init__(node_id, peers, storage, *args, **kwargs)
        # etcd's minimum TTL: 1.5 election timeouts, rounded up to whole seconds.
        self.store = mvcc.KVStore(min_ttl=max(1, math.ceil(1.5 * self.election_ms[0] / SECOND_MS)))
        self.ranges: dict[int, mvcc.Range] = {}  # reads asked of this server, by read id
        # Writes asked of this incarnation, answered when applied (etcd's wait registry: a
        # restarted server applies its log again but answers nobody for what it did before).
        self.asked: set[int] = set()
        self.applied = 0  # the log index the store has applied
        self.done: set[int] = set()  # request ids applied (rebuilt with the store from the log)
        self.watchers: dict[int, Watcher] = {}
        self.primary = False  # a promoted lessor: this server keeps the leases' clocks
        self.expiry: dict[int, float] = {}  # lease -> when it expires (primary only)
        self.revoking: dict[int, float] = {}  # lease -> when its revocation was proposed

    # -- inputs ---------------------------------------------------------------------------------------
    def on_timer(self, now: float, name: str) -> Output:
        if name != LESSOR_TIMER:
            return self.settle(now, super().on_timer(now, name))
        out = Output()
        if self.primary and self.role == LEADER:
            out.set_timer(LESSOR_TIMER, LESSOR_MS)  # only a promoted lessor keeps the clock
            for lease, expiry in sorted(self.expiry.items()):
                # etcd retries a revocation that did not go through after 3 s; here 1 TTL unit.
                if expiry <= now and now - self.revoking.get(lease, -math.inf) >= SECOND_MS:
                    self.revoking[lease] = now
                    out.note(f"lease {lease} expired", tag="lease-expired", value=lease)
                    out = self.merge(out, super().on_client(now, Command(0, 0, mvcc.LeaseRevoke(lease))))
        return self.settle(now, out)

    def on_client(self, now: float, request: Any) -> Output:
        if isinstance(request, Propose):
            self.asked.add(request.command.request_id)
            if self.role == LEADER:
                out = super().on_client(now, request.command)
            elif self.leader_id is not None:
                out = Output().send(self.leader_id, Forward(request.command))
                out.reply = True
            else:
                out = Output()
                out.reply = False
            return self.settle(now, out)
        if isinstance(request, RangeRead):
            self.ranges[request.read_id] = request.range
            inner = ReadIndex(request.read_id) if request.linearizable else LocalRead(request.read_id)
            out = super().on_client(now, inner)
            if not out.reply:
                del self.ranges[request.read_id]
            return self.settle(now, out)
        if isinstance(request, KeepAlive):
            return self.settle(now, self.keepalive(now, request.request_id, request.lease, self.id))
        if isinstance(request, WatchCreate):
            out = Output()
            out.reply = self.watch(out, request)
            return out
        if isinstance(request, WatchCancel):
            out = Output()
            out.reply = self.watchers.pop(request.watch_id, None) is not None
            return out
        return self.settle(now, super().on_client(now, request))

    def on_message(self, now: float, src: NodeId, msg: Message) -> Output:
        if isinstance(msg, Forward):
            if self.role == LEADER:
                return self.settle(now, super().on_client(now, msg.command))
            return Output().note(f"drops forwarded {msg.command!r}: not the leader",
                                 tag="kv-dropped", value=msg.command)
        if isinstance(msg, Renew):
            return self.settle(now, self.keepalive(now, msg.request_id, msg.lease, src))
        if isinstance(msg, Renewed):
            return Output().note(f"keepalive #{msg.request_id}: {msg.answer}", tag="kv-response",
                                 value=(("req", msg.request_id), msg.answer))
        return self.settle(now, super().on_message(now, src, msg))

    # -- the lessor -----------------------------------------------------------------------------------
    def keepalive(self, now: float, request_id: int, lease: int, origin: NodeId) -> Output:
        """Renew ``lease`` for ``origin``'s client: on the primary lessor, else through the
        leader; a server without a leader refuses (reply False)."""
        out = Output()
        out.reply = True
        if not (self.role == LEADER and self.primary):
            if origin != self.id:  # forwarded to a server that leads no more (or not yet)
                return out.send(origin, Renewed(request_id, mvcc.Failure("NoLeaderError")))
            if self.role != LEADER and self.leader_id is not None:
                return out.send(self.leader_id, Renew(request_id, lease))
            out.reply = False  # no leader, or a leader whose lessor is not promoted yet
            return out
        held = self.store.leases.get(lease)
        if held is None or self.expiry.get(lease, math.inf) <= now:
            # An expired lease is being revoked: etcd answers "not found" once it is.
            answer: Any = mvcc.Failure("LeaseNotFoundError", f"lease {lease}")
        else:
            self.expiry[lease] = now + held.ttl * SECOND_MS
            answer = KeepAliveResponse(lease, held.ttl)
        if origin == self.id:
            return out.note(f"keepalive #{request_id}: {answer}", tag="kv-response",
                            value=(("req", request_id), answer))
        return out.send(origin, Renewed(request_id, answer))

    def promote(self, out: Output) -> None:
        """etcd's ``lessor.Promote(ElectionTimeout)``: this leader's clock now decides, and
        every lease gets its full TTL plus an election timeout, from now."""
        self.primary = True
        extend = self.election_ms[0]
        self.expiry = {i: self.now + extend + lease.ttl * SECOND_MS
                       for i, lease in sorted(self.store.leases.items())}
        self.revoking = {}
        out.set_timer(LESSOR_TIMER, LESSOR_MS)
        out.note(f"lessor promoted: {len(self.expiry)} leases", tag="lease-promote",
                 value=(self.term, tuple(self.expiry)))

    # -- watches --------------------------------------------------------------------------------------
    def watch(self, out: Output, request: WatchCreate) -> int:
        """Open a watch; return the revision it starts from (0 if cancelled at once)."""
        start = request.start_revision or self.store.revision + 1
        try:
            past = self.store.changes_since(start, request.key, request.range_end)
        except CompactedError as error:
            failure = mvcc.Failure("CompactedError", str(error), error.compact_revision)
            out.note(f"watch {request.watch_id} cancelled: {error}", tag="kv-watch-cancel",
                     value=(request.watch_id, failure))
            return 0
        for revision, events in past:
            self.notify(out, request.watch_id, revision, events)
        self.watchers[request.watch_id] = Watcher(request.key, request.range_end,
                                                  max(start, self.store.revision + 1))
        return start

    def notify(self, out: Output, watch_id: int, revision: int, events: tuple) -> None:
        text = ", ".join(e.describe() for e in events)
        out.note(f"watch {watch_id}: {text}", tag="kv-watch", value=(watch_id, revision, events))

    # -- what Raft decided ----------------------------------------------------------------------------
    def settle(self, now: float, out: Output) -> Output:
        """Act on the ``apply`` and ``read`` notes Raft put in ``out``, in order."""
        for _, tag, value in list(out.notes):
            if tag == "apply":
                self.applied = value[0]
                self.apply(out, value[1])
            elif tag == "read" and value[0] in self.ranges:
                self.answer_read(out, value[0], value[2])
        if self.primary and self.role != LEADER:
            self.primary = False  # etcd's Demote: a follower keeps no lease clocks
            self.expiry, self.revoking = {}, {}
        return out

    def apply(self, out: Output, entry: Entry) -> None:
        if entry.kind == "noop":
            if self.role == LEADER and entry.term == self.term:
                self.promote(out)
            return
        command = entry.command
        if entry.kind != "command" or not isinstance(command, Command):
            return
        if command.request_id:
            if command.request_id in self.done:
                # The same proposal twice in the log: a Forward the network duplicated (etcd's
                # peers talk over TCP, which never does). Applied once, as TCP would have it.
                out.note(f"skips #{command.request_id}: applied already", tag="kv-duplicate",
                         value=command.request_id)
                return
            self.done.add(command.request_id)
        before = self.store.revision
        response = self.store.apply(command.request)
        if self.primary:
            if isinstance(response, mvcc.LeaseGrantResponse):
                self.expiry[response.id] = self.now + response.ttl * SECOND_MS
            elif isinstance(command.request, mvcc.LeaseRevoke):
                self.expiry.pop(command.request.id, None)
                self.revoking.pop(command.request.id, None)
        if self.store.revision != before:
            revision, events = self.store.history[-1]
            for watch_id, watcher in self.watchers.items():
                if watcher.next_revision <= revision:
                    mine = tuple(e for e in events
                                 if mvcc.in_range(e.kv.key, watcher.key, watcher.range_end))
                    if mine:
                        self.notify(out, watch_id, revision, mine)
                    watcher.next_revision = revision + 1
        if command.origin == self.id and command.request_id in self.asked:
            self.asked.discard(command.request_id)
            out.note(f"answers #{command.request_id}: {type(response).__name__}", tag="kv-response",
                     value=(("req", command.request_id), response))

    def answer_read(self, out: Output, read_id: int, applied: int) -> None:
        request = self.ranges.pop(read_id)
        # Raft served the read having applied ``applied`` entries; so has the store, here (the
        # notes are read in order, and a handler may apply more after the read).
        assert applied == self.applied, (applied, self.applied)
        try:
            response: Any = self.store.range(request)
        except (CompactedError, FutureRevisionError) as error:
            compacted = error.compact_revision if isinstance(error, CompactedError) else 0
            response = mvcc.Failure(type(error).__name__, str(error), compacted)
        out.note(f"range #{read_id}: {type(response).__name__}", tag="kv-response",
                 value=(("read", read_id), response))

    @staticmethod
    def merge(out: Output, more: Output) -> Output:
        """``out`` with the sends, timers, writes and notes of ``more`` added, in order."""
        for dst, msg in more.sends:
            out.send(dst, msg)
        for name, delay in more.timers.items():
            out.set_timer(name, delay)
        for name in more.cancel:
            out.cancel_timer(name)
        if more.persist:
            out.write(**more.persist)
        for text, tag, value in more.notes:
            out.note(text, tag=tag, value=value)
        return out

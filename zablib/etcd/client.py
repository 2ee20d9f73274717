"""A tiny etcd clientv3 on the simulated cluster: calls that wait in simulated time.

A call hands its request to the server the client is connected to (``sim.request``, so the trace
shows it) and runs the simulation until that server answers (note ``kv-response``), or until
the client's deadline passes (:class:`~zablib.etcd.errors.RequestTimeoutError`). That is the
whole driver: there is one caller at a time, the test or the notebook cell, and nothing runs
between its calls. Several requests in flight at once are the ``*_async`` calls, which return a
:class:`Pending` at once; ``sim.wait(p1, p2, ...)`` runs until they are answered.

What the client does as clientv3 does it:

* **Endpoints.** It talks to one server; if that server is down (or knows no leader, for a
  write or a linearizable read) it moves to the next of its endpoints. A write refused because
  the server knew no leader is retried (nothing was proposed); a write whose server crashed
  after taking it is not (it may have been applied: :class:`~zablib.etcd.errors.UnavailableError`),
  a read is.
* **Watches resume.** A :class:`Watch` records every event it receives. When its server
  crashes, the client opens the watch again on another server from the last revision it received
  + 1 (clientv3's watcher does this by itself): it misses nothing and receives nothing twice,
  whichever server it lands on, since every server goes through the same revisions.
* **Leases.** :meth:`Client.keepalive` renews a lease in the background, every third of its
  TTL, as the simulation runs (clientv3's ``KeepAlive``); :meth:`Client.keepalive_once` renews
  it once.

What is simpler than etcd: the hop between a client and its server takes no time and fails only
when the server crashes (the client notices at once, as a reset connection); a watch on a server
cut off from the leader just stalls (clientv3's ``WithRequireLeader`` is not modelled); ranges
are a key or a prefix (no sorting, limits or arbitrary ``range_end`` in the client); no auth.

Time: TTLs are in seconds of simulated time (1000 simulated ms); deadlines in seconds too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import zablib.etcd.mvcc as mvcc
from zablib.core import NodeId
from zablib.etcd.errors import (
    DuplicateKeyError,
    EtcdError,
    LeaseNotFoundError,
    NoLeaderError,
    RequestTimeoutError,
    UnavailableError,
    error_for,
)
from zablib.etcd.server import Command, KeepAlive, Propose, RangeRead, WatchCancel, WatchCreate

#: How long a client waits before it tries again after "no leader", in simulated ms.
RETRY_MS = 20.0


@dataclass(eq=False)
class Pending:
    """A request in flight (see :meth:`Client.put_async` ...).

    Attributes
    ----------
    key : (str, int)
        ``("req", id)`` for a write or keepalive, ``("read", id)`` for a read.
    server : int
        The server it was handed to.
    asked_at, answered_at : float
        Simulated ms; ``answered_at`` is None until it is answered.
    response : object
        The answer (a response of ``zablib.etcd.mvcc``), once answered.
    error : ~zablib.etcd.errors.EtcdError or None
        Why it failed (refused, timed out, its server crashed, or the server's failure).
    """

    key: tuple[str, int]
    server: NodeId
    asked_at: float
    request: Any = None
    answered_at: float | None = None
    response: Any = None
    error: EtcdError | None = None

    @property
    def done(self) -> bool:
        """Answered, or failed."""
        return self.answered_at is not None or self.error is not None

    def finish(self, time: float, response: Any) -> None:
        self.answered_at = time
        if isinstance(response, mvcc.Failure):
            self.error = error_for(response.kind, response.detail or None, response.compact_revision)
        else:
            self.response = response

    def result(self) -> Any:
        """The response; raises the error if it failed, RuntimeError if still in flight."""
        if self.error is not None:
            raise self.error
        if self.answered_at is None:
            raise RuntimeError(f"request {self.key} to server {self.server} is still in flight")
        return self.response


@dataclass(eq=False)
class Watch:
    """A watch and everything it received, in the order received.

    Attributes
    ----------
    events : list of ~zablib.etcd.mvcc.Event
        Every event, in revision order (a txn's events share one revision).
    revisions : list of int
        The revision of each response (one per revision with events in the range).
    last_revision : int
        The latest revision received (the watch resumes after it).
    servers : list of (float, int, int)
        ``(time, server, start_revision)`` of each time the watch was opened: the first, then
        each resumption after its server crashed.
    cancelled : ~zablib.etcd.errors.EtcdError or None
        Why the server cancelled it (a compacted start revision), if it did.
    """

    client: Client
    key: bytes
    range_end: bytes
    start_revision: int
    watch_id: int = 0
    server: NodeId = 0
    events: list[mvcc.Event] = field(default_factory=list)
    revisions: list[int] = field(default_factory=list)
    last_revision: int = 0
    servers: list[tuple[float, NodeId, int]] = field(default_factory=list)
    cancelled: EtcdError | None = None
    broken: bool = False

    def deliver(self, watch_id: int, revision: int, events: tuple) -> None:
        if watch_id != self.watch_id:
            return  # a stream the client has left
        self.events.extend(events)
        self.revisions.append(revision)
        self.last_revision = revision

    def values(self) -> list[bytes | None]:
        """The value of each event (None for a delete), in order."""
        return [None if e.type == mvcc.DELETE else e.kv.value for e in self.events]

    def cancel(self) -> None:
        """Stop watching."""
        if self.watch_id and not self.broken and self.client.sim.is_up(self.server):
            self.client.sim.request(self.server, WatchCancel(self.watch_id))
        self.client.sim.watches.pop(self.watch_id, None)
        self.watch_id = 0


@dataclass(eq=False)
class KeepAliveLoop:
    """A background keepalive (see :meth:`Client.keepalive`).

    Attributes
    ----------
    lease : int
        The lease kept alive.
    renewed : list of float
        When each keepalive was answered (simulated ms).
    lost : int
        Keepalives not answered (their server crashed, or no leader answered in time).
    error : ~zablib.etcd.errors.EtcdError or None
        Why it stopped by itself (the lease is gone: ``LeaseNotFoundError``).
    stopped : bool
        Whether it has stopped.
    """

    client: Client
    lease: int
    renewed: list[float] = field(default_factory=list)
    lost: int = 0
    error: EtcdError | None = None
    stopped: bool = False
    next_at: float = 0.0
    every_ms: float = 0.0
    pending: Pending | None = None

    def stop(self) -> None:
        """Stop renewing (the owner goes away)."""
        self.stopped = True

    def tick(self) -> None:
        """Called as the simulation runs: take the answer in, send the next keepalive when due."""
        sim = self.client.sim
        pending = self.pending
        if pending is not None and pending.done:
            self.pending = None
            if pending.error is None:
                self.renewed.append(pending.answered_at)
                self.every_ms = pending.response.ttl * 1000.0 / 3  # clientv3: every TTL / 3
            elif isinstance(pending.error, LeaseNotFoundError):
                self.error, self.stopped = pending.error, True
            else:
                self.lost += 1
        elif pending is not None and sim.now - pending.asked_at >= self.client.timeout_ms:
            sim.refuse(pending, RequestTimeoutError("keepalive"))
            self.pending = None
            self.lost += 1
        if self.stopped or self.pending is not None or sim.now < self.next_at:
            return
        try:
            self.pending = self.client.keepalive_async(self.lease)
        except UnavailableError:
            return
        if self.pending.error is not None:  # refused at once: no leader known; retry soon
            self.pending, self.next_at = None, sim.now + RETRY_MS
            return
        self.next_at = sim.now + (self.every_ms or RETRY_MS)


class Client:
    """An etcd client (clientv3's KV, Lease and Watch calls) on a simulated cluster.

    Parameters
    ----------
    sim : ~zablib.etcd.simulation.EtcdSimulation
        The cluster (``zablib.etcd.simulation``).
    endpoints : tuple of int
        Servers to talk to, in order of preference; it starts with the first.
    timeout : float
        Deadline of a call, in simulated seconds.
    """

    def __init__(self, sim: Any, endpoints: tuple[NodeId, ...], timeout: float = 1.0):
        if not endpoints or any(e not in sim.node_ids for e in endpoints):
            raise ValueError(f"endpoints must be servers of {list(sim.node_ids)}, got {endpoints!r}")
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout!r}")
        self.sim = sim
        self.endpoints = tuple(endpoints)
        self.server = self.endpoints[0]
        self.timeout_ms = timeout * 1000.0

    def __repr__(self) -> str:
        return f"Client(server={self.server}, endpoints={list(self.endpoints)})"

    # -- connection ------------------------------------------------------------------------------------
    def connect(self, avoid: NodeId | None = None) -> NodeId:
        """The server to use: the current one if up, else the next live endpoint."""
        if self.sim.is_up(self.server) and self.server != avoid:
            return self.server
        k = self.endpoints.index(self.server) if self.server in self.endpoints else -1
        for step in range(1, len(self.endpoints) + 1):
            candidate = self.endpoints[(k + step) % len(self.endpoints)]
            if self.sim.is_up(candidate) and candidate != avoid:
                self.server = candidate
                return candidate
        raise UnavailableError(f"no endpoint of {list(self.endpoints)} is up")

    def refused(self, pending: Pending, server: NodeId) -> None:
        """``server`` knew no leader: fail ``pending`` and move to the next endpoint up (the
        balancer of clientv3 moves off an unavailable server too)."""
        self.sim.refuse(pending, NoLeaderError(f"server {server}"))
        try:
            self.connect(avoid=server)
        except UnavailableError:
            pass  # no other endpoint up: stay

    # -- requests in flight ------------------------------------------------------------------------------
    def submit(self, request: Any) -> Pending:
        """Hand a write (or a lease request) to the server; answered with a :class:`Pending`."""
        server = self.connect()
        key = ("req", self.sim.next_request_id())
        pending = Pending(key, server, self.sim.now, request)
        self.sim.expect(pending)
        if not self.sim.request(server, Propose(Command(server, key[1], request))):
            self.refused(pending, server)
        return pending

    def read_async(self, request: mvcc.Range, serializable: bool = False) -> Pending:
        server = self.connect()
        read_id = self.sim.next_read_id()
        pending = Pending(("read", read_id), server, self.sim.now, request)
        self.sim.expect(pending)
        if not self.sim.request(server, RangeRead(read_id, request, not serializable)):
            self.refused(pending, server)
        return pending

    def call(self, make: Any, *, retry_unavailable: bool) -> Any:
        """Submit ``make()`` until answered, retrying refusals (and, for reads, a crashed server)
        on the next endpoint, within the deadline."""
        deadline = self.sim.now + self.timeout_ms
        while True:
            pending = make()
            self.sim.wait(pending, until=deadline)
            error = pending.error
            retry = isinstance(error, NoLeaderError) or (
                retry_unavailable and isinstance(error, UnavailableError))
            if not retry or self.sim.now >= deadline:
                return pending.result()
            self.sim.run(until=min(deadline, self.sim.now + RETRY_MS))

    # -- KV ----------------------------------------------------------------------------------------------
    def put_async(self, key: bytes | str, value: bytes | str, lease: int = 0) -> Pending:
        """Start a put; see :meth:`put`."""
        return self.submit(mvcc.Put(mvcc.as_key(key), mvcc.as_value(value), _lease_id(lease)))

    def put(self, key: bytes | str, value: bytes | str, lease: int = 0) -> mvcc.PutResponse:
        """Set ``key`` to ``value`` (attached to ``lease``, if not 0); the response's
        ``revision`` is the store's revision after the put, ``prev_kv`` the key before it."""
        request = mvcc.Put(mvcc.as_key(key), mvcc.as_value(value), _lease_id(lease))
        return self.call(lambda: self.submit(request), retry_unavailable=False)

    def range_request(self, key: bytes | str, prefix: bool, revision: int) -> mvcc.Range:
        if not isinstance(revision, int) or revision < 0:
            raise ValueError(f"revision must be an int >= 0 (0: the latest), got {revision!r}")
        key = mvcc.as_key(key)
        return mvcc.Range(key, mvcc.prefix_end(key) if prefix else b"", revision)

    def get_async(self, key: bytes | str, *, prefix: bool = False, revision: int = 0,
                  serializable: bool = False) -> Pending:
        """Start a read; see :meth:`get`."""
        return self.read_async(self.range_request(key, prefix, revision), serializable)

    def get(self, key: bytes | str, *, prefix: bool = False, revision: int = 0,
            serializable: bool = False) -> mvcc.RangeResponse:
        """Read ``key`` (with ``prefix``, every key starting with it) at ``revision`` (0: the
        latest). Linearizable by default (Raft's ReadIndex through the connected server);
        ``serializable=True`` answers from what that server has applied: no round trip, but
        possibly stale. Raises :class:`~zablib.etcd.errors.CompactedError` for a revision
        older than the last compaction."""
        request = self.range_request(key, prefix, revision)
        return self.call(lambda: self.read_async(request, serializable), retry_unavailable=True)

    def value(self, key: bytes | str, **options: Any) -> bytes | None:
        """The value of ``key`` (:meth:`get`'s options), or None if it does not exist."""
        kvs = self.get(key, **options).kvs
        return kvs[0].value if kvs else None

    def delete(self, key: bytes | str, *, prefix: bool = False) -> mvcc.DeleteRangeResponse:
        """Delete ``key`` (with ``prefix``, every key starting with it)."""
        key = mvcc.as_key(key)
        request = mvcc.DeleteRange(key, mvcc.prefix_end(key) if prefix else b"")
        return self.call(lambda: self.submit(request), retry_unavailable=False)

    def txn(self, compare: list[mvcc.Compare] | tuple = (), success: list | tuple = (),
            failure: list | tuple = ()) -> mvcc.TxnResponse:
        """If every compare holds run ``success``, else ``failure``, as one revision. Build the
        parts with :func:`compare`, :func:`op_put`, :func:`op_get`, :func:`op_delete`."""
        request = mvcc.Txn(tuple(compare), tuple(success), tuple(failure))
        check_txn(request)
        return self.call(lambda: self.submit(request), retry_unavailable=False)

    def compact(self, revision: int) -> mvcc.CompactResponse:
        """Drop the history before ``revision``: reads and watches of older revisions fail
        with :class:`~zablib.etcd.errors.CompactedError` from then on."""
        if not isinstance(revision, int) or revision < 1:
            raise ValueError(f"revision must be an int >= 1, got {revision!r}")
        return self.call(lambda: self.submit(mvcc.Compact(revision)), retry_unavailable=False)

    # -- leases ------------------------------------------------------------------------------------------
    def lease_grant(self, ttl: int, lease_id: int = 0) -> mvcc.LeaseGrantResponse:
        """A new lease of ``ttl`` seconds (a TTL below the cluster's minimum, 1.5 election
        timeouts, is raised to it, as etcd does; the response says the TTL granted).

        Raises ValueError for a TTL below 1: etcd would silently grant its minimum for it,
        which hides a caller's mistake.
        """
        if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < 1:
            raise ValueError(f"a lease TTL is a whole number of seconds >= 1, got {ttl!r}")
        request = mvcc.LeaseGrant(ttl, _lease_id(lease_id))
        return self.call(lambda: self.submit(request), retry_unavailable=False)

    def lease_revoke(self, lease_id: int) -> mvcc.LeaseRevokeResponse:
        """Revoke lease ``lease_id``: its keys are deleted, in one revision. Raises
        :class:`~zablib.etcd.errors.LeaseNotFoundError` for an unknown lease."""
        request = mvcc.LeaseRevoke(_lease_id(lease_id, allow_zero=False))
        return self.call(lambda: self.submit(request), retry_unavailable=False)

    def keepalive_async(self, lease_id: int) -> Pending:
        """Start one keepalive; see :meth:`keepalive_once`."""
        lease_id = _lease_id(lease_id, allow_zero=False)
        server = self.connect()
        key = ("req", self.sim.next_request_id())
        pending = Pending(key, server, self.sim.now, lease_id)
        self.sim.expect(pending)
        if not self.sim.request(server, KeepAlive(key[1], lease_id)):
            self.refused(pending, server)
        return pending

    def keepalive_once(self, lease_id: int) -> Any:
        """Renew lease ``lease_id`` once: the leader restarts its TTL from now. Raises
        :class:`~zablib.etcd.errors.LeaseNotFoundError` if it has expired or never existed."""
        return self.call(lambda: self.keepalive_async(lease_id), retry_unavailable=True)

    def keepalive(self, lease_id: int) -> KeepAliveLoop:
        """Keep lease ``lease_id`` alive in the background, as clientv3's ``KeepAlive``: a
        keepalive every third of the TTL the server last answered, sent as the simulation runs,
        until :meth:`KeepAliveLoop.stop` (the owner stops renewing: the lease expires one TTL
        after the last renewal) or until the lease is gone (``LeaseNotFoundError``)."""
        loop = KeepAliveLoop(self, _lease_id(lease_id, allow_zero=False))
        self.sim.keepers.append(loop)
        loop.tick()
        return loop

    # -- watches -----------------------------------------------------------------------------------------
    def watch(self, key: bytes | str, *, prefix: bool = False, start_revision: int = 0) -> Watch:
        """Watch ``key`` (with ``prefix``, every key starting with it) from ``start_revision``
        (0: from the next change). Returns at once; the :class:`Watch` fills in as the
        simulation runs. A start revision older than the last compaction cancels the watch
        (``watch.cancelled`` is a :class:`~zablib.etcd.errors.CompactedError`)."""
        if not isinstance(start_revision, int) or start_revision < 0:
            raise ValueError(f"start_revision must be an int >= 0, got {start_revision!r}")
        key = mvcc.as_key(key)
        watch = Watch(self, key, mvcc.prefix_end(key) if prefix else b"", start_revision)
        self.open(watch, start_revision)
        return watch

    def open(self, watch: Watch, start: int) -> None:
        """Open (or reopen) ``watch`` on a live server from revision ``start``."""
        server = self.connect()
        watch.watch_id = self.sim.next_watch_id()
        watch.server, watch.broken = server, False
        watch.servers.append((self.sim.now, server, start))
        self.sim.watches[watch.watch_id] = watch
        began = self.sim.request(server, WatchCreate(watch.watch_id, watch.key, watch.range_end, start))
        if not watch.start_revision:
            # "From the next change" is fixed once, at the server's revision then, so that a
            # resumption does not skip what happened while the watch was moving.
            watch.start_revision = began
        self.sim.collect()

    def resume(self, watch: Watch) -> bool:
        """Reopen a watch whose server went down, from its last revision + 1 (or where it
        started, if it received nothing); False if no endpoint is up."""
        if watch.watch_id == 0:
            return True  # cancelled meanwhile
        start = watch.last_revision + 1 if watch.last_revision else watch.start_revision
        try:
            self.open(watch, start)
        except UnavailableError:
            return False
        return True


# -- building a txn --------------------------------------------------------------------------------------
def compare(key: bytes | str, target: str, result: str, value: Any) -> mvcc.Compare:
    """A txn compare, e.g. ``compare("k", "version", "=", 0)`` (the key does not exist) or
    ``compare("k", "value", "=", b"v")``. Targets: ``value``, ``version``,
    ``create_revision``, ``mod_revision``, ``lease``; results ``=``, ``!=``, ``<``, ``>``."""
    if target not in mvcc.TARGETS:
        raise ValueError(f"unknown compare target {target!r}; use one of {', '.join(mvcc.TARGETS)}")
    if result not in mvcc.RESULTS:
        raise ValueError(f"unknown compare result {result!r}; use one of {', '.join(mvcc.RESULTS)}")
    if target == "value":
        value = mvcc.as_value(value)
    elif isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"a {target} compare needs an int, got {value!r}")
    return mvcc.Compare(mvcc.as_key(key), target, result, value)


def op_put(key: bytes | str, value: bytes | str, lease: int = 0) -> mvcc.Put:
    """A put for a txn branch."""
    return mvcc.Put(mvcc.as_key(key), mvcc.as_value(value), _lease_id(lease))


def op_get(key: bytes | str, *, prefix: bool = False) -> mvcc.Range:
    """A read for a txn branch (it sees the branch's earlier writes)."""
    key = mvcc.as_key(key)
    return mvcc.Range(key, mvcc.prefix_end(key) if prefix else b"")


def op_delete(key: bytes | str, *, prefix: bool = False) -> mvcc.DeleteRange:
    """A delete for a txn branch."""
    key = mvcc.as_key(key)
    return mvcc.DeleteRange(key, mvcc.prefix_end(key) if prefix else b"")


def check_txn(txn: mvcc.Txn) -> None:
    """Refuse a txn branch that writes a key twice, as etcd's server does before proposing
    (:class:`~zablib.etcd.errors.DuplicateKeyError`), and anything that is not an operation."""
    for branch in (txn.success, txn.failure):
        puts: set[bytes] = set()
        deletes: list[mvcc.DeleteRange] = []
        for op in branch:
            if isinstance(op, mvcc.Put):
                if op.key in puts:
                    raise DuplicateKeyError(f"key {op.key!r} put twice")
                puts.add(op.key)
            elif isinstance(op, mvcc.DeleteRange):
                deletes.append(op)
            elif not isinstance(op, mvcc.Range):
                raise ValueError(f"a txn branch holds op_put/op_get/op_delete operations, got {op!r}")
        for d in deletes:
            clash = [k for k in puts if mvcc.in_range(k, d.key, d.range_end)]
            if clash:
                raise DuplicateKeyError(f"key {clash[0]!r} put and deleted")
    for c in txn.compare:
        if not isinstance(c, mvcc.Compare):
            raise ValueError(f"a txn compare is built with compare(...), got {c!r}")


def _lease_id(lease: int, allow_zero: bool = True) -> int:
    if isinstance(lease, bool) or not isinstance(lease, int) or lease < 0 or (lease == 0 and not allow_zero):
        raise ValueError(f"a lease id is a positive int{' (0: none)' if allow_zero else ''}, got {lease!r}")
    return lease


__all__ = ["Client", "Pending", "Watch", "KeepAliveLoop", "compare", "op_put", "op_get", "op_delete",
           "check_txn", "RequestTimeoutError"]

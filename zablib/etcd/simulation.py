"""``cluster(n)``: a simulated etcd cluster, and the simulation that delivers its answers.

:class:`EtcdSimulation` is a :class:`~zablib.protocols.raft.RaftSimulation` of
:class:`~zablib.etcd.server.EtcdServer` nodes: Raft's questions (``leader()``, ``read``,
``committed``, its invariants) work unchanged, and it adds the client side. After every event it
reads the new notes of the trace (``kv-response``, ``kv-watch``, ``kv-watch-cancel``) and the
crashes, and hands each to the :class:`~zablib.etcd.client.Pending` request or
:class:`~zablib.etcd.client.Watch` waiting for it: a request whose server crashed fails, a watch
whose server crashed resumes elsewhere. Any way of running it (``run``, ``run_for``,
``run_until``, a client's call) does this.
"""

from __future__ import annotations

from typing import Any

import zablib.protocols.raft as raft
from zablib.core import NodeId
from zablib.etcd.client import Client, KeepAliveLoop, Pending, Watch
from zablib.etcd.errors import RequestTimeoutError, UnavailableError, error_for
from zablib.etcd.server import EtcdServer
from zablib.invariants import InvariantViolation
from zablib.network import LinkConfig, uniform
from zablib.sim import DEFAULT_EVENT_LIMIT, SimulationError


class EtcdSimulation(raft.RaftSimulation):
    """A Raft simulation whose servers are etcd servers, with etcd clients (module docstring).

    Attributes
    ----------
    waiting : dict of (str, int) to ~zablib.etcd.client.Pending
        Requests in flight, by key (``("req", id)`` or ``("read", id)``).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.request_ids = 0
        self.watch_ids = 0
        # Requests in flight (documented in the class docstring, where its type can be qualified).
        self.waiting: dict[tuple[str, int], Pending] = {}
        #: Open watches, by the id of their current stream.
        self.watches: dict[int, Watch] = {}
        #: Watches whose server crashed, to reopen on another server as soon as one is up.
        self.to_resume: list[Watch] = []
        #: Background keepalives (``Client.keepalive``), ticked after every event.
        self.keepers: list[KeepAliveLoop] = []
        self.collected = 0  # how much of the trace collect() has read

    # -- ids -------------------------------------------------------------------------------------
    def next_request_id(self) -> int:
        self.request_ids += 1
        return self.request_ids

    def next_read_id(self) -> int:
        """A read id, from Raft's own counter (so raft's ``read`` and clients' never clash)."""
        self.reads_asked += 1
        return self.reads_asked

    def next_watch_id(self) -> int:
        self.watch_ids += 1
        return self.watch_ids

    # -- clients ---------------------------------------------------------------------------------
    def client(self, endpoints: NodeId | tuple[NodeId, ...] | None = None, *,
               timeout: float = 1.0) -> Client:
        """A client connected to ``endpoints`` (a server id or several, in order of
        preference; default every server, from 1), with a deadline of ``timeout`` simulated
        seconds per call."""
        if endpoints is None:
            endpoints = self.node_ids
        elif isinstance(endpoints, int):
            endpoints = (endpoints,)
        return Client(self, tuple(endpoints), timeout)

    def expect(self, pending: Pending) -> None:
        self.waiting[pending.key] = pending

    def refuse(self, pending: Pending, error: Exception) -> None:
        self.waiting.pop(pending.key, None)
        pending.error = error  # type: ignore[assignment]

    def wait(self, *pendings: Pending, until: float | None = None) -> bool:
        """Run until every one of ``pendings`` is answered or failed, or until simulated time
        ``until`` (default: one second from now); the ones still in flight then fail with
        :class:`~zablib.etcd.errors.RequestTimeoutError`. Returns whether all succeeded."""
        deadline = self.now + 1000.0 if until is None else until
        while not all(p.done for p in pendings) and self.now < deadline:
            if self.run(until=deadline, max_events=1) == 0:
                break
        for p in pendings:
            if not p.done:
                self.waiting.pop(p.key, None)
                p.error = RequestTimeoutError(f"no answer from server {p.server} within "
                                              f"{deadline - p.asked_at:g} ms")
        return all(p.error is None for p in pendings)

    # -- running: every way of running collects the answers -----------------------------------------
    def run(self, until: float | None = None, max_events: int | None = None) -> int:
        """Raft's :meth:`~zablib.sim.Simulation.run`, handing each answer to its waiting request.

        With neither limit, stops with :class:`~zablib.sim.SimulationError` after
        ``DEFAULT_EVENT_LIMIT`` events, because a protocol with periodic timers is never quiescent.

        Returns
        -------
        int
            The number of events processed.
        """
        if until is None and max_events is None:
            done = self.run(max_events=DEFAULT_EVENT_LIMIT)
            if done == DEFAULT_EVENT_LIMIT:
                raise SimulationError(f"still busy after {DEFAULT_EVENT_LIMIT} events at "
                                      f"t={self.now:.3f} ms: pass until= or max_events=")
            return done
        done = 0
        while max_events is None or done < max_events:
            step = super().run(until=until, max_events=1)
            self.collect()
            if step == 0:
                break
            done += step
        return done

    def step(self):
        event = super().step()
        self.collect()
        return event

    def collect(self) -> None:
        """Hand the answers, watch events and crashes the trace got since the last call to
        the requests and watches waiting for them."""
        trace = self.trace
        if self.collected >= len(trace):
            return
        if self.keepers:
            self.keepers = [k for k in self.keepers if not k.stopped]
        new = trace[self.collected:]
        self.collected = len(trace)
        for e in new:
            if e.kind == "note":
                if e.tag == "kv-response":
                    pending = self.waiting.pop(e.value[0], None)
                    if pending is not None:
                        pending.finish(e.time, e.value[1])
                elif e.tag == "kv-watch":
                    watch = self.watches.get(e.value[0])
                    if watch is not None:
                        watch.deliver(*e.value)
                elif e.tag == "kv-watch-cancel":
                    watch = self.watches.pop(e.value[0], None)
                    if watch is not None:
                        failure = e.value[1]
                        watch.cancelled = error_for(failure.kind, failure.detail or None,
                                                    failure.compact_revision)
            elif e.kind == "crash":
                self.server_lost(e.node)
        for keeper in list(self.keepers):
            keeper.tick()
        if self.to_resume:
            waiting, self.to_resume = self.to_resume, []
            for watch in waiting:
                if not watch.client.resume(watch):
                    self.to_resume.append(watch)  # no server up: try again at the next event

    def server_lost(self, node: NodeId) -> None:
        for key, pending in list(self.waiting.items()):
            if pending.server == node:
                del self.waiting[key]
                pending.error = UnavailableError(f"server {node} crashed")
        for watch_id, watch in list(self.watches.items()):
            if watch.server == node:
                del self.watches[watch_id]
                watch.broken = True
                self.to_resume.append(watch)


def stores_agree(sim: EtcdSimulation) -> None:
    """Every server's store went through the same revisions: where two servers both hold the
    changes of a revision, they are the same changes."""
    seen: dict[int, tuple[NodeId, tuple]] = {}
    for i in sim.node_ids:
        node = sim.nodes[i]
        if not isinstance(node, EtcdServer):
            continue
        for revision, events in node.store.history:
            first = seen.setdefault(revision, (i, events))
            if first[1] != events:
                raise InvariantViolation("stores agree", f"servers {first[0]} and {i} differ at "
                                         f"revision {revision}")


def cluster(n: int = 3, *, seed: int = 0, election_ms: tuple[float, float] = raft.ELECTION_MS,
            heartbeat_ms: float = raft.HEARTBEAT_MS, check_quorum: bool = True,
            pre_vote: bool = True, link: LinkConfig | None = None) -> EtcdSimulation:
    """A simulated etcd cluster of ``n`` servers (ids 1..n) on zablib's Raft.

    Parameters
    ----------
    n : int
        Number of servers.
    seed : int
        Seed of the run: the same seed and the same calls give the same trace.
    election_ms, heartbeat_ms : (float, float), float
        Raft's timers, in simulated ms (etcd's defaults are 1000 and 100 ms; zablib's Raft runs
        ten times faster). A lease's minimum TTL is 1.5 minimum election timeouts, rounded up
        to whole seconds.
    check_quorum, pre_vote : bool
        Raft's CheckQuorum and PreVote, on by default as etcd runs them.
    link : LinkConfig, optional
        Default: uniform 1-10 ms, reordering allowed (Raft's default).

    Returns
    -------
    EtcdSimulation
        ``sim.client()`` gives a client; ``sim.leader()`` and the rest are Raft's.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be an int >= 1, got {n!r}")
    lo, hi = election_ms
    if not 0 < lo <= hi or heartbeat_ms <= 0:
        raise ValueError("need 0 < election_ms[0] <= election_ms[1] and heartbeat_ms > 0")
    members = tuple(range(1, n + 1))
    options = dict(initial=members, election_ms=election_ms, heartbeat_ms=heartbeat_ms,
                   check_quorum=bool(check_quorum), pre_vote=bool(pre_vote))
    sim = EtcdSimulation(
        lambda i, peers, storage: EtcdServer(i, peers, storage, **options),
        members, seed=seed, link=link or LinkConfig(delay=uniform(1.0, 10.0), fifo=False),
        invariants=[raft.election_safety, raft.leader_append_only, raft.log_matching,
                    raft.leader_completeness, raft.state_machine_safety, stores_agree])
    sim.members0 = members
    return sim

"""The discrete-event simulator: time, the network, faults, and the trace.

A :class:`Simulation` owns everything a protocol node must not: the clock, an event heap ordered by
``(time, sequence number)``, a single seeded :class:`random.Random`, the :class:`~zablib.network.Network`,
each node's stable storage, and the :class:`~zablib.trace.Trace`. Given the same seed and the same
calls, two simulations produce the same trace byte for byte.

Protocol modules build on it with a ``cluster(n, *, seed=0, **options)`` factory that returns a
subclass adding protocol-level questions (``leader()``, ``submit()``, ``committed(i)`` ...).
Every node can be read through :meth:`Simulation.status`, the same way for every protocol.

Messages cost only their link's delay unless a resource model is switched on with
:meth:`Simulation.set_costs` (or ``costs=``): then nodes take time to handle messages, queue
what arrives while they are busy, and links have a bandwidth (:class:`zablib.network.Costs`).
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from types import MappingProxyType
from typing import Any, NamedTuple

from zablib.core import Delay, Message, Node, NodeId, NodeStatus, Output
from zablib.network import Costs, LinkConfig, Network, describe_groups, describe_ids
from zablib.trace import Event, Trace

NodeFactory = Callable[[NodeId, tuple[NodeId, ...], Mapping[str, Any]], Node]
Invariant = Callable[["Simulation"], None]

#: ``run()`` with neither ``until`` nor ``max_events`` stops with an error after this many events,
#: so a protocol with periodic timers (which is never quiescent) cannot hang a notebook.
DEFAULT_EVENT_LIMIT = 100_000

#: Default ``limit`` of :meth:`Simulation.run_until`, in events.
RUN_UNTIL_LIMIT = 10_000

# Heap entries are flat tuples ordered by (time, seq); seq is unique, so nothing after it is ever
# compared. A delivery is (time, seq, _DELIVERY, src, dst, message, msg_id, incarnation, dup) and
# a timer (time, seq, _TIMER, node, name, incarnation), whose seq is also its generation.
# With costs (set_costs) a message arrives as an _ARRIVAL, which is no event: it joins its
# node's queue and comes back as a _QUEUED delivery when the node has handled it (it is past
# the network then, so a partition no longer stops it). Without costs neither kind exists.
_DELIVERY, _TIMER, _ARRIVAL, _QUEUED = 0, 1, 2, 3
heappush, heappop = heapq.heappush, heapq.heappop
_MUTABLE = (list, dict, set, bytearray)


class InFlight(NamedTuple):
    """A message on its way (see :meth:`Simulation.in_flight`)."""

    src: NodeId
    dst: NodeId
    message: Message
    msg_id: int
    due: float
    """When it is scheduled to arrive (simulated ms)."""


class SimulationError(RuntimeError):
    """The simulation cannot do what was asked (for example, it never became quiescent)."""


class Simulation:
    """A seeded discrete-event simulation of a cluster of :class:`~zablib.core.Node` objects.

    Parameters
    ----------
    factory : callable
        ``factory(node_id, peers, storage) -> Node``; called at boot with empty storage and at
        every recovery with what the node persisted.
    node_ids : iterable of int
        The nodes of the cluster.
    seed : int
        Seed of the only random generator of the run.
    link : LinkConfig, optional
        Default settings of every link (delay, loss, duplication, FIFO order).
    invariants : iterable of callables, optional
        Checks run by :meth:`check`; each takes the simulation and raises
        :class:`~zablib.invariants.InvariantViolation` when broken.
    costs : Costs, optional
        The resource model (handling time per message and per byte, link bandwidth); off by
        default. See :meth:`set_costs`.
    """

    def __init__(
        self,
        factory: NodeFactory,
        node_ids: Iterable[NodeId],
        *,
        seed: int = 0,
        link: LinkConfig | None = None,
        invariants: Iterable[Invariant] = (),
        costs: Costs | None = None,
    ):
        ids = tuple(sorted(node_ids))
        if not ids:
            raise ValueError("a simulation needs at least one node")
        if len(set(ids)) != len(ids):
            raise ValueError(f"node ids must be distinct, got {ids}")
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise ValueError(f"seed must be an int, got {seed!r}")
        self.seed = seed
        self.rng = random.Random(seed)
        self.now = 0.0
        self.network = Network(ids, link)
        self.trace = Trace()
        self._record = self.trace.record
        self.invariants: list[Invariant] = list(invariants)
        self.storage: dict[NodeId, dict[str, Any]] = {i: {} for i in ids}
        self.nodes: dict[NodeId, Node] = {}
        self._factory = factory
        self._up: dict[NodeId, bool] = {i: True for i in ids}
        self._incarnation: dict[NodeId, int] = {i: 0 for i in ids}
        self._timer_gen: dict[tuple[NodeId, str], int] = {}
        self._heap: list[tuple] = []
        self._seq = 0
        self._msg_ids = 0
        self._frozen: str | None = None
        self.crash_intervals: list[tuple[NodeId, float, float | None]] = []
        self.partition_intervals: list[tuple[tuple[frozenset[NodeId], ...], float, float | None]] = []
        self._costs: Costs | None = None
        self._arrival = _DELIVERY  # the kind a sent message is scheduled as (see set_costs)
        self._bandwidth: float | None = None
        self._busy: dict[NodeId, float] = {}  # node -> when it finishes what it has queued
        self._work: dict[NodeId, float] = {}  # node -> handling time of all it has queued
        self._link_free: dict[tuple[NodeId, NodeId], float] = {}  # link -> end of its transmissions
        if costs is not None:
            self.set_costs(costs)
        for i in ids:
            self.nodes[i] = factory(i, ids, MappingProxyType({}))
            self._log("start", i, self.nodes[i].status())
            self._apply(i, self.nodes[i].on_start(self.now))

    # -- inspection -----------------------------------------------------------------------
    @property
    def node_ids(self) -> tuple[NodeId, ...]:
        """All node ids, ascending."""
        return self.network.node_ids

    def is_up(self, node: NodeId) -> bool:
        """Whether ``node`` is running (not crashed)."""
        return self._up[self.network.check_node(node)]

    @property
    def crashed(self) -> frozenset[NodeId]:
        """The nodes that are currently down."""
        return frozenset(i for i, up in self._up.items() if not up)

    def status(self, node: NodeId) -> NodeStatus:
        """What ``node`` holds now, read-only: its role, term, leader, log and commit point.

        A crashed node is reported as it was when it crashed, with ``up=False``: the volatile
        state its last run had, not the durable state it would restart from (a Raft server's
        commit point, for one, is volatile and starts again from 0 on recovery).

        Returns
        -------
        ~zablib.core.NodeStatus
            Built by the node's ``report()``; ``status(i).text`` is its ``status()`` line.
        """
        report = self.nodes[self.network.check_node(node)].report()
        if not isinstance(report, NodeStatus):
            raise TypeError(f"node {node} ({type(self.nodes[node]).__name__}).report() returned "
                            f"{type(report).__name__}, not a NodeStatus")
        return report if self._up[node] else replace(report, up=False)

    def pending(self) -> int:
        """Number of scheduled deliveries and timers (including ones that will turn out stale)."""
        return len(self._heap)

    def check(self) -> None:
        """Run every invariant of this simulation; raises InvariantViolation on the first broken one."""
        for invariant in self.invariants:
            invariant(self)

    # -- running --------------------------------------------------------------------------
    def step(self) -> Event | None:
        """Deliver one message or fire one timer; return its event, or None if nothing is pending."""
        self._check_not_frozen()
        position = len(self.trace)
        if not self._step():
            return None
        return self.trace[position]  # the first event a step records is the step itself

    def _step(self) -> bool:
        """Process the next event; False if nothing is pending. The kernel's innermost loop."""
        heap = self._heap
        while heap:
            entry = heappop(heap)
            kind = entry[2]
            if kind == _TIMER:
                time, gen, _, node, name, inc = entry
                key = (node, name)
                if self._timer_gen.get(key) != gen or self._incarnation[node] != inc:
                    continue  # cancelled, reset or killed by a crash: not an event
                del self._timer_gen[key]
                self.now = time
                self._record((time, "timer", node, None, None, name, None, None))
                self._apply(node, self.nodes[node].on_timer(time, name))
                return True
            if kind == _ARRIVAL and self._queue(entry):
                continue  # it waits in its node's queue: not an event yet
            time, _, _, src, dst, msg, msg_id, inc, dup = entry
            self.now = time
            if not self._up[dst]:
                self._drop(dst, src, msg_id, msg, f"node {dst} is down")
            elif self._incarnation[dst] != inc:
                self._drop(dst, src, msg_id, msg, f"node {dst} restarted")
            elif not self.network.intact and kind != _QUEUED and (
                    why := self.network.disconnection(src, dst, sending=False)) is not None:
                self._drop(dst, src, msg_id, msg, why)
            else:
                self._record((time, "deliver", dst, src, msg_id, "duplicate" if dup else "", msg,
                              None))
                self._apply(dst, self.nodes[dst].on_message(time, src, msg))
            return True
        return False

    def _queue(self, entry: tuple) -> bool:
        """Put an arriving message in its node's queue (costs on); False if it is handled now
        instead: dropped because it cannot arrive, or free and its node idle."""
        time, _, _, src, dst, msg, msg_id, inc, dup = entry
        if not self._up[dst] or self._incarnation[dst] != inc or (
                not self.network.intact and self.network.disconnection(src, dst, sending=False)):
            return False
        busy = self._busy.get(dst, 0.0)
        cost = self._costs.handling_ms(dst, msg)
        if not cost and busy <= time:
            return False
        self._busy[dst] = done = (busy if busy > time else time) + cost
        self._work[dst] = self._work.get(dst, 0.0) + cost
        self._seq = seq = self._seq + 1
        heappush(self._heap, (done, seq, _QUEUED, src, dst, msg, msg_id, inc, dup))
        return True

    @property
    def costs(self) -> Costs | None:
        """The resource model in force (:meth:`set_costs`), or None: messages cost only their
        link's delay."""
        return self._costs

    def work_ms(self, node: NodeId) -> float:
        """How long ``node`` has spent handling messages so far, in ms (0 without costs).

        Its growth over a stretch of time, divided by the stretch, is the share of it the node
        was busy. (A node with a queue is busy without a break until its queue is empty, so
        what it has done is what it took in minus what is left.)
        """
        self.network.check_node(node)
        return self._work.get(node, 0.0) - max(0.0, self._busy.get(node, 0.0) - self.now)

    def set_costs(self, costs: Costs | None) -> None:
        """Switch the resource model on (a :class:`~zablib.network.Costs`) or off (None).

        With costs, a node handles one message at a time, each taking ``costs.per_message_ms +
        costs.per_byte_ms * message.size``; messages that arrive while it is busy wait their
        turn, and the delivery (the node's new state, what it sends) happens when the handling
        ends. Each directed link transmits one message at a time at ``costs.bandwidth`` bytes
        per ms before the link's delay applies. See :mod:`zablib.network` for the model.

        It applies from now on, to every protocol alike: set it right after building a cluster
        (``sim = zab.cluster(5); sim.set_costs(Costs(per_message_ms=0.1))``). Messages on their
        way are handled under the new model when they arrive (their transmission is over: the
        bandwidth applies to messages sent from now on). The trace records the change as a
        ``network`` event.
        """
        if costs is not None and not isinstance(costs, Costs):
            raise TypeError(f"costs must be a zablib.network.Costs or None, got {type(costs).__name__}")
        if costs is None and self._costs is None:
            return  # nothing changes, and the trace says nothing
        self._costs = costs
        self._arrival = arrival = _ARRIVAL if costs is not None and costs.processing else _DELIVERY
        # Messages on their way have not arrived yet: they arrive under the new model. Their
        # (time, seq) stays, so the heap keeps its order.
        heap = self._heap
        for k, entry in enumerate(heap):
            if entry[2] == _DELIVERY or entry[2] == _ARRIVAL:
                heap[k] = entry[:2] + (arrival,) + entry[3:]
        self._bandwidth = None if costs is None else costs.bandwidth
        self._log("network", None, "costs: none" if costs is None else costs.describe())

    def _transmit(self, src: NodeId, dst: NodeId, msg: Message, now: float) -> float:
        """When ``msg``, sent now, has left its link (costs with a bandwidth): after what the
        link is still transmitting, and its own transmission time."""
        link = (src, dst)
        free = self._link_free.get(link, 0.0)
        self._link_free[link] = done = (free if free > now else now) + msg.size / self._bandwidth
        return done

    def run(self, until: float | None = None, max_events: int | None = None) -> int:
        """Process events until nothing is pending, simulated time ``until``, or ``max_events``.

        With neither limit, stops with :class:`SimulationError` after ``DEFAULT_EVENT_LIMIT``
        events, because a protocol with periodic timers is never quiescent.

        Returns
        -------
        int
            The number of events processed.
        """
        self._check_not_frozen()
        if until is not None and until < self.now:
            raise ValueError(f"until={until} is in the past; simulated time is already {self.now}")
        if max_events is not None and (not isinstance(max_events, int) or max_events < 0):
            raise ValueError(f"max_events must be a non-negative int, got {max_events!r}")
        done = 0
        heap = self._heap
        step = self._step
        if until is None:
            budget = DEFAULT_EVENT_LIMIT if max_events is None else max_events
            while done < budget:
                if not step():
                    return done
                done += 1
            self._settle()
            if max_events is None and heap:
                raise SimulationError(
                    f"still busy after {DEFAULT_EVENT_LIMIT} events at t={self.now:.3f} ms; "
                    "this protocol may never be quiescent: pass until= or max_events="
                )
            return done
        while max_events is None or done < max_events:
            if heap and heap[0][2] != _DELIVERY:
                self._settle()
            if not heap or heap[0][0] > until:
                break
            step()
            done += 1
        else:
            self._settle()
        if not heap or heap[0][0] > until:
            self.now = max(self.now, until)
        return done

    def run_for(self, duration: float) -> int:
        """Run for ``duration`` more milliseconds of simulated time."""
        if duration < 0:
            raise ValueError(f"duration must be >= 0, got {duration}")
        return self.run(until=self.now + duration)

    def run_until(
        self,
        predicate: Callable[[Simulation], bool],
        *,
        limit: int = RUN_UNTIL_LIMIT,
        what: str = "the condition",
    ) -> int:
        """Process events one at a time until ``predicate(self)`` holds.

        The predicate is asked before the first event and after each one, so the run stops at
        the very event that makes it true (and at once if it already holds). ``limit`` counts
        *events* (deliveries, drops and timers, as :meth:`step` returns them), not simulated
        time: a bound on events also stops a protocol that loops without time passing.

        Parameters
        ----------
        predicate : callable
            ``predicate(sim) -> bool``, asked of this simulation.
        limit : int
            At most this many events; default :data:`RUN_UNTIL_LIMIT`.
        what : str
            What the predicate waits for, in words, for the error message
            (e.g. ``"the coordinator's decision"``).

        Returns
        -------
        int
            The number of events processed.

        Raises
        ------
        SimulationError
            Naming ``what``, if ``limit`` events pass, or nothing is left to happen, before
            the predicate holds.
        """
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            raise ValueError(f"limit must be a non-negative int (a number of events), got {limit!r}")
        step = self.step
        done = 0
        while not predicate(self):
            if done == limit:
                raise SimulationError(
                    f"{what} did not happen within {limit} events (t={self.now:.3f} ms)"
                )
            if step() is None:
                raise SimulationError(
                    f"{what} did not happen: nothing left to happen (t={self.now:.3f} ms)"
                )
            done += 1
        return done

    # -- imposing events (explorers and replays) --------------------------------------------
    # An explorer chooses what happens next itself, and a replay re-enacts its choices: these
    # methods let them do so through the kernel (the one interpreter of a node's Output), in
    # place of the schedule. A run driven this way is usually frozen first (see freeze()).

    def freeze(self, reason: str) -> None:
        """Refuse to run on by the schedule: :meth:`step`, :meth:`run` and :meth:`run_until`
        raise :class:`SimulationError` naming ``reason`` from now on.

        For a run whose events were imposed (:meth:`deliver_now`, :meth:`fire_now` ...): its
        pending events no longer match what its trace shows. Imposing more events, crashes and
        partitions stays possible.
        """
        self._frozen = reason

    @property
    def frozen(self) -> str | None:
        """Why this simulation refuses to run on (see :meth:`freeze`), or None."""
        return self._frozen

    def _check_not_frozen(self) -> None:
        if self._frozen:
            raise SimulationError(f"this run cannot be continued: {self._frozen}")

    def advance_to(self, time: float) -> None:
        """Move the clock to ``time`` without processing anything.

        Raises
        ------
        ValueError
            If ``time`` is in the past.
        SimulationError
            If an event is due before ``time`` and the run is not frozen: it would then happen
            in the past (use ``run(until=time)``, or :meth:`freeze` first).
        """
        if time < self.now:
            raise ValueError(f"cannot go back in time from {self.now} to {time}")
        self._settle()
        if not self._frozen and self._heap and self._heap[0][0] < time:
            raise SimulationError(
                f"an event is due at t={self._heap[0][0]:.3f} ms, before {time}: "
                "use run(until=...) or freeze() the run first"
            )
        self.now = time

    def in_flight(self) -> list[InFlight]:
        """The messages on their way, in the order they were sent (copies of a duplicated
        message in the order they arrive).

        A message sent to a node that is down, or across a partition that came later, is still
        on its way: the kernel drops it when it arrives. With costs (:meth:`set_costs`), a
        message waiting in its node's queue is on its way too, due when its handling ends.
        """
        entries = sorted((e for e in self._heap if e[2] != _TIMER), key=lambda e: (e[6], e[0], e[1]))
        return [InFlight(e[3], e[4], e[5], e[6], e[0]) for e in entries]

    def pending_timers(self, node: NodeId) -> tuple[str, ...]:
        """The names of ``node``'s pending timers, sorted."""
        self.network.check_node(node)
        return tuple(sorted(name for n, name in self._timer_gen if n == node))

    def deliver_now(self, msg_id: int) -> Event:
        """Deliver the message ``msg_id``, which is on its way, now rather than when it is due.

        Its first pending copy is taken off the schedule and handed to its destination, which
        must be up; no partition is consulted (the caller decides what arrives).

        Returns
        -------
        Event
            The ``deliver`` event.
        """
        entry = self._unschedule(msg_id)
        _, _, _, src, dst, msg, _, _, dup = entry
        if not self._up[dst]:
            heappush(self._heap, entry)
            raise ValueError(f"message #{msg_id} is for node {dst}, which is down: drop_now() it")
        position = len(self.trace)
        self._record((self.now, "deliver", dst, src, msg_id, "duplicate" if dup else "", msg, None))
        self._apply(dst, self.nodes[dst].on_message(self.now, src, msg))
        return self.trace[position]

    def fire_now(self, node: NodeId, name: str) -> Event:
        """Fire ``node``'s pending timer ``name`` now rather than when it is due.

        Returns
        -------
        Event
            The ``timer`` event.
        """
        self.network.check_node(node)
        if (node, name) not in self._timer_gen:
            pending = ", ".join(self.pending_timers(node)) or "none"
            raise ValueError(f"node {node} has no pending timer {name!r} (pending: {pending})")
        del self._timer_gen[(node, name)]  # its heap entry is stale from now on
        position = len(self.trace)
        self._log("timer", node, name)
        self._apply(node, self.nodes[node].on_timer(self.now, name))
        return self.trace[position]

    def drop_now(self, msg_id: int, why: str) -> Event:
        """Lose the message ``msg_id``, which is on its way, now; ``why`` is recorded.

        For a loss the caller chooses, e.g. an explorer's crash in the middle of a broadcast
        (``"node 0 crashed before sending it"``).

        Returns
        -------
        Event
            The ``drop`` event.
        """
        _, _, _, src, dst, msg, _, _, _ = self._unschedule(msg_id)
        position = len(self.trace)
        self._drop(dst, src, msg_id, msg, why)
        return self.trace[position]

    def _unschedule(self, msg_id: int) -> tuple:
        heap = self._heap
        copies = [k for k, e in enumerate(heap) if e[2] != _TIMER and e[6] == msg_id]
        if not copies:
            raise ValueError(f"message #{msg_id} is not on its way")
        k = min(copies, key=lambda k: heap[k][:2])
        entry = heap[k]
        heap[k] = heap[-1]
        heap.pop()
        heapq.heapify(heap)
        return entry

    def set_state(
        self,
        nodes: Mapping[NodeId, Node],
        *,
        storage: Mapping[NodeId, Mapping[str, Any]] | None = None,
        timers: Mapping[NodeId, Iterable[str]] | None = None,
        in_flight: Iterable[tuple[NodeId, NodeId, Message]] = (),
    ) -> tuple[int, ...]:
        """Set up a state to go on from, as an explorer does with each state it visits.

        Parameters
        ----------
        nodes : mapping of node id -> Node
            These running nodes are replaced by the given objects (their volatile state).
        storage : mapping of node id -> mapping, optional
            Their stable storage (copied).
        timers : mapping of node id -> names, optional
            Their pending timers, replacing the ones they had, all due now.
        in_flight : iterable of (src, dst, Message)
            The messages on their way, replacing every message on its way, all due now.

        Returns
        -------
        tuple of int
            The msg ids given to ``in_flight``, in order (for :meth:`deliver_now`).

        The trace starts afresh: it tells what happens from this state on.
        """
        check = self.network.check_node
        for i, node in nodes.items():
            if not self._up[check(i)]:
                raise ValueError(f"node {i} is crashed; recover() it before setting its state")
            if not isinstance(node, Node):
                raise TypeError(f"the state of node {i} must be a Node, got {type(node).__name__}")
            self.nodes[i] = node
        for i, values in (storage or {}).items():
            self.storage[check(i)] = dict(values)
        timers = {check(i): tuple(names) for i, names in (timers or {}).items()}
        for key in [k for k in self._timer_gen if k[0] in timers]:
            del self._timer_gen[key]
        # Keep only the live timers: the old messages go, and so do stale timers.
        self._heap = [e for e in self._heap if e[2] == _TIMER and self._timer_gen.get((e[3], e[4]))
                      == e[1] and self._incarnation[e[3]] == e[5]]
        heapq.heapify(self._heap)
        for i, names in timers.items():
            for name in names:
                self._schedule_timer(i, name, self.now)
        ids = []
        for src, dst, msg in in_flight:
            check(src)
            check(dst)
            self._msg_ids = msg_id = self._msg_ids + 1
            self._seq = seq = self._seq + 1
            heappush(self._heap, (self.now, seq, self._arrival, src, dst, msg, msg_id,
                                  self._incarnation[dst], False))
            ids.append(msg_id)
        self.trace = Trace()
        self._record = self.trace.record
        return tuple(ids)

    def _settle(self) -> None:
        """Make the heap's first entry the next event: discard stale timers, and (costs on)
        put arriving messages in their nodes' queues, which happens at no time of its own."""
        heap = self._heap
        while heap:
            kind = heap[0][2]
            if kind == _TIMER:
                _, gen, _, node, name, inc = heap[0]
                if self._timer_gen.get((node, name)) == gen and self._incarnation[node] == inc:
                    return
                heappop(heap)
            elif kind == _ARRIVAL:
                entry = heappop(heap)
                if not self._queue(entry):
                    heappush(heap, entry)  # it is an event of its own: a drop or a delivery
                    return
            else:
                return

    # -- clients --------------------------------------------------------------------------
    def request(self, node: NodeId, request: Any) -> Any:
        """Hand a client ``request`` to ``node`` now; return the node's reply.

        Raises ValueError if the node is unknown or crashed.
        """
        self.network.check_node(node)
        if not self._up[node]:
            raise ValueError(f"node {node} is crashed; it cannot take client requests")
        self._log("client", node, repr(request))
        out = self.nodes[node].on_client(self.now, request)
        self._apply(node, out)
        return out.reply

    # -- faults ---------------------------------------------------------------------------
    def crash(self, node: NodeId) -> None:
        """Stop ``node``: its volatile state and pending timers are lost, its storage kept."""
        self.network.check_node(node)
        if not self._up[node]:
            raise ValueError(f"node {node} is already crashed")
        self._up[node] = False
        self._incarnation[node] += 1
        for key in [k for k in self._timer_gen if k[0] == node]:
            del self._timer_gen[key]
        self.network.reset_link_order(node)
        # Its queue is lost with it (each message is dropped when its turn comes), undone.
        self._work[node] = self.work_ms(node)
        self._busy.pop(node, None)
        self.crash_intervals.append((node, self.now, None))
        self._log("crash", node)

    def recover(self, node: NodeId) -> None:
        """Restart a crashed ``node`` from what it persisted (and nothing else)."""
        self.network.check_node(node)
        if self._up[node]:
            raise ValueError(f"node {node} is not crashed; only a crashed node can recover")
        self._up[node] = True
        # A new incarnation: what was sent to the node while it was down is not for this one either.
        self._incarnation[node] += 1
        for k, (n, start, end) in enumerate(self.crash_intervals):
            if n == node and end is None:
                self.crash_intervals[k] = (n, start, self.now)
        self.nodes[node] = self._factory(
            node, self.node_ids, MappingProxyType(dict(self.storage[node]))
        )
        self._log("recover", node, self.nodes[node].status())
        self._apply(node, self.nodes[node].on_start(self.now))

    def partition(self, *groups: Iterable[NodeId]) -> None:
        """Split the network: messages between different groups are lost until :meth:`heal`.

        Groups must be disjoint and together contain every node, e.g.
        ``sim.partition({1, 2}, {3, 4, 5})``. A new partition replaces the previous one.
        """
        ordered = self.network.partition(groups)
        self._close_partition_interval()
        self.partition_intervals.append((ordered, self.now, None))
        self._log("partition", None, describe_groups(ordered))

    def isolate(self, node: NodeId) -> None:
        """Cut ``node`` off from every other node."""
        self.network.check_node(node)
        if len(self.node_ids) < 2:
            raise ValueError("cannot isolate the only node of a cluster")
        self.partition({node}, set(self.node_ids) - {node})

    def cut_link(self, src: NodeId, dst: NodeId) -> None:
        """Cut the one-way link ``src -> dst``: what is sent on it is lost until restored or healed.

        Messages already in flight still arrive. A deterministic way to say "the next message
        never gets out", e.g. a coordinator that crashes after its decision reached one
        participant and before it reached another.
        """
        self.network.cut(src, dst)
        self._log("network", None, f"link {src} -> {dst} cut")

    def restore_link(self, src: NodeId, dst: NodeId) -> None:
        """Undo :meth:`cut_link` for ``src -> dst``."""
        self.network.restore(src, dst)
        self._log("network", None, f"link {src} -> {dst} restored")

    def heal(self) -> None:
        """Remove any partition and cut link; messages flow between all nodes again."""
        was = not self.network.intact
        self.network.heal()
        self._close_partition_interval()
        self._log("heal", None, "" if was else "(no partition or cut link was in force)")

    def _close_partition_interval(self) -> None:
        if self.partition_intervals and self.partition_intervals[-1][2] is None:
            groups, start, _ = self.partition_intervals[-1]
            self.partition_intervals[-1] = (groups, start, self.now)

    def configure_links(self, src: NodeId | None = None, dst: NodeId | None = None, **changes) -> None:
        """Change link settings (``delay``, ``loss``, ``duplicate``, ``fifo``).

        Without ``src``/``dst`` every link changes; see :meth:`zablib.network.Network.configure`.
        """
        self.network.configure(src, dst, **changes)
        ends = ["*" if n is None else str(n) for n in (src, dst)]
        where = "all links" if src is None and dst is None else f"links {ends[0]} -> {ends[1]}"
        settings = ", ".join(f"{k}={v!r}" for k, v in sorted(changes.items()))
        self._log("network", None, f"{settings} on {where}")

    def set_loss(self, p: float, src: NodeId | None = None, dst: NodeId | None = None) -> None:
        """Drop each message with probability ``p`` (``0 <= p < 1``), on every link or one."""
        self.configure_links(src, dst, loss=p)

    def set_duplication(self, p: float, src: NodeId | None = None, dst: NodeId | None = None) -> None:
        """Deliver each message twice with probability ``p`` (``0 <= p < 1``)."""
        self.configure_links(src, dst, duplicate=p)

    # -- applying a node's output ---------------------------------------------------------
    def _apply(self, node: NodeId, out: Output) -> None:
        """Carry out a node's Output: the only interpreter of Output there is.

        Order matters: persist before anything leaves (a node never says what it has not yet
        written down), then notes, cancelled timers, new timers, and last the messages.
        """
        # Called for every input a node handles: the empty parts of an Output are skipped cheaply.
        if out.__class__ is not Output and not isinstance(out, Output):
            raise TypeError(
                f"node {node} ({type(self.nodes[node]).__name__}) returned {type(out).__name__}, "
                "not an Output"
            )
        persist = out.persist
        if persist:
            for key, value in persist.items():
                if isinstance(value, _MUTABLE):
                    raise TypeError(
                        f"node {node} persisted {key!r} as a mutable {type(value).__name__}; "
                        "persist immutable values (tuple, frozenset, frozen dataclass)"
                    )
            self.storage[node].update(persist)
        if out.notes:
            now = self.now
            record = self._record
            for text, tag, value in out.notes:
                note = None if tag == "" and value is None else (tag, value)
                record((now, "note", node, None, None, text, None, note))
        if out.cancel:
            for name in out.cancel:
                self._timer_gen.pop((node, name), None)
        if out.timers:
            for name, delay in out.timers.items():
                self._set_timer(node, name, delay)
        sends = out.sends
        if not sends:
            return
        # Sending, written out here rather than in a method of its own: it runs once per message.
        up = self._up
        network = self.network
        rng = self.rng
        record = self._record
        heap = self._heap
        now = self.now
        kind = self._arrival
        bandwidth = self._bandwidth
        for dst, msg in sends:
            if dst not in up or dst == node or not isinstance(msg, Message):
                self._refuse_send(node, dst, msg)
            self._msg_ids = msg_id = self._msg_ids + 1
            record((now, "send", node, dst, msg_id, "", msg, None))
            if not network.intact and not network.connected(node, dst):
                self._drop(dst, node, msg_id, msg, network.disconnection(node, dst))
                continue
            arrivals = network.transit(rng, node, dst, now if bandwidth is None else
                                       self._transmit(node, dst, msg, now))
            if not arrivals:
                self._drop(dst, node, msg_id, msg, "lost")
                continue
            inc = self._incarnation[dst]
            dup = False
            for due in arrivals:
                self._seq = seq = self._seq + 1
                heappush(heap, (due, seq, kind, node, dst, msg, msg_id, inc, dup))
                dup = True

    def _set_timer(self, node: NodeId, name: str, delay: Delay) -> None:
        if isinstance(delay, tuple):
            low, high = delay
            if not 0 <= low <= high:
                raise ValueError(f"node {node} timer {name!r}: range must satisfy 0 <= low <= high")
            delay = self.rng.uniform(low, high)
        elif delay < 0:
            raise ValueError(f"node {node} timer {name!r}: delay must be >= 0, got {delay}")
        self._schedule_timer(node, name, self.now + delay)

    def _schedule_timer(self, node: NodeId, name: str, due: float) -> None:
        self._seq = seq = self._seq + 1
        self._timer_gen[(node, name)] = seq
        heappush(self._heap, (due, seq, _TIMER, node, name, self._incarnation[node]))

    def _refuse_send(self, src: NodeId, dst: NodeId, msg: Message) -> None:
        if dst not in self._up:
            raise ValueError(
                f"node {src} sent to unknown node {dst!r}; nodes are {describe_ids(self.node_ids)}"
            )
        if dst == src:
            raise ValueError(f"node {src} sent a message to itself; handle it locally instead")
        raise TypeError(f"node {src} sent {type(msg).__name__}, which is not a Message")

    def _drop(self, dst: NodeId, src: NodeId, msg_id: int, msg: Message, why: str) -> None:
        self._record((self.now, "drop", dst, src, msg_id, why, msg, None))

    def _log(self, kind: str, node: NodeId | None = None, text: str = "") -> None:
        """Record a happening that is not a message (start, crash, partition ...)."""
        self._record((self.now, kind, node, None, None, text, None, None))

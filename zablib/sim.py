"""The discrete-event simulator: time, the network, faults, and the trace.

A :class:`Simulation` owns everything a protocol node must not: the clock, an event heap ordered by
``(time, sequence number)``, a single seeded :class:`random.Random`, the :class:`~zablib.network.Network`,
each node's stable storage, and the :class:`~zablib.trace.Trace`. Given the same seed and the same
calls, two simulations produce the same trace byte for byte.

Protocol modules build on it with a ``cluster(n, *, seed=0, **options)`` factory that returns a
subclass adding protocol-level questions (``leader()``, ``submit()``, ``committed(i)`` ...).
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any

from zablib.core import Delay, Message, Node, NodeId, Output
from zablib.network import LinkConfig, Network, _describe_ids
from zablib.trace import Event, Trace

NodeFactory = Callable[[NodeId, tuple[NodeId, ...], Mapping[str, Any]], Node]
Invariant = Callable[["Simulation"], None]

#: ``run()`` with neither ``until`` nor ``max_events`` stops with an error after this many events,
#: so a protocol with periodic timers (which is never quiescent) cannot hang a notebook.
DEFAULT_EVENT_LIMIT = 100_000

#: Default ``limit`` of :meth:`Simulation.run_until`, in events.
RUN_UNTIL_LIMIT = 10_000

_DELIVERY, _TIMER = 0, 1
heappush, heappop = heapq.heappush, heapq.heappop
_MUTABLE = (list, dict, set, bytearray)


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
    """

    def __init__(
        self,
        factory: NodeFactory,
        node_ids: Iterable[NodeId],
        *,
        seed: int = 0,
        link: LinkConfig | None = None,
        invariants: Iterable[Invariant] = (),
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
        self.invariants: list[Invariant] = list(invariants)
        self.storage: dict[NodeId, dict[str, Any]] = {i: {} for i in ids}
        self.nodes: dict[NodeId, Node] = {}
        self._factory = factory
        self._up: dict[NodeId, bool] = {i: True for i in ids}
        self._incarnation: dict[NodeId, int] = {i: 0 for i in ids}
        self._timer_gen: dict[tuple[NodeId, str], int] = {}
        self._heap: list[tuple[float, int, int, tuple]] = []
        self._seq = 0
        self._msg_ids = 0
        self.crash_intervals: list[tuple[NodeId, float, float | None]] = []
        self.partition_intervals: list[tuple[tuple[frozenset[NodeId], ...], float, float | None]] = []
        for i in ids:
            self.nodes[i] = factory(i, ids, MappingProxyType({}))
            self.trace.append(self.now, "start", i, text=self.nodes[i].status())
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
        heap = self._heap
        while heap:
            time, _, what, item = heappop(heap)
            if what == _TIMER:
                node, name, gen, inc = item
                if self._timer_gen.get((node, name)) != gen or self._incarnation[node] != inc:
                    continue  # cancelled, reset or killed by a crash: not an event
                del self._timer_gen[(node, name)]
                self.now = time
                event = self.trace.append(time, "timer", node, text=name)
                self._apply(node, self.nodes[node].on_timer(time, name))
                return event
            src, dst, msg, msg_id, inc, dup = item
            self.now = time
            if not self._up[dst]:
                return self._drop(dst, src, msg_id, msg, f"node {dst} is down")
            if self._incarnation[dst] != inc:
                return self._drop(dst, src, msg_id, msg, f"node {dst} restarted")
            why = self.network.disconnection(src, dst, sending=False)
            if why is not None:
                return self._drop(dst, src, msg_id, msg, why)
            event = self.trace.append(
                time, "deliver", dst, src, msg_id, "duplicate" if dup else "", msg
            )
            self._apply(dst, self.nodes[dst].on_message(time, src, msg))
            return event
        return None

    def run(self, until: float | None = None, max_events: int | None = None) -> int:
        """Process events until nothing is pending, simulated time ``until``, or ``max_events``.

        With neither limit, stops with :class:`SimulationError` after ``DEFAULT_EVENT_LIMIT``
        events, because a protocol with periodic timers is never quiescent.

        Returns
        -------
        int
            The number of events processed.
        """
        if until is not None and until < self.now:
            raise ValueError(f"until={until} is in the past; simulated time is already {self.now}")
        if max_events is not None and (not isinstance(max_events, int) or max_events < 0):
            raise ValueError(f"max_events must be a non-negative int, got {max_events!r}")
        guard = max_events is None and until is None
        budget = DEFAULT_EVENT_LIMIT if guard else max_events
        done = 0
        heap = self._heap
        step = self.step
        while budget is None or done < budget:
            if heap and heap[0][2] == _TIMER:
                self._discard_stale_timers()
            if not heap:
                break
            if until is not None and heap[0][0] > until:
                break
            step()
            done += 1
        else:
            self._discard_stale_timers()
            if guard and self._heap:
                raise SimulationError(
                    f"still busy after {DEFAULT_EVENT_LIMIT} events at t={self.now:.3f} ms; "
                    "this protocol may never be quiescent: pass until= or max_events="
                )
        if until is not None and (not self._heap or self._heap[0][0] > until):
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

    def _discard_stale_timers(self) -> None:
        heap = self._heap
        while heap and heap[0][2] == _TIMER:
            node, name, gen, inc = heap[0][3]
            if self._timer_gen.get((node, name)) == gen and self._incarnation[node] == inc:
                return
            heapq.heappop(heap)

    # -- clients --------------------------------------------------------------------------
    def request(self, node: NodeId, request: Any) -> Any:
        """Hand a client ``request`` to ``node`` now; return the node's reply.

        Raises ValueError if the node is unknown or crashed.
        """
        self.network.check_node(node)
        if not self._up[node]:
            raise ValueError(f"node {node} is crashed; it cannot take client requests")
        self.trace.append(self.now, "client", node, text=repr(request))
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
        self.crash_intervals.append((node, self.now, None))
        self.trace.append(self.now, "crash", node)

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
        self.trace.append(self.now, "recover", node, text=self.nodes[node].status())
        self._apply(node, self.nodes[node].on_start(self.now))

    def partition(self, *groups: Iterable[NodeId]) -> None:
        """Split the network: messages between different groups are lost until :meth:`heal`.

        Groups must be disjoint and together contain every node, e.g.
        ``sim.partition({1, 2}, {3, 4, 5})``. A new partition replaces the previous one.
        """
        ordered = self.network.partition(groups)
        self._close_partition_interval()
        self.partition_intervals.append((ordered, self.now, None))
        text = " | ".join("{" + ", ".join(map(str, sorted(g))) + "}" for g in ordered)
        self.trace.append(self.now, "partition", text=text)

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
        self.trace.append(self.now, "network", text=f"link {src} -> {dst} cut")

    def restore_link(self, src: NodeId, dst: NodeId) -> None:
        """Undo :meth:`cut_link` for ``src -> dst``."""
        self.network.restore(src, dst)
        self.trace.append(self.now, "network", text=f"link {src} -> {dst} restored")

    def heal(self) -> None:
        """Remove any partition and cut link; messages flow between all nodes again."""
        was = self.network.partitioned or bool(self.network.cut_links)
        self.network.heal()
        self._close_partition_interval()
        self.trace.append(self.now, "heal", text="" if was else "(no partition or cut link was in force)")

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
        self.trace.append(self.now, "network", text=f"{settings} on {where}")

    def set_loss(self, p: float, src: NodeId | None = None, dst: NodeId | None = None) -> None:
        """Drop each message with probability ``p`` (``0 <= p < 1``), on every link or one."""
        self.configure_links(src, dst, loss=p)

    def set_duplication(self, p: float, src: NodeId | None = None, dst: NodeId | None = None) -> None:
        """Deliver each message twice with probability ``p`` (``0 <= p < 1``)."""
        self.configure_links(src, dst, duplicate=p)

    # -- applying a node's output ---------------------------------------------------------
    def _apply(self, node: NodeId, out: Output) -> None:
        # Called for every input a node handles: the empty parts of an Output are skipped cheaply.
        if out.__class__ is not Output and not isinstance(out, Output):
            raise TypeError(
                f"node {node} ({type(self.nodes[node]).__name__}) returned {type(out).__name__}, "
                "not an Output"
            )
        now = self.now
        if out.persist:
            for key, value in out.persist.items():
                if isinstance(value, _MUTABLE):
                    raise TypeError(
                        f"node {node} persisted {key!r} as a mutable {type(value).__name__}; "
                        "persist immutable values (tuple, frozenset, frozen dataclass)"
                    )
            self.storage[node].update(out.persist)
        if out.notes:
            for text, tag, value in out.notes:
                self.trace.append(now, "note", node, text=text, tag=tag, value=value)
        if out.cancel:
            for name in out.cancel:
                self._timer_gen.pop((node, name), None)
        if out.timers:
            for name, delay in out.timers.items():
                self._set_timer(node, name, delay)
        send = self._send
        for dst, msg in out.sends:
            send(node, dst, msg)

    def _set_timer(self, node: NodeId, name: str, delay: Delay) -> None:
        if isinstance(delay, tuple):
            low, high = delay
            if not 0 <= low <= high:
                raise ValueError(f"node {node} timer {name!r}: range must satisfy 0 <= low <= high")
            delay = self.rng.uniform(low, high)
        elif delay < 0:
            raise ValueError(f"node {node} timer {name!r}: delay must be >= 0, got {delay}")
        self._seq += 1
        self._timer_gen[(node, name)] = self._seq
        item = (node, name, self._seq, self._incarnation[node])
        heapq.heappush(self._heap, (self.now + delay, self._seq, _TIMER, item))

    def _send(self, src: NodeId, dst: NodeId, msg: Message) -> None:
        if dst not in self._up:
            raise ValueError(
                f"node {src} sent to unknown node {dst!r}; nodes are {_describe_ids(self.node_ids)}"
            )
        if dst == src:
            raise ValueError(f"node {src} sent a message to itself; handle it locally instead")
        if not isinstance(msg, Message):
            raise TypeError(f"node {src} sent {type(msg).__name__}, which is not a Message")
        self._msg_ids = msg_id = self._msg_ids + 1
        now = self.now
        self.trace.append(now, "send", src, dst, msg_id, "", msg)
        network = self.network
        if not network.connected(src, dst):
            self._drop(dst, src, msg_id, msg, self.network.disconnection(src, dst))
            return
        arrivals = network.transit(self.rng, src, dst, now)
        if not arrivals:
            self._drop(dst, src, msg_id, msg, "lost")
            return
        inc = self._incarnation[dst]
        heap = self._heap
        for k, t in enumerate(arrivals):
            self._seq = seq = self._seq + 1
            heappush(heap, (t, seq, _DELIVERY, (src, dst, msg, msg_id, inc, k > 0)))

    def _drop(self, dst: NodeId, src: NodeId, msg_id: int, msg: Message, why: str) -> Event:
        return self.trace.append(self.now, "drop", dst, src, msg_id, why, msg)

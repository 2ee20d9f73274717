"""The network between simulated nodes: per-link delay, loss, duplication, ordering, partitions,
and the optional resource model (:class:`Costs`).

All randomness comes from the simulator's seeded :class:`random.Random`, passed in by the caller,
so the network holds configuration and connectivity only and never a generator of its own.

Costs: when time is not free
----------------------------
By default a message costs only its link's delay: a node handles any number of messages at the
same instant, and a link carries any number at once. Nothing ever saturates, so a simulated
cluster's throughput cannot fall as servers are added. :class:`Costs` switches on a simple,
deterministic resource model, the same for every protocol::

    from zablib.network import Costs
    sim = zab.cluster(5, seed=1)
    sim.set_costs(Costs(per_message_ms=0.05, per_byte_ms=0.00001, bandwidth=10_000))

or ``Simulation(..., costs=Costs(...))`` for a simulation built directly (every ``cluster``
factory returns a :class:`~zablib.sim.Simulation`, and ``set_costs`` works on any of them; set
it before running, since it applies to what happens from then on).

* **Processing.** A node handles one message at a time, and handling one takes
  ``per_message_ms + per_byte_ms * message.size`` (``Message.size`` estimates the bytes on the
  wire; a 1 MB value costs more than a 10-byte one). A message that arrives while its node is
  busy waits in a queue, first come first served. The node acts when it *finishes*: the
  ``deliver`` event in the trace, the node's new state and the messages it sends all happen at
  the end of the handling time, so two messages arriving at once at time ``t`` are delivered at
  ``t + p`` and ``t + 2p``. Timers and client requests handed to a node are not charged (they
  stand for local events, not network input), and neither is sending: a broadcast leaves at
  once, and what it costs the sender is its links' transmission time. ``sim.work_ms(i)`` says
  how long node ``i`` has spent handling messages. ``Costs(nodes=...)`` names the nodes that pay
  (for example the servers of an ensemble and not its clients); by default every node does.
* **Bandwidth.** Every directed link transmits one message at a time at ``bandwidth`` bytes per
  simulated millisecond: a message waits for the messages sent on its link before it, takes
  ``size / bandwidth`` ms to go out, and then spends the link's delay in flight. ``None`` (the
  default) is infinite bandwidth.

A crash empties the node's queue (the messages in it are dropped when their turn comes, as
"node restarted" or "node down") and a recovered node starts idle. With ``costs`` unset (the
default) nothing of this runs and every trace is what it always was.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from dataclasses import dataclass, replace

from zablib.core import Message, NodeId


@dataclass(frozen=True)
class DelayDistribution:
    """How long a message spends in flight, in milliseconds.

    Parameters
    ----------
    kind : {"constant", "uniform", "exponential", "lognormal"}
        ``constant`` always gives ``low``; ``uniform`` draws from ``[low, high]``;
        ``exponential`` gives ``low`` plus an exponential draw with mean ``high - low``;
        ``lognormal`` (heavy-tailed) has median ``low`` and mean ``high``.
    low, high : float
        Parameters as above, with ``0 <= low <= high``.
    """

    kind: str
    low: float
    high: float

    def __post_init__(self) -> None:
        if self.kind not in ("constant", "uniform", "exponential", "lognormal"):
            raise ValueError(f"unknown delay kind {self.kind!r}; use 'constant', 'uniform', "
                             "'exponential' or 'lognormal'")
        if not 0 <= self.low <= self.high:
            raise ValueError(f"delay bounds must satisfy 0 <= low <= high, got {self.low}, {self.high}")

    def sample(self, rng: random.Random) -> float:
        """Draw one delay from ``rng``."""
        kind = self.kind
        if kind == "uniform":
            # random.Random.uniform's own formula, without its extra call: the same draws.
            return self.low + (self.high - self.low) * rng.random()
        if kind == "constant":
            return self.low
        if kind == "lognormal":  # median * e^(sigma Z), whose mean is median * e^(sigma^2 / 2)
            if self.low == 0:
                return 0.0
            return self.low * math.exp(math.sqrt(2 * math.log(self.high / self.low))
                                       * rng.normalvariate(0.0, 1.0))
        mean = self.high - self.low
        return self.low + (rng.expovariate(1.0 / mean) if mean > 0 else 0.0)


def constant(ms: float) -> DelayDistribution:
    """Every message takes exactly ``ms`` milliseconds."""
    return DelayDistribution("constant", ms, ms)


def uniform(low: float, high: float) -> DelayDistribution:
    """Delays drawn uniformly from ``[low, high]`` milliseconds."""
    return DelayDistribution("uniform", low, high)


def exponential(minimum: float, mean_extra: float) -> DelayDistribution:
    """``minimum`` plus an exponentially distributed extra delay with mean ``mean_extra``."""
    return DelayDistribution("exponential", minimum, minimum + mean_extra)


def lognormal(median: float, mean: float) -> DelayDistribution:
    """Heavy-tailed delays: lognormal with the given ``median`` and ``mean`` (``median <= mean``).

    ``lognormal(30, 40)``: half the messages take under 30 ms, one in a hundred over 175 ms,
    one in ten thousand over 500 ms.
    """
    return DelayDistribution("lognormal", median, mean)


def _check_probability(name: str, p: float) -> float:
    if not isinstance(p, int | float) or isinstance(p, bool) or not 0 <= p < 1:
        raise ValueError(f"{name} probability must be a number with 0 <= p < 1, got {p!r}")
    return float(p)


@dataclass(frozen=True)
class LinkConfig:
    """Behaviour of one directed link.

    Attributes
    ----------
    delay : DelayDistribution
        Time in flight.
    loss : float
        Probability that a message is dropped, ``0 <= loss < 1``.
    duplicate : float
        Probability that a delivered message is delivered a second time, ``0 <= duplicate < 1``.
    fifo : bool
        If true, messages on this link arrive in the order they were sent (TCP-like, as ZAB
        assumes); if false, each message's delay is independent and later messages may overtake
        earlier ones (as Raft tolerates).
    """

    delay: DelayDistribution = uniform(1.0, 10.0)
    loss: float = 0.0
    duplicate: float = 0.0
    fifo: bool = True

    def __post_init__(self) -> None:
        _check_probability("loss", self.loss)
        _check_probability("duplicate", self.duplicate)
        if not isinstance(self.delay, DelayDistribution):
            raise TypeError(f"delay must be a DelayDistribution, got {type(self.delay).__name__}")
        if not isinstance(self.fifo, bool):
            raise TypeError(f"fifo must be True or False, got {self.fifo!r}")


def _check_cost(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < math.inf:
        raise ValueError(f"{name} must be a finite number of milliseconds >= 0, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class Costs:
    """The resource model: what handling and transmitting a message costs (see the module
    docstring). Off unless given to a simulation (``sim.set_costs(costs)``).

    Parameters
    ----------
    per_message_ms : float
        Time a node spends handling one message, in simulated ms (``>= 0``).
    per_byte_ms : float
        Additional handling time per byte of the message (``Message.size``), in ms (``>= 0``).
    bandwidth : float or None
        Bytes per simulated millisecond each directed link transmits (``> 0``); None for
        infinite bandwidth (no transmission time). 1 Gbit/s is 125,000 bytes per ms.
    nodes : iterable of int, optional
        The nodes that pay processing time; None (the default) for every node. Bandwidth
        applies to every link.

    Raises
    ------
    ValueError
        For a negative or infinite time, or a bandwidth that is not a positive finite number.
    """

    per_message_ms: float = 0.0
    per_byte_ms: float = 0.0
    bandwidth: float | None = None
    nodes: frozenset[NodeId] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "per_message_ms", _check_cost("per_message_ms", self.per_message_ms))
        object.__setattr__(self, "per_byte_ms", _check_cost("per_byte_ms", self.per_byte_ms))
        bandwidth = self.bandwidth
        if bandwidth is not None and (isinstance(bandwidth, bool) or not isinstance(bandwidth, int | float)
                                      or not 0 < bandwidth < math.inf):
            raise ValueError(f"bandwidth must be a positive finite number of bytes per ms, or None "
                             f"for infinite bandwidth; got {bandwidth!r}")
        if bandwidth is not None:
            object.__setattr__(self, "bandwidth", float(bandwidth))
        if self.nodes is not None:
            if isinstance(self.nodes, int | str):
                raise TypeError(f"nodes must be an iterable of node ids, got {self.nodes!r}")
            object.__setattr__(self, "nodes", frozenset(self.nodes))

    @property
    def processing(self) -> bool:
        """Whether handling a message takes any time at all."""
        return self.per_message_ms > 0 or self.per_byte_ms > 0

    def handling_ms(self, node: NodeId, msg: Message) -> float:
        """How long ``node`` takes to handle ``msg`` (0 for a node that does not pay)."""
        if self.nodes is not None and node not in self.nodes:
            return 0.0
        if self.per_byte_ms:
            return self.per_message_ms + self.per_byte_ms * msg.size
        return self.per_message_ms

    def transmission_ms(self, msg: Message) -> float:
        """How long a link takes to put ``msg`` on the wire (0 with infinite bandwidth)."""
        return 0.0 if self.bandwidth is None else msg.size / self.bandwidth

    def describe(self) -> str:
        """The settings in words, for the trace."""
        parts = [f"{self.per_message_ms:g} ms per message", f"{self.per_byte_ms:g} ms per byte",
                 "infinite bandwidth" if self.bandwidth is None else f"{self.bandwidth:g} bytes/ms per link"]
        if self.nodes is not None:
            parts.append(f"processing on nodes {describe_ids(tuple(sorted(self.nodes)))}")
        return "costs: " + ", ".join(parts)


class Network:
    """Link settings and connectivity for a fixed set of nodes.

    Parameters
    ----------
    nodes : iterable of int
        The node ids.
    default : LinkConfig
        Settings of every link not configured otherwise.
    """

    def __init__(self, nodes: Iterable[NodeId], default: LinkConfig | None = None):
        self.node_ids: tuple[NodeId, ...] = tuple(sorted(nodes))
        self.default = default or LinkConfig()
        self._links: dict[tuple[NodeId, NodeId], LinkConfig] = {}
        self._group: dict[NodeId, int] | None = None  # node -> partition group index
        self._cut: set[tuple[NodeId, NodeId]] = set()  # one-way links that lose everything
        self._last_arrival: dict[tuple[NodeId, NodeId], float] = {}
        #: True while no partition and no cut link is in force (read it; the methods keep it).
        self.intact = True

    # -- validation -----------------------------------------------------------------------
    def check_node(self, node: NodeId) -> NodeId:
        """Return ``node`` if it is known, else raise a ValueError naming the valid ids."""
        if node not in self.node_ids:
            raise ValueError(f"unknown node {node!r}; nodes are {describe_ids(self.node_ids)}")
        return node

    # -- configuration --------------------------------------------------------------------
    def link(self, src: NodeId, dst: NodeId) -> LinkConfig:
        """The settings of the directed link ``src -> dst``."""
        return self._links.get((src, dst), self.default)

    def configure(self, src: NodeId | None = None, dst: NodeId | None = None, **changes) -> None:
        """Change settings of one directed link, of all links from/to a node, or of every link.

        ``configure(loss=0.1)`` changes every link (and the default); ``configure(1, 2, fifo=False)``
        changes only ``1 -> 2``; ``configure(src=3, delay=constant(50))`` every link leaving 3.
        """
        unknown = set(changes) - {"delay", "loss", "duplicate", "fifo"}
        if unknown:
            raise ValueError(f"unknown link setting(s) {sorted(unknown)}; use delay, loss, duplicate, fifo")
        for n in (src, dst):
            if n is not None:
                self.check_node(n)
        if src is None and dst is None:
            self.default = replace(self.default, **changes)
            self._links = {k: replace(v, **changes) for k, v in self._links.items()}
            return
        for a in self.node_ids if src is None else (src,):
            for b in self.node_ids if dst is None else (dst,):
                if a != b:
                    self._links[(a, b)] = replace(self.link(a, b), **changes)

    # -- partitions -----------------------------------------------------------------------
    def partition(self, groups: Iterable[Iterable[NodeId]]) -> tuple[frozenset[NodeId], ...]:
        """Split the nodes into disjoint groups that together cover every node.

        Returns the groups as frozensets, sorted by their smallest member.
        """
        sets = [frozenset(g) for g in groups]
        if len(sets) < 2:
            raise ValueError("a partition needs at least two groups")
        seen: dict[NodeId, int] = {}
        for i, g in enumerate(sets):
            if not g:
                raise ValueError(f"partition group {i + 1} is empty")
            for n in sorted(g):
                self.check_node(n)
                if n in seen:
                    raise ValueError(
                        f"node {n} is in partition groups {seen[n] + 1} and {i + 1}; groups must not overlap"
                    )
                seen[n] = i
        missing = [n for n in self.node_ids if n not in seen]
        if missing:
            raise ValueError(
                f"node(s) {missing} are in no partition group; every node must be in exactly one "
                "(use isolate(i) to cut off a single node)"
            )
        ordered = tuple(sorted(sets, key=min))
        self._group = {n: i for i, g in enumerate(ordered) for n in g}
        self.intact = False
        return ordered

    def heal(self) -> None:
        """Remove every partition and every cut link."""
        self._group = None
        self._cut.clear()
        self.intact = True

    def cut(self, src: NodeId, dst: NodeId) -> None:
        """Cut the one-way link ``src -> dst`` at its sending end.

        Every message *sent* on it while it is cut is lost; messages already in flight still
        arrive. (A partition, by contrast, also loses the messages in flight across it.)
        """
        self.check_node(src)
        self.check_node(dst)
        if src == dst:
            raise ValueError(f"there is no link from node {src} to itself")
        self._cut.add((src, dst))
        self.intact = False

    def restore(self, src: NodeId, dst: NodeId) -> None:
        """Undo :meth:`cut` for the link ``src -> dst``."""
        if (src, dst) not in self._cut:
            raise ValueError(f"link {src} -> {dst} is not cut")
        self._cut.discard((src, dst))
        self.intact = self._group is None and not self._cut

    @property
    def cut_links(self) -> frozenset[tuple[NodeId, NodeId]]:
        """The one-way links currently cut."""
        return frozenset(self._cut)

    def disconnection(self, src: NodeId, dst: NodeId, sending: bool = True) -> str | None:
        """Why a message from ``src`` cannot reach ``dst`` now, or None if it can.

        ``sending=True`` asks about a message being sent now ("partition" or "link cut");
        ``sending=False`` about one arriving now, which only a partition stops.
        """
        if self._group is not None and self._group[src] != self._group[dst]:
            return "partition"
        if sending and (src, dst) in self._cut:
            return "link cut"
        return None

    @property
    def partitioned(self) -> bool:
        """True while a partition is in force."""
        return self._group is not None

    def groups(self) -> tuple[frozenset[NodeId], ...]:
        """The current partition groups; a single group of everyone when healed."""
        if self._group is None:
            return (frozenset(self.node_ids),)
        k = max(self._group.values()) + 1
        return tuple(frozenset(n for n, g in self._group.items() if g == i) for i in range(k))

    def connected(self, src: NodeId, dst: NodeId) -> bool:
        """Whether a message sent from ``src`` now can reach ``dst`` (no partition, no cut)."""
        if self._cut and (src, dst) in self._cut:
            return False
        return self._group is None or self._group[src] == self._group[dst]

    # -- sampling ------------------------------------------------------------------------
    def transit(self, rng: random.Random, src: NodeId, dst: NodeId, now: float) -> list[float]:
        """Decide the fate of one message sent now: its arrival times (empty if lost).

        Draws from ``rng`` in a fixed order (loss, delay, duplicate, duplicate's delay), so the
        outcome depends only on the seed and the sequence of calls.
        """
        link = (src, dst)
        cfg = self._links.get(link, self.default)
        if cfg.loss and rng.random() < cfg.loss:
            return []
        delay = cfg.delay
        if delay.kind == "uniform":  # DelayDistribution.sample's first case, without the call
            arrival = now + (delay.low + (delay.high - delay.low) * rng.random())
        else:
            arrival = now + delay.sample(rng)
        if not (cfg.duplicate and rng.random() < cfg.duplicate):
            # One copy, the common case (every message passes here, so it is kept short).
            if cfg.fifo:
                last = self._last_arrival.get(link, 0.0)
                if last > arrival:
                    arrival = last
                self._last_arrival[link] = arrival
            return [arrival]
        arrivals = [arrival, now + cfg.delay.sample(rng)]
        if cfg.fifo:
            # A FIFO link never lets a message overtake an earlier one on the same link.
            last = self._last_arrival.get(link, 0.0)
            ordered = []
            for t in arrivals:
                last = max(last, t)
                ordered.append(last)
            self._last_arrival[link] = last
            arrivals = ordered
        return arrivals

    def reset_link_order(self, node: NodeId) -> None:
        """Forget FIFO bookkeeping of links touching ``node`` (its connections died in a crash)."""
        for key in [k for k in self._last_arrival if node in k]:
            del self._last_arrival[key]


def describe_ids(ids: tuple[NodeId, ...]) -> str:
    """Node ids for a message: ``"1..5"`` when consecutive, else ``"1, 3, 7"``."""
    if ids and list(ids) == list(range(ids[0], ids[0] + len(ids))):
        return f"{ids[0]}..{ids[-1]}"
    return ", ".join(map(str, ids))


def describe_groups(groups: Iterable[Iterable[NodeId]]) -> str:
    """A partition's groups for a trace or a picture: ``"{0, 1} | {2, 3, 4}"`` (ids sorted)."""
    return " | ".join("{" + ", ".join(map(str, sorted(g))) + "}" for g in groups)

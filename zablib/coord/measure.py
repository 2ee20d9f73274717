"""Measuring the simulated ZooKeeper: throughput, latency, and the leader's work per write.

The question of the ZooKeeper paper's throughput figure (Hunt et al., *ZooKeeper: Wait-free
coordination for Internet-scale systems*, USENIX ATC 2010, Figure 5): how many operations per
second does an ensemble of *n* servers complete, for a given share of reads? Reads scale out,
because every server answers them from its own copy of the tree; writes do not, because every
write goes through the leader, which sends it to every follower and waits for their
acknowledgements: the more servers, the more work per write for the one server that cannot be
multiplied. So the curves for different ensemble sizes cross.

That shape needs servers that can be busy. With the simulator's default network a message costs
only its flight time and nothing ever saturates, so :func:`throughput` switches on the kernel's
resource model (:class:`zablib.network.Costs`): each server handles one message at a time,
``per_message_ms`` each (plus ``per_byte_ms`` per byte, so the value size matters), and every
link has a bandwidth. Clients do not pay: they stand for the many machines of a real
deployment. The default link is a fast LAN (0.05-0.15 ms per message), shorter than a
server's handling time, as in a real data centre, so that a few clients are enough to keep the
servers busy.

::

    from zablib.coord.measure import throughput, leader_messages_per_write
    throughput(3, 1.0).ops_per_second     # all reads: about 3 servers' worth of handling
    throughput(7, 0.0).ops_per_second     # all writes: less than with 3 servers
    leader_messages_per_write(5)          # 8.0: a proposal and a commit to each of 4 followers
    sweep((3, 5, 7), (0.0, 0.5, 1.0))     # {(servers, read_ratio): Throughput}: the figure's data

The workload is closed-loop, as the paper's: ``clients`` clients, spread round-robin over the
servers (observers included), each issuing an operation, waiting for its answer and issuing the
next; a read is a ``get`` of one znode, a write a ``set`` of ``value_size`` bytes on it. Whether
an operation is a read is drawn from the client's own seeded generator, so a run is a pure
function of its parameters. Operations that complete inside the measured window (after a
warm-up) are counted; their latencies give the percentiles.

Time is the simulator's: "per second" means per simulated second.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace
from typing import Any

from zablib.coord.connection import KazooTimeoutError
from zablib.coord.ensemble import Ensemble
from zablib.coord.errors import KazooException
from zablib.core import NodeId
from zablib.network import Costs, LinkConfig, uniform

#: The resource model :func:`throughput` uses unless given another: 0.1 ms to handle a message,
#: 0.00001 ms more per byte (a 1 KB value adds 10 %), links of 100,000 bytes per ms.
DEFAULT_COSTS = Costs(per_message_ms=0.1, per_byte_ms=0.00001, bandwidth=100_000)

#: The network :func:`throughput` uses unless given another: a LAN, 0.05-0.15 ms per message.
DEFAULT_LINK = LinkConfig(delay=uniform(0.05, 0.15))

_TOO_HEAVY = ("the load is too heavy for the ensemble's timeouts (sessions of 0.4 s, a follower "
              "dropped after 5 ticks of silence); use fewer clients, smaller values or cheaper costs")

#: How long :func:`throughput` lets the ensemble elect its leader and connect its clients before
#: measuring, at most (simulated ms).
SETUP_LIMIT_MS = 5_000.0


@dataclass(frozen=True)
class Throughput:
    """What one :func:`throughput` run measured.

    Attributes
    ----------
    servers, observers : int
        The ensemble: voting servers and observers.
    read_ratio : float
        The share of reads asked for (0 to 1).
    clients : int
        Closed-loop clients.
    value_size : int
        Bytes written by each write.
    duration_ms : float
        The measured window, in simulated ms.
    reads, writes : int
        Operations completed inside the window.
    ops_per_second : float
        Completed operations per simulated second.
    p50_ms, p90_ms, p99_ms : float
        Latency percentiles of those operations (nearest rank), in simulated ms; NaN if none
        completed.
    leader : int
        The leader during the run.
    busy : tuple of float
        For each server, in id order (observers last), the share of the window it spent
        handling messages (``Simulation.work_ms``): the leader's is near 1 when writes
        saturate it.
    """

    servers: int
    observers: int
    read_ratio: float
    clients: int
    value_size: int
    duration_ms: float
    reads: int
    writes: int
    ops_per_second: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    leader: int
    busy: tuple[float, ...]

    @property
    def operations(self) -> int:
        """Reads and writes completed inside the window."""
        return self.reads + self.writes

    @property
    def reads_per_second(self) -> float:
        """Completed reads per simulated second."""
        return self.reads * 1000.0 / self.duration_ms

    @property
    def writes_per_second(self) -> float:
        """Completed writes per simulated second."""
        return self.writes * 1000.0 / self.duration_ms


def percentile(sorted_values: list[float], q: float) -> float:
    """The nearest-rank ``q`` percentile (0 < q <= 100) of ascending ``sorted_values``; NaN if
    there are none."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q / 100.0 * len(sorted_values)))
    return sorted_values[rank - 1]


def _check_int(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    return value


def _check_ms(name: str, value: Any, *, positive: bool) -> float:
    ok = not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)
    if not ok or value < 0 or (positive and value == 0):
        raise ValueError(f"{name} must be a finite number of ms {'> 0' if positive else '>= 0'}, "
                         f"got {value!r}")
    return float(value)


def _ensemble(servers: int, observers: int, seed: int, clients: int, link: LinkConfig | None) -> Ensemble:
    kwargs: dict[str, Any] = {"observers": observers} if observers else {}
    return Ensemble(servers, seed=seed, max_clients=clients, link=link or DEFAULT_LINK, **kwargs)


def _settle(ens: Ensemble) -> NodeId:
    """Run until a leader is established and every other server follows it (or observes)."""
    sim = ens.sim

    def settled(s: Any) -> bool:
        leader = s.leader()
        return leader is not None and all(s.status(i).leader == leader for i in ens.servers)

    sim.run_until(settled, limit=1_000_000, what="a leader followed by every server")
    return sim.leader()


def throughput(servers: int, read_ratio: float, *, observers: int = 0, clients: int = 24,
               value_size: int = 1024, seed: int = 0, duration_ms: float = 100.0,
               warmup_ms: float = 20.0, costs: Costs | None = None,
               link: LinkConfig | None = None) -> Throughput:
    """Closed-loop throughput and latency of a simulated ZooKeeper ensemble.

    Parameters
    ----------
    servers : int
        Voting servers (ids ``1..servers``).
    read_ratio : float
        The share of operations that are reads, from 0 (all writes) to 1 (all reads).
    observers : int
        Observer servers (``Ensemble(servers, observers=...)``); they take clients too.
    clients : int
        Closed-loop clients, spread round-robin over all servers, observers included.
    value_size : int
        Bytes of data each write sets (the tree holds one znode of this size from the start).
    seed : int
        Seed of the ensemble and of the clients' choices.
    duration_ms : float
        The measured window, in simulated ms (after the warm-up).
    warmup_ms : float
        Simulated ms of load before the window opens, so that queues have filled.
    costs : Costs, optional
        The resource model (default :data:`DEFAULT_COSTS`). If its ``nodes`` is None, only the
        servers pay.
    link : LinkConfig, optional
        Every link's settings (default :data:`DEFAULT_LINK`).

    Returns
    -------
    Throughput
        Operations per simulated second and latency percentiles.

    Raises
    ------
    ValueError
        For parameters out of range.
    RuntimeError
        If the load was more than the ensemble's timeouts allow: a client's operation failed
        (its session expired or its server lost the leader) or the leader changed.
    """
    _check_int("servers", servers, 1)
    _check_int("observers", observers, 0)
    _check_int("clients", clients, 1)
    _check_int("value_size", value_size, 0)
    if isinstance(read_ratio, bool) or not isinstance(read_ratio, int | float) or not 0 <= read_ratio <= 1:
        raise ValueError(f"read_ratio must be a number from 0 to 1, got {read_ratio!r}")
    duration = _check_ms("duration_ms", duration_ms, positive=True)
    warmup = _check_ms("warmup_ms", warmup_ms, positive=False)
    costs = DEFAULT_COSTS if costs is None else costs
    if not isinstance(costs, Costs):
        raise TypeError(f"costs must be a zablib.network.Costs, got {type(costs).__name__}")

    ens = _ensemble(servers, observers, seed, clients, link)
    leader = _settle(ens)  # the election is not what is measured: it runs without costs
    ens.sim.set_costs(costs if costs.nodes is not None else replace(costs, nodes=frozenset(ens.servers)))
    data = b"v" * value_size
    zks = [ens.client(hosts=ens.servers[k % len(ens.servers)]) for k in range(clients)]
    zks[0].start()
    zks[0].create("/measured", data)
    for zk in zks[1:]:
        ens.spawn(zk.start)
    ens.run(limit=SETUP_LIMIT_MS)

    opens = ens.now + warmup
    closes = opens + duration
    latencies: list[float] = []
    done = {"reads": 0, "writes": 0}
    work: dict[str, list[float]] = {}

    def read_work(when: str) -> None:
        work[when] = [ens.sim.work_ms(s) for s in ens.servers]

    def client(zk: Any, k: int) -> None:
        choose = random.Random(seed * 1_000_003 + k).random
        while ens.now < closes:
            start = ens.now
            if choose() < read_ratio:
                zk.get("/measured")
                kind = "reads"
            else:
                zk.set("/measured", data)
                kind = "writes"
            if opens <= ens.now < closes:
                done[kind] += 1
                latencies.append(ens.now - start)

    for k, zk in enumerate(zks):
        ens.spawn(client, zk, k, name=f"client {k}")
    try:
        ens.run(until=opens)
        read_work("opens")
        ens.run(until=closes)
        read_work("closes")
        ens.run(limit=SETUP_LIMIT_MS)
    except (KazooException, KazooTimeoutError) as exc:
        raise RuntimeError(f"a client's operation failed at t={ens.now:.1f} ms ({type(exc).__name__}: "
                           f"{exc}): {_TOO_HEAVY}") from exc
    if ens.leader() != leader:
        raise RuntimeError(f"the leader changed during the measurement ({leader} -> {ens.leader()}): "
                           f"{_TOO_HEAVY}")
    latencies.sort()
    return Throughput(
        servers=servers, observers=observers, read_ratio=float(read_ratio), clients=clients,
        value_size=value_size, duration_ms=duration, reads=done["reads"], writes=done["writes"],
        ops_per_second=(done["reads"] + done["writes"]) * 1000.0 / duration,
        p50_ms=percentile(latencies, 50), p90_ms=percentile(latencies, 90),
        p99_ms=percentile(latencies, 99), leader=leader,
        busy=tuple((b - a) / duration for a, b in zip(work["opens"], work["closes"], strict=True)))


def sweep(servers: tuple[int, ...] = (3, 5, 7, 9, 13),
          read_ratios: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 0.9, 1.0),
          **options: Any) -> dict[tuple[int, float], Throughput]:
    """:func:`throughput` for every ensemble size and read ratio: the data of Figure 5.

    Parameters
    ----------
    servers : tuple of int
        Ensemble sizes (voting servers).
    read_ratios : tuple of float
        Shares of reads.
    **options
        Passed to every :func:`throughput` call (``clients``, ``observers``, ``seed`` ...).

    Returns
    -------
    dict
        ``{(servers, read_ratio): Throughput}``, in the order run (sizes, then ratios).
    """
    return {(n, ratio): throughput(n, ratio, **options) for n in servers for ratio in read_ratios}


def leader_messages_per_write(servers: int, observers: int = 0, *, writes: int = 20,
                              seed: int = 0) -> float:
    """The messages the leader sends per write, counted in a run.

    A client connected to another server than the leader makes ``writes`` writes, one after
    another; every message the leader sends that names one of those writes' zxids (a proposal,
    a commit, an observer's inform ...) is counted, and the count divided by ``writes``.
    Heartbeats and the client's own traffic are not counted. Run without costs: counting does
    not depend on them.

    Parameters
    ----------
    servers, observers : int
        The ensemble: voting servers and observers.
    writes : int
        How many writes to count over.
    seed : int
        Seed of the run.
    """
    _check_int("servers", servers, 1)
    _check_int("observers", observers, 0)
    _check_int("writes", writes, 1)
    ens = _ensemble(servers, observers, seed, 1, None)
    leader = _settle(ens)
    others = [s for s in ens.servers if s != leader]
    zk = ens.client(hosts=others[0] if others else leader)
    zk.start()
    zk.create("/counted", b"")
    start = len(ens.sim.trace)
    for k in range(writes):
        zk.set("/counted", b"%d" % k)
    sent = [e.message for e in list(ens.sim.trace)[start:] if e.kind == "send" and e.node == leader]
    # The writes' zxids, from the messages that carry a write's txn (proposals, informs).
    zxids = {m.zxid for m in sent if hasattr(m, "txn")}
    if not zxids and len(ens.servers) == 1:
        return 0.0  # a lone server tells nobody
    if len(zxids) != writes:
        raise RuntimeError(f"expected {writes} writes sent on by leader {leader}, found {len(zxids)}")
    return sum(1 for m in sent if getattr(m, "zxid", None) in zxids) / writes

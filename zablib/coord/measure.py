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
from typing import Any, NamedTuple

import zablib.coord.txn as txn
import zablib.protocols.zab as zab
from zablib.coord.connection import KazooTimeoutError
from zablib.coord.ensemble import Ensemble
from zablib.coord.errors import KazooException
from zablib.core import NodeId
from zablib.network import Costs, LinkConfig, constant, uniform

#: The resource model :func:`throughput` uses unless given another: 0.1 ms to handle a message,
#: 0.00001 ms more per byte (a 1 KB value adds 10 %), links of 100,000 bytes per ms.
DEFAULT_COSTS = Costs(per_message_ms=0.1, per_byte_ms=0.00001, bandwidth=100_000)

#: The network :func:`throughput` uses unless given another: a LAN, 0.05-0.15 ms per message.
DEFAULT_LINK = LinkConfig(delay=uniform(0.05, 0.15))

_TOO_HEAVY = ("the load is too heavy for the ensemble's timeouts (sessions of 0.4 s, a follower "
              "dropped after 5 ticks of silence); use fewer clients, smaller values or cheaper costs")

#: The faults :func:`throughput` can run under, inflicted on the voting follower of lowest id
#: once the leader is established: its links to and from the leader slowed to ``slow_ms``
#: each way, or the follower crashed (its share of the clients goes to the other servers).
FAULTS = ("slow follower", "crashed follower")

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
    fault : str or None
        The fault of the run (:data:`FAULTS`), or None.
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
    fault: str | None = None

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


def _settle(ens: Ensemble, *, serving: bool = False) -> NodeId:
    """Run until a leader is established and every other server follows it (or observes); with
    ``serving``, until every server is also synchronised and serving (a leader is established
    with a quorum of voters, and a late follower may still be synchronising)."""
    sim = ens.sim

    def settled(s: Any) -> bool:
        leader = s.leader()
        return leader is not None and all(
            s.status(i).leader == leader and (not serving or s.status(i).extra.get("serving"))
            for i in ens.servers)

    sim.run_until(settled, limit=1_000_000, what="a leader followed by every server")
    return sim.leader()


def throughput(servers: int, read_ratio: float, *, observers: int = 0, clients: int = 24,
               value_size: int = 1024, seed: int = 0, duration_ms: float = 100.0,
               warmup_ms: float = 20.0, costs: Costs | None = None,
               link: LinkConfig | None = None, fault: str | None = None,
               slow_ms: float = 20.0) -> Throughput:
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
    fault : {None, "slow follower", "crashed follower"}
        A fault of one voting follower during the whole measurement (:data:`FAULTS`).
    slow_ms : float
        The delay of the slowed follower's links to and from the leader.

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
    if value_size > largest_value("/measured", "create"):
        raise ValueError(f"value_size {value_size} is more than a request may carry (jute.maxbuffer; "
                         f"ZooKeeper would drop the connection): at most "
                         f"{largest_value('/measured', 'create')} bytes")
    costs = DEFAULT_COSTS if costs is None else costs
    if not isinstance(costs, Costs):
        raise TypeError(f"costs must be a zablib.network.Costs, got {type(costs).__name__}")
    if fault is not None and fault not in FAULTS:
        raise ValueError(f"fault must be None or one of {', '.join(map(repr, FAULTS))}, got {fault!r}")
    slow = _check_ms("slow_ms", slow_ms, positive=False)
    if fault is not None and servers < 2:
        raise ValueError(f"the fault {fault!r} needs a follower: servers must be >= 2, got {servers}")

    ens = _ensemble(servers, observers, seed, clients, link)
    leader = _settle(ens)  # the election is not what is measured: it runs without costs
    serving = list(ens.servers)
    if fault is not None:
        victim = ens.followers()[0]
        if fault == "crashed follower":
            ens.crash(victim)
            serving.remove(victim)
        else:
            ens.sim.configure_links(leader, victim, delay=constant(slow))
            ens.sim.configure_links(victim, leader, delay=constant(slow))
    ens.sim.set_costs(costs if costs.nodes is not None else replace(costs, nodes=frozenset(ens.servers)))
    data = b"v" * value_size
    zks = [ens.client(hosts=serving[k % len(serving)]) for k in range(clients)]
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
        busy=tuple((b - a) / duration for a, b in zip(work["opens"], work["closes"], strict=True)),
        fault=fault)


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
    leader = _settle(ens, serving=True)  # a follower still synchronising would be left out
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


# -- chapter 2's other runs: stale reads, payload size ------------------------------------------

class Call(NamedTuple):
    """One recorded client call, in the fields (and order) of ``zablib.linearizability.Operation``:
    ``Operation(*call)`` turns it into one, for :func:`zablib.linearizability.check` with
    ``KVModel({"/x": b"0"})``. ``input`` is ``("set", "/x", b"3")`` or ``("get", "/x")``."""

    client: str
    input: tuple
    output: Any
    call: float
    return_: float


@dataclass(frozen=True)
class StaleReads:
    """What one :func:`stale_read` run saw.

    Attributes
    ----------
    lag_ms : float
        The delay of the link from the leader to the reader's server.
    read : str
        ``"get"`` (a plain read) or ``"sync_get"`` (``sync`` then ``get``).
    reads : int
        Reads made.
    stale : int
        Reads that returned a value older than a write that had *returned* before the read was
        called: reads no single copy could have answered.
    worst_behind : int
        The most writes a read was behind (0 if none was stale).
    worst_age_ms : float
        The longest a read's value had already been overwritten, by a write that had returned,
        when the read was called (0 if none was stale).
    p50_ms : float
        Median latency of the reads.
    history : tuple of Call
        Every write and read, for the linearizability checker.
    """

    lag_ms: float
    read: str
    reads: int
    stale: int
    worst_behind: int
    worst_age_ms: float
    p50_ms: float
    history: tuple[Call, ...]


def lagging_follower_lost(ens: Ensemble, lag_ms: float, exc: Exception) -> str:
    """Why a run that reads through a follower whose commits arrive ``lag_ms`` late lost a call:
    past ZooKeeper's ``syncLimit`` the leader drops that follower, which stops serving, so the
    reader's session is lost instead of answered stale. ``exc`` is the call's error."""
    limit = ens.tick_ms * zab.SYNC_LIMIT
    return (f"a call failed at t={ens.now:.1f} ms ({type(exc).__name__}: {exc}): with commits "
            f"{lag_ms:g} ms late the follower fell outside syncLimit ({limit:g} ms) and stopped "
            f"serving; use a smaller lag_ms")


def stale_read(lag_ms: float = 60.0, *, read: str = "get", writes: int = 10,
               write_every_ms: float = 20.0, read_every_ms: float = 10.0,
               seed: int = 0) -> StaleReads:
    """Reads through a follower whose link to the leader is slow, while another client writes.

    A writer, connected to the other follower, sets ``/x`` to ``1``, ``2`` ... ``writes``, one
    write every ``write_every_ms`` after the previous one returned. A reader, connected to the
    slowed follower, reads ``/x`` every ``read_every_ms`` until the writer is done, then once
    more. A ZooKeeper server answers a read from its own copy of the tree (as long as it is
    within ``syncLimit`` it keeps serving), so the reader sees the commits ``lag_ms`` late.
    No costs: only the links' delays matter here.

    Parameters
    ----------
    lag_ms : float
        Delay of the link from the leader to the reader's server (0: the ensemble's default
        1-10 ms, like every other link). At about 90 ms and more the follower falls outside
        ZooKeeper's ``syncLimit`` (5 ticks of 20 ms) and stops serving: RuntimeError.
    read : {"get", "sync_get"}
        A plain read, or ``sync`` then read (recorded as one read, called at the ``sync``).
    writes : int
        How many writes.
    write_every_ms, read_every_ms : float
        The writer's and the reader's pauses between calls.
    seed : int
        The ensemble's seed.
    """
    if read not in ("get", "sync_get"):
        raise ValueError(f"read must be 'get' or 'sync_get', got {read!r}")
    lag = _check_ms("lag_ms", lag_ms, positive=False)
    _check_int("writes", writes, 1)
    write_gap = _check_ms("write_every_ms", write_every_ms, positive=False)
    read_gap = _check_ms("read_every_ms", read_every_ms, positive=True)
    ens = Ensemble(3, seed=seed, max_clients=3)
    setup = ens.client()
    setup.start()
    setup.create("/x", b"0")
    leader = ens.leader()
    fast, slow = ens.followers()
    writer, reader = ens.client(hosts=fast), ens.client(hosts=slow)
    writer.start()
    reader.start()
    if lag:
        ens.sim.configure_links(leader, slow, delay=constant(lag))
    history: list[Call] = []
    done = {"writer": False}

    def write() -> None:
        for value in range(1, writes + 1):
            start = ens.now
            writer.set("/x", b"%d" % value)
            history.append(Call("writer", ("set", "/x", b"%d" % value), "ok", start, ens.now))
            writer.handler.sleep_func(write_gap / 1000.0)
        done["writer"] = True

    def read_until_done() -> None:
        while True:
            last = done["writer"]
            start = ens.now
            if read == "sync_get":
                reader.sync("/x")
            value = reader.get("/x")[0]
            history.append(Call("reader", ("get", "/x"), value, start, ens.now))
            if last:
                return
            reader.handler.sleep_func(read_gap / 1000.0)

    ens.spawn(write, name="writer")
    ens.spawn(read_until_done, name="reader")
    try:
        ens.run()
    except (KazooException, KazooTimeoutError) as exc:
        raise RuntimeError(lagging_follower_lost(ens, lag, exc)) from exc
    written = {int(c.input[2]): c.return_ for c in history if c.client == "writer"}
    reads = [c for c in history if c.client == "reader"]
    stale, worst_behind, worst_age = 0, 0, 0.0
    for c in reads:
        got = int(c.output)
        newest = max((v for v, returned in written.items() if returned < c.call), default=0)
        if got < newest:
            stale += 1
            worst_behind = max(worst_behind, newest - got)
            worst_age = max(worst_age, c.call - written[got + 1])
    latencies = sorted(c.return_ - c.call for c in reads)
    return StaleReads(lag_ms=lag, read=read, reads=len(reads), stale=stale, worst_behind=worst_behind,
                      worst_age_ms=worst_age, p50_ms=percentile(latencies, 50),
                      history=tuple(sorted(history, key=lambda c: c.call)))


def write_latency(value_size: int, *, servers: int = 3, seed: int = 0,
                  costs: Costs | None = None) -> float:
    """The median latency, in simulated ms, of a lone client's writes of ``value_size`` bytes.

    One client, connected round-robin to server 1, writes one value after another with the
    resource model on (:func:`throughput` with ``read_ratio=0`` and ``clients=1``): nothing
    queues, so the latency is the write's own path (forward, propose, acknowledge, commit)
    with its bytes paid for at every hop that carries them.
    """
    return throughput(servers, 0.0, clients=1, value_size=value_size, seed=seed, costs=costs).p50_ms


def largest_value(path: str = "/x", kind: str = "set") -> int:
    """The most bytes of data one ``create`` or ``set`` of ``path`` can carry.

    A ZooKeeper server refuses a request packet longer than ``jute.maxbuffer`` (1048575 bytes
    by default): it closes the client's connection ("Len error") and kazoo raises
    ``ConnectionLoss``. The packet holds the path, the data and a few fields
    (:func:`zablib.coord.txn.packet_length`, open ACL), so the limit on the data is a little
    under 1 MB. One byte more and the request is refused.
    """
    requests = {"set": txn.SetDataRequest(path, b""), "create": txn.CreateRequest(path, b"")}
    if kind not in requests:
        raise ValueError(f"kind must be 'set' or 'create', got {kind!r}")
    return txn.JUTE_MAXBUFFER - txn.packet_length(requests[kind])


@dataclass(frozen=True)
class CatchUp:
    """What one :func:`catch_up_time` run measured.

    Attributes
    ----------
    tree_bytes : int
        Bytes of data in the tree before the follower went down.
    missed : int
        Writes made while it was down.
    wiped : bool
        Whether it came back with an empty disk (a replaced machine).
    mode : str
        How the leader brought it up to date: ``"diff"`` (the missing transactions), ``"trunc"``
        or ``"snap"`` (everything); ``""`` if it never caught up.
    sync_bytes : int
        Size of that message on the wire.
    ms : float
        Simulated ms from its restart until it had applied everything the leader had committed
        at the restart (``math.inf`` if it never caught up within ``limit_ms``): finding the
        leader, then the synchronisation.
    sync_ms : float
        Simulated ms from the leader's sending the last ``Diff``/``Snap`` to the follower's
        having applied it: the part that grows with what is sent (``math.inf`` if never).
    attempts : int
        How many synchronisations the leader started with it (more than one: a sync took
        longer than ``initLimit`` and was abandoned, then tried again).
    """

    tree_bytes: int
    missed: int
    wiped: bool
    mode: str
    sync_bytes: int
    ms: float
    sync_ms: float
    attempts: int

    @property
    def caught_up(self) -> bool:
        """Whether the follower caught up."""
        return math.isfinite(self.ms)


def catch_up_time(tree_bytes: int, missed: int, *, wiped: bool = False, node_bytes: int = 100_000,
                  costs: Costs | None = None, seed: int = 0, limit_ms: float = 2_000.0) -> CatchUp:
    """How long a restarted follower takes to catch up, against the tree's size and what it missed.

    A 3-server ensemble on the LAN of :data:`DEFAULT_LINK`, with the resource model on (only
    the servers pay): a client fills the tree with ``tree_bytes`` bytes of data, in znodes of
    ``node_bytes`` each; a follower crashes; the client makes ``missed`` small writes; the
    follower restarts (from its disk, or with an empty one if ``wiped``). The leader sends it
    a ``Diff`` of the transactions it lacks when it lacks few (at most ``zab.DIFF_LIMIT``, 10,
    the ``diff_limit`` of :func:`zablib.protocols.zab.cluster`), and a ``Snap`` of everything
    otherwise, or when its history is gone, as ZooKeeper does when a follower is further behind
    than the leader's in-memory log of recent commits. A snapshot's bytes cross a link of
    ``bandwidth`` bytes/ms and are handled at ``per_byte_ms`` each: its cost grows with the tree.

    Parameters
    ----------
    tree_bytes : int
        Bytes of data in the tree (rounded down to whole znodes).
    missed : int
        Writes the follower misses while down.
    wiped : bool
        Restart it with an empty disk.
    node_bytes : int
        Bytes of data per znode of the tree.
    costs : Costs, optional
        The resource model (default :data:`DEFAULT_COSTS`).
    seed : int
        The ensemble's seed.
    limit_ms : float
        How long to wait for it, in simulated ms, before reporting that it never caught up.
    """
    _check_int("tree_bytes", tree_bytes, 0)
    _check_int("missed", missed, 0)
    _check_int("node_bytes", node_bytes, 1)
    limit = _check_ms("limit_ms", limit_ms, positive=True)
    costs = DEFAULT_COSTS if costs is None else costs
    ens = _ensemble(3, 0, seed, 1, None)
    leader = _settle(ens)
    ens.sim.set_costs(costs if costs.nodes is not None else replace(costs, nodes=frozenset(ens.servers)))
    zk = ens.client(hosts=leader)
    zk.start()
    zk.create("/m", b"0")
    for k in range(tree_bytes // node_bytes):
        zk.create(f"/t{k}", b"t" * node_bytes)
    follower = ens.followers()[0]
    ens.crash(follower)
    for k in range(missed):
        zk.set("/m", b"%d" % k)
    zk.stop()
    if wiped:
        ens.sim.storage[follower].clear()
    start = len(ens.sim.trace)
    target = ens.server(leader).applied_zxid
    ens.recover(follower)
    began = ens.now
    server = ens.server

    def settled(s: Any) -> bool:
        return server(follower).applied_zxid >= target or s.now >= began + limit

    ens.sim.run_until(settled, limit=100_000_000, what="the follower's catch-up")
    caught = server(follower).applied_zxid >= target
    syncs = [e for e in list(ens.sim.trace)[start:] if e.kind == "send" and e.node == leader
             and e.peer == follower and isinstance(e.message, zab.Diff | zab.Trunc | zab.Snap)]
    last = syncs[-1] if caught and syncs else None
    return CatchUp(tree_bytes=tree_bytes, missed=missed, wiped=wiped,
                   mode=type(last.message).__name__.lower() if last else "",
                   sync_bytes=last.message.size if last else 0,
                   ms=ens.now - began if caught else math.inf,
                   sync_ms=ens.now - last.time if last else math.inf, attempts=len(syncs))

"""etcd against ZooKeeper, measured on the two simulated services (chapter 2's contrast).

Two small runs, each a pure function of its parameters (a seed fixes everything), cheap enough
for a notebook cell:

:func:`watch_skips`
    One writer writes ``v1 .. vN`` to one key; one watcher follows it. On etcd the watcher is a
    ``watch`` from the revision before the first write: it receives every change, in revision
    order. On ZooKeeper it is kazoo's ``DataWatch`` (``zablib.scenarios.config_run``: read,
    set a one-time watch, read again when it fires): the writes that land between a
    notification and the re-read are never seen. Returns how many values each skipped.
:func:`stale_reads`
    One follower lags (its link from the leader is slow). A writer writes through the leader
    and, once each write is acknowledged, a reader reads the key through the lagging follower,
    alternately serializable (etcd's local read, ZooKeeper's default) and linearizable (etcd's
    default, Raft's ReadIndex). Counts the reads that returned a value older than the last
    acknowledged write, and asks ``zablib.linearizability`` of each kind's history.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from zablib.etcd.simulation import cluster
from zablib.linearizability import KVModel, Operation, check
from zablib.network import uniform

KEY = "/app/config"


@dataclass(frozen=True)
class WatchSkips:
    """What :func:`watch_skips` measured; ``etcd, zookeeper = watch_skips(...)`` gives the two
    counts of skipped values.

    Attributes
    ----------
    etcd, zookeeper : int
        How many of the written values each watcher never received.
    written : list of bytes
        The values written, in order.
    etcd_seen, zookeeper_seen : list of bytes
        What each watcher received, in order (ZooKeeper's first is the value it found when it
        subscribed, ``v0``).
    """

    etcd: int
    zookeeper: int
    written: list[bytes] = field(default_factory=list)
    etcd_seen: list[bytes] = field(default_factory=list)
    zookeeper_seen: list[bytes] = field(default_factory=list)

    def __iter__(self):
        return iter((self.etcd, self.zookeeper))


def watch_skips(writes: int = 20, seed: int = 0, *, gap_ms: float = 0.0) -> WatchSkips:
    """Write ``v1 .. v<writes>`` to one key on each service and count what a watcher missed.

    Parameters
    ----------
    writes : int
        How many values to write after ``v0``.
    seed : int
        Seed of both runs.
    gap_ms : float
        Simulated ms between one write's acknowledgement and the next write; 0 sends them all
        at once (pipelined on the writer's connection, applied in the order sent).
    """
    from zablib.scenarios import config_run

    if isinstance(writes, bool) or not isinstance(writes, int) or writes < 1 or gap_ms < 0:
        raise ValueError(f"need writes >= 1 and gap_ms >= 0, got writes={writes!r}, gap_ms={gap_ms!r}")
    zk = config_run(writes, gap_ms, subscribers=1, seed=seed)
    written = [value for _, value in zk.published]

    sim = cluster(3, seed=seed)
    leader_client = sim.client()
    start = leader_client.put(KEY, b"v0").revision
    leader = sim.leader()
    writer = sim.client(leader)  # to the leader: appended in the order sent, as ZooKeeper's FIFO
    watcher = sim.client(next(i for i in sim.node_ids if i != leader))
    watch = watcher.watch(KEY, start_revision=start + 1)
    if gap_ms:
        for value in written:
            writer.put(KEY, value)
            sim.run_for(gap_ms)
    else:
        sim.wait(*[writer.put_async(KEY, value) for value in written])
    sim.run_until(lambda s: watch.last_revision >= start + len(written), what="the watch's last event")
    seen = [v for v in watch.values() if v is not None]
    return WatchSkips(
        etcd=len([v for v in written if v not in seen]),
        zookeeper=len(zk.skipped["sub1"]),
        written=written, etcd_seen=seen, zookeeper_seen=list(zk.seen["sub1"]))


@dataclass(frozen=True)
class StaleReads:
    """What :func:`stale_reads` measured.

    Attributes
    ----------
    serializable_stale, linearizable_stale : int
        Reads of each kind that returned a value older than the last write acknowledged before
        the read was asked.
    serializable_linearizable, linearizable_linearizable : bool
        The linearizability checker's verdict on the writes with each kind of read.
    reads : int
        Reads of each kind.
    history : list of ~zablib.linearizability.Operation
        Every operation (clients ``"writer"``, ``"serializable"``, ``"linearizable"``).
    """

    serializable_stale: int
    linearizable_stale: int
    serializable_linearizable: bool
    linearizable_linearizable: bool
    reads: int
    history: list[Operation] = field(default_factory=list)


def stale_reads(writes: int = 10, seed: int = 0, *, lag_ms: float = 40.0,
                after_ms: float = 1.0) -> StaleReads:
    """Reads through a lagging follower, serializable against linearizable (module docstring).

    Parameters
    ----------
    writes : int
        How many writes; after each, one read of each kind through the lagging follower.
    seed : int
        Seed of the run.
    lag_ms : float
        Delay of the links from the leader to the lagging follower (others: 1-10 ms).
    after_ms : float
        How long after a write's acknowledgement each read is asked (> 0: strictly after it,
        so that the checker must order the read after the write). A follower learns that an
        entry is committed only with the leader's next message, up to a heartbeat (20 ms)
        plus its link's delay later: a serializable read asked sooner than that is stale even
        without a slow link.
    """
    if isinstance(writes, bool) or not isinstance(writes, int) or writes < 1 or lag_ms < 0 \
            or after_ms <= 0:
        raise ValueError(f"need writes >= 1, lag_ms >= 0 and after_ms > 0, got writes={writes!r}, "
                         f"lag_ms={lag_ms!r}, after_ms={after_ms!r}")
    sim = cluster(3, seed=seed)
    first = sim.client()
    first.put(KEY, b"0")
    leader = sim.leader()
    lagging = next(i for i in sim.node_ids if i != leader)
    sim.configure_links(leader, lagging, delay=uniform(lag_ms, lag_ms + 5.0))
    writer, reader = sim.client(leader), sim.client(lagging, timeout=2.0)
    history: list[Operation] = []
    stale = {"serializable": 0, "linearizable": 0}
    for k in range(1, writes + 1):
        value = str(k).encode()
        asked = sim.now
        writer.put(KEY, value)
        history.append(Operation("writer", ("set", KEY, value), "ok", asked, sim.now))
        for kind in ("serializable", "linearizable"):
            sim.run_for(after_ms)  # the reader hears of the write, then reads
            asked = sim.now
            got = reader.value(KEY, serializable=kind == "serializable")
            history.append(Operation(kind, ("get", KEY), got, asked, sim.now))
            stale[kind] += got != value
    model = KVModel({KEY: b"0"})
    verdicts = {kind: check([op for op in history if op.client in ("writer", kind)], model).ok
                for kind in stale}
    return StaleReads(stale["serializable"], stale["linearizable"], verdicts["serializable"],
                      verdicts["linearizable"], writes, history)

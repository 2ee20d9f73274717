"""Growing a cluster from 3 to 5 servers, searched for two leaders at once (chapter 2, run 5).

Before ZooKeeper 3.5 an ensemble's membership lived in each server's static configuration file,
and growing it meant new files and a rolling restart (:func:`zablib.protocols.zab.static_grow_run`).
Raft changes its membership through its own log: one server at a time (``add_server``, thesis
§4.1) or, with joint consensus, any change through C_old,new (paper §6). This module runs the
same growth under the same disturbances for each of them, and searches restart orders, seeds and
timings for a moment at which two leaders are established at once, each with a majority of its
own configuration following it: the moment two disjoint majorities can commit different things.

The schedule is :func:`~zablib.protocols.zab.static_grow_run`'s for every protocol: from
``start_ms`` on, five steps ``gaps_ms`` apart (servers 4 and 5, then 1, 2, 3 in ``order``).
For ZAB a step restarts the server with the file 1..5 (stopped ``down_ms`` first if it was
running). For Raft the configuration changes through the protocol, so a step of 4 or 5 asks the
leader for the change (asked again until a leader accepts it: an operator retrying) and a step
of 1, 2 or 3 stops that server for ``down_ms`` and starts it again, the same disturbance a
rolling restart is. Raft's runs then go on until the leader has committed the target
configuration (at most ``settle_ms``), so that a search covers each change to its end.

Protocols (:data:`PROTOCOLS`):

``"zab-static"``
    ZAB, 1..3 grown to 1..5 by new static files and restarts.
``"raft-single"``
    Raft, ``add_server(4)`` then ``add_server(5)``, one server at a time.
``"raft-joint"``
    Raft with joint consensus, {1, 2, 3} -> {3, 4, 5} in one change through C_old,new.
``"raft-direct-switch"``
    The same change with the broken variant that switches straight to C_new.
"""

from __future__ import annotations

import itertools
import random
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import zablib.quorum as quorum
from zablib.core import NodeId
from zablib.protocols import raft, zab

#: The protocols a search can grow (module docstring).
PROTOCOLS = ("zab-static", "raft-single", "raft-joint", "raft-direct-switch")
#: Every order of restarting the three original servers.
ORDERS: tuple[tuple[NodeId, ...], ...] = tuple(itertools.permutations((1, 2, 3)))
#: The target configuration of each protocol's change.
TARGETS = {"zab-static": (1, 2, 3, 4, 5), "raft-single": (1, 2, 3, 4, 5),
           "raft-joint": (3, 4, 5), "raft-direct-switch": (3, 4, 5)}
GAPS_MS = (300.0,) * 5
DOWN_MS = 200.0
START_MS = 300.0
SETTLE_MS = 3000.0
#: How often a Raft run asks again for a change a leader has not yet accepted.
RETRY_MS = 5.0

Leaders = list[tuple[NodeId, tuple[NodeId, ...]]]


@dataclass(frozen=True)
class Timing:
    """When the five steps come: ``gaps_ms[k]`` after step ``k``, each restarted server down
    ``down_ms``."""

    gaps_ms: tuple[float, ...] = GAPS_MS
    down_ms: float = DOWN_MS


@dataclass
class GrowRun:
    """One growth: the protocol, the restart order, the seed and timing, the simulation, the
    steps made as ``(time, server)``, the first moment two leaders were established at once as
    ``(time, [(leader, followers), ...])`` (None if never), and whether the target
    configuration was reached (ZAB: every server restarted with its new file; Raft: a leader
    committed it)."""

    protocol: str
    order: tuple[NodeId, ...]
    seed: int
    timing: Timing
    sim: zab.ZabSimulation | raft.RaftSimulation
    steps: list[tuple[float, NodeId]]
    two_leaders: tuple[float, Leaders] | None
    completed: bool


def raft_established_leaders(sim: raft.RaftSimulation) -> Leaders:
    """The live Raft leaders that a majority of their own configuration follows *now*.

    Each is ``(leader, followers)``: ``followers`` are the live followers in the leader's term
    that know it as their leader; with the leader they are a majority of each of the leader's
    voter sets (two of them while C_old,new is its latest configuration). Such a leader can
    commit. Two of them at once means two disjoint majorities: with one configuration it cannot
    happen (two majorities of one set share a server, and a server follows one leader per
    term, and a higher term deposes a lower one).
    """
    found = []
    for i in sim.node_ids:
        node = sim.nodes[i]
        if not sim.is_up(i) or node.role != raft.LEADER:
            continue
        followers = tuple(p for p in sim.node_ids
                          if p != i and sim.is_up(p) and sim.nodes[p].role == raft.FOLLOWER
                          and sim.nodes[p].term == node.term and sim.nodes[p].leader_id == i)
        if all(quorum.is_quorum((i, *followers), voters) for voters in node.voters):
            found.append((i, followers))
    return found


def established_leaders(sim: zab.ZabSimulation | raft.RaftSimulation) -> Leaders:
    """:func:`zablib.protocols.zab.established_leaders` or :func:`raft_established_leaders`."""
    if isinstance(sim, zab.ZabSimulation):
        return zab.established_leaders(sim)
    return raft_established_leaders(sim)


def _check(protocol: str, order: Sequence[NodeId], timing: Timing) -> None:
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; use one of {', '.join(PROTOCOLS)}")
    if sorted(order) != [1, 2, 3]:
        raise ValueError(f"order must be 1, 2, 3 in some order, got {tuple(order)!r}")
    if len(timing.gaps_ms) != 5 or min(timing.gaps_ms) < 0 or timing.down_ms < 0:
        raise ValueError(f"a timing has five gaps and a downtime, none negative, got {timing!r}")


def grow_run(protocol: str, order: Sequence[NodeId] = (1, 2, 3), *, seed: int = 0,
             timing: Timing = Timing(), start_ms: float = START_MS, settle_ms: float = SETTLE_MS,
             until_two: bool = False) -> GrowRun:
    """Grow a 3-server cluster to its :data:`TARGETS` configuration with ``protocol``, under the
    rolling schedule of the module docstring, watching after every event for two established
    leaders (:func:`established_leaders`).

    Parameters
    ----------
    protocol : str
        One of :data:`PROTOCOLS`.
    order : sequence of int
        The order in which servers 1, 2 and 3 are restarted (after the steps of 4 and 5).
    seed : int
        Seed of the simulation.
    timing : Timing
        Gaps between the steps and each restart's downtime.
    start_ms : float
        When the first step comes (the three servers have elected a leader by then).
    settle_ms : float
        Raft: how long after the last step the run may go on for the change to commit.
    until_two : bool
        Stop as soon as two leaders are established at once.
    """
    order = tuple(order)
    _check(protocol, order, timing)
    if protocol == "zab-static":
        run = zab.static_grow_run(order, seed=seed, gaps_ms=tuple(timing.gaps_ms),
                                  down_ms=timing.down_ms, start_ms=start_ms, until_two=until_two)
        return GrowRun(protocol, order, seed, timing, run.sim, run.restarts, run.two_leaders,
                       len(run.restarts) == 5)
    return _raft_grow(protocol, order, seed, timing, start_ms, settle_ms, until_two)


def _raft_grow(protocol: str, order: tuple[NodeId, ...], seed: int, timing: Timing,
               start_ms: float, settle_ms: float, until_two: bool) -> GrowRun:
    joint = protocol != "raft-single"
    variant = "direct-switch" if protocol == "raft-direct-switch" else "correct"
    sim = raft.cluster(3, seed=seed, spares=2, membership="joint" if joint else "single",
                       variant=variant)
    target = TARGETS[protocol]
    sim.run(until=start_ms)
    steps: list[tuple[float, NodeId]] = []
    allowed: list[NodeId] = []  # new servers whose step has come
    two: tuple[float, Leaders] | None = None

    def ask() -> None:
        """Ask the leader for the next change, if there is a leader and no change under way
        (an operator retrying until the change is accepted, and again if it was lost)."""
        if not allowed or sim.leader() is None or sim.change_pending():
            return
        config = tuple(sim.configuration())
        if joint:
            if config != target:
                sim.change_membership(target)
        else:
            missing = [s for s in allowed if s not in config]
            if missing:
                sim.add_server(missing[0])

    def run_for(ms: float) -> bool:
        """Run ``ms``; True if the run should stop (two leaders and ``until_two``)."""
        nonlocal two
        end = sim.now + ms
        while sim.now < end:
            ask()
            slice_end = min(end, sim.now + RETRY_MS)
            while sim.run(until=slice_end, max_events=1):
                if two is None:
                    leaders = raft_established_leaders(sim)
                    if len(leaders) > 1:
                        two = (sim.now, leaders)
                        if until_two:
                            return True
        return False

    def done() -> bool:
        leader = sim.leader()
        return (leader is not None and len(allowed) == 2 and not sim.change_pending()
                and tuple(sim.configuration()) == target)

    for node, gap in zip((4, 5, *order), timing.gaps_ms, strict=True):
        if node in (1, 2, 3):
            if sim.is_up(node):
                sim.crash(node)
            if run_for(timing.down_ms):
                break
            sim.recover(node)
        else:
            allowed.append(node)
        steps.append((sim.now, node))
        if run_for(gap):
            break
    else:
        deadline = sim.now + settle_ms
        while not done() and sim.now < deadline:
            if run_for(RETRY_MS):
                break
    return GrowRun(protocol, order, seed, timing, sim, steps, two, done())


def random_timings(count: int, *, seed: int = 0, max_gap_ms: float = 300.0,
                   max_down_ms: float = 1000.0, watch_ms: float = 1000.0) -> list[Timing]:
    """``count`` timings drawn at random, the same for the same ``seed``: the four gaps between
    steps uniform in ``[0, max_gap_ms]``, the downtime in ``[0, max_down_ms]``, and the last gap
    ``watch_ms``, how long the run is watched after its last step (a short last gap would end
    the run before the last restarted server has rejoined)."""
    if count < 0 or max_gap_ms < 0 or max_down_ms < 0 or watch_ms < 0:
        raise ValueError("count, max_gap_ms, max_down_ms and watch_ms must not be negative")
    rng = random.Random(seed)
    return [Timing((*(round(rng.uniform(0, max_gap_ms), 1) for _ in range(4)), watch_ms),
                   round(rng.uniform(0, max_down_ms), 1)) for _ in range(count)]


@dataclass(frozen=True)
class Found:
    """A run of a search that reached two leaders: enough to replay it with :func:`grow_run`."""

    order: tuple[NodeId, ...]
    seed: int
    timing: Timing
    at_ms: float
    leaders: Leaders


@dataclass
class Search:
    """What :func:`search` ran and found."""

    protocol: str
    runs: int = 0
    completed: int = 0
    found: list[Found] = field(default_factory=list)
    per_order: Counter = field(default_factory=Counter)
    runs_per_order: Counter = field(default_factory=Counter)

    def replay(self, k: int = 0, **options) -> GrowRun:
        """Run the ``k``-th schedule found again (``options`` go to :func:`grow_run`)."""
        f = self.found[k]
        return grow_run(self.protocol, f.order, seed=f.seed, timing=f.timing, **options)

    def table(self) -> str:
        """One line per restart order: runs with two leaders out of runs."""
        lines = [f"{self.protocol}: {len(self.found)} of {self.runs} runs reached two leaders "
                 f"({self.completed} reached the target configuration)"]
        for order in sorted(self.runs_per_order):
            lines.append(f"  restart order {order}: {self.per_order[order]:3d} of "
                         f"{self.runs_per_order[order]}")
        return "\n".join(lines)


def search(protocol: str, *, orders: Iterable[Sequence[NodeId]] = ORDERS,
           seeds: Iterable[int] = range(5), timings: Iterable[Timing] = (Timing(),),
           **options) -> Search:
    """Run :func:`grow_run` for every order, seed and timing, and collect the runs that reached
    two leaders at once. ``options`` go to :func:`grow_run`."""
    result = Search(protocol)
    timings = list(timings)
    for order in orders:
        for seed in seeds:
            for timing in timings:
                run = grow_run(protocol, order, seed=seed, timing=timing, **options)
                result.runs += 1
                result.completed += run.completed
                result.runs_per_order[tuple(order)] += 1
                if run.two_leaders is not None:
                    result.per_order[tuple(order)] += 1
                    result.found.append(Found(tuple(order), seed, timing, *run.two_leaders))
    return result

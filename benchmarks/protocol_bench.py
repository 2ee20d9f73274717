"""What the protocol benchmarks share beyond the kernel baseline (``baseline.py``).

* :func:`throughput`: ``bench_zab.py`` and ``bench_raft.py`` time a protocol's load phase
  (:func:`load_phase`, on a cluster :func:`settle` has readied) and the kernel's ping-pong ring
  alternately, ``repeats`` times each, and report the medians and the cost ratio *kernel events
  per committed operation*.
* :func:`campaign`: ``bench_zab_campaign.py`` and ``bench_raft_campaign.py`` run seeded fault
  schedules one after the other and report how many were ok, stuck or broke an invariant.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable

from baseline import PING_NODES, PING_ROUNDS, cpu, run_pingpong

from zablib.sim import Simulation
from zablib.trace import Event

#: The workload both protocol benchmarks put on their cluster: ``SERVERS`` servers (and the
#: ring's and the cluster's seed), ``OPERATIONS`` client operations ``GAP_MS`` of simulated time
#: apart, timed ``REPEATS`` times.
SERVERS, OPERATIONS, GAP_MS, SEED, REPEATS = 5, 2_000, 1.5, 1, 5


def settle(sim: Simulation, ready: Callable[[Simulation], bool], what: str) -> Simulation:
    """Run ``sim`` 20 ms at a time until ``ready(sim)``, for at most 10 s of simulated time."""
    for _ in range(500):
        sim.run_for(20)
        if ready(sim):
            return sim
    raise SystemExit(f"the {what} never settled")


def load_phase(sim: Simulation, operation: str, *, drained: Callable[[], bool],
               commits: Callable[[Event], bool]) -> tuple[int, int]:
    """Hand the leader ``OPERATIONS`` operations (``0, 1, 2 ...``), ``GAP_MS`` apart, then run
    until ``drained()``.

    Returns ``(committed, events)``: the leader's notes for which ``commits(note)`` holds, and the
    kernel events (message deliveries and timer firings) the phase took.
    """
    leader = sim.leader()
    start = len(sim.trace)
    for k in range(OPERATIONS):
        if not sim.submit(k):
            raise SystemExit(f"the leader refused {operation} {k} at t={sim.now:.1f} ms")
        sim.run_for(GAP_MS)
    while not drained():
        sim.run_for(GAP_MS)
    if sim.leader() != leader:
        raise SystemExit("the leader changed during the load phase")
    committed = events = 0
    for e in sim.trace[start:]:
        if e.kind == "note" and e.node == leader:
            committed += bool(commits(e))
        elif e.kind in ("deliver", "timer"):
            events += 1
    return committed, events


def throughput(name: str, unit: str, operations: str, links: str,
               settled: Callable[[], Simulation], load: Callable[[Simulation], tuple[int, int]],
               repeats: int = REPEATS, *, check: bool = False, header: str | None = None,
               expected: int = OPERATIONS, done: str = "committed") -> float:
    """Time ``load(settled())`` against the ping-pong ring, alternately; return the cost ratio.

    Parameters
    ----------
    name : str
        The protocol, as the report names it (``"raft"``).
    unit, operations : str
        One committed operation (``"cmd"``) and what the client hands in (``"commands"``).
    links : str
        What the cluster's links do besides their 1-10 ms delay (``"FIFO"``), for the header.
    settled : callable
        Builds a cluster ready for the load (not timed).
    load : callable
        The timed load phase; returns ``(committed, kernel events)``; it must commit
        ``OPERATIONS``.
    repeats : int
        Runs of each, alternating.
    check : bool
        Run ``sim.check()`` after each load (not timed).
    header, expected, done : str, int, str
        For a workload other than this module's (``bench_coord.py``): the first line of the
        report, how many operations the load must complete, and what completing is called.
    """
    print(header or f"{name}: {SERVERS} servers, {OPERATIONS:,} {operations}, one every "
          f"{GAP_MS:g} ms of simulated time, uniform 1-10 ms {links} links, seed {SEED}")
    print(f"kernel: {PING_NODES}-node ping-pong ring, {PING_NODES * PING_ROUNDS:,} deliveries")
    print(f"python {sys.version.split()[0]}, {repeats} runs each, alternating, CPU time")
    load_s, ping_s = [], []
    committed = load_events = ping_events = 0
    for _ in range(repeats):
        sim = settled()
        (committed, load_events), seconds = cpu(load, sim)
        load_s.append(seconds)
        if committed != expected:
            raise SystemExit(f"only {committed} of {expected} {operations} {done}")
        if check:
            sim.check()  # the run was also a correct one
        ping_events, seconds = cpu(run_pingpong, SEED)
        ping_s.append(seconds)
    rate = committed / statistics.median(load_s)
    ping_rate = ping_events / statistics.median(ping_s)
    print(f"{name:>6}: median {statistics.median(load_s):.3f} s = {rate:>9,.0f} {done} "
          f"{unit}s/s   ({load_events / committed:.1f} kernel events per {unit}; runs: "
          + ", ".join(f"{s:.3f}" for s in load_s) + " s)")
    print(f"kernel: median {statistics.median(ping_s):.3f} s = {ping_rate:>9,.0f} events/s"
          "   (runs: " + ", ".join(f"{s:.3f}" for s in ping_s) + " s)")
    ratio = ping_rate / rate
    print(f"{name} {done} {unit}s/s: {rate:,.0f}; kernel events/s: {ping_rate:,.0f}; "
          f"kernel events per {done} {unit} (cost ratio): {ratio:.2f}")
    return ratio


def campaign(title: str, name: str, schedule: Callable[[int], str], count: int,
             first: int) -> tuple[int, int]:
    """Run schedules ``first .. first + count - 1``; return ``(violations, stuck)``.

    ``schedule(seed)`` answers ``"ok"``, ``"stuck"`` (no leader, or nothing committed, once the
    faults stopped) or the name of the invariant the run broke. Prints progress every 1,000
    schedules, then the seeds of each kind of failure and the schedules per CPU second.
    """
    print(f"{title}: {count:,} schedules, seeds {first}..{first + count - 1}")
    outcomes: dict[str, list[int]] = {}
    start_cpu, start_wall = time.process_time(), time.perf_counter()
    for seed in range(first, first + count):
        outcomes.setdefault(schedule(seed), []).append(seed)
        done = seed - first + 1
        if done % 1000 == 0 and done < count:
            print(f"  {done:,} schedules, {time.perf_counter() - start_wall:.0f} s", flush=True)
    cpu_s, wall = time.process_time() - start_cpu, time.perf_counter() - start_wall
    stuck = outcomes.pop("stuck", [])
    ok = outcomes.pop("ok", [])
    violations = sum(len(seeds) for seeds in outcomes.values())
    for invariant, seeds in sorted(outcomes.items()):
        print(f"  VIOLATION {invariant}: {len(seeds)} schedules, e.g. seeds {seeds[:5]}")
    if stuck:
        print(f"  STUCK (no leader or no commit after the faults): {len(stuck)}, e.g. {stuck[:5]}")
    print(f"ok {len(ok):,}; {wall:.1f} s wall, {cpu_s:.1f} s CPU")
    print(f"{name} campaign: {count:,} schedules; {count / cpu_s:,.1f} schedules/s (CPU); "
          f"violations: {violations}; stuck: {len(stuck)}")
    return violations, len(stuck)

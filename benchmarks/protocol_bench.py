"""What the protocol benchmarks share beyond the kernel baseline (``baseline.py``).

* :func:`throughput`: ``bench_zab.py`` and ``bench_raft.py`` time a protocol's load phase and
  the kernel's ping-pong ring alternately, ``repeats`` times each, and report the medians and
  the cost ratio *kernel events per committed operation*.
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


def throughput(name: str, unit: str, operations: str, expected: int, repeats: int, seed: int,
               settled: Callable[[], Simulation],
               load: Callable[[Simulation], tuple[int, int]], *, check: bool = False) -> float:
    """Time ``load(settled())`` against the ping-pong ring, alternately; return the cost ratio.

    Parameters
    ----------
    name : str
        The protocol, as the report names it (``"raft"``).
    unit, operations : str
        One committed operation (``"cmd"``) and what the client hands in (``"commands"``).
    expected : int
        How many operations the load phase must commit.
    repeats : int
        Runs of each, alternating.
    seed : int
        The ping-pong ring's seed.
    settled : callable
        Builds a cluster ready for the load (not timed).
    load : callable
        The timed load phase; returns ``(committed, kernel events)``.
    check : bool
        Run ``sim.check()`` after each load (not timed).
    """
    print(f"kernel: {PING_NODES}-node ping-pong ring, {PING_NODES * PING_ROUNDS:,} deliveries")
    print(f"python {sys.version.split()[0]}, {repeats} runs each, alternating, CPU time")
    load_s, ping_s = [], []
    committed = load_events = ping_events = 0
    for _ in range(repeats):
        sim = settled()
        (committed, load_events), seconds = cpu(load, sim)
        load_s.append(seconds)
        if committed != expected:
            raise SystemExit(f"the leader committed {committed} of {expected} {operations}")
        if check:
            sim.check()  # the run was also a correct one
        ping_events, seconds = cpu(run_pingpong, seed)
        ping_s.append(seconds)
    rate = committed / statistics.median(load_s)
    ping_rate = ping_events / statistics.median(ping_s)
    print(f"{name:>6}: median {statistics.median(load_s):.3f} s = {rate:>9,.0f} committed "
          f"{unit}s/s   ({load_events / committed:.1f} kernel events per {unit}; runs: "
          + ", ".join(f"{s:.3f}" for s in load_s) + " s)")
    print(f"kernel: median {statistics.median(ping_s):.3f} s = {ping_rate:>9,.0f} events/s"
          "   (runs: " + ", ".join(f"{s:.3f}" for s in ping_s) + " s)")
    ratio = ping_rate / rate
    print(f"{name} committed {unit}s/s: {rate:,.0f}; kernel events/s: {ping_rate:,.0f}; "
          f"kernel events per committed {unit} (cost ratio): {ratio:.2f}")
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

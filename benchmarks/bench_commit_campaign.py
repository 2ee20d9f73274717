"""A long seeded fault campaign against 2PC and 3PC with crash-recovery: schedules per second,
violations, liveness failures, and how long deciding took once the faults stopped.

These are the test suite's schedules (``zablib.faults.commit_faulty_run``, used by
``tests/test_commit.py`` with 2,000 per protocol), more of them, without pytest. Each seed
builds a run with 2 to 4 participants (everyone votes yes in three runs out of four) and plays
3 to 12 rounds, each aimed at a node and a moment of its life (its next step, its next message,
or a few ms from now): a crash that loses part of what the node just sent, a restart 0-20 ms
later, a recovery, and for 2PC also a partition, a heal, message loss or duplication. Then
``zablib.faults.commit_liveness`` judges the run, on top of ``sim.check()`` (agreement and
validity) before and after:

1. the network heals while the crashed nodes stay down: from the moment a live node knows the
   outcome, every live node must learn it within the bound (``learn``);
2. every node recovers: every node must decide within the bound (``decide``).

The bound is ``zablib.faults.commit_settle_ms`` (2PC: 170 ms; 3PC: 590-890 ms by the number of
participants). The script prints, per protocol, the violated invariants and the stuck schedules
with example seeds, the worst ``learn`` and ``decide`` times, and last

    2pc campaign: 10,000 schedules; X schedules/s (CPU); violations: 0; stuck: 0

It exits with status 1 if anything was violated or stuck. The default is 10,000 schedules of
each protocol; ``python benchmarks/bench_commit_campaign.py 500`` runs a quick one, and a second
argument sets the first seed.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from zablib import InvariantViolation, faults
from zablib.protocols import threepc, twopc
from zablib.sim import Simulation

SCHEDULES = 10_000


def run_campaign(name: str, cluster: Callable[..., Simulation], count: int,
                 first: int) -> tuple[int, int]:
    """Run schedules ``first .. first + count - 1`` on ``cluster``; return ``(violations, stuck)``."""
    print(f"{name} campaign: {count:,} schedules, seeds {first}..{first + count - 1}")
    broken: dict[str, list[int]] = {}
    stuck: list[tuple[int, str]] = []
    worst_learn = worst_decide = (0.0, -1)
    start_cpu, start_wall = time.process_time(), time.perf_counter()
    for seed in range(first, first + count):
        sim, _ = faults.commit_faulty_run(cluster, seed)
        try:
            live = faults.commit_liveness(sim)
        except InvariantViolation as violation:
            broken.setdefault(violation.invariant, []).append(seed)
            continue
        if live.problem:
            stuck.append((seed, live.problem))
        worst_learn = max(worst_learn, (live.learn_ms or 0.0, seed))
        worst_decide = max(worst_decide, (live.decide_ms or 0.0, seed))
    cpu_s, wall = time.process_time() - start_cpu, time.perf_counter() - start_wall
    for invariant, seeds in sorted(broken.items()):
        print(f"  VIOLATION {invariant}: {len(seeds)} schedules, e.g. seeds {seeds[:5]}")
    for seed, problem in stuck[:5]:
        print(f"  STUCK seed {seed}: {problem}")
    violations = sum(len(seeds) for seeds in broken.values())
    print(f"  worst learn: {worst_learn[0]:.1f} ms (seed {worst_learn[1]}); worst decide: "
          f"{worst_decide[0]:.1f} ms (seed {worst_decide[1]}); {wall:.1f} s wall, {cpu_s:.1f} s CPU")
    print(f"{name} campaign: {count:,} schedules; {count / cpu_s:,.1f} schedules/s (CPU); "
          f"violations: {violations}; stuck: {len(stuck)}")
    return violations, len(stuck)


def main(count: int = SCHEDULES, first: int = 0) -> tuple[int, int]:
    totals = [run_campaign(name, cluster, count, first)
              for name, cluster in (("2pc", twopc.cluster), ("3pc", threepc.cluster))]
    return sum(v for v, _ in totals), sum(s for _, s in totals)


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:3]]
    violations, stuck = main(*args)
    sys.exit(1 if violations or stuck else 0)

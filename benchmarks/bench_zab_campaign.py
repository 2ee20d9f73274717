"""A long seeded fault campaign against Zab: schedules per second and violations found.

Each schedule (seed ``s``) builds a 3-, 4- or 5-server ensemble and runs 3-8 rounds, each a
fault followed by 0-3 client transactions and 5-150 ms of simulated time. The faults: crash a
live server, recover a crashed one, partition the servers into two groups, heal, set message
loss (0, 5 or 20 %), set duplication (0, 10 or 30 %), or none. Then ``sim.check()`` runs every
Zab invariant over the whole trace (integrity, total order and agreement, local and global
primary order, primary integrity, one leader per epoch, durable prefix order).

Then the faults stop: links heal, loss and duplication go to zero, every crashed server
recovers, and after ``AFTER_FAULTS_MS`` a leader must be established and a new transaction must
commit on every server within ``COMMIT_MS``; ``sim.check()`` runs again. A schedule that breaks
an invariant counts as a *violation*; one that recovers no leader or does not commit counts as
*stuck* (a liveness failure). Both should be 0.

This is the test suite's campaign (``tests/test_zab.py``) written again, longer, so it runs
without pytest. The default is 10,000 schedules; ``python benchmarks/bench_zab_campaign.py 500``
runs a quick one, and a second argument sets the first seed.
"""

from __future__ import annotations

import random
import sys
import time

from zablib import InvariantViolation
from zablib.protocols import zab

SCHEDULES = 10_000
AFTER_FAULTS_MS = 1000.0  # > election + zab.INIT_MS + zab.SYNC_MS: time for a connected quorum
COMMIT_MS = 300.0


def faulty_run(seed: int, variant: str = "correct") -> zab.ZabSimulation:
    """The fault part of schedule ``seed``; ends with ``sim.check()``."""
    r = random.Random(seed)
    n = r.choice([3, 4, 5])
    sim = zab.cluster(n, seed=seed, variant=variant)
    sim.run(until=r.uniform(0, 200))
    written = 0
    for _ in range(r.randint(3, 8)):
        fault = r.random()
        ids = list(sim.node_ids)
        up = [i for i in ids if sim.is_up(i)]
        if fault < 0.25:
            if up:
                sim.crash(r.choice(up))
        elif fault < 0.45:
            if sim.crashed:
                sim.recover(r.choice(sorted(sim.crashed)))
        elif fault < 0.6:
            r.shuffle(ids)
            cut = r.randint(1, n - 1)
            sim.partition(set(ids[:cut]), set(ids[cut:]))
        elif fault < 0.7:
            sim.heal()
        elif fault < 0.8:
            sim.set_loss(r.choice([0.0, 0.05, 0.2]))
        elif fault < 0.9:
            sim.set_duplication(r.choice([0.0, 0.1, 0.3]))
        for _ in range(r.randint(0, 3)):
            written += 1
            sim.submit(f"t{written}")
        sim.run_for(r.uniform(5, 150))
    sim.check()
    return sim


def schedule(seed: int) -> str:
    """Run schedule ``seed``; return ``"ok"``, ``"stuck"`` or the violated invariant's name."""
    try:
        sim = faulty_run(seed)
        sim.heal()
        sim.set_loss(0.0)
        sim.set_duplication(0.0)
        for i in sorted(sim.crashed):
            sim.recover(i)
        sim.run_for(AFTER_FAULTS_MS)
        if sim.leader() is None or not sim.submit("after"):
            return "stuck"
        sim.run_for(COMMIT_MS)
        sim.check()
        if not all("after" in sim.committed(i) for i in sim.node_ids):
            return "stuck"
        return "ok"
    except InvariantViolation as violation:
        return violation.invariant


def main(count: int = SCHEDULES, first: int = 0) -> tuple[int, int]:
    print(f"zab fault campaign: {count:,} schedules, seeds {first}..{first + count - 1}")
    outcomes: dict[str, list[int]] = {}
    start_cpu, start_wall = time.process_time(), time.perf_counter()
    for seed in range(first, first + count):
        outcomes.setdefault(schedule(seed), []).append(seed)
        done = seed - first + 1
        if done % 1000 == 0 and done < count:
            print(f"  {done:,} schedules, {time.perf_counter() - start_wall:.0f} s", flush=True)
    cpu, wall = time.process_time() - start_cpu, time.perf_counter() - start_wall
    stuck = outcomes.pop("stuck", [])
    ok = outcomes.pop("ok", [])
    violations = sum(len(seeds) for seeds in outcomes.values())
    for invariant, seeds in sorted(outcomes.items()):
        print(f"  VIOLATION {invariant}: {len(seeds)} schedules, e.g. seeds {seeds[:5]}")
    if stuck:
        print(f"  STUCK (no leader or no commit after the faults): {len(stuck)}, e.g. {stuck[:5]}")
    print(f"ok {len(ok):,}; {wall:.1f} s wall, {cpu:.1f} s CPU")
    print(f"zab campaign: {count:,} schedules; {count / cpu:,.1f} schedules/s (CPU); "
          f"violations: {violations}; stuck: {len(stuck)}")
    return violations, len(stuck)


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:3]]
    violations, stuck = main(*args)
    sys.exit(1 if violations or stuck else 0)

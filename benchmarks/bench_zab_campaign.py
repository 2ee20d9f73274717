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

These are the test suite's schedules (``zablib.faults``, used by ``tests/test_zab.py``), more
of them, without pytest. The default is 10,000 schedules; ``python benchmarks/bench_zab_campaign.py 500``
runs a quick one, and a second argument sets the first seed.
"""

from __future__ import annotations

import sys

from protocol_bench import campaign

from zablib import InvariantViolation, faults
from zablib.protocols import zab

SCHEDULES = 10_000
AFTER_FAULTS_MS = 1000.0  # > election + init and sync limits (zab.Timers): time for a connected quorum
COMMIT_MS = 300.0


def schedule(seed: int) -> str:
    """Run schedule ``seed``; return ``"ok"``, ``"stuck"`` or the violated invariant's name."""
    try:
        sim = faults.faulty_run(zab.cluster, seed)
        faults.quiesce(sim)
        if not faults.recovers(sim, after_ms=AFTER_FAULTS_MS, commit_ms=COMMIT_MS):
            return "stuck"
        return "ok"
    except InvariantViolation as violation:
        return violation.invariant


def main(count: int = SCHEDULES, first: int = 0) -> tuple[int, int]:
    return campaign("zab fault campaign", "zab", schedule, count, first)


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:3]]
    violations, stuck = main(*args)
    sys.exit(1 if violations or stuck else 0)

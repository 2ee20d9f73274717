"""A long seeded fault campaign against Raft: schedules per second and violations found.

Each schedule (seed ``s``) builds a 3- or 5-server cluster (``raft.cluster``, links that reorder
messages, 50-100 ms election timeouts, 15 ms heartbeats), sets message loss (0, 5 or 20 %) and
duplication (0 or 10 %), and runs 12 rounds, each a fault followed by one client command and
10-80 ms of simulated time. The faults: crash a live server, recover a crashed one, partition
the servers into two groups, heal, or none; every fifth schedule also changes the loss and
duplication rates in the middle of its rounds. Then ``sim.check()`` runs every Raft invariant
over the whole trace (election safety, leader append-only, log matching, leader completeness,
state machine safety).

Then the faults stop: links heal, loss and duplication go to zero, every crashed server
recovers. Within ``AFTER_FAULTS_MS`` a leader of the newest term must commit its no-op, and a new
command must be applied by every member within ``COMMIT_MS`` (a client retries up to three times
with a fresh command if its leader is deposed first); ``sim.check()`` runs again. A schedule that
breaks an invariant counts as a *violation*; one that elects no leader or does not commit counts
as *stuck* (a liveness failure). Both should be 0.

The schedules are ``zablib.faults.raft_faulty_run``, the test suite's (``tests/test_raft.py``),
here without pytest. The default is 10,000 schedules; ``python benchmarks/bench_raft_campaign.py
500`` runs a quick one, a second argument sets the first seed, and ``--variant NAME`` runs a
broken variant of ``raft.VARIANTS`` (which should be caught).
"""

from __future__ import annotations

import sys

from protocol_bench import campaign

from zablib import InvariantViolation, faults
from zablib.protocols import raft

SCHEDULES = 10_000
AFTER_FAULTS_MS = 2000.0
COMMIT_MS = 500.0


class Stuck(Exception):
    """No leader, or the new command was not applied everywhere, after the faults stopped."""


def established_leader(sim: raft.RaftSimulation, limit: float) -> int:
    """A leader of the newest term among the live members of its configuration that has
    committed its no-op (§8). A removed server that was never told may campaign on in vain with
    higher terms (thesis §4.2.3): it is not asked."""
    start = sim.now
    while sim.now - start < limit:
        sim.run_for(10)
        leader = sim.leader()
        if leader is not None:
            node = sim.nodes[leader]
            newest = max((sim.nodes[i].term for i in node.config if sim.is_up(i)), default=0)
            if node.commit_index >= node.term_start and node.term >= newest:
                return leader
    raise Stuck


def schedule(seed: int, variant: str = "correct") -> str:
    """Run schedule ``seed``; return ``"ok"``, ``"stuck"`` or the violated invariant's name."""
    try:
        sim = faults.raft_faulty_run(seed, variant=variant, vary_loss_midway=seed % 5 == 0)
        sim.check()
        faults.quiesce(sim)
        for attempt in range(3):
            leader = established_leader(sim, AFTER_FAULTS_MS)
            command = ("final", attempt)
            if not sim.submit(command):
                continue
            members = sim.nodes[leader].config
            start = sim.now
            while sim.now - start < COMMIT_MS:
                if all(command in sim.committed(i) for i in members):
                    sim.check()
                    return "ok"
                sim.run_for(10)
        sim.check()
        return "stuck"
    except Stuck:
        return "stuck"
    except InvariantViolation as violation:
        return violation.invariant


def main(count: int = SCHEDULES, first: int = 0, variant: str = "correct") -> tuple[int, int]:
    return campaign(f"raft fault campaign ({variant})", "raft",
                    lambda seed: schedule(seed, variant), count, first)


if __name__ == "__main__":
    argv = sys.argv[1:]
    chosen = "correct"
    if "--variant" in argv:
        k = argv.index("--variant")
        chosen = argv[k + 1]
        del argv[k: k + 2]
    if chosen not in raft.VARIANTS:
        sys.exit(f"unknown variant {chosen!r}; use one of {', '.join(raft.VARIANTS)}")
    args = [int(a) for a in argv[:2]]
    violations, stuck = main(*args, variant=chosen)
    sys.exit(1 if violations or stuck else 0)

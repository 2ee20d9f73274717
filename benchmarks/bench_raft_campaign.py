"""Long seeded fault campaigns against Raft: schedules per second, violations and stuck runs.

Two campaigns, the test suite's (``tests/test_raft.py``) without pytest and longer:

* **classic** (``zablib.faults.raft_faulty_run``): a 3- or 5-server cluster (links that reorder
  messages, 50-100 ms election timeouts, 15 ms heartbeats), message loss (0, 5 or 20 %) and
  duplication (0 or 10 %), then 12 rounds, each a fault (crash a live server, recover a crashed
  one, partition the servers into two groups, heal, or none) followed by one client command
  and 10-80 ms of simulated time; every fifth schedule also changes the loss and duplication
  rates half-way.
* **widened** (``zablib.faults.raft_changes_run``): 2 to 5 servers and 2 spares, on fast
  (1-10 ms), slow (20-60 ms), long-tailed (1 ms + exponential, mean 20 ms) or heavy-tailed
  (lognormal, median 30 ms, mean 40 ms) links in turn; the faults also include one or two
  membership changes in a row aimed at crashed, cut-off and recently restarted servers,
  clusters shrink to two members, and in a third of the schedules a client writes every 4 ms
  throughout (``add_server`` under load). Every third schedule runs with PreVote and
  CheckQuorum, as production deployments do.

Each schedule ends with ``sim.check()`` (election safety, leader append-only, log matching,
leader completeness, state machine safety over the whole trace). Then the faults stop: links
heal, loss and duplication go to zero, every crashed server recovers; ``faults.raft_stuck``
wants a leader within 30 election timeouts and a new command applied by every member of its
configuration within 10 more (a client asks again, up to three times, if its leader is deposed
first), and runs ``sim.check()`` again. A schedule that breaks an invariant counts as a
*violation*; one that elects no leader or does not commit counts as *stuck* (a liveness
failure). Both should be 0.

The default is 10,000 schedules of each campaign; ``python benchmarks/bench_raft_campaign.py
500`` runs a quick one, a second argument sets the first seed, ``--campaign classic`` (or
``widened``) runs one of them, and ``--variant NAME`` runs a broken variant of
``CAMPAIGN_VARIANTS`` (which should be caught).
"""

from __future__ import annotations

import sys

from protocol_bench import campaign

from zablib import InvariantViolation, faults
from zablib.protocols import raft

SCHEDULES = 10_000
CAMPAIGNS = ("classic", "widened")
#: The options production deployments run, used by every third widened schedule.
PRODUCTION = {"pre_vote": True, "check_quorum": True}


#: The variants these campaigns can catch: "unconfirmed-read" needs reads (its campaign is in
#: tests/test_raft_readindex.py) and "direct-switch" needs ``membership="joint"`` and multi-server
#: changes (tests/test_raft_joint.py); neither happens in the schedules here.
CAMPAIGN_VARIANTS = tuple(v for v in raft.VARIANTS if v not in ("unconfirmed-read", "direct-switch"))


def schedule(seed: int, variant: str = "correct", which: str = "classic") -> str:
    """Run schedule ``seed``; return ``"ok"``, ``"stuck"`` or the violated invariant's name."""
    try:
        if which == "widened":
            sim = faults.raft_changes_run(seed, variant=variant,
                                          **(PRODUCTION if seed % 3 == 2 else {}))
        else:
            sim = faults.raft_faulty_run(seed, variant=variant, vary_loss_midway=seed % 5 == 0)
        sim.check()
        faults.quiesce(sim)
        return "ok" if faults.raft_stuck(sim) is None else "stuck"
    except InvariantViolation as violation:
        return violation.invariant


def main(count: int = SCHEDULES, first: int = 0, variant: str = "correct",
         campaigns: tuple[str, ...] = CAMPAIGNS) -> tuple[int, int]:
    """Run each of ``campaigns``; return the violations and stuck schedules of all of them."""
    violations = stuck = 0
    for which in campaigns:
        v, s = campaign(f"raft {which} fault campaign ({variant})", f"raft {which}",
                        lambda seed, which=which: schedule(seed, variant, which), count, first)
        violations, stuck = violations + v, stuck + s
    return violations, stuck


def option(argv: list[str], name: str, default: str, choices: tuple[str, ...]) -> str:
    """Take ``--name VALUE`` out of ``argv``; exit with a message if VALUE is not a choice."""
    if f"--{name}" not in argv:
        return default
    k = argv.index(f"--{name}")
    value = argv[k + 1] if k + 1 < len(argv) else ""
    del argv[k: k + 2]
    if value not in choices:
        sys.exit(f"unknown {name} {value!r}; use one of {', '.join(choices)}")
    return value


if __name__ == "__main__":
    argv = sys.argv[1:]
    chosen = option(argv, "variant", "correct", CAMPAIGN_VARIANTS)
    which = option(argv, "campaign", "both", (*CAMPAIGNS, "both"))
    args = [int(a) for a in argv[:2]]
    violations, stuck = main(*args, variant=chosen,
                             campaigns=CAMPAIGNS if which == "both" else (which,))
    sys.exit(1 if violations or stuck else 0)

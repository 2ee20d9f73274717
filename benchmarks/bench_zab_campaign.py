"""Long seeded fault campaigns against Zab: schedules per second, violations and stuck runs.

Two campaigns, the test suite's (``tests/test_zab.py``) without pytest and longer:

* **classic** (``zablib.faults.faulty_run``): a 3-, 4- or 5-server ensemble on the book's links
  (1-10 ms, FIFO) runs 3-8 rounds, each a fault followed by 0-3 client transactions and 5-150 ms
  of simulated time. The faults: crash a live server, recover a crashed one, partition the
  servers into two groups, heal, set message loss (0, 5 or 20 %), set duplication (0, 10 or
  30 %), or none. Then the faults stop (links heal, loss and duplication go to zero, every
  crashed server recovers), and after ``AFTER_FAULTS_MS`` a leader must be established and a new
  transaction must commit on every server within ``COMMIT_MS``.
* **links** (``zablib.faults.zab_links_run``): the same schedules on fast (1-10 ms), slow
  (20-60 ms) and heavy-tailed (lognormal, median 30 ms, mean 40 ms) FIFO links in turn, the
  slow two with a 60 ms tick (``zab.cluster(tick_ms=60)``) and their pauses stretched three
  times; once the faults stop, ``faults.zab_stuck`` wants an established leader within 50
  ticks and a new transaction delivered by every server within 30 more (a client asks again,
  up to three times, if its leader loses its quorum first).

Each schedule runs ``sim.check()``, every Zab invariant over the whole trace (integrity, total
order and agreement, local and global primary order, primary integrity, one leader per epoch,
durable prefix order), before and after the liveness check. A schedule that breaks an invariant
counts as a *violation*; one that establishes no leader or does not commit counts as *stuck* (a
liveness failure). Both should be 0.

The default is 10,000 schedules of each campaign; ``python benchmarks/bench_zab_campaign.py
500`` runs a quick one, a second number sets the first seed, ``--campaign classic`` (or
``links``) runs one of them, ``--variant NAME`` runs a broken variant of ``zab.VARIANTS``
(which should be caught), ``--discovery adopt`` runs the Zab paper's discovery instead of
Zab 1.0's (``zab.cluster(discovery=...)``), and ``--campaign links --observers K`` adds K
observers to every cluster (the ``observer-acks-count`` variant needs them: 200 schedules with 2
observers catch it 9 times).
"""

from __future__ import annotations

import argparse
import sys
from functools import partial

from protocol_bench import campaign

from zablib import InvariantViolation, faults
from zablib.protocols import zab

SCHEDULES = 10_000
CAMPAIGNS = ("classic", "links")
AFTER_FAULTS_MS = 1000.0  # > election + init and sync limits (zab.Timers): time for a connected quorum
COMMIT_MS = 300.0


def schedule(seed: int, variant: str = "correct", which: str = "classic",
             discovery: str = "check", observers: int = 0) -> str:
    """Run schedule ``seed``; return ``"ok"``, ``"stuck"`` or the violated invariant's name.

    ``observers`` adds that many observers to the links campaign's clusters."""
    try:
        if which == "links":
            sim = faults.zab_links_run(seed, variant=variant, discovery=discovery,
                                       observers=observers)
            sim.check()
            faults.quiesce(sim)
            return "ok" if faults.zab_stuck(sim) is None else "stuck"
        sim = faults.faulty_run(zab.cluster, seed, variant=variant, discovery=discovery)
        faults.quiesce(sim)
        if not faults.recovers(sim, after_ms=AFTER_FAULTS_MS, commit_ms=COMMIT_MS):
            return "stuck"
        return "ok"
    except InvariantViolation as violation:
        return violation.invariant


def main(count: int = SCHEDULES, first: int = 0, variant: str = "correct",
         campaigns: tuple[str, ...] = CAMPAIGNS, discovery: str = "check",
         observers: int = 0) -> tuple[int, int]:
    """Run each of ``campaigns``; return the violations and stuck schedules of all of them."""
    results = [campaign(f"zab {which} fault campaign ({variant}, discovery {discovery}"
                        + (f", {observers} observers)" if observers else ")"),
                        f"zab {which}",
                        partial(schedule, variant=variant, which=which, discovery=discovery,
                                observers=observers),
                        count, first)
               for which in campaigns]
    return sum(v for v, _ in results), sum(s for _, s in results)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Seeded fault campaigns against Zab.")
    parser.add_argument("count", nargs="?", type=int, default=SCHEDULES)
    parser.add_argument("first", nargs="?", type=int, default=0)
    parser.add_argument("--campaign", choices=(*CAMPAIGNS, "both"), default="both")
    parser.add_argument("--variant", choices=zab.VARIANTS, default="correct")
    parser.add_argument("--discovery", choices=zab.DISCOVERIES, default="check")
    parser.add_argument("--observers", type=int, default=0,
                        help="observers in the links campaign's clusters")
    args = parser.parse_args()
    if args.observers and args.campaign != "links":
        parser.error("--observers needs --campaign links")
    if args.variant == "observer-acks-count" and not args.observers:
        parser.error("the observer-acks-count variant needs observers: --campaign links --observers 2")
    violations, stuck = main(args.count, args.first, args.variant,
                             CAMPAIGNS if args.campaign == "both" else (args.campaign,),
                             args.discovery, args.observers)
    sys.exit(1 if violations or stuck else 0)

"""The simulated ZooKeeper against a real one: the same programs give the same transcripts.

Each program (tests/differential.py: two clients, a watcher and a writer; creates with ephemeral,
sequence and makepath, sets and deletes with current and stale versions, transactions, reads with
watches, invalid paths and arguments) runs once on the real three-server ZooKeeper 3.8 of the
``real_zookeeper`` fixture and once on ``zablib.coord.Ensemble(3, seed=k)``, and the two
normalized transcripts must be equal: returned paths with their sequence suffixes, data, stats
(versions, lengths, child counts, owners, zxid order), children, exception classes, and every
watch event each client received, in order.

No program injects a fault, so a real run in which a connection drops (a loaded machine) is run
again once under a new root (``differential.run_steadily``); a second drop shows in the diff.

How many programs: ``ZABLIB_DIFFERENTIAL_PROGRAMS`` if set, else 300 under ``CI=true`` (as
``.ci/run`` sets) and 40 otherwise; the hypothesis test runs a third as many (and shrinks a
failure to a short program).
"""

from __future__ import annotations

import os
from collections import Counter

import differential
import pytest
from differential import Call
from hypothesis import HealthCheck, given, settings
from zookeeper import RealEnsemble

from zablib.coord import Ensemble

IN_CI = os.environ.get("CI") == "true"
PROGRAMS = int(os.environ.get("ZABLIB_DIFFERENTIAL_PROGRAMS", "300" if IN_CI else "40"))


def transcripts(real_zookeeper: RealEnsemble, program: differential.Program, seed: int):
    """The program's transcript on the real ensemble and on ``Ensemble(3, seed=seed)``."""
    roots = []

    def fresh_root() -> str:
        roots.append(real_zookeeper.fresh_root("diff"))
        return roots[-1]

    real = differential.run_steadily(program, real_zookeeper.client_factory(timeout=30), fresh_root)
    # The same root on both sides, though a transcript never shows it.
    simulated = differential.run_program(program, Ensemble(3, seed=seed).client, root=roots[-1])
    return real, simulated


def explain(seed: object, program: differential.Program, difference: str) -> str:
    return f"program {seed}:\n{differential.format_program(program)}\n{difference}"


def test_random_programs_give_the_same_transcript_on_the_simulated_and_the_real_zookeeper(
    real_zookeeper,
):
    differing = []
    for seed in range(PROGRAMS):
        program = differential.random_program(seed)
        real, simulated = transcripts(real_zookeeper, program, seed)
        index = real.first_differing_step(simulated)
        if index is not None:
            differing.append((seed, program, index, real.first_difference(simulated, ("real", "simulated"))))
    if differing:
        # Which calls the first differences are at: where to look first.
        where = Counter(
            f"{program[i].client}.{program[i].op}" if i < len(program) else "end"
            for _, program, i, _ in differing
        )
        seed, program, _, difference = differing[0]
        pytest.fail(
            f"{len(differing)} of {PROGRAMS} programs differ (first differing call: {dict(where)}); "
            f"seeds {[s for s, *_ in differing][:20]}\n" + explain(seed, program, difference),
            pytrace=False,
        )


@settings(
    max_examples=max(1, PROGRAMS // 3),
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(program=differential.programs())
def test_hypothesis_programs_give_the_same_transcript_on_both(real_zookeeper, program):
    real, simulated = transcripts(real_zookeeper, program, seed=0)
    difference = real.first_difference(simulated, names=("real", "simulated"))
    assert difference is None, explain("(hypothesis)", program, difference)


# -- the order of children: once the one known difference, now modelled (DataTree.children) -----


def test_children_come_in_the_order_zookeeper_lists_them(real_zookeeper):
    # Recipes must sort children themselves; a program that does not sees this order.
    names = ["b", "s-0000000001", "a", "lock-0000000000", "lock-0000000001", "zz", "member-0000000010"]
    root = real_zookeeper.fresh_root("diff")
    real = real_zookeeper.client_factory()()
    simulated = Ensemble(3, seed=0).client()
    try:
        for zk in (real, simulated):
            zk.start()
            zk.create(root)
            for name in names:
                zk.create(f"{root}/{name}")
        assert simulated.get_children(root) == real.get_children(root)
    finally:
        for zk in (real, simulated):
            zk.stop()
            zk.close()


def test_a_recursive_delete_fires_events_in_the_order_zookeeper_lists_children(real_zookeeper):
    watch = (("watch", True),)
    program = (
        Call("x", "create", ("/a",)),
        Call("x", "create", ("/a/s-0000000001",)),
        Call("x", "create", ("/a/b",)),
        Call("w", "get", ("/a/b",), watch),
        Call("w", "get", ("/a/s-0000000001",), watch),
        Call("x", "delete", ("/a",), (("recursive", True),)),
    )
    real, simulated = transcripts(real_zookeeper, program, seed=0)
    difference = real.first_difference(simulated, names=("real", "simulated"))
    assert difference is None, explain("(recursive delete)", program, difference)

"""The explorer against Lamport's transaction-commit specs, with TLC's published numbers.

TLC's results for the tlaplus/Examples models (three resource managers): TCommit 34 distinct
states, depth 7; TwoPhase 288 distinct states, depth 11. The comment closing TwoPhase.tla gives
50,816 reachable states for six resource managers.
"""

from __future__ import annotations

import pytest

from zablib.explore import StateLimitExceeded, explore
from zablib.models import TCommit, TwoPhase
from zablib.models.transaction_commit import ABORTED, COMMITTED, PREPARED, WORKING


def test_tcommit_matches_tlc() -> None:
    result = explore(TCommit(rms=3))
    assert (result.distinct_states, result.depth, result.violation) == (34, 7, None)


def test_twophase_matches_tlc() -> None:
    result = explore(TwoPhase(rms=3))
    assert (result.distinct_states, result.depth, result.violation) == (288, 11, None)


def test_twophase_six_resource_managers_matches_the_spec_comment() -> None:
    assert explore(TwoPhase(rms=6), progress=False).distinct_states == 50_816


def test_one_resource_manager_state_space_by_hand() -> None:
    # working -> prepared -> committed, or working/prepared -> aborted: 4 states, depth 3.
    result = explore(TCommit(rms=1))
    assert (result.distinct_states, result.depth) == (4, 3)


class CommitTooEarly(TCommit):
    """A broken TCommit: a prepared RM may commit without waiting for the others."""

    def actions(self, state):
        yield from super().actions(state)
        for rm, s in enumerate(state):
            if s == PREPARED:
                yield f"CommitAlone({rm})", state[:rm] + (COMMITTED,) + state[rm + 1:]


def test_the_invariant_bites_and_the_counterexample_is_shortest() -> None:
    """Prepare(0), CommitAlone(0) and RM 1 aborting, in some order: 4 states is the shortest
    way to break TCConsistent (an RM aborts while another has committed)."""
    violation = explore(CommitTooEarly(rms=2)).violation
    assert violation is not None
    assert violation.invariant == "TCConsistent"
    assert len(violation) == 4
    assert violation.states[0] == (WORKING, WORKING)
    assert set(violation.states[-1]) == {COMMITTED, ABORTED}
    assert violation.actions[0] == "Prepare(0)" and "CommitAlone(0)" in violation.actions
    assert "violates TCConsistent" in violation.describe()


def test_state_limit_is_a_clear_error() -> None:
    with pytest.raises(StateLimitExceeded, match="max_states=100"):
        explore(TwoPhase(rms=3), max_states=100)
    with pytest.raises(ValueError, match="max_states"):
        explore(TwoPhase(rms=3), max_states=0)


def test_bad_model_sizes_are_rejected() -> None:
    for bad in (0, -1, 2.5, "3", True):
        with pytest.raises(ValueError, match="rms"):
            TwoPhase(rms=bad)


def test_graph_is_kept_on_request_and_is_deterministic() -> None:
    a = explore(TwoPhase(rms=2), keep_graph=True)
    b = explore(TwoPhase(rms=2), keep_graph=True)
    assert a.graph is not None and len(a.graph) == a.distinct_states == 56
    assert list(a.graph) == list(b.graph)
    assert explore(TwoPhase(rms=2)).graph is None


def test_progress_bar_on_request(capsys) -> None:
    explore(TwoPhase(rms=4), progress=True)
    assert "states" in capsys.readouterr().err

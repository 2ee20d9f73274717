"""``zablib.models.Paxos``: Lamport's ``Paxos.tla`` explored exhaustively. Its invariant ``Inv``
and consistency (at most one value chosen) hold in every reachable state; dropping the
condition of ``Phase2a`` on the reported votes breaks both, and the explorer returns the
shortest run that does it.

The counts are asserted exactly: a change in them is a change in the model's behaviour. The
first row is the published model ``MCPaxos.cfg`` (one acceptor, one value, ballots 0..1), for
which the TLA+ Examples repository's ``manifest.json`` records 25 distinct states and depth 9.
"""

from __future__ import annotations

import pytest

from zablib.explore import explore
from zablib.models import Paxos
from zablib.protocols import paxos


@pytest.mark.parametrize("acceptors, values, max_ballot, states, depth", [
    (1, 1, 1, 25, 9),  # MCPaxos.cfg, as published
    (2, 2, 1, 145, 13),
    (3, 1, 1, 1681, 17),
    (3, 2, 1, 3921, 17),
])
def test_inv_and_consistency_hold_in_every_reachable_state(acceptors, values, max_ballot,
                                                           states, depth):
    result = explore(Paxos(acceptors, values, max_ballot), progress=False)
    assert (result.distinct_states, result.depth, result.violation) == (states, depth, None)


def test_a_value_is_chosen_in_some_state_and_never_two():
    model = Paxos(3, 2, 1)
    result = explore(model, keep_graph=True, progress=False)
    chosen = {frozenset(model.chosen(s)) for s in result.graph}
    assert chosen == {frozenset(), frozenset({"v1"}), frozenset({"v2"})}


def test_phase2a_that_ignores_the_reported_votes_breaks_inv_then_consistency():
    result = explore(Paxos(3, 2, 1, variant="any-value"), progress=False)
    bad = result.violation
    assert bad.invariant == "Inv" and len(bad) == 10
    assert bad.actions[-1] == "Phase2a(1, v2)", "the 2a message that is not safe"
    # Asked only about consistency: the shortest run that chooses two values, 12 steps: v1 is
    # chosen in ballot 0 by a2 and a3, v2 in ballot 1 by a1 and a2 although a2 reported v1.
    model = Paxos(3, 2, 1, variant="any-value", invariants=("Consistency",))
    bad = explore(model, progress=False).violation
    assert bad.invariant == "Consistency" and len(bad.actions) == 12
    assert model.chosen(bad.states[-1]) == {"v1", "v2"}
    assert not any(model.consistency(s) is False for s in bad.states[:-1])


def test_bad_parameters_get_a_clear_error():
    with pytest.raises(ValueError, match="acceptors must be an int >= 1, got 0"):
        Paxos(0)
    with pytest.raises(ValueError, match="max_ballot must be an int >= 0"):
        Paxos(3, 2, -1)
    with pytest.raises(ValueError, match="unknown variant 'x'"):
        Paxos(variant="x")
    with pytest.raises(ValueError, match="invariants must name some of"):
        Paxos(invariants=("Safety",))


# -- the acceptor's rules of zablib.protocols.paxos in the spec's actions ------------------------
def test_the_protocols_rules_reach_exactly_the_specs_states():
    """``Paxos(rules=...)`` takes Phase1b and Phase2b from the protocol's acceptor rules; the
    reference rules reach the spec's own states (TLC's 25 for MCPaxos, 3,921 for three acceptors)
    and agree with the spec in every one of them."""
    for config, states in (((1, 1, 1), 25), ((3, 2, 1), 3921)):
        recorder = paxos.RuleRecorder()
        result = explore(Paxos(*config, rules=recorder.rules))
        assert (result.distinct_states, result.violation) == (states, None)
        assert recorder.decisions and recorder.disagreements() == []


def test_an_acceptor_that_accepts_lower_ballots_breaks_the_spec():
    def accept_anything(state, accept):
        rows = {row[0]: row for row in state.accepted}
        rows[accept.slot] = (accept.slot, accept.ballot, accept.value)
        return paxos.AcceptorState(max(state.promised, accept.ballot),
                                   tuple(rows[s] for s in sorted(rows))), True, \
            ("accepted", accept.ballot, accept.slot)

    result = explore(Paxos(3, 2, 1, rules=paxos.Rules(on_accept=accept_anything)))
    assert result.violation is not None and result.violation.invariant == "Inv"
    assert any(a.startswith("Phase2b") for a in result.violation.actions)
    with pytest.raises(ValueError, match="rules must be a paxos.Rules"):
        Paxos(3, 2, 1, rules="lamport")

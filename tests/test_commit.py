"""What two-phase and three-phase commit share (zablib.protocols.commit), told once for both.

Both protocols decide one transaction with coordinator 0 and participants 1..n, take the same
``votes`` option, and keep the same two invariants, read from stable storage: agreement and
validity. Random crashes and recoveries never break them (Gray 1978; Skeen 1981).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zablib.protocols import commit, threepc, twopc

#: How long each protocol is given, once everyone is back, to decide everywhere.
SETTLE_MS = {twopc: 20 * commit.TIMEOUT_MS, threepc: 40 * commit.TIMEOUT_MS}

faults = st.lists(st.tuples(st.floats(0, 150), st.integers(0, 3)), max_size=5)


@pytest.mark.parametrize("protocol", [twopc, threepc], ids=["2pc", "3pc"])
@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(seed=st.integers(0, 10_000), participants=st.integers(1, 3), schedule=faults)
def test_crashes_and_recoveries_never_split_a_commit_and_it_decides_once_everyone_is_back(
        protocol, seed, participants, schedule):
    sim = protocol.cluster(participants, seed=seed, votes="random")
    for delay, who in schedule:
        sim.run_for(delay)
        node = who % (participants + 1)
        if node in sim.crashed:
            sim.recover(node)
        else:
            sim.crash(node)
        sim.check()
    for node in sorted(sim.crashed):
        sim.recover(node)
    sim.run_for(SETTLE_MS[protocol])
    sim.check()
    assert None not in sim.outcome().values()


def test_both_protocols_speak_the_same_vote_and_decision_request():
    assert twopc.Vote is threepc.Vote is commit.Vote
    assert twopc.DecisionRequest is threepc.DecisionRequest is commit.DecisionRequest
    assert commit.Vote(False).describe() == "Vote(no)"


def test_votes_option_names_what_is_wrong():
    assert commit.parse_votes({2: "no"}, 3) == {1: "yes", 2: "no", 3: "yes"}
    with pytest.raises(ValueError, match="votes must be a mapping, None or 'random'"):
        commit.parse_votes("most", 2)
    with pytest.raises(ValueError, match="votes='random' needs a random generator"):
        commit.parse_votes("random", 2)

"""What two-phase and three-phase commit share (zablib.protocols.commit), told once for both.

Both protocols decide one transaction with coordinator 0 and participants 1..n, take the same
``votes`` option, and keep the same two invariants, read from stable storage: agreement and
validity. Random crashes and recoveries never break them (Gray 1978; Skeen 1981), and once the
faults stop both are live: whoever knows the outcome passes it on to every live node, and once
every node is back every node decides (the commit campaign of zablib.faults).
"""

from __future__ import annotations

import pytest
from commit_rules import old_rule_cluster
from hypothesis import given, settings
from hypothesis import strategies as st

from zablib import InvariantViolation, faults
from zablib.protocols import commit, threepc, twopc

#: How long each protocol is given, once everyone is back, to decide everywhere.
SETTLE_MS = {twopc: 20 * commit.TIMEOUT_MS, threepc: 40 * commit.TIMEOUT_MS}

crash_schedules = st.lists(st.tuples(st.floats(0, 150), st.integers(0, 3)), max_size=5)


@pytest.mark.parametrize("protocol", [twopc, threepc], ids=["2pc", "3pc"])
@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(seed=st.integers(0, 10_000), participants=st.integers(1, 3), schedule=crash_schedules)
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


# -- the commit campaign: crash-recovery of participants and coordinator ---------------------------

#: Schedules per protocol here; benchmarks/bench_commit_campaign.py runs 10,000 of each.
CAMPAIGN = 2000


def campaign_problems(cluster, seeds) -> dict[int, str]:
    """Run the campaign's schedules ``seeds`` on ``cluster``; what went wrong, by seed."""
    problems = {}
    for seed in seeds:
        sim, _ = faults.commit_faulty_run(cluster, seed)
        try:
            problem = faults.commit_liveness(sim).problem
        except InvariantViolation as broken:
            problem = f"{broken.invariant} broken: {broken.detail}"
        if problem:
            problems[seed] = problem
    return problems


@pytest.mark.parametrize("protocol", [twopc, threepc], ids=["2pc", "3pc"])
def test_campaign_crash_recovery_never_splits_and_whoever_knows_tells_every_live_node(protocol):
    """Crashes timed at a node's next step (losing part of what it sent), restarts, recoveries,
    and for 2PC partitions, loss and duplication. Then the network heals: from the moment a live
    node knows the outcome, every live node learns it within the bound, crashed nodes still
    down; and once every node is back, every node decides within the bound. No safety
    violation either way."""
    assert campaign_problems(protocol.cluster, range(CAMPAIGN)) == {}


def test_the_campaign_catches_the_rule_that_stopped_asking_uncertain_peers():
    """The same schedules on 2PC as it was before: some leave a participant waiting for good
    next to a live peer that knows the outcome (the issue's liveness hole)."""
    problems = campaign_problems(old_rule_cluster, range(CAMPAIGN // 2))
    assert problems, "no schedule found the old rule's hole"
    assert all("had not learnt it" in p and "0" in p.split("crashed: ")[1] for p in problems.values())


@pytest.mark.parametrize("protocol", [twopc, threepc], ids=["2pc", "3pc"])
def test_campaign_schedules_aim_at_the_coordinator_and_at_restarts(protocol):
    coordinator_down = restarted = told_by_a_peer = 0
    for seed in range(200):
        sim, events = faults.commit_faulty_run(protocol.cluster, seed)
        coordinator_down += any(e.kind == "crash" and e.args == (0,) for e in events)
        restarted += any(e.kind == "recover" for e in events)
        told_by_a_peer += any(e.tag == "decision" and e.text.startswith("learns")
                              and not e.text.endswith("from 0") for e in sim.trace.of_kind("note"))
    assert coordinator_down > 100 and restarted > 100 and told_by_a_peer > 20
    again, _ = faults.commit_faulty_run(protocol.cluster, 7)
    sim, _ = faults.commit_faulty_run(protocol.cluster, 7)
    assert sim.trace.describe() == again.trace.describe(), "a seed fixes its schedule"


def test_the_liveness_bounds_follow_from_the_timeouts():
    # 2PC: one decision timeout, then a question and its answer on 1-10 ms links.
    assert faults.commit_settle_ms(twopc.cluster(3)) == commit.DECISION_TIMEOUT_MS + 20
    # 3PC: a decision timeout per rank, then a new coordinator's two rounds.
    assert faults.commit_settle_ms(threepc.cluster(2)) == 3 * 150 + 2 * 50 + 40

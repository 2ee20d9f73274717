"""Three-phase commit (Skeen 1981, "Nonblocking Commit Protocols", SIGMOD; the central-site
protocol and its termination protocol as in Skeen and Stonebraker 1983 and Bernstein,
Hadzilacos and Goodman 1987, §7.5): with crashes only it decides consistently and does not block,
even when the coordinator dies in the middle of a phase; under a partition it splits its
decision; and the variant the source note imagines, whose coordinator aborts after pre-committing,
splits its decision with crashes alone.
"""

from __future__ import annotations

import pytest

from zablib import InvariantViolation
from zablib.protocols import threepc
from zablib.protocols.commit import RETRY_MS, TIMEOUT_MS
from zablib.protocols.threepc import (
    CanCommit,
    DoCommit,
    Participant,
    PreCommit,
    StateReply,
    StateRequest,
    termination_rule,
)

RUN_MS = 20 * TIMEOUT_MS  # long enough for two rounds of the termination protocol


def in_state(sim, state: str, *nodes: int) -> bool:
    return all(sim.nodes[i].state == state for i in nodes)


def crash_coordinator_when(sim, condition, lose_to=()) -> None:
    """Run until ``condition``, losing what the coordinator sends to ``lose_to`` meanwhile
    (it dies in the middle of a broadcast); then crash it."""
    for dst in lose_to:
        sim.cut_link(0, dst)
    sim.run_until(condition)
    sim.crash(0)
    for dst in lose_to:
        sim.restore_link(0, dst)


def uncertain_cluster(seed: int = 0, **options):
    sim = threepc.cluster(3, seed=seed, **options)
    sim.run_until(lambda s: in_state(s, "uncertain", 1, 2, 3))
    return sim


# -- failure-free runs -------------------------------------------------------------------------


@pytest.mark.parametrize("variant", ["correct", "abort-after-precommit"])
@pytest.mark.parametrize("seed", range(3))
def test_all_yes_commits_through_three_phases(variant, seed):
    sim = threepc.cluster(3, seed=seed, variant=variant)
    sim.run()
    assert sim.outcome() == {0: "commit", 1: "commit", 2: "commit", 3: "commit"}
    kinds = [type(e.message).__name__ for e in sim.trace if e.kind == "send" and e.node == 0]
    assert kinds == ["CanCommit"] * 3 + ["PreCommit"] * 3 + ["DoCommit"] * 3
    assert sim.storage[0] == {"began": True, "phase": "precommit", "decision": "commit"}
    sim.check()


def test_one_no_aborts_without_any_precommit():
    sim = threepc.cluster(3, seed=1, votes={1: "no"})
    sim.run()
    assert sim.outcome() == {0: "abort", 1: "abort", 2: "abort", 3: "abort"}
    assert not any(isinstance(e.message, PreCommit) for e in sim.trace)
    sim.check()


# -- Skeen's rule ----------------------------------------------------------------------------------


@pytest.mark.parametrize("states, rule", [
    (["uncertain", "uncertain", "uncertain"], "abort"),           # nobody can have committed
    (["uncertain", "precommitted", "uncertain"], "precommit"),    # nobody can have aborted
    (["precommitted", "precommitted"], "precommit"),
    (["uncertain", "committed", "precommitted"], "commit"),
    (["aborted", "uncertain"], "abort"),
    (["working", "uncertain"], "abort"),                          # someone had not voted
    (["precommitted"], "precommit"),
])
def test_termination_rule_is_skeens(states, rule):
    assert termination_rule(states) == rule


def test_termination_rule_rejects_unknown_states():
    with pytest.raises(ValueError, match="unknown participant state"):
        termination_rule(["prepared"])


# -- the termination protocol, one case per combination of states -----------------------------


def test_coordinator_dies_before_any_precommit_the_new_coordinator_sees_all_uncertain_and_aborts():
    sim = uncertain_cluster(seed=0)
    sim.crash(0)  # with every vote on its way to it
    sim.run_for(RUN_MS)
    assert sim.trace.values("takeover") == [1], "the lowest-ranked participant takes over"
    assert "states {1: uncertain, 2: uncertain, 3: uncertain}: abort" in sim.trace.notes(1)
    assert sim.outcome() == {0: None, 1: "abort", 2: "abort", 3: "abort"}
    sim.check()
    sim.recover(0)  # it had not written its pre-commit record, so it can only abort
    sim.run_for(RUN_MS)
    assert "recovered before pre-committing: abort" in sim.trace.notes(0)
    sim.check()


def test_precommit_reached_only_the_new_coordinator_it_precommits_the_others_then_commits():
    sim = uncertain_cluster(seed=1)
    crash_coordinator_when(sim, lambda s: in_state(s, "precommitted", 1), lose_to=(2, 3))
    sim.run_for(RUN_MS)
    assert "states {1: precommitted, 2: uncertain, 3: uncertain}: pre-commit the others, " \
           "then commit" in sim.trace.notes(1)
    sim_sends = [e.message for e in sim.trace if e.kind == "send" and e.node == 1]
    assert sim_sends.count(PreCommit(1)) == 2
    assert sim.outcome() == {0: None, 1: "commit", 2: "commit", 3: "commit"}
    sim.check()


def test_precommit_reached_only_another_participant_the_uncertain_new_coordinator_commits_too():
    sim = uncertain_cluster(seed=2)
    crash_coordinator_when(sim, lambda s: in_state(s, "precommitted", 3), lose_to=(1, 2))
    sim.run_for(RUN_MS)
    assert "states {1: uncertain, 2: uncertain, 3: precommitted}: pre-commit the others, " \
           "then commit" in sim.trace.notes(1)
    assert sim.outcome() == {0: None, 1: "commit", 2: "commit", 3: "commit"}
    sim.check()


def test_docommit_reached_one_participant_its_committed_state_settles_it():
    sim = threepc.cluster(3, seed=3)
    sim.run_until(lambda s: in_state(s, "precommitted", 1, 2, 3))
    crash_coordinator_when(sim, lambda s: in_state(s, "committed", 3), lose_to=(1, 2))
    sim.run_for(RUN_MS)
    assert "3 has committed: commit" in sim.trace.notes(1)
    assert sim.outcome() == {0: "commit", 1: "commit", 2: "commit", 3: "commit"}
    sim.check()


def test_abort_reached_one_participant_its_aborted_state_settles_it():
    sim = threepc.cluster(3, seed=4, votes={3: "no"})
    # 3's no makes the coordinator abort; its Abort reaches 2 but not 1, and it dies.
    crash_coordinator_when(sim, lambda s: in_state(s, "aborted", 2) and in_state(s, "uncertain", 1),
                           lose_to=(1,))
    sim.run_for(RUN_MS)
    assert sim.trace.values("takeover") == [1]
    assert [n for n in sim.trace.notes(1) if n.endswith(": abort")] in (
        ["2 has aborted: abort"], ["3 has aborted: abort"])
    assert sim.outcome() == {0: "abort", 1: "abort", 2: "abort", 3: "abort"}
    sim.check()


def test_cascading_failure_the_next_participant_takes_over_from_a_dead_new_coordinator():
    sim = uncertain_cluster(seed=5)
    crash_coordinator_when(sim, lambda s: in_state(s, "precommitted", 1), lose_to=(2, 3))
    # New coordinator 1 pre-commits 2 and dies before anyone commits.
    for dst in (3,):
        sim.cut_link(1, dst)
    sim.run_until(lambda s: in_state(s, "precommitted", 2))
    sim.crash(1)
    sim.restore_link(1, 3)
    sim.run_for(RUN_MS)
    assert sim.trace.values("takeover") == [1, 2]
    assert "coordinator 1 is gone: takes over (termination protocol)" in sim.trace.notes(2)
    assert "states {2: precommitted, 3: uncertain}: pre-commit the others, then commit" \
        in sim.trace.notes(2)
    assert sim.outcome() == {0: None, 1: None, 2: "commit", 3: "commit"}
    sim.check()
    sim.recover(1)  # recovered pre-committed: it asks, and learns
    sim.run_for(RUN_MS)
    assert sim.outcome()[1] == "commit"
    sim.check()


def test_a_late_precommit_from_a_deposed_coordinator_is_ignored():
    """Once a participant has reported its state to new coordinator 1, nothing from coordinator
    0 may change that state: 1 decides on what was reported."""
    node = Participant(2, (0, 1, 2, 3), {}, "yes")
    node.on_message(0.0, 0, CanCommit())
    reply = node.on_message(1.0, 1, StateRequest(1))
    assert reply.sends == [(1, StateReply(1, "uncertain"))]
    late = node.on_message(2.0, 0, PreCommit(0))
    assert node.state == "uncertain" and late.sends == [] and late.persist == {}
    assert late.notes[0][0] == "ignores PreCommit from deposed coordinator 0"


def test_a_participant_that_could_not_answer_tells_the_asker_once_it_knows():
    node = Participant(2, (0, 1, 2, 3), {}, "yes")
    node.on_message(0.0, 0, CanCommit())
    from zablib.protocols.threepc import DecisionRequest

    assert node.on_message(1.0, 3, DecisionRequest()).sends == []
    assert node.on_message(2.0, 1, DoCommit(1)).sends == [(3, DoCommit(2))]


def test_after_a_total_failure_3pc_blocks_until_every_node_is_back():
    """Skeen 1981: 3PC is non-blocking while some site is up; after a total failure a recovered
    site that does not know the outcome must wait, here until all are back and can pool their
    durable states."""
    sim = threepc.cluster(2, seed=6)
    sim.run_until(lambda s: in_state(s, "precommitted", 1, 2))
    for i in (0, 1, 2):
        sim.crash(i)
    sim.recover(2)
    sim.run_for(RUN_MS)
    assert sim.blocked() == [2]
    assert sim.nodes[2].status() == "participant precommitted, blocked"
    sim.recover(0)  # it wrote its pre-commit record, but no decision: it asks too
    sim.run_for(RUN_MS)
    assert sim.outcome() == {0: None, 1: None, 2: None}, "1 is still down: it might know"
    sim.recover(1)
    sim.run_for(RUN_MS)
    assert sim.outcome() == {0: "commit", 1: "commit", 2: "commit"}
    assert any(n == "every node recovered undecided: commit" for i in (0, 1, 2)
               for n in sim.trace.notes(i))
    sim.check()


def test_a_recovered_participant_keeps_asking_everyone_so_a_peer_that_learns_later_can_tell_it():
    """The hole 2PC had (issue 11) is not in 3PC's recovery: a node that recovers undecided asks
    every other node again every RETRY_MS, the ones that could not answer before too. 2 had
    promised to tell 1 and forgot the promise in a restart; 2 then learns the abort from the
    returning coordinator, whose copy for 1 is lost before it crashes again. 1 learns it from 2
    at its next question."""
    sim = threepc.cluster(2, seed=2)
    sim.run_until(lambda s: in_state(s, "uncertain", 1, 2))
    sim.crash(0)  # before any PreCommit: nobody can have committed
    sim.crash(1)
    sim.recover(1)  # recovered uncertain: it only asks
    sim.run_until(lambda s: s.delivered(threepc.DecisionRequest, 2, src=1), what="1 asking 2")
    assert 1 in sim.nodes[2].askers, "2 cannot answer yet: it promises to tell"
    sim.crash(2)
    sim.recover(2)  # the promise is gone
    sim.cut_link(0, 1)
    sim.recover(0)  # no pre-commit record: abort, and tell everyone ...
    sim.crash(0)  # ... but only the copy for 2 gets out
    sim.restore_link(0, 1)
    sim.run_until(lambda s: s.nodes[2].decision is not None, what="2 learning the abort")
    assert sim.outcome() == {0: "abort", 1: None, 2: "abort"}
    sim.run_for(RETRY_MS + 20)
    assert sim.outcome() == {0: "abort", 1: "abort", 2: "abort"}
    assert "learns abort from 2" in sim.trace.notes(1)
    sim.check()


# -- the source note's scenarios ---------------------------------------------------------------------


def test_scenario_note_correct_3pc_commits_everywhere_where_the_note_feared_a_split():
    sim = threepc.scenario_note()
    assert sim.outcome() == {0: "commit", 1: "commit", 2: "commit"}
    assert sim.crashed == frozenset({0, 1})
    assert "no Ack from 1: taken for crashed; all voted yes: commit" in sim.trace.notes(0)
    assert sim.trace.values("takeover") == [2]
    assert "states {2: precommitted}: commit" in sim.trace.notes(2)
    sim.check()


def test_scenario_wrong_variant_splits_with_crashes_alone():
    sim = threepc.scenario_wrong_variant()
    assert sim.variant == "abort-after-precommit"
    assert sim.outcome() == {0: "abort", 1: "abort", 2: "commit"}
    assert not sim.partition_intervals and not sim.network.default.loss
    assert "no Ack from 1 in time: abort (WRONG)" in sim.trace.notes(0)
    assert "ignores abort from 0: already committed" in sim.trace.notes(2)
    with pytest.raises(InvariantViolation) as broken:
        sim.check()
    assert broken.value.invariant == "agreement"
    assert broken.value.detail == "node 0 decided 'abort' but node 2 decided 'commit'"


def test_scenario_partition_correct_3pc_splits_its_decision():
    sim = threepc.scenario_partition()
    assert sim.outcome() == {0: "commit", 1: "commit", 2: "abort", 3: "abort"}
    assert sim.crashed == frozenset(), "nobody crashed: each side took the other for dead"
    assert sim.trace.values("takeover") == [2]
    assert "states {2: uncertain, 3: uncertain}: abort" in sim.trace.notes(2)
    with pytest.raises(InvariantViolation, match="agreement violated"):
        sim.check()


def test_same_seed_same_run():
    for scenario in (threepc.scenario_note, threepc.scenario_wrong_variant, threepc.scenario_partition):
        assert scenario(seed=3).trace.describe() == scenario(seed=3).trace.describe()


# -- input ----------------------------------------------------------------------------------------


def test_a_cluster_takes_another_termination_rule_through_its_door():
    """``termination_rule=`` hands the new coordinator a rule of the caller's (an exercise's
    answer): here one that aborts whenever it is asked, which is safe but throws away the
    commit that Skeen's rule would save."""
    asked = []

    def always_abort(states):
        asked.append(list(states))
        return "abort"

    sim = uncertain_cluster(seed=1, termination_rule=always_abort)
    crash_coordinator_when(sim, lambda s: in_state(s, "precommitted", 1), lose_to=(2, 3))
    sim.run_for(RUN_MS)
    assert asked == [["precommitted", "uncertain", "uncertain"]]
    assert sim.outcome() == {0: None, 1: "abort", 2: "abort", 3: "abort"}
    with pytest.raises(ValueError, match="termination_rule must be a function of the states"):
        threepc.cluster(2, termination_rule="skeen")


def test_wrong_is_an_alias_of_abort_after_precommit():
    assert threepc.cluster(2, variant="wrong").variant == "abort-after-precommit"


@pytest.mark.parametrize("kwargs, message", [
    ({"participants": 0}, "participants must be a positive int"),
    ({"participants": 2, "variant": "optimistic"}, "unknown 3PC variant 'optimistic'"),
    ({"participants": 2, "votes": {9: "no"}}, "unknown node 9; participants are 1..2"),
    ({"participants": 2, "votes": {2: "maybe"}}, "vote 'maybe' of node 2 must be 'yes' or 'no'"),
])
def test_bad_input_is_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        threepc.cluster(**kwargs)

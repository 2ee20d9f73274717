"""Two-phase commit (Gray 1978, "Notes on Data Base Operating Systems", §5.8.3; the cooperative
termination protocol as in Bernstein, Hadzilacos and Goodman 1987, §7.4): it commits and aborts
correctly, survives a coordinator crash once the coordinator recovers, and in between a prepared
participant that cannot reach anyone who knows the outcome is blocked, as the source note says.
"""

from __future__ import annotations

import pytest

from zablib import InvariantViolation
from zablib.network import constant
from zablib.protocols import commit, twopc
from zablib.protocols.twopc import TIMEOUT_MS, Decision, Prepare, Vote

#: The default links deliver in 1-10 ms.
MAX_DELAY_MS = 10.0


def prepared(sim, *nodes) -> bool:
    return all(sim.nodes[i].state == "prepared" for i in nodes)


def lose_next_messages(sim, src: int, *dsts: int) -> None:
    """From now on the links src -> dsts lose what is sent (a crash in the middle of sending)."""
    for dst in dsts:
        sim.cut_link(src, dst)


def restore_links(sim, src: int, *dsts: int) -> None:
    for dst in dsts:
        sim.restore_link(src, dst)


# -- failure-free runs -------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_every_participant_votes_yes_so_everyone_commits(seed):
    sim = twopc.cluster(3, seed=seed)
    sim.run()
    assert sim.outcome() == {0: "commit", 1: "commit", 2: "commit", 3: "commit"}
    assert sim.states() == {0: "committed", 1: "committed", 2: "committed", 3: "committed"}
    assert sim.blocked() == []
    assert sim.trace.values("decision", node=0) == ["commit"]
    sim.check()


def test_one_no_vote_aborts_everyone_and_the_no_voter_knows_at_once():
    sim = twopc.cluster(3, seed=1, votes={2: "no"})
    sim.run()
    assert sim.outcome() == {0: "abort", 1: "abort", 2: "abort", 3: "abort"}
    assert "2 voted no: abort" in sim.trace.notes(0)
    # The no voter wrote its abort when it voted, before the coordinator decided anything.
    vote_no = next(e for e in sim.trace if e.kind == "send" and e.message == Vote(False))
    decided = next(e for e in sim.trace if e.kind == "note" and e.tag == "decision" and e.node == 0)
    assert vote_no.seq < decided.seq
    assert sim.storage[2] == {"vote": "no", "decision": "abort"}
    sim.check()


def test_the_coordinator_writes_its_decision_before_any_participant_can_hear_it():
    sim = twopc.cluster(2, seed=2)
    sim.run_until(lambda s: s.trace.of_kind("note") and any(
        e.tag == "decision" and e.node == 0 for e in s.trace.of_kind("note")))
    # The decision event has just been handled: its messages are in flight, its record on disk.
    assert sim.storage[0]["decision"] == "commit"
    assert sim.outcome()[1] is None and sim.outcome()[2] is None


def test_votes_random_is_drawn_from_the_seed_and_decides_accordingly():
    seen = set()
    for seed in range(8):
        sim = twopc.cluster(3, seed=seed, votes="random")
        again = twopc.cluster(3, seed=seed, votes="random")
        assert sim.votes == again.votes
        sim.run()
        expected = "commit" if set(sim.votes.values()) == {"yes"} else "abort"
        assert set(sim.outcome().values()) == {expected}
        seen.add(expected)
    assert seen == {"commit", "abort"}, "eight seeds should show both outcomes"


# -- timeouts ------------------------------------------------------------------------------------


def test_a_participant_that_never_gets_prepare_aborts_on_its_own_and_so_does_the_coordinator():
    sim = twopc.cluster(2, seed=0)
    sim.crash(2)
    sim.recover(2)  # restarted at once: the Prepare on its way is lost with the old incarnation
    sim.run()
    assert "no Prepare in time: aborts unilaterally" in sim.trace.notes(2)
    assert "no vote from 2 in time: abort" in sim.trace.notes(0)
    assert sim.outcome() == {0: "abort", 1: "abort", 2: "abort"}
    sim.check()


# -- coordinator crashes ---------------------------------------------------------------------------


def test_coordinator_crash_before_deciding_blocks_the_yes_voters_until_it_recovers():
    """Gray §5.8.3.3: a participant in the prepared state can only wait."""
    sim = twopc.cluster(2, seed=3)
    sim.run_until(lambda s: prepared(s, 1, 2))
    sim.crash(0)  # the votes are on their way to a dead coordinator
    sim.run_for(10 * TIMEOUT_MS)
    assert sim.outcome() == {0: None, 1: None, 2: None}
    assert sim.blocked() == [1, 2], "each asked the other, who is just as uncertain"
    assert sim.trace.values("ask") == [None, None]
    assert any(e.kind == "deliver" and type(e.message).__name__ == "Uncertain" for e in sim.trace)
    sim.check()  # blocked is safe
    sim.recover(0)
    sim.run_for(2 * TIMEOUT_MS)
    assert "recovered undecided: presumed abort" in sim.trace.notes(0)
    assert sim.outcome() == {0: "abort", 1: "abort", 2: "abort"}
    assert sim.blocked() == []
    sim.check()


def test_a_coordinator_that_crashed_after_writing_commit_resends_it_when_it_recovers():
    sim = twopc.cluster(2, seed=4)
    sim.run_until(lambda s: prepared(s, 1, 2))
    lose_next_messages(sim, 0, 1, 2)  # it dies while sending: neither copy of commit leaves
    sim.run_until(lambda s: s.storage[0].get("decision") is not None)
    sim.crash(0)
    restore_links(sim, 0, 1, 2)
    sim.run_for(10 * TIMEOUT_MS)
    assert sim.outcome() == {0: "commit", 1: None, 2: None}
    assert sim.blocked() == [1, 2]
    sim.recover(0)
    sim.run_for(2 * TIMEOUT_MS)
    assert sim.trace.values("resend", node=0) == ["commit"]
    assert sim.outcome() == {0: "commit", 1: "commit", 2: "commit"}
    sim.check()


# -- cooperative termination ------------------------------------------------------------------------


def test_cooperative_termination_a_peer_that_knows_the_outcome_unblocks_the_others():
    sim = twopc.cluster(3, seed=5)
    sim.run_until(lambda s: prepared(s, 1, 2, 3))
    lose_next_messages(sim, 0, 2, 3)  # only participant 1 will hear the decision
    sim.run_until(lambda s: s.nodes[1].decision is not None)
    sim.crash(0)
    restore_links(sim, 0, 2, 3)
    sim.run_for(6 * TIMEOUT_MS)
    assert sim.outcome() == {0: "commit", 1: "commit", 2: "commit", 3: "commit"}
    for i in (2, 3):  # from 1, or from the other one, whom 1 told first: never from the coordinator
        learned = [n for n in sim.trace.notes(i) if n.startswith("learns")]
        assert learned in (["learns commit from 1"], [f"learns commit from {5 - i}"])
    sim.check()


def test_cooperative_termination_a_peer_that_has_not_voted_aborts_and_says_so():
    sim = twopc.cluster(2, seed=6)
    sim.run_until(lambda s: prepared(s, 1))
    assert sim.nodes[2].state == "working", "with this seed, 2's Prepare is still on its way"
    # Participant 2 restarts before its Prepare arrives, and the coordinator crashes.
    sim.crash(2)
    sim.recover(2)
    sim.crash(0)
    sim.run_for(6 * TIMEOUT_MS)
    assert sim.outcome() == {0: None, 1: "abort", 2: "abort"}
    notes_2 = sim.trace.notes(2)
    assert ("asked by 1 before voting: aborts unilaterally" in notes_2
            or "no Prepare in time: aborts unilaterally" in notes_2)
    assert "learns abort from 2" in sim.trace.notes(1)
    sim.check()


def crash_coordinator_while_it_sends(sim, *lost_to: int) -> None:
    """Run until the coordinator has written its decision, losing its copies to ``lost_to``
    (it dies in the middle of the broadcast); then crash it."""
    lose_next_messages(sim, 0, *lost_to)
    sim.run_until(lambda s: s.storage[0].get("decision") is not None)
    sim.crash(0)
    restore_links(sim, 0, *lost_to)


def test_a_peer_that_restarted_and_then_learned_the_outcome_is_asked_again():
    """Cooperative termination (Bernstein, Hadzilacos and Goodman 1987, §7.4) must keep asking:
    an uncertain peer's promise to pass the outcome on lives in its volatile memory, and a
    restart forgets it.

    2 asks 1, who is as uncertain as 2 and remembers to tell it later. 1 restarts and forgets
    that; the coordinator comes back, re-sends its commit, and dies again before the copy for 2
    leaves. Now 1, live and connected to 2, knows the outcome: 2 must learn it by asking 1 again.
    """
    sim = twopc.cluster(2, seed=4)
    sim.run_until(lambda s: prepared(s, 1, 2))
    crash_coordinator_while_it_sends(sim, 1, 2)
    sim.run_until(lambda s: s.delivered(twopc.Uncertain, 2, src=1), what="1 telling 2 it is uncertain")
    sim.crash(1)
    sim.recover(1)  # prepared again, and it has forgotten that 2 asked
    sim.run_for(TIMEOUT_MS)
    lose_next_messages(sim, 0, 2)
    sim.recover(0)  # re-sends commit: the copy for 1 arrives, the copy for 2 is lost ...
    sim.crash(0)  # ... and the coordinator is gone again
    restore_links(sim, 0, 2)
    sim.run_until(lambda s: s.nodes[1].decision is not None, what="1 learning the outcome")
    assert sim.outcome() == {0: "commit", 1: "commit", 2: None}
    sim.run_for(commit.RETRY_MS + 2 * MAX_DELAY_MS)  # one more round of questions, and its answer
    assert sim.outcome() == {0: "commit", 1: "commit", 2: "commit"}
    assert "learns commit from 1" in sim.trace.notes(2)
    assert sim.blocked() == []
    sim.check()


def test_a_lost_answer_does_not_leave_the_asker_blocked():
    """The peer that promised to pass the outcome on does so once, and that message is lost:
    the asker keeps asking, and the peer's next answer is the outcome."""
    sim = twopc.cluster(2, seed=4)
    sim.run_until(lambda s: prepared(s, 1, 2))
    sim.configure_links(0, 1, delay=constant(4 * TIMEOUT_MS))  # 1's copy of the decision is slow
    crash_coordinator_while_it_sends(sim, 2)
    sim.run_until(lambda s: s.delivered(twopc.Uncertain, 2, src=1), what="1 telling 2 it is uncertain")
    lose_next_messages(sim, 1, 2)
    sim.run_until(lambda s: s.nodes[1].decision is not None, what="1 learning the outcome")
    assert sim.dropped(Decision, 2), "1 passed the outcome on to 2, and it was lost"
    restore_links(sim, 1, 2)
    sim.run_for(commit.RETRY_MS + 2 * MAX_DELAY_MS)
    assert sim.outcome() == {0: "commit", 1: "commit", 2: "commit"}
    assert "learns commit from 1" in sim.trace.notes(2)
    sim.check()


def test_a_blocked_participant_asks_each_peer_at_most_once_per_retry_period():
    """Asking again and again is bounded: one question per peer per ``RETRY_MS``."""
    sim = twopc.cluster(3, seed=3)
    sim.run_until(lambda s: prepared(s, 1, 2, 3))
    sim.crash(0)
    sim.run_for(commit.DECISION_TIMEOUT_MS + MAX_DELAY_MS)
    assert sim.blocked() == [1, 2, 3]
    start = sim.now
    sim.run_for(10 * commit.RETRY_MS)
    for asker in (1, 2, 3):
        for peer in (0, 1, 2, 3):
            if peer != asker:
                asked = [e for e in sim.trace if e.kind == "send" and e.time >= start
                         and e.node == asker and e.peer == peer
                         and isinstance(e.message, twopc.DecisionRequest)]
                assert len(asked) == 10, (asker, peer)
    assert sim.outcome() == {0: None, 1: None, 2: None, 3: None}
    sim.check()


# -- the source note's scenario ---------------------------------------------------------------------


def test_scenario_note_b_is_blocked_because_only_dead_nodes_know_the_outcome():
    sim = twopc.scenario_note()
    assert sim.votes == {1: "no", 2: "yes"}
    assert sim.outcome() == {0: "abort", 1: "abort", 2: None}
    assert sim.blocked() == [2]
    assert sim.crashed == frozenset({0, 1})
    assert sim.delivered(Decision, 1, src=0), "the abort reached A"
    assert sim.dropped(Decision, 2), "B's copy was lost"
    assert sim.nodes[2].status() == "participant prepared, blocked"
    sim.check()


@pytest.mark.parametrize("who", [0, 1])
def test_scenario_note_ends_safely_when_the_coordinator_or_a_comes_back(who):
    sim = twopc.scenario_note()
    sim.recover(who)
    sim.run_for(3 * TIMEOUT_MS)
    assert sim.outcome() == {0: "abort", 1: "abort", 2: "abort"}
    assert f"learns abort from {who}" in sim.trace.notes(2)
    sim.check()


def test_same_seed_same_run():
    assert twopc.scenario_note(seed=7).trace.describe() == twopc.scenario_note(seed=7).trace.describe()
    a, b = twopc.cluster(4, seed=9, votes="random"), twopc.cluster(4, seed=9, votes="random")
    a.run()
    b.run()
    assert a.trace.describe() == b.trace.describe()


# -- invariants and input --------------------------------------------------------------------------


def test_validity_fails_when_a_commit_lacks_a_yes_vote():
    commit.check_validity({0: {"decision": "commit"}, 1: {"vote": "yes"}, 2: {"vote": "yes"}})
    with pytest.raises(InvariantViolation) as broken:
        commit.check_validity({0: {"decision": "commit"}, 1: {"vote": "yes"}, 2: {}})
    assert broken.value.invariant == "validity"
    assert broken.value.detail == "node 0 committed but participant 2 never voted"


def test_check_reports_disagreement_read_from_stable_storage():
    sim = twopc.cluster(2, seed=0)
    sim.run()
    sim.storage[2]["decision"] = "abort"  # what a buggy participant might have written
    with pytest.raises(InvariantViolation) as broken:
        sim.check()
    assert broken.value.invariant == "agreement"


def test_prepare_repeated_gets_the_same_vote():
    node = twopc.Participant(1, (0, 1, 2), {}, "yes")
    first = node.on_message(0.0, 0, Prepare())
    again = node.on_message(1.0, 0, Prepare())
    assert first.sends == again.sends == [(0, Vote(True))]
    assert first.persist == {"vote": "yes"} and again.persist == {}


@pytest.mark.parametrize("kwargs, message", [
    ({"participants": 0}, "participants must be a positive int"),
    ({"participants": 2, "votes": {9: "yes"}}, "unknown node 9; participants are 1..2"),
    ({"participants": 2, "votes": {1: "maybe"}}, "vote 'maybe' of node 1 must be 'yes' or 'no'"),
    ({"participants": 2, "votes": "sometimes"}, "votes must be a mapping, None or 'random'"),
    ({"participants": 2, "link": "fast"}, "link must be a LinkConfig"),
])
def test_bad_input_is_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        twopc.cluster(**kwargs)

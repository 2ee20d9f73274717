"""The exercises' harness: a student's rule is plugged in through documented doors, runs the real
fault schedules, and is judged on every decision it takes and on the safety of the run."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from zablib import harness
from zablib.protocols import raft, zab
from zablib.protocols.raft import Entry
from zablib.sim import SimulationError


# -- Raft rules through the fault campaign ------------------------------------------------------
def test_figure_2_agrees_with_itself_and_every_run_is_safe():
    # Fresh copies of Figure 2's rules: the recorder must really call them and compare the
    # answers (given the reference functions themselves, it would skip the second call).
    copies = raft.Rules(**{name: (lambda rule: lambda *args: rule(*args))(getattr(raft.FIGURE2, name))
                           for name in ("grant_vote", "append_entries", "backoff_hint", "advance_commit")})
    trial = harness.raft_rule_trial(copies, seeds=range(12))
    counts = {rule: trial.count(rule) for rule in
              ("grant_vote", "append_entries", "backoff_hint", "advance_commit")}
    assert all(n > 20 for n in counts.values()), counts
    assert {seed for seed, _ in trial.decisions} == set(range(12))
    assert trial.violations == []
    for rule in counts:
        assert trial.disagreements(rule) == []
        trial.assert_agrees(rule)
    trial.assert_safe()


def test_votes_without_the_up_to_date_check_disagree_and_elect_a_leader_that_lacks_commits():
    """Raft §5.4.1: the broken rule grants votes Figure 2 refuses; in schedule 0 such a leader
    overwrites committed entries, which leader completeness catches. The trial stops there."""
    trial = harness.raft_rule_trial(raft.Rules(grant_vote=raft.grant_vote_ignoring_logs),
                                    seeds=range(30))
    assert trial.seeds == [0]
    wrong = trial.disagreements("grant_vote")
    assert wrong and all((d.answer, d.expected) == (True, False) for _, d in wrong)
    assert trial.disagreements("advance_commit") == []
    with pytest.raises(AssertionError, match=r"of \d+ decisions in 1 schedule\(s\) differ "
                                             r"from Figure 2's; the first, in schedule 0: Voter\(.*\): "
                                             r"Figure 2 refuses the vote, your rule answered True"):
        trial.assert_agrees("grant_vote")
    assert {v.invariant for _, v in trial.violations} == {"leader completeness"}
    with pytest.raises(AssertionError, match="runs broke an invariant; schedule"):
        trial.assert_safe()


def test_committing_by_counting_replicas_is_caught_on_its_decisions():
    """Figure 8: a leader that counts replicas of an earlier term's entry commits it early."""
    trial = harness.raft_rule_trial(
        raft.Rules(advance_commit=raft.advance_commit_counting_replicas), seeds=range(10))
    seed, first = trial.disagreements("advance_commit")[0]
    term, log_terms, _, commit_index, _ = first.args
    assert first.answer > first.expected == commit_index
    assert log_terms[first.answer - 1] < term
    with pytest.raises(AssertionError, match=r"leader of term \d+, log terms \[.*\], matchIndex "
                                             r"\{.*\}, commitIndex \d+, voters \[.*\]: Figure 2 "
                                             r"moves the commit index to \d+, your rule to \d+"):
        trial.assert_agrees("advance_commit")


def test_an_append_rule_that_always_truncates_is_caught_by_a_late_request():
    """Raft §5.3: only a conflict truncates; a reordered older request must not."""
    def always_truncates(log, prev_index, prev_term, entries):
        if prev_index > len(log) or (prev_index and log[prev_index - 1].term != prev_term):
            return None
        return list(log[:prev_index]) + list(entries)

    trial = harness.raft_rule_trial(raft.Rules(append_entries=always_truncates), seeds=range(6))
    _, first = trial.disagreements("append_entries")[0]
    log, *_ = first.args
    assert len(first.answer) < len(first.expected) == len(log)
    with pytest.raises(AssertionError, match=r"log \[.*\], AppendEntries\(prev=\(\d+, \d+\), "
                                             r"entries=\[.*\]\): the follower ends with \[.*\] by "
                                             r"Figure 2, by your rule it ends with"):
        trial.assert_agrees("append_entries")


def test_explain_says_what_each_rule_decided():
    vote = raft.RuleDecision("grant_vote", (raft.Voter(2, None, 1, 1), raft.VoteRequest(2, 3, 1, 1)),
                         False, True)
    assert harness.explain(vote) == (
        "Voter(term=2, voted_for=None, last_log_term=1, last_log_index=1), VoteRequest(term=2, "
        "candidate=3, last_log_term=1, last_log_index=1): Figure 2 grants the vote, your rule "
        "answered False")
    append = raft.RuleDecision("append_entries", ((Entry(1, "a"),), 1, 2, ()), (Entry(1, "a"),), None)
    assert harness.explain(append) == (
        "log [1:'a'], AppendEntries(prev=(1, 2), entries=[]): the follower rejects it by "
        "Figure 2, by your rule it ends with [1:'a']")
    hint = raft.RuleDecision("backoff_hint", ((), 3), (0, 1), (0, 1))
    assert harness.explain(hint) == "backoff_hint((), 3): Figure 2 answers (0, 1), your rule (0, 1)"


# -- Zab: a whole ensemble restarted from chosen disks ------------------------------------------
def test_random_disks_are_seeded_and_zab_shaped():
    assert harness.random_disks(3) == harness.random_disks(3)
    for seed in range(50):
        disks = harness.random_disks(seed)
        assert sorted(disks) in ([1, 2, 3], [1, 2, 3, 4, 5])
        for disk in disks.values():
            assert 1 <= disk.current_epoch <= 3
            assert disk.last_zxid[0] <= disk.current_epoch
            assert [z for z, _ in disk.history] == [(disk.last_zxid[0], k)
                                                    for k in range(1, len(disk.history) + 1)]


def test_a_restarted_ensemble_elects_the_best_vote_current_epoch_then_zxid_then_id():
    """ZooKeeper's totalOrderPredicate: everybody hears everybody's first vote before deciding."""
    for seed in range(60):
        disks = harness.random_disks(seed)
        best = max(disks, key=lambda i: (disks[i].current_epoch, disks[i].last_zxid, i))
        assert harness.restart(disks, seed) == best


def test_restart_says_when_no_leader_settles():
    with pytest.raises(SimulationError, match="a settled leader"):
        harness.restart(harness.random_disks(0), 0, limit=3)


# -- Zab: the leader's synchronisation decisions -------------------------------------------------
def test_sync_decisions_cover_diff_trunc_and_snap_and_are_choose_syncs_answers():
    decisions = harness.sync_decisions(range(40), diff_limit=2)
    modes = Counter(d.mode for d in decisions)
    assert modes["diff"] and modes["trunc"] and modes["snap"], modes
    for d in decisions:
        assert harness.sync_reference(d.leader, d.follower, 2) == (d.mode, d.point)
        assert list(d.leader) == sorted(d.leader) and list(d.follower) == sorted(d.follower)


def test_a_followers_zxids_are_rebuilt_from_its_epoch_counts():
    history = (((1, 1), "a"), ((1, 2), "b"), ((3, 1), "c"))
    assert harness.zxids_of(zab.epoch_counts(history)) == ((1, 1), (1, 2), (3, 1))
    assert harness.zxids_of(()) == ()


@pytest.mark.parametrize(("follower", "expected"), [
    ([(1, 1), (1, 2)], ("diff", (1, 2))),
    ([(1, 1), (1, 2), (1, 3)], ("trunc", (1, 2))),
    ([(1, 1), (1, 2), (3, 1)], ("trunc", (1, 2))),   # later than the leader, yet it parts at (1, 2)
    ([], ("snap", (0, 0))),
])
def test_sync_reference_answers_in_the_exercises_terms(follower, expected):
    leader = [(1, 1), (1, 2), (2, 1), (2, 2)]
    assert harness.sync_reference(leader, follower, 3) == expected


def test_random_histories_are_zab_shaped():
    """Each epoch's proposals are numbered 1, 2, 3 ... by its one leader; a follower is behind
    the leader (DIFF) or holds what the leader does not (TRUNC)."""
    rng = random.Random(5)
    shapes = Counter()
    for _ in range(500):
        leader, follower = harness.random_histories(rng)
        for history in (leader, follower):
            assert history == sorted(history)
            assert list(harness.zxids_of(zab.epoch_counts(tuple((z, None) for z in history)))) \
                == history
        shapes[harness.sync_reference(leader, follower, 100)[0]] += 1
    assert shapes["diff"] and shapes["trunc"]

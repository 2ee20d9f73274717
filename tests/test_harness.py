"""The exercises' harness: a student's rule is plugged in through documented doors, runs the real
fault schedules, and is judged on every decision it takes and on the safety of the run."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from zablib import harness
from zablib.protocols import paxos, raft, zab
from zablib.protocols.raft import Entry
from zablib.recipes.fencing import accept_token
from zablib.recipes.lock import watch_predecessor
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


# -- ZooKeeper's lock: the waiter's rule in real Lock runs ----------------------------------------
def by_number(name):
    return int(name[-10:])


def watches_the_lowest(children, mine):
    """Correct but noisy: every waiter watches the holder's node."""
    first = min(children, key=by_number)
    return None if first == mine else first


def sorts_by_name(children, mine):
    order = sorted(children)
    return None if order[0] == mine else order[order.index(mine) - 1]


def test_the_right_rule_keeps_the_lock_exclusive_live_and_quiet_under_every_fault():
    """Seven contenders, two faults per schedule; with watch_predecessor nothing goes wrong, every
    fault strikes somewhere, and a schedule repeats exactly from its seed."""
    trial = harness.lock_waiter_trial(watch_predecessor, seeds=range(12))
    assert trial.seeds == list(range(12))
    assert trial.overlaps == trial.starved == trial.herds == trial.disagreements() == []
    for check in (trial.assert_exclusive, trial.assert_progress, trial.assert_no_herd,
                  trial.assert_agrees):
        check()
    # Every release woke at most one waiter; waiters were told about every node that went.
    assert 0 < trial.wakeups <= trial.departures
    # Contenders did queue: most questions had several contenders, and none had all seven first.
    assert sum(len(d.children) > 2 for _, d in trial.decisions) > len(trial.decisions) / 2
    assert {d.expected is None for _, d in trial.decisions} == {True, False}
    again = harness.lock_waiter_trial(watch_predecessor, seeds=range(3))
    assert again.decisions == [(s, d) for s, d in trial.decisions if s < 3]


def test_each_fault_strikes_and_the_survivors_all_get_the_lock():
    struck = Counter()
    for seed in range(16):
        trial = harness.LockTrial()
        contenders = harness.lock_schedule(watch_predecessor, seed, trial)
        dead = [c for c in contenders if c.dead]
        struck["crashed"] += len(dead)
        struck["crashed holding"] += sum(c.held_at is not None for c in dead)
        struck["gave up"] += sum(c.gave_up for c in contenders)
        # A waiter whose session was ended queued again with a new node, and got the lock.
        struck["expired, then held"] += sum(c.expired and c.held_at is not None for c in contenders)
        for c in contenders:
            assert c.dead or c.gave_up or (c.held_at is not None and c.held_at <= harness.LOCK_PROGRESS_MS)
    faults = ("crashed", "crashed holding", "gave up", "expired, then held")
    assert all(struck[k] >= 3 for k in faults), struck


def test_watching_the_lowest_node_is_safe_but_wakes_the_herd():
    trial = harness.lock_waiter_trial(watches_the_lowest, seeds=range(5))
    assert trial.seeds == [0]  # the trial stops at the first schedule that went wrong
    trial.assert_exclusive()
    trial.assert_progress()
    assert trial.wakeups > trial.departures
    with pytest.raises(AssertionError, match=r"1 schedule\(s\) woke more waiters than lock nodes "
                                             r"went away; the first, in schedule 0: \d+ lock nodes "
                                             r"went away, but waiters were woken \d+ times"):
        trial.assert_no_herd()
    with pytest.raises(AssertionError, match=r"decisions were wrong; the first, in schedule 0: "
                                             r"predecessor\(\[.*\], '.*'\): the right answer is "
                                             r"'.*', your rule answered '.*'"):
        trial.assert_agrees()


def test_sorting_by_name_lets_two_contenders_hold_the_lock():
    """The prefixes (session ids) do not sort like the sequence numbers: a waiter finds itself
    first by name while an earlier contender holds the lock."""
    trial = harness.lock_waiter_trial(sorts_by_name, seeds=range(5))
    with pytest.raises(AssertionError, match=r"breach\(es\) of mutual exclusion; the first, in "
                                             r"schedule \d+: c\d \(token \d+\) got the lock at "
                                             r"[\d.]+ ms while c\d \(token \d+\) still held it"):
        trial.assert_exclusive()


def test_a_rule_that_raises_or_answers_its_own_node_leaves_contenders_without_the_lock():
    def raises(children, mine):
        raise NotImplementedError

    trial = harness.lock_waiter_trial(raises, seeds=range(3))
    assert trial.seeds == [0] and trial.holds == 0
    with pytest.raises(AssertionError, match=r"7 contender\(s\) never got the lock; the first, in "
                                             r"schedule 0: c\d had not held the lock after 3000 ms: "
                                             r"NotImplementedError"):
        trial.assert_progress()
    assert "your rule raised NotImplementedError" in trial.disagreements()[0][1].explain()

    def itself_when_first(children, mine):
        return watches_the_lowest(children, mine) or mine

    trial = harness.lock_waiter_trial(itself_when_first, seeds=range(3))
    with pytest.raises(AssertionError, match=r"the predecessor rule answered '.*'; it must answer "
                                             r"None or another contender's node"):
        trial.assert_progress()


# -- the fenced resource's check on a paused lock holder ------------------------------------------
def test_accept_token_refuses_exactly_the_paused_holders_late_writes():
    """A's session is granted 400 ms: paused 0 or 250 ms it keeps the lock and both its writes
    are current; paused longer it wakes after B took the lock, and its second write is stale."""
    trial = harness.fencing_trial(accept_token)
    assert len(trial.runs) == len(harness.FENCING_RUNS) == 30 and trial.errors == []
    assert len(trial.writes) == 4 * 30
    stale = {(w.run, w.client, w.value) for w in trial.writes if w.stale}
    assert stale == {(run, "A", "A2") for run in harness.FENCING_RUNS if run[1] >= 450}
    assert trial.stale_accepted() == trial.fresh_refused() == []
    trial.assert_refuses_stale()
    trial.assert_accepts_fresh()
    trial.assert_agrees()
    assert {(d.token, d.highest_seen) for d in trial.decisions} == {
        (0, None), (0, 0), (1, 0), (1, 1), (0, 1)}


def test_a_resource_without_fencing_accepts_the_stale_write():
    trial = harness.fencing_trial(lambda token, highest: True, runs=[(0, 600.0, 300.0)])
    trial.assert_accepts_fresh()
    with pytest.raises(AssertionError, match=r"1 write\(s\) of a stale holder accepted; the first: "
                                             r"run seed=0, A paused 600 ms, B holding 300 ms: A "
                                             r"wrote A2 with token 0 at [\d.]+ ms \(a stale holder\), "
                                             r"and the resource accepted it"):
        trial.assert_refuses_stale()
    with pytest.raises(AssertionError, match=r"check\(0, 1\) should be False, your check answered True"):
        trial.assert_agrees()


def test_a_strict_check_refuses_the_holders_second_write():
    trial = harness.fencing_trial(lambda token, highest: highest is None or token > highest,
                                  runs=[(0, 0.0, 100.0)])
    trial.assert_refuses_stale()
    with pytest.raises(AssertionError, match=r"2 write\(s\) of the current holder refused; the "
                                             r"first: .*A wrote A2 with token 0 .*\(a current "
                                             r"holder\), and the resource refused it"):
        trial.assert_accepts_fresh()


def test_a_check_that_raises_fails_every_run_and_says_why():
    trial = harness.fencing_trial(lambda token, highest: token >= highest, runs=harness.FENCING_RUNS[:2])
    assert trial.writes == [] and len(trial.errors) == 2
    for check in (trial.assert_refuses_stale, trial.assert_accepts_fresh):
        with pytest.raises(AssertionError, match=r"2 run\(s\) failed; the first: seed=0, A paused 0 ms: "
                                                 r"TypeError: '>=' not supported"):
            check()
    with pytest.raises(AssertionError, match=r"check\(0, None\) should be True, your check raised TypeError"):
        trial.assert_agrees()


# -- Paxos's acceptor rules through the fault campaign ----------------------------------------
def test_the_reference_acceptor_agrees_with_itself_in_multi_paxos_and_single_decree_runs():
    copies = paxos.Rules(on_prepare=lambda s, m: paxos.on_prepare(s, m),
                         on_accept=lambda s, m: paxos.on_accept(s, m))
    trial = harness.paxos_rule_trial(copies, seeds=range(10))
    assert trial.count("on_prepare") > 50 and trial.count("on_accept") > 150
    assert {seed for seed, _ in trial.decisions} == set(range(10))
    assert trial.violations == []
    trial.assert_agrees("on_prepare")
    trial.assert_agrees("on_accept")


def test_a_promise_that_reports_nothing_is_caught_and_explained():
    def forgetful_report(state, prepare):
        step = paxos.on_prepare(state, prepare)
        if isinstance(step.reply, paxos.Promise) and step.reply.accepted:
            return step._replace(reply=("promise", prepare.ballot, ()))
        return step

    trial = harness.paxos_rule_trial(paxos.Rules(on_prepare=forgetful_report))
    with pytest.raises(AssertionError, match="differ from Paxos Made Simple's; the first, in "
                                             "schedule \\d+: an acceptor with promised"):
        trial.assert_agrees("on_prepare")
    seed, first = trial.disagreements("on_prepare")[0]
    text = harness.explain(first)
    assert "by the reference rule it changes its state to" in text and "accepted=[1:" in text
    assert "by your rule it" in text and "answers Promise(" in text

"""Zab (Junqueira, Reed, Serafini, "Zab: High-performance broadcast for primary-backup systems",
DSN 2011) as ZooKeeper runs it: fast leader election, discovery, synchronisation with DIFF, TRUNC
or SNAP, and broadcast. Every story ends with ``sim.check()``, which checks the properties of the
paper's problem statement (integrity, total order, agreement, local and global primary order,
primary integrity) over the whole run; the broken variants show that each check bites.
"""

from __future__ import annotations

import pytest
from zab_settle import settle

from zablib import InvariantViolation, faults
from zablib.coord import Ensemble
from zablib.core import Output
from zablib.network import LinkConfig, constant, lognormal, uniform
from zablib.protocols import raft, zab
from zablib.protocols.zab import (
    Ack,
    AckEpoch,
    Diff,
    FollowerInfo,
    NewEpoch,
    NewLeader,
    Proposal,
    Timers,
    ZabServer,
    check_zab,
    choose_sync,
)

#: The default timers (a 20 ms tick, initLimit 10, syncLimit 5).
INIT_MS, SYNC_MS = Timers().init_ms, Timers().sync_ms


def run_until_event(sim, predicate) -> None:
    """``sim.run_until`` an event of the trace from now on (a delivery, or a note it caused)
    satisfies ``predicate``."""
    seen = len(sim.trace)

    def happened(s) -> bool:
        nonlocal seen
        found = any(predicate(e) for e in s.trace[seen:])
        seen = len(s.trace)
        return found

    sim.run_until(happened, what="the awaited event")


def everyone(sim) -> dict[int, list]:
    return {i: sim.committed(i) for i in sim.node_ids}


# -- phase 0: fast leader election --------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_a_fresh_ensemble_elects_the_highest_id_because_all_histories_are_equal(seed):
    sim = zab.cluster(5, seed=seed)
    assert settle(sim) == 5
    assert sim.trace.values("elected") == [5] * 5
    assert [sim.nodes[i].role for i in sim.node_ids] == ["following"] * 4 + ["leading"]
    assert {sim.nodes[i].epoch for i in sim.node_ids} == {1}
    sim.check()


def test_election_prefers_the_longest_history_over_the_highest_id():
    """ZooKeeper's FLE orders votes by (epoch, last zxid, id): 3 has the highest id but a stale
    history, so 2, which saw epoch 2's transaction, wins (paper, Phase 1: the prospective leader
    must hold every committed proposal)."""
    sim = zab.cluster(3, seed=1)
    assert settle(sim) == 3
    sim.submit("a")
    sim.run_for(50)
    sim.isolate(3)
    sim.run_for(SYNC_MS + INIT_MS)
    sim.crash(3)
    assert settle(sim) == 2
    assert sim.submit("x")
    sim.run_for(50)
    for i in (1, 2):
        sim.crash(i)
    sim.heal()
    for i in (1, 2, 3):
        sim.recover(i)
    assert settle(sim) == 2
    assert sim.nodes[2].epoch == 3
    assert everyone(sim) == {1: ["a", "x"], 2: ["a", "x"], 3: ["a", "x"]}
    sim.check()


# -- phase 3: broadcast ---------------------------------------------------------------------------


def test_broadcast_commits_in_zxid_order_on_every_server():
    """Paper, Phase 3 (broadcast): PROPOSAL, ACK from a quorum, COMMIT; deliveries follow zxid order."""
    sim = zab.cluster(3, seed=2)
    leader = settle(sim)
    for txn in "abcde":
        assert sim.submit(txn)
    sim.run_for(100)
    assert everyone(sim) == {i: list("abcde") for i in (1, 2, 3)}
    assert sim.trace.values("propose") == [((1, k), t) for k, t in enumerate("abcde", start=1)]
    assert sim.nodes[leader].last_zxid == (1, 5)
    assert sim.trace.values("deliver", node=1) == sim.trace.values("propose")
    sim.check()


def test_a_single_server_is_its_own_quorum():
    sim = zab.cluster(1)
    assert settle(sim) == 1
    assert sim.submit("solo")
    assert sim.committed(1) == ["solo"]
    sim.check()


def test_submit_without_a_leader_returns_false():
    sim = zab.cluster(3, seed=0)
    assert sim.leader() is None, "nobody leads before the election has run"
    assert sim.submit("too early") is False
    settle(sim)
    sim.crash(sim.leader())
    assert sim.submit("orphan") is False


def test_commit_needs_a_quorum_so_a_leader_alone_commits_nothing():
    sim = zab.cluster(3, seed=3)
    leader = settle(sim)
    sim.isolate(leader)
    assert sim.submit("lonely")
    sim.run_for(SYNC_MS / 2)
    assert sim.committed(leader) == []
    sim.check()


# -- crash recovery -------------------------------------------------------------------------------


def test_a_proposal_the_leader_committed_survives_the_leaders_crash():
    """Paper, agreement: a transaction delivered by one server is delivered by all. The leader
    delivers 'b' and dies before its COMMIT leaves; the followers logged 'b' and the new leader,
    elected for the longest history, commits it."""
    sim = zab.cluster(3, seed=4)
    old = settle(sim)
    sim.submit("a")
    sim.run_for(50)
    sim.submit("b")
    run_until_event(sim, lambda e: e.kind == "note" and e.tag == "deliver" and e.node == old
                    and e.value[1] == "b")
    sim.crash(old)
    assert all("b" not in sim.committed(i) for i in sim.node_ids if i != old)
    new = settle(sim)
    assert new != old
    assert sim.committed(new) == ["a", "b"]
    sim.recover(old)
    settle(sim)
    assert everyone(sim) == {i: ["a", "b"] for i in (1, 2, 3)}
    sim.check()
    # The same run, command by command, with its trace: tests/golden/zab_leader_crash_after_commit.txt


def crash_leader_with_an_unsent_proposal(sim):
    """The leader logs 'b' and crashes while sending its PROPOSALs: only its disk has 'b'.

    (Cutting the leader off for that instant loses exactly the messages it sends then.)
    """
    old = settle(sim)
    sim.submit("a")
    sim.run_for(50)
    sim.isolate(old)
    sim.submit("b")
    sim.crash(old)
    sim.heal()
    return old


def test_a_diverged_old_leader_is_truncated_when_it_returns():
    """ZooKeeper's TRUNC: the old leader's uncommitted 'b' was never acknowledged; the new
    epoch goes on without it, and on return the old leader drops it before taking the DIFF."""
    sim = zab.cluster(3, seed=5)
    old = crash_leader_with_an_unsent_proposal(sim)
    new = settle(sim)
    sim.submit("c")
    sim.run_for(50)
    sim.recover(old)
    settle(sim)
    assert (old, "trunc") in sim.sync_modes()
    assert sim.trace.values("truncated", node=old) == [(((1, 2), "b"),)]
    assert everyone(sim) == {i: ["a", "c"] for i in (1, 2, 3)}
    assert sim.nodes[new].epoch == 2
    assert "b" not in sim.committed(old), "never-committed proposals may vanish"
    sim.check()
    # The same run, command by command, with its trace: tests/golden/zab_trunc.txt


def test_a_follower_crashing_mid_sync_catches_up_with_a_diff():
    """A follower dies after its DIFF arrived but before NEWLEADER: on recovery its history is
    still a prefix of the leader's, so it gets the missing proposals only."""
    sim = zab.cluster(5, seed=6)
    old = settle(sim)
    sim.submit("a")
    sim.run_for(50)
    sim.crash(old)
    run_until_event(sim, lambda e: e.kind == "deliver" and isinstance(e.message, Diff))
    victim = sim.trace[-1].node
    sim.crash(victim)
    new = settle(sim)
    assert new != victim
    sim.submit("c")
    sim.run_for(50)
    sim.recover(victim)
    settle(sim)
    assert sim.sync_modes()[-1] == (victim, "diff")
    assert sim.committed(victim) == ["a", "c"]
    sim.check()
    # The same run, command by command, with its trace: tests/golden/zab_follower_crash_mid_sync.txt


def test_a_far_behind_follower_gets_a_snapshot():
    """ZooKeeper sends SNAP when the follower misses more than the leader keeps in its
    committed log (here ``diff_limit`` proposals)."""
    sim = zab.cluster(3, seed=7, diff_limit=5)
    leader = settle(sim)
    laggard = min(i for i in sim.node_ids if i != leader)
    sim.crash(laggard)
    for k in range(8):
        sim.submit(f"t{k}")
    sim.run_for(100)
    sim.recover(laggard)
    settle(sim)
    assert sim.sync_modes()[-1] == (laggard, "snap")
    assert sim.committed(laggard) == [f"t{k}" for k in range(8)]
    # Connection numbers survive the restart, so the leader takes the first reconnection.
    assert not any("did not sync me" in note for note in sim.trace.notes(laggard))
    sim.check()
    # The same run, command by command, with its trace: tests/golden/zab_snap.txt


def test_a_leader_cut_into_a_minority_steps_down_and_later_follows():
    """Paper, Phase 3, and ZooKeeper's heartbeats: a leader that stops hearing from a quorum
    abandons its epoch; the majority elects a leader of a higher epoch, whom the old leader
    follows after the partition heals."""
    sim = zab.cluster(5, seed=8)
    old = settle(sim)
    assert old == 5
    sim.partition({4, 5}, {1, 2, 3})
    sim.run_for(SYNC_MS + 2 * 20)
    assert sim.nodes[5].role == "looking"
    assert "lost contact with a quorum" in sim.trace.values("looking", node=5)
    new = settle_part(sim, {1, 2, 3})
    assert new == 3 and sim.nodes[3].epoch == 2
    assert sim.submit("majority")
    sim.run_for(50)
    sim.heal()
    assert settle(sim) == 3
    assert sim.nodes[5].role == "following" and sim.nodes[5].leader_id == 3
    assert everyone(sim) == {i: ["majority"] for i in sim.node_ids}
    sim.check()


def settle_part(sim, group: set[int], limit: float = 3000.0) -> int:
    start = sim.now
    while sim.now - start < limit:
        sim.run_for(20)
        leader = sim.leader()
        if leader in group and all(sim.nodes[i].phase == "synced" for i in group - {leader}):
            return leader
    raise AssertionError("the majority never settled")


# -- a server as a pure state machine --------------------------------------------------------------


def test_a_prospective_leader_that_hears_of_a_newer_history_gives_up():
    """Zab 1.0 (ZooKeeper's wiki page Zab1.0, phase 1): the election picked the most up-to-date
    server it heard of, so the leader only checks; told of a more recent history in ACKEPOCH,
    it disconnects and returns to election (``discovery="check"``, the default)."""
    server = ZabServer(1, (1, 2, 3), {})
    server.on_start(0.0)
    server._become_leader(0.0, Output())
    out = server.on_message(1.0, 2, FollowerInfo(session=1, accepted_epoch=0))
    assert out.sends == [(2, NewEpoch(session=1, epoch=1))]
    assert out.persist == {"accepted_epoch": 1, "accepted_from": 1}
    out = server.on_message(2.0, 2, AckEpoch(1, 1, current_epoch=0, last_zxid=(0, 3),
                                             epochs=((0, 3),)))
    assert server.role == "looking"
    assert out.notes[0][2] == "2 has a more recent history (0, (0, 3))"


def test_with_the_papers_discovery_the_leader_adopts_the_newest_history_of_its_quorum():
    """Zab paper, Phase 1 (discovery): followers send their whole history in ACK-E, and the
    prospective leader takes the most recent one of its quorum (current epoch, then last zxid)
    as its own before synchronising anyone (``discovery="adopt"``)."""
    server = ZabServer(1, (1, 2, 3), {}, discovery="adopt")
    server.on_start(0.0)
    server._become_leader(0.0, Output())
    server.on_message(1.0, 2, FollowerInfo(session=1, accepted_epoch=1))
    newer = (((1, 1), "a"), ((1, 2), "b"))
    out = server.on_message(2.0, 2, AckEpoch(1, 2, current_epoch=1, last_zxid=(1, 2),
                                             epochs=((1, 2),), history=newer))
    assert server.role == "leading" and server.epoch == 2
    assert server.history == newer
    assert out.persist["history"] == newer and out.persist["current_epoch"] == 2
    assert out.notes[0][1:] == ("adopted", (2, ()))
    assert out.sends == [(2, Diff(1, 2, ())), (2, NewLeader(1, 2))]


def test_an_ack_epoch_shows_its_history_in_the_trace_only_when_it_carries_one():
    plain = AckEpoch(1, 2, current_epoch=1, last_zxid=(1, 2), epochs=((1, 2),))
    assert plain.describe() == "AckEpoch(session=1, epoch=2, current_epoch=1, last_zxid=(1, 2), " \
                               "epochs=((1, 2),))"
    full = AckEpoch(1, 2, 1, (1, 2), ((1, 2),), history=(((1, 1), "a"), ((1, 2), "b")))
    assert full.describe() == plain.describe()[:-1] + ", history of 2)"


def recent_history_joins_late(discovery: str):
    """Leader 3 commits a, then logs b alone and crashes. 1 and 2 elect 2, but 1's link to 2
    is slow, so 3 (restarted, with b) joins 2's discovery first and acknowledges its epoch with
    the most recent history of the three."""
    sim = zab.cluster(3, seed=1, discovery=discovery)
    sim.run_until(lambda s: s.leader() == 3, what="3 leading")
    sim.submit("a")
    sim.run_for(50)
    sim.cut_link(3, 1)
    sim.cut_link(3, 2)
    sim.submit("b")
    sim.crash(3)
    sim.heal()
    sim.configure_links(1, 2, delay=constant(150.0))
    sim.run_until(lambda s: s.nodes[2].role == "leading", what="2 elected")
    sim.recover(3)
    sim.run_until(lambda s: s.nodes[2].role != "leading" or s.nodes[2].syncing,
                  what="2 hearing 3's AckEpoch")
    sim.configure_links(1, 2, delay=uniform(1.0, 10.0))
    sim.run_for(1000)
    sim.check()
    return sim


def test_zab_1_0_re_elects_where_the_paper_adopts_and_both_keep_every_property():
    """The difference in one run. Zab 1.0 (``"check"``): 2 gives up, 1 and 2 elect 2 again
    before 3's timer lets it vote, and epoch 3 drops b, which 3 alone had logged (legal: b was
    never committed). The paper (``"adopt"``): 2 takes 3's history and leads epoch 2 with b."""
    check = recent_history_joins_late("check")
    assert "3 has a more recent history (1, (1, 2))" in check.trace.values("looking")
    assert check.trace.values("leader") == [(1, 3), (3, 2)]
    assert check.trace.values("adopted") == []
    assert check.trace.values("truncated") == [(((1, 2), "b"),)]
    assert everyone(check) == {1: ["a"], 2: ["a"], 3: ["a"]}
    adopt = recent_history_joins_late("adopt")
    assert adopt.trace.values("adopted") == [(3, ())]
    assert adopt.trace.values("leader") == [(1, 3), (2, 2)]
    assert everyone(adopt) == {1: ["a", "b"], 2: ["a", "b"], 3: ["a", "b"]}


def test_a_follower_refuses_an_epoch_below_the_one_it_accepted():
    """Paper, Phase 1 (discovery): a follower that already accepted a higher epoch goes back to election."""
    server = ZabServer(2, (1, 2, 3), {"accepted_epoch": 3, "accepted_from": 3})
    server.on_start(0.0)
    server._become_follower(0.0, Output(), 1)
    out = server.on_message(1.0, 1, NewEpoch(session=1, epoch=2))
    assert server.role == "looking"
    assert "not above accepted epoch 3" in out.notes[0][0]
    assert "accepted_epoch" not in out.persist


def test_a_follower_persists_a_proposal_before_acknowledging_it():
    server = ZabServer(2, (1, 2, 3), {})
    server.on_start(0.0)
    server._become_follower(0.0, Output(), 1)
    server.on_message(1.0, 1, NewEpoch(1, 1))
    server.on_message(2.0, 1, Diff(1, 1, ()))
    server.on_message(3.0, 1, NewLeader(1, 1))
    out = server.on_message(4.0, 1, Proposal(1, (1, 1), "a"))
    assert out.persist == {"history": (((1, 1), "a"),)}
    assert out.sends == [(1, Ack(1, (1, 1)))]
    assert server.on_message(5.0, 1, Proposal(1, (1, 1), "a")).sends == [], "a duplicate"
    out = server.on_message(6.0, 1, Proposal(1, (1, 3), "c"))
    assert server.role == "looking", "a gap means the session lost a message"


# -- the deliberately broken variants -----------------------------------------------------------


def stale_highest_id_returns(discovery: str = "check"):
    """Electing by id alone: 3 is cut off, 1 and 2 elect 2, which commits x; then 2 crashes and
    3, stale but with the highest id, returns and wins the election."""
    sim = zab.cluster(3, seed=1, variant="election-ignores-zxid", discovery=discovery)
    settle(sim)
    sim.isolate(3)
    sim.run_for(SYNC_MS + INIT_MS)
    sim.crash(3)
    assert settle(sim) == 2
    sim.submit("x")
    sim.run_for(50)
    sim.crash(2)
    sim.heal()
    sim.recover(3)
    assert settle(sim) == 3, "the stale server with the highest id wins"
    return sim


def test_an_election_that_ignores_the_last_zxid_loses_committed_transactions():
    sim = stale_highest_id_returns()
    assert sim.submit("y")
    with pytest.raises(InvariantViolation) as broken:
        sim.check()
    assert broken.value.invariant == "primary integrity"
    assert "leader 3 of epoch 3 began broadcasting without delivering it" in broken.value.detail
    sim.run_for(50)
    with pytest.raises(InvariantViolation) as broken:
        sim.check()
    assert broken.value.invariant == "prefix order"


def test_with_the_papers_discovery_an_election_by_id_alone_loses_nothing():
    """The same run as above with ``discovery="adopt"``: the stale 3 still wins the election,
    but adopts the newer history of its quorum, x included (the paper's Phase 0 may be any
    leader oracle: discovery, not the election, makes the history complete)."""
    sim = stale_highest_id_returns("adopt")
    assert sim.trace.values("adopted") == [(1, ())]
    assert sim.submit("y")
    sim.run_for(50)
    sim.check()
    assert sim.committed(1) == sim.committed(3) == ["x", "y"]


def test_with_the_papers_discovery_a_campaign_electing_by_id_finds_no_violation():
    adopted = 0
    for seed in range(300):
        sim = faults.zab_links_run(seed, variant="election-ignores-zxid", discovery="adopt")
        sim.check()
        faults.quiesce(sim)
        assert faults.zab_stuck(sim) is None, seed
        adopted += bool(sim.trace.values("adopted"))
    assert adopted >= 10


@pytest.mark.parametrize("bad", ["paper", None])
def test_an_unknown_discovery_is_refused(bad):
    with pytest.raises(ValueError, match="unknown discovery .*'check' .* or 'adopt'"):
        zab.cluster(3, discovery=bad)


def test_skipping_trunc_delivers_a_proposal_nobody_committed():
    sim = zab.cluster(3, seed=5, variant="skip-trunc")
    old = crash_leader_with_an_unsent_proposal(sim)
    settle(sim)
    sim.submit("c")
    sim.run_for(50)
    sim.recover(old)
    settle(sim)
    assert sim.committed(old) == ["a", "b", "c"]
    with pytest.raises(InvariantViolation) as broken:
        sim.check()
    assert broken.value.invariant == "prefix order"


def test_committing_without_a_quorum_breaks_agreement():
    sim = zab.cluster(3, seed=3, variant="commit-without-quorum")
    old = settle(sim)
    sim.isolate(old)
    sim.submit("lonely")
    assert sim.committed(old) == ["lonely"]
    sim.run_for(SYNC_MS + INIT_MS)
    settle_part(sim, set(sim.node_ids) - {old})
    sim.submit("majority")
    sim.run_for(50)
    with pytest.raises(InvariantViolation) as broken:
        sim.check()
    assert broken.value.invariant == "prefix order"


def test_forgetting_the_commit_point_delivers_twice():
    sim = zab.cluster(3, seed=9, variant="volatile-commit-point")
    leader = settle(sim)
    sim.submit("once")
    sim.run_for(50)
    follower = min(i for i in sim.node_ids if i != leader)
    sim.crash(follower)
    sim.recover(follower)
    settle(sim)
    with pytest.raises(InvariantViolation) as broken:
        sim.check()
    assert broken.value.invariant == "integrity"
    assert broken.value.detail == f"node {follower} delivered ((1, 1), 'once') twice"


# -- each checker on hand-made records ------------------------------------------------------------
A, B, C = ((1, 1), "a"), ((1, 2), "b"), ((2, 1), "c")
PROPOSED = {1: [A, B], 2: [C]}
FIRST = {1: (1, 0), 2: (2, 2)}


def test_the_checker_accepts_a_correct_record():
    check_zab(PROPOSED, {1: [A, B, C], 2: [A, B, C], 3: [A]}, FIRST)


@pytest.mark.parametrize("delivered, first, invariant", [
    ({1: [A, ((1, 3), "z")]}, FIRST, "integrity"),
    ({1: [A, A]}, FIRST, "integrity"),
    ({1: [A, B], 2: [A, C]}, FIRST, "prefix order"),
    ({1: [B]}, FIRST, "local primary order"),
    ({1: [C, A]}, {1: (1, 0), 2: (1, 0)}, "global primary order"),
    ({1: [A, B], 2: [A, B, C]}, {1: (1, 0), 2: (2, 1)}, "primary integrity"),
])
def test_each_checker_bites(delivered, first, invariant):
    record = {i: [] for i in (1, 2, 3)} | delivered
    with pytest.raises(InvariantViolation) as broken:
        check_zab(PROPOSED, record, first)
    assert broken.value.invariant == invariant


def test_two_leaders_of_one_epoch_are_caught():
    sim = zab.cluster(3)
    sim.trace.append(0.0, "note", 1, text="", tag="leader", value=(1, 1))
    sim.trace.append(0.0, "note", 2, text="", tag="leader", value=(1, 2))
    with pytest.raises(InvariantViolation, match="single leader"):
        sim.check()


# -- synchronisation decisions --------------------------------------------------------------------
H = (((1, 1), "a"), ((1, 2), "b"), ((2, 1), "c"), ((2, 2), "d"))


@pytest.mark.parametrize("last, epochs, expected", [
    ((2, 2), ((1, 2), (2, 2)), ("diff", (2, 2), ())),
    ((1, 2), ((1, 2),), ("diff", (1, 2), H[2:])),
    ((1, 3), ((1, 3),), ("trunc", (1, 2), H[2:])),
    ((3, 1), ((1, 2), (3, 1)), ("trunc", (1, 2), H[2:])),
    ((0, 0), (), ("snap", (0, 0), H)),
])
def test_the_leader_chooses_diff_trunc_or_snap(last, epochs, expected):
    assert choose_sync(H, last, epochs, diff_limit=3) == expected


def test_a_recording_choose_sync_sees_every_decision_the_leaders_take():
    """The door exercise 5 uses: ``cluster(choose_sync=...)`` replaces the decision on every
    server; here it records what zablib's decides, and the run is the usual TRUNC story."""
    answered = []

    def recording(history, last, epochs, limit):
        mode, point, entries = choose_sync(history, last, epochs, limit)
        answered.append((mode, limit))
        return mode, point, entries

    sim = zab.cluster(3, seed=5, diff_limit=1, choose_sync=recording)
    old = crash_leader_with_an_unsent_proposal(sim)
    settle(sim)
    sim.recover(old)
    settle(sim)
    assert answered == [(mode, 1) for _, mode in sim.sync_modes()]
    assert (old, "trunc") in sim.sync_modes()
    sim.check()


def test_an_ensemble_restarted_from_its_disks_elects_the_most_recent_history():
    """After a power cut every server comes back with what was on its disk: 2 has the longest
    history of the highest epoch and leads; the others learn its proposals."""
    history = (((1, 1), "a"), ((1, 2), "b"))
    disks = {1: {"accepted_epoch": 1, "current_epoch": 1, "history": history[:1]},
             2: {"accepted_epoch": 1, "current_epoch": 1, "history": history}}
    sim = zab.cluster(3, seed=1, disks=disks)
    assert sim.storage[2]["history"] == history and sim.storage[3] == {}
    assert settle(sim) == 2
    sim.submit("c")
    sim.run_for(100)
    assert sim.nodes[3].history[:2] == history
    sim.crash(1)
    sim.recover(1)  # what it finds now is its disk as it has been written since
    assert sim.nodes[1].history[:2] == history
    with pytest.raises(InvariantViolation, match="integrity"):
        sim.check()  # documented: the checkers know only the proposals of this run
    with pytest.raises(ValueError, match=r"disks of unknown servers \[4\]; servers are 1..3"):
        zab.cluster(3, disks={4: {}})


# -- determinism and bad input --------------------------------------------------------------------


def test_the_same_seed_gives_the_same_trace():
    def run():
        sim = zab.cluster(5, seed=11)
        settle(sim)
        sim.submit("a")
        sim.crash(5)
        sim.run_for(500)
        sim.submit("b")
        sim.run_for(100)
        return sim.trace.describe()

    assert run() == run()


@pytest.mark.parametrize("n", [0, -1, 2.5, True])
def test_a_cluster_needs_at_least_one_server(n):
    with pytest.raises(ValueError, match="at least 1 server"):
        zab.cluster(n)


def test_an_unknown_variant_is_refused():
    with pytest.raises(ValueError, match="unknown variant 'sloppy'"):
        zab.cluster(3, variant="sloppy")


@pytest.mark.parametrize("knobs, problem", [
    ({"tick_ms": 0}, "tick_ms .* must be a positive number of ms, got 0"),
    ({"tick_ms": float("inf")}, "tick_ms .* got inf"),
    ({"tick_ms": "20"}, "tick_ms .* got '20'"),
    ({"init_limit": 0}, "init_limit is a number of ticks, an int >= 1 .*got 0"),
    ({"sync_limit": 2.5}, "sync_limit is a number of ticks, an int >= 1 .*got 2.5"),
    ({"sync_limit": True}, "sync_limit is a number of ticks"),
])
def test_zookeepers_knobs_are_checked_and_the_error_names_the_knob(knobs, problem):
    with pytest.raises(ValueError, match=problem):
        zab.cluster(3, **knobs)


def test_the_default_timers_are_zoo_cfgs_sample_limits_on_a_20_ms_tick():
    """zoo.cfg's sample: initLimit=10, syncLimit=5 ticks. The book's tick is 20 ms, a hundredth
    of ZooKeeper's default 2000 ms, for links of 1-10 ms."""
    t = Timers()
    assert (t.tick_ms, t.init_limit, t.sync_limit) == (20.0, 10, 5)
    assert (t.ping_ms, t.connect_ms, t.init_ms, t.sync_ms) == (20.0, 20.0, 200.0, 100.0)
    assert (t.election_ms, t.finalize_ms) == ((40.0, 80.0), 10.0)
    assert zab.cluster(3).nodes[1].timers == t


def test_every_timer_scales_with_the_tick_and_the_limits_with_their_knob():
    t = Timers(tick_ms=60, init_limit=12, sync_limit=4)
    assert (t.ping_ms, t.connect_ms, t.init_ms, t.sync_ms) == (60.0, 60.0, 720.0, 240.0)
    assert (t.election_ms, t.finalize_ms) == ((120.0, 240.0), 30.0)
    sim = zab.cluster(3, tick_ms=60, init_limit=12, sync_limit=4)
    assert all(node.timers == t for node in sim.nodes.values())


def test_the_coordination_service_hands_zookeepers_knobs_to_zab_underneath():
    ens = Ensemble(3, tick_ms=40, init_limit=12, sync_limit=3, max_clients=0)
    assert all(ens.server(i).zab.timers == Timers(40, 12, 3) for i in ens.servers)
    assert Ensemble(3, max_clients=0).server(1).zab.timers == Timers()
    with pytest.raises(ValueError, match="init_limit is a number of ticks"):
        Ensemble(3, init_limit=0)


def test_committed_of_an_unknown_node_is_refused():
    with pytest.raises(ValueError, match="unknown node 7"):
        zab.cluster(3).committed(7)


def test_status_shows_role_epoch_and_zxids():
    sim = zab.cluster(3, seed=0)
    settle(sim)
    sim.submit("a")
    sim.run_for(50)
    assert sim.nodes[3].status() == "leading e1 last=(1, 1) committed=(1, 1)"
    assert sim.nodes[1].status() == "following 3 e1 last=(1, 1) committed=(1, 1)"


# -- slow and heavy-tailed links (ZooKeeper's tickTime, initLimit, syncLimit) -----------------
#: Links with a mean delay of 40 ms, FIFO as ZAB's TCP connections are: uniform 20-60 ms, and
#: lognormal with a median of 30 ms (one message in a hundred over 175 ms).
SLOW = uniform(20.0, 60.0)
HEAVY = lognormal(30.0, 40.0)


def writes_delivered_everywhere(sim, count: int, gap_ms: float) -> tuple[int, int]:
    """Hand ``count`` writes to whoever leads, ``gap_ms`` apart, then wait 2 s: how many were
    accepted, and how many every server delivered."""
    accepted = 0
    for k in range(count):
        accepted += sim.submit(("w", k))
        sim.run_for(gap_ms)
    sim.run_for(2000)
    return accepted, min(len(sim.committed(i)) for i in sim.node_ids)


def test_with_the_books_20_ms_tick_zab_establishes_no_leader_on_links_of_mean_40_ms():
    """The defaults are for the book's 1-10 ms links. On heavy-tailed links with a mean of 40 ms
    and no fault at all, five servers elect a leader again and again, but each one needs some
    five message delays after its election (FollowerInfo, NewEpoch, AckEpoch, NewLeader,
    AckNewLeader) to synchronise a quorum, and initLimit, 10 ticks of 20 ms, runs out first:
    in three seconds no leader is ever established and no write commits. Raft with its own
    defaults commits every command on links with the same delays."""
    sim = zab.cluster(5, seed=0, link=LinkConfig(delay=HEAVY))
    assert writes_delivered_everywhere(sim, 10, 100.0) == (0, 0)
    assert sim.trace.values("established") == []
    gave_up = sim.trace.values("looking")
    assert sum("no quorum synced within 200 ms" in why for why in gave_up) >= 5
    assert all("synced within" in why or "did not sync me in time" in why or "lost leader" in why
               for why in gave_up)
    sim.check()
    rafts = raft.cluster(5, seed=0, link=LinkConfig(delay=HEAVY, fifo=False))
    rafts.run_for(1000)
    assert writes_delivered_everywhere(rafts, 10, 100.0) == (10, 10)


@pytest.mark.parametrize("delay", [SLOW, HEAVY], ids=["slow", "heavy-tailed"])
@pytest.mark.parametrize("seed", range(3))
def test_with_a_60_ms_tick_zab_establishes_a_leader_and_delivers_every_write(delay, seed):
    """ZooKeeper's answer: tickTime is the unit of every timer, and an administrator sets it
    above a message's usual delay. With a 60 ms tick (initLimit 600 ms, syncLimit 300 ms,
    notifications re-sent every 120-240 ms) the same links establish a leader within a second
    and every server delivers every write, in the same order."""
    sim = zab.cluster(5, seed=seed, link=LinkConfig(delay=delay), tick_ms=60)
    for _ in range(50):
        if sim.leader() is not None:
            break
        sim.run_for(20)
    assert sim.leader() is not None and sim.now <= 1000
    assert writes_delivered_everywhere(sim, 20, 100.0) == (20, 20)
    assert len({tuple(sim.committed(i)) for i in sim.node_ids}) == 1
    sim.check()


# -- the random fault campaign --------------------------------------------------------------------
CAMPAIGN = 1000
AFTER_FAULTS_MS = 1000.0  # > election + init + sync limits: enough for a connected quorum


def random_schedule(seed: int, variant: str = "correct"):
    """Crashes, recoveries, partitions, loss and duplication between client writes
    (zablib.faults); then the faults stop and everyone is connected and up."""
    sim = faults.faulty_run(zab.cluster, seed, variant=variant)
    faults.quiesce(sim)
    sim.run_for(AFTER_FAULTS_MS)
    return sim


def test_a_random_fault_campaign_finds_no_violation_and_recovers():
    stuck = []
    for seed in range(CAMPAIGN):
        sim = random_schedule(seed)
        if sim.leader() is None or not sim.submit("after"):
            stuck.append(seed)
            continue
        sim.run_for(300)
        if not all("after" in sim.committed(i) for i in sim.node_ids):
            stuck.append(seed)
        sim.check()
    assert stuck == []


LINKS_CAMPAIGN = 1200


def test_a_campaign_on_fast_slow_and_heavy_tailed_links_finds_no_violation_and_stays_live():
    """The same schedules on the book's links, on slow ones and on heavy-tailed ones in turn
    (zablib.faults.ZAB_LINKS, a 60 ms tick on the slow two): after the faults stop, a leader is
    established within 50 ticks and a new transaction is delivered by every server within 30
    more (faults.zab_stuck), and every Zab property holds throughout."""
    stuck = {}
    for seed in range(LINKS_CAMPAIGN):
        sim = faults.zab_links_run(seed)
        sim.check()
        faults.quiesce(sim)
        why = faults.zab_stuck(sim)
        if why is not None:
            stuck[seed] = why
    assert stuck == {}


@pytest.mark.parametrize("variant", ["election-ignores-zxid", "skip-trunc",
                                     "commit-without-quorum", "volatile-commit-point"])
def test_the_campaign_catches_every_broken_variant(variant):
    caught = set()
    for seed in range(100):
        try:
            sim = random_schedule(seed, variant)
            if sim.submit("after"):
                sim.run_for(300)
            sim.check()
        except InvariantViolation as violation:
            caught.add(violation.invariant)
    assert caught, f"{variant} went unnoticed in 100 schedules"


@pytest.mark.parametrize("variant", ["election-ignores-zxid", "skip-trunc",
                                     "commit-without-quorum", "volatile-commit-point"])
def test_on_slow_links_too_the_campaign_catches_every_broken_variant(variant):
    for seed in (s for s in range(300) if s % 3):  # the slow and heavy-tailed profiles
        try:
            sim = faults.zab_links_run(seed, variant=variant)
            sim.check()
            faults.quiesce(sim)
            faults.zab_stuck(sim)
        except InvariantViolation:
            return
    raise AssertionError(f"{variant} went unnoticed in 200 schedules on slow links")


def test_a_proposal_on_a_quorum_survives_the_leaders_crash_and_one_below_may_not():
    """Zab §IV (the leader's history is a superset of every committed proposal): once the
    leader and two followers of five have logged t, any new leader has it and delivers it;
    with one follower, t can be dropped, and then nobody ever delivers it."""
    sim, logged = zab.scenario_crash_after_logged(2)
    sim.check()
    assert len(logged) == 2
    assert all("t" in sim.committed(i) for i in sim.node_ids if sim.is_up(i))
    sim, logged = zab.scenario_crash_after_logged(1)
    sim.check()
    assert not any("t" in sim.committed(i) for i in sim.node_ids)
    with pytest.raises(ValueError, match="0 <= k < n=5"):
        zab.scenario_crash_after_logged(5)

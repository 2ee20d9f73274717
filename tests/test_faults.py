"""One fault model (zablib.faults): scripted, random and named schedules in one vocabulary, played
by one interpreter."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import pytest

from zablib import SimulationError, compare, faults
from zablib.faults import FaultEvent, Moment, RandomFaults
from zablib.network import LinkConfig
from zablib.protocols import pingpong, primary_backup, raft, threepc, twopc, zab

# -- the vocabulary and its player --------------------------------------------------------------

def test_a_scenario_is_a_schedule_of_fault_events():
    scenario = faults.Scenario(n=3, crashes=((1, 250, 650),), partition=(({1, 2}, {3}), 400, None),
                               actions=((100, "submit", "a"),), duration=900)
    events = scenario.schedule()
    assert [e.describe() for e in events] == [
        "   100.000  submit 'a'",
        "   250.000  crash 1",
        "   400.000  partition {1, 2} | {3}",
        "   650.000  recover 1",
    ]
    # Played by hand on a fresh cluster, the schedule gives the scenario's run.
    by_hand = faults.play(primary_backup.cluster(3), events, until=900)
    assert by_hand.trace.describe() == scenario.run(primary_backup.cluster).trace.describe()


def test_playing_step_by_step_gives_the_run_that_finish_gives():
    events = [(30.0, "crash", (2,)), (60.0, "loss", (0.3,)), (90.0, "recover", (2,))]
    whole = faults.play(pingpong.cluster(3, seed=4), events, until=150)
    run = faults.ScheduleRun(pingpong.cluster(3, seed=4), events, until=150)
    steps = 0
    while run.step():
        steps += 1
    assert run.done and steps > 20
    assert run.sim.trace.describe() == whole.trace.describe()


def test_a_bad_fault_event_is_named():
    with pytest.raises(ValueError, match="unknown fault kind 'explode'"):
        faults.play(pingpong.cluster(2), [(10, "explode", (1,))])
    with pytest.raises(ValueError, match="at a time in ms >= 0 or at a Moment, got -5"):
        faults.play(pingpong.cluster(2), [(-5, "crash", (1,))])


def test_an_event_at_a_moment_waits_for_it_and_a_moment_that_never_comes_is_named():
    # 2PC: the coordinator writes its decision; participant 1 crashes at that very moment.
    decided = faults.has_decided(0, "the coordinator deciding")
    sim = faults.play(twopc.cluster(2), [FaultEvent(decided, "crash", (1,))])
    crash = sim.trace.of_kind("crash")[0]
    assert "decision" in sim.storage[0] and crash.node == 1
    assert crash.time == sim.now  # nothing ran after the moment came
    never = Moment("pigs flying", lambda sim: False)
    with pytest.raises(SimulationError, match="pigs flying did not happen"):
        faults.play(twopc.cluster(2), [FaultEvent(never, "crash", (1,))])


# -- random schedules -----------------------------------------------------------------------------

def test_a_random_run_returns_the_schedule_it_applied_and_replaying_it_gives_the_same_trace():
    for seed in (3, 11):
        sim, events = faults.random_run(zab.cluster, seed)
        assert {e.kind for e in events} <= set(faults.KINDS)
        again = faults.play(zab.cluster(len(sim.node_ids), seed=seed), events, until=sim.now)
        assert again.trace.describe() == sim.trace.describe()


def test_raft_membership_changes_are_in_the_schedule_and_replay_too():
    options = dict(election_ms=(50.0, 100.0), heartbeat_ms=15.0, spares=2)
    membership = replace(faults.RAFT_FAULTS, mix=faults.RAFT_FAULTS.mix + (("membership", 0.15),))
    changed = 0
    for seed in range(6):
        sim, events = faults.random_run(raft.cluster, seed, membership, **options)
        assert sim.trace.describe() == faults.raft_faulty_run(seed, membership=True).trace.describe()
        changed += sum(e.args[0] in ("add_server", "remove_server") for e in events if e.kind == "action")
        n = len(sim.node_ids) - 2
        again = faults.play(raft.cluster(n, seed=seed, **options), events, until=sim.now)
        assert again.trace.describe() == sim.trace.describe()
    assert changed > 0


def widened(seed: int):
    """Schedule ``seed`` of the widened Raft campaign through random_run: the simulation, the
    events, the cluster's options, and the answer of each membership change asked for."""
    _, delay, election_ms, heartbeat_ms = faults.RAFT_LINKS[seed % len(faults.RAFT_LINKS)]
    options = dict(election_ms=election_ms, heartbeat_ms=heartbeat_ms, spares=2,
                   link=LinkConfig(delay=delay, fifo=False))
    answers: list[bool] = []

    def answering(n, **kw):
        sim = raft.cluster(n, **kw)
        for name in ("add_server", "remove_server"):
            change = getattr(sim, name)
            setattr(sim, name, lambda node, change=change: answers.append(change(node)) or answers[-1])
        return sim

    sim, events = faults.random_run(answering, seed, faults.RAFT_CHANGES, **options)
    return sim, events, options, answers


def test_the_widened_raft_schedules_replay_too():
    for seed in (4, 5, 6):
        sim, events, options, _ = widened(seed)
        assert sim.trace.describe() == faults.raft_changes_run(seed).trace.describe()
        again = faults.play(raft.cluster(len(sim.node_ids) - 2, seed=seed, **options), events,
                            until=sim.now)
        assert again.trace.describe() == sim.trace.describe()


def test_the_widened_raft_schedules_cover_what_issue_11_asks_for():
    """Membership changes aimed at crashed, cut-off and recently restarted servers; two changes
    in a row, both accepted; clusters shrunk to two members; a server added under sustained
    load; each link profile. Counted over the first 150 schedules."""
    seen: Counter[str] = Counter()
    for seed in range(150):
        sim, events, _, answers = widened(seed)
        seen[faults.RAFT_LINKS[seed % len(faults.RAFT_LINKS)][0]] += 1
        for e in sim.trace.of_kind("client"):
            if "Server(node=" not in e.text:
                continue
            target, t = int(e.text.split("node=")[1].rstrip(")")), e.time
            seen["aimed at a crashed server"] += any(
                n == target and a <= t and (b is None or t < b) for n, a, b in sim.crash_intervals)
            seen["aimed at a recently restarted server"] += any(
                n == target and b is not None and 0 <= t - b < faults.RAFT_CHANGES.recent_ms
                for n, _, b in sim.crash_intervals)
            seen["aimed at a cut-off server"] += any(
                a <= t and (b is None or t < b) and any(
                    target in g and 2 * len(g) <= len(sim.node_ids) for g in groups)
                for groups, a, b in sim.partition_intervals)
        kinds = [e.args[0] if e.kind == "action" else e.kind for e in events]
        changes = iter(answers)
        accepted = [next(changes) if kind.endswith("_server") else None for kind in kinds]
        seen["two changes in a row"] += any(a and b for a, b in zip(accepted, accepted[1:], strict=False))
        seen["shrunk to two members"] += any(
            row.kind == "config" and len(row.command) == 2
            for i in sim.node_ids for row in sim.status(i).log)
        loaded = kinds.count("submit") > 2 * faults.RAFT_CHANGES.rounds
        seen["added under load"] += loaded and bool(sim.trace.values("caught-up"))
    assert {"fast", "slow", "long-tailed", "heavy-tailed"} <= set(seen)
    for case in ("aimed at a crashed server", "aimed at a recently restarted server",
                 "aimed at a cut-off server", "two changes in a row", "shrunk to two members",
                 "added under load"):
        assert seen[case] >= 5, (case, seen)


def test_raft_stuck_says_why_a_run_is_not_live():
    sim = raft.cluster(3, seed=1)
    sim.crash(2)
    sim.crash(3)  # no majority: no leader can be elected
    assert faults.raft_stuck(sim).startswith("no leader within 6000 ms: 1: ")  # 30 timeouts
    faults.quiesce(sim)
    assert faults.raft_stuck(sim) is None


def test_raft_schedules_keep_their_hand_written_thresholds():
    """Probabilities add up to exactly the bounds the campaigns were written with, so the same
    seed draws the same faults."""
    assert faults.RAFT_FAULTS.bounds() == (0.2, 0.4, 0.55, 0.65)
    assert RandomFaults().bounds() == (0.25, 0.45, 0.6, 0.7, 0.8, 0.9)


def test_an_impossible_fault_does_nothing_or_the_next_one():
    """Two nodes, a crash every round: the third round finds everyone down. 'nothing' leaves them
    down; 'next' recovers one instead (Raft's schedules work so)."""
    always_crash = RandomFaults(sizes=(2,), warmup_ms=None, rounds=3, writes=0,
                                mix=(("crash", 1.0), ("recover", 0.0)))
    sim, events = faults.random_run(pingpong.cluster, 1, always_crash)
    assert [e.kind for e in events] == ["crash", "crash"] and sim.crashed == {1, 2}
    sim, events = faults.random_run(pingpong.cluster, 1, replace(always_crash, if_impossible="next"))
    assert [e.kind for e in events] == ["crash", "crash", "recover"] and len(sim.crashed) == 1


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        (dict(mix=(("meteor", 0.1),)), "unknown random fault.*'meteor'"),
        (dict(mix=(("crash", 0.7), ("heal", 0.6))), "add up to at most 1"),
        (dict(if_impossible="retry"), "if_impossible must be 'nothing' or 'next'"),
        (dict(sizes=()), "sizes must be positive ints"),
        (dict(rounds="many"), r"rounds must be an int or a \(low, high\) pair"),
        (dict(aim="weakest"), "aim must be 'any' or 'faulty'"),
        (dict(load_gaps=(0.0,)), "load_gaps must be None or gaps in ms > 0"),
        (dict(changes=2), r"several membership changes in a row need change_done\(sim\)"),
    ],
)
def test_bad_random_faults_are_named(changes, problem):
    with pytest.raises(ValueError, match=problem):
        RandomFaults(**changes)


def test_membership_changes_need_a_cluster_that_has_them():
    with pytest.raises(ValueError, match="membership changes need a cluster with configuration"):
        faults.random_run(zab.cluster, 0, RandomFaults(mix=(("membership", 0.5),)))


# -- named faults (chapter 6) ---------------------------------------------------------------------

def test_chapter_6_faults_are_schedules_triggered_by_stable_storage():
    named = faults.commit_faults(4)
    assert list(named) == ["coordinator crashes after the votes",
                           "decision reaches only 1; 0 and 1 crash",
                           "participant 4 crashes before voting",
                           "participant 4 crashes after voting yes",
                           "partition {0, 1} | {2, 3, 4}"]
    assert [e.describe() for e in named["decision reaches only 1; 0 and 1 crash"]] == [
        "when the coordinator deciding:  partition {0, 1} | {2, 3, 4}",
        "when 1 learning the decision:  crash 0",
        "when 1 learning the decision:  crash 1",
    ]
    assert list(compare.FAULTS) == list(named)  # the table of chapter 6 is these faults
    with pytest.raises(ValueError, match="at least 2 participants"):
        faults.commit_faults(1)


def test_the_partition_in_phase_two_slows_and_restores_the_far_links():
    schedule = faults.commit_faults(4)["partition {0, 1} | {2, 3, 4}"]
    sim = faults.play(threepc.cluster(4), schedule)
    texts = [e.text for e in sim.trace.of_kind("network")]
    assert len(texts) == 6 and all("delay=" in t for t in texts)
    assert [t.split(" on ")[1] for t in texts] == ["links 0 -> 2", "links 0 -> 3", "links 0 -> 4"] * 2
    assert sim.network.link(0, 2).delay == sim.network.default.delay  # restored
    assert sim.trace.of_kind("partition")[0].text == "{0, 1} | {2, 3, 4}"


# -- nodes named by role, and schedules played alongside a client ---------------------------------

def test_picks_name_nodes_by_role_once_per_run():
    """The leader is found when the first event names it; the partition's near side is that
    leader and the lowest follower, the far side the rest; healing ends it."""
    sim = raft.cluster(5, seed=4)
    sim.run_until(lambda s: s.leader() is not None)
    leader = sim.leader()
    near = faults.followers(1, with_leader=True)
    schedule = (FaultEvent(faults.NOW, "partition", (near, faults.THE_REST)),
                FaultEvent(sim.now + 50, "heal"))
    assert schedule[0].describe() == "when now:  partition the leader and 1 follower | the rest"
    run = faults.ScheduleRun(sim, schedule)
    run.finish()
    low = min(i for i in sim.node_ids if i != leader)
    assert run.picked[near] == (leader, low)
    assert run.picked[faults.THE_REST] == tuple(i for i in sim.node_ids if i not in (leader, low))
    assert [e.text for e in sim.trace.of_kind("partition")] == [
        f"{{{min(leader, low)}, {max(leader, low)}}} | "
        + "{" + ", ".join(map(str, run.picked[faults.THE_REST])) + "}"]


def test_a_pick_with_nobody_to_pick_is_a_clear_error():
    sim = raft.cluster(3, seed=0)  # nobody leads at time 0
    with pytest.raises(SimulationError, match="no leader to pick"):
        faults.play(sim, [(faults.NOW, "crash", (faults.LEADER,))])
    sim = raft.cluster(3, seed=0)
    sim.run_until(lambda s: s.leader() is not None)
    with pytest.raises(SimulationError, match="cannot pick 3 live followers"):
        faults.play(sim, [(faults.NOW, "crash", (faults.followers(3),))])
    with pytest.raises(ValueError, match="at least 1 node"):
        faults.followers(0)


def test_run_to_stops_at_the_time_and_applies_moments_as_they_come():
    """Stepping a schedule to growing times, with a client acting in between, applies the
    moment's event at the very event that makes it hold, as finish() does."""
    def first_run(step_ms):
        sim = zab.cluster(3, seed=2)
        at = Moment("a leader", lambda s: s.leader() is not None)
        run = faults.ScheduleRun(sim, [FaultEvent(at, "crash", (faults.LEADER,))])
        t = 0.0
        while t < 400:
            t += step_ms
            run.run_to(t)
            assert sim.now == t
        return sim
    by_small, by_large = first_run(8.0), first_run(100.0)
    assert by_small.trace.describe() == by_large.trace.describe()
    assert len(by_small.crashed) == 1
    with pytest.raises(ValueError, match="run_to needs a time"):
        faults.ScheduleRun(by_small, []).run_to(10.0)


def test_service_faults_wait_until_the_operation_is_decidable():
    """The moment comes when a majority holds the operation (every participant's vote, for
    2PC) and the leader does not know it decided; the same four schedules for every protocol."""
    schedules = faults.service_faults(("op", 1), until=900.0)
    assert list(schedules) == ["the leader crashes", "a minority crashes", "a majority crashes",
                               "the leader is cut off with a minority"]
    moment = schedules["the leader crashes"][0].at
    sim = raft.cluster(5, seed=0)
    sim.run_until(lambda s: s.leader() is not None)
    sim.submit(("op", 1))
    sim.run_until(moment.holds)
    holding = [i for i in sim.node_ids if any(r.command == ("op", 1) for r in sim.status(i).log)]
    assert len(holding) >= 3 and ("op", 1) not in sim.committed(sim.leader())
    with pytest.raises(ValueError, match="until must be a time"):
        faults.service_faults(("op", 1), until=-1)

"""Chapter 3's runs (zablib.scenarios): each recipe run, broken, and measured on the simulated ensemble.

Each story runs a scenario the way the chapter does and checks what the chapter says about it:
that a subscriber may skip values but ends with the last one, that a crashed provider stays
listed for about a session timeout and a closed one does not, that the naive lock wakes every
waiter and the real one a single one, that a paused lock holder's late write is accepted without
fencing and refused with it, that every queued item is taken once. Times are simulated ms; the
ensemble grants sessions of at most 400 ms.
"""

from __future__ import annotations

import pytest

from zablib import scenarios

SESSION_MS = 400.0


def is_subsequence(seen: list, published: list) -> bool:
    rest = iter(published)
    return all(any(value == p for p in rest) for value in seen)


# -- the tree over time ------------------------------------------------------------------------
def test_znode_lives_agree_with_the_tree_the_servers_end_with():
    run = scenarios.registry_run("crash")
    lives = run.lives()
    alive = sorted(life.path for life in lives if life.deleted is None)
    tree = run.ens.tree(run.ens.leader())
    assert alive == [p for p in tree.paths() if p != "/" and not p.startswith("/zookeeper")]
    gone, = [life for life in lives if life.deleted is not None]
    assert gone.path.startswith("/services/api/10.0.0.1:8080-") and gone.ephemeral
    assert gone.owner == "p1"  # the session's owner, named after the client's role
    assert gone.created < run.gone_at < gone.deleted
    assert {life.path for life in lives if not life.ephemeral} == {"/services", "/services/api"}


# -- 1. configuration --------------------------------------------------------------------------
def test_subscribers_see_every_value_when_writes_are_far_apart():
    run = scenarios.config_run(writes=4, gap_ms=100.0)
    values = [b"v0"] + [v for _, v in run.published]
    assert run.seen == {"sub1": values, "sub2": values}
    assert run.skipped == {"sub1": [], "sub2": []}


def test_a_burst_of_writes_is_skipped_but_every_subscriber_ends_with_the_last_value():
    run = scenarios.config_run(writes=5, gap_ms=0.0)
    published = [v for _, v in run.published]
    assert published == [b"v1", b"v2", b"v3", b"v4", b"v5"]
    assert any(run.skipped.values())  # some intermediate value was never read
    for seen in run.seen.values():
        assert is_subsequence(seen[1:], published)  # in order, never invented, never repeated
    assert run.converged and run.final == {"sub1": b"v5", "sub2": b"v5"}


def test_a_paused_subscriber_skips_what_was_written_while_it_slept():
    run = scenarios.config_run(writes=5, gap_ms=20.0, pause_ms=300.0)
    (node, start, end, label), = run.spans
    assert label == "paused" and end - start == pytest.approx(300.0)
    written_while_paused = [v for t, v in run.published[:-1] if t < end]
    assert written_while_paused and run.skipped["sub1"] == written_while_paused
    assert run.skipped["sub2"] == []
    assert run.converged


# -- 2 and 3. load balancing, registry and discovery ---------------------------------------------
def test_a_crashed_provider_stays_listed_for_about_a_session_timeout():
    run = scenarios.registry_run("crash")
    assert run.session_ms == SESSION_MS
    # The session's clock started at the last message the servers heard from p1 (a ping at
    # most a third of the timeout before the crash); the leader checks expiry every tick.
    assert SESSION_MS / 2 <= run.listed_for <= SESSION_MS * 1.5
    assert run.history[0][1] == ["10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"]
    assert run.history[-1][1] == ["10.0.0.2:8080", "10.0.0.3:8080"]


def test_a_provider_that_closes_its_session_is_unlisted_at_once():
    closed = scenarios.registry_run("close")
    assert closed.listed_for < SESSION_MS / 4


def test_a_shorter_session_unlists_a_crashed_provider_sooner():
    short = scenarios.registry_run("crash", session_timeout=0.1)
    assert short.session_ms == 100.0
    assert short.listed_for < scenarios.registry_run("crash").listed_for
    assert short.listed_for <= 100.0 * 1.5


def test_nothing_happens_nobody_leaves():
    run = scenarios.registry_run("none")
    assert run.unlisted_at is None and len(run.history) == 1


def test_round_robin_spreads_requests_evenly_and_least_loaded_picks_the_idlest():
    even = scenarios.balance_run("round_robin", requests=30)
    assert even.counts == {"10.0.0.1:8080": 10, "10.0.0.2:8080": 10, "10.0.0.3:8080": 10}
    idle = scenarios.balance_run("least_loaded", requests=6, loads=(0.9, 0.2, 0.5))
    assert idle.counts == {"10.0.0.1:8080": 0, "10.0.0.2:8080": 6, "10.0.0.3:8080": 0}


def test_a_balancer_sends_requests_to_a_crashed_provider_until_its_session_expires():
    run = scenarios.balance_run("round_robin", requests=40, crash=True)
    assert run.to_the_dead > 0
    to_dead = [t for t, a in run.choices if t >= run.crashed_at and a == "10.0.0.1:8080"]
    assert max(to_dead) - run.crashed_at <= SESSION_MS * 1.5
    assert run.choices[-1][0] - run.crashed_at > SESSION_MS * 1.5  # the run went on after that...
    late = [a for t, a in run.choices if t > run.crashed_at + SESSION_MS * 1.5]
    assert late and "10.0.0.1:8080" not in late  # ...and never chose it again


# -- 5. event notification -----------------------------------------------------------------------
def test_a_connected_listener_reads_every_signal():
    run = scenarios.notify_run(signals=5)
    assert [p for _, p in run.received] == [b"", b"e1", b"e2", b"e3", b"e4", b"e5"]
    assert run.missed == 0
    assert run.raw == [(run.raw[0][0], "CHANGED", "CONNECTED")]  # the plain watch: one change
    assert all(0 < latency < 100 for latency in run.latencies)


def test_across_a_short_disconnection_signals_are_coalesced_and_the_plain_watch_is_dropped():
    run = scenarios.notify_run(signals=6, disconnect_ms=150.0)
    payloads = [p for _, p in run.received]
    assert payloads[-1] == b"e6"
    assert run.missed > 0
    assert len(payloads) - 1 + run.missed == 6  # each signal read or known to be missed
    states = [s for _, s in run.states]
    assert states[:2] == ["SUSPENDED", "CONNECTED"] and "LOST" not in states  # same session
    (_, kind, state), = run.raw
    assert kind == "NONE"  # told the connection dropped, not what changed


def test_a_disconnection_longer_than_the_session_loses_the_session_not_the_last_signal():
    run = scenarios.notify_run(signals=6, disconnect_ms=600.0)
    assert "LOST" in [s for _, s in run.states]
    assert run.received[-1][1] == b"e6" and run.missed > 0


# -- 6. membership -------------------------------------------------------------------------------
def test_a_master_sees_a_clean_leave_at_once_and_a_crash_after_the_session_timeout():
    run = scenarios.membership_run(workers=4, leave="w2", crash="w3")
    joins = [who for _, kind, who in run.changes if kind == "join"]
    assert joins == ["w1", "w2", "w3", "w4"]
    assert run.seen_after("w2") < SESSION_MS / 4
    assert SESSION_MS / 2 <= run.seen_after("w3") <= SESSION_MS * 1.5
    assert run.members == ["w1", "w4"]


# -- 4. barriers ---------------------------------------------------------------------------------
def test_nobody_passes_a_barrier_before_it_is_removed():
    run = scenarios.barrier_run(workers=3)
    assert run.removed_at is not None
    assert all(t is not None and t >= run.removed_at for t in run.passed.values())
    assert all(run.arrived[w] < run.removed_at for w in run.arrived)


def test_a_barrier_whose_coordinator_crashed_never_opens():
    run = scenarios.barrier_run(workers=3, crash_coordinator=True, timeout=0.5)
    assert run.removed_at is None
    assert run.passed == {"w1": None, "w2": None, "w3": None}


def test_a_double_barrier_lets_members_enter_together_and_leave_together():
    run = scenarios.double_barrier_run(arrivals=(0.0, 80.0, 200.0), work=(60.0, 250.0, 120.0))
    assert run.entered_together and run.left_together
    assert all(t is not None for t in run.entered.values())
    # the first to arrive waited for the last; the first done waited for the last done
    assert run.entered["m1"] - run.arrived["m1"] >= 200.0
    assert run.left["m1"] - run.done["m1"] >= run.done["m2"] - run.done["m1"]


def test_a_crashed_member_holds_the_others_until_its_session_expires():
    run = scenarios.double_barrier_run(crash="m2")
    assert run.left["m2"] is None
    assert run.left["m1"] is not None and run.left["m3"] is not None
    assert min(run.left["m1"], run.left["m3"]) - run.done["m2"] >= SESSION_MS / 2


def test_a_double_barrier_waiting_for_one_member_too_many_lets_nobody_in():
    run = scenarios.double_barrier_run(num_clients=4, timeout=0.5)
    assert run.entered == {"m1": None, "m2": None, "m3": None}
    assert not run.entered_together


# -- 7. election and the herd ---------------------------------------------------------------------
def test_watching_the_predecessor_wakes_one_candidate_per_departure():
    run = scenarios.election_run(candidates=5)
    assert [role for _, role, _ in run.elected] == sorted(
        (role for _, role, _ in run.elected), key=lambda r: [t for _, x, t in run.elected if x == r][0])
    assert [token for _, _, token in run.elected] == [0, 1, 2, 3, 4]  # in token order
    assert run.waiting == [4, 3, 2, 1, 0]
    assert run.wakeups == [1, 1, 1, 1, 0] == run.notices
    assert run.overlaps == []


def test_the_naive_election_wakes_every_waiting_candidate():
    run = scenarios.election_run(candidates=5, naive=True)
    assert run.waiting[0] == 4
    assert run.wakeups[0] == run.notices[0] == run.waiting[0]  # the herd: all of them
    # each later departure also fires the leaving leader's own leftover children watch
    assert all(w >= waiting for w, waiting in zip(run.wakeups, run.waiting, strict=True))
    assert sum(run.wakeups) > sum(scenarios.election_run(candidates=5).wakeups)
    assert run.overlaps == []


def test_a_paused_leader_and_its_successor_both_believe_they_lead():
    run = scenarios.election_run(candidates=3, pause_leader_ms=600.0)
    first, second = run.elected[0], run.elected[1]
    assert second[0] - first[0] >= SESSION_MS  # the ensemble waited for the session to expire
    (start, end), *_ = run.overlaps
    assert start == second[0]  # from the successor's election...
    assert end > start
    stale = run.stale_acts
    assert stale and stale[0][1] == first[1] and stale[0][2] < second[2]  # ...to an act with an old token


def test_a_short_pause_costs_the_leader_nothing():
    run = scenarios.election_run(candidates=3, pause_leader_ms=200.0)
    assert run.overlaps == [] and run.stale_acts == []


# -- 8. lock, fencing, queue ------------------------------------------------------------------------
def test_without_fencing_the_paused_holders_late_write_is_accepted():
    run = scenarios.lock_pause_run(600.0, fencing=False)
    assert run.tokens["A"] < run.tokens["B"]
    assert run.both_held  # two clients believed they held the lock
    assert run.stale_write_accepted
    assert run.resource.writers() == [run.tokens["A"], run.tokens["B"], run.tokens["A"], run.tokens["B"]]


def test_with_fencing_the_paused_holders_late_write_is_refused():
    run = scenarios.lock_pause_run(600.0, fencing=True)
    assert run.both_held
    assert not run.stale_write_accepted
    assert run.resource.refused == [(run.tokens["A"], "A2")]
    refused = [w for w in run.writes if not w[4]]
    assert [(who, value) for _, who, _, value, _ in refused] == [("A", "A2")]


def test_a_pause_shorter_than_the_session_keeps_the_lock():
    run = scenarios.lock_pause_run(200.0, fencing=False)
    assert run.both_held == [] and not run.stale_write_accepted
    assert [value for _, _, _, value, _ in run.writes] == ["A1", "A2", "B1", "B2"]


@pytest.mark.parametrize("fault", scenarios.QUEUE_FAULTS)
def test_every_queued_item_is_taken_exactly_once(fault):
    run = scenarios.queue_run(consumers=3, items=12, fault=fault)
    assert run.exactly_once
    assert len(run.claims) == 12
    if fault == "crash_consumer":
        assert len(run.per_consumer["k1"]) == 2  # it took two, then died holding the second
    if fault == "lost_answer":
        # k1's transaction took job-01 but its answer was dropped; the claim told k1 it won
        k1 = next(node for node, name in run.names.items() if name.endswith(" k1"))
        lost = [e for e in run.ens.sim.trace.of_kind("drop") if e.node == k1
                and type(e.message).__name__ == "Response" and "claims/" in e.message.describe()]
        assert lost and run.per_consumer["k1"][0] == b"job-01"
    if fault == "partition_leader":
        assert sum(run.disconnections.values()) >= 1


# -- the same seed, the same run; bad arguments ------------------------------------------------------
def test_a_run_repeats_exactly_from_its_seed():
    a, b = scenarios.election_run(naive=True, seed=3), scenarios.election_run(naive=True, seed=3)
    assert (a.elected, a.wakeups, a.leaders) == (b.elected, b.wakeups, b.leaders)
    assert [e.describe() for e in a.ens.sim.trace] == [e.describe() for e in b.ens.sim.trace]
    c = scenarios.election_run(naive=True, seed=4)
    assert [e.describe() for e in c.ens.sim.trace] != [e.describe() for e in a.ens.sim.trace]


@pytest.mark.parametrize("call, problem", [
    (lambda: scenarios.registry_run("vanish"), "how must be"),
    (lambda: scenarios.config_run(writes=0), "writes >= 1"),
    (lambda: scenarios.membership_run(leave="w9"), "not one of the workers"),
    (lambda: scenarios.membership_run(leave="w2", crash="w2"), "cannot both"),
    (lambda: scenarios.election_run(candidates=1), "candidates >= 2"),
    (lambda: scenarios.queue_run(fault="flood"), "fault must be one of"),
    (lambda: scenarios.double_barrier_run(arrivals=(0.0,), work=(1.0, 2.0)), "one entry per member"),
    (lambda: scenarios.double_barrier_run(crash="m7"), "not one of the members"),
])
def test_bad_arguments_are_named(call, problem):
    with pytest.raises(ValueError, match=problem):
        call()


# -- reads and writes -----------------------------------------------------------------------------
def test_a_follower_lagging_past_sync_limit_is_a_refused_argument_not_a_lost_connection():
    # The panel's slider reaches 100 ms; there the leader drops the follower (syncLimit) and the
    # reader's session is lost. The run says so as a ValueError, which panels show as text.
    with pytest.raises(ValueError, match="syncLimit"):
        scenarios.reads_run("get", lag_ms=100.0)


def test_a_plain_read_from_a_lagging_follower_is_not_linearizable_and_sync_then_read_is():
    plain = scenarios.reads_run("get", lag_ms=60.0)
    assert plain.result.ok is False
    write, stale = plain.result.minimal()
    assert write.client == "writer" and stale.client == "reader"
    assert write.return_ < stale.call and stale.output != write.input[2]
    values = [v for _, _, v in plain.reads]
    assert values == sorted(values)  # the reader never goes back in time: only stale
    synced = scenarios.reads_run("sync_get", lag_ms=60.0)
    assert synced.result.ok is True
    assert synced.reads[-1][2] == b"5"

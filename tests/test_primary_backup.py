"""Naive primary-backup replication (Alsberg and Day 1976; Budhiraja et al. 1993, "The
primary-backup approach"): what asynchronous and synchronous acknowledgement cost, and how naive
failover splits the brain. These are the stories chapter 1 tells before quorums fix them.
"""

from __future__ import annotations

import pytest

from zablib import InvariantViolation
from zablib.protocols import primary_backup
from zablib.protocols.primary_backup import FAILOVER_MS, HEARTBEAT_MS, SHIP_MS


def settled(mode: str, seed: int = 0, n: int = 3):
    """A group whose primary, node 1, has been heartbeating for a while."""
    sim = primary_backup.cluster(n, seed=seed, mode=mode)
    sim.run(until=100)
    assert sim.primary() == 1
    return sim


def crash_primary_right_after_a_write(sim) -> None:
    """The shared schedule: one write that replicates, then 'x', then the primary dies."""
    sim.submit("a")
    sim.run_for(50)
    sim.submit("x")
    sim.crash(1)  # no time passes: in async mode 'x' waits for the next batch, SHIP_MS away
    sim.run_for(2 * FAILOVER_MS[1])


# -- asynchronous replication ----------------------------------------------------------------


def test_async_acknowledges_at_once_and_loses_the_write_when_the_primary_dies_before_shipping():
    sim = settled("async")
    crash_primary_right_after_a_write(sim)
    assert sim.acknowledged() == ["a", "x"], "the client was told both writes succeeded"
    new = sim.primary()
    assert new in (2, 3)
    assert sim.committed(new) == ["a"]
    assert sim.lost_writes() == ["x"]
    with pytest.raises(InvariantViolation) as broken:
        sim.check()
    assert broken.value.invariant == "durability"
    assert broken.value.detail == f"'x' was acknowledged but node {new} does not have it"


def test_the_recovered_old_primary_discards_the_write_only_it_had():
    sim = settled("async")
    crash_primary_right_after_a_write(sim)
    assert sim.committed(1) == ["a", "x"], "'x' is on the old primary's disk"
    sim.recover(1)
    sim.run_for(200)
    assert sim.trace.values("discarded", node=1) == [("x",)]
    assert any(note.startswith("discarded ['x'] to match primary") for note in sim.trace.notes(1))
    assert {i: sim.committed(i) for i in sim.node_ids} == {1: ["a"], 2: ["a"], 3: ["a"]}


def test_async_ships_in_batches_so_a_write_survives_once_a_batch_has_left():
    sim = settled("async")
    sim.submit("y")
    sim.run_for(SHIP_MS + 10)  # the batch has left and arrived (delays are at most 10 ms)
    sim.crash(1)
    sim.run_for(2 * FAILOVER_MS[1])
    assert sim.committed(sim.primary()) == ["y"]
    sim.check()


def test_async_keeps_acknowledging_with_every_backup_down():
    sim = settled("async")
    sim.crash(2)
    sim.crash(3)
    assert sim.submit("alone") is True
    assert sim.acknowledged() == ["alone"]


# -- synchronous replication -----------------------------------------------------------------


def test_sync_acknowledges_only_after_every_backup_has_logged_the_write():
    sim = settled("sync")
    assert sim.submit("w") is True, "the primary accepted it ..."
    assert sim.acknowledged() == [], "... but has not acknowledged it yet"
    sim.run_for(25)  # two message delays at most
    assert sim.acknowledged() == ["w"]
    assert all(sim.committed(i) == ["w"] for i in sim.node_ids)


def test_sync_never_loses_an_acknowledged_write_under_the_same_schedule():
    sim = settled("sync")
    crash_primary_right_after_a_write(sim)
    assert sim.acknowledged() == ["a"], "'x' was never acknowledged"
    new = sim.primary()
    assert new in (2, 3)
    assert sim.committed(new)[:1] == ["a"]
    assert sim.lost_writes() == []
    sim.check()
    sim.recover(1)
    sim.run_for(200)
    sim.check()
    assert not sim.trace.values("discarded")


@pytest.mark.parametrize("seed", range(8))
def test_sync_does_not_count_a_recovered_node_with_an_equally_long_but_different_log(seed):
    """Regression: a Heartbeat compared log lengths only, so the old primary's unreplicated 'x'
    passed for the new primary's 'y', 'y' was acknowledged with two copies instead of three,
    and it was lost when the old primary won the next failover. A backup now adopts a new
    primary's whole log (Sync) before it acknowledges anything in a new view."""
    sim = settled("sync", seed=seed)
    sim.crash(2)
    sim.crash(3)
    sim.submit("x")  # lands on node 1 only; cannot be acknowledged
    sim.run_for(5)
    sim.crash(1)
    sim.recover(2)
    sim.recover(3)
    sim.run_for(2 * FAILOVER_MS[1])  # 2 or 3 takes over with an empty log
    sim.submit("y")  # waits for node 1
    sim.run_for(20)
    sim.recover(1)  # log ['x']: as long as the new primary's ['y']
    sim.run_for(100)
    assert sim.acknowledged() == ["y"]
    assert all(sim.committed(i) == ["y"] for i in sim.node_ids), "node 1 gave up 'x' first"
    sim.crash(sim.primary())
    sim.run_for(2 * FAILOVER_MS[1])
    sim.check()


def test_sync_stops_acknowledging_while_a_backup_is_crashed_and_resumes_when_it_returns():
    sim = settled("sync")
    sim.crash(3)
    sim.submit("w1")
    sim.submit("w2")
    sim.run_for(1_000)
    assert sim.acknowledged() == []
    assert sim.primary() == 1, "the primary is alive: nobody fails over"
    sim.recover(3)
    sim.run_for(100)
    assert sim.acknowledged() == ["w1", "w2"]
    assert sim.committed(3) == ["w1", "w2"]


def test_sync_stops_acknowledging_while_a_backup_is_isolated_and_resumes_after_heal():
    """Isolated for a shorter time than the failover timeout minus a heartbeat period, so the
    backup hears from the primary again before its timer expires and does not take over."""
    sim = settled("sync")
    sim.isolate(3)
    sim.submit("w1")
    sim.run_for(FAILOVER_MS[0] - HEARTBEAT_MS - 60)
    assert sim.acknowledged() == []
    sim.heal()
    sim.run_for(100)
    assert sim.acknowledged() == ["w1"]
    assert sim.primaries() == [1]


def test_a_backup_isolated_past_its_timeout_takes_over_and_the_unacknowledged_write_goes():
    sim = settled("sync")
    sim.isolate(3)
    sim.submit("w1")
    sim.run_for(2 * FAILOVER_MS[1])
    assert sim.primaries() == [1, 3]
    sim.heal()
    sim.run_for(200)
    assert sim.primaries() == [3]
    assert sim.trace.values("unacknowledged", node=1) == [("w1",)]
    assert sim.acknowledged() == []
    sim.check()


# -- naive failover --------------------------------------------------------------------------


def test_naive_failover_elects_a_second_primary_on_the_other_side_of_a_partition():
    sim = settled("async")
    sim.partition({1}, {2, 3})
    sim.run_for(2 * FAILOVER_MS[1])
    assert len(sim.primaries()) == 2 and sim.primaries()[0] == 1
    new = sim.primaries()[1]
    assert (sim.nodes[1].view, sim.nodes[new].view) == (1, 2)
    assert sim.primary() == new, "primary() answers with the highest view"
    assert sim.request(1, "stale") is True, "the old primary still acknowledges writes"
    sim.run_for(50)
    sim.heal()
    sim.run_for(300)
    assert sim.primaries() == [new]
    assert sim.trace.values("step-down", node=1) == [2]
    assert sim.lost_writes() == ["stale"]
    with pytest.raises(InvariantViolation, match="'stale' was acknowledged"):
        sim.check()


def test_two_primaries_of_one_view_are_resolved_in_favour_of_the_lower_id():
    """Both backups can time out within one message delay of each other; with seed 57, 3 takes
    over first and 2 a few milliseconds later, before 3's Sync reaches it."""
    sim = settled("sync", seed=57)
    sim.submit("a")
    sim.run_for(50)
    sim.crash(1)
    sim.run_for(2 * FAILOVER_MS[1])
    takeovers = [(e.node, e.value) for e in sim.trace if e.tag == "primary"]
    assert takeovers == [(3, 2), (2, 2)], "both took over view 2"
    assert sim.trace.values("step-down", node=3) == [2]
    assert sim.primaries() == [2]
    assert sim.submit("b") is True
    sim.run_for(30)
    assert sim.acknowledged() == ["a"], "'b' needs node 1, which is down"
    assert sim.committed(3) == ["a", "b"], "3 follows 2 now"


# -- the API ---------------------------------------------------------------------------------


def test_submit_without_a_live_primary_is_refused():
    sim = settled("async")
    sim.crash(1)
    assert sim.primary() is None
    assert sim.submit("nobody") is False
    sim.check()  # nothing to check against: no primary


def test_a_backup_refuses_client_writes():
    sim = settled("async")
    assert sim.request(2, "w") is False
    assert sim.committed(2) == []


@pytest.mark.parametrize("kwargs, match", [
    ({"mode": "fast"}, "unknown mode 'fast'; use 'async' or 'sync'"),
    ({"n": 1}, "at least 2 replicas, got 1"),
    ({"n": True}, "at least 2 replicas, got True"),
])
def test_bad_options_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        primary_backup.cluster(**kwargs)


def test_committed_of_an_unknown_node_is_an_error():
    with pytest.raises(ValueError, match=r"unknown node 4; nodes are 1\.\.3"):
        primary_backup.cluster(3).committed(4)

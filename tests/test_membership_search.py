"""Growing 3 servers to 5 under one rolling schedule, searched for two leaders at once.

ZAB with static configuration files reaches two established leaders when the old leader is
restarted first; Raft's single-server changes and joint consensus never do over the same
orders, seeds and timings; the detector sees the two leaders of Raft's broken direct switch.
"""

from __future__ import annotations

import pytest

import zablib.membership as membership
import zablib.protocols.raft as raft


def test_the_static_search_finds_two_leaders_exactly_when_the_old_leader_is_restarted_first():
    found = membership.search("zab-static", seeds=range(4))
    assert found.runs == 24 and found.completed == 24
    assert dict(found.per_order) == {(3, 1, 2): 4, (3, 2, 1): 4}
    first = found.found[0]
    assert (first.order, first.seed) == ((3, 1, 2), 0)
    # Two leaders, each with a quorum of its own file: 2 with 1 (of 1..3), 5 with 3 and 4.
    assert dict(first.leaders) == {2: (1,), 5: (3, 4)}


def test_a_found_schedule_replays_to_the_same_moment():
    found = membership.search("zab-static", orders=[(3, 2, 1)], seeds=[2])
    replay = found.replay(0, until_two=True)
    assert replay.two_leaders == (found.found[0].at_ms, found.found[0].leaders)
    assert replay.sim.now == found.found[0].at_ms


@pytest.mark.parametrize("protocol", ["raft-single", "raft-joint"])
def test_raft_changes_never_reach_two_leaders_over_the_same_search(protocol):
    timings = [membership.Timing(), *membership.random_timings(4, seed=3)]
    found = membership.search(protocol, seeds=range(2), timings=timings)
    assert found.runs == 6 * 2 * 5
    assert found.found == []
    # Every run went all the way: a leader committed the target configuration.
    assert found.completed == found.runs


def test_the_raft_runs_really_change_the_configuration_while_servers_restart():
    run = membership.grow_run("raft-single", (3, 1, 2), seed=0)
    assert [node for _, node in run.steps] == [4, 5, 3, 1, 2]
    assert run.completed and run.sim.configuration() == (1, 2, 3, 4, 5)
    configs = [e.command for e in run.sim.nodes[run.sim.leader()].log if e.kind == "config"]
    assert configs == [(1, 2, 3, 4), (1, 2, 3, 4, 5)]  # one server at a time
    joint = membership.grow_run("raft-joint", (3, 1, 2), seed=0)
    assert joint.completed and joint.sim.configuration() == (3, 4, 5)
    run.sim.check()
    joint.sim.check()


def test_the_detector_sees_the_direct_switch_s_two_leaders_and_joint_consensus_s_one():
    assert membership.raft_established_leaders(raft.scenario_direct_switch()) == [
        (1, (2,)), (4, (3, 5))]
    assert membership.raft_established_leaders(raft.scenario_joint()) == [(1, (2,))]


def test_random_timings_are_the_same_for_the_same_seed_and_within_bounds():
    a = membership.random_timings(5, seed=7)
    assert a == membership.random_timings(5, seed=7) != membership.random_timings(5, seed=8)
    assert all(0 <= g <= 300 for t in a for g in t.gaps_ms[:4])
    assert all(t.gaps_ms[4] == 1000 for t in a)  # watched a second after the last step
    assert all(0 <= t.down_ms <= 1000 for t in a)


def test_bad_arguments_are_refused_by_name():
    with pytest.raises(ValueError, match="unknown protocol"):
        membership.grow_run("paxos")
    with pytest.raises(ValueError, match="order must be 1, 2, 3"):
        membership.grow_run("raft-single", (1, 2))
    with pytest.raises(ValueError, match="five gaps"):
        membership.grow_run("raft-joint", timing=membership.Timing((1.0,), 2.0))
    with pytest.raises(ValueError, match="must not be negative"):
        membership.random_timings(-1)

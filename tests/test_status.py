"""The read-only status API: ``sim.status(i)`` reports any protocol's node with the same fields
(role, term, leader, log rows, commit point), and ``committed(i)`` is, for every protocol, the
client commands among the committed rows of that report."""

from __future__ import annotations

import dataclasses

import pytest

from zablib import faults
from zablib.core import LogRow, Node, NodeStatus, Output
from zablib.protocols import pingpong, primary_backup, raft, threepc, twopc, zab
from zablib.sim import Simulation


def settled_raft(*commands: str) -> raft.RaftSimulation:
    """Three Raft servers with a leader, which has committed ``commands`` everywhere."""
    sim = raft.cluster(3, seed=1)
    sim.run(until=300)
    for command in commands:
        sim.submit(command)
    sim.run_for(50)
    return sim


# -- one shape for every protocol ---------------------------------------------------------------

def test_a_raft_leader_reports_its_term_its_log_rows_and_its_commit_point():
    sim = settled_raft("x")
    leader = sim.leader()
    status = sim.status(leader)
    assert (status.node, status.up, status.role, status.leader) == (leader, True, "leader", leader)
    assert status.log == (LogRow(1, status.term, None, "noop"), LogRow(2, status.term, "x"))
    assert status.commit == 2 and status.committed() == ["x"] == sim.committed(leader)
    assert status.text == sim.nodes[leader].status()
    follower = sim.status(min(i for i in sim.node_ids if i != leader))
    assert (follower.role, follower.leader, follower.term) == ("follower", leader, status.term)
    assert follower.extra["voted_for"] == leader and follower.extra["member"]


def test_zab_rows_carry_their_zxid_and_the_epoch_is_the_term():
    sim = zab.cluster(3, seed=1)
    sim.run(until=100)
    leader = sim.leader()
    sim.submit("a")
    sim.run_for(50)
    status = sim.status(1)
    assert (status.role, status.leader, status.term) == ("following", leader, 1)
    assert status.log == (LogRow(1, 1, "a", zxid=(1, 1)),) and status.commit == 1
    assert status.extra["last_zxid"] == (1, 1) and status.extra["phase"] == "synced"
    assert sim.status(leader).extra["established"]


def test_a_primary_backup_replica_reports_its_view_and_counts_every_logged_write_as_done():
    sim = primary_backup.cluster(3, seed=1)
    sim.run(until=100)
    sim.submit("w")
    status = sim.status(1)
    assert (status.role, status.term, status.leader) == ("primary", 1, 1)
    assert status.log == (LogRow(1, None, "w"),) and status.commit == 1
    assert sim.status(2).commit == 0  # async: the write has not been shipped yet


def test_split_brain_shows_as_two_nodes_that_each_report_themselves_as_leader():
    sim = primary_backup.cluster(3, seed=2)
    sim.run(until=100)
    sim.isolate(1)
    sim.run(until=600)
    leaders = {i: sim.status(i).leader for i in sim.node_ids if sim.status(i).role == "primary"}
    assert leaders == {i: i for i in sim.primaries()} and len(leaders) == 2


def test_commit_protocols_have_no_term_and_no_log_but_say_where_each_node_stands():
    sim = twopc.scenario_note()
    blocked = sim.status(2)
    assert (blocked.term, blocked.leader, blocked.log, blocked.commit) == (None, 0, (), 0)
    assert dict(blocked.extra) == {"state": "prepared", "decision": None}
    assert blocked.text == "participant prepared, blocked"
    coordinator = sim.status(0)
    assert (coordinator.up, coordinator.role, coordinator.extra["decision"]) == (
        False, "coordinator", "abort")


def test_a_3pc_participant_that_took_over_follows_itself():
    """Skeen's termination protocol: B (2) times out on the coordinator and on A, and takes over."""
    sim = threepc.scenario_note()
    status = sim.status(2)
    assert (status.role, status.leader, status.extra["decision"]) == ("coordinator", 2, "commit")


def test_a_node_without_a_report_of_its_own_shows_its_role_and_status_line():
    sim = pingpong.cluster(3)
    sim.run()  # three balls of ten hops each: every player saw ten
    assert (sim.status(1).role, sim.status(1).extra["received"]) == ("player", 10)

    class Quiet(Node):
        role = "quiet"

    plain = Simulation(Quiet, (1, 2)).status(2)
    assert plain == NodeStatus(2, True, "quiet", text="quiet")


# -- crashes ------------------------------------------------------------------------------------

def test_a_crashed_node_is_reported_as_it_was_when_it_crashed():
    sim = settled_raft("x")
    leader = sim.leader()
    before = sim.status(leader)
    sim.crash(leader)
    after = sim.status(leader)
    assert not after.up and dataclasses.replace(after, up=True) == before
    assert sim.committed(leader) == ["x"]


def test_raft_forgets_its_commit_point_on_restart_and_zab_does_not():
    """Figure 2: commitIndex and lastApplied are volatile, so a restarted Raft server knows nothing
    committed until a leader tells it; a ZAB server writes its delivered zxid to disk."""
    sim = settled_raft("x")
    follower = min(i for i in sim.node_ids if i != sim.leader())
    sim.crash(follower)
    sim.recover(follower)
    status = sim.status(follower)
    assert status.up and len(status.log) == 2 and status.commit == 0
    assert sim.committed(follower) == []
    sim.run_for(50)  # a heartbeat carries the leader's commit index
    assert sim.committed(follower) == ["x"]

    z = zab.cluster(3, seed=1)
    z.run(until=100)
    z.submit("a")
    z.run_for(50)
    z.crash(1)
    z.recover(1)
    assert z.status(1).role == "looking" and z.committed(1) == ["a"]


# -- one meaning of committed(i) ------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(6))
def test_committed_is_the_commands_among_the_committed_rows_in_every_protocol(seed):
    runs = [faults.raft_faulty_run(seed, membership=True), faults.faulty_run(zab.cluster, seed),
            faults.run_scenario(primary_backup.cluster, n=3, seed=seed,
                                crashes=((1, 235, 600),), actions=((100, "submit", "a"),
                                                                   (230, "submit", "b")),
                                duration=800)]
    for sim in runs:
        for i in sim.node_ids:
            status = sim.status(i)
            rows = status.log[: status.commit]
            assert sim.committed(i) == [row.command for row in rows if row.kind == "command"]
            assert [row.index for row in status.log] == list(range(1, len(status.log) + 1))


# -- read-only ------------------------------------------------------------------------------------

def test_a_report_cannot_be_changed_and_does_not_change_with_the_node():
    sim = settled_raft()
    leader = sim.leader()
    status = sim.status(leader)
    with pytest.raises(dataclasses.FrozenInstanceError):
        status.commit = 7
    with pytest.raises(TypeError):
        status.extra["voted_for"] = 3
    sim.submit("later")
    sim.run_for(50)
    assert len(status.log) == 1 and len(sim.status(leader).log) == 2


def test_bad_questions_get_clear_answers():
    sim = settled_raft()
    with pytest.raises(ValueError, match="unknown node 7; nodes are 1..3"):
        sim.status(7)

    class Chatty(Node):
        def report(self):
            return self.status()

        def on_start(self, now: float) -> Output:
            return Output()

    with pytest.raises(TypeError, match=r"node 1 \(Chatty\)\.report\(\) returned str"):
        Simulation(Chatty, (1,)).status(1)

"""ReadIndex: linearizable reads without writing to the log (Raft thesis §6.4, as etcd-io/raft's
read_only.go does it).

A leader takes its commit index as the read index (once its term's no-op is committed),
confirms with a heartbeat round that a majority still follows it, and serves the read once it
has applied the read index; a follower asks the leader for a read index and serves the read
itself once it has applied that far. The stories below check what this buys: a deposed leader
cut off with a minority cannot serve such a read (while a plain local read through it returns
a stale value), a read after an acknowledged write sees the write, and reads add nothing to the
log. The broken variant ``"unconfirmed-read"`` skips the heartbeat round, and the
linearizability checker catches the stale read it serves.
"""

from __future__ import annotations

import math
import random

import pytest

import zablib.protocols.raft as raft
from zablib.core import NodeId
from zablib.linearizability import UNKNOWN, KVModel, Operation, check


def x_value(commands: list) -> object:
    """The state machine the tests read: the last value set for ``x`` (0 before any)."""
    value = 0
    for command in commands:
        if command[:2] == ("set", "x"):
            value = command[2]
    return value


def until(sim: raft.RaftSimulation, predicate, within_ms: float, what: str) -> None:
    """Run ``sim`` until ``predicate(sim)`` holds, failing after ``within_ms`` simulated ms."""
    deadline = sim.now + within_ms
    while not predicate(sim):
        assert sim.now < deadline, f"no {what} within {within_ms:g} ms"
        sim.run_for(2.0)


def elect(sim: raft.RaftSimulation, within_ms: float = 3000.0) -> NodeId:
    until(sim, lambda s: s.leader() is not None
          and s.nodes[s.leader()].commit_index >= s.nodes[s.leader()].term_start,
          within_ms, "leader that has committed its no-op")
    return sim.leader()


def applied_at(sim: raft.RaftSimulation, node: NodeId, command) -> float | None:
    """When ``node`` applied ``command`` (the moment its client is told), or None."""
    for e in sim.trace:
        if e.kind == "note" and e.tag == "apply" and e.node == node and e.value[1].command == command:
            return e.time
    return None


def write(sim: raft.RaftSimulation, node: NodeId, value, limit: float = 2000.0) -> float:
    """Submit ``("set", "x", value)`` to ``node`` and run until it acknowledges (applies) it."""
    command = ("set", "x", value)
    assert sim.request(node, command)
    until(sim, lambda s: applied_at(s, node, command) is not None, limit,
          f"acknowledgement of {command} by node {node}")
    return applied_at(sim, node, command)


def others(sim, *nodes):
    return [i for i in sim.node_ids if i not in nodes]


# -- the happy path -------------------------------------------------------------------------
def test_a_read_after_an_acknowledged_write_sees_it_through_the_leader_and_through_a_follower():
    sim = raft.cluster(3, seed=4)
    leader = elect(sim)
    follower = others(sim, leader)[0]
    write(sim, leader, 1)
    # The leader has acknowledged; the follower learns the new commit index only with the next
    # AppendEntries, so a local read through it would still see 0 ...
    assert sim.nodes[follower].last_applied < sim.nodes[leader].commit_index
    assert sim.read(x_value, via=follower, linearizable=False).value == 0
    # ... but a ReadIndex read through it waits until it has applied the leader's commit index.
    via_leader = sim.read(x_value, via=leader)
    via_follower = sim.read(x_value, via=follower)
    until(sim, lambda s: via_leader.done and via_follower.done, 200, "reads served")
    assert via_leader.value == via_follower.value == 1
    assert via_follower.index == sim.nodes[leader].commit_index
    assert via_follower.ready_at > via_follower.asked_at  # a round trip to the leader, at least
    notes = sim.trace.values("read-forward", follower)
    assert notes == [(via_follower.id, leader)]


def test_read_only_requests_append_no_log_entries():
    sim = raft.cluster(5, seed=2)
    leader = elect(sim)
    write(sim, leader, 7)
    sim.run_for(100)
    logs = {i: sim.nodes[i].log for i in sim.node_ids}
    reads = [sim.read(x_value, via=i) for i in sim.node_ids for _ in range(3)]
    sim.run_for(300)
    assert all(r.done and r.value == 7 for r in reads)
    assert {i: sim.nodes[i].log for i in sim.node_ids} == logs
    assert len({r.index for r in reads}) == 1


def test_a_new_leader_fixes_no_read_index_before_its_no_op_commits():
    """Thesis §6.4 step 1: right after an election the leader's commit index may be behind the
    cluster's, so the read waits for the no-op of its term, and its read index covers it."""
    sim = raft.cluster(3, seed=0, election_ms=raft.QUIET_MS)
    sim.campaign(1)
    until(sim, lambda s: s.leader() == 1, 100, "node 1 leading")
    node = sim.nodes[1]
    assert node.commit_index < node.term_start
    read = sim.read(x_value, via=1)
    assert sim.trace.values("read-wait", 1) == [read.id]
    until(sim, lambda s: read.done, 200, "read served")
    assert read.index >= node.term_start


def test_a_server_that_knows_no_leader_refuses_a_linearizable_read():
    sim = raft.cluster(3, seed=0, election_ms=raft.QUIET_MS)
    read = sim.read(via=2)
    assert not read.accepted and not read.done
    sim.run_for(100)
    assert not read.done and "refused" in repr(read)


def test_a_single_server_confirms_its_reads_alone():
    sim = raft.cluster(1, seed=0)
    elect(sim)
    write(sim, 1, 3)
    read = sim.read(x_value, via=1)
    assert read.done and read.value == 3 and read.ready_at == read.asked_at


def test_reads_survive_a_lossy_network_the_next_heartbeats_carry_the_round_again():
    sim = raft.cluster(3, seed=5)
    leader = elect(sim)
    write(sim, leader, 1)
    sim.set_loss(0.4)
    reads = [sim.read(x_value, via=leader) for _ in range(5)]
    until(sim, lambda s: all(r.done for r in reads), 2000, "reads served")
    assert [r.value for r in reads] == [1] * 5


def test_bad_input_is_refused():
    sim = raft.cluster(3, seed=0)
    with pytest.raises(ValueError, match="query must be a function"):
        sim.read("x", via=1)
    sim.crash(2)
    with pytest.raises(ValueError, match="crashed"):
        sim.read_index(via=2)
    with pytest.raises(raft.SimulationError, match="has not been served"):
        sim.read_index(via=1).commands()


def test_an_append_reply_without_a_read_round_prints_as_before():
    reply = raft.AppendReply(2, True, 5)
    assert reply.describe() == repr(reply).replace(", read=0", "")
    assert raft.AppendReply(2, True, 5, read=3).describe().endswith("read=3)")


# -- the deposed leader ---------------------------------------------------------------------
def deposed_leader(variant: str = "correct"):
    """Five servers; x=1 is acknowledged; the leader and one follower are cut off from the
    other three, who elect a new leader and acknowledge x=2. The old leader still believes it
    leads (without CheckQuorum nothing tells it otherwise). Returns the run, the old and new
    leader and the history of the two writes as the clients saw them."""
    sim = raft.cluster(5, seed=3, variant=variant)
    old = elect(sim)
    calls = {1: sim.now}
    acks = {1: write(sim, old, 1)}
    sim.run_for(60)  # every server applies x=1
    minority = {old, others(sim, old)[0]}
    sim.partition(minority, set(sim.node_ids) - minority)
    until(sim, lambda s: s.leader() is not None and s.leader() != old
          and s.nodes[s.leader()].commit_index >= s.nodes[s.leader()].term_start,
          3000, "new leader on the majority side")
    new = sim.leader()
    calls[2] = sim.now
    acks[2] = write(sim, new, 2)
    history = [Operation(f"w{v}", ("set", "x", v), "ok", calls[v], acks[v]) for v in (1, 2)]
    assert sim.nodes[old].role == raft.LEADER
    return sim, old, new, history


def as_operation(read: raft.Read) -> Operation:
    if not read.done:
        return Operation(f"r{read.id}", ("get", "x"), UNKNOWN, read.asked_at, math.inf)
    return Operation(f"r{read.id}", ("get", "x"), read.value, read.asked_at, read.ready_at)


def test_a_deposed_leader_cut_off_with_a_minority_cannot_serve_a_read_index_a_local_read_is_stale():
    sim, old, new, history = deposed_leader()
    stale = sim.read(x_value, via=old, linearizable=False)
    fenced = sim.read(x_value, via=old)
    fresh = sim.read(x_value, via=new)
    sim.run_for(2000)
    assert stale.done and stale.value == 1  # the plain local read returns the old value
    assert fenced.accepted and not fenced.done  # its heartbeat round never reaches a majority
    assert fresh.done and fresh.value == 2
    assert sim.trace.values("read-index", old) == [(fenced.id, sim.nodes[old].commit_index)]
    ops = history + [as_operation(r) for r in (fenced, fresh)]
    assert check(ops, KVModel({"x": 0}))
    assert not check(history + [as_operation(stale)], KVModel({"x": 0}))
    # Healed, the old leader hears of the new term and drops the read it could not confirm.
    sim.heal()
    sim.run_for(300)
    assert fenced.id in sim.trace.values("read-dropped", old)[0]
    assert not fenced.done


def test_the_broken_read_without_a_heartbeat_round_is_stale_and_the_checker_says_so():
    sim, old, new, history = deposed_leader("unconfirmed-read")
    read = sim.read(x_value, via=old)
    sim.run_for(100)
    assert read.done and read.value == 1  # served at once, from a leader that is no more
    result = check(history + [as_operation(read)], KVModel({"x": 0}))
    assert not result
    assert ("get", "x") in [op.input for op in result.fragment]


# -- a seeded campaign: every recorded history is linearizable ----------------------------------
def read_write_run(seed: int, variant: str = "correct", steps: int = 25,
                   membership: str = "single") -> tuple[raft.RaftSimulation, list[Operation]]:
    """Five servers under partitions, crashes and loss; clients write x=k through any server
    that believes it leads (a deposed one too) and read through random servers. Returns the run
    and the history of the writes and reads as their clients saw them (a write never acknowledged has
    an unknown outcome). With ``membership="joint"`` there are two spares, and a tenth of the
    steps ask for a change to a random set of three to five of the seven servers."""
    rng = random.Random(seed)
    joint = membership == "joint"
    sim = raft.cluster(5, seed=seed, variant=variant, election_ms=(50.0, 100.0),
                       heartbeat_ms=15.0, membership=membership, spares=2 if joint else 0)
    writes: list[tuple[NodeId, int, float]] = []
    reads: list[raft.Read] = []
    for k in range(1, steps + 1):
        fault = rng.random()
        up = [i for i in sim.node_ids if sim.is_up(i)]
        if fault < 0.25:
            cut = set(rng.sample(sim.node_ids, rng.choice((1, 2))))
            sim.partition(cut, set(sim.node_ids) - cut)
        elif fault < 0.35:
            sim.heal()
        elif fault < 0.45 and len(up) > 3:
            sim.crash(rng.choice(up))
        elif fault < 0.55 and sim.crashed:
            sim.recover(rng.choice(sorted(sim.crashed)))
        elif fault < 0.6:
            sim.set_loss(rng.choice((0.0, 0.1)))
        elif fault < 0.7 and joint:
            target = rng.sample(sim.node_ids, rng.randint(3, 5))
            if set(target) != set(sim.configuration()):
                sim.change_membership(target)
        leaders = [i for i in sim.node_ids if sim.is_up(i) and sim.nodes[i].role == raft.LEADER]
        if leaders:
            node = rng.choice(leaders)
            sim.request(node, ("set", "x", k))
            writes.append((node, k, sim.now))
        for _ in range(rng.randint(1, 3)):
            via = rng.choice([i for i in sim.node_ids if sim.is_up(i)])
            reads.append(sim.read(x_value, via=via))
        sim.run_for(rng.uniform(10.0, 60.0))
    sim.run_for(200)
    sim.check()
    ops = []
    for node, k, call in writes:
        acked = applied_at(sim, node, ("set", "x", k))
        ops.append(Operation(f"w{k}", ("set", "x", k), "ok" if acked else UNKNOWN, call,
                             acked if acked else math.inf))
    return sim, ops + [as_operation(r) for r in reads]


READ_CAMPAIGN = 100
JOINT_READ_CAMPAIGN = 60


def test_a_seeded_campaign_of_reads_and_writes_under_faults_is_linearizable():
    served = 0
    for seed in range(READ_CAMPAIGN):
        _, ops = read_write_run(seed)
        served += sum(1 for op in ops if op.input[0] == "get" and op.output is not UNKNOWN)
        result = check(ops, KVModel({"x": 0}), timeout=30)
        assert result, f"seed {seed}: {result.describe()}"
    assert served > 10 * READ_CAMPAIGN  # the campaign reads, it does not just time out


def test_reads_stay_linearizable_while_joint_consensus_changes_the_members():
    """While C_old,new is the latest configuration, a read round needs a majority of both."""
    changed = 0
    for seed in range(JOINT_READ_CAMPAIGN):
        sim, ops = read_write_run(seed, membership="joint")
        result = check(ops, KVModel({"x": 0}), timeout=30)
        assert result, f"seed {seed}: {result.describe()}"
        changed += bool(sim.trace.values("joint-committed"))
    assert changed > JOINT_READ_CAMPAIGN // 2


def test_the_same_campaign_catches_reads_without_the_heartbeat_round():
    caught = [seed for seed in range(60) if not check(
        read_write_run(seed, "unconfirmed-read")[1], KVModel({"x": 0}), timeout=30)]
    assert caught

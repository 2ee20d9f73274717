"""Observers in the simulated ZooKeeper (``Ensemble(n, observers=k)``): servers that take client
sessions, answer reads from their own tree and forward writes to the leader, as followers do,
but never vote. What a client sees through an observer is what it sees through a follower:
its own writes, possibly stale reads that ``sync`` brings up to date, and sessions that survive
a move to another server; what the ensemble can do without a voter quorum is nothing.
"""

from __future__ import annotations

import random

import pytest
from ensemble_faults import next_writes, random_faults

from zablib import constant
from zablib.coord import Ensemble, KazooException, KazooState, KazooTimeoutError
from zablib.coord.messages import Forward
from zablib.protocols import zab

#: After the faults of the small campaign below stop, every client's next write succeeds within
#: this many simulated ms (tests/test_coord_faults.py's bound for three voters, which holds with
#: two observers added: their clients move to another server like any other client). Measured
#: worst case over 24 of these campaigns: 1.23 s.
LIVENESS_MS = 3000.0


def started(ens: Ensemble, *args, **kwargs):
    client = ens.client(*args, **kwargs)
    client.start()
    return client


def test_observers_are_servers_after_the_voters_and_serve_clients():
    ens = Ensemble(3, observers=2, seed=40)
    assert ens.servers == (1, 2, 3, 4, 5) and ens.observers == (4, 5)
    zk = started(ens, hosts=4)
    leader = ens.leader()
    assert leader in (1, 2, 3) and ens.followers() == [i for i in (1, 2, 3) if i != leader]
    assert [ens.sim.status(i).role for i in (4, 5)] == ["observer", "observer"]
    assert ens.sim.status(4).extra["connections"] == 1
    zk.create("/app", b"config")  # forwarded to the leader, committed, applied by the observer
    assert zk.get("/app")[0] == b"config"
    forwards = [e for e in ens.sim.trace if e.kind == "send" and isinstance(e.message, Forward)]
    assert forwards and {(e.node, e.peer) for e in forwards} == {(4, leader)}
    assert "observers" in repr(ens)
    ens.check()


def test_a_client_reads_its_own_writes_through_an_observer():
    ens = Ensemble(3, observers=1, seed=41)
    zk = started(ens, hosts=4)
    for k in range(5):
        zk.ensure_path("/n")
        zk.set("/n", b"%d" % k)
        assert zk.get("/n")[0] == b"%d" % k
    ens.check()


def test_an_observer_answers_a_stale_read_and_sync_makes_it_catch_up():
    ens = Ensemble(3, observers=1, seed=42)
    started(ens)
    leader = ens.leader()
    ens.sim.configure_links(leader, 4, delay=constant(60.0))  # its Informs arrive 60 ms late
    writer = started(ens, hosts=leader)
    reader = started(ens, hosts=4)
    writer.create("/config", b"v1")
    reader.sync("/")
    writer.set("/config", b"v2")  # acknowledged: committed by the voters alone
    assert reader.get("/config")[0] == b"v1"
    assert reader.sync("/config") == "/config"
    assert reader.get("/config")[0] == b"v2"
    ens.check()


def test_writes_commit_while_every_observer_is_down():
    ens = Ensemble(3, observers=2, seed=43)
    zk = started(ens, hosts=[1, 2, 3])
    ens.crash(4)
    ens.crash(5)
    zk.create("/w", b"1")
    zk.set("/w", b"2")
    assert zk.get("/w")[0] == b"2"
    ens.recover(4)
    ens.run_for(300)
    assert ens.tree(4).get("/w")[0] == b"2"  # the restarted observer caught up
    ens.check()


def test_with_a_voter_majority_down_observers_stop_serving_and_no_leader_is_elected():
    ens = Ensemble(3, observers=2, seed=44)
    zk = started(ens, hosts=[4, 5], timeout=0.4)
    zk.create("/before", b"")
    leader = ens.leader()
    for i in ens.followers():
        ens.crash(i)
    ens.run_for(zab.Timers().sync_ms + 100)
    assert ens.leader() is None
    assert [ens.sim.status(i).extra["serving"] for i in (leader, 4, 5)] == [False] * 3
    ens.run_for(2000)  # the leader and two observers elect nobody, and nobody serves
    assert ens.leader() is None
    assert not any(ens.sim.status(i).extra["serving"] for i in (leader, 4, 5))
    assert zk.state != "CONNECTED"
    ens.check()


def test_a_client_of_a_crashed_observer_moves_to_another_server_and_keeps_its_session():
    ens = Ensemble(3, observers=2, seed=45)
    zk = started(ens, hosts=[4, 1, 2, 3], randomize_hosts=False)
    server = ens.sim.nodes[zk.node_id].server
    assert server == 4
    zk.create("/mine", b"held", ephemeral=True)
    session = zk.client_id[0]
    states = []
    zk.add_listener(states.append)
    ens.crash(server)
    ens.run_for(800)
    assert states == [KazooState.SUSPENDED, KazooState.CONNECTED]
    assert zk.client_id[0] == session and ens.sim.nodes[zk.node_id].server != server
    assert zk.exists("/mine").ephemeralOwner == session
    ens.check()


def test_without_observers_the_trace_is_the_one_it_always_was():
    traces = []
    for ens in (Ensemble(3, seed=46), Ensemble(3, observers=0, seed=46)):
        zk = started(ens)
        zk.create("/a", b"x")
        zk.get("/a")
        traces.append(ens.sim.trace.describe())
    assert traces[0] == traces[1]


@pytest.mark.parametrize("bad", [-1, 1.5, True, 98])
def test_bad_observer_counts_are_refused(bad):
    with pytest.raises(ValueError, match="observers must be an int"):
        Ensemble(3, observers=bad)


def observer_campaign(seed: int, fault_ms: float = 2000.0) -> float:
    """Three clients spread over 3 voters and 2 observers work through ``fault_ms`` of random
    server crashes (at most two servers down at once), partitions and client isolations; then
    the faults stop. Returns how long the slowest client's next write took."""
    rng = random.Random(seed)
    ens = Ensemble(3, observers=2, seed=seed)
    clients = [ens.client(hosts=[4, 5, 1, 2, 3][k:] + [4, 5, 1, 2, 3][:k], randomize_hosts=False)
               for k in range(3)]
    stop: list = []

    def work(zk, k):
        zk.start(timeout=30)
        step = 0
        while not stop:
            step += 1
            try:
                zk.ensure_path(f"/k{k}")
                zk.set(f"/k{k}", b"%d" % step)
                zk.get_children("/")
            except (KazooException, KazooTimeoutError):
                zk.handler.sleep_func(0.05)

    for k, zk in enumerate(clients):
        ens.spawn(work, zk, k)
    ens.run_for(300)
    quiet = random_faults(ens, rng, clients, fault_ms, max_cut=4, bounds={
        "crash": 0.3, "recover": 0.55, "partition": 0.7, "heal": 0.8, "isolate": 0.9})
    stop.append(True)
    took = next_writes(ens, clients, quiet)
    last = ens.now
    ens.run_for(300)  # and every server, observers included, has applied the probes
    assert len({ens.tree(i).get("/")[0] for i in ens.servers}) == 1, last
    ens.check()
    return max(took.values())


@pytest.mark.parametrize("seed", range(8))
def test_after_faults_on_voters_and_observers_every_clients_next_write_succeeds_in_time(seed):
    assert observer_campaign(seed) <= LIVENESS_MS

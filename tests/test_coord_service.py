"""The coordination service on ZAB: who does what, sessions, watches, many clients, its checkers.

ZooKeeper's promises, each shown on a seeded run of ``zablib.coord.Ensemble``: a write goes
through the leader and every server applies the same txns in the same order; a read is answered by
the client's own server; a client's requests are answered in the order it sent them; a session is
opened and closed by txns and a silent one expires with its ephemeral znodes; a watch event
reaches its client before the client can read the change. Then the machinery: several blocking
programs in one deterministic run, and each service checker catching a deliberately broken server.
"""

from __future__ import annotations

import pytest

from zablib.coord import Ensemble, KazooState, SessionExpiredError, ZnodeStat, checks
from zablib.coord.messages import Forward, Request, Response, TxnEntry, WatchNotice
from zablib.coord.txn import CloseSessionTxn, CreateSessionTxn, CreateTxn
from zablib.invariants import InvariantViolation


def started(ens: Ensemble, *args, **kwargs):
    client = ens.client(*args, **kwargs)
    client.start()
    return client


def sent(ens: Ensemble, kind: type) -> list:
    return [e for e in ens.sim.trace if e.kind == "send" and isinstance(e.message, kind)]


# -- who does what ----------------------------------------------------------------------------------
def test_a_write_at_a_follower_is_forwarded_proposed_by_the_leader_and_applied_everywhere():
    ens = Ensemble(3, seed=0)
    first = started(ens)
    follower = ens.followers()[0]
    zk = started(ens, hosts=follower)
    zk.create("/a", b"1")
    ens.run_for(60)
    forwarded = [e for e in sent(ens, Forward) if e.message.op.__class__.__name__ == "CreateRequest"]
    assert [(e.node, e.peer) for e in forwarded] == [(follower, ens.leader())]
    proposers = {e.node for e in ens.sim.trace if e.kind == "note" and e.tag == "propose"}
    assert proposers == {ens.leader()}
    for i in ens.servers:
        assert ens.tree(i).get("/a")[0] == b"1"
        assert ens.sim.committed(i) == ens.sim.committed(ens.leader())
    assert first.get("/a")[0] == b"1"
    ens.check()


def test_zab_carries_idempotent_txns_with_zookeepers_zxid_and_the_leaders_time():
    ens = Ensemble(3, seed=1)
    zk = started(ens)
    zk.create("/q")
    path = zk.create("/q/n-", sequence=True)
    entries = ens.sim.committed(ens.leader())
    assert isinstance(entries[0], TxnEntry) and isinstance(entries[0].txn, CreateSessionTxn)
    create = [e for e in entries if isinstance(e.txn, CreateTxn) and e.txn.path == path][0]
    stat = zk.exists(path)
    assert stat.ctime == create.time  # stamped with the leader's clock, carried in the txn
    epoch, counter = stat.czxid >> 32, stat.czxid & 0xFFFFFFFF
    assert (epoch, counter) == ens.server(ens.leader()).zab.history[len(entries) - 1][0]


def test_a_read_is_answered_by_the_clients_own_server_without_the_leader():
    ens = Ensemble(3, seed=2)
    started(ens)
    follower = ens.followers()[0]
    zk = started(ens, hosts=follower)
    zk.create("/r", b"x")
    before = len(sent(ens, Forward))
    assert zk.get("/r")[0] == b"x"
    assert zk.exists("/r") is not None and zk.get_children("/") == ["r", "zookeeper"]
    assert len(sent(ens, Forward)) == before
    answers = [e for e in sent(ens, Response) if e.peer == zk.node_id]
    assert {e.node for e in answers} == {follower}


def test_a_clients_requests_are_answered_in_the_order_it_sent_them():
    """Two programs share one client: the read sent after the write waits for the write."""
    ens = Ensemble(3, seed=3)
    zk = started(ens)
    zk.create("/a", b"old")
    seen = {}
    ens.spawn(lambda: zk.set("/a", b"new"), name="writer")
    ens.spawn(lambda: seen.setdefault("read", zk.get("/a")[0]), name="reader")
    ens.run()
    assert seen["read"] == b"new"
    requests = [e.message.xid for e in sent(ens, Request) if e.node == zk.node_id]
    responses = [e.message.xid for e in ens.sim.trace
                 if e.kind == "deliver" and e.node == zk.node_id and isinstance(e.message, Response)]
    assert responses == requests
    ens.check()


# -- sessions -----------------------------------------------------------------------------------------
def test_sessions_are_opened_and_closed_by_transactions():
    ens = Ensemble(3, seed=4)
    zk = started(ens)
    session = zk.client_id[0]
    zk.create("/mine", ephemeral=True)
    assert ens.tree(1).ephemerals(session) == ("/mine",)
    zk.stop()
    ens.run_for(50)
    txns = [entry.txn for entry in ens.sim.committed(ens.leader())]
    assert txns[0] == CreateSessionTxn(session, 400)  # the default 0.4 s: 20 ticks of 20 ms
    assert txns[-1] == CloseSessionTxn(session)
    for i in ens.servers:
        assert session not in ens.tree(i).sessions() and "/mine" not in ens.tree(i)


def test_a_silent_session_expires_at_the_leader_and_its_ephemerals_go_on_every_server():
    ens = Ensemble(3, seed=5)
    owner, other = started(ens, timeout=0.1), started(ens)
    session = owner.client_id[0]
    owner.create("/lock", ephemeral=True)
    states = []
    owner.add_listener(states.append)
    ens.pause_client(owner, 500)  # a GC pause: no pings for 500 ms, the session timeout is 100 ms
    ens.run_for(300)
    assert other.exists("/lock") is None
    expired = ens.sim.trace.values("expire")
    assert expired == [session]
    ens.run_for(400)  # the pause ends: the client learns its session is gone, and gets a new one
    assert states == [KazooState.SUSPENDED, KazooState.LOST, KazooState.CONNECTED]
    assert owner.client_id[0] != session
    for i in ens.servers:
        assert session not in ens.tree(i).sessions()
    ens.check()


def test_a_pause_shorter_than_the_timeout_keeps_the_session():
    ens = Ensemble(3, seed=6)
    owner, other = started(ens, timeout=0.4), started(ens)
    session = owner.client_id[0]
    owner.create("/lock", ephemeral=True)
    ens.pause_client(owner, 150)
    ens.run_for(600)
    assert owner.client_id[0] == session and other.exists("/lock") is not None


def test_a_call_queued_while_the_session_expires_raises_session_expired():
    ens = Ensemble(3, seed=7)
    zk = started(ens, timeout=0.1)
    ens.isolate_client(zk)
    ens.run_for(150)  # the client noticed (SUSPENDED); the leader expired the session
    assert zk.state == KazooState.SUSPENDED
    outcome = ens.spawn(lambda: zk.create("/after"))
    ens.run_for(100)
    ens.heal_client(zk)
    with pytest.raises(SessionExpiredError):
        outcome.result()
    ens.run_for(300)
    assert zk.state == KazooState.CONNECTED  # kazoo goes on with a new session


# -- watches --------------------------------------------------------------------------------------------
def test_a_watch_fires_once_with_kazoos_event():
    ens = Ensemble(3, seed=8)
    watcher, writer = started(ens), started(ens)
    events = []
    assert watcher.exists("/w", watch=events.append) is None
    writer.create("/w", b"1")
    writer.set("/w", b"2")
    watcher.sync("/")
    assert [(e.type, e.path) for e in events] == [("CREATED", "/w")]
    assert events[0].state == "CONNECTED"
    watcher.get_children("/", watch=events.append)
    writer.delete("/w")
    watcher.sync("/")
    assert [(e.type, e.path) for e in events[1:]] == [("CHILD", "/")]


def test_a_client_hears_of_a_change_before_it_can_read_it():
    """Whatever the watcher reads after its event shows the change; the server sends the notice
    ahead of any later response on the connection."""
    ens = Ensemble(3, seed=9)
    started(ens)
    watcher = started(ens, hosts=ens.followers()[1])
    writer = started(ens, hosts=ens.leader())
    writer.create("/v", b"0")
    watcher.sync("/")
    seen = []

    def on_change(data, stat):
        seen.append(data)

    watcher.DataWatch("/v", on_change)
    for k in range(1, 6):
        writer.set("/v", b"%d" % k)
    ens.run_for(100)
    assert seen[0] == b"0" and seen[-1] == b"5"
    assert seen == sorted(seen)
    events = [e for e in ens.sim.trace if e.kind == "send" and e.peer == watcher.node_id
              and isinstance(e.message, WatchNotice | Response)]
    for notice, answer in zip(events, events[1:], strict=False):
        if isinstance(notice.message, WatchNotice):
            assert answer.time >= notice.time  # sent first, so delivered first (FIFO link)


def test_watch_functions_run_in_greenlets_and_may_call_the_client():
    ens = Ensemble(3, seed=10)
    watcher, writer = started(ens), started(ens)
    writer.create("/c", b"1")
    read_inside = []
    watcher.get("/c", watch=lambda event: read_inside.append(watcher.get(event.path)[0]))
    writer.set("/c", b"2")
    ens.run_for(80)
    assert read_inside == [b"2"]
    assert ens.callback_errors == []


# -- several programs, one run ------------------------------------------------------------------------
def increment(zk, path: str) -> int:
    """A compare-and-set loop: read, write back plus one if nobody wrote in between."""
    zk.start()
    while True:
        data, stat = zk.get(path)
        try:
            zk.set(path, b"%d" % (int(data) + 1), version=stat.version)
            return stat.version
        except Exception as error:  # BadVersionError: someone else won; read again
            if type(error).__name__ != "BadVersionError":
                raise


def test_ten_blocking_programs_share_one_deterministic_run():
    ens = Ensemble(3, seed=11)
    started(ens).create("/counter", b"0")
    tasks = [ens.spawn(increment, ens.client(), "/counter", name=f"p{k}") for k in range(10)]
    ens.run()
    assert ens.tree(ens.leader()).get("/counter")[0] == b"10"
    assert sorted(t.result() for t in tasks) == list(range(10))
    ens.check()


def trace_of(seed: int) -> str:
    ens = Ensemble(3, seed=seed)
    started(ens).create("/counter", b"0")
    for _ in range(4):
        ens.spawn(increment, ens.client(), "/counter")
    ens.run()
    return ens.sim.trace.describe()


def test_the_same_seed_gives_the_same_trace_byte_for_byte():
    assert trace_of(12) == trace_of(12)
    assert trace_of(12) != trace_of(13)


def test_a_program_that_raises_is_reported_by_run():
    ens = Ensemble(3, seed=14)

    def broken(zk):
        zk.start()
        zk.get("/missing")

    ens.spawn(broken, ens.client())
    with pytest.raises(Exception, match="/missing") as caught:
        ens.run()
    assert type(caught.value).__name__ == "NoNodeError"


def test_a_recovered_server_rebuilds_its_tree_from_its_log():
    ens = Ensemble(3, seed=15)
    zk = started(ens)
    for k in range(5):
        zk.create(f"/n{k}", b"%d" % k)
    victim = ens.followers()[0]
    ens.run_for(50)
    before = (ens.server(victim).applied_zxid, ens.tree(victim))
    ens.crash(victim)
    zk.create("/later")
    ens.recover(victim)
    assert (ens.server(victim).applied_zxid, ens.tree(victim)) == before  # replayed, not received
    ens.run_for(500)
    assert ens.tree(victim) == ens.tree(ens.leader())
    ens.check()


def test_a_stat_is_kazoos_znodestat():
    ens = Ensemble(1, seed=16)
    zk = started(ens)
    stat = zk.set(zk.create("/s"), b"abc")
    assert isinstance(stat, ZnodeStat) and stat.data_length == 3 and stat.owner_session_id is None


# -- the checkers bite ----------------------------------------------------------------------------------
def test_a_correct_run_passes_every_check():
    ens = Ensemble(3, seed=17)
    zk = started(ens)
    zk.create("/x", ephemeral=True)
    zk.stop()
    for check in checks.INVARIANTS:
        check(ens.sim)


def test_stale_prepare_leaves_an_ephemeral_of_a_closed_session():
    """A create sent right behind the client's close: prepared against the committed tree, the
    session still looks open, and the ephemeral survives the close."""
    def run(variant: str) -> Ensemble:
        ens = Ensemble(3, seed=18, variant=variant)
        zk = started(ens)
        ens.spawn(zk.stop)
        outcome = []

        def late_create():
            try:
                zk.create("/orphan", ephemeral=True)
            except Exception as error:
                outcome.append(type(error).__name__)

        ens.spawn(late_create)
        ens.run_for(200)
        assert outcome == ["ConnectionLoss"]  # its connection closed with the session
        return ens

    checks.no_ephemeral_of_closed_session(run("correct").sim)
    with pytest.raises(InvariantViolation, match="no ephemeral of a closed session"):
        checks.no_ephemeral_of_closed_session(run("stale-prepare").sim)


def test_servers_stamping_their_own_clock_disagree():
    ens = Ensemble(3, seed=19, variant="local-clock")
    started(ens).create("/t", b"")
    ens.run_for(100)
    with pytest.raises(InvariantViolation, match="replicas agree.*ctime"):
        checks.replicas_agree(ens.sim)


def test_reads_jumping_writes_are_answered_out_of_order():
    ens = Ensemble(3, seed=20, variant="reads-jump-writes")
    zk = started(ens)
    zk.create("/a", b"old")
    seen = {}
    ens.spawn(lambda: zk.set("/a", b"new"))
    ens.spawn(lambda: seen.setdefault("read", zk.get("/a")[0]))
    ens.run()
    assert seen["read"] == b"old"  # the client did not read its own write
    with pytest.raises(InvariantViolation, match="responses in order"):
        checks.responses_in_order(ens.sim)


def test_a_leader_committing_without_a_quorum_loses_an_acknowledged_write():
    ens = Ensemble(3, seed=21, zab_variant="commit-without-quorum")
    started(ens)
    leader = ens.leader()
    zk = started(ens, hosts=leader)
    for follower in ens.followers():
        ens.sim.cut_link(leader, follower)
    zk.create("/acked", b"promised")  # committed by the leader alone, and acknowledged
    ens.crash(leader)
    ens.heal()
    ens.run_for(800)
    survivor = started(ens, hosts=ens.followers()[0])
    survivor.create("/next")
    assert survivor.exists("/acked") is None
    with pytest.raises(InvariantViolation, match="acknowledged writes are durable"):
        checks.acknowledged_writes_durable(ens.sim)


# -- bad input ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("make, message", [
    (lambda: Ensemble(0), "needs 1..100 servers"),
    (lambda: Ensemble(3, variant="sloppy"), "unknown variant"),
    (lambda: Ensemble(3, zab_variant="sloppy"), "unknown zab_variant"),
    (lambda: Ensemble(3).client(hosts=[7]), "hosts must be servers"),
    (lambda: Ensemble(3, max_clients=0).client(), "client slots are taken"),
    (lambda: Ensemble(3).crash(101), "unknown server 101"),
    (lambda: Ensemble(3).partition({1}, {2}), "every server"),
    (lambda: Ensemble(3).partition({1, 102}, {2, 3}), "not a client of this ensemble"),
    (lambda: Ensemble(3).run(until=-1), "in the past"),
])
def test_bad_input_gets_a_clear_error(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_a_partition_keeps_an_unnamed_client_with_its_server():
    ens = Ensemble(3, seed=44)
    zk = started(ens)
    server = ens.sim.nodes[zk.node_id].server
    others = set(ens.servers) - {server}
    ens.partition({server}, others)
    group_of_client = [g for g in ens.sim.network.groups() if zk.node_id in g][0]
    assert server in group_of_client and not others & group_of_client
    ens.heal()
    assert not ens.sim.network.partitioned

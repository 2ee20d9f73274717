"""The kazoo-compatible client of zablib.coord, one story per call.

A client of a three-server ensemble creates, reads, changes and deletes znodes; every answer has
kazoo's type and every mistake kazoo's exception. Where kazoo itself is installed (it is in the
test requirements) the client's signatures are compared with kazoo 2.11.0's.
"""

from __future__ import annotations

import inspect

import pytest

from zablib.coord import (
    BadArgumentsError,
    BadVersionError,
    ConnectionClosedError,
    ConnectionLoss,
    Ensemble,
    KazooState,
    NoChildrenForEphemeralsError,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
    RolledBackError,
    RuntimeInconsistency,
    ZnodeStat,
)
from zablib.coord.client import KazooClient, TransactionRequest


@pytest.fixture
def zk():
    ens = Ensemble(3, seed=1)
    client = ens.client()
    client.start()
    yield client
    ens.check()


def test_a_started_client_is_connected_with_a_session():
    ens = Ensemble(3, seed=0)
    zk = ens.client()
    assert (zk.state, zk.connected, zk.client_id) == (KazooState.LOST, False, None)
    zk.start()
    assert zk.state == KazooState.CONNECTED and zk.connected
    session_id, password = zk.client_id
    assert session_id > 0 and len(password) == 16
    assert session_id in ens.tree(ens.leader()).sessions()


def test_create_get_set_delete_round_trip(zk):
    assert zk.create("/app", b"v1") == "/app"
    data, stat = zk.get("/app")
    assert data == b"v1" and isinstance(stat, ZnodeStat)
    assert (stat.version, stat.dataLength, stat.numChildren, stat.ephemeralOwner) == (0, 2, 0, 0)
    assert stat.czxid == stat.mzxid == stat.pzxid and stat.czxid >> 32 >= 1  # epoch in the top half
    new = zk.set("/app", b"v22")
    assert (new.version, new.dataLength, new.czxid) == (1, 3, stat.czxid)
    assert new.mzxid > stat.mzxid
    assert zk.exists("/app") == new
    assert zk.delete("/app") is True
    assert zk.exists("/app") is None
    with pytest.raises(NoNodeError):
        zk.get("/app")


def test_children_are_listed_sorted_with_zookeepers_own_znode(zk):
    zk.create("/b")
    zk.create("/a")
    assert zk.get_children("/") == ["a", "b", "zookeeper"]
    names, stat = zk.get_children("/", include_data=True)
    assert names == ["a", "b", "zookeeper"] and stat.numChildren == 3


def test_sequential_nodes_take_the_parents_ten_digit_counter(zk):
    zk.create("/q")
    first = zk.create("/q/item-", sequence=True)
    second = zk.create("/q/item-", sequence=True)
    assert (first, second) == ("/q/item-0000000000", "/q/item-0000000001")
    assert zk.create("/q/", sequence=True) == "/q/0000000002"


def test_the_server_refuses_writes_as_zookeeper_does(zk):
    zk.create("/p")
    with pytest.raises(NodeExistsError):
        zk.create("/p")
    with pytest.raises(NoNodeError):
        zk.create("/missing/child")
    zk.create("/p/c")
    with pytest.raises(NotEmptyError):
        zk.delete("/p")
    with pytest.raises(BadVersionError):
        zk.set("/p", b"x", version=7)
    with pytest.raises(BadVersionError):
        zk.delete("/p/c", version=3)
    zk.create("/e", ephemeral=True)
    with pytest.raises(NoChildrenForEphemeralsError):
        zk.create("/e/child")
    with pytest.raises(BadArgumentsError):
        zk.create("/bad\u0001name")


def test_makepath_and_ensure_path_create_missing_parents(zk):
    assert zk.create("/x/y/z", b"deep", makepath=True) == "/x/y/z"
    assert zk.get("/x/y/z")[0] == b"deep"
    assert zk.ensure_path("/x/y/w/v") == "/x/y/w/v"
    assert zk.ensure_path("/x/y") is True


def test_recursive_delete_removes_a_subtree(zk):
    zk.create("/r/a/b", makepath=True)
    zk.create("/r/c", makepath=True)
    assert zk.delete("/r", recursive=True) is None
    assert zk.exists("/r") is None
    assert zk.delete("/r", recursive=True) is True


def test_include_data_returns_the_new_znodes_stat(zk):
    path, stat = zk.create("/s", b"abc", include_data=True)
    assert path == "/s" and stat == zk.exists("/s")


def test_a_transaction_is_all_or_nothing(zk):
    zk.create("/fred")
    version = zk.exists("/fred").version
    t = zk.transaction()
    t.create("/blah")
    t.check("/fred", version + 1)
    t.create("/never")
    results = t.commit()
    assert [type(r) for r in results] == [RolledBackError, BadVersionError, RuntimeInconsistency]
    assert zk.exists("/blah") is None
    with zk.transaction() as t:
        t.create("/blah", b"1")
        t.set_data("/fred", b"2")
        t.check("/fred", version + 1)
        t.delete("/blah")
    assert zk.exists("/blah") is None and zk.get("/fred")[0] == b"2"
    with pytest.raises(ValueError, match="already committed"):
        t.commit()


def test_sync_answers_the_path(zk):
    assert zk.sync("/") == "/"
    assert zk.sync("zookeeper") == "/zookeeper"


def test_paths_are_normalised_on_the_client_as_kazoo_does(zk):
    assert zk.create("relative", b"") == "/relative"
    assert zk.exists("//relative/") is not None
    with pytest.raises(ValueError, match="relative paths not allowed"):
        zk.get("/a/../b")


@pytest.mark.parametrize("call, args, kwargs", [
    ("create", (1,), {}),
    ("create", ("/a", "text"), {}),
    ("create", ("/a",), {"ephemeral": 1}),
    ("create", ("/a",), {"sequence": "yes"}),
    ("create", ("/a",), {"makepath": None}),
    ("create", ("/a",), {"acl": "open"}),
    ("get", (b"/a",), {}),
    ("get", ("/a",), {"watch": 5}),
    ("set", ("/a", "text"), {}),
    ("set", ("/a", b""), {"version": "1"}),
    ("delete", ("/a",), {"version": 1.0}),
    ("delete", ("/a",), {"recursive": "no"}),
    ("get_children", ("/",), {"include_data": 1}),
    ("exists", (None,), {}),
])
def test_bad_arguments_raise_kazoos_type_error_before_anything_is_sent(zk, call, args, kwargs):
    sent = len(zk.handler.driver.sim.trace)
    with pytest.raises(TypeError, match="Invalid type"):
        getattr(zk, call)(*args, **kwargs)
    assert len(zk.handler.driver.sim.trace) == sent


def test_sync_checks_no_type_and_fails_inside_its_path_handling_as_kazoos_does(zk):
    with pytest.raises(AttributeError):
        zk.sync(None)
    with pytest.raises(TypeError):
        zk.sync(b"/")


def test_calls_on_a_client_never_started_or_stopped_raise_connection_closed():
    ens = Ensemble(3, seed=2)
    zk = ens.client()
    with pytest.raises(ConnectionClosedError):
        zk.get("/")
    zk.start()
    zk.stop()
    assert zk.state == KazooState.LOST
    with pytest.raises(ConnectionClosedError):
        zk.create("/a")
    zk.stop()  # a no-op, as in kazoo
    zk.close()
    with pytest.raises(ConnectionClosedError):
        zk.exists("/")


def test_stop_closes_the_session_and_its_ephemerals_go():
    ens = Ensemble(3, seed=3)
    a, b = ens.client(), ens.client()
    a.start()
    b.start()
    a.create("/lock", ephemeral=True)
    assert b.exists("/lock").ephemeralOwner == a.client_id[0]
    a.stop()
    assert b.exists("/lock") is None


kazoo_client = pytest.importorskip("kazoo.client")


@pytest.mark.parametrize("name", ["start", "stop", "close", "create", "ensure_path", "get", "set",
                                  "delete", "exists", "get_children", "sync", "transaction",
                                  "add_listener", "remove_listener", "restart"])
def test_signatures_are_kazoos(name):
    ours = inspect.signature(getattr(KazooClient, name))
    theirs = inspect.signature(getattr(kazoo_client.KazooClient, name))
    assert list(ours.parameters) == list(theirs.parameters)
    assert [p.default for p in ours.parameters.values()] == [p.default for p in theirs.parameters.values()]


@pytest.mark.parametrize("name", ["create", "delete", "set_data", "check", "commit"])
def test_transaction_signatures_are_kazoos(name):
    ours = inspect.signature(getattr(TransactionRequest, name))
    theirs = inspect.signature(getattr(kazoo_client.TransactionRequest, name))
    assert list(ours.parameters) == list(theirs.parameters)


# -- watches that outlive a connection, and kazoo's handler on the simulated clock ------------------
def test_a_data_watch_follows_its_znode_across_a_failover_of_its_server():
    ens = Ensemble(3, seed=40)
    zk, writer = ens.client(timeout=0.4), ens.client()
    zk.start()
    writer.start()
    writer.create("/config", b"v1")
    seen = []
    zk.DataWatch("/config", lambda data, stat: seen.append(data))
    ens.crash(zk.handler.driver.sim.nodes[zk.node_id].server)
    ens.run_for(800)  # kazoo dropped the watch with the connection; DataWatch set it again
    writer.set("/config", b"v2")
    ens.run_for(100)
    assert seen[0] == b"v1" and seen[-1] == b"v2"
    assert ens.callback_errors == []


def test_a_children_watch_stops_when_its_function_returns_false():
    ens = Ensemble(3, seed=41)
    zk = ens.client()
    zk.start()
    zk.create("/pool")
    calls = []

    def until_two(children):
        calls.append(sorted(children))
        return len(children) < 2

    zk.ChildrenWatch("/pool", until_two)
    for name in ("a", "b", "c"):
        zk.create(f"/pool/{name}")
    ens.run_for(100)
    assert calls == [[], ["a"], ["a", "b"]]


def test_the_handlers_event_lock_and_sleep_run_on_simulated_time():
    ens = Ensemble(1, seed=42)
    zk = ens.client()
    zk.start()
    event, lock, order = zk.handler.event_object(), zk.handler.lock_object(), []

    def waiter():
        order.append(("waits", event.wait(timeout=1.0), round(ens.now)))

    def holder(name, seconds):
        with lock:
            order.append((name, "has the lock", round(ens.now)))
            zk.handler.sleep_func(seconds)

    start = round(ens.now)
    ens.spawn(waiter)
    ens.spawn(holder, "first", 0.2)
    ens.spawn(holder, "second", 0.1)
    ens.run_for(100)
    event.set()
    ens.run()
    assert order == [("first", "has the lock", start), ("waits", True, start + 100),
                     ("second", "has the lock", start + 200)]
    assert event.wait(timeout=0.5) is True


def test_retry_repeats_a_call_lost_with_its_connection():
    ens = Ensemble(3, seed=43)
    zk = ens.client()
    zk.start()
    attempts = []

    def flaky():
        attempts.append(ens.now)
        if len(attempts) < 3:
            raise ConnectionLoss()
        return "done"

    assert zk.retry(flaky) == "done"
    assert len(attempts) == 3 and attempts[2] - attempts[0] >= 100  # slept 0.1 s, then ~0.2 s

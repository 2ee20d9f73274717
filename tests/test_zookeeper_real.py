"""The real ZooKeeper of the differential tests, and the differential machinery, on it.

The ``real_zookeeper`` fixture (tests/zookeeper.py) starts a three-server ZooKeeper 3.8 once per
test process. These stories check that it is a working ensemble that survives losing a server,
that it cleans up after itself, and that a differential program's transcript on it is
deterministic: the same program run twice under two fresh roots (and through different servers)
gives the same transcript. Without that, a difference against the simulated service could be
the real server's noise rather than a bug.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
from collections.abc import Iterator

import differential
import pytest
import zookeeper
from differential import Call, Normalizer, Step, Transcript, Zxid
from hypothesis import HealthCheck, given, settings
from kazoo.client import KazooClient
from kazoo.exceptions import NoNodeError
from zookeeper import RealEnsemble

from zablib.coord.tree import DataTree, apply, java_hash
from zablib.coord.txn import CloseSessionTxn, CreateRequest, CreateSessionTxn, DeleteRequest, prepare


@pytest.fixture
def zk(real_zookeeper: RealEnsemble) -> Iterator[KazooClient]:
    client = KazooClient(hosts=real_zookeeper.hosts, timeout=10)
    client.start()
    yield client
    client.stop()
    client.close()


@contextlib.contextmanager
def connected_to(real_zookeeper: RealEnsemble, sid: int) -> Iterator[KazooClient]:
    """A client that can only talk to server ``sid``, stopped and closed on leaving the block."""
    client = KazooClient(hosts=real_zookeeper.address(sid), timeout=10)
    client.start(timeout=20)
    try:
        yield client
    finally:
        client.stop()
        client.close()


# -- the fixture ---------------------------------------------------------------------------------


def test_three_servers_elect_one_leader_and_serve_kazoo(real_zookeeper, zk):
    assert len(real_zookeeper.servers) == 3
    assert real_zookeeper.leader() is not None
    assert len(real_zookeeper.followers()) == 2
    root = real_zookeeper.fresh_root("fixture")

    assert zk.create(root, b"hello") == root
    data, stat = zk.get(root)
    assert (data, stat.version) == (b"hello", 0)
    zk.delete(root)
    with pytest.raises(NoNodeError):
        zk.get(root)


def test_a_write_through_one_server_is_read_through_another_after_sync(real_zookeeper, zk):
    root = real_zookeeper.fresh_root("fixture")
    zk.create(root, b"v1")
    for sid in real_zookeeper.servers:
        with connected_to(real_zookeeper, sid) as reader:
            reader.sync(root)
            assert reader.get(root)[0] == b"v1"


def test_the_ensemble_keeps_serving_writes_with_a_follower_down_and_takes_it_back(real_zookeeper, zk):
    root = real_zookeeper.fresh_root("fixture")
    follower = real_zookeeper.followers()[0]
    real_zookeeper.stop(follower)
    try:
        assert not real_zookeeper.is_running(follower)
        assert zk.create(root, b"written with two of three") == root
    finally:
        real_zookeeper.start(follower)

    assert real_zookeeper.mode(follower) == "follower"
    with connected_to(real_zookeeper, follower) as back:
        back.sync(root)
        assert back.get(root)[0] == b"written with two of three"


def test_killing_the_leader_elects_another_and_no_acknowledged_write_is_lost(real_zookeeper, zk):
    root = real_zookeeper.fresh_root("fixture")
    zk.create(root, b"before the crash")
    old_leader = real_zookeeper.leader()
    real_zookeeper.kill(old_leader)
    try:
        real_zookeeper.wait_ready(timeout=30)
        new_leader = real_zookeeper.leader()
        assert new_leader not in (None, old_leader)
        # kazoo reconnects on its own (to a live server) and keeps its session.
        zk.retry(zk.set, root, b"after the crash")
    finally:
        real_zookeeper.start(old_leader)
    assert real_zookeeper.mode(old_leader) == "follower"
    assert zk.get(root)[0] == b"after the crash"


def test_an_ensemble_stops_every_jvm_it_started_and_removes_its_directory(real_zookeeper):
    # real_zookeeper first: this test needs what it checks (Java, the package) and skips with it.
    ensemble = RealEnsemble(1)
    with ensemble:
        processes = list(ensemble.processes.values())
        assert ensemble.mode(1) == "leader"
        assert all(p.poll() is None for p in processes)
    assert all(p.poll() is not None for p in processes)
    assert not ensemble.base_dir.exists()


def test_a_server_that_cannot_start_is_reported_with_its_log(real_zookeeper):
    ensemble = RealEnsemble(1)
    squatter = zookeeper.socket.socket()
    squatter.bind(("127.0.0.1", ensemble.servers[1].client_port))
    squatter.listen()
    try:
        with pytest.raises(RuntimeError, match=r"(?s)server 1 exited.*Address already in use"):
            ensemble.start(timeout=30)
    finally:
        squatter.close()
        ensemble.close()


def test_without_zookeeper_the_tests_skip_naming_the_package_and_fail_under_ci(monkeypatch):
    monkeypatch.setattr(zookeeper, "missing_reason", lambda: "ZooKeeper is not installed: run `x`")
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception, match="not installed"):
        next(zookeeper.real_ensemble())
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        next(zookeeper.real_ensemble())


def test_the_missing_package_is_named_with_its_install_command(monkeypatch):
    monkeypatch.setattr(zookeeper, "DEBIAN_CLASSPATH", ("/nonexistent/zookeeper.jar",))
    monkeypatch.delenv("ZOOKEEPER_CLASSPATH", raising=False)
    reason = zookeeper.missing_reason()
    assert reason is not None and "apt-get install zookeeper" in reason


# -- the machinery, without a server -------------------------------------------------------------


def test_zxids_become_ranks_so_gaps_and_epochs_do_not_matter():
    # 0x1_00000005 < 0x2_00000001: a later epoch with a smaller counter still ranks later.
    steps = [
        Step(0, "a", ("stat", Zxid(0x1_00000005)), ()),
        Step(1, "b", [("x", Zxid(0x2_00000001)), ("y", Zxid(0x1_00000005))], ()),
    ]
    ranked = differential.rank_zxids(steps)
    assert ranked[0].result == ("stat", "z0")
    assert ranked[1].result == [("x", "z1"), ("y", "z0")]


def test_paths_are_shown_relative_to_the_program_root():
    normalize = Normalizer("/t7", {11: "w", 12: "x"})
    assert normalize.path("/t7") == "~"
    assert normalize.path("/t7/a/s-0000000003") == "~/a/s-0000000003"
    assert normalize.path("/t77") == "/t77"
    assert normalize.value("get_children", ["b", "a"]) == ("b", "a")  # the server's order, kept
    assert normalize.value("create", NoNodeError()) == "!NoNodeError"


def test_tokens_resolve_under_the_root_and_odd_ones_stay_odd():
    assert differential.resolve("", "/t3") == "/t3"
    assert differential.resolve("/a", "/t3") == "/t3/a"
    assert differential.resolve("a", "/t3") == "t3/a"  # kazoo adds the leading slash
    assert differential.resolve(None, "/t3") is None


def test_random_programs_are_reproducible_from_their_seed_and_use_both_clients():
    assert differential.random_program(5) == differential.random_program(5)
    calls = [c for seed in range(50) for c in differential.random_program(seed)]
    assert {c.client for c in calls} == {"w", "x"}
    ops = {"create", "set", "delete", "transaction", "get", "exists", "get_children", "sync"}
    assert ops <= {c.op for c in calls}
    assert any(dict(c.kwargs).get("ephemeral") for c in calls)
    assert any(dict(c.kwargs).get("sequence") for c in calls)


def test_a_difference_is_shown_at_its_first_step_with_both_sides():
    same = [Step(0, "x.create('/a')", "~/a", ())]
    a = Transcript([*same, Step(1, "w.get('/a')", (b"", "stat"), ())])
    b = Transcript([*same, Step(1, "w.get('/a')", "!NoNodeError", ())])
    assert a.first_difference(a) is None
    message = a.first_difference(b, names=("real", "simulated"))
    assert "step 1" in message and "!NoNodeError" in message and "simulated:" in message


# -- the machinery on the real server: deterministic ---------------------------------------------

DETERMINISM_PROGRAMS = int(os.environ.get("ZABLIB_REAL_DETERMINISM_PROGRAMS", "40"))


def run_twice(real_zookeeper: RealEnsemble, program: tuple[Call, ...]) -> str | None:
    make_client = real_zookeeper.client_factory(timeout=30)
    first = differential.run_steadily(program, make_client, lambda: real_zookeeper.fresh_root("det"))
    second = differential.run_steadily(program, make_client, lambda: real_zookeeper.fresh_root("det"))
    return first.first_difference(second, names=("first run", "second run"))


def test_a_dropped_connection_is_told_apart_from_a_result():
    calm = Transcript([Step(0, "x.create('/a')", "!NodeExistsError", ())])
    dropped = Transcript([Step(0, "x.transaction()", ("~/a", "!ConnectionLoss"), ())])
    assert not differential.connection_trouble(calm)
    assert differential.connection_trouble(dropped)


def test_a_transcript_records_results_stats_and_the_watchers_events(real_zookeeper):
    program = (
        Call("w", "exists", ("/a",), (("watch", True),)),
        Call("x", "create", ("/a", b"v"), (("ephemeral", True),)),
        Call("w", "get", ("/a",), (("watch", True),)),
        Call("x", "set", ("/a", b"vv"), (("version", 0),)),
        Call("x", "set", ("/a", b"stale"), (("version", 0),)),
        Call("x", "create", ("/s-",), (("sequence", True),)),
        Call("x", "transaction", (Call("", "check", ("/a", 1)), Call("", "delete", ("/a",)))),
    )
    transcript = differential.run_program(
        program, real_zookeeper.client_factory(), root=real_zookeeper.fresh_root("det")
    )
    results = [s.result for s in transcript.steps]
    assert results[1] == "~/a"
    assert transcript.steps[1].events == (("w", (("data", "CREATED", "~/a", "CONNECTED"),)),)
    data, stat = results[2]
    assert data == b"v" and "owner=x" in stat and ("czxid", "z0") in stat
    assert transcript.steps[3].events == (("w", (("data", "CHANGED", "~/a", "CONNECTED"),)),)
    assert results[4] == "!BadVersionError"
    assert results[5] == "~/s-0000000001"  # /a was child number 0 of the root
    assert results[6] == (True, True)


def test_the_same_program_gives_the_same_transcript_twice(real_zookeeper):
    for seed in range(DETERMINISM_PROGRAMS):
        program = differential.random_program(seed)
        difference = run_twice(real_zookeeper, program)
        assert difference is None, (
            f"seed {seed}:\n{differential.format_program(program)}\n{difference}"
        )


@settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(program=differential.programs())
def test_hypothesis_programs_give_the_same_transcript_twice(real_zookeeper, program):
    difference = run_twice(real_zookeeper, program)
    assert difference is None, f"{differential.format_program(program)}\n{difference}"


# -- the order of children: zablib's model of ZooKeeper's HashSet, against the real server -------

#: Names with one Java String.hashCode ("Aa" and "BB" hash alike): they share a bucket at every
#: table size, so their order is insertion order and they trigger HashMap's collision rules.
COLLIDING = ["".join(p) for p in itertools.product(("Aa", "BB"), repeat=4)]

#: Scripts of ``+name`` (create), ``+name-`` with a trailing dash (sequential create) and
#: ``-name`` (delete), each run under a fresh parent.
CHILD_ORDER_SCRIPTS = {
    "one child": ["+only"],
    "seven children: the table grows from 8 to 16": [f"+{c}" for c in "gbfcaed"],
    "thirteen sequential children: 16 to 32": ["+s-"] * 13,
    "fifty names, some deleted and created again": (
        [f"+n{i}" for i in range(50)]
        + [f"-n{i}" for i in range(0, 50, 3)]
        + [f"+n{i}" for i in range(0, 50, 6)]
    ),
    "sequential and plain names mixed, locks and members": (
        [op for k in range(4) for op in ("+lock-", f"+b{k}", "+lock-", f"+a{k}", f"+zz{k}", "+member-")]
        + ["-b0", "-a1", "+a1", "+b0"]
    ),
    "a ninth name in one bucket doubles a small table (no treeify under 64)": (
        [f"+{name}" for name in COLLIDING[:9]] + ["+x", "+y", "+z"]
    ),
    "colliding names keep their insertion order, re-created ones go last": (
        [f"+{name}" for name in COLLIDING[:6]]
        + ["-" + COLLIDING[0], "-" + COLLIDING[3], "+" + COLLIDING[0], "+q"]
    ),
    "every child deleted, the table stays as large": (
        [f"+c{i}" for i in range(30)] + [f"-c{i}" for i in range(30)] + ["+c7", "+c1", "+c30", "+c15"]
    ),
    "names beyond ASCII": ["+豈", "+s-", "+0000000003", "+.a", "+s-", "+\ud7ff", "+é", "+中文"],
}


def test_children_come_in_the_real_servers_hashset_order(real_zookeeper, zk):
    """The raw ``get_children`` order (not sorted) after every step of every script: the real
    ensemble against ``DataTree`` applying the same creates and deletes."""
    for story, script in CHILD_ORDER_SCRIPTS.items():
        parent = real_zookeeper.fresh_root("order")
        zk.create(parent)
        tree = apply(DataTree(), CreateSessionTxn(1, 30_000), 1, 0).tree
        tree = apply(tree, prepare(tree, CreateRequest(parent), 1), 2, 0).tree
        for step, op in enumerate(script):
            path = f"{parent}/{op[1:]}"
            if op[0] == "+":
                sequential = op.endswith("-")
                created = zk.create(path, sequence=sequential)
                request = CreateRequest(path, sequential=sequential)
                applied = apply(tree, prepare(tree, request, 1), 3 + step, 0)
                assert applied.result == created, story
            else:
                zk.delete(path)
                applied = apply(tree, prepare(tree, DeleteRequest(path), 1), 3 + step, 0)
            tree = applied.tree
            assert tree.children(parent) == zk.get_children(parent), f"{story}, after {op!r}"


# -- the order a closing session's ephemerals go in ---------------------------------------------
# "+a/x" creates the ephemeral a/x (parents a and b are persistent), "-a/x" deletes it. Equal-length
# names built from "Aa" and "BB" share a Java hashCode whatever their prefix, so they share a bucket.
COLLIDING = ["AaAa", "AaBB", "BBAa", "BBBB"]
CLOSE_ORDER_SCRIPTS = {
    "three: the clone's table (8) is half the set's (16)": ["+a/x", "+a/y", "+a/z"],
    "three colliding names keep their insertion order": [f"+a/{n}" for n in ("BBBB", "AaAa", "BBAa")],
    "thirteen: the set grew to 32 buckets": [f"+a/e{i}" for i in range(9)] + [f"+a/{n}" for n in COLLIDING],
    "twenty under two parents, five deleted before the close": (
        [f"+{'ab'[i % 2]}/n{i}" for i in range(16)] + [f"+b/{n}" for n in COLLIDING]
        + ["-a/n0", "-b/n3", "-a/n8", "-b/AaBB", "-b/n15"]
    ),
    "twelve deleted down to two: the set keeps its 32 buckets, the clone has 4": (
        [f"+a/k{i}" for i in range(14)] + [f"-a/k{i}" for i in range(12)]
    ),
}


def ephemeral_script_on_model(root: str, script: list[str]) -> DataTree:
    """``DataTree`` after session 1 made ``root``'s a and b and ran ``script`` (as session 1)."""
    tree = apply(DataTree(), CreateSessionTxn(1, 30_000), 1, 0).tree
    requests = [CreateRequest(root), CreateRequest(f"{root}/a"), CreateRequest(f"{root}/b")]
    for op in script:
        path = f"{root}/{op[1:]}"
        requests.append(CreateRequest(path, ephemeral=True) if op[0] == "+" else DeleteRequest(path))
    for zxid, request in enumerate(requests, start=2):
        tree = apply(tree, prepare(tree, request, 1), zxid, 0).tree
    return tree


def set_order(paths: list[str]) -> list[str]:
    """The iteration order of a 16-bucket Java HashSet the ``paths`` were added to, in order
    (no resize: at most 12 paths)."""
    return sorted(paths, key=lambda path: (java_hash(path) & 15, paths.index(path)))


def names_the_clone_reorders(root: str) -> list[str]:
    """Three ephemeral creations under ``root``/a whose order of deletion on a close if it
    followed a clone of the session's set (8 buckets: a stable re-sort of the set's order by
    ``hash & 7``) differs from the set's own order (16 buckets): the real server's order then
    tells the two apart."""
    for first in range(64):
        script = [f"+a/c{first}", f"+a/c{first + 1}", f"+a/c{first + 2}"]
        in_set = set_order([f"{root}/{op[1:]}" for op in script])
        if sorted(in_set, key=lambda path: java_hash(path) & 7) != in_set:
            return script
    raise AssertionError("no reordering names among 66 candidates")


def deletions_seen_on_close(real_zookeeper: RealEnsemble, zk: KazooClient, root: str, script: list[str],
                            alive: tuple[str, ...]) -> list[str]:
    """Run ``script`` as a new session under ``root``, close it, and return the paths of the
    NodeDeleted events ``zk`` gets from an exists watch on each of the ``alive`` ephemerals."""
    owner = KazooClient(hosts=real_zookeeper.hosts, timeout=10)
    seen: list[str] = []
    all_seen = threading.Event()

    def record(event) -> None:
        seen.append(event.path)
        if len(seen) == len(alive):
            all_seen.set()

    owner.start(timeout=20)
    try:
        for op in script:
            path = f"{root}/{op[1:]}"
            if op[0] == "+":
                owner.create(path, ephemeral=True)
            else:
                owner.delete(path)
        for path in alive:
            assert zk.exists(path, watch=record) is not None
    finally:
        owner.stop()  # closes the session: its ephemerals go
        owner.close()
    assert all_seen.wait(10), f"only {seen} deleted"
    return seen


def test_a_closing_session_deletes_its_ephemerals_in_the_real_servers_order(real_zookeeper, zk):
    """The NodeDeleted events a second client sees when the owner closes its session, in order:
    the real ensemble against the deletions ``DataTree`` applies for ``CloseSessionTxn``."""
    scripts: dict[str, list[str] | None] = dict(CLOSE_ORDER_SCRIPTS)
    scripts["three the clone (8 buckets) orders unlike the set (16)"] = None
    for story, script in scripts.items():
        root = real_zookeeper.fresh_root("close")
        script = script or names_the_clone_reorders(root)
        for path in (root, f"{root}/a", f"{root}/b"):
            zk.create(path)
        tree = ephemeral_script_on_model(root, script)
        seen = deletions_seen_on_close(real_zookeeper, zk, root, script, tree.ephemerals(1))
        closed = apply(tree, CloseSessionTxn(1), 100, 0)
        assert seen == [path for path, kind in closed.triggers if kind == "deleted"], story


def test_the_model_deletes_in_the_clones_order_not_the_sets_nor_sorted():
    """No server needed: under /r, c0, c1, c2 sit in the session's 16-bucket set in creation
    order, but the close's 8-bucket clone puts c1, c2 before c0; and a set grown to 32 buckets
    keeps them when emptied down to two paths."""
    tree = ephemeral_script_on_model("/r", ["+a/c0", "+a/c1", "+a/c2"])
    assert set_order(["/r/a/c0", "/r/a/c1", "/r/a/c2"]) == ["/r/a/c0", "/r/a/c1", "/r/a/c2"]
    assert tree.ephemeral_close_order(1) == ("/r/a/c1", "/r/a/c2", "/r/a/c0")
    closed = apply(tree, CloseSessionTxn(1), 100, 0)
    assert [path for path, kind in closed.triggers if kind == "deleted"] == ["/r/a/c1", "/r/a/c2", "/r/a/c0"]
    assert closed.tree.ephemeral_order() == () and closed.tree.children("/r/a") == []

    grown = [f"+a/k{i}" for i in range(14)]
    shrunk = ephemeral_script_on_model("/r", grown + [f"-a/k{i}" for i in range(12)])
    assert shrunk.ephemeral_order() == ((1, 32, ("/r/a/k13", "/r/a/k12")),)

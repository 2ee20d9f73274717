"""ZooKeeper's data tree (zablib.coord.tree, .txn): stories of znodes, their stat, sessions and
transactions, checked against what ZooKeeper 3.8 does (DataTree.java, DataNode.java,
PrepRequestProcessor.java) and against answers recorded from a real 3.8 ensemble."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import time

import pytest
from coord_tree_transcript import OPS, RECORDING, data_of, normal

from zablib.coord import errors
from zablib.coord.tree import DataTree, ZnodeStat, apply, java_hash, violations
from zablib.coord.txn import (
    CheckRequest,
    CheckVersionTxn,
    CloseSessionTxn,
    CreateRequest,
    CreateSessionTxn,
    CreateTxn,
    DeleteRequest,
    DeleteTxn,
    ErrorTxn,
    MultiRequest,
    MultiTxn,
    RequestTooLargeError,
    SetDataRequest,
    SetDataTxn,
    SyncRequest,
    prepare,
)

SESSION = 0xA
OTHER = 0xB
EPOCH = 1


class Leader:
    """A tiny leader for the stories: it prepares each request against its own tree, gives the txn
    the next zxid of epoch 1 and a clock that advances 10 ms per txn, and applies it."""

    def __init__(self, *, open_session: bool = True) -> None:
        self.tree = DataTree()
        self.counter = 0
        self.triggers: list[tuple[str, str]] = []
        self.txn = None
        if open_session:
            self.open(SESSION)

    @property
    def zxid(self) -> int:
        return EPOCH << 32 | self.counter

    def commit(self, txn):
        self.counter += 1
        self.txn = txn
        applied = apply(self.tree, txn, self.zxid, 1000 + 10 * self.counter)
        self.tree = applied.tree
        self.triggers = list(applied.triggers)
        return applied.result

    def ask(self, request, session: int = SESSION):
        return self.commit(prepare(self.tree, request, session))

    def open(self, session: int):
        return self.commit(CreateSessionTxn(session, 30_000))


@pytest.fixture
def leader() -> Leader:
    return Leader()


def zxid(counter: int) -> int:
    return EPOCH << 32 | counter


# -- the tree a fresh ZooKeeper starts with -------------------------------------------------------
def test_a_fresh_tree_is_zookeepers_root_with_its_own_znodes():
    tree = DataTree()
    assert tree.children("/") == ["zookeeper"]
    assert tree.children("/zookeeper") == ["config", "quota"]
    # As a real 3.8 ensemble reports them: the system children were added without counting as
    # creations, and a reported cversion is 2 * creations - numChildren.
    assert tree.exists("/") == ZnodeStat(0, 0, 0, 0, 0, -1, 0, 0, 0, 1, 0)
    assert tree.exists("/zookeeper").cversion == -2
    assert tree.exists("/zookeeper/config")[4:7] == (-1, 0, -1)  # version, cversion, aversion
    assert tree.get("/") == (b"", tree.exists("/"))
    assert len(tree) == 4 and tree.sessions() == {} and tree.paths() == [
        "/", "/zookeeper", "/zookeeper/config", "/zookeeper/quota"]
    assert violations(tree) == []


def test_an_ensemble_can_store_its_membership_in_the_config_znode():
    tree = DataTree(b"server.1=127.0.0.1:2888:3888:participant\nversion=0")
    data, stat = tree.get("/zookeeper/config")
    assert data.startswith(b"server.1=") and stat.dataLength == len(data)
    with pytest.raises(TypeError, match="config must be bytes"):
        DataTree("server.1=...")


# -- replaying what a real ZooKeeper answered -----------------------------------------------------
def replay(ops):
    """Run the transcript's calls on zablib's tree, answering as a kazoo client would see it."""
    leader = Leader(open_session=False)
    ids = {"A": SESSION, "B": OTHER}
    owners = {SESSION: "A", OTHER: "B"}
    watches: set[tuple[str, str]] = set()
    events: list[list[str]] = []

    def fire(triggers):
        # The server sends a session one event per trigger (WatchManager skips a watcher it has
        # already notified); kazoo then calls every callback it holds for the event: on
        # NodeDeleted both the data and the child callbacks of the path (one function
        # registered in both is called twice).
        for path, kind in triggers:
            kinds = {"created": ("data",), "changed": ("data",), "deleted": ("data", "child"),
                     "child": ("child",)}[kind]
            for watch in kinds:
                if (watch, path) in watches:
                    watches.discard((watch, path))
                    events.append([kind.upper(), path])

    def request(kind, args):
        if kind == "create":
            path, data, ephemeral, sequence = args
            return CreateRequest(path, data_of(data), ephemeral, sequence)
        if kind == "delete":
            return DeleteRequest(*args)
        if kind == "set":
            return SetDataRequest(args[0], data_of(args[1]), args[2])
        if kind == "check":
            return CheckRequest(*args)
        return MultiRequest(tuple(request(sub[0], sub[1:]) for sub in args[0]))

    answers = []
    for kind, who, *args in ops:
        try:
            if kind == "open":
                leader.open(ids[who])
                result = None
            elif kind == "close":
                result = leader.commit(CloseSessionTxn(ids[who]))
                fire(leader.triggers)
            elif kind in ("create", "delete", "set", "multi"):
                try:
                    txn = prepare(leader.tree, request(kind, args), ids[who])
                except RequestTooLargeError:
                    result = errors.ConnectionLoss()  # the server drops the connection
                else:
                    result = leader.commit(txn)
                    fire(leader.triggers)
            elif kind == "exists":
                result = leader.tree.exists(args[0])
            elif kind == "get":
                result = leader.tree.get(args[0])
            elif kind == "children":
                # The recording sorted ZooKeeper's answer; the raw order is checked against a
                # real server in test_zookeeper_real.py.
                result = sorted(leader.tree.children(args[0]))
            elif kind == "watch_data":
                watches.add(("data", args[0]))
                result = None
            else:
                leader.tree.children(args[0])
                watches.add(("child", args[0]))
                result = None
        except errors.ZookeeperError as error:
            result = error
        answers.append(normal(result, owners))
    return answers, events, leader


def test_the_tree_answers_a_long_script_exactly_as_a_real_zookeeper_did():
    """Every result, stat field (zxids included; times and session ids aside), error class and
    watch event of ``tests/coord_tree_transcript.py``, against a real 3.8.0 ensemble's answers."""
    recorded = json.loads(RECORDING.read_text())
    answers, events, leader = replay(OPS)
    for op, mine, real in zip(OPS, answers, recorded["answers"], strict=True):
        assert mine == real, f"{op!r:.120}: zablib {mine!r:.300} but ZooKeeper {real!r:.300}"
    assert events == recorded["events"]
    assert violations(leader.tree) == []


# -- the error of each failing request, in ZooKeeper's order of checks ---------------------------
def _tree_for_errors() -> DataTree:
    leader = Leader()
    for request in (CreateRequest("/a", b"data"), CreateRequest("/a/b"), CreateRequest("/e", ephemeral=True)):
        leader.ask(request)
    return leader.tree


ERROR_CASES = [
    # (request, the error class ZooKeeper answers)   -- why
    (CreateRequest("/missing/x"), errors.NoNodeError),                 # parent missing
    (CreateRequest("/missing/x\x01"), errors.NoNodeError),             # parent checked before path
    (CreateRequest("/a"), errors.NodeExistsError),
    (CreateRequest("/e/x"), errors.NoChildrenForEphemeralsError),
    (CreateRequest("/e"), errors.NodeExistsError),                     # exists checked first
    (CreateRequest("/a/x\x01"), errors.BadArgumentsError),             # control character
    (CreateRequest("/a/\U0001f600"), errors.BadArgumentsError),        # a surrogate pair in Java
    (CreateRequest("/a/x\x00"), errors.BadArgumentsError),             # NUL
    (CreateRequest("/a/."), errors.BadArgumentsError),                 # relative
    (CreateRequest("/a/"), errors.BadArgumentsError),                  # trailing slash
    (CreateRequest("a"), errors.BadArgumentsError),                    # no slash at all
    (CreateRequest("/"), errors.NodeExistsError),
    (CreateRequest("/zookeeper/config/x"), errors.NoAuthError),        # read-only ACL
    (DeleteRequest("/missing"), errors.NoNodeError),
    (DeleteRequest("/missing/x"), errors.NoNodeError),
    (DeleteRequest("/missing", 3), errors.NoNodeError),                # existence before version
    (DeleteRequest("/a", 7), errors.BadVersionError),                  # version before emptiness
    (DeleteRequest("/a", -2), errors.BadVersionError),                 # below -1: the server's answer
    (DeleteRequest("/a"), errors.NotEmptyError),
    (DeleteRequest("/"), errors.BadArgumentsError),
    (DeleteRequest("/zookeeper"), errors.BadArgumentsError),
    (DeleteRequest("/zookeeper/quota"), errors.BadArgumentsError),
    (DeleteRequest("/zookeeper/config"), errors.BadArgumentsError),
    (DeleteRequest("/a/b\x00"), errors.BadArgumentsError),
    (DeleteRequest("/a/b\x01"), errors.NoNodeError),                   # delete does not validate
    (SetDataRequest("/missing", b""), errors.NoNodeError),
    (SetDataRequest("/a", b"", 5), errors.BadVersionError),
    (SetDataRequest("/a", b"", -5), errors.BadVersionError),
    (SetDataRequest("/a/", b""), errors.BadArgumentsError),
    (SetDataRequest("/zookeeper/config", b""), errors.NoAuthError),
    (CheckRequest("/missing", 0), errors.NoNodeError),
    (CheckRequest("/a", 1), errors.BadVersionError),
]


@pytest.mark.parametrize(("request_", "error"), ERROR_CASES, ids=lambda x: repr(x)[:60])
def test_each_failing_request_gets_zookeepers_error_and_code(request_, error):
    tree = _tree_for_errors()
    txn = prepare(tree, request_, SESSION)
    assert txn == ErrorTxn(error.code, txn.path) and txn.code == error.code
    applied = apply(tree, txn, zxid(99), 0)
    assert type(applied.result) is error and applied.result.code == error.code
    assert applied.tree is tree and applied.triggers == ()


def test_a_request_from_a_closed_or_unknown_session_is_expired():
    tree = _tree_for_errors()
    expired = errors.SessionExpiredError.code
    assert prepare(tree, CreateRequest("/x"), session_id=0x99) == ErrorTxn(expired, "/x")
    closed = apply(tree, CloseSessionTxn(SESSION), zxid(50), 0).tree
    assert prepare(closed, SetDataRequest("/a", b""), SESSION).code == errors.SessionExpiredError.code


def test_error_codes_are_kazoos():
    assert [e.code for e in (errors.NoNodeError, errors.NodeExistsError, errors.NotEmptyError,
                             errors.BadVersionError, errors.NoChildrenForEphemeralsError,
                             errors.BadArgumentsError, errors.RolledBackError,
                             errors.RuntimeInconsistency, errors.SessionExpiredError)] == \
        [-101, -110, -111, -103, -108, -8, 0, -2, -112]


# -- stat fields as ZooKeeper maintains them ------------------------------------------------------
def test_stat_fields_evolve_as_zookeeper_maintains_them(leader):
    leader.ask(CreateRequest("/a", b"hello"))                                  # zxid 2, time 1020
    assert leader.tree.exists("/a") == ZnodeStat(
        czxid=zxid(2), mzxid=zxid(2), ctime=1020, mtime=1020, version=0, cversion=0, aversion=0,
        ephemeralOwner=0, dataLength=5, numChildren=0, pzxid=zxid(2))
    leader.ask(CreateRequest("/a/b", b"x", ephemeral=True))                    # zxid 3
    assert leader.tree.exists("/a") == ZnodeStat(zxid(2), zxid(2), 1020, 1020, 0, 1, 0, 0, 5, 1, zxid(3))
    assert leader.tree.exists("/a/b") == ZnodeStat(zxid(3), zxid(3), 1030, 1030, 0, 0, 0, SESSION, 1, 0,
                                                   zxid(3))
    leader.ask(SetDataRequest("/a/b", b"xyz"))                                 # zxid 4
    assert leader.tree.exists("/a/b") == ZnodeStat(zxid(3), zxid(4), 1030, 1040, 1, 0, 0, SESSION, 3, 0,
                                                   zxid(3))
    assert leader.tree.exists("/a").mzxid == zxid(2)  # a child's data is not the parent's
    leader.ask(DeleteRequest("/a/b", version=1))                               # zxid 5
    # The delete counts as a change of /a's children: reported cversion 2 (1 creation, 0 left).
    assert leader.tree.exists("/a") == ZnodeStat(zxid(2), zxid(2), 1020, 1020, 0, 2, 0, 0, 5, 0, zxid(5))
    # The sequence counter is the number of creations, not the reported cversion.
    assert leader.ask(CreateRequest("/a/s-", sequential=True)) == "/a/s-0000000001"   # zxid 6
    assert leader.ask(CreateRequest("/a/s-", sequential=True)) == "/a/s-0000000002"   # zxid 7
    assert leader.tree.exists("/a") == ZnodeStat(zxid(2), zxid(2), 1020, 1020, 0, 4, 0, 0, 5, 2, zxid(7))
    assert leader.tree.sequence_counter("/a") == 3
    leader.ask(SetDataRequest("/a", b""))                                      # zxid 8
    assert leader.tree.exists("/a") == ZnodeStat(zxid(2), zxid(8), 1020, 1080, 1, 4, 0, 0, 0, 2, zxid(7))


def test_a_failed_write_changes_no_stat(leader):
    leader.ask(CreateRequest("/a"))
    before = leader.tree.exists("/a")
    leader.ask(CreateRequest("/a"))
    leader.ask(SetDataRequest("/a", b"x", version=4))
    assert leader.tree.exists("/a") == before


def test_a_sequential_name_has_ten_digits_even_from_the_root(leader):
    assert leader.ask(CreateRequest("/", sequential=True)) == "/0000000000"
    leader.ask(CreateRequest("/q"))
    assert leader.ask(CreateRequest("/q/", sequential=True)) == "/q/0000000000"
    assert leader.ask(CreateRequest("/q/lock-", sequential=True, ephemeral=True)) == "/q/lock-0000000001"


def test_the_counter_keeps_counting_when_sequential_children_are_deleted(leader):
    leader.ask(CreateRequest("/q"))
    first = leader.ask(CreateRequest("/q/n-", sequential=True))
    leader.ask(DeleteRequest(first))
    assert leader.ask(CreateRequest("/q/n-", sequential=True)) == "/q/n-0000000001"


def test_none_data_is_stored_as_no_data(leader):
    leader.ask(CreateRequest("/n", None))
    data, stat = leader.tree.get("/n")
    assert data is None and stat.dataLength == 0
    assert leader.ask(SetDataRequest("/n", b"ab")).dataLength == 2


# -- watch triggers -----------------------------------------------------------------------------
def test_each_write_fires_zookeepers_triggers_in_order(leader):
    leader.ask(CreateRequest("/a"))
    assert leader.triggers == [("/a", "created"), ("/", "child")]
    leader.ask(SetDataRequest("/a", b"1"))
    assert leader.triggers == [("/a", "changed")]
    leader.ask(DeleteRequest("/a"))
    assert leader.triggers == [("/a", "deleted"), ("/", "child")]
    leader.ask(DeleteRequest("/a"))
    assert leader.triggers == []  # a failed write fires nothing
    leader.ask(MultiRequest((CreateRequest("/m"), CreateRequest("/m/c"), SetDataRequest("/m", b"x"),
                             DeleteRequest("/m/c"), CheckRequest("/m", 1))))
    assert leader.triggers == [("/m", "created"), ("/", "child"), ("/m/c", "created"), ("/m", "child"),
                               ("/m", "changed"), ("/m/c", "deleted"), ("/m", "child")]


# -- multi ------------------------------------------------------------------------------------
def test_a_failed_multi_answers_kazoos_list_and_changes_nothing(leader):
    leader.ask(CreateRequest("/a"))
    before = leader.tree
    results = leader.ask(MultiRequest((CreateRequest("/a/b"), CheckRequest("/a", 0), DeleteRequest("/nope"),
                                       CreateRequest("/c"), SetDataRequest("/a", b""))))
    assert [type(r) for r in results] == [errors.RolledBackError, errors.RolledBackError, errors.NoNodeError,
                                          errors.RuntimeInconsistency, errors.RuntimeInconsistency]
    assert leader.tree is before and leader.triggers == []
    assert isinstance(leader.txn, MultiTxn) and leader.txn.failed()


def test_ops_of_a_multi_see_the_earlier_ops_and_share_one_zxid(leader):
    results = leader.ask(MultiRequest((
        CreateRequest("/q"), CreateRequest("/q/n-", sequential=True), CreateRequest("/q/n-", sequential=True),
        SetDataRequest("/q", b"v", version=0), CheckRequest("/q", 1), DeleteRequest("/q/n-0000000000"))))
    assert results[:3] == ["/q", "/q/n-0000000000", "/q/n-0000000001"]
    assert results[3].version == 1 and results[4:] == [True, True]
    stat = leader.tree.exists("/q")
    assert stat.czxid == stat.mzxid == stat.pzxid == leader.zxid
    assert leader.tree.children("/q") == ["n-0000000001"]


def test_a_multi_conflicting_with_itself_fails_at_the_second_op(leader):
    results = leader.ask(MultiRequest((CreateRequest("/m"), CreateRequest("/m"))))
    assert [type(r) for r in results] == [errors.RolledBackError, errors.NodeExistsError]
    results = leader.ask(MultiRequest((CreateRequest("/m"), DeleteRequest("/m"), SetDataRequest("/m", b""))))
    assert [type(r) for r in results] == [errors.RolledBackError, errors.RolledBackError, errors.NoNodeError]
    assert leader.tree.exists("/m") is None


def test_an_empty_multi_is_a_transaction_with_no_results(leader):
    txn = prepare(leader.tree, MultiRequest(()), SESSION)
    assert txn == MultiTxn(()) and leader.commit(txn) == []


def test_a_multi_prepared_against_another_tree_is_still_all_or_nothing(leader):
    # Only possible if a txn is applied to a tree it was not prepared for; apply stays atomic.
    txn = MultiTxn((CreateTxn("/x", b"", 0, -1), DeleteTxn("/missing"), SetDataTxn("/x", b"", 1)))
    before = leader.tree
    results = leader.commit(txn)
    assert [type(r) for r in results] == [errors.RolledBackError, errors.NoNodeError,
                                          errors.RuntimeInconsistency]
    assert leader.tree is before


def test_a_txn_that_no_longer_fits_its_tree_changes_nothing(leader):
    leader.ask(CreateRequest("/a"))
    before = leader.tree
    for txn, error in [(CreateTxn("/a", b"", 0, -1), errors.NodeExistsError),
                       (CreateTxn("/x/y", b"", 0, -1), errors.NoNodeError),
                       (DeleteTxn("/zz"), errors.NoNodeError),
                       (SetDataTxn("/zz", b"", 1), errors.NoNodeError),
                       (CheckVersionTxn("/zz", 0), errors.NoNodeError)]:
        assert type(leader.commit(txn)) is error and leader.tree is before


# -- sessions and ephemerals -------------------------------------------------------------------
def test_sessions_are_replicated_state(leader):
    assert leader.tree.sessions() == {SESSION: 30_000}
    assert leader.open(OTHER) == OTHER
    assert dict(leader.tree.sessions()) == {SESSION: 30_000, OTHER: 30_000}
    with pytest.raises(TypeError):
        leader.tree.sessions()[OTHER] = 1  # read-only
    assert leader.commit(CloseSessionTxn(OTHER)) is None
    assert leader.tree.sessions() == {SESSION: 30_000}


def test_closing_a_session_deletes_its_ephemerals_in_path_order_and_nothing_else(leader):
    leader.open(OTHER)
    leader.ask(CreateRequest("/d"))
    for path in ("/d/z", "/d/a", "/e"):
        leader.ask(CreateRequest(path, ephemeral=True))
    leader.ask(CreateRequest("/d/other", ephemeral=True), session=OTHER)
    assert leader.tree.ephemerals(SESSION) == ("/d/a", "/d/z", "/e")
    assert leader.commit(CloseSessionTxn(SESSION)) is None
    assert leader.triggers == [("/d/a", "deleted"), ("/d", "child"), ("/d/z", "deleted"), ("/d", "child"),
                               ("/e", "deleted"), ("/", "child")]
    assert leader.tree.children("/d") == ["other"] and leader.tree.ephemerals(SESSION) == ()
    # One txn deleted them all: the parent's pzxid is the close's zxid; each delete counts.
    assert leader.tree.exists("/d").pzxid == leader.zxid and leader.tree.exists("/d").cversion == 5
    assert violations(leader.tree) == []


def test_closing_an_unknown_session_is_harmless(leader):
    before = leader.tree
    assert leader.commit(CloseSessionTxn(0x77)) is None
    assert leader.tree == before


def test_session_txns_reject_bad_ids_and_timeouts():
    with pytest.raises(ValueError, match="session id"):
        CreateSessionTxn(0, 1000)
    with pytest.raises(ValueError, match="session id"):
        CloseSessionTxn(-3)
    with pytest.raises(ValueError, match="timeout"):
        CreateSessionTxn(5, 0)
    assert prepare(DataTree(), CreateSessionTxn(5, 10), 5) == CreateSessionTxn(5, 10)


# -- errors as transactions ---------------------------------------------------------------------
def test_an_error_txn_goes_through_and_answers_its_exception_without_a_change(leader):
    txn = prepare(leader.tree, DeleteRequest("/missing"), SESSION)
    assert txn == ErrorTxn(errors.NoNodeError.code, "/missing")
    before = leader.tree
    result = leader.commit(txn)
    assert isinstance(result, errors.NoNodeError) and str(result) == "/missing"
    assert leader.tree is before
    with pytest.raises(ValueError, match="unknown ZooKeeper error code"):
        ErrorTxn(-9999)


def test_prepare_refuses_what_is_not_a_write():
    with pytest.raises(TypeError, match="sync is not a transaction"):
        prepare(DataTree(), SyncRequest("/"), SESSION)
    with pytest.raises(TypeError, match="not a request"):
        prepare(DataTree(), "create /a", SESSION)
    with pytest.raises(TypeError, match="not a transaction"):
        apply(DataTree(), CreateRequest("/a"), 1, 0)


def test_a_request_over_one_megabyte_never_becomes_a_txn(leader):
    path = "/big"
    fits = CreateRequest(path, b"x" * (0xFFFFF - 47 - len(path)))
    assert leader.ask(fits) == path
    with pytest.raises(RequestTooLargeError, match="exceeds jute.maxbuffer .*ConnectionLoss"):
        prepare(leader.tree, CreateRequest("/big2", b"x" * (0xFFFFF - 47 - len(path))), SESSION)
    with pytest.raises(RequestTooLargeError):
        prepare(leader.tree, MultiRequest((CreateRequest("/a", b"x" * 600_000),
                                           SetDataRequest("/a", b"x" * 600_000))), SESSION)


# -- purity and determinism --------------------------------------------------------------------
def test_apply_leaves_its_input_tree_unchanged(leader):
    leader.ask(CreateRequest("/x", b"1"))
    leader.ask(CreateRequest("/x/e", ephemeral=True))
    before = leader.tree
    def snapshot():
        return before.state(), before.ephemerals(SESSION), before.sequence_counter("/x"), before.digest()

    taken = snapshot()
    for request in (CreateRequest("/x/y", sequential=True), SetDataRequest("/x", b"2"), DeleteRequest("/x/e"),
                    MultiRequest((CreateRequest("/m"), DeleteRequest("/x/e")))):
        applied = apply(before, prepare(before, request, SESSION), zxid(90), 5)
        assert applied.tree != before
    apply(before, CloseSessionTxn(SESSION), zxid(91), 5)
    assert snapshot() == taken


def _script(leader: Leader) -> None:
    leader.open(OTHER)
    for i in range(30):
        leader.ask(CreateRequest(f"/n{i % 7}", bytes([i])))
        leader.ask(CreateRequest(f"/n{i % 7}/s-", sequential=True, ephemeral=i % 2 == 0),
                   session=SESSION if i % 3 else OTHER)
        leader.ask(SetDataRequest(f"/n{i % 5}", bytes(i), version=i % 3 - 1))
    leader.commit(CloseSessionTxn(OTHER))


class Recorder(Leader):
    """A leader that also keeps its log of (txn, zxid, time), as ZAB's history would."""

    def __init__(self) -> None:
        self.log: list[tuple] = []
        super().__init__()

    def commit(self, txn):
        self.log.append((txn, EPOCH << 32 | self.counter + 1, 1000 + 10 * (self.counter + 1)))
        return super().commit(txn)


def test_replicas_applying_the_same_log_hold_equal_trees():
    leader = Recorder()
    _script(leader)
    replicas = [DataTree(), DataTree()]
    for txn, zx, clock in leader.log:
        replicas = [apply(tree, txn, zx, clock).tree for tree in replicas]
    assert replicas[0] == replicas[1] == leader.tree
    assert replicas[0].digest() == leader.tree.digest() and hash(replicas[1]) == hash(leader.tree)
    assert replicas[0] is not replicas[1] and leader.tree != DataTree()
    # A replica that missed one txn differs.
    lagging = DataTree()
    for txn, zx, clock in leader.log[:-1]:
        lagging = apply(lagging, txn, zx, clock).tree
    assert lagging != leader.tree and lagging.digest() != leader.tree.digest()


def test_the_digest_does_not_depend_on_the_process_and_a_tree_pickles():
    leader = Leader()
    _script(leader)
    code = ("import sys; sys.path[:0] = ['.', 'tests']; from test_coord_tree import Leader, _script; "
            "l = Leader(); _script(l); print(l.tree.digest())")
    digests = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                              env={"PYTHONHASHSEED": seed, "PATH": ""}).stdout.strip() for seed in ("1", "2")}
    assert digests == {leader.tree.digest()}
    copy = pickle.loads(pickle.dumps(leader.tree))
    assert copy == leader.tree and copy.children("/n1") == leader.tree.children("/n1")


def test_five_thousand_creates_under_one_parent_apply_in_well_under_a_second():
    tree = apply(DataTree(), CreateSessionTxn(1, 1000), 1, 0).tree
    tree = apply(tree, CreateTxn("/q", b"", 0, -1), 2, 0).tree
    start = time.perf_counter()
    for i in range(5000):
        txn = prepare(tree, CreateRequest("/q/n-", b"x", sequential=True), 1)
        tree = apply(tree, txn, 3 + i, 0).tree
    elapsed = time.perf_counter() - start
    assert sorted(tree.children("/q")) == [f"n-{i:010d}" for i in range(5000)]
    assert elapsed < 0.8, f"5,000 prepares and applies took {elapsed:.2f} s"


# -- the order of children: a Java HashSet<String>(8), as in ZooKeeper's DataNode ----------------
# Expected orders printed by java.util.HashSet on OpenJDK 17 (and by a real 3.8 ensemble: see
# test_zookeeper_real.py, which compares every step of longer scripts).


def _tree_with(*steps: str) -> DataTree:
    leader = Leader()
    leader.ask(CreateRequest("/p"))
    for step in steps:
        leader.ask(CreateRequest("/p/" + step[1:]) if step[0] == "+" else DeleteRequest("/p/" + step[1:]))
    return leader.tree


def test_names_hash_as_java_strings_do_spread_as_in_a_java_hashmap():
    for name, hash_code in (("hello", 99162322), ("Aa", 2112), ("BB", 2112), ("豈", 35912),
                            ("zookeeper", 1600681804), ("", 0)):
        assert java_hash(name) == hash_code ^ (hash_code >> 16)


def test_children_are_listed_by_bucket_then_insertion_not_sorted():
    # The smallest case the differential test found: kazoo's recursive delete follows this order.
    assert _tree_with("+s-0000000001", "+b").children("/p") == ["s-0000000001", "b"]
    assert DataTree().children("/zookeeper") == ["config", "quota"]


def test_a_parent_keeps_its_grown_table_after_losing_every_child():
    names = [f"c{i}" for i in range(30)]
    emptied = _tree_with(*(f"+{n}" for n in names), *(f"-{n}" for n in names), "+c7", "+c1", "+c30", "+c15")
    fresh = _tree_with("+c7", "+c1", "+c30", "+c15")
    assert emptied.children("/p") == ["c30", "c15", "c1", "c7"]  # a table of 64 buckets
    assert fresh.children("/p") == ["c30", "c7", "c1", "c15"]  # a table of 8

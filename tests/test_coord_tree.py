"""ZooKeeper's data tree (zablib.coord.tree, .txn, .paths, .errors): stories of znodes, their stat,
sessions and transactions, checked against what ZooKeeper 3.8 does (DataTree.java,
PrepRequestProcessor.java) and what kazoo 2.11 reports."""

from __future__ import annotations

import pytest

from zablib.coord import errors
from zablib.coord.tree import DataTree, ZnodeStat, apply, violations
from zablib.coord.txn import (
    CheckRequest,
    CloseSessionTxn,
    CreateRequest,
    CreateSessionTxn,
    DeleteRequest,
    ErrorTxn,
    MultiRequest,
    SetDataRequest,
    prepare,
)

SESSION = 0x100
OTHER = 0x200


class Leader:
    """A tiny leader for the stories: prepare each request against its tree, apply it with the next
    zxid (epoch 1) and a clock that advances 10 ms per txn."""

    def __init__(self) -> None:
        self.tree = DataTree()
        self.counter = 0
        self.triggers: list[tuple[str, str]] = []
        self.open(SESSION)

    @property
    def zxid(self) -> int:
        return 1 << 32 | self.counter

    def commit(self, txn):
        self.counter += 1
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


def test_a_fresh_tree_is_zookeepers_root_with_its_own_znodes():
    tree = DataTree()
    assert tree.children("/") == ["zookeeper"]
    assert tree.children("/zookeeper") == ["config", "quota"]
    # As a real 3.8 ensemble reports them: the system children were added without counting as
    # creations, and a reported cversion is 2 * creations - numChildren.
    assert tree.exists("/") == ZnodeStat(0, 0, 0, 0, 0, -1, 0, 0, 0, 1, 0)
    assert tree.exists("/zookeeper").cversion == -2
    assert tree.exists("/zookeeper/config")[4:7] == (-1, 0, -1)  # version, cversion, aversion
    assert len(tree) == 4 and tree.sessions() == {}
    assert violations(tree) == []


def test_create_get_set_delete_a_persistent_znode(leader):
    assert leader.ask(CreateRequest("/app", b"v1")) == "/app"
    data, stat = leader.tree.get("/app")
    assert data == b"v1" and stat.version == 0 and stat.dataLength == 2
    stat = leader.ask(SetDataRequest("/app", b"v22"))
    assert stat.version == 1 and leader.tree.get("/app") == (b"v22", stat)
    assert leader.ask(DeleteRequest("/app", version=1)) is True
    assert leader.tree.exists("/app") is None
    assert leader.tree.children("/") == ["zookeeper"]


def test_sequential_names_come_from_the_parents_child_version(leader):
    leader.ask(CreateRequest("/q"))
    first = leader.ask(CreateRequest("/q/item-", sequential=True))
    second = leader.ask(CreateRequest("/q/item-", sequential=True, ephemeral=True))
    assert (first, second) == ("/q/item-0000000000", "/q/item-0000000001")
    assert leader.tree.exists(second).ephemeralOwner == SESSION
    assert leader.tree.ephemerals(SESSION) == (second,)


def test_closing_a_session_deletes_its_ephemerals_and_fires_their_triggers(leader):
    leader.ask(CreateRequest("/e", ephemeral=True))
    leader.ask(CreateRequest("/p"))
    assert leader.commit(CloseSessionTxn(SESSION)) is None
    assert leader.tree.exists("/e") is None and leader.tree.exists("/p") is not None
    assert leader.triggers == [("/e", "deleted"), ("/", "child")]
    assert leader.tree.sessions() == {} and leader.tree.ephemerals(SESSION) == ()


def test_a_failed_request_becomes_an_error_txn_that_changes_nothing(leader):
    txn = prepare(leader.tree, DeleteRequest("/missing"), SESSION)
    assert txn == ErrorTxn(errors.NoNodeError.code, "/missing")
    before = leader.tree
    result = leader.commit(txn)
    assert isinstance(result, errors.NoNodeError) and leader.tree is before


def test_a_multi_is_all_or_nothing_with_kazoos_per_op_results(leader):
    leader.ask(CreateRequest("/a"))
    results = leader.ask(MultiRequest((CreateRequest("/a/b"), CheckRequest("/a", 5), DeleteRequest("/a"))))
    assert [type(r) for r in results] == [errors.RolledBackError, errors.BadVersionError,
                                          errors.RuntimeInconsistency]
    assert leader.tree.children("/a") == []
    results = leader.ask(MultiRequest((CreateRequest("/a/b"), SetDataRequest("/a/b", b"x", 0))))
    assert results[0] == "/a/b" and results[1].version == 1


def test_apply_leaves_its_input_tree_unchanged(leader):
    before = leader.tree
    snapshot = before.state()
    leader.ask(CreateRequest("/x", b"1"))
    assert before.state() == snapshot and before.exists("/x") is None

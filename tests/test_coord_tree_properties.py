"""Random programs of client requests and session events on the data tree: after every txn the
tree's invariants hold, apply is pure and deterministic, a failed txn changes nothing, child
versions and sequence counters only grow, a closed session leaves nothing behind. Each check is
first shown to catch a deliberately broken apply."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st

from zablib.coord import errors
from zablib.coord.tree import TRIGGER_KINDS, Applied, DataTree, apply, violations
from zablib.coord.txn import (
    CheckRequest,
    CloseSessionTxn,
    CreateRequest,
    CreateSessionTxn,
    CreateTxn,
    DeleteRequest,
    ErrorTxn,
    MultiRequest,
    MultiTxn,
    SetDataRequest,
    prepare,
)

SESSIONS = (1, 2, 3)
VALID_PATHS = ("/a", "/b", "/a/c", "/a/d", "/b/e", "/a/c/f")
ODD_PATHS = ("/zookeeper", "/", "/a/", "bad", "/a\x01", "/zookeeper/config")
PREFIXES = ("/a/s-", "/q-", "/b/", "/a/c/n-")

# Shallow paths more often, so that deeper creates find their parents.
paths = st.sampled_from(("/a", "/b") * 4 + VALID_PATHS * 2 + ODD_PATHS)
versions = st.sampled_from((-1, -1, 0, 1, 2, -3))
data = st.one_of(st.none(), st.binary(max_size=3))
creates = st.one_of(
    st.builds(CreateRequest, paths, data, st.just(False), st.just(False)),
    st.builds(CreateRequest, paths, data, st.booleans(), st.just(False)),
    st.builds(CreateRequest, st.sampled_from(PREFIXES), data, st.booleans(), st.just(True)),
)
writes = st.one_of(creates, st.builds(DeleteRequest, paths, versions),
                   st.builds(SetDataRequest, paths, data, versions))
ops = st.one_of(writes, st.builds(CheckRequest, paths, versions))  # what a multi holds
requests = st.one_of(writes, st.builds(MultiRequest, st.lists(ops, max_size=4).map(tuple)))


def _step(choice: int, session: int, request) -> tuple:
    # Mostly requests (which shrink first), sometimes a session opens or closes.
    if choice >= 18:
        return ("open" if choice == 18 else "close", session)
    return ("ask", session, request)


steps = st.builds(_step, st.sampled_from(range(20)), st.sampled_from((1, 1, 2, 2, 3)), requests)
# Sessions 1 and 2 start open (session 3 only when a step opens it), so most requests count;
# at least ten steps, so that trees grow a few levels.
programs = st.lists(steps, min_size=10, max_size=60).map(lambda program: [("open", 1), ("open", 2), *program])

Apply = Callable[[DataTree, object, int, int], Applied]


def txn_of(tree: DataTree, step: tuple):
    if step[0] == "open":
        return CreateSessionTxn(step[1], 5000)
    if step[0] == "close":
        return CloseSessionTxn(step[1])
    return prepare(tree, step[2], step[1])


def failed(txn) -> bool:
    return isinstance(txn, ErrorTxn) or (isinstance(txn, MultiTxn) and txn.failed())


def step_problems(before: DataTree, txn, applied: Applied, zxid: int, again: Applied) -> list[str]:
    """What is wrong with one applied txn (an empty list when nothing is)."""
    after = applied.tree
    found = [f"invariant: {v}" for v in violations(after)]
    if after != again.tree or applied.triggers != again.triggers or \
            repr(applied.result) != repr(again.result):
        found.append("apply is not deterministic")
    if failed(txn) and after != before:
        found.append("a failed txn changed the tree")
    if failed(txn) and applied.triggers:
        found.append("a failed txn fired triggers")
    for path in before.paths():
        old, new = before.exists(path), after.exists(path)
        if new is not None and new.czxid == old.czxid:  # the same znode, not a re-creation
            if new.cversion < old.cversion:
                found.append(f"{path}: cversion went back from {old.cversion} to {new.cversion}")
            if after.sequence_counter(path) < before.sequence_counter(path):
                found.append(f"{path}: sequence counter went back")
            if new.version < old.version:
                found.append(f"{path}: version went back")
            if max(new.mzxid, new.pzxid) > zxid:
                found.append(f"{path}: stat from the future")
    for index, (path, kind) in enumerate(applied.triggers):
        if kind not in TRIGGER_KINDS:
            found.append(f"unknown trigger kind {kind!r}")
        deleted_later = (path, "deleted") in applied.triggers[index:]
        if kind in ("created", "changed") and after.exists(path) is None and not deleted_later:
            found.append(f"{kind} trigger for {path}, which does not exist")
        if kind == "deleted" and after.exists(path) is not None \
                and (path, "created") not in applied.triggers[index:]:
            found.append(f"deleted trigger for {path}, which still exists")
    if isinstance(txn, CloseSessionTxn):
        if txn.session_id in after.sessions() or after.ephemerals(txn.session_id):
            found.append(f"session {txn.session_id} survived its close")
        owned = [p for p in after.paths() if after.exists(p).ephemeralOwner == txn.session_id]
        if owned:
            found.append(f"closed session {txn.session_id} still owns {owned}")
    if isinstance(txn, CreateTxn) and not failed(txn) and isinstance(applied.result, str) \
            and after.exists(applied.result) is None:
        found.append(f"created {applied.result} is missing")
    return found


def run(program, apply_: Apply = apply) -> list[str]:
    """Run a program; return the first step's problems (with the step), or []."""
    tree = DataTree()
    for counter, step in enumerate(program, start=1):
        zxid = 1 << 32 | counter
        txn = txn_of(tree, step)
        snapshot = tree.state()
        applied = apply_(tree, txn, zxid, 10 * counter)
        again = apply_(tree, txn, zxid, 10 * counter)
        problems = step_problems(tree, txn, applied, zxid, again)
        if tree.state() != snapshot:
            problems.append("apply changed its input tree")
        if problems:
            return [f"step {counter} {step!r}: {p}" for p in problems]
        tree = applied.tree
    return []


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs)
def test_random_programs_keep_every_invariant(program):
    assert run(program) == []


def long_program(seed: int, length: int = 300) -> list[tuple]:
    """A long program that grows a real tree: requests mostly name existing znodes or their
    children, so most of them succeed (hypothesis' programs are short and fail often)."""
    rng = random.Random(seed)
    names = ("a", "b", "c", "n-", "")
    program: list[tuple] = [("open", 1), ("open", 2), ("open", 3)]
    known = ["/"]
    for _ in range(length):
        session = rng.choice(SESSIONS)
        roll = rng.random()
        if roll < 0.03:
            program.append((rng.choice(("open", "close")), session))
            continue
        parent = rng.choice(known)
        child = (parent.rstrip("/") + "/" + rng.choice(names)) if rng.random() < 0.6 else rng.choice(known)
        version = rng.choice((-1, -1, 0, 1, 2))
        if roll < 0.55:
            ephemeral, sequential = rng.random() < 0.3, child.endswith(("-", "/"))
            request = CreateRequest(child, bytes(rng.randrange(4)), ephemeral, sequential)
            known.append(child.rstrip("-/") or "/")
        elif roll < 0.7:
            request = SetDataRequest(child, b"v", version)
        elif roll < 0.85:
            request = DeleteRequest(child, version)
        else:
            request = MultiRequest((CreateRequest(child + "m", b""), SetDataRequest(child + "m", b"x", 0),
                                    CheckRequest(rng.choice(known), version)))
        program.append(("ask", session, request))
    return program


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**32))
def test_long_random_programs_keep_every_invariant(seed):
    program = long_program(seed)
    assert run(program) == []
    tree, succeeded = DataTree(), 0
    for counter, step in enumerate(program, start=1):
        txn = txn_of(tree, step)
        succeeded += not failed(txn)
        tree = apply(tree, txn, counter, counter).tree
    # The generator works: over seeds 0..299, 66 of 300 writes succeed on average, 15 at least.
    assert succeeded >= 10


@settings(max_examples=100, deadline=None)
@given(programs)
def test_two_replicas_of_a_random_program_agree(program):
    trees = [DataTree(), DataTree()]
    leader = DataTree()
    for counter, step in enumerate(program, start=1):
        txn = txn_of(leader, step)
        leader = apply(leader, txn, counter, counter).tree
        trees = [apply(tree, txn, counter, counter).tree for tree in trees]
    assert trees[0] == trees[1] == leader and trees[0].digest() == leader.digest()


@settings(max_examples=100, deadline=None)
@given(programs)
def test_every_znode_a_session_owns_goes_with_it(program):
    tree = DataTree()
    for counter, step in enumerate([*program, *(("close", s) for s in SESSIONS)], start=1):
        tree = apply(tree, txn_of(tree, step), counter, counter).tree
    assert all(tree.exists(p).ephemeralOwner == 0 for p in tree.paths()) and tree.sessions() == {}


# -- the checks bite ------------------------------------------------------------------------------
def forgets_parent_counter(tree, txn, zxid, time):
    """A replica that ignores the child counter the leader resolved (treats it as 0)."""
    def strip(t):
        return dataclasses.replace(t, parent_cversion=0) if isinstance(t, CreateTxn) else t
    if isinstance(txn, MultiTxn):
        txn = MultiTxn(tuple(strip(t) for t in txn.txns))
    return apply(tree, strip(txn), zxid, time)


def applies_a_failed_multi_halfway(tree, txn, zxid, time):
    """A replica that applies a failed multi's ops up to the failing one (not all or nothing)."""
    if isinstance(txn, MultiTxn) and txn.failed():
        for op in txn.txns:
            if isinstance(op, ErrorTxn):
                break
            tree = apply(tree, op, zxid, time).tree
        return Applied(tree, [errors.RolledBackError()], ())
    return apply(tree, txn, zxid, time)


def never_closes(tree, txn, zxid, time):
    """A replica that ignores session closes."""
    if isinstance(txn, CloseSessionTxn):
        return Applied(tree, None, ())
    return apply(tree, txn, zxid, time)


def forgets_triggers_are_one_per_txn(tree, txn, zxid, time):
    """A replica whose results depend on how often it was asked (not deterministic)."""
    applied = apply(tree, txn, zxid, time)
    forgets_triggers_are_one_per_txn.calls += 1
    return applied._replace(triggers=applied.triggers[: forgets_triggers_are_one_per_txn.calls % 2 * 99])


forgets_triggers_are_one_per_txn.calls = 0


@pytest.mark.parametrize(("broken", "program", "problem"), [
    (forgets_parent_counter, [("open", 1), ("ask", 1, CreateRequest("/a"))], "cversion went back"),
    (applies_a_failed_multi_halfway,
     [("open", 1), ("ask", 1, MultiRequest((CreateRequest("/a"), DeleteRequest("/nope"))))],
     "a failed txn changed the tree"),
    (never_closes, [("open", 1), ("ask", 1, CreateRequest("/e", ephemeral=True)), ("close", 1)],
     "survived its close"),
    (forgets_triggers_are_one_per_txn, [("open", 1), ("ask", 1, CreateRequest("/a"))], "not deterministic"),
])
def test_the_step_checks_catch_a_broken_apply(broken, program, problem):
    assert run(program) == []
    found = run(program, broken)
    assert any(problem in p for p in found), found


@pytest.mark.parametrize("broken", [forgets_parent_counter, applies_a_failed_multi_halfway, never_closes])
def test_random_programs_find_each_broken_apply(broken):
    # Generation only: the first program that catches it is enough (shrinking would be slow).
    found = find(programs, lambda program: run(program, broken) != [],
                 settings=settings(max_examples=2000, database=None, deadline=None, phases=[Phase.generate]))
    assert run(found, broken)


class Lying:
    """A tree view that misreports one thing, to show each invariant of ``violations`` bites."""

    def __init__(self, tree: DataTree, **lie) -> None:
        self.tree, self.lie = tree, lie

    def __getattr__(self, name):
        return getattr(self.tree, name)

    def get(self, path):
        data, stat = self.tree.get(path)
        if path == self.lie.get("path"):
            stat = stat._replace(**self.lie["stat"])
        return data, stat

    def sessions(self):
        return self.lie.get("sessions", self.tree.sessions())


def test_each_invariant_of_the_tree_bites():
    tree = DataTree()
    for counter, step in enumerate([("open", 1), ("ask", 1, CreateRequest("/a", b"xy")),
                                    ("ask", 1, CreateRequest("/a/b")),
                                    ("ask", 1, CreateRequest("/e", ephemeral=True))], start=1):
        tree = apply(tree, txn_of(tree, step), counter, counter).tree
    assert violations(tree) == []
    cases = [
        (dict(path="/a", stat={"numChildren": 3}), "numChildren 3 but 1 children"),
        (dict(path="/a", stat={"dataLength": 5}), "dataLength 5 but 2 bytes"),
        (dict(path="/a", stat={"ephemeralOwner": 1}), "its parent /a is ephemeral"),
        (dict(sessions={}), "ephemeral of session 0x1, which is not open"),
        (dict(path="/a/b", stat={"ephemeralOwner": 1}), "which does not list it"),
    ]
    for lie, message in cases:
        found = violations(Lying(tree, **lie))
        assert any(message in v for v in found), (lie, found)

"""The etcd-like store on zablib's Raft: revisions, ranges, txns, compaction, watches, reads.

Each story drives a simulated three-server cluster through a client (``sim.client()``) the way
an etcd v3 application would, and checks what etcd promises: one store-wide revision per change,
reads of past revisions until compaction (refused with etcd's own error text afterwards),
txns applied as one change, watches that deliver every change from a past revision in order and
exactly once (also when their server crashes and the client resumes elsewhere), linearizable
reads by default and serializable ones that may be stale.
"""

from __future__ import annotations

import pytest

import zablib.etcd.mvcc as mvcc
from zablib.etcd import cluster
from zablib.etcd.client import compare, op_delete, op_get, op_put
from zablib.etcd.errors import (
    CompactedError,
    DuplicateKeyError,
    FutureRevisionError,
    RequestTimeoutError,
)
from zablib.linearizability import KVModel, Operation, check
from zablib.network import uniform


def started(seed: int = 0, n: int = 3):
    sim = cluster(n, seed=seed)
    etcd = sim.client()
    etcd.put("/init", "x")  # waits for a leader and its first write
    return sim, etcd


# -- revisions -------------------------------------------------------------------------------------
def test_every_change_is_the_next_revision_of_the_whole_store_and_a_txn_is_one():
    sim, etcd = started()
    base = etcd.get("/init").revision
    assert base == 2  # a fresh store is at revision 1; the first put made 2
    revisions = [etcd.put("/a", "1").revision, etcd.put("/b", "1").revision,
                 etcd.put("/a", "2").revision, etcd.delete("/b").revision]
    assert revisions == [base + 1, base + 2, base + 3, base + 4]
    # A txn that writes three keys is one change: one revision, shared by all three.
    reply = etcd.txn([compare("/a", "value", "=", "2")],
                     [op_put("/x", "1"), op_put("/y", "1"), op_delete("/a")], [op_put("/z", "1")])
    assert reply.succeeded and reply.revision == base + 5
    kvs = etcd.get("/", prefix=True).kvs
    assert {kv.key: kv.mod_revision for kv in kvs} == {b"/init": base, b"/x": base + 5,
                                                       b"/y": base + 5}
    # Changing nothing moves nothing: a delete of a missing key, a txn that only reads.
    assert etcd.delete("/nothing").revision == base + 5
    assert etcd.txn([], [op_get("/x")]).revision == base + 5
    sim.check()


def test_create_revision_mod_revision_and_version_follow_a_key_through_delete_and_recreate():
    sim, etcd = started()
    first = etcd.put("/k", "a").revision
    etcd.put("/k", "b")
    kv = etcd.get("/k").kvs[0]
    assert (kv.create_revision, kv.mod_revision, kv.version) == (first, first + 1, 2)
    etcd.delete("/k")
    again = etcd.put("/k", "c").revision
    kv = etcd.get("/k").kvs[0]
    assert (kv.create_revision, kv.mod_revision, kv.version) == (again, again, 1)


def test_a_range_reads_a_key_or_a_prefix_in_key_order_now_or_at_a_past_revision():
    sim, etcd = started()
    etcd.put("/svc/b", "1")
    at = etcd.put("/svc/a", "1").revision
    etcd.put("/svc/a", "2")
    etcd.put("/svd", "not under /svc/")
    etcd.delete("/svc/b")
    assert [kv.key for kv in etcd.get("/svc/", prefix=True).kvs] == [b"/svc/a"]
    past = etcd.get("/svc/", prefix=True, revision=at)
    assert [(kv.key, kv.value) for kv in past.kvs] == [(b"/svc/a", b"1"), (b"/svc/b", b"1")]
    assert past.revision == at + 3  # the header says where the store is now
    with pytest.raises(FutureRevisionError, match="future revision"):
        etcd.get("/svc/a", revision=at + 100)


def test_after_compaction_an_older_revision_is_refused_with_etcds_error():
    sim, etcd = started()
    old = etcd.put("/k", "1").revision
    keep = etcd.put("/k", "2").revision
    etcd.put("/k", "3")
    etcd.compact(keep)
    with pytest.raises(CompactedError, match="mvcc: required revision has been compacted") as caught:
        etcd.get("/k", revision=old)
    assert caught.value.compact_revision == keep
    assert etcd.value("/k", revision=keep) == b"2"  # the compaction revision itself stays readable
    with pytest.raises(CompactedError):
        etcd.compact(keep)  # compacting again at or before it


def test_a_txn_compares_value_version_and_revisions_and_runs_one_branch():
    sim, etcd = started()
    created = etcd.put("/lock", "me").revision
    ok = etcd.txn([compare("/lock", "version", "=", 1), compare("/lock", "create_revision", "=", created),
                   compare("/lock", "mod_revision", "<", created + 1)],
                  [op_put("/lock", "still me"), op_get("/lock")], [op_put("/lost", "1")])
    assert ok.succeeded and ok.responses[1].kvs[0].value == b"still me"  # reads see the branch
    taken = etcd.txn([compare("/lock", "version", "=", 0)], [op_put("/lock", "you")],
                     [op_get("/lock")])
    assert not taken.succeeded and taken.responses[0].kvs[0].value == b"still me"
    # etcd's rule: a value comparison on a missing key is false, whatever the operator.
    for result in ("=", "!=", "<", ">"):
        assert not etcd.txn([compare("/missing", "value", result, "x")]).succeeded
    assert etcd.get("/lost").kvs == ()


def test_a_txn_that_writes_one_key_twice_is_refused_before_it_reaches_the_log():
    sim, etcd = started()
    log = len(sim.nodes[sim.leader()].log)
    with pytest.raises(DuplicateKeyError, match="duplicate key given in txn request"):
        etcd.txn([], [op_put("/a", "1"), op_put("/a", "2")])
    with pytest.raises(DuplicateKeyError):
        etcd.txn([], [op_put("/dir/a", "1"), op_delete("/dir/", prefix=True)])
    assert len(sim.nodes[sim.leader()].log) == log


def test_bad_input_is_refused_with_a_clear_error():
    sim, etcd = started()
    with pytest.raises(ValueError, match="key is not provided"):
        etcd.put("", "v")
    with pytest.raises(TypeError, match="bytes or str"):
        etcd.put(3, "v")
    with pytest.raises(ValueError, match="unknown compare target"):
        compare("/a", "size", "=", 1)
    with pytest.raises(ValueError, match="revision must be an int >= 0"):
        etcd.get("/a", revision=-1)
    with pytest.raises(ValueError, match="endpoints must be servers"):
        sim.client(9)


# -- watches ---------------------------------------------------------------------------------------
def test_a_watch_from_a_past_revision_delivers_exactly_the_changes_since_in_order():
    sim, etcd = started()
    writes = [etcd.put(f"/w/{k % 7}", str(k)).revision for k in range(50)]
    r = writes[19]
    # start_revision is inclusive (etcd's): from r + 1 means every change after r.
    watch = sim.client(3).watch("/w/", prefix=True, start_revision=r + 1)
    sim.run_for(50)
    assert watch.revisions == writes[20:]
    assert [e.kv.value for e in watch.events] == [str(k).encode() for k in range(20, 50)]
    # ... and goes on with the next changes, a txn's events under one revision.
    t = etcd.txn([], [op_put("/w/a", "x"), op_put("/w/b", "y"), op_put("/elsewhere", "z")]).revision
    etcd.delete("/w/", prefix=True)
    sim.run_for(50)
    assert watch.revisions[-2] == t and watch.revisions[-1] == t + 1
    assert [e.describe() for e in watch.events[30:32]] == [f"PUT /w/a=x@{t}", f"PUT /w/b=y@{t}"]
    assert all(e.type == mvcc.DELETE for e in watch.events[32:])
    assert len(watch.events[32:]) == 9  # /w/0 .. /w/6, /w/a, /w/b


def test_a_watch_on_a_compacted_revision_is_cancelled_with_the_compaction_error():
    sim, etcd = started()
    revisions = [etcd.put("/k", str(k)).revision for k in range(5)]
    etcd.compact(revisions[3])
    too_old = etcd.watch("/k", start_revision=revisions[1])
    fine = etcd.watch("/k", start_revision=revisions[3])
    sim.run_for(50)
    assert isinstance(too_old.cancelled, CompactedError)
    assert "mvcc: required revision has been compacted" in str(too_old.cancelled)
    assert too_old.cancelled.compact_revision == revisions[3]
    assert too_old.events == []
    assert fine.cancelled is None and fine.revisions == revisions[3:]


def test_a_watch_that_resumes_across_a_leader_crash_misses_nothing_and_repeats_nothing():
    """The watcher is connected to the leader. Writes go on through another server while the
    leader crashes; the client reopens the watch on a surviving server from its last revision
    + 1. What it received is exactly the key's history in the store that survived."""
    sim, etcd = started(seed=3)
    leader = sim.leader()
    others = [i for i in sim.node_ids if i != leader]
    watcher = sim.client((leader, *others))
    watch = watcher.watch("/counter", start_revision=1)
    writer = sim.client(others[0], timeout=0.5)
    acked = []
    for k in range(40):
        if k == 15:
            sim.crash(leader)
        try:
            acked.append(writer.put("/counter", str(k)).revision)
        except RequestTimeoutError:
            pass  # lost with the old leader, or not: the store below says which
    sim.run_for(200)
    assert len(watch.servers) == 2 and watch.servers[1][1] != leader
    survivor = sim.nodes[sim.leader()].store
    history = [(rev, e.kv.value) for rev, events in survivor.history for e in events
               if e.kv.key == b"/counter"]
    assert [(e.revision, e.kv.value) for e in watch.events] == history
    assert set(acked) <= set(watch.revisions)
    assert len(acked) >= 35
    sim.check()


def test_a_watch_on_a_lagging_server_waits_for_revisions_it_has_not_applied():
    sim, etcd = started(seed=1)
    leader = sim.leader()
    lagging = next(i for i in sim.node_ids if i != leader)
    sim.configure_links(leader, lagging, delay=uniform(80.0, 90.0))
    last = [etcd.put("/k", str(k)).revision for k in range(5)][-1]
    assert sim.nodes[lagging].store.revision < last
    # Ask the lagging server for a revision it may not have yet: it waits, then delivers.
    watch = sim.client(lagging).watch("/k", start_revision=last)
    sim.run_for(300)
    assert watch.revisions == [last]


# -- reads -----------------------------------------------------------------------------------------
def read_history(kind: str, seed: int) -> tuple[list[Operation], int]:
    """Writes through the leader; after each acknowledgement (and 1 ms), a read of ``kind``
    through a follower whose links from the leader are slow. Returns the history and how many
    reads returned a value older than the last acknowledged write."""
    sim, etcd = started(seed=seed)
    leader = sim.leader()
    lagging = next(i for i in sim.node_ids if i != leader)
    sim.configure_links(leader, lagging, delay=uniform(40.0, 45.0))
    writer, reader = sim.client(leader), sim.client(lagging, timeout=2.0)
    writer.put("/x", "0")
    history, stale = [], 0
    for k in range(1, 9):
        asked = sim.now
        writer.put("/x", str(k))
        history.append(Operation("w", ("set", "/x", str(k).encode()), "ok", asked, sim.now))
        sim.run_for(1.0)
        asked = sim.now
        got = reader.value("/x", serializable=kind == "serializable")
        history.append(Operation("r", ("get", "/x"), got, asked, sim.now))
        stale += got != str(k).encode()
    return history, stale


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_linearizable_reads_through_a_lagging_follower_are_never_stale(seed):
    history, stale = read_history("linearizable", seed)
    assert stale == 0
    assert check(history, KVModel({"/x": b"0"})).ok is True


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_serializable_reads_through_a_lagging_follower_are_stale_and_the_checker_says_so(seed):
    history, stale = read_history("serializable", seed)
    assert stale >= 4
    assert check(history, KVModel({"/x": b"0"})).ok is False


def test_a_read_through_a_server_cut_off_from_the_leader_times_out_unless_serializable():
    sim, etcd = started(seed=2)
    etcd.put("/k", "1")
    sim.run_for(50)
    leader = sim.leader()
    cut = next(i for i in sim.node_ids if i != leader)
    sim.isolate(cut)
    etcd.put("/k", "2")
    alone = sim.client(cut, timeout=0.3)
    assert alone.value("/k", serializable=True) == b"1"  # stale, and answered at once
    with pytest.raises(RequestTimeoutError, match="request timed out"):
        alone.get("/k")


def test_the_same_seed_gives_the_same_trace():
    def run():
        sim, etcd = started(seed=7)
        w = etcd.watch("/", prefix=True, start_revision=1)
        for k in range(10):
            etcd.put(f"/k{k % 3}", str(k))
        etcd.txn([compare("/k0", "version", ">", 1)], [op_delete("/k1")])
        sim.run_for(100)
        return sim.trace.describe(), w.revisions
    assert run() == run()


def test_a_write_forwarded_over_a_duplicating_network_is_applied_once():
    """A follower forwards a client's write to the leader; the simulated network may deliver
    the Forward twice (etcd's peers talk over TCP, which never does), and the leader then
    appends it twice. Each server applies a request id once: one revision per write."""
    sim, etcd = started(seed=6)
    follower = next(i for i in sim.node_ids if i != sim.leader())
    writer = sim.client(follower)
    start = etcd.get("/init").revision
    sim.set_duplication(0.5)
    for k in range(10):
        writer.put("/k", str(k))
    sim.set_duplication(0.0)
    sim.run_for(100)
    assert etcd.get("/k").kvs[0].version == 10
    assert etcd.get("/k").revision == start + 10
    assert sim.trace.values("kv-duplicate")  # it happened, and was skipped
    sim.check()

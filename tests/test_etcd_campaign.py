"""The etcd-like store under random faults: the book's fault campaign (``zablib.faults``).

Each schedule (crashes, recoveries, partitions, loss, duplication, with writes to one key in
between) is drawn by ``faults.random_run`` and replayed with a watcher on the key from revision
1. After the faults stop, every server's store must have gone through the same revisions
(``stores_agree`` among Raft's invariants), and the watch, resumed on another server each
time its server crashed, must have received exactly the key's history: every change, in
revision order, none twice.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

import zablib.etcd.mvcc as mvcc
import zablib.faults as faults
from zablib.etcd import cluster
from zablib.etcd.server import Command

KEY = b"/c"
SCHEDULES = replace(faults.RandomFaults(), sizes=(3, 5),
                    command=lambda i: Command(0, 0, mvcc.Put(KEY, b"%d" % i)))


def watched_run(seed: int):
    drawn, events = faults.random_run(cluster, seed, SCHEDULES)
    sim = cluster(len(drawn.node_ids), seed=seed)
    watch = sim.client(timeout=0.5).watch(KEY, start_revision=1)
    faults.play(sim, events, until=drawn.now)
    faults.quiesce(sim)
    sim.run_for(1500)
    return sim, watch


@pytest.mark.parametrize("seed", range(40))
def test_a_resuming_watch_receives_the_keys_history_exactly_once_whatever_the_faults(seed):
    sim, watch = watched_run(seed)
    sim.check()
    leader = sim.leader()
    assert leader is not None
    store = sim.nodes[leader].store
    history = [(rev, e.kv.value) for rev, events in store.history for e in events if e.kv.key == KEY]
    assert [(e.revision, e.kv.value) for e in watch.events] == history
    # Every server caught up to the same revision once the faults stopped.
    assert {sim.nodes[i].store.revision for i in sim.node_ids} == {store.revision}

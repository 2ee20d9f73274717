"""The campaigns' random schedules (zablib.faults): fixed by their seed, and they really inject
faults."""

from __future__ import annotations

from zablib import faults
from zablib.protocols import pingpong, zab


def test_a_schedule_replays_byte_for_byte() -> None:
    a = faults.faulty_run(zab.cluster, 11)
    b = faults.faulty_run(zab.cluster, 11)
    assert a.trace.describe() == b.trace.describe()
    assert faults.faulty_run(zab.cluster, 12).trace.describe() != a.trace.describe()


def test_schedules_inject_every_kind_of_fault() -> None:
    kinds = set()
    for seed in range(30):
        sim = faults.faulty_run(zab.cluster, seed)
        kinds |= {e.kind for e in sim.trace}
        kinds |= {e.text.split("=")[0] for e in sim.trace.of_kind("network")}
    assert {"crash", "recover", "partition", "heal", "loss", "duplicate"} <= kinds


def test_quiesce_stops_every_fault_and_zab_recovers() -> None:
    sim = faults.faulty_run(zab.cluster, 5)
    faults.quiesce(sim)
    assert sim.crashed == frozenset() and not sim.network.partitioned
    assert sim.network.default.loss == 0.0 and sim.network.default.duplicate == 0.0
    assert faults.recovers(sim, after_ms=1000.0, commit_ms=300.0)


def test_recovers_is_false_without_a_leader() -> None:
    sim = pingpong.cluster(3)
    sim.leader = lambda: None  # ping-pong has no leader: nothing can be committed
    assert faults.recovers(sim, after_ms=10.0, commit_ms=10.0) is False


def test_raft_schedules_replay_and_can_change_membership() -> None:
    a = faults.raft_faulty_run(3, membership=True)
    assert a.trace.describe() == faults.raft_faulty_run(3, membership=True).trace.describe()

    def kinds_of_rows(sim) -> set[str]:
        return {row.kind for i in sim.node_ids for row in sim.status(i).log}

    changed = [s for s in range(20)
               if "config" in kinds_of_rows(faults.raft_faulty_run(s, membership=True))]
    assert changed, "no schedule in 20 changed the membership"

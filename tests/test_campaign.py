"""The campaigns' random schedules (zablib.faults): fixed by their seed, and they really inject
faults."""

from __future__ import annotations

from zablib import faults
from zablib.network import LinkConfig
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


def test_zab_slow_link_schedules_replay_and_the_fast_ones_are_the_classic_campaigns() -> None:
    a = faults.zab_links_run(4)
    assert a.trace.describe() == faults.zab_links_run(4).trace.describe()
    classic = faults.faulty_run(zab.cluster, 3)
    assert faults.zab_links_run(3).trace.describe() == classic.trace.describe()


def test_zab_slow_link_schedules_run_on_their_links_with_their_tick() -> None:
    for seed in (1, 2):
        name, delay, knobs = faults.ZAB_LINKS[seed]
        sim = faults.zab_links_run(seed)
        assert sim.network.default.delay == delay and sim.network.default.fifo
        assert all(node.timers.tick_ms == knobs["tick_ms"] for node in sim.nodes.values())
        sent = {e.msg_id: e.time for e in sim.trace if e.kind == "send"}
        flights = [e.time - sent[e.msg_id] for e in sim.trace if e.kind == "deliver"]
        # FIFO holds a message behind a slower one sent before it: a little over the mean 40
        assert 38 < sum(flights) / len(flights) < 60, name


def test_zab_stuck_names_what_is_missing() -> None:
    """Five servers on heavy-tailed links with the 20 ms tick never establish a leader
    (tests/test_zab.py): zab_stuck says so; with a 60 ms tick it finds the run live."""
    heavy = LinkConfig(delay=faults.ZAB_LINKS[2][1])
    why = faults.zab_stuck(zab.cluster(5, seed=0, link=heavy), attempts=1)
    assert why is not None and why.startswith("no leader established within 1000 ms: ")
    assert faults.zab_stuck(zab.cluster(5, seed=0, link=heavy, tick_ms=60)) is None

"""Chapter 6's comparison, measured: 2PC and 3PC on one transaction (Gray 1978; Skeen 1981), then
all five protocols on one workload under one fault list, and ZooKeeper's reads."""

from __future__ import annotations

import functools

import pytest

from zablib import compare, faults
from zablib.invariants import InvariantViolation
from zablib.protocols import threepc, transactions, twopc
from zablib.sim import SimulationError


def test_message_cost_is_linear_three_and_five_per_participant() -> None:
    """2PC: Prepare, Vote, Decision per participant; 3PC: CanCommit, vote, PreCommit, Ack,
    DoCommit."""
    assert [compare.messages("2PC", n) for n in range(1, 6)] == [3 * n for n in range(1, 6)]
    assert [compare.messages("3PC", n) for n in range(1, 6)] == [5 * n for n in range(1, 6)]


def test_message_delays_until_everyone_decides() -> None:
    assert compare.delays_until_all_decide("2PC") == 3
    assert compare.delays_until_all_decide("3PC") == 5


@pytest.mark.parametrize(
    ("fault", "two", "three"),
    [
        ("coordinator crashes after the votes", "blocks: 1, 2, 3 and 4 wait", "decides abort"),
        ("decision reaches only 1; 0 and 1 crash", "blocks: 2, 3 and 4 wait", "decides commit"),
        ("participant 4 crashes before voting", "decides abort", "decides abort"),
        ("participant 4 crashes after voting yes", "decides commit", "decides commit"),
        ("partition {0, 1} | {2, 3, 4}", "blocks: 2, 3 and 4 wait",
         "splits: 0 and 1 commit, 2, 3 and 4 abort"),
    ],
)
def test_each_fault_blocks_decides_or_splits_as_the_theory_says(fault, two, three) -> None:
    """2PC blocks where the outcome is unknowable to the survivors; 3PC decides under crashes
    (its non-blocking property) but splits under a partition."""
    assert compare.verdict(compare.run("2PC", compare.FAULTS[fault])) == two
    assert compare.verdict(compare.run("3PC", compare.FAULTS[fault])) == three


def test_no_fault_commits() -> None:
    for protocol in compare.PROTOCOLS:
        assert compare.verdict(compare.run(protocol)) == "decides commit"


def test_unknown_protocol_is_named() -> None:
    with pytest.raises(ValueError, match="unknown protocol 'Paxos'"):
        compare.run("Paxos")
    with pytest.raises(ValueError, match="unknown protocol 'Zab'"):
        compare.cluster("Zab")
    with pytest.raises(ValueError, match="unknown fault 'the leader sneezes'"):
        compare.workload("Raft", "the leader sneezes")
    with pytest.raises(ValueError, match="2PC has no variant"):
        compare.cluster("2PC", variant="wrong")


def test_names_reads_like_english() -> None:
    assert compare.names([2]) == "2"
    assert compare.names([2, 3, 4]) == "2, 3 and 4"
    assert compare.names([]) == ""


# -- many transactions on the same nodes ---------------------------------------------------------

def three_pc(votes):
    return threepc.node_factory(votes, "correct", threepc.termination_rule)


@pytest.mark.parametrize("factory", [twopc.node_factory, three_pc], ids=["2PC", "3PC"])
def test_each_operation_is_a_transaction_of_its_own(factory) -> None:
    """Three operations, three instances of the protocol on the same five nodes: each costs what
    one transaction costs (12 messages in 2PC, 20 in 3PC) and every node commits all three."""
    sim = transactions.cluster(factory, 4, seed=3)
    for op in ("a", "b", "c"):
        assert sim.submit(op)
        sim.run_for(5.0)
    assert not sim.submit("a"), "a transaction is begun once"
    sim.run_for(500.0)
    per_txn = 12 if factory is twopc.node_factory else 20
    assert sim.trace.count("send") == 3 * per_txn
    assert all(sim.committed(i) == ["a", "b", "c"] for i in sim.node_ids)
    sim.check()


def test_a_crash_stops_every_transaction_on_the_node_and_recovery_restarts_each() -> None:
    """The 2PC coordinator crashes after the votes of "x": its participants block on "x" (and
    only on it); recovered, it presumes abort for "x", and the next transaction commits."""
    sim = transactions.cluster(twopc.node_factory, 4, seed=1)
    sim.submit("first")
    sim.run_for(100.0)
    sim.submit("x")
    sim.run_until(lambda s: all(s.prepared(i, "x") for i in s.participants))
    sim.crash(0)
    assert not sim.submit("y"), "no coordinator, no new transaction"
    sim.run_for(400.0)
    assert sim.blocked() == {"x": [1, 2, 3, 4]}
    sim.recover(0)
    sim.run_for(100.0)
    assert sim.blocked() == {}
    assert {sim.outcomes(i)["x"] for i in sim.node_ids} == {"abort"}
    assert sim.submit("z")
    sim.run_for(100.0)
    assert all(sim.committed(i) == ["first", "z"] for i in sim.node_ids)


def test_the_per_transaction_checkers_catch_a_split_decision() -> None:
    """Agreement is checked transaction by transaction: a hand-made split on "b" is caught and
    named, while "a" (decided alike everywhere) is fine."""
    sim = transactions.cluster(twopc.node_factory, 2, seed=0)
    sim.submit("a")
    sim.submit("b")
    sim.run_for(200.0)
    sim.check()
    key, (txn, items) = next((k, v) for k, v in sim.storage[2].items() if v[0] == "b")
    sim.storage[2][key] = (txn, tuple(sorted({**dict(items), "decision": "abort"}.items())))
    with pytest.raises(InvariantViolation, match=r"decided for 'b'"):
        sim.check()


def test_only_the_coordinator_begins_transactions() -> None:
    sim = transactions.cluster(twopc.node_factory, 2)
    with pytest.raises(ValueError, match="node 1 is a participant"):
        sim.request(1, "t")


# -- five protocols, one workload, one fault list --------------------------------------------------

@functools.cache
def verdict_of(protocol: str, fault: str, variant: str = "correct") -> compare.Verdict:
    return compare.judge(compare.workload(protocol, fault, variant=variant))


@pytest.mark.parametrize("protocol", ["Paxos", "ZAB", "Raft"])
def test_consensus_decides_with_a_minority_crashed_and_blocks_with_a_majority(protocol) -> None:
    minority = verdict_of(protocol, "a minority crashes")
    assert minority.during == "decides" and minority.committed > 90
    assert minority.first_ms < 30, "no election: the leader goes on at once"
    majority = verdict_of(protocol, "a majority crashes")
    assert majority.during == "blocks" and majority.committed == 0 and majority.waiting > 0
    for verdict in (minority, majority):
        assert verdict.split is None and verdict.recover_ms is not None


@pytest.mark.parametrize("protocol", ["Paxos", "ZAB", "Raft"])
def test_consensus_fails_over_when_the_leader_crashes_or_is_cut_off(protocol) -> None:
    """A new leader after an election (100-300 ms here), the operation in flight committed, and
    most of the second of fault spent deciding; the cut-off leader's operations are lost."""
    crash = verdict_of(protocol, "the leader crashes")
    assert crash.during == "decides" and 100 < crash.first_ms < 300
    assert crash.in_flight.get("commit", 0) >= 1 and "in doubt" not in crash.in_flight
    assert crash.completed > 70 and crash.lost == 0
    cut = verdict_of(protocol, "the leader is cut off with a minority")
    assert cut.during == "decides" and cut.split is None and cut.lost > 0


def test_2pc_blocks_when_its_coordinator_crashes_after_the_votes_and_3pc_does_not() -> None:
    two = verdict_of("2PC", "the leader crashes")
    assert two.during == "blocks" and two.in_flight == {"in doubt": two.in_flight["in doubt"]}
    assert two.completed == 0
    assert two.blocked == two.in_flight["in doubt"], "every participant waits on those"
    three = verdict_of("3PC", "the leader crashes")
    assert three.during == "blocks", "nobody begins new transactions without the coordinator"
    assert "in doubt" not in three.in_flight, "but the survivors terminate those in flight"
    assert three.blocked == 0
    assert two.recover_ms is not None and three.recover_ms is not None


def test_atomic_commit_aborts_everything_without_every_participant() -> None:
    for protocol in ("2PC", "3PC"):
        verdict = verdict_of(protocol, "a minority crashes")
        assert verdict.during == "decides abort" and verdict.committed == 0
        assert verdict.aborted > 90


def test_a_coordinator_that_never_returns_leaves_2pc_in_doubt_for_good() -> None:
    """A schedule of your own: the leader crash without its recovery."""
    crash_only = compare.SERVICE_FAULTS["the leader crashes"][:1]
    two = compare.judge(compare.workload("2PC", crash_only))
    assert not two.ended and two.after() == "the fault lasts to the end of the run"
    assert two.in_flight.get("in doubt") and two.blocked == two.in_flight["in doubt"]
    raft = compare.judge(compare.workload("Raft", crash_only))
    assert raft.during == "decides" and raft.recover_ms is None
    with pytest.raises(ValueError, match="crashes nodes or cuts the network"):
        compare.workload("Raft", [(600.0, "loss", (0.1,))])


def test_3pc_splits_when_the_coordinator_is_cut_off_and_2pc_does_not() -> None:
    assert verdict_of("3PC", "the leader is cut off with a minority").split
    assert verdict_of("3PC", "the leader is cut off with a minority").after() == "**stays split**"
    two = verdict_of("2PC", "the leader is cut off with a minority")
    assert two.split is None
    assert two.blocked > 0, "the far side's prepared participants wait for the coordinator"
    assert two.recover_ms is not None, "and learn the outcome once the network heals"


def test_a_broken_variant_changes_a_verdict() -> None:
    """Paxos whose new leader ignores the values reported in phase 1 proposes a no-op for the
    slot the crashed leader had already got chosen: the leader crash now splits."""
    assert verdict_of("Paxos", "the leader crashes").split is None
    broken = verdict_of("Paxos", "the leader crashes", "ignore-accepted")
    assert broken.split and "2 values chosen" in broken.split
    assert broken.cell() == "**splits**"


def test_the_leader_is_found_at_run_time_and_the_same_node_recovers() -> None:
    run = compare.workload("Raft", "the leader crashes")
    (leader,) = run.picked["the leader"]
    crashes = [(e.kind, e.node) for e in run.sim.trace.of_kind("crash", "recover")]
    assert crashes == [("crash", leader), ("recover", leader)]
    assert run.sim.leader() != leader, "another node leads by then"


def test_a_run_is_the_same_for_the_same_seed_and_differs_for_another() -> None:
    def text(seed):
        return compare.workload("ZAB", "the leader crashes", seed=seed).sim.trace.describe()
    assert text(0) == text(0)
    assert text(0) != text(1)


def test_the_measurements_are_the_same_for_the_same_seed() -> None:
    first, again = (compare.measure(seed=5, protocols=("3PC",)) for _ in range(2))
    assert (first.costs, first.latency, first.verdicts) == (again.costs, again.latency,
                                                           again.verdicts)


def test_normal_case_costs() -> None:
    """Messages one operation adds and message delays until the leader knows, on 1 ms links."""
    costs = {p: compare.normal_case(p) for p in compare.FIVE}
    assert {p: (c.messages, c.to_decide) for p, c in costs.items()} == {
        "2PC": (12, 2), "3PC": (20, 4), "Paxos": (12, 2), "ZAB": (12, 2), "Raft": (8, 2)}
    assert costs["ZAB"].to_all == 3.0
    assert costs["Raft"].to_all > 3.0, "Raft's followers learn the commit with the next heartbeat"


def test_the_table_has_every_cell() -> None:
    measured = compare.measure(protocols=("2PC", "Raft"))
    measured.costs.update({p: measured.costs["Raft"] for p in ("3PC", "Paxos", "ZAB")})
    measured.latency.update({p: measured.latency["Raft"] for p in ("3PC", "Paxos", "ZAB")})
    measured.verdicts.update({(p, f): measured.verdicts["Raft", f]
                              for p in ("3PC", "Paxos", "ZAB") for f in compare.SERVICE_FAULTS})
    rows = measured.rows()
    assert all(cell for cells in rows.values() for cell in cells.values())
    assert rows["operations completed while the leader is down"]["2PC"] == "0"
    assert measured.markdown().count("\n") == len(rows) + 1


def test_a_moment_that_never_comes_is_an_error() -> None:
    never = faults.Moment("never", lambda sim: False)
    with pytest.raises(SimulationError, match="moment never came by 2700 ms"):
        compare.workload("2PC", [(never, "crash", (faults.LEADER,))])


# -- ZooKeeper's reads -----------------------------------------------------------------------------

def test_zookeeper_reads_are_local_stale_on_a_lagging_follower_and_sync_fixes_them() -> None:
    stats = compare.zookeeper_reads()
    assert all(s.served_by == (s.server,) for s in stats), "every read is answered by its own server"
    slow_get = next(s for s in stats if s.role == "slow follower" and s.how == "get")
    assert slow_get.stale > 0 and slow_get.worst_age_ms > 10 and not slow_get.linearizable
    synced = [s for s in stats if s.how == "sync + get"]
    assert len(synced) == compare.NODES
    assert all(s.stale == 0 and s.linearizable and s.reads > 0 for s in synced)
    leader_get = next(s for s in stats if s.role == "leader" and s.how == "get")
    assert leader_get.stale == 0

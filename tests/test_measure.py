"""Measuring the simulated ZooKeeper (``zablib.coord.measure``): the shape of the ZooKeeper
paper's throughput figure (Hunt et al. 2010, Figure 5), the leader's messages per write, and
the observers' promise, each on the service with the kernel's resource model switched on; then
chapter 2's other runs: faults during a measurement, stale reads, and the cost of payload size.

Each run is small (about 0.1-0.4 s of CPU); ``benchmarks/bench_measure.py`` runs the big sweep.
"""

from __future__ import annotations

import math

import pytest

from zablib.coord.measure import (
    DEFAULT_COSTS,
    Throughput,
    catch_up_time,
    largest_value,
    leader_messages_per_write,
    percentile,
    stale_read,
    sweep,
    throughput,
    write_latency,
)
from zablib.network import Costs
from zablib.protocols.zab import DIFF_LIMIT


@pytest.fixture(scope="module")
def figure() -> dict[tuple[int, float], Throughput]:
    """The corners of Figure 5: 3 and 7 servers, all writes and all reads."""
    runs = sweep((3, 7), (0.0, 1.0))
    assert list(runs) == [(3, 0.0), (3, 1.0), (7, 0.0), (7, 1.0)]
    return runs


def test_reads_scale_out_with_the_servers(figure):
    # Every server answers reads from its own tree: 7 servers do more than twice 3's reads.
    assert figure[7, 1.0].ops_per_second > 2 * figure[3, 1.0].ops_per_second
    assert figure[7, 1.0].writes == 0 and figure[7, 1.0].reads > 1000


def test_writes_do_not_scale_more_servers_mean_more_work_for_the_leader(figure):
    # Every write passes through the one leader, which talks to every follower.
    assert figure[7, 0.0].ops_per_second <= figure[3, 0.0].ops_per_second
    assert figure[7, 0.0].ops_per_second < 0.6 * figure[3, 0.0].ops_per_second
    assert figure[3, 0.0].reads == 0 and figure[3, 0.0].writes > 100


def test_so_the_curves_cross(figure):
    assert figure[3, 0.0].ops_per_second > figure[7, 0.0].ops_per_second
    assert figure[3, 1.0].ops_per_second < figure[7, 1.0].ops_per_second


def test_under_writes_the_leader_is_the_one_server_always_busy(figure):
    for n in (3, 7):
        run = figure[n, 0.0]
        leader = run.busy[run.leader - 1]
        followers = [b for i, b in enumerate(run.busy, start=1) if i != run.leader]
        assert leader > 0.97
        assert max(followers) < (0.85 if n == 3 else 0.4)
    assert min(figure[3, 1.0].busy) > 0.97  # all reads: every server busy


def test_a_write_waits_for_a_quorum_and_a_read_does_not(figure):
    reads, writes = figure[3, 1.0], figure[3, 0.0]
    assert reads.p99_ms < writes.p50_ms
    for run in figure.values():
        assert 0 < run.p50_ms <= run.p90_ms <= run.p99_ms


def test_the_leader_saturates_at_its_handling_rate(figure):
    # With 3 servers the leader handles a forwarded request and 2 acknowledgements per write,
    # 0.1 ms each (plus 1 KB at 0.00001 ms/byte), so it cannot commit more than about 3,000/s.
    per_write = 3 * DEFAULT_COSTS.per_message_ms
    assert figure[3, 0.0].writes_per_second < 1000 / per_write
    assert figure[3, 0.0].writes_per_second > 0.8 * 1000 / (per_write + 0.03)


def test_a_measurement_is_a_function_of_its_parameters():
    assert throughput(3, 0.5, seed=4) == throughput(3, 0.5, seed=4)
    assert throughput(3, 0.5, seed=4) != throughput(3, 0.5, seed=5)


def test_a_mixed_load_lies_between_all_reads_and_all_writes(figure):
    mixed = throughput(3, 0.5)
    assert figure[3, 0.0].ops_per_second < mixed.ops_per_second < figure[3, 1.0].ops_per_second
    assert abs(mixed.reads - mixed.writes) < 0.2 * mixed.operations


def test_big_values_cost_more_than_small_ones():
    small = throughput(3, 0.0, value_size=10)
    big = throughput(3, 0.0, value_size=100_000)
    assert big.ops_per_second < 0.5 * small.ops_per_second
    assert big.p50_ms > 2 * small.p50_ms


def test_without_costs_nothing_saturates_and_the_curves_do_not_cross():
    free = Costs()  # no handling time, infinite bandwidth: what the simulator does by default
    three, seven = (throughput(n, 0.0, costs=free, duration_ms=10.0, warmup_ms=5.0) for n in (3, 7))
    # Only latency limits a closed loop then, and the latency hardly depends on the size.
    assert seven.ops_per_second > 0.8 * three.ops_per_second


@pytest.mark.parametrize("n", [1, 3, 5, 7])
def test_the_leader_sends_a_proposal_and_a_commit_to_each_follower(n):
    assert leader_messages_per_write(n) == 2 * (n - 1)


@pytest.mark.parametrize("n, k", [(3, 2), (5, 1), (1, 2)])
def test_an_observer_costs_the_leader_one_inform_per_write(n, k):
    assert leader_messages_per_write(n, observers=k) == 2 * (n - 1) + k


def test_observers_add_read_capacity_without_the_write_cost_of_more_voters():
    three = {r: throughput(3, r) for r in (0.0, 1.0)}
    observed = {r: throughput(3, r, observers=4) for r in (0.0, 1.0)}
    seven = throughput(7, 0.0)
    assert observed[1.0].ops_per_second > 1.8 * three[1.0].ops_per_second
    assert observed[0.0].ops_per_second > 1.3 * seven.ops_per_second  # writes: far cheaper than 7 voters
    assert observed[0.0].observers == 4


def test_percentiles_use_the_nearest_rank():
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0 and percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0 and percentile([7.0], 1) == 7.0
    assert math.isnan(percentile([], 50))


@pytest.mark.parametrize("kwargs, match", [
    ({"servers": 0}, "servers must be an int >= 1"),
    ({"read_ratio": 1.5}, "read_ratio must be a number from 0 to 1"),
    ({"read_ratio": "all"}, "read_ratio must be a number from 0 to 1"),
    ({"clients": 0}, "clients must be an int >= 1"),
    ({"value_size": -1}, "value_size must be an int >= 0"),
    ({"value_size": 1_048_576}, "more than a request may carry .* at most 1048519 bytes"),
    ({"observers": -1}, "observers must be an int >= 0"),
    ({"duration_ms": 0}, "duration_ms must be a finite number of ms > 0"),
    ({"warmup_ms": -5}, "warmup_ms must be a finite number of ms >= 0"),
])
def test_bad_parameters_are_refused_with_their_name(kwargs, match):
    args = {"servers": 3, "read_ratio": 0.5} | kwargs
    with pytest.raises(ValueError, match=match):
        throughput(args.pop("servers"), args.pop("read_ratio"), **args)


def test_costs_must_be_a_costs_object():
    with pytest.raises(TypeError, match="costs must be a zablib.network.Costs"):
        throughput(3, 0.5, costs={"per_message_ms": 1})


def test_a_lone_client_sees_write_latency_grow_with_the_value():
    latency = {v: throughput(3, 0.0, clients=1, value_size=v).p50_ms for v in (10, 100_000, 1_000_000)}
    assert latency[10] < 2.0 < 5 * latency[10] < latency[100_000] < latency[1_000_000] / 5


def test_a_load_the_ensemble_cannot_carry_is_refused_with_the_reason():
    with pytest.raises(RuntimeError, match="too heavy for the ensemble's timeouts"):
        throughput(3, 0.0, value_size=1_000_000)  # 24 clients writing a megabyte each


# -- a fault during the measurement --------------------------------------------------------------
def test_a_crashed_follower_takes_its_reads_with_it_and_lightens_the_leaders_writes(figure):
    crashed = {r: throughput(3, r, fault="crashed follower") for r in (0.0, 1.0)}
    # Two servers left to answer reads: about two thirds of three's.
    assert 0.55 < crashed[1.0].ops_per_second / figure[3, 1.0].ops_per_second < 0.75
    # One follower less to propose to and hear from: the leader commits more writes.
    assert crashed[0.0].ops_per_second > 1.2 * figure[3, 0.0].ops_per_second
    # The crashed one handles nothing; the one follower left now carries every client too.
    assert sorted(crashed[0.0].busy)[0] == 0.0 and max(crashed[0.0].busy) > 0.97
    assert crashed[0.0].fault == "crashed follower"


def test_a_slow_follower_is_not_waited_for_when_a_quorum_answers_without_it():
    slow = throughput(5, 0.0, fault="slow follower", slow_ms=20.0)
    # Its clients' writes take a 20 ms detour each way, the quorum of the others does not wait.
    assert slow.p99_ms > 40.0 and slow.p50_ms < 20.0
    assert slow.ops_per_second > 1_000


def test_faults_are_refused_by_name():
    with pytest.raises(ValueError, match="fault must be None or one of 'slow follower'"):
        throughput(3, 0.5, fault="slow leader")
    with pytest.raises(ValueError, match="needs a follower"):
        throughput(1, 0.5, fault="crashed follower")


# -- stale reads -----------------------------------------------------------------------------------
def test_a_plain_read_through_a_lagging_follower_returns_overwritten_values():
    from zablib.linearizability import KVModel, Operation, check

    run = stale_read(60.0)
    assert run.stale > run.reads // 3 and run.worst_behind >= 1
    # Overwritten by a write that had returned tens of ms before the read was even called.
    assert 20.0 < run.worst_age_ms < 60.0
    verdict = check([Operation(*c) for c in run.history], KVModel({"/x": b"0"}))
    assert not verdict.ok


def test_sync_then_read_is_never_stale_and_pays_the_lag():
    from zablib.linearizability import KVModel, Operation, check

    run = stale_read(60.0, read="sync_get")
    assert run.stale == 0 and run.worst_age_ms == 0.0
    assert run.p50_ms > 60.0  # the sync waits for the slow link's commits
    assert check([Operation(*c) for c in run.history], KVModel({"/x": b"0"})).ok


def test_staleness_grows_with_the_lag():
    ages = [stale_read(lag).worst_age_ms for lag in (0.0, 40.0, 80.0)]
    assert ages[0] == 0.0 < ages[1] < ages[2]


def test_a_follower_lagging_past_sync_limit_stops_serving():
    with pytest.raises(RuntimeError, match="outside syncLimit"):
        stale_read(100.0)
    with pytest.raises(ValueError, match="read must be 'get' or 'sync_get'"):
        stale_read(10.0, read="sync")


# -- payload size ----------------------------------------------------------------------------------
def test_write_latency_grows_with_the_bytes_carried():
    small, big = write_latency(1_000), write_latency(1_000_000)
    # A 1 MB value crosses two links and is handled three times at 0.00001 ms per byte.
    assert small < 2.0 and 40.0 < big < 100.0


def test_the_largest_value_is_what_a_real_zookeeper_accepted():
    from coord_tree_transcript import BIG_CREATE, BIG_SET

    assert largest_value("/big", "set") == BIG_SET
    assert largest_value("/big", "create") == BIG_CREATE
    with pytest.raises(ValueError, match="kind must be 'set' or 'create'"):
        largest_value("/big", "delete")


def test_one_byte_over_the_limit_costs_the_connection():
    from zablib.coord import Ensemble
    from zablib.coord.errors import ConnectionLoss

    zk = Ensemble(3, seed=0).client()
    zk.start()
    zk.create("/x", b"")
    zk.set("/x", b"v" * largest_value("/x"))
    with pytest.raises(ConnectionLoss):
        zk.set("/x", b"v" * (largest_value("/x") + 1))
    assert len(zk.get("/x")[0]) == largest_value("/x")  # the client reconnects; the value stands


def test_a_follower_that_missed_few_writes_gets_a_diff_whatever_the_tree():
    small, big = catch_up_time(0, 3), catch_up_time(4_000_000, 3)
    assert small.mode == big.mode == "diff"
    assert big.sync_bytes == small.sync_bytes < 1_000
    assert big.sync_ms < 2.0 and big.ms < 5.0


def test_one_that_missed_many_gets_a_snapshot_as_big_as_the_tree():
    runs = {size: catch_up_time(size, DIFF_LIMIT + 1) for size in (1_000_000, 4_000_000)}
    for size, run in runs.items():
        assert run.mode == "snap" and size < run.sync_bytes < 1.01 * size + 10_000
    # The bytes cross a 100,000-bytes/ms link and are handled at 0.00001 ms each: 20 ms per MB.
    assert 18.0 < runs[1_000_000].sync_ms < 23.0
    assert 3.8 < runs[4_000_000].sync_ms / runs[1_000_000].sync_ms < 4.2


def test_one_whose_disk_is_gone_gets_a_snapshot_too():
    run = catch_up_time(1_000_000, 0, wiped=True)
    assert run.mode == "snap" and run.sync_bytes > 1_000_000 and run.caught_up


def test_a_snapshot_slower_than_init_limit_never_lands():
    # initLimit is 10 ticks of 20 ms: a 10 MB snapshot needs about 200 ms, the leader gives up
    # on the follower first, again and again.
    run = catch_up_time(10_000_000, DIFF_LIMIT + 1, limit_ms=1_000.0)
    assert not run.caught_up and run.attempts > 2 and run.mode == ""


def test_every_follower_is_counted_even_one_that_synchronises_after_the_leader_is_established():
    # With 3 voters and 6 observers (seed 0) the leader is established with voter 1 while voter
    # 2 is still connecting; counting at once would miss voter 2's proposal and commit.
    assert leader_messages_per_write(3, observers=6) == 2 * 2 + 6

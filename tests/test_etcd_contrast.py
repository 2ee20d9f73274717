"""etcd against ZooKeeper, measured (``zablib.etcd.contrast``, chapter 2's contrast).

The same write sequence on both simulated services: a watcher that follows one key on etcd
receives every value, while ZooKeeper's one-time watch (kazoo's ``DataWatch``: re-read and
re-arm after each notification) skips the values written in between. And reads through a
lagging follower: serializable ones (ZooKeeper's default) return old values that the
linearizability checker rejects; linearizable ones (etcd's default) never do.
"""

from __future__ import annotations

import time

import pytest

from zablib.etcd.contrast import stale_reads, watch_skips


@pytest.mark.parametrize("seed", [0, 1])
def test_a_burst_of_writes_etcds_watch_sees_every_value_zookeepers_one_time_watch_skips_most(seed):
    started = time.perf_counter()
    result = watch_skips(20, seed)
    assert time.perf_counter() - started < 2.0  # cheap enough for a notebook cell
    etcd, zookeeper = result
    assert etcd == 0 and result.etcd_seen == result.written
    assert zookeeper >= 10  # measured: 18 of 20 for both seeds
    assert result.zookeeper_seen[-1] == result.written[-1]  # it converges, having skipped


def test_with_time_between_writes_zookeepers_watch_keeps_up_too():
    etcd, zookeeper = watch_skips(10, 0, gap_ms=20.0)
    assert (etcd, zookeeper) == (0, 0)


def test_reads_through_a_lagging_follower_serializable_stale_linearizable_never():
    result = stale_reads(8, seed=0)
    assert result.serializable_stale >= 4 and not result.serializable_linearizable
    assert result.linearizable_stale == 0 and result.linearizable_linearizable
    assert len(result.history) == 3 * 8


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError, match="writes >= 1"):
        watch_skips(0)
    with pytest.raises(ValueError, match="lag_ms >= 0"):
        stale_reads(3, lag_ms=-1)


def test_a_serializable_read_is_stale_only_until_the_follower_hears_of_the_commit():
    """A follower learns that an entry is committed with the leader's next message: read 1 ms
    after the acknowledgement it is stale even on fast links; 100 ms later it is not."""
    soon = stale_reads(5, seed=1, lag_ms=0.0, after_ms=1.0)
    late = stale_reads(5, seed=1, lag_ms=0.0, after_ms=100.0)
    assert soon.serializable_stale == 5 and not soon.serializable_linearizable
    assert late.serializable_stale == 0 and late.serializable_linearizable

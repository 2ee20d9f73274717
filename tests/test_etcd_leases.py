"""Leases on the etcd-like store: keys that go away when their owner stops renewing.

etcd's lessor, as ``zablib.etcd.server`` models it: that a lease exists, its TTL and its keys
are replicated; when it expires is the leader's clock alone. Keepalives go to the leader and
restart the TTL there; an expired lease is revoked by a log entry the leader proposes, so
every server deletes its keys at the same revision. A new leader, once it has applied the no-op
of its term, gives every lease its full TTL plus an election timeout from then
(``lessor.Promote``): a leader change extends leases, never shortens them.
"""

from __future__ import annotations

import pytest

import zablib.etcd.mvcc as mvcc
from zablib.etcd import cluster
from zablib.etcd.errors import LeaseNotFoundError, RequestTimeoutError
from zablib.etcd.server import LESSOR_MS, SECOND_MS


def started(seed: int = 0, **options):
    sim = cluster(3, seed=seed, **options)
    etcd = sim.client()
    etcd.put("/init", "x")
    sim.run_for(50)
    return sim, etcd


def test_keys_of_a_renewed_lease_stay_and_go_one_ttl_after_the_last_keepalive():
    sim, etcd = started()
    lease = etcd.lease_grant(1).id  # 1 s = 1000 simulated ms
    etcd.put("/workers/a", "up", lease=lease)
    etcd.put("/workers/b", "up", lease=lease)
    etcd.put("/workers/keep", "no lease")
    watch = etcd.watch("/workers/", prefix=True)
    for _ in range(6):  # 1.8 s of renewing: longer than the TTL
        sim.run_for(300)
        assert etcd.keepalive_once(lease).ttl == 1
    last = sim.now
    assert len(etcd.get("/workers/", prefix=True).kvs) == 3
    sim.run_for(900)
    assert len(etcd.get("/workers/", prefix=True).kvs) == 3  # not before its TTL
    sim.run_for(400)
    assert [kv.key for kv in etcd.get("/workers/", prefix=True).kvs] == [b"/workers/keep"]
    expired = sim.trace.values("lease-expired")
    assert expired == [lease]
    when = [e.time for e in sim.trace if e.kind == "note" and e.tag == "lease-expired"][0]
    assert last + SECOND_MS <= when <= last + SECOND_MS + LESSOR_MS + 1
    # Both keys went in one revision, through the log: the watch saw two deletes at once.
    deletes = [e for e in watch.events if e.type == mvcc.DELETE]
    assert [e.kv.key for e in deletes] == [b"/workers/a", b"/workers/b"]
    assert deletes[0].revision == deletes[1].revision
    with pytest.raises(LeaseNotFoundError, match="requested lease not found"):
        etcd.keepalive_once(lease)
    sim.check()


def test_a_lease_renewed_through_a_leader_change_survives_and_its_keys_stay():
    sim, etcd = started(seed=2)
    old = sim.leader()
    follower = next(i for i in sim.node_ids if i != old)
    # Keepalives go through a follower to the leader. Like clientv3's keepalive loop, the
    # owner sends one every 300 ms and does not wait long for an answer: a keepalive the
    # follower forwarded to the crashed leader is lost, and the next one goes to the new.
    owner = sim.client(follower, timeout=0.25)
    lease = owner.lease_grant(1).id
    owner.put("/lock", "owner", lease=lease)
    lost = 0
    for k in range(10):
        sim.run_for(300)
        if k == 3:
            sim.crash(old)
        try:
            owner.keepalive_once(lease)
        except RequestTimeoutError:
            lost += 1
    assert 1 <= lost <= 2
    assert sim.leader() not in (None, old)
    assert owner.value("/lock") == b"owner"
    assert sim.trace.values("lease-expired") == []


def test_a_lease_abandoned_across_a_leader_crash_expires_on_the_new_leaders_clock():
    """The owner stops renewing; the leader crashes before the lease expires. The new leader
    knows the lease (it is replicated) but not when it was last renewed: it gives it its full
    TTL plus an election timeout from the moment it is promoted, then revokes it."""
    sim, etcd = started(seed=5)
    old = sim.leader()
    lease = etcd.lease_grant(2).id
    etcd.put("/session/a", "1", lease=lease)
    etcd.keepalive_once(lease)
    abandoned = sim.now
    sim.run_for(500)
    sim.crash(old)

    def promotions(s):
        return [e for e in s.trace if e.kind == "note" and e.tag == "lease-promote" and e.node != old]
    sim.run_until(lambda s: bool(promotions(s)), what="a new leader's promoted lessor")
    promoted = promotions(sim)[-1]
    assert lease in promoted.value[1]
    new = sim.leader()
    sim.run_for(2 * SECOND_MS)  # past the abandoned lease's own TTL: still there
    assert abandoned + 2 * SECOND_MS < sim.now
    reader = sim.client(new)
    assert reader.value("/session/a") == b"1"
    sim.run_for(500)
    assert reader.value("/session/a") is None
    expired = [e for e in sim.trace if e.kind == "note" and e.tag == "lease-expired"]
    assert [e.node for e in expired] == [new]
    extend = sim.nodes[new].election_ms[0]
    assert expired[0].time >= promoted.time + extend + 2 * SECOND_MS
    sim.check()


def test_revoke_deletes_the_keys_at_once_and_a_key_put_again_without_the_lease_stays():
    sim, etcd = started()
    lease = etcd.lease_grant(10).id
    etcd.put("/a", "1", lease=lease)
    etcd.put("/b", "1", lease=lease)
    etcd.put("/b", "2")  # moved off the lease
    before = etcd.get("/a").revision
    assert etcd.lease_revoke(lease).revision == before + 1
    assert etcd.value("/a") is None and etcd.value("/b") == b"2"


def test_a_ttl_below_the_minimum_is_raised_to_it_as_etcd_does():
    """etcd's minimum TTL is 1.5 election timeouts, rounded up: with etcd's default timers
    (1000 ms election timeout) a lease asked for 1 s is granted 2 s."""
    sim = cluster(3, election_ms=(1000.0, 2000.0), heartbeat_ms=100.0)
    etcd = sim.client(timeout=5.0)
    assert etcd.lease_grant(1).ttl == 2
    assert etcd.lease_grant(5).ttl == 5


def test_bad_lease_input_is_refused_with_a_clear_error():
    sim, etcd = started()
    revision = etcd.get("/init").revision
    with pytest.raises(LeaseNotFoundError, match="requested lease not found"):
        etcd.put("/a", "1", lease=12345)
    assert etcd.get("/init").revision == revision  # the failed put made no revision
    with pytest.raises(LeaseNotFoundError):
        etcd.keepalive_once(12345)
    with pytest.raises(LeaseNotFoundError):
        etcd.lease_revoke(12345)
    with pytest.raises(ValueError, match="TTL is a whole number of seconds >= 1"):
        etcd.lease_grant(-5)
    with pytest.raises(ValueError, match="TTL"):
        etcd.lease_grant(0)
    with pytest.raises(ValueError, match="lease id is a positive int"):
        etcd.put("/a", "1", lease=-1)


def test_a_background_keepalive_holds_the_lease_through_a_leader_crash_until_its_owner_stops():
    """clientv3's ``KeepAlive``: a keepalive every third of the TTL, through a follower. The
    leader crashes; the new leader takes the lease over; when the owner stops renewing, its
    key goes one TTL after the last renewal the leader answered."""
    sim, etcd = started(seed=4)
    old = sim.leader()
    owner = sim.client(next(i for i in sim.node_ids if i != old), timeout=0.25)
    lease = owner.lease_grant(1).id
    owner.put("/leader-election/me", "owner", lease=lease)
    keeper = owner.keepalive(lease)
    sim.run_for(1000)
    sim.crash(old)
    sim.run_for(2500)
    assert owner.value("/leader-election/me") == b"owner"
    assert len(keeper.renewed) >= 8 and keeper.lost <= 2 and keeper.error is None
    gaps = [b - a for a, b in zip(keeper.renewed, keeper.renewed[1:], strict=False)]
    assert max(gaps) < SECOND_MS  # never a whole TTL without a renewal answered
    keeper.stop()
    last = keeper.renewed[-1]
    sim.run_until(lambda s: s.trace.values("lease-expired"), what="the lease's expiry")
    when = [e.time for e in sim.trace if e.kind == "note" and e.tag == "lease-expired"][0]
    assert last + SECOND_MS <= when <= last + SECOND_MS + LESSOR_MS + 1
    sim.run_for(100)
    assert owner.value("/leader-election/me") is None
    sim.check()

"""Cluster membership (``zablib.recipes.membership``), on the simulated ensemble and on a real
ZooKeeper, with the same assertions.

Members hold ephemeral znodes; a master's watcher turns each new list into joins and leaves. A
member that leaves is seen leaving; one that crashes is seen leaving when its session expires;
one whose session expired joins again; a restarted member waits for its old incarnation's
session to expire before it can take its name back.
"""

from __future__ import annotations

import pytest
from lost_answers import lose_answers
from recipe_backends import expiry_bound, listed_at_least, rejoin_bound

from zablib.recipes.base import errors_of
from zablib.recipes.membership import Membership, MembershipWatcher


def test_a_master_sees_joins_and_leaves_in_order(backend):
    group = backend.path("cluster/workers")
    master = MembershipWatcher(backend.client(), group)
    clients = {name: backend.client() for name in ("w1", "w2", "w3")}
    members = {name: Membership(zk, group) for name, zk in clients.items()}

    for name, member in members.items():
        assert member.join(name, b"10.0.0.9:7000") == f"{group}/{name}"
        backend.wait_until(lambda name=name: name in master.members, what=f"{name} seen joining")
    assert members["w1"].members() == ["w1", "w2", "w3"]

    members["w2"].leave()
    backend.wait_until(lambda: "w2" not in master.members, what="w2 seen leaving")
    backend.crash_client(clients["w3"])
    crashed = backend.now()
    backend.wait_until(lambda: "w3" not in master.members, timeout=expiry_bound(backend),
                       what="the crashed w3 seen leaving once its session expired")
    left = backend.now() - crashed
    print(f"{backend.name}: a crashed member was seen leaving {left:.2f} s after its crash")
    assert listed_at_least(backend) <= left <= expiry_bound(backend)

    assert master.changes == [("join", "w1"), ("join", "w2"), ("join", "w3"),
                              ("leave", "w2"), ("leave", "w3")]
    assert master.members == ["w1"] == members["w1"].members()


def test_a_member_whose_session_expired_joins_again(backend):
    group = backend.path("cluster/workers")
    master = MembershipWatcher(backend.client(), group)
    zk = backend.client()
    member = Membership(zk, group)
    member.join("w1")
    backend.wait_until(lambda: master.members == ["w1"], what="w1 seen joining")

    backend.expire_session(zk)  # returns once the member has heard LOST
    lost = backend.now()
    backend.wait_until(lambda: member.rejoins == 1, timeout=rejoin_bound(backend),
                       what="w1 joining again under its new session")
    print(f"{backend.name}: joined again {backend.now() - lost:.2f} s after hearing LOST")
    backend.wait_until(lambda: master.members == ["w1"], what="w1 listed again")
    # The master saw it go and come back, unless the two changes reached it as one list.
    assert master.changes in ([("join", "w1"), ("leave", "w1"), ("join", "w1")], [("join", "w1")])
    print(f"{backend.name}: master saw {master.changes}")


def test_a_restarted_member_waits_for_its_old_session_to_expire(backend):
    group = backend.path("cluster/workers")
    old, new = backend.client(), backend.client()
    Membership(old, group).join("w1")
    backend.crash_client(old)
    crashed = backend.now()

    err = errors_of(new)
    with pytest.raises(err.NodeExistsError):
        Membership(new, group).join("w1")  # the old incarnation's session still holds the name
    member = Membership(new, group)
    member.join("w1", wait=True)
    waited = backend.now() - crashed
    print(f"{backend.name}: the restarted member waited {waited:.2f} s for its name")
    assert listed_at_least(backend) <= waited <= expiry_bound(backend)
    assert member.members() == ["w1"]
    member.leave()
    assert member.members() == [] and member.member is None


def test_a_join_whose_answer_was_lost_succeeds(backend):
    """ConnectionLoss after the server applied the create: the retry finds the node existing,
    owned by this very session, so the join has succeeded (not "name taken")."""
    group = backend.path("cluster/workers")
    master = MembershipWatcher(backend.client(), group)  # makes the group's znode
    zk = lose_answers(backend.client(), backend.errors, create=1)
    member = Membership(zk, group)
    assert member.join("w1") == f"{group}/w1"
    assert zk.losing == {"create": 0} and member.members() == ["w1"]
    backend.wait_until(lambda: master.members == ["w1"], what="w1 seen joining")
    assert master.changes == [("join", "w1")]


def test_a_members_name_is_a_znode_name(backend):
    member = Membership(backend.client(), backend.path("cluster"))
    for bad in ("", "a/b", ".."):
        with pytest.raises(ValueError):
            member.join(bad)
    with pytest.raises(TypeError, match="str"):
        member.join(7)
    member.join("w1")
    with pytest.raises(ValueError, match="already a member as 'w1'"):
        member.join("w2")

"""The coordination service's safety properties, checked over a run (``ens.sim.check()``).

ZAB's own properties (integrity, total order, primary order, one leader per epoch, durable
prefix order) say that servers deliver the same txns in the same order. The service adds what a
*client* relies on:

``replicas agree``
    Two servers that have applied txns up to the same zxid hold equal trees (and every server's
    tree is sound: parents, children counts, data lengths).
``no ephemeral of a closed session``
    No server's tree holds an ephemeral znode whose session is closed.
``responses in order``
    Each client receives its responses in the order it sent its requests (ZooKeeper's FIFO
    client order).
``acknowledged writes are durable``
    A write whose success a client was told is, at its zxid, in the committed history of every
    server that has applied that far: no leader change loses it.

Each function takes the simulation and raises :class:`~zablib.invariants.InvariantViolation`.
"""

from __future__ import annotations

from typing import Any, Protocol

import zablib.protocols.zab as zab
from zablib.coord.server import zxid64
from zablib.coord.tree import ZnodeStat, violations
from zablib.invariants import InvariantViolation, check_prefix_order


class ServiceRun(Protocol):
    """What the checks read of a simulation (``zablib.coord.ensemble.CoordSimulation``)."""

    servers: tuple[int, ...]
    clients: tuple[int, ...]
    nodes: dict[int, Any]

    def committed(self, node: int) -> list[Any]: ...


def _first_difference(a: Any, b: Any) -> str:
    nodes_a, sessions_a = a.state()
    nodes_b, sessions_b = b.state()
    mine = {p: (d, ZnodeStat(*s)) for p, d, s in nodes_a}
    theirs = {p: (d, ZnodeStat(*s)) for p, d, s in nodes_b}
    for path in sorted(set(mine) | set(theirs)):
        if mine.get(path) != theirs.get(path):
            return f"znode {path}: {mine.get(path)!r} vs {theirs.get(path)!r}"
    return f"sessions {sessions_a!r} vs {sessions_b!r}"


def replicas_agree(sim: ServiceRun) -> None:
    """Servers at the same applied zxid hold equal trees; every tree is sound."""
    seen: dict[int, int] = {}
    for i in sim.servers:
        server = sim.nodes[i]
        problems = violations(server.tree)
        if problems:
            raise InvariantViolation("replicas agree", f"server {i}'s tree is unsound: {problems[0]}")
        other = seen.setdefault(server.applied_zxid, i)
        if other != i and sim.nodes[other].tree != server.tree:
            raise InvariantViolation(
                "replicas agree",
                f"servers {other} and {i} both applied up to zxid {server.applied_zxid:#x} but "
                f"their trees differ at {_first_difference(sim.nodes[other].tree, server.tree)}")


def no_ephemeral_of_closed_session(sim: ServiceRun) -> None:
    """No tree holds an ephemeral znode of a session that is not open."""
    for i in sim.servers:
        tree = sim.nodes[i].tree
        open_sessions = tree.sessions()
        for path in tree.paths():
            owner = tree.exists(path).ephemeralOwner
            if owner and owner not in open_sessions:
                raise InvariantViolation(
                    "no ephemeral of a closed session",
                    f"server {i} holds ephemeral {path} of session {owner:#x}, which is closed")


def responses_in_order(sim: ServiceRun) -> None:
    """Every client got its responses in request order."""
    for c in sim.clients:
        late = sim.nodes[c].out_of_order
        if late:
            session, conn, expected, got = late[0]
            raise InvariantViolation(
                "responses in order",
                f"client {c} (session {session:#x}, connection {conn}) got the response to "
                f"request {got} while request {expected} was still unanswered")


def acknowledged_writes_durable(sim: ServiceRun) -> None:
    """Each acknowledged write is in the history of every server that applied up to it."""
    histories = {}
    for i in sim.servers:
        server = sim.nodes[i]
        histories[i] = {zxid64(z): entry for z, entry in server.zab.history}
    for c in sim.clients:
        for zxid, session, xid in sim.nodes[c].acked:
            for i in sim.servers:
                if sim.nodes[i].applied_zxid < zxid:
                    continue
                entry = histories[i].get(zxid)
                if entry is None or entry.session_id != session or entry.cxid != xid:
                    raise InvariantViolation(
                        "acknowledged writes are durable",
                        f"client {c} was told its request {xid} succeeded as zxid {zxid:#x}, "
                        f"but server {i} applied {entry!r} there")


def servers_prefix_order(sim: ServiceRun) -> None:
    """ZAB's durable prefix order, over the servers only (clients deliver nothing)."""
    check_prefix_order({i: sim.committed(i) for i in sim.servers}, what="has delivered")


#: Every check of a service run, ZAB's first.
INVARIANTS = (zab.zab_properties, zab.one_leader_per_epoch, servers_prefix_order,
              replicas_agree, no_ephemeral_of_closed_session, responses_in_order,
              acknowledged_writes_durable)

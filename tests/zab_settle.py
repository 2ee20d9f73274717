"""Waiting for a ZAB ensemble to settle, shared by the ZAB test files."""

from __future__ import annotations


def settle(sim, limit: float = 3000.0) -> int:
    """Run until a leader is established and every live server follows (or, an observer,
    observes) it in sync; return the leader."""
    start = sim.now
    while sim.now - start < limit:
        sim.run_for(20)
        leader = sim.leader()
        if leader is None:
            continue
        live = [i for i in sim.node_ids if sim.is_up(i) and i != leader]
        if all(sim.nodes[i].role in ("following", "observer") and sim.nodes[i].leader_id == leader
               and sim.nodes[i].phase == "synced" for i in live):
            sim.run_for(20)
            return leader
    raise AssertionError(f"no settled leader within {limit} ms: "
                         f"{[sim.nodes[i].status() for i in sim.node_ids if sim.is_up(i)]}")

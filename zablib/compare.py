"""Protocols compared on one workload under the same faults (chapter 6).

The workload is one transaction: a coordinator (node 0) and ``PARTICIPANTS`` participants that all
vote yes. The faults are :func:`zablib.faults.commit_faults`: each is a short schedule that waits
for a moment defined by what the nodes have written to stable storage (every vote cast, the
coordinator's decision ...) and then crashes nodes or cuts the network. :func:`run` plays one on a
fresh simulation and lets the protocol go on for ``AFTER_MS`` simulated milliseconds, and
:func:`verdict` says in a few words what it did: it *decides*, *blocks* or *splits*.

Everything here is measured by running the real protocols; nothing is copied from a paper.
"""

from __future__ import annotations

from collections.abc import Iterable
from types import ModuleType

import zablib.faults as faults
import zablib.protocols.threepc as threepc
import zablib.protocols.twopc as twopc
from zablib.invariants import InvariantViolation
from zablib.network import LinkConfig, constant
from zablib.protocols.commit import CommitSimulation

PROTOCOLS: dict[str, ModuleType] = {"2PC": twopc, "3PC": threepc}
PARTICIPANTS = 4
SEED = 0
AFTER_MS = 20 * twopc.TIMEOUT_MS  # how long a run goes on after its fault

#: The faults of the comparison table (schedules of :class:`~zablib.faults.FaultEvent`), by the
#: name its columns use.
FAULTS: dict[str, tuple[faults.FaultEvent, ...]] = faults.commit_faults(PARTICIPANTS)


def run(protocol: str, fault: Iterable[tuple] = (), seed: int = SEED) -> CommitSimulation:
    """A fresh cluster of ``protocol`` ("2PC" or "3PC"), the fault (a schedule, e.g. one of
    :data:`FAULTS`; none by default) played on it, then ``AFTER_MS`` more."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; choose from {sorted(PROTOCOLS)}")
    sim = PROTOCOLS[protocol].cluster(PARTICIPANTS, seed=seed)
    faults.play(sim, fault)
    sim.run_for(AFTER_MS)
    return sim


def names(nodes: Iterable[int]) -> str:
    """``[2, 3, 4]`` as "2, 3 and 4"."""
    items = [str(i) for i in nodes]
    return ", ".join(items[:-1]) + " and " + items[-1] if len(items) > 1 else "".join(items)


def verdict(sim: CommitSimulation) -> str:
    """What a run did, in a few words: it splits, blocks or decides."""
    outcome = sim.outcome()
    try:
        sim.check()
    except InvariantViolation:
        side = {d: names(i for i in outcome if outcome[i] == d) for d in ("commit", "abort")}
        return f"splits: {side['commit']} commit, {side['abort']} abort"
    live = [i for i in sim.participants if sim.is_up(i)]
    waiting = [i for i in live if outcome[i] is None]
    if waiting:
        how = "blocks" if set(waiting) <= set(sim.blocked()) else "undecided"
        return f"{how}: {names(waiting)} wait"
    return "decides " + " / ".join(sorted({outcome[i] for i in live}))


def messages(protocol: str, participants: int, seed: int = SEED) -> int:
    """Messages sent by a failure-free run in which everyone votes yes."""
    sim = PROTOCOLS[protocol].cluster(participants, seed=seed)
    sim.run()
    if set(sim.outcome().values()) != {"commit"}:
        raise AssertionError(f"{protocol} did not commit a failure-free all-yes run")
    return sim.trace.count("send")


def delays_until_all_decide(protocol: str, participants: int = PARTICIPANTS) -> int:
    """Message delays until every participant has decided, with every link taking 1 ms."""
    sim = PROTOCOLS[protocol].cluster(participants, seed=SEED,
                                      link=LinkConfig(delay=constant(1.0)))
    sim.run()
    return int(max(e.time for e in sim.trace if e.tag == "decision" and e.node != 0))

"""Protocols compared on one workload under the same faults (chapter 6).

The workload is one transaction: a coordinator (node 0) and ``PARTICIPANTS`` participants that all
vote yes. Each *fault* is a function that drives a fresh simulation to a moment defined by what
the nodes have written to stable storage (every vote cast, the coordinator's decision ...) and
then crashes nodes or cuts the network. :func:`run` then lets the protocol go on for
``AFTER_MS`` simulated milliseconds, and :func:`verdict` says in a few words what it did: it
*decides*, *blocks* or *splits*.

Everything here is measured by running the real protocols; nothing is copied from a paper.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from types import ModuleType

from zablib.invariants import InvariantViolation
from zablib.network import LinkConfig, constant
from zablib.protocols import threepc, twopc
from zablib.protocols.twopc import CommitSimulation

PROTOCOLS: dict[str, ModuleType] = {"2PC": twopc, "3PC": threepc}
PARTICIPANTS = 4
SEED = 0
LAST = PARTICIPANTS  # the participant that crashes
LEFT, RIGHT = frozenset({0, 1}), frozenset(range(2, PARTICIPANTS + 1))  # sides of the partition
AFTER_MS = 20 * twopc.TIMEOUT_MS  # how long a run goes on after its fault

Fault = Callable[[CommitSimulation], None]


def every_vote_cast(sim: CommitSimulation) -> bool:
    """Every participant has written a yes vote."""
    return all(sim.storage[i].get("vote") == "yes" for i in sim.participants)


def heard_from_coordinator(sim: CommitSimulation, node: int) -> int:
    """How many messages from the coordinator ``node`` has received."""
    return sum(1 for e in sim.trace if e.kind == "deliver" and e.node == node and e.peer == 0)


def no_fault(sim: CommitSimulation) -> None:
    """Nothing goes wrong."""


def coordinator_crashes_after_votes(sim: CommitSimulation) -> None:
    """The coordinator crashes once every vote is cast, before the last vote reaches it."""
    sim.run_until(every_vote_cast, what="every vote cast")
    sim.crash(0)


def decision_reaches_only_1(sim: CommitSimulation) -> None:
    """The source note's pattern: the decision reaches participant 1 only, then the coordinator
    and participant 1 crash (the copies for the others are lost to a partition, which stays:
    it only separates the survivors from two crashed nodes)."""
    sim.run_until(lambda s: "decision" in s.storage[0], what="the coordinator deciding")
    sim.partition(LEFT, RIGHT)
    sim.run_until(lambda s: "decision" in s.storage[1], what="1 learning the decision")
    sim.crash(0)
    sim.crash(1)


def participant_crashes_before_voting(sim: CommitSimulation) -> None:
    """The last participant crashes at once, before it votes."""
    sim.crash(LAST)


def participant_crashes_after_voting(sim: CommitSimulation) -> None:
    """The last participant crashes right after it votes yes."""
    sim.run_until(lambda s: s.storage[LAST].get("vote") == "yes", what="it voting yes")
    sim.crash(LAST)


def partition_in_phase_two(sim: CommitSimulation) -> None:
    """``LEFT | RIGHT`` while the coordinator's second message is on its way to ``RIGHT``."""
    sim.run_until(every_vote_cast, what="every vote cast")
    normal = sim.network.default.delay
    for q in sorted(RIGHT):
        sim.configure_links(0, q, delay=constant(twopc.TIMEOUT_MS))
    sim.run_until(lambda s: heard_from_coordinator(s, 1) == 2, what="1 hearing phase two")
    sim.partition(LEFT, RIGHT)
    for q in sorted(RIGHT):
        sim.configure_links(0, q, delay=normal)


#: The faults of the comparison table, by the name its columns use.
FAULTS: dict[str, Fault] = {
    "coordinator crashes after the votes": coordinator_crashes_after_votes,
    "decision reaches only 1; 0 and 1 crash": decision_reaches_only_1,
    "participant 4 crashes before voting": participant_crashes_before_voting,
    "participant 4 crashes after voting yes": participant_crashes_after_voting,
    "partition {0, 1} | {2, 3, 4}": partition_in_phase_two,
}


def run(protocol: str, fault: Fault, seed: int = SEED) -> CommitSimulation:
    """A fresh cluster of ``protocol`` ("2PC" or "3PC"), the fault, then ``AFTER_MS`` more."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; choose from {sorted(PROTOCOLS)}")
    sim = PROTOCOLS[protocol].cluster(PARTICIPANTS, seed=seed)
    fault(sim)
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
    return sum(1 for e in sim.trace if e.kind == "send")


def delays_until_all_decide(protocol: str, participants: int = PARTICIPANTS) -> int:
    """Message delays until every participant has decided, with every link taking 1 ms."""
    sim = PROTOCOLS[protocol].cluster(participants, seed=SEED,
                                      link=LinkConfig(delay=constant(1.0)))
    sim.run()
    return int(max(e.time for e in sim.trace if e.tag == "decision" and e.node != 0))

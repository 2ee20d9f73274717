"""Seeded random fault campaigns: the same schedules for the test suite and the benchmarks.

A *schedule* is fixed by its seed: a cluster size, then a few rounds, each a random fault
(crash a live node, recover a crashed one, split the nodes in two, heal, change message loss or
duplication, or nothing) followed by a few client submissions and a random pause. Afterwards
:func:`quiesce` stops every fault and :func:`recovers` asks the liveness question: is there a
leader again, and does a new command reach every node?

Every random choice is drawn from one :class:`random.Random` seeded with the schedule's seed, in
a fixed order, so a schedule replays identically and a failing seed can be studied alone.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

from zablib.sim import Simulation

Factory = Callable[..., Simulation]


def random_faults(
    sim: Simulation,
    rng: random.Random,
    *,
    rounds: tuple[int, int] = (3, 8),
    losses: Sequence[float] = (0.0, 0.05, 0.2),
    duplications: Sequence[float] = (0.0, 0.1, 0.3),
    writes: tuple[int, int] = (0, 3),
    pause_ms: tuple[float, float] = (5.0, 150.0),
    prefix: str = "t",
) -> int:
    """Apply ``rounds`` of random faults and client writes to ``sim``; return how many writes.

    Each round: with probability 0.25 crash a live node, 0.20 recover a crashed one, 0.15
    partition the nodes into two random non-empty groups, 0.10 heal, 0.10 set the loss, 0.10
    set the duplication, else nothing; then ``writes`` submissions (``sim.submit``) of
    ``prefix1``, ``prefix2`` ...; then a pause of ``pause_ms`` of simulated time.
    """
    written = 0
    n = len(sim.node_ids)
    for _ in range(rng.randint(*rounds)):
        fault = rng.random()
        ids = list(sim.node_ids)
        up = [i for i in ids if sim.is_up(i)]
        if fault < 0.25:
            if up:
                sim.crash(rng.choice(up))
        elif fault < 0.45:
            if sim.crashed:
                sim.recover(rng.choice(sorted(sim.crashed)))
        elif fault < 0.6:
            rng.shuffle(ids)
            cut = rng.randint(1, n - 1)
            sim.partition(set(ids[:cut]), set(ids[cut:]))
        elif fault < 0.7:
            sim.heal()
        elif fault < 0.8:
            sim.set_loss(rng.choice(list(losses)))
        elif fault < 0.9:
            sim.set_duplication(rng.choice(list(duplications)))
        for _ in range(rng.randint(*writes)):
            written += 1
            sim.submit(f"{prefix}{written}")
        sim.run_for(rng.uniform(*pause_ms))
    return written


def faulty_run(
    factory: Factory,
    seed: int,
    *,
    sizes: Sequence[int] = (3, 4, 5),
    warmup_ms: float = 200.0,
    **options: Any,
) -> Simulation:
    """Schedule ``seed``: a cluster of a random size, a random warm-up, :func:`random_faults`,
    then ``sim.check()`` (which raises :class:`~zablib.invariants.InvariantViolation`)."""
    rng = random.Random(seed)
    n = rng.choice(list(sizes))
    sim = factory(n, seed=seed, **options)
    sim.run(until=rng.uniform(0, warmup_ms))
    random_faults(sim, rng)
    sim.check()
    return sim


def quiesce(sim: Simulation) -> None:
    """Stop every fault: heal the network, no loss or duplication, recover every crashed node."""
    sim.heal()
    sim.set_loss(0.0)
    sim.set_duplication(0.0)
    for i in sorted(sim.crashed):
        sim.recover(i)


def recovers(sim: Simulation, *, after_ms: float, commit_ms: float, command: Any = "after") -> bool:
    """Liveness once faults have stopped: after ``after_ms`` there is a leader that accepts
    ``command``, and within ``commit_ms`` more every node has it. Runs ``sim.check()`` too."""
    sim.run_for(after_ms)
    if sim.leader() is None or not sim.submit(command):
        return False
    sim.run_for(commit_ms)
    sim.check()
    return all(command in sim.committed(i) for i in sim.node_ids)


def raft_faulty_run(
    seed: int,
    *,
    steps: int = 12,
    membership: bool = False,
    vary_loss_midway: bool = False,
    **options: Any,
) -> Simulation:
    """Raft's schedule ``seed`` (the tests' and the benchmark's): faults, no ``check()`` yet.

    A 3- or 5-server :func:`zablib.protocols.raft.cluster` with reordering links, 50-100 ms
    election timeouts and 15 ms heartbeats (``options`` are passed on, e.g. ``variant``); a
    random loss (0, 5 or 20 %) and duplication (0 or 10 %); then ``steps`` rounds of a fault
    (crash, recover, partition, heal, with ``membership`` also a single-server change, or none),
    one client command and 10-80 ms. With ``vary_loss_midway`` the loss and duplication change
    half-way through.
    """
    from zablib.protocols import raft  # campaign is protocol-agnostic but for this schedule

    rng = random.Random(seed)
    n = rng.choice((3, 3, 5))
    options = {"election_ms": (50.0, 100.0), "heartbeat_ms": 15.0, **options}
    sim = raft.cluster(n, seed=seed, spares=2 if membership else 0, **options)
    ids = list(sim.node_ids)
    sim.set_loss(rng.choice((0.0, 0.05, 0.2)))
    sim.set_duplication(rng.choice((0.0, 0.1)))
    for k in range(steps):
        r = rng.random()
        if r < 0.2 and len(sim.crashed) < len(ids):
            sim.crash(rng.choice([i for i in ids if sim.is_up(i)]))
        elif r < 0.4 and sim.crashed:
            sim.recover(rng.choice(sorted(sim.crashed)))
        elif r < 0.55:
            rng.shuffle(ids)
            cut = rng.randint(1, len(ids) - 1)
            sim.partition(ids[:cut], ids[cut:])
        elif r < 0.65:
            sim.heal()
        elif r < 0.8 and membership:
            members = sim.configuration()
            outside = [i for i in sim.node_ids if i not in members]
            if outside and (len(members) < 4 or rng.random() < 0.5):
                sim.add_server(rng.choice(outside))
            elif len(members) > 2:
                sim.remove_server(rng.choice(members))
        if vary_loss_midway and k == steps // 2:
            sim.set_loss(rng.choice((0.0, 0.05, 0.2)))
            sim.set_duplication(rng.choice((0.0, 0.1, 0.3)))
        sim.submit(("c", k))
        sim.run_for(rng.uniform(10, 80))
    return sim

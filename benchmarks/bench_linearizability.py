"""Linearizability checker speed on histories recorded from the simulated ZooKeeper under faults.

**Recording** (timed apart, not part of the figure): ``zablib.coord.Ensemble(3, seed=SEED)``;
``clients`` kazoo-style clients (greenlets), each wrapped in a
:class:`zablib.recipes.recording.RecordingClient` sharing one ``History`` on the simulated
clock, run :func:`zablib.recipes.recording.random_workload`: sets and ``sync`` then ``get``
reads, half and half, on the three keys ``KEYS``, until the history holds ``n_ops`` operations.
Meanwhile a fault program crashes the current leader or partitions it away from the others,
every ``FAULT_GAP_S`` seconds, for ``FAULT_LENGTH_S`` seconds each: clients connected to it see
``ConnectionLoss``, so some writes end with an unknown outcome (the service is correct, so each
took effect or not), and some reads fail and are dropped.

**Checking** (the figure): :func:`zablib.linearizability.check` on the recorded history, ``REPEATS``
times; the median CPU time (``time.process_time``) is reported. **Baseline**, in the same run:
replaying the linearization the check found through the model (one ``KVModel.step`` per
operation, the least any check must do), median of ``REPEATS``; the ratio check/replay is the
price of the search in model steps and does not depend on the machine.

Printed: how recording took, and how checking scales with the clients (3, 5, 8) and the
operations (250 to 2,000); then the price of a "no" (one read of the 1,000-operation history
forged to answer a value overwritten before it began: time to the verdict, the blamed operation,
and the ``minimal()`` shrink; then the same verdict when the search must also place every
unknown write, even those whose value nobody read, bounded by ``NO_PRUNING_BOUND_S``); last
the line ``linearizability check, 1000 ops: X.XX s`` (5 clients; target: at most 5 s on one
core).

Run it with ``python benchmarks/bench_linearizability.py [repeats]``.
"""

from __future__ import annotations

import dataclasses
import random
import statistics
import sys
from collections.abc import Sequence

from baseline import cpu

from zablib.coord import Ensemble
from zablib.linearizability import History, KVModel, Operation, check
from zablib.recipes.recording import RecordingClient, forge_stale_read, random_workload

SEED, REPEATS = 1, 5
KEYS = ("/a", "/b", "/c")
MIX = {"get": 1, "set": 1}
FAULT_GAP_S, FAULT_LENGTH_S = (0.2, 0.6), (0.1, 0.3)
NO_PRUNING_BOUND_S = 10.0


@dataclasses.dataclass
class Recording:
    """A recorded history and what it took to make it."""

    ops: list[Operation]
    model: KVModel
    cpu_s: float
    simulated_s: float
    faults: int

    @property
    def unknown(self) -> int:
        return sum(op.unknown for op in self.ops)


def record(n_ops: int, clients: int, seed: int = SEED) -> Recording:
    """Record ``n_ops`` operations of ``clients`` clients through leader crashes and partitions."""
    rng = random.Random(seed)
    ens = Ensemble(3, seed=seed, max_clients=clients + 1)
    setup = ens.client()
    setup.start()
    for key in KEYS:
        setup.create(key, b"0")
    setup.stop()
    history = History(clock=lambda: ens.now)
    recorders = [RecordingClient(ens.client(timeout=0.2), history, f"c{k}") for k in range(clients)]
    for zk in recorders:
        zk.start()
    tasks = [ens.spawn(random_workload, zk, KEYS, n_ops // clients + (k < n_ops % clients),
                       seed=seed * 1000 + k, mix=MIX, name=f"c{k}")
             for k, zk in enumerate(recorders)]
    faults = []

    def crash_or_partition_the_leader() -> None:
        sleep = recorders[0].handler.sleep_func
        while not all(task.done for task in tasks):
            sleep(rng.uniform(*FAULT_GAP_S))
            leader = ens.leader()
            if leader is None:
                continue
            if rng.random() < 0.5:
                ens.crash(leader)
                sleep(rng.uniform(*FAULT_LENGTH_S))
                ens.recover(leader)
            else:
                ens.partition({leader}, set(ens.servers) - {leader})
                sleep(rng.uniform(*FAULT_LENGTH_S))
                ens.heal()
            faults.append(leader)

    ens.spawn(crash_or_partition_the_leader, name="faults")
    _, seconds = cpu(ens.run, None)
    ops = history.operations()
    assert len(ops) == n_ops, (len(ops), n_ops)
    return Recording(ops, KVModel({key: b"0" for key in KEYS}), seconds, ens.now / 1000, len(faults))


def replay(order: list[Operation], model: KVModel) -> None:
    """The baseline: run the model through a known linearization (one step per operation)."""
    state = model.init()
    for op in order:
        accepted, state = model.step(state, op.input, op.output)
        assert accepted


def measure(rec: Recording, repeats: int) -> tuple[float, float]:
    """Median CPU seconds of ``check`` and of the baseline replay, ``repeats`` times each."""
    checks, replays = [], []
    for _ in range(repeats):
        result, seconds = cpu(check, rec.ops, rec.model, 120)
        assert result.ok is True, result.describe()
        checks.append(seconds)
        replays.append(cpu(replay, result.linearization, rec.model)[1])
    return statistics.median(checks), statistics.median(replays)


class EveryUnknownSearched(KVModel):
    """``KVModel`` without :meth:`~KVModel.unobservable`: every unknown write is searched."""

    def unobservable(self, ops: Sequence[Operation]) -> set[int]:
        return set()


def price_of_a_no(rec: Recording) -> None:
    """Time the verdict on ``rec`` with one read forged stale, its blame and its shrink; and the
    same verdict when the search must also place the unknown writes nobody read."""
    ops = forge_stale_read(rec.ops, after=0.9)
    result, found = cpu(check, ops, rec.model, 120)
    assert result.ok is False
    blamed, blaming = cpu(result.blame, 120)
    minimal, shrinking = cpu(result.minimal, 120)
    print(f"  one forged stale read in {len(rec.ops)} ops: 'no' in {found:.3f} s (fragment "
          f"{len(result.fragment)} ops); blamed in {blaming:.3f} s: "
          f"{result.model.describe_operation(blamed[0].input, blamed[0].output)}; "
          f"minimal() {len(minimal)} ops in {shrinking:.2f} s")
    slow, seconds = cpu(check, ops, EveryUnknownSearched(rec.model.initial), NO_PRUNING_BOUND_S)
    verdict = {False: "'no'", True: "'yes' (wrong!)"}.get(slow.ok, "no answer")
    print(f"  the same, every unknown write searched ({rec.unknown} unknown): {verdict} after "
          f"{seconds:.2f} s CPU (bound: {NO_PRUNING_BOUND_S:g} s of wall clock)")


def main(repeats: int = REPEATS) -> None:
    print(f"recorded on Ensemble(3, seed={SEED}): {len(KEYS)} keys, sets and sync+gets (1:1); the "
          f"leader crashed or partitioned away every {FAULT_GAP_S[0]:g}-{FAULT_GAP_S[1]:g} s "
          f"(simulated) for {FAULT_LENGTH_S[0]:g}-{FAULT_LENGTH_S[1]:g} s")
    print(f"check: median CPU of {repeats}; baseline: replaying the linearization found "
          f"(one model step per operation), median of {repeats}")
    main_figure = None
    for clients in (3, 5, 8):
        for n_ops in (250, 500, 1000, 2000):
            rec = record(n_ops, clients)
            seconds, base = measure(rec, repeats)
            print(f"  {clients} clients, {n_ops:5d} ops ({rec.unknown:3d} unknown; recorded in "
                  f"{rec.cpu_s:5.2f} s CPU, {rec.simulated_s:5.1f} s simulated, {rec.faults:3d} "
                  f"faults): check {seconds:6.3f} s, replay {base:6.4f} s, "
                  f"ratio {seconds / base:5.1f}")
            if (clients, n_ops) == (5, 1000):
                main_figure, main_rec = seconds, rec
    price_of_a_no(main_rec)
    print(f"linearizability check, 1000 ops: {main_figure:.2f} s")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else REPEATS)

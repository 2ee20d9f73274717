"""Kernel speed: zablib's simulator against SimPy on the same message-passing workload.

The workload is ping-pong (:mod:`zablib.protocols.pingpong`): ``NODES`` players in a ring, each
serving one ball; whoever receives a ball with count ``k`` passes it to its right-hand neighbour
with count ``k + 1`` until every ball has made ``ROUNDS`` hops. Every hop travels over a FIFO link
with a delay drawn uniformly from 1-10 ms by a ``random.Random(SEED)``.

* zablib: ``pingpong.cluster(NODES, seed=SEED, rounds=ROUNDS).run()``. This includes everything
  the kernel always does: a trace event for every send and every delivery, the node's ``Output``,
  and writing ``received`` to stable storage.
* SimPy: the same ring written the SimPy way: each node is a process waiting on its ``Store``,
  each message in flight is a process that sleeps for its delay (``env.timeout``) and then puts
  the ball in the receiver's store, as in SimPy's own latency example.

An *event* is one message delivery, counted the same way on both sides (50,000 per run). Each
kernel runs ``REPEATS`` times, alternating, and the median CPU time is reported.

Run it with ``python benchmarks/bench_kernel.py``; the last line is the ratio of the two rates.
"""

from __future__ import annotations

import gc
import random
import statistics
import sys
import time

import simpy

from zablib.protocols import pingpong

NODES = 8
ROUNDS = 6_250  # hops per ball: NODES * ROUNDS = 50,000 deliveries
SEED = 1
REPEATS = 5
DELAY_MS = (1.0, 10.0)


def run_zablib(seed: int = SEED) -> int:
    """Play the ring on zablib's kernel; return the number of deliveries."""
    sim = pingpong.cluster(NODES, seed=seed, rounds=ROUNDS)
    sim.run()
    return sim.trace.count("deliver")


def run_simpy(seed: int = SEED) -> int:
    """Play the same ring on SimPy; return the number of deliveries."""
    rng = random.Random(seed)
    env = simpy.Environment()
    ids = list(range(1, NODES + 1))
    inbox = {i: simpy.Store(env) for i in ids}
    last_arrival: dict[tuple[int, int], float] = {}  # FIFO links, as zablib's default
    delivered = 0

    def transit(src: int, dst: int, count: int):
        now = env.now
        arrival = max(now + rng.uniform(*DELAY_MS), last_arrival.get((src, dst), 0.0))
        last_arrival[(src, dst)] = arrival
        yield env.timeout(arrival - now)
        inbox[dst].put((src, count))

    def player(node: int):
        nonlocal delivered
        right = ids[(ids.index(node) + 1) % len(ids)]
        received = 0
        env.process(transit(node, right, 0))
        while True:
            _src, count = yield inbox[node].get()
            delivered += 1
            received += 1
            if count + 1 < ROUNDS:
                env.process(transit(node, right, count + 1))

    for i in ids:
        env.process(player(i))
    env.run()
    return delivered


def timed(run) -> tuple[int, float]:
    """Run ``run`` once; return its event count and the CPU seconds it took.

    CPU time, not wall time: on a shared machine (CI, Binder) the wall clock also counts the time
    other processes had the core, which would make the comparison depend on the neighbours.
    """
    gc.collect()
    start = time.process_time()
    events = run()
    return events, time.process_time() - start


def main(repeats: int = REPEATS) -> float:
    print(f"workload: {NODES}-node ping-pong ring, {NODES * ROUNDS:,} message deliveries per run, "
          f"uniform {DELAY_MS[0]:g}-{DELAY_MS[1]:g} ms FIFO links, seed {SEED}")
    print(f"python {sys.version.split()[0]}, simpy {simpy.__version__}, {repeats} runs each, alternating")
    runs: dict[str, list[float]] = {"zablib": [], "simpy": []}
    events: dict[str, int] = {}
    for _ in range(repeats):
        for name, run in (("zablib", run_zablib), ("simpy", run_simpy)):
            events[name], seconds = timed(run)
            runs[name].append(seconds)
    if events["zablib"] != events["simpy"]:
        raise SystemExit(f"the workloads differ: {events}")
    rate = {}
    for name, seconds in runs.items():
        median = statistics.median(seconds)
        rate[name] = events[name] / median
        each = ", ".join(f"{s:.3f}" for s in seconds)
        print(f"{name:>6}: median {median:.3f} s CPU = {rate[name]:>9,.0f} events/s   (runs: {each} s)")
    ratio = rate["zablib"] / rate["simpy"]
    print(f"kernel events/s ratio zablib/simpy: {ratio:.2f}")
    return ratio


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else REPEATS)

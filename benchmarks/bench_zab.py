"""Zab's throughput on the simulator, beside the kernel's own speed measured in the same run.

* **Zab**: a 5-server ensemble (``zab.cluster(5, seed=SEED)``, 1-10 ms FIFO links, no faults).
  After the election has settled (not timed), a client hands the leader one transaction every
  ``GAP_MS`` of simulated time, ``TXNS`` transactions in all, and the run goes on until the last
  one has committed. What is timed is that load phase: proposals, acknowledgements, commits,
  deliveries on all five servers, heartbeats, stable-storage writes and the trace. The count is
  the transactions the *leader* delivered (committed) during the phase.
* **Kernel**: the ping-pong ring of ``bench_kernel.py`` (8 nodes, 50,000 message deliveries);
  its count is message deliveries.

Both run ``REPEATS`` times, alternating, and the median CPU time (``time.process_time``) of each
is reported. The ratio *kernel events per committed transaction* says what one Zab transaction
costs in units of the kernel's cheapest event, so it does not depend on the machine.

Run it with ``python benchmarks/bench_zab.py [repeats]``; the last line holds the three figures.
"""

from __future__ import annotations

import sys

from protocol_bench import throughput

from zablib.protocols import zab

SERVERS = 5
TXNS = 2_000  # transactions per run
GAP_MS = 1.5  # simulated time between two client submissions
SEED = 1
REPEATS = 5


def settled_cluster(seed: int = SEED) -> zab.ZabSimulation:
    """A 5-server ensemble whose leader is established and followed by everyone."""
    sim = zab.cluster(SERVERS, seed=seed)
    for _ in range(500):
        sim.run_for(20)
        leader = sim.leader()
        if leader is not None and all(
                sim.nodes[i].phase == "synced" for i in sim.node_ids if i != leader):
            return sim
    raise SystemExit("the ensemble never settled")


def run_zab(sim: zab.ZabSimulation) -> tuple[int, int]:
    """The load phase: ``TXNS`` submissions, ``GAP_MS`` apart, then drain.

    Returns ``(committed, events)``: transactions the leader delivered and kernel events
    (message deliveries and timer firings) the phase took.
    """
    leader = sim.leader()
    start = len(sim.trace)
    for k in range(TXNS):
        if not sim.submit(k):
            raise SystemExit(f"the leader refused transaction {k} at t={sim.now:.1f} ms")
        sim.run_for(GAP_MS)
    while sim.nodes[leader].committed_zxid < sim.nodes[leader].last_zxid:
        sim.run_for(GAP_MS)
    committed = events = 0
    for e in sim.trace[start:]:
        if e.kind == "note" and e.tag == "deliver" and e.node == leader:
            committed += 1
        elif e.kind in ("deliver", "timer"):
            events += 1
    return committed, events


def main(repeats: int = REPEATS) -> float:
    print(f"zab: {SERVERS} servers, {TXNS:,} transactions, one every {GAP_MS:g} ms of simulated "
          f"time, uniform 1-10 ms FIFO links, seed {SEED}")
    return throughput("zab", "txn", "transactions", TXNS, repeats, SEED, settled_cluster, run_zab)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else REPEATS)

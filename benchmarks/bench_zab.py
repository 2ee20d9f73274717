"""Zab's throughput on the simulator, beside the kernel's own speed measured in the same run.

* **Zab**: a 5-server ensemble (``zab.cluster(5, seed=SEED)``, 1-10 ms FIFO links, no faults).
  After the election has settled (not timed), a client hands the leader one transaction every
  ``GAP_MS`` of simulated time, ``OPERATIONS`` transactions in all (the workload of
  ``protocol_bench.py``, the same as Raft's), and the run goes on until the last one has
  committed. What is timed is that load phase: proposals, acknowledgements, commits,
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

from protocol_bench import REPEATS, SEED, SERVERS, load_phase, settle, throughput

from zablib.protocols import zab


def settled_cluster() -> zab.ZabSimulation:
    """A 5-server ensemble whose leader is established and followed by everyone."""
    def ready(sim: zab.ZabSimulation) -> bool:
        leader = sim.leader()
        return leader is not None and all(
            sim.nodes[i].phase == "synced" for i in sim.node_ids if i != leader)

    return settle(zab.cluster(SERVERS, seed=SEED), ready, "ensemble")


def run_zab(sim: zab.ZabSimulation) -> tuple[int, int]:
    """The load phase: ``OPERATIONS`` submissions, ``GAP_MS`` apart, then drain.

    Returns ``(committed, events)``: transactions the leader delivered and kernel events
    (message deliveries and timer firings) the phase took.
    """
    node = sim.nodes[sim.leader()]
    return load_phase(sim, "transaction", drained=lambda: node.committed_zxid >= node.last_zxid,
                      commits=lambda e: e.tag == "deliver")


def main(repeats: int = REPEATS) -> float:
    return throughput("zab", "txn", "transactions", "FIFO", settled_cluster, run_zab, repeats)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else REPEATS)

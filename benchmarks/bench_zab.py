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

import statistics
import sys

from baseline import PING_NODES, PING_ROUNDS, cpu, run_pingpong

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
    print(f"kernel: {PING_NODES}-node ping-pong ring, {PING_NODES * PING_ROUNDS:,} deliveries")
    print(f"python {sys.version.split()[0]}, {repeats} runs each, alternating, CPU time")
    zab_s, ping_s = [], []
    committed = zab_events = ping_events = 0
    for _ in range(repeats):
        sim = settled_cluster()  # not timed
        (committed, zab_events), seconds = cpu(run_zab, sim)
        zab_s.append(seconds)
        if committed != TXNS:
            raise SystemExit(f"the leader committed {committed} of {TXNS} transactions")
        ping_events, seconds = cpu(run_pingpong, SEED)
        ping_s.append(seconds)
    zab_rate = committed / statistics.median(zab_s)
    ping_rate = ping_events / statistics.median(ping_s)
    print(f"   zab: median {statistics.median(zab_s):.3f} s = {zab_rate:>9,.0f} committed txns/s"
          f"   ({zab_events / committed:.1f} kernel events per txn; runs: "
          + ", ".join(f"{s:.3f}" for s in zab_s) + " s)")
    print(f"kernel: median {statistics.median(ping_s):.3f} s = {ping_rate:>9,.0f} events/s"
          "   (runs: " + ", ".join(f"{s:.3f}" for s in ping_s) + " s)")
    ratio = ping_rate / zab_rate
    print(f"zab committed txns/s: {zab_rate:,.0f}; kernel events/s: {ping_rate:,.0f}; "
          f"kernel events per committed txn (cost ratio): {ratio:.2f}")
    return ratio


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else REPEATS)

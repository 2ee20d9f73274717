"""Raft's throughput on the simulator, beside the kernel's own speed measured in the same run.

* **Raft**: a 5-server cluster (``raft.cluster(5, seed=SEED)``: 1-10 ms links that reorder, no
  loss, Figure 2 defaults: 20 ms heartbeats, 100-200 ms election timeouts, 64 entries per
  AppendEntries). After the first leader has committed its no-op (not timed), a client hands the
  leader one command every ``GAP_MS`` of simulated time, ``OPERATIONS`` commands in all (the
  workload of ``protocol_bench.py``, the same as Zab's), and the run goes on until the leader
  has committed and applied the last one. What is timed is that load
  phase: AppendEntries and replies to four followers, the commit rule, applying on all five
  servers, heartbeats, stable-storage writes of the log and the trace. The count is the client
  commands the *leader* applied during the phase (no-ops left out).
* **Kernel**: the ping-pong ring of ``bench_kernel.py`` (8 nodes, 50,000 message deliveries);
  its count is message deliveries.

Both run ``REPEATS`` times, alternating, and the median CPU time (``time.process_time``) of each
is reported. The ratio *kernel events per committed command* says what one Raft command costs in
units of the kernel's cheapest event, so it does not depend on the machine.

Run it with ``python benchmarks/bench_raft.py [repeats]``; the last line holds the three figures.
"""

from __future__ import annotations

import sys

from protocol_bench import REPEATS, SEED, SERVERS, load_phase, settle, throughput

from zablib.protocols import raft


def settled_cluster() -> raft.RaftSimulation:
    """A 5-server cluster whose leader has committed its no-op on every server (§8)."""
    def ready(sim: raft.RaftSimulation) -> bool:
        leader = sim.leader()
        return leader is not None and all(
            sim.nodes[i].commit_index >= sim.nodes[leader].term_start for i in sim.node_ids)

    return settle(raft.cluster(SERVERS, seed=SEED), ready, "cluster")


def run_raft(sim: raft.RaftSimulation) -> tuple[int, int]:
    """The load phase: ``OPERATIONS`` submissions, ``GAP_MS`` apart, then drain.

    Returns ``(committed, events)``: commands the leader applied and kernel events (message
    deliveries and timer firings) the phase took.
    """
    node = sim.nodes[sim.leader()]
    return load_phase(sim, "command", drained=lambda: node.last_applied >= node.last_index,
                      commits=lambda e: e.tag == "apply" and e.value[1].kind == "command")


def main(repeats: int = REPEATS) -> float:
    return throughput("raft", "cmd", "commands", "reordering", settled_cluster, run_raft, repeats,
                      check=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else REPEATS)

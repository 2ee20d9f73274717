"""Raft's throughput on the simulator, beside the kernel's own speed measured in the same run.

* **Raft**: a 5-server cluster (``raft.cluster(5, seed=SEED)``: 1-10 ms links that reorder, no
  loss, Figure 2 defaults: 20 ms heartbeats, 100-200 ms election timeouts, 64 entries per
  AppendEntries). After the first leader has committed its no-op (not timed), a client hands the
  leader one command every ``GAP_MS`` of simulated time, ``CMDS`` commands in all, and the run
  goes on until the leader has committed and applied the last one. What is timed is that load
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

from protocol_bench import throughput

from zablib.protocols import raft

SERVERS = 5
CMDS = 2_000  # commands per run
GAP_MS = 1.5  # simulated time between two client submissions
SEED = 1
REPEATS = 5


def settled_cluster(seed: int = SEED) -> raft.RaftSimulation:
    """A 5-server cluster whose leader has committed its no-op on every server (§8)."""
    sim = raft.cluster(SERVERS, seed=seed)
    for _ in range(500):
        sim.run_for(20)
        leader = sim.leader()
        if leader is not None:
            start = sim.nodes[leader].term_start
            if all(sim.nodes[i].commit_index >= start for i in sim.node_ids):
                return sim
    raise SystemExit("the cluster never settled")


def run_raft(sim: raft.RaftSimulation) -> tuple[int, int]:
    """The load phase: ``CMDS`` submissions, ``GAP_MS`` apart, then drain.

    Returns ``(committed, events)``: commands the leader applied and kernel events (message
    deliveries and timer firings) the phase took.
    """
    leader = sim.leader()
    node = sim.nodes[leader]
    start = len(sim.trace)
    for k in range(CMDS):
        if not sim.submit(k):
            raise SystemExit(f"the leader refused command {k} at t={sim.now:.1f} ms")
        sim.run_for(GAP_MS)
    while node.last_applied < node.last_index:
        sim.run_for(GAP_MS)
    if sim.leader() != leader:
        raise SystemExit("the leader changed during the load phase")
    committed = events = 0
    for e in sim.trace[start:]:
        if e.kind == "note" and e.tag == "apply" and e.node == leader:
            committed += e.value[1].kind == "command"
        elif e.kind in ("deliver", "timer"):
            events += 1
    return committed, events


def main(repeats: int = REPEATS) -> float:
    print(f"raft: {SERVERS} servers, {CMDS:,} commands, one every {GAP_MS:g} ms of simulated "
          f"time, uniform 1-10 ms reordering links, seed {SEED}")
    return throughput("raft", "cmd", "commands", CMDS, repeats, SEED, settled_cluster, run_raft,
                      check=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else REPEATS)

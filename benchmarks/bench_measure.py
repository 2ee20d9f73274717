"""The ZooKeeper paper's throughput figure on the simulated service, in its large version.

Hunt et al. (USENIX ATC 2010), Figure 5: operations per second against the share of reads, one
curve per ensemble size. Here ``zablib.coord.measure.throughput`` runs each point: an
ensemble of ``n`` servers with the kernel's resource model on (``measure.DEFAULT_COSTS``: 0.1 ms
per message a server handles, 0.00001 ms per byte, 100,000 bytes/ms links, a 0.05-0.15 ms LAN),
``CLIENTS`` closed-loop clients spread over the servers, 1 KB values, ``WINDOW_MS`` of simulated
time measured after a ``WARMUP_MS`` warm-up. The book's chapter 2 (``throughput.ipynb``) draws the
same figure with 64 clients and shorter windows (200 ms up to 50 % reads, 40 ms above).

The table is deterministic (a pure function of the parameters); the speed figures are not. The
speed is reported the way the other benchmarks report theirs, beside a baseline measured in the
same run: the whole sweep's measured operations per CPU second (setup included) against the
kernel's ping-pong deliveries per CPU second (``baseline.py``), and their ratio, *kernel events
per measured operation*, which does not depend on the machine.

Run it with ``python benchmarks/bench_measure.py [clients]`` (about a minute on one core).
"""

from __future__ import annotations

import statistics
import sys

from baseline import cpu, run_pingpong

from zablib.coord.measure import Throughput, leader_messages_per_write, sweep

SERVERS = (3, 5, 7, 9, 13)
READ_RATIOS = (0.0, 0.25, 0.5, 0.75, 0.9, 1.0)
CLIENTS, WINDOW_MS, WARMUP_MS, SEED = 64, 200.0, 20.0, 0
BASELINE_REPEATS = 5


def run_sweep(clients: int) -> tuple[dict[tuple[int, float], Throughput], int]:
    """Every point of the figure, and the operations counted in all of them."""
    table = sweep(SERVERS, READ_RATIOS, clients=clients, duration_ms=WINDOW_MS, warmup_ms=WARMUP_MS,
                  seed=SEED)
    return table, sum(run.operations for run in table.values())


def main(clients: int = CLIENTS) -> float:
    print(f"Figure 5 sweep: {SERVERS} servers x {len(READ_RATIOS)} read ratios, {clients} clients, "
          f"{WINDOW_MS:g} ms window after {WARMUP_MS:g} ms, seed {SEED}")
    (runs, operations), seconds = cpu(run_sweep, clients)
    table = {point: run.ops_per_second for point, run in runs.items()}
    print("ops/s     " + "".join(f"{r:>10.0%}" for r in READ_RATIOS))
    for n in SERVERS:
        print(f"{n:>2} servers" + "".join(f"{table[n, r]:>10,.0f}" for r in READ_RATIOS))
    print("p50 ms    " + "".join(f"{r:>10.0%}" for r in READ_RATIOS))
    for n in SERVERS:
        print(f"{n:>2} servers" + "".join(f"{runs[n, r].p50_ms:>10.2f}" for r in READ_RATIOS))
    print("leader busy at 0 % reads: " + ", ".join(
        f"{n} servers {runs[n, 0.0].busy[runs[n, 0.0].leader - 1]:.2f}" for n in SERVERS))
    print("leader's messages per write: "
          + ", ".join(f"{n} servers {leader_messages_per_write(n):g}" for n in SERVERS))
    reads_scale = table[SERVERS[-1], 1.0] > table[SERVERS[0], 1.0]
    writes_do_not = table[SERVERS[-1], 0.0] < table[SERVERS[0], 0.0]
    print(f"reads scale out: {reads_scale}; writes do not: {writes_do_not}")
    pings = [cpu(run_pingpong) for _ in range(BASELINE_REPEATS)]
    ping_rate = pings[0][0] / statistics.median(s for _, s in pings)
    rate = operations / seconds
    ratio = ping_rate / rate
    print(f"sweep: {seconds:.1f} s CPU for {operations:,} measured operations = {rate:,.0f} ops per CPU s; "
          f"kernel events/s: {ping_rate:,.0f}; kernel events per measured operation (cost ratio): "
          f"{ratio:.2f}")
    return ratio


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else CLIENTS)

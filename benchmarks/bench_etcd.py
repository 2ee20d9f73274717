"""etcd against ZooKeeper at larger sizes than chapter 2 runs (``zablib.etcd.contrast``).

Not a speed benchmark: the measured differences themselves, over several seeds.

    python benchmarks/bench_etcd.py            # seeds 0-4 (about 10 s)
    python benchmarks/bench_etcd.py 10         # seeds 0-9

Prints, for each number of writes and pause between writes, the mean number of written values a
watcher never received on each service (etcd's watch from a revision; ZooKeeper's DataWatch,
re-armed after each notification), and, for each delay of a lagging follower's link, how many
of its serializable and linearizable reads returned a value older than the last acknowledged
write, with the linearizability checker's verdicts.
"""

from __future__ import annotations

import sys
import time
from statistics import mean

from zablib.etcd.contrast import stale_reads, watch_skips


def main(seeds: int = 5) -> None:
    started = time.perf_counter()
    print(f"watch skips, mean over {seeds} seeds (values never received / written)")
    print(f"{'writes':>7} {'gap ms':>7} {'etcd':>7} {'ZooKeeper':>10}")
    for writes in (10, 50, 200):
        for gap in (0.0, 1.0, 2.0, 5.0):
            runs = [watch_skips(writes, seed, gap_ms=gap) for seed in range(seeds)]
            print(f"{writes:>7} {gap:>7g} {mean(r.etcd for r in runs):>7.1f} "
                  f"{mean(r.zookeeper for r in runs):>10.1f}")
    print(f"\nreads through a lagging follower, 20 writes x {seeds} seeds: stale reads, and the "
          "seeds whose history the linearizability checker accepts")
    print(f"{'lag ms':>7} {'read after ms':>14} {'serializable':>20} {'linearizable':>20}")
    for lag in (0.0, 40.0):
        for after in (1.0, 30.0, 100.0):
            runs = [stale_reads(20, seed, lag_ms=lag, after_ms=after) for seed in range(seeds)]
            cells = [f"{sum(getattr(r, kind + '_stale') for r in runs):>4}/{20 * seeds} stale, "
                     f"{sum(getattr(r, kind + '_linearizable') for r in runs)}/{seeds} ok"
                     for kind in ("serializable", "linearizable")]
            print(f"{lag:>7g} {after:>14g} {cells[0]:>20} {cells[1]:>20}")
    print(f"\n{time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)

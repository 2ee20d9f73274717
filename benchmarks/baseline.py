"""What the protocol benchmarks share: the kernel baseline and CPU timing.

``bench_zab.py`` and ``bench_raft.py`` put a protocol's committed operations per CPU second
beside the plain kernel's ping-pong deliveries per CPU second, measured in the same run.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import Any

from zablib.protocols import pingpong

PING_NODES, PING_ROUNDS = 8, 6_250  # as in bench_kernel.py: 50,000 deliveries


def run_pingpong(seed: int = 1) -> int:
    """The kernel baseline: the ping-pong ring; returns the number of deliveries."""
    sim = pingpong.cluster(PING_NODES, seed=seed, rounds=PING_ROUNDS)
    sim.run()
    return sim.trace.count("deliver")


def cpu(run: Callable[..., Any], *args: Any) -> tuple[Any, float]:
    """``run(*args)`` after a garbage collection; its result and the CPU seconds it took."""
    gc.collect()
    start = time.process_time()
    result = run(*args)
    return result, time.process_time() - start

"""Explorer speed: :func:`zablib.explore.explore` against a minimal breadth-first search.

Both search Lamport's ``TwoPhase`` spec with six resource managers (:class:`zablib.models.TwoPhase`,
50,816 distinct states, the number at the end of ``TwoPhase.tla``), with the same ``actions()``
generator and the same invariant:

* explorer: ``explore(TwoPhase(6), progress=False)``, which also keeps a parent link and a depth per
  state (for the shortest counterexample and TLC's depth), counts transitions and collects the
  terminal states;
* minimal: a plain ``deque`` and ``set``, checking the invariant in every new state, and nothing
  else.

Each runs ``REPEATS`` times, alternating; the medians are reported. Then the ratio
``explorer time / minimal time`` (the explorer's bookkeeping overhead); the target is at most 3.

Last, the size of the crash-recovery models of the real 2PC and 3PC nodes
(``CommitModel(..., recovery=True)``, :data:`RECOVERY_MODELS`), explored once each: distinct
states, depth, CPU seconds for the search and for :meth:`~zablib.models.CommitModel.stuck_states`
(the liveness check over the state graph), and what they found (no violation and no stuck state
expected).

Run it with ``python benchmarks/bench_explore.py``.
"""

from __future__ import annotations

import gc
import statistics
import sys
import time
from collections import deque

from zablib.explore import explore
from zablib.models import CommitModel, TwoPhase
from zablib.protocols import threepc, twopc

RMS = 6
EXPECTED_STATES = 50_816
REPEATS = 5
#: The crash-recovery models measured: (protocol, participants, crashes).
RECOVERY_MODELS = ((twopc, 2, 1), (twopc, 2, 2), (twopc, 2, 3), (threepc, 2, 1), (threepc, 2, 2))


def run_explore() -> int:
    """Explore ``TwoPhase(RMS)`` with zablib's explorer; return the number of distinct states."""
    result = explore(TwoPhase(RMS), progress=False)
    assert result.violation is None
    return result.distinct_states


def run_minimal() -> int:
    """The same search in a few lines: deque, set, actions(), invariant; return the state count."""
    model = TwoPhase(RMS)
    holds = list(model.invariants().values())
    init = list(model.init_states())
    seen = set(init)
    queue = deque(init)
    while queue:
        for _, nxt in model.actions(queue.popleft()):
            if nxt not in seen:
                seen.add(nxt)
                for check in holds:
                    if not check(nxt):
                        raise AssertionError("TwoPhase violates TCConsistent")
                queue.append(nxt)
    return len(seen)


def timed(fn) -> tuple[float, int]:
    gc.collect()
    start = time.perf_counter()
    states = fn()
    return time.perf_counter() - start, states


def main() -> None:
    times: dict[str, list[float]] = {"explore": [], "minimal": []}
    for _ in range(REPEATS):
        for name, fn in (("explore", run_explore), ("minimal", run_minimal)):
            seconds, states = timed(fn)
            if states != EXPECTED_STATES:
                sys.exit(f"{name} found {states} states, expected {EXPECTED_STATES}")
            times[name].append(seconds)
    medians = {name: statistics.median(ts) for name, ts in times.items()}
    print(f"TwoPhase(rms={RMS}): {EXPECTED_STATES} distinct states, {REPEATS} runs each, medians")
    for name, seconds in medians.items():
        rate = EXPECTED_STATES / seconds
        print(f"  {name:<8} {seconds * 1000:8.1f} ms   {rate:10,.0f} states/s")
    print(f"explore overhead vs minimal BFS: {medians['explore'] / medians['minimal']:.2f}")
    explore_recovery_models()


def explore_recovery_models() -> None:
    """Explore each of :data:`RECOVERY_MODELS` once; print its size, CPU time and findings."""
    print("CommitModel with crash-recovery, one search each (CPU seconds)")
    for protocol, participants, crashes in RECOVERY_MODELS:
        model = CommitModel(protocol, participants, crashes=crashes, recovery=True)
        gc.collect()
        start = time.process_time()
        result = explore(model, keep_graph=True, progress=False)
        searched = time.process_time() - start
        if result.violation is not None:
            sys.exit(f"{model!r} breaks {result.violation.invariant}")
        stuck = model.stuck_states(result)
        checked = time.process_time() - start - searched
        print(f"  {model!r}: {result.distinct_states:,} states, depth {result.depth}, "
              f"search {searched:.1f} s, stuck_states {checked:.1f} s; no violation; "
              f"stuck states: {len(stuck)}")
        if stuck:
            sys.exit(f"{model!r} has stuck states, e.g. {stuck[0]}")


if __name__ == "__main__":
    main()

"""Linearizability checker speed: :func:`zablib.linearizability.check` on a generated history.

The history is what a correct service would give: ``CLIENTS`` clients, each calling one operation
at a time on a few keys (gets, sets, creates, deletes of ``KVModel``), every operation taking
effect at a random instant inside its interval; about 2 % of the calls end in an unknown outcome
(the client gave up: the operation took effect, or did not, each half of the time) and the
client goes on with its next call. The events are replayed, in time order, into a ``History``
recorder, and the recorded history is checked. Everything is seeded.

Each size is checked ``REPEATS`` times; the median CPU time is reported. The main line is
``linearizability check, 1000 ops: X.XX s`` (5 clients, 3 keys), printed last; before it, how
the time scales with the number of operations and of clients, and the price of a "no": one late
get made to answer the initial value (a stale read), the time to find it, the size of the
fragment and of its ``minimal()`` shrink. Target: at most 5 s for the main line.

Run it with ``python benchmarks/bench_linearizability.py``.
"""

from __future__ import annotations

import dataclasses
import random
import statistics
import time

from zablib.linearizability import History, KVModel, check

REPEATS = 3
KEYS = ("/a", "/b", "/c")
UNKNOWN_RATE = 0.02


def generate(n_ops: int, clients: int, seed: int = 0) -> tuple[list, KVModel]:
    """A history of ``n_ops`` operations from ``clients`` clients, linearizable by construction."""
    rng = random.Random(seed)
    model = KVModel({k: 0 for k in KEYS})
    free = [rng.uniform(0, 1) for _ in range(clients)]
    planned = []  # (instant, call, return or None, client, input, takes effect)
    for k in range(n_ops):
        c = min(range(clients), key=free.__getitem__)
        call = free[c]
        length = rng.expovariate(1 / (0.5 * clients))
        path = rng.choice(KEYS)
        verb = rng.choices(["get", "set", "create", "delete"], [5, 3, 1, 1])[0]
        input = (verb, path) if verb in ("get", "delete") else (verb, path, k)
        lost = rng.random() < UNKNOWN_RATE
        instant = rng.uniform(call, call + length)
        planned.append((instant, call, call + length, c, input, lost, not lost or rng.random() < .5))
        free[c] = call + length + rng.uniform(0, 0.5)
    # Outputs: apply the operations at their instants, in order.
    state = model.init()
    outputs = {}
    for instant, *_, input, _lost, effect in sorted(planned, key=lambda p: p[0]):
        if not effect:
            continue
        outputs[instant], state = model.answer(state, input)
    # Record: replay calls and returns in time order into the History recorder.
    events = []
    for instant, call, ret, c, input, lost, _effect in planned:
        events.append((call, 0, c, input, instant))
        events.append((ret, 1, c, "unknown" if lost else outputs[instant], instant))
    events.sort(key=lambda e: (e[0], e[1]))
    now = [0.0]
    history = History(clock=lambda: now[0])
    ids = {}
    for t, kind, c, what, instant in events:
        now[0] = t
        if kind == 0:
            ids[instant] = history.invoke(c, what)
        elif what == "unknown":
            history.unknown(ids[instant])
        else:
            history.ok(ids[instant], what)
    return history.operations(), model


def measure(n_ops: int, clients: int) -> tuple[float, int]:
    ops, model = generate(n_ops, clients)
    times = []
    for _ in range(REPEATS):
        start = time.process_time()
        result = check(ops, model, timeout=120)
        times.append(time.process_time() - start)
        assert result.ok is True, result.describe()
    return statistics.median(times), sum(op.unknown for op in ops)


def stale_read(n_ops: int, clients: int) -> None:
    """Inject one stale read (a late get answers the initial 0) and time the "no"."""
    ops, model = generate(n_ops, clients)
    gets = [i for i, op in enumerate(ops) if op.input[0] == "get" and not op.unknown]
    i = gets[int(len(gets) * 0.9)]
    ops[i] = dataclasses.replace(ops[i], output=0)
    start = time.process_time()
    result = check(ops, model, timeout=120)
    found = time.process_time() - start
    assert result.ok is False
    start = time.process_time()
    minimal = result.minimal(timeout=120)
    shrunk = time.process_time() - start
    print(f"  one stale read injected into {n_ops} ops: 'no' in {found:.3f} s, fragment "
          f"{len(result.fragment)} ops; shrunk to {len(minimal)} ops in {shrunk:.2f} s")


def main() -> None:
    print(f"keys: {len(KEYS)}; unknown outcomes: about {UNKNOWN_RATE:.0%}; "
          f"median CPU time of {REPEATS} checks")
    for clients in (3, 5, 8):
        for n_ops in (250, 500, 1000):
            seconds, unknown = measure(n_ops, clients)
            print(f"  {clients} clients, {n_ops:5d} ops ({unknown:2d} unknown): {seconds:6.3f} s")
    stale_read(1000, 5)
    seconds, _ = measure(1000, 5)
    print(f"linearizability check, 1000 ops: {seconds:.2f} s")


if __name__ == "__main__":
    main()

"""Linearizability checking of recorded client histories, in the style of Porcupine.

A history is a list of ``Operation`` records: who called, with which input, what came back, and
the times of the call and of the return. It is *linearizable* when every operation can be given
one instant inside its own interval so that, taken in the order of those instants, the operations
are a legal run of a sequential ``Model`` (Herlihy and Wing, 1990).

The search is Wing and Gong's (1993) with Lowe's (2017) memoisation, as in Porcupine
(anishathalye/porcupine): the calls and returns are laid out in time order in a linked list;
the search linearizes a call whose operation the model accepts in the current state, removes
its call and return from the list and goes on from the head; when it meets a return it cannot
pass (that operation is not linearized yet), it backtracks. A (set of linearized operations,
model state) pair already explored is never explored again. A model may split a history into
independent parts (``Model.partition``, one part per key for the key-value model): a history is
linearizable when every part is (locality, Herlihy and Wing's theorem 1), and the parts are
searched apart, which keeps the sets small.

An operation whose outcome is unknown (the client saw ``ConnectionLoss``) has ``return_`` equal
to ``math.inf`` and ``output`` equal to ``UNKNOWN``: it may take effect at any instant after its
call, and the model must accept any output for it. Not taking effect at all is the same as taking
effect after every other operation, where nothing can observe it, so the search needs no special
case. A failed operation (the server said no, so nothing happened) is dropped by ``History.fail``.
"""

import math
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

__all__ = [
    "UNKNOWN",
    "History",
    "HistoryError",
    "KVModel",
    "Model",
    "Operation",
    "Result",
    "check",
]


class _Unknown:
    """The output of an operation whose outcome the client never learned."""

    _instance: "_Unknown | None" = None

    def __new__(cls) -> "_Unknown":
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"


#: The output of an operation whose outcome is unknown (for example after ``ConnectionLoss``).
UNKNOWN: Any = _Unknown()


@dataclass(frozen=True)
class Operation:
    """One client operation as it was seen from outside.

    Parameters
    ----------
    client : Hashable
        Who called (only used to describe the history).
    input : Any
        What was asked, in the model's vocabulary, e.g. ``("set", "/a", 1)``.
    output : Any
        What came back, or ``UNKNOWN``.
    call : float
        When the call was made.
    return_ : float
        When the answer came back; ``math.inf`` when it never did.
    """

    client: Hashable
    input: Any
    output: Any
    call: float
    return_: float = math.inf

    @property
    def unknown(self) -> bool:
        """True when the outcome was never learned (the operation may or may not have happened)."""
        return self.output is UNKNOWN

    def __post_init__(self) -> None:
        if not self.call <= self.return_:
            raise ValueError(f"operation returns before its call: {self!r}")


class HistoryError(ValueError):
    """A ``History`` recorder was used out of order (an id ended twice, unknown, ...)."""


class History:
    """Record a concurrent history as it happens: invoke, then ok, fail or unknown.

    Times come from ``clock`` (default: a counter that ticks on every event, so the recorded
    order is the order of the calls to this object, which is what a single-threaded test or a
    simulation needs; ``time.monotonic`` for threads talking to a real service). The recorder
    is thread-safe: each event reads the clock and is stored under one lock, so times and ids
    follow the order in which events were recorded.

    Parameters
    ----------
    clock : callable, optional
        Returns the current time; must never go backwards.

    Examples
    --------
    >>> h = History()
    >>> w = h.invoke("c1", ("set", "/x", 1))
    >>> r = h.invoke("c2", ("get", "/x"))
    >>> h.ok(w, "ok"); h.ok(r, 1)
    >>> len(h.operations())
    2
    """

    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        self._clock = clock
        self._ticks = 0
        self._open: dict[int, tuple[Hashable, Any, float]] = {}
        self._busy: dict[Hashable, int] = {}
        self._done: dict[int, Operation | None] = {}
        # Held only while an event is stored (never across a blocking call), so greenlets on
        # the simulator, which switch only when they wait, never contend for it.
        self._lock = threading.Lock()

    def _now(self) -> float:
        if self._clock is not None:
            return self._clock()
        self._ticks += 1
        return self._ticks

    def invoke(self, client: Hashable, input: Any) -> int:
        """Record that ``client`` called ``input`` now; returns the id to end it with."""
        with self._lock:
            if client in self._busy:
                raise HistoryError(
                    f"client {client!r} invokes {input!r} while its operation "
                    f"{self._busy[client]} is still open"
                )
            op_id = len(self._open) + len(self._done)
            self._open[op_id] = (client, input, self._now())
            self._busy[client] = op_id
            return op_id

    def _end(self, op_id: int, verb: str) -> tuple[Hashable, Any, float]:
        if op_id in self._done:
            raise HistoryError(f"operation {op_id} already ended; cannot {verb} it again")
        if op_id not in self._open:
            raise HistoryError(f"no operation with id {op_id!r} was invoked")
        client, input, call = self._open.pop(op_id)
        del self._busy[client]
        return client, input, call

    def ok(self, op_id: int, output: Any) -> None:
        """Record that operation ``op_id`` returned ``output`` now."""
        with self._lock:
            client, input, call = self._end(op_id, "ok")
            self._done[op_id] = Operation(client, input, output, call, self._now())

    def fail(self, op_id: int, error: Any = None) -> None:
        """Record that operation ``op_id`` certainly did not take effect; it is dropped.

        Use it only when the service guarantees nothing happened (a request refused before it
        was sent). An error that *is* the operation's answer (``NoNode`` for a delete, say)
        is an output: record it with ``ok``.
        """
        with self._lock:
            self._end(op_id, "fail")
            self._done[op_id] = None

    def unknown(self, op_id: int) -> None:
        """Record that the outcome of ``op_id`` will never be known (e.g. ``ConnectionLoss``)."""
        with self._lock:
            client, input, call = self._end(op_id, "mark unknown")
            self._done[op_id] = Operation(client, input, UNKNOWN, call, math.inf)

    def operations(self) -> list[Operation]:
        """The history so far; operations still open count as unknown outcomes."""
        with self._lock:
            ops = [op for _, op in sorted(self._done.items()) if op is not None]
            ops += [Operation(c, i, UNKNOWN, t, math.inf) for c, i, t in self._open.values()]
        return ops


class Model:
    """A sequential specification; subclass it and override ``init`` and ``step``.

    States must be hashable (they are memoised together with the set of linearized operations).
    """

    def init(self) -> Hashable:
        """The initial state."""
        raise NotImplementedError

    def step(self, state: Hashable, input: Any, output: Any) -> tuple[bool, Hashable]:
        """Whether ``input`` may return ``output`` in ``state``, and the state after it.

        ``output`` may be ``UNKNOWN``; the model must then accept and return the state the
        operation leads to.
        """
        raise NotImplementedError

    def partition(self, history: Sequence[Operation]) -> list[list[Operation]]:
        """Independent sub-histories, each checked on its own (default: the whole history)."""
        return [list(history)]

    def unobservable(self, ops: Sequence[Operation]) -> set[int]:
        """Indices of the operations of ``ops`` whose effect no answer in ``ops`` depends on.

        Such an operation changed nothing anybody in ``ops`` saw (a read, a refused write, a
        write of a value nobody read): wherever it took effect, the other answers stay
        explained without it. Two uses: ``check`` leaves out the unknown-outcome ones (they
        may as well take effect after everything else, and each one left in doubles, at worst,
        the orders a "no" must rule out); ``Result.minimal`` may delete such operations from
        anywhere in a fragment without taking away the explanation of an answer it keeps. The
        default, for a model that cannot tell, is none.
        """
        return set()

    def describe_operation(self, input: Any, output: Any) -> str:
        """One short line for an operation."""
        return f"{input!r} -> {output!r}"


class KVModel(Model):
    """The data tree as a flat key-value map, as the recipes see it: one znode per path.

    Inputs and the outputs the model accepts:

    - ``("get", path)`` -> the value, or ``"NoNode"``;
    - ``("exists", path)`` -> ``True`` or ``False``;
    - ``("set", path, value)`` -> ``"ok"`` or ``"NoNode"``;
    - ``("create", path, value)`` -> ``"ok"`` or ``"NodeExists"``;
    - ``("delete", path)`` -> ``"ok"`` or ``"NoNode"``;
    - ``("sync", path)`` -> ``"ok"``: it changes nothing (ZooKeeper's sync only makes one
      server catch up, which the model, a single copy, never needs). A "sync then get" is
      recorded as one ``get`` whose call is the sync's (``zablib.recipes.recording``).

    ``initial`` gives the paths that exist at the start. Paths are independent (no parent
    rules), so the history is partitioned by path. A state is the sorted tuple of the
    ``(path, value)`` pairs that exist (one pair at most once partitioned).
    """

    def __init__(self, initial: dict[str, Any] | None = None) -> None:
        self.initial = dict(initial or {})

    def init(self) -> Hashable:
        return tuple(sorted(self.initial.items()))

    def answer(self, state: Hashable, input: Any) -> tuple[Any, Hashable]:
        """What a single copy of the map answers to ``input`` in ``state``, and the state after.

        The sequential specification itself: :meth:`step` accepts exactly this output (or
        ``UNKNOWN``), and a test or a benchmark can run the map with it to make a history.
        """
        # The search calls this millions of times on one key's states (one pair at most):
        # a scan of the sorted tuple, and a new tuple only when something changes.
        pairs: tuple = state  # type: ignore[assignment]
        verb, path = input[0], input[1]
        at = -1
        for i, pair in enumerate(pairs):
            if pair[0] == path:
                at = i
                break
        exists = at >= 0
        if verb == "get":
            return (pairs[at][1] if exists else "NoNode"), state
        if verb == "exists":
            return exists, state
        if verb == "sync":
            return "ok", state
        if verb == "set":
            if not exists:
                return "NoNode", state
            return "ok", pairs[:at] + ((path, input[2]),) + pairs[at + 1:]
        if verb == "create":
            if exists:
                return "NodeExists", state
            return "ok", tuple(sorted(pairs + ((path, input[2]),)))
        if verb == "delete":
            if not exists:
                return "NoNode", state
            return "ok", pairs[:at] + pairs[at + 1:]
        raise ValueError(f"KVModel does not know the operation {input!r}")

    def step(self, state: Hashable, input: Any, output: Any) -> tuple[bool, Hashable]:
        expected, after = self.answer(state, input)
        if output is not UNKNOWN and output != expected:
            return False, state
        return True, after

    def unobservable(self, ops: Sequence[Operation]) -> set[int]:
        """Reads, refused writes, and sets of a value no get in ``ops`` returned.

        A set changes only the value (``exists`` and the answers of writes depend only on
        whether the node exists), so a set of a value nobody read changed nothing anybody saw.
        Creates and deletes that may have happened change existence: always observable.
        """
        seen = {op.output for op in ops if op.input[0] == "get" and not op.unknown}
        return {i for i, op in enumerate(ops)
                if op.input[0] in ("get", "exists", "sync")
                or (not op.unknown and op.output != "ok")
                or (op.input[0] == "set" and op.input[2] not in seen)}

    def partition(self, history: Sequence[Operation]) -> list[list[Operation]]:
        parts: dict[str, list[Operation]] = {}
        for op in history:
            parts.setdefault(op.input[1], []).append(op)
        return list(parts.values())

    def describe_operation(self, input: Any, output: Any) -> str:
        args = ", ".join(repr(a) for a in input[1:])
        return f"{input[0]}({args}) -> {output!r}"


@dataclass
class Result:
    """The answer of ``check``.

    Its ``model`` attribute is the model the history was checked against.

    Attributes
    ----------
    ok : bool or "unknown"
        True (linearizable), False (not), or ``"unknown"`` if the time bound ran out first.
    linearization : list of Operation
        When ``ok`` is True: every operation (unknown outcomes included) in one legal order
        that respects real time. Empty otherwise.
    fragment : list of Operation
        When ``ok`` is False, for the failing part with the smallest fragment: the operations of
        the longest linearizable prefix the search reached, followed by the operations that
        could not be placed next (``stuck``), sorted by call time. Empty otherwise.
    prefix : list of Operation
        That longest prefix, in its linearized order.
    stuck : list of Operation
        The operations that were candidates to come next after ``prefix`` (their calls came
        before the first pending return) and none of which the model accepted there (or the
        state it led to had already been explored and had failed).
    part : list of Operation
        When ``ok`` is False: every operation of that failing part (one key's, for the
        key-value model), for :meth:`blame` and :meth:`minimal`.
    """

    ok: bool | str
    model: Model
    linearization: list[Operation] = field(default_factory=list)
    fragment: list[Operation] = field(default_factory=list)
    prefix: list[Operation] = field(default_factory=list)
    stuck: list[Operation] = field(default_factory=list)
    part: list[Operation] = field(default_factory=list, repr=False)

    def __bool__(self) -> bool:
        return self.ok is True

    def blame(self, timeout: float | None = None) -> list[Operation]:
        """The first answers that cannot be explained: the culprit(s) ``minimal`` keeps.

        Replaying the failing part in time, the history as it stood at instant ``t`` (answers
        returned by ``t``; the operations still pending then, with unknown outcomes) is
        linearizable for every ``t`` before some first return ``t*`` and not from ``t*`` on
        (a linearization of the later history gives one of the earlier, so the answer only
        changes once; a bisection finds ``t*``). The operations returning at ``t*`` are blamed:
        each answer before them has an explanation, theirs has none. Usually one operation: a
        stale read, the ``ok`` of a write that cannot have succeeded. Empty when ``ok`` is not
        False.
        """
        if self.ok is not False:
            return []
        return self._first_unexplained(_deadline(timeout))[1]

    def minimal(self, timeout: float | None = None) -> list[Operation]:
        """A small non-linearizable fragment around the blamed operations (:meth:`blame`).

        It starts from the history as it stood when the blamed answers came back, and deletes
        operations while three things stay true: the fragment is not linearizable; with the
        blamed answers withdrawn (a read left out, a write's outcome unknown) it is; and, when
        the blamed operations were wrong only because of *when* they were called (the fragment
        becomes linearizable once their calls are moved back to the beginning of time: a stale
        read, which answered a value that was current earlier), that stays so. Operations no
        kept answer depends on (:meth:`Model.unobservable`: reads, refusals, writes of values
        nobody read) may go from anywhere; the others only from the two ends of the fragment,
        in call order, so that no write that explains a kept answer is dropped from between
        two kept operations: a ``set -> ok`` whose ``create`` was dropped would look wrong
        for a poor reason. So a stale read shrinks to the write whose value
        it returned, the newer write that had completed before it was called, and the read.

        Sorted by call time. Empty when ``ok`` is not False; if ``timeout`` runs out, the
        shrinking stops where it is (still not linearizable).
        """
        if self.ok is not False:
            return []
        deadline = _deadline(timeout)
        model = self.model
        fragment, blamed = self._first_unexplained(deadline)
        if not blamed:
            return sorted(self.fragment, key=lambda op: (op.call, op.return_))
        is_blamed = {id(op) for op in blamed}.__contains__

        def verdict(ops: list[Operation]) -> bool | str:
            return check(ops, model, timeout=_left(deadline)).ok

        def withdrawn(ops: list[Operation]) -> list[Operation]:
            return [op for op in ops if not is_blamed(id(op))] + [
                replace(op, output=UNKNOWN, return_=math.inf) for op in blamed]

        def early(ops: list[Operation]) -> list[Operation]:
            return [replace(op, call=-math.inf) if is_blamed(id(op)) else op for op in ops]

        only_late = verdict(early(fragment)) is True

        def still_wrong(ops: list[Operation]) -> bool:
            return (verdict(ops) is False and verdict(withdrawn(ops)) is True
                    and (not only_late or verdict(early(ops)) is True))

        def without(ops: list[Operation], gone: list[Operation]) -> list[Operation]:
            ids = {id(op) for op in gone}
            return [op for op in ops if id(op) not in ids]

        first_call = min(op.call for op in blamed)
        changed = True
        while changed and not _expired(deadline):
            changed = False
            # Reads and refusals: greedy deletion by halves, quarters, ..., single operations.
            idle = model.unobservable(fragment)
            free = [op for i, op in enumerate(fragment) if i in idle and not is_blamed(id(op))]
            chunk = max(1, len(free) // 2)
            while free and not _expired(deadline):
                i, progress = 0, False
                while i < len(free):
                    trial = without(fragment, free[i:i + chunk])
                    if still_wrong(trial):
                        fragment, progress, changed = trial, True, True
                        del free[i:i + chunk]
                    else:
                        i += chunk
                if chunk > 1:
                    chunk //= 2
                elif not progress:
                    break
            # Writes: from the two ends inwards, one to four at a time (a create with the
            # delete before it go together).
            idle = model.unobservable(fragment)
            writes = [op for i, op in enumerate(fragment) if i not in idle and not is_blamed(id(op))]
            ends = (sorted((op for op in writes if op.call < first_call), key=lambda op: op.call),
                    sorted((op for op in writes if op.call >= first_call),
                           key=lambda op: -op.call))
            for side in ends:
                while side and not _expired(deadline):
                    for k in range(1, min(4, len(side)) + 1):
                        trial = without(fragment, side[:k])
                        if still_wrong(trial):
                            fragment, changed = trial, True
                            del side[:k]
                            break
                    else:
                        break
        return sorted(fragment, key=lambda op: (op.call, op.return_))

    def _as_of(self, instant: float) -> list[Operation]:
        """The failing part as it stood at ``instant`` (see :meth:`blame`)."""
        ops = []
        for op in self.part:
            if op.return_ <= instant:
                ops.append(op)
            elif op.call <= instant:
                ops.append(op if op.unknown else replace(op, output=UNKNOWN, return_=math.inf))
        return ops

    def _first_unexplained(self, deadline: float | None) -> tuple[list[Operation], list[Operation]]:
        returns = sorted({op.return_ for op in self.part if not math.isinf(op.return_)})
        low, high = 0, len(returns) - 1  # the answer is in returns[low..high]
        while low < high and not _expired(deadline):
            mid = (low + high) // 2
            if check(self._as_of(returns[mid]), self.model, timeout=_left(deadline)).ok is False:
                high = mid
            else:
                low = mid + 1
        if not returns or low != high:
            return list(self.fragment), []
        instant = returns[high]
        fragment = self._as_of(instant)
        if check(fragment, self.model, timeout=_left(deadline)).ok is not False:
            return list(self.fragment), []
        return fragment, [op for op in fragment if op.return_ == instant]

    def _line(self, op: Operation) -> str:
        ret = "?" if math.isinf(op.return_) else f"{op.return_:g}"
        what = self.model.describe_operation(op.input, op.output)
        return f"  [{op.call:g}, {ret}] {op.client}: {what}"

    def describe(self) -> str:
        """A readable verdict: the order found, or the fragment that cannot be linearized."""
        if self.ok == "unknown":
            return "linearizability: unknown (the time bound ran out before an answer)"
        if self.ok:
            lines = [f"linearizable; one order ({len(self.linearization)} operations):"]
            lines += [self._line(op) for op in self.linearization]
            return "\n".join(lines)
        lines = ["NOT linearizable. Longest prefix that could be linearized:"]
        lines += [self._line(op) for op in self.prefix] or ["  (none)"]
        lines.append("none of these could come next:")
        lines += [self._line(op) for op in self.stuck]
        return "\n".join(lines)


class _Timeout(Exception):
    pass


def _deadline(timeout: float | None) -> float | None:
    return None if timeout is None else time.monotonic() + timeout


def _expired(deadline: float | None) -> bool:
    return deadline is not None and time.monotonic() >= deadline


def _left(deadline: float | None) -> float | None:
    return None if deadline is None else max(deadline - time.monotonic(), 1e-3)


def _memo_key(linearized: int, state: Hashable) -> Hashable:
    # Lowe's memoisation: the same set linearized AND the same state is the same subproblem.
    return (linearized, state)


def _search(
    ops: Sequence[Operation], model: Model, deadline: float | None
) -> tuple[bool, list[int], list[int], list[int]]:
    """Search one part; returns (ok, order, longest prefix, stuck), as indices into ``ops``."""
    n = len(ops)
    # Entries 1..2n: 2i+1 is the call of op i, 2i+2 its return; 0 is the list head, -1 the end.
    # Sorted by time; a call before a return at the same instant (touching intervals overlap).
    order = sorted(range(1, 2 * n + 1), key=lambda e: (
        ops[(e - 1) // 2].call if e % 2 else ops[(e - 1) // 2].return_, 0 if e % 2 else 1, e))
    nxt = [-1] * (2 * n + 1)
    prv = [-1] * (2 * n + 1)
    last = 0
    for e in order:
        nxt[last], prv[e] = e, last
        last = e

    def unlink(e: int) -> None:
        p, q = prv[e], nxt[e]
        nxt[p] = q
        if q != -1:
            prv[q] = p

    def relink(e: int) -> None:
        p, q = prv[e], nxt[e]
        nxt[p] = e
        if q != -1:
            prv[q] = e

    state = model.init()
    linearized = 0
    stack: list[tuple[int, Hashable]] = []
    seen: set[Hashable] = set()
    best_prefix: list[int] = []
    best_stuck: list[int] | None = None
    steps = 0
    entry = nxt[0]
    while entry != -1:
        steps += 1
        if deadline is not None and steps % 1024 == 0 and time.monotonic() > deadline:
            raise _Timeout
        if entry % 2:  # a call: try to linearize its operation now
            i = (entry - 1) // 2
            op = ops[i]
            accepted, new_state = model.step(state, op.input, op.output)
            if accepted:
                new_linearized = linearized | (1 << i)
                key = _memo_key(new_linearized, new_state)
                if key not in seen:
                    seen.add(key)
                    stack.append((entry, state))
                    state, linearized = new_state, new_linearized
                    unlink(entry)
                    unlink(entry + 1)
                    entry = nxt[0]
                    continue
            entry = nxt[entry]
            continue
        # A return of an operation not yet linearized: nothing after it can go first.
        if best_stuck is None or len(stack) > len(best_prefix):
            best_prefix = [(e - 1) // 2 for e, _ in stack]
            best_stuck = []
            e = nxt[0]
            while e != entry:
                if e % 2:
                    best_stuck.append((e - 1) // 2)
                e = nxt[e]
        if not stack:
            return False, [], best_prefix, best_stuck
        top, state = stack.pop()
        i = (top - 1) // 2
        linearized &= ~(1 << i)
        relink(top + 1)
        relink(top)
        entry = nxt[top]
    return True, [(e - 1) // 2 for e, _ in stack], [], []


def _merge(orders: Iterable[list[Operation]]) -> list[Operation]:
    """One global order from the parts' orders that still respects real time.

    Each operation gets the earliest instant inside its interval not before its predecessor's
    in its part (a legal order always admits such instants); sorting by instant is then a
    linearization of the whole history, as Herlihy and Wing's locality theorem promises.
    """
    keyed = []
    for p, order in enumerate(orders):
        point = -math.inf
        for k, op in enumerate(order):
            point = max(point, op.call)
            keyed.append((point, p, k, op))
    keyed.sort(key=lambda t: t[:3])
    return [op for *_, op in keyed]


def check(
    history: Sequence[Operation], model: Model, timeout: float | None = None
) -> Result:
    """Decide whether ``history`` is linearizable with respect to ``model``.

    Parameters
    ----------
    history : sequence of Operation
        The operations, in any order (e.g. ``History.operations()``).
    model : ~zablib.linearizability.Model
        The sequential specification; its ``partition`` splits the history.
    timeout : float, optional
        Wall-clock seconds; when they run out the answer is ``"unknown"`` instead of a hang
        (the search is exponential in the worst case).

    Returns
    -------
    ~zablib.linearizability.Result
        ``ok`` with a linearization, or the smallest failing fragment found among the parts.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    orders: list[list[Operation]] = []
    failure: Result | None = None
    for part in model.partition(history):
        idle = {i for i in model.unobservable(part) if part[i].unknown}
        searched = [op for i, op in enumerate(part) if i not in idle] if idle else part
        try:
            ok, order, prefix, stuck = _search(searched, model, deadline)
        except _Timeout:
            return Result("unknown", model)
        if ok:
            # Left out, they take effect after everything else: as good as never.
            orders.append([searched[i] for i in order] + [part[i] for i in sorted(idle)])
            continue
        part = searched
        prefix_ops = [part[i] for i in prefix]
        stuck_ops = [part[i] for i in stuck]
        fragment = sorted(prefix_ops + stuck_ops, key=lambda op: (op.call, op.return_))
        if failure is None or len(fragment) < len(failure.fragment):
            failure = Result(False, model, [], fragment, prefix_ops, stuck_ops, list(part))
    if failure is not None:
        return failure
    return Result(True, model, linearization=_merge(orders))

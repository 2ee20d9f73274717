"""Exhaustive breadth-first exploration of a model's state space, TLC style.

A *model* offers every choice explicitly (Stateright's discipline): its initial states, and for
each state the labelled actions that lead to successor states. The explorer visits every
reachable state once, checks the model's invariants in each, and, because the search is breadth
first, returns the *shortest* run that breaks one.

A model is any object with:

``init_states() -> Iterable[State]``
    The initial states.
``actions(state) -> Iterable[tuple[str, State]]``
    ``(label, successor)`` pairs; an empty iterable means the state is terminal (or deadlocked).
``invariants() -> Mapping[str, Callable[[State], bool]]``
    Named predicates that must hold in every reachable state.

States must be hashable and compare by value (tuples, frozensets, frozen dataclasses).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

State = Hashable


class Model(Protocol):
    """What :func:`explore` needs of a model."""

    def init_states(self) -> Iterable[State]: ...

    def actions(self, state: State) -> Iterable[tuple[str, State]]: ...

    def invariants(self) -> Mapping[str, Callable[[State], bool]]: ...


class StateLimitExceeded(RuntimeError):
    """The search found more distinct states than ``max_states`` allowed."""


@dataclass(frozen=True)
class Violation:
    """The shortest run from an initial state to a state that breaks an invariant.

    Attributes
    ----------
    invariant : str
        Name of the broken invariant.
    states : tuple
        The states of the run, first to last (the last one breaks the invariant).
    actions : tuple of str
        ``actions[k]`` leads from ``states[k]`` to ``states[k + 1]``.
    """

    invariant: str
    states: tuple
    actions: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.states)

    def describe(self) -> str:
        """The run as text: one line per step, then the broken invariant."""
        lines = [f"  0  initial   {self.states[0]}"]
        for k, (label, state) in enumerate(zip(self.actions, self.states[1:], strict=True), 1):
            lines.append(f"{k:3d}  {label}   {state}")
        lines.append(f"violates {self.invariant}")
        return "\n".join(lines)


@dataclass
class Result:
    """What an exploration found.

    Attributes
    ----------
    distinct_states : int
        Number of distinct states reached (TLC's "distinct states").
    depth : int
        Length of the longest shortest path from an initial state, counting the initial state
        as 1 (TLC's "depth of the complete state graph").
    violation : Violation or None
        The shortest run to a broken invariant, if any; the search stops at the first one.
    transitions : int
        Number of successor states generated (TLC's "states generated", less the initial ones).
    terminal : list
        States with no successor (deadlocks, or final states), in the order found.
    graph : dict or None
        With ``keep_graph=True``: every state mapped to its ``(label, successor)`` list.
    """

    distinct_states: int
    depth: int
    violation: Violation | None
    transitions: int
    terminal: list = field(default_factory=list)
    graph: dict | None = None


def explore(
    model: Model,
    max_states: int | None = None,
    *,
    keep_graph: bool = False,
    progress: bool | None = None,
) -> Result:
    """Visit every state reachable in ``model``, breadth first; check its invariants.

    Parameters
    ----------
    model : Model
        See the module docstring.
    max_states : int, optional
        Stop with :class:`StateLimitExceeded` once more distinct states than this are found.
    keep_graph : bool
        Also return the whole state graph (for drawing small models).
    progress : bool, optional
        Show a progress bar (tqdm.auto); by default only for searches past 20,000 states.

    Returns
    -------
    Result
    """
    if max_states is not None and (not isinstance(max_states, int) or max_states < 1):
        raise ValueError(f"max_states must be a positive int, got {max_states!r}")
    invariants = list(model.invariants().items())
    parent: dict[State, tuple[State, str] | None] = {}
    depth_of: dict[State, int] = {}
    queue: deque[State] = deque()
    graph: dict[State, list[tuple[str, State]]] | None = {} if keep_graph else None
    terminal: list[State] = []
    transitions = 0
    bar = None

    def violation_at(state: State) -> Violation | None:
        for name, holds in invariants:
            if not holds(state):
                return _path_to(state, name, parent)
        return None

    for state in model.init_states():
        if state in parent:
            continue
        parent[state] = None
        depth_of[state] = 1
        queue.append(state)
        bad = violation_at(state)
        if bad:
            return Result(len(parent), 1, bad, 0, terminal, graph)

    depth = 1 if parent else 0
    try:
        while queue:
            state = queue.popleft()
            d = depth_of[state]
            successors = list(model.actions(state))
            if graph is not None:
                graph[state] = successors
            if not successors:
                terminal.append(state)
            for label, nxt in successors:
                transitions += 1
                if nxt in parent:
                    continue
                parent[nxt] = (state, label)
                depth_of[nxt] = d + 1
                depth = max(depth, d + 1)
                if max_states is not None and len(parent) > max_states:
                    raise StateLimitExceeded(
                        f"more than max_states={max_states} distinct states "
                        f"(reached depth {depth}); raise max_states or shrink the model"
                    )
                bad = violation_at(nxt)
                if bad:
                    return Result(len(parent), depth, bad, transitions, terminal, graph)
                queue.append(nxt)
            if bar is None and (progress or (progress is None and len(parent) > 20_000)):
                bar = _progress_bar(len(parent))
            if bar is not None and len(parent) - bar.n >= 1000:
                bar.update(len(parent) - bar.n)
    finally:
        if bar is not None:
            bar.update(len(parent) - bar.n)
            bar.close()
    return Result(len(parent), depth, None, transitions, terminal, graph)


def _progress_bar(start: int) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=None, initial=start, unit=" states", desc="exploring", mininterval=0.5)


def _path_to(state: State, invariant: str, parent: Mapping[State, tuple[State, str] | None]) -> Violation:
    states = [state]
    labels: list[str] = []
    link = parent[state]
    while link is not None:
        prev, label = link
        states.append(prev)
        labels.append(label)
        link = parent[prev]
    return Violation(invariant, tuple(reversed(states)), tuple(reversed(labels)))

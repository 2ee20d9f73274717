"""The named conditions that ``run until=NAME`` waits for.

Each condition is built from the running simulation and the options written after it (``run
until=committed value=b on=3``) and returns a predicate ``holds(sim) -> bool``. The set is small
and fixed on purpose: a transcript says what it waits for in words a reader can look up here.

========== ======================================== ==============================================
name       options                                  holds when
========== ======================================== ==============================================
leader     ``[node=N] [other_than=N]``              ``sim.leader()`` is a node (N, not N)
elected    ``[other_than=N]``                       a leader of the newest live term has committed
                                                    an entry of its own term (Raft's no-op, §8)
settled    (none)                                   an established leader, and every other live
                                                    node follows it and is in sync (ZAB)
committed  ``value=V | count=K, on=N|(N,..)|all``   every node of ``on`` has committed V / K items
delivered  ``message=TYPE [to=N]``                  a message of that type was delivered (to N)
                                                    since the run began
decided    (none)                                   every live node has an outcome (2PC, 3PC)
========== ======================================== ==============================================

Conditions read the simulation through public methods (``leader()``, ``committed(i)``,
``outcome()``, the trace) and the nodes' status reports (``sim.status(i)``); one that needs
something a protocol does not have says so instead of waiting forever.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from zablib.core import Message
from zablib.sim import Simulation

Predicate = Callable[[Simulation], bool]


def _method(sim: Simulation, name: str, condition: str) -> None:
    if not callable(getattr(sim, name, None)):
        raise ValueError(f"condition {condition!r} needs sim.{name}(), which a "
                         f"{type(sim).__name__} does not have")


def _reports(sim: Simulation, condition: str, names: tuple[str, ...]) -> None:
    """Raise ValueError unless the nodes' status reports carry the protocol-specific ``names``."""
    report = sim.status(sim.node_ids[0])
    missing = [name for name in names if name not in report.extra]
    if missing:
        raise ValueError(f"condition {condition!r} needs nodes that report {', '.join(names)}; "
                         f"a {type(sim.nodes[report.node]).__name__} does not report "
                         f"{', '.join(missing)}")


def _nodes(sim: Simulation, on: Any) -> tuple[int, ...]:
    if on == "all":
        return sim.node_ids
    ids = on if isinstance(on, tuple) else (on,)
    for i in ids:
        if i not in sim.nodes:
            raise ValueError(f"on= names node {i!r}; nodes are {list(sim.node_ids)}")
    if not ids:
        raise ValueError("on= names no node")
    return ids


def leader(sim: Simulation, start: int, node: int | None = None,
           other_than: int | None = None) -> Predicate:
    _method(sim, "leader", "leader")

    def holds(s: Any) -> bool:
        current = s.leader()
        return current is not None and current != other_than and node in (None, current)
    return holds


def elected(sim: Simulation, start: int, other_than: int | None = None) -> Predicate:
    _method(sim, "leader", "elected")

    def holds(s: Any) -> bool:
        current = s.leader()
        if current is None or current == other_than:
            return False
        leader = s.status(current)
        # A deposed leader that has not yet heard of the newer term does not count.
        newest = max(s.status(i).term for i in s.node_ids if s.is_up(i))
        # Only a leader writes entries of its term, so its log's last committed row is of its
        # term once it has committed its first entry (Raft's no-op).
        return (leader.term == newest and leader.commit > 0
                and leader.log[leader.commit - 1].term == leader.term)
    return holds


def settled(sim: Simulation, start: int) -> Predicate:
    _method(sim, "leader", "settled")
    _reports(sim, "settled", ("phase",))

    def holds(s: Any) -> bool:
        current = s.leader()
        if current is None:
            return False
        return all(st.role == "following" and st.leader == current and st.extra["phase"] == "synced"
                   for st in (s.status(i) for i in s.node_ids if s.is_up(i) and i != current))
    return holds


def committed(sim: Simulation, start: int, on: Any, value: Any = None,
              count: int | None = None) -> Predicate:
    _method(sim, "committed", "committed")
    if (value is None) == (count is None):
        raise ValueError("condition 'committed' takes value=V or count=K (one of them)")
    ids = _nodes(sim, on)
    if count is not None:
        return lambda s: all(len(s.committed(i)) >= count for i in ids)
    return lambda s: all(value in s.committed(i) for i in ids)


def _message_type(sim: Simulation, name: str) -> type[Message]:
    """The message class called ``name`` in the module of the simulation or of its nodes."""
    homes = [type(sim).__module__] + [type(n).__module__ for n in sim.nodes.values()]
    for home in dict.fromkeys(homes):
        kind = getattr(sys.modules.get(home), name, None)
        if isinstance(kind, type) and issubclass(kind, Message):
            return kind
    raise ValueError(f"no message type {name!r} in {', '.join(dict.fromkeys(homes))}")


def delivered(sim: Simulation, start: int, message: str, to: int | None = None) -> Predicate:
    kind = _message_type(sim, message)
    seen = [start, False]

    def holds(s: Simulation) -> bool:
        # Look only at the events since the last question: a run can be thousands of steps.
        if not seen[1]:
            events = s.trace[seen[0]:]
            seen[0] = len(s.trace)
            seen[1] = any(e.kind == "deliver" and isinstance(e.message, kind)
                          and to in (None, e.node) for e in events)
        return seen[1]
    return holds


def decided(sim: Simulation, start: int) -> Predicate:
    _method(sim, "outcome", "decided")
    return lambda s: all(v is not None for i, v in s.outcome().items() if s.is_up(i))


#: Every condition ``run until=`` knows, by name.
CONDITIONS: dict[str, Callable[..., Predicate]] = {
    "leader": leader,
    "elected": elected,
    "settled": settled,
    "committed": committed,
    "delivered": delivered,
    "decided": decided,
}

"""What a run looks like at one moment: the failure panel's summary, as data and as text.

:func:`summarize` asks a simulation the questions its protocol can answer (``leader()``,
``outcome()``, ``committed(i)`` ...) and runs its invariants; the answers are a :class:`Summary`,
plain data that tests and notebooks read field by field. :meth:`Summary.render` is its one text
form, the one the failure panel (:mod:`zablib.widgets`) shows under its pictures. Like
:mod:`zablib.viz`, this is a view: it reads a simulation and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from zablib.core import NodeId
from zablib.invariants import InvariantViolation
from zablib.sim import Simulation
from zablib.trace import Event


@dataclass(frozen=True)
class Summary:
    """What a simulation looks like at one moment, as plain data (see :func:`summarize`).

    A protocol answer the simulation cannot give (2PC has no leader, Raft no ``outcome()``) is
    None. Values are as the simulation returned them.

    Attributes
    ----------
    time : float
        Simulated time in ms.
    events : int
        Length of the trace.
    crashed : tuple of node ids
        The nodes down now, sorted.
    leader_role : str or None
        ``"primary"`` or ``"leader"``: the simulation's word for its leader, if it has one.
    leader : node id or None
        Its answer to ``primary()``/``leader()``.
    outcome : dict or None
        ``outcome()`` of an atomic commit: ``{node: "commit" | "abort" | None}``.
    blocked, acknowledged, lost_writes : list or None
        The answers of ``blocked()``, ``acknowledged()``, ``lost_writes()``.
    committed : dict or None
        ``{node: committed(node)}`` for every node.
    invariants : int
        How many invariants ``sim.check()`` ran.
    broken : str or None
        The name of the invariant found broken (``"agreement"``), None if all hold.
    violation : str or None
        Its full message (``"agreement violated: node 0 decided ..."``).
    last_events : tuple of Event
        The last events of the trace.
    """

    time: float
    events: int
    crashed: tuple[NodeId, ...] = ()
    leader_role: str | None = None
    leader: NodeId | None = None
    outcome: dict[NodeId, str | None] | None = None
    blocked: list[Any] | None = None
    acknowledged: list[Any] | None = None
    lost_writes: list[Any] | None = None
    committed: dict[NodeId, list[Any]] | None = None
    invariants: int = 0
    broken: str | None = None
    violation: str | None = None
    last_events: tuple[Event, ...] = ()

    @property
    def holds(self) -> bool:
        """True when every invariant held."""
        return self.violation is None

    def render(self, events: bool = True) -> str:
        """The summary as text: one line per fact, then (with ``events``) the last events.

        This is the text under the failure panel's pictures.
        """
        out = [f"t = {self.time:.1f} ms   events: {self.events}   "
               f"crashed: {list(self.crashed) if self.crashed else 'none'}"]
        if self.leader_role is not None:
            out.append(f"{self.leader_role}: {self.leader}")
        if self.outcome is not None:
            out.append("outcome: " + ", ".join(f"{i}={self.outcome[i]}" for i in sorted(self.outcome)))
        for name in ("blocked", "acknowledged", "lost_writes"):
            value = getattr(self, name)
            if value is not None:
                out.append(f"{name}: {value!r}")
        for i, values in (self.committed or {}).items():
            out.append(f"committed({i}): {values!r}")
        if self.violation is not None:
            out.append(f"INVARIANT BROKEN: {self.violation}")
        else:
            out.append(f"invariants: {self.invariants} checked, all hold")
        if events:
            out.append("--- last events ---")
            out.append("\n".join(e.describe() for e in self.last_events))
        return "\n".join(out)


def summarize(sim: Simulation, lines: int = 8) -> Summary:
    """What ``sim`` looks like now: time, crashed nodes, protocol answers, invariants, the last
    ``lines`` events.

    Protocol answers are read when the simulation has them: ``primary()`` or ``leader()``,
    ``outcome()``, ``blocked()``, ``acknowledged()``, ``lost_writes()`` and ``committed(i)``
    for every node; then ``sim.check()`` says whether every invariant holds.
    """
    def answer(name: str) -> Any:
        method = getattr(sim, name, None)
        return method() if callable(method) else None

    # Asked in the order the text shows them, the invariants last, as a reader would.
    role = next((name for name in ("primary", "leader") if callable(getattr(sim, name, None))), None)
    leader = answer(role) if role else None
    outcome, blocked, acknowledged, lost_writes = (
        answer(name) for name in ("outcome", "blocked", "acknowledged", "lost_writes"))
    committed = None
    if callable(getattr(sim, "committed", None)):
        committed = {i: sim.committed(i) for i in sim.node_ids}
    broken = violation = None
    try:
        sim.check()
    except InvariantViolation as exc:
        broken, violation = exc.invariant, str(exc)
    return Summary(
        time=sim.now, events=len(sim.trace), crashed=tuple(sorted(sim.crashed)),
        leader_role=role, leader=leader, outcome=outcome, blocked=blocked,
        acknowledged=acknowledged, lost_writes=lost_writes, committed=committed,
        invariants=len(sim.invariants), broken=broken, violation=violation,
        last_events=tuple(sim.trace[-lines:]) if lines > 0 else (),
    )

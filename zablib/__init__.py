"""zablib: distributed agreement protocols as pure state machines, and a simulator to break them.

The kernel (``core``, ``sim``, ``network``, ``trace``, ``invariants``) is protocol-agnostic;
each module of :mod:`zablib.protocols` provides ``cluster(n, *, seed=0, **options)`` returning a
:class:`~zablib.sim.Simulation` with protocol-level questions added, and every node reads the
same way through ``sim.status(i)`` (a :class:`~zablib.core.NodeStatus`).
"""

from zablib.core import LogRow, Message, Node, NodeStatus, Output
from zablib.invariants import InvariantViolation
from zablib.network import LinkConfig, constant, exponential, uniform
from zablib.sim import Simulation, SimulationError
from zablib.trace import Event, Trace

__all__ = [
    "Event",
    "InvariantViolation",
    "LinkConfig",
    "LogRow",
    "Message",
    "Node",
    "NodeStatus",
    "Output",
    "Simulation",
    "SimulationError",
    "Trace",
    "constant",
    "exponential",
    "uniform",
]
__version__ = "0.1.0"

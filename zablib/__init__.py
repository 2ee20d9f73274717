"""zablib: distributed agreement protocols as pure state machines, and a simulator to break them.

The kernel (``core``, ``sim``, ``network``, ``trace``, ``invariants``) is protocol-agnostic;
each module of :mod:`zablib.protocols` provides ``cluster(n, *, seed=0, **options)`` returning a
:class:`~zablib.sim.Simulation` with protocol-level questions added.
"""

from zablib.core import Message, Node, Output
from zablib.invariants import InvariantViolation
from zablib.network import LinkConfig, constant, exponential, uniform
from zablib.sim import Simulation, SimulationError
from zablib.trace import Event, Trace

__all__ = [
    "Event",
    "InvariantViolation",
    "LinkConfig",
    "Message",
    "Node",
    "Output",
    "Simulation",
    "SimulationError",
    "Trace",
    "constant",
    "exponential",
    "uniform",
]
__version__ = "0.1.0"

"""Protocol nodes as pure state machines.

A node never does I/O, never reads a clock and never draws random numbers on its own. The
simulator hands it an input (a start, a message, a timer, a client request) together with the
current simulated time, and the node answers with an :class:`Output`: messages to send, timers to
set or cancel, values to persist, and notes for the trace. This is the design of etcd-io/raft, and
it is what lets one protocol object drive a widget, a random fault campaign and an exhaustive
search alike.

Crash and recovery follow from it. The simulator owns each node's stable storage (a plain ``dict``)
and applies ``Output.persist`` to it *before* it sends the output's messages, so a node never says
something it has not yet written down. A crash throws the node object away; recovery builds a new
one from the stable storage alone. Volatile state is therefore lost by construction, not by
convention.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

NodeId = int
Delay = float | tuple[float, float]
"""A timer delay: a fixed number of milliseconds, or ``(low, high)`` to draw uniformly from the
simulator's seeded random generator (for example Raft's randomised election timeout)."""


@dataclass(frozen=True)
class Message:
    """Base class of protocol messages.

    Subclasses are frozen dataclasses whose fields are plain, hashable values (ints, strings,
    tuples, other frozen dataclasses), so that messages can be hashed by the explorer and printed
    identically in every run.
    """

    def describe(self) -> str:
        """Return a short, deterministic text for the trace, e.g. ``Write(seq=1, value='x')``."""
        return repr(self)


def _refuse(self, *args: Any, **kwargs: Any) -> None:
    raise TypeError("this part of the Output is empty and read-only: add to it through the "
                    "Output's methods (send, broadcast, set_timer, cancel_timer, write, note)")


class _NoItems(list):
    """The shared empty ``list`` of an Output part nothing was added to; refuses changes."""

    append = extend = insert = remove = pop = clear = sort = reverse = _refuse
    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse


class _NoEntries(dict):
    """The shared empty ``dict`` of an Output part nothing was added to; refuses changes."""

    __setitem__ = __delitem__ = update = setdefault = pop = popitem = clear = __ior__ = _refuse


_NO_ITEMS: list = _NoItems()
_NO_ENTRIES: dict = _NoEntries()


class Output:
    """What a node asks the simulator to do after handling one input.

    Build it with the methods (:meth:`send`, :meth:`broadcast`, :meth:`set_timer`,
    :meth:`cancel_timer`, :meth:`write`, :meth:`note`), which return the output itself so that
    calls can be chained; read it through the attributes. A part nothing was added to is a
    shared, empty, read-only ``[]`` or ``{}`` until the first addition: a node answers most
    inputs with a few parts, and the simulator builds one Output per input, so the parts
    nobody fills are never allocated.

    Attributes
    ----------
    sends : list of (destination, Message)
        Messages to send, in this order.
    timers : dict of name -> Delay
        Timers to (re)start. Setting a timer that is already pending replaces it.
    cancel : list of str
        Names of timers to cancel.
    persist : dict
        Key/value pairs to write to stable storage. They survive a crash.
    notes : list of (text, tag, value)
        Happenings ("became primary", "acknowledged 'x'") recorded in the trace as ``note``
        events. ``tag`` and ``value`` make a note machine-readable (``Trace.values(tag)``).
    reply : object
        For a client request: the answer handed back to the caller (e.g. whether it was accepted).

    Parameters
    ----------
    sends, timers, cancel, persist, notes, reply
        Initial contents of the attributes above (copied), all empty by default.
    """

    sends: list[tuple[NodeId, Message]] = _NO_ITEMS
    timers: dict[str, Delay] = _NO_ENTRIES
    cancel: list[str] = _NO_ITEMS
    persist: dict[str, Any] = _NO_ENTRIES
    notes: list[tuple[str, str, Any]] = _NO_ITEMS
    reply: Any = None

    def __init__(
        self,
        sends: Iterable[tuple[NodeId, Message]] = (),
        timers: Mapping[str, Delay] | None = None,
        cancel: Iterable[str] = (),
        persist: Mapping[str, Any] | None = None,
        notes: Iterable[tuple[str, str, Any]] = (),
        reply: Any = None,
    ):
        if sends:
            self.sends = list(sends)
        if timers:
            self.timers = dict(timers)
        if cancel:
            self.cancel = list(cancel)
        if persist:
            self.persist = dict(persist)
        if notes:
            self.notes = list(notes)
        if reply is not None:
            self.reply = reply

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return _parts(self) == _parts(other)

    __hash__ = None  # type: ignore[assignment]  # mutable, as the dataclass it replaces

    def __repr__(self) -> str:
        names = ("sends", "timers", "cancel", "persist", "notes", "reply")
        return "Output(" + ", ".join(
            f"{name}={part!r}" for name, part in zip(names, _parts(self), strict=True)) + ")"

    def send(self, dst: NodeId, msg: Message) -> Output:
        """Queue ``msg`` for ``dst`` and return self (so calls can be chained)."""
        if self.sends:
            self.sends.append((dst, msg))
        else:
            self.sends = [(dst, msg)]
        return self

    def broadcast(self, dsts: list[NodeId] | tuple[NodeId, ...], msg: Message) -> Output:
        """Queue ``msg`` for every node in ``dsts``, in the order given."""
        if dsts:
            if not self.sends:
                self.sends = []
            self.sends.extend([(dst, msg) for dst in dsts])
        return self

    def set_timer(self, name: str, delay: Delay) -> Output:
        """(Re)start the timer ``name`` to fire after ``delay`` milliseconds."""
        if name in self.cancel:
            self.cancel.remove(name)
        if not self.timers:
            self.timers = {}
        self.timers[name] = delay
        return self

    def cancel_timer(self, name: str) -> Output:
        """Cancel the timer ``name`` if it is pending."""
        if name in self.timers:
            del self.timers[name]
        if name not in self.cancel:
            if self.cancel:
                self.cancel.append(name)
            else:
                self.cancel = [name]
        return self

    def write(self, **values: Any) -> Output:
        """Persist ``values`` to stable storage before any of this output's messages leave."""
        if self.persist:
            self.persist.update(values)
        else:
            self.persist = values  # the keyword dict is this call's own: keep it
        return self

    def note(self, text: str, tag: str = "", value: Any = None) -> Output:
        """Record ``text`` in the trace as something this node did or decided.

        Give a ``tag`` (and a ``value``) when tests or the simulation must find the note again,
        e.g. ``out.note("acknowledged 'x'", tag="ack", value="x")``.
        """
        if self.notes:
            self.notes.append((text, tag, value))
        else:
            self.notes = [(text, tag, value)]
        return self


def _parts(out: Output) -> tuple:
    return (list(out.sends), dict(out.timers), list(out.cancel), dict(out.persist),
            list(out.notes), out.reply)


class Node:
    """Base class of a protocol participant.

    A subclass keeps its volatile state in attributes and its durable state in stable storage
    (written through ``Output.write``). The simulator calls exactly these methods; each returns an
    :class:`Output` and must not touch anything but ``self``.

    Parameters
    ----------
    node_id : int
        This node's id.
    peers : tuple of int
        Ids of every node in the cluster, including this one, in ascending order.
    storage : Mapping
        What this node persisted before its last crash (empty on first boot). Read it in
        ``__init__`` to rebuild durable state; do not mutate it.
    """

    #: Short role name shown in pictures ("leader", "follower", "primary" ...). Subclasses update it.
    role: str = "node"

    def __init__(self, node_id: NodeId, peers: tuple[NodeId, ...], storage: Mapping[str, Any]):
        self.id = node_id
        self.peers = peers
        self.others = tuple(p for p in peers if p != node_id)

    def on_start(self, now: float) -> Output:
        """Called once when the node boots or recovers from a crash."""
        return Output()

    def on_message(self, now: float, src: NodeId, msg: Message) -> Output:
        """Handle ``msg`` from ``src``."""
        return Output()

    def on_timer(self, now: float, name: str) -> Output:
        """Handle the expiry of the timer ``name``."""
        return Output()

    def on_client(self, now: float, request: Any) -> Output:
        """Handle a request from a client outside the cluster."""
        raise ValueError(f"node {self.id} ({type(self).__name__}) takes no client requests")

    def status(self) -> str:
        """One short line of state for pictures and panels; subclasses add what matters."""
        return self.role

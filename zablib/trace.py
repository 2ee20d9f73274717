"""The record of a simulation: one immutable :class:`Event` per thing that happened.

There is exactly one formatter, :meth:`Event.describe`, used by text output, golden files and the
notebooks, so that a trace reads the same everywhere and two runs can be compared byte for byte.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from zablib.core import Message, NodeId

#: Event kinds, in the words the trace prints.
KINDS = (
    "start",      # a node booted (first time) — node
    "send",       # node -> peer, message msg_id
    "deliver",    # peer -> node: the message arrived and was handled
    "drop",       # the message was lost; text says why
    "timer",      # a node's timer fired
    "client",     # a client request handed to a node
    "note",       # a node reports something it did or decided
    "crash",      # a node crashed
    "recover",    # a node restarted from its stable storage
    "partition",  # the network was split
    "heal",       # every partition removed
    "network",    # link settings changed (loss, delay ...)
)


@dataclass(frozen=True)
class Event:
    """One happening in a simulation.

    Attributes
    ----------
    time : float
        Simulated time in milliseconds.
    seq : int
        Position in the trace (0, 1, 2, ...); ties in time are ordered by it.
    kind : str
        One of :data:`KINDS`.
    node : int or None
        The node the event happened at (the sender for ``send``, the receiver for ``deliver``
        and ``drop``).
    peer : int or None
        The other end of a message (receiver of a ``send``, sender of a ``deliver``/``drop``).
    msg_id : int or None
        Identifies a message across its ``send`` and its ``deliver``/``drop`` events.
    text : str
        Timer name, note, reason of a drop, or description of a fault.
    message : Message or None
        The message of a ``send``, ``deliver`` or ``drop`` event (formatted only when described,
        which keeps recording cheap).
    tag, value : str, object
        Machine-readable label and payload of a ``note`` (see :meth:`Trace.values`).
    """

    time: float
    seq: int
    kind: str
    node: NodeId | None = None
    peer: NodeId | None = None
    msg_id: int | None = None
    text: str = ""
    message: Message | None = None
    tag: str = ""
    value: Any = None

    @property
    def src(self) -> NodeId | None:
        """Sender of a message event."""
        return self.node if self.kind == "send" else self.peer

    @property
    def dst(self) -> NodeId | None:
        """Receiver of a message event."""
        return self.peer if self.kind == "send" else self.node

    def describe(self) -> str:
        """Format this event as one line of text (the only formatter of the trace)."""
        head = f"{self.time:10.3f}  {self.kind:<9}"
        if self.kind in ("send", "deliver", "drop"):
            what = self.message.describe() if self.message is not None else ""
            extra = f"  ({self.text})" if self.text else ""
            body = f"{self.src} -> {self.dst}  #{self.msg_id} {what}{extra}"
        elif self.node is not None:
            body = f"{self.node}  {self.text}".rstrip()
        else:
            body = self.text
        return f"{head} {body}".rstrip()


_new_event = object.__new__

#: Fields of one record in :class:`Trace`'s flat store: ``time, kind, node, peer, msg_id, text,
#: message, note`` where ``note`` is None or ``(tag, value)``.
RECORD_WIDTH = 8


def _build(seq: int, time: float, kind: str, node: NodeId | None, peer: NodeId | None,
           msg_id: int | None, text: str, message: Message | None, note: tuple | None) -> Event:
    # Filling the instance dict directly builds the same frozen Event (same fields, equality,
    # hash and repr) as Event(...) does, without the frozen __init__'s ten object.__setattr__.
    event = _new_event(Event)
    fields = event.__dict__
    fields["time"] = time
    fields["seq"] = seq
    fields["kind"] = kind
    fields["node"] = node
    fields["peer"] = peer
    fields["msg_id"] = msg_id
    fields["text"] = text
    fields["message"] = message
    if note is None:
        fields["tag"] = ""
        fields["value"] = None
    else:
        fields["tag"], fields["value"] = note
    return event


class Trace:
    """An append-only list of events with a text rendering.

    Iterating and indexing yield :class:`Event` objects. The simulator records two events per
    message, so a trace is stored compactly: one flat list holds every event's fields
    (:data:`RECORD_WIDTH` slots per event), and the ``Event`` objects are built the first time
    someone looks at them, then kept. A run nobody inspects never builds them, and the garbage
    collector has one list to look at instead of two objects per event.

    Attributes
    ----------
    record : callable
        ``record((time, kind, node, peer, msg_id, text, message, note))`` appends one event
        given as a tuple of its fields (``note`` is None or ``(tag, value)``). It is the
        simulator's fast path; other code calls :meth:`append`.
    """

    def __init__(self) -> None:
        self._flat: list[Any] = []
        self._events: list[Event] = []  # the Event objects built so far: a prefix of the trace
        self.record: Callable[[tuple], None] = self._flat.extend

    def append(
        self,
        time: float,
        kind: str,
        node: NodeId | None = None,
        peer: NodeId | None = None,
        msg_id: int | None = None,
        text: str = "",
        message: Message | None = None,
        tag: str = "",
        value: Any = None,
    ) -> Event:
        """Record an event and return it."""
        seq = len(self._flat) // RECORD_WIDTH
        note = None if tag == "" and value is None else (tag, value)
        self._flat.extend((time, kind, node, peer, msg_id, text, message, note))
        return self[seq]

    def _build_until(self, stop: int) -> list[Event]:
        """Build the Event objects of positions ``< stop`` that are not built yet."""
        events = self._events
        flat = self._flat
        for seq in range(len(events), stop):
            k = seq * RECORD_WIDTH
            events.append(_build(seq, *flat[k:k + RECORD_WIDTH]))
        return events

    def __len__(self) -> int:
        return len(self._flat) // RECORD_WIDTH

    def __iter__(self) -> Iterator[Event]:
        # Like a list's iterator, this one also yields what is recorded while it runs.
        events = self._events
        done = 0
        while done < len(self):
            self._build_until(len(self))
            stop = len(events)
            yield from events[done:stop]
            done = stop

    def __getitem__(self, index):
        if isinstance(index, slice):
            return self._build_until(len(self))[index]
        size = len(self)
        position = index + size if index < 0 else index
        if not 0 <= position < size:
            raise IndexError("trace index out of range")
        return self._build_until(position + 1)[position]

    def count(self, *kinds: str) -> int:
        """How many events have one of ``kinds``, without building Event objects."""
        column = self._flat[1::RECORD_WIDTH]
        return sum(column.count(kind) for kind in set(kinds))

    def of_kind(self, *kinds: str) -> list[Event]:
        """The events whose kind is one of ``kinds``, in order."""
        return [e for e in self if e.kind in kinds]

    def notes(self, node: NodeId | None = None) -> list[str]:
        """The texts of ``note`` events, optionally of one node only."""
        return [e.text for e in self if e.kind == "note" and (node is None or e.node == node)]

    def values(self, tag: str, node: NodeId | None = None) -> list[Any]:
        """The values of ``note`` events tagged ``tag`` (optionally of one node), in order."""
        return [
            e.value
            for e in self
            if e.kind == "note" and e.tag == tag and (node is None or e.node == node)
        ]

    def describe(
        self,
        kinds: tuple[str, ...] | None = None,
        last: int | None = None,
        start: float | None = None,
        end: float | None = None,
    ) -> str:
        """Render the trace, one line per event.

        Parameters
        ----------
        kinds : tuple of str, optional
            Only events of these kinds (default: all).
        last : int, optional
            Only the last ``last`` of the selected events.
        start, end : float, optional
            Only events with ``start <= time <= end``.
        """
        events = [
            e for e in self
            if (kinds is None or e.kind in kinds)
            and (start is None or e.time >= start)
            and (end is None or e.time <= end)
        ]
        if last is not None:
            events = events[-last:] if last > 0 else []
        return "\n".join(e.describe() for e in events)

"""Protocol nodes as pure state machines.

A node never does I/O, never reads a clock and never draws random numbers on its own. The
simulator hands it an input (a start, a message, a timer, a client request) together with the
current simulated time, and the node answers with an :class:`Output`: messages to send, timers to
set or cancel, values to persist, and notes for the trace. This is the design of etcd-io/raft, and
it is what lets one protocol object drive a widget, a random fault campaign and an exhaustive
search alike.

What a node holds is read through one read-only door: :meth:`Node.report` returns a
:class:`NodeStatus` (its role, its term, whom it follows, its log as :class:`LogRow` rows and how
much of the log it knows is committed), and ``Simulation.status(i)`` hands it out. Pictures,
panels and notebooks read that, not a protocol's attributes.

Crash and recovery follow from it. The simulator owns each node's stable storage (a plain ``dict``)
and applies ``Output.persist`` to it *before* it sends the output's messages, so a node never says
something it has not yet written down. A crash throws the node object away; recovery builds a new
one from the stable storage alone. Volatile state is therefore lost by construction, not by
convention.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
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

    @property
    def size(self) -> int:
        """The message's length on the wire in bytes, an estimate: :data:`HEADER_BYTES` plus
        :func:`encoded_size` of each field.

        Only the simulator's resource model reads it (``zablib.network.Costs``: per-byte
        handling time and link bandwidth), so that a 1 MB value costs more than a 10-byte one.
        A message type whose real encoding differs a lot may override it with a property of
        its own.
        """
        return HEADER_BYTES + sum(encoded_size(getattr(self, name)) for name in _field_names(type(self)))


#: The bytes every message costs besides its fields: framing, length and type, as a wire
#: protocol would send (ZooKeeper's jute packets have a 4-byte length, then 8 for xid and type).
HEADER_BYTES = 16


def _field_names(cls: type) -> tuple[str, ...]:
    names = _FIELDS.get(cls)
    if names is None:
        names = _FIELDS[cls] = tuple(getattr(cls, "__dataclass_fields__", ()))
    return names


_FIELDS: dict[type, tuple[str, ...]] = {}


def encoded_size(value: Any) -> int:
    """The bytes ``value`` would take in a simple binary encoding (an estimate, deterministic).

    ``None`` and booleans 1 byte; ints and floats 8; ``str`` and ``bytes`` a 4-byte length
    plus their bytes (UTF-8 for text); tuples, lists, sets and dicts a 4-byte count plus their
    items; a dataclass (a txn, a vote, a nested message) the sum of its fields; anything else
    the length of its ``repr``.
    """
    if value is None or value is True or value is False:
        return 1
    kind = type(value)
    if kind is int or kind is float:
        return 8
    if kind is bytes:
        return 4 + len(value)
    if kind is str:
        return 4 + (len(value) if value.isascii() else len(value.encode("utf-8", "surrogatepass")))
    if isinstance(value, tuple | list | frozenset | set):
        return 4 + sum(encoded_size(item) for item in value)
    if isinstance(value, dict | MappingProxyType):
        return 4 + sum(encoded_size(k) + encoded_size(v) for k, v in value.items())
    if hasattr(kind, "__dataclass_fields__"):
        return sum(encoded_size(getattr(value, name)) for name in _field_names(kind))
    if isinstance(value, int | float):  # an IntEnum, a bool subclass ...
        return 8
    if isinstance(value, bytes | bytearray | memoryview):
        return 4 + len(value)
    return 4 + len(repr(value))


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


@dataclass(frozen=True)
class LogRow:
    """One entry of a node's log, as :class:`NodeStatus` shows it.

    Attributes
    ----------
    index : int
        Its position in the log, counting from 1.
    term : int or None
        The number of the leadership period in which it was written (Raft's term, ZAB's epoch,
        the first half of its zxid); None where entries carry no such number (primary-backup).
    command : object
        What the client asked for (None for an entry that is not a client command).
    kind : str
        ``"command"`` (a client command), ``"noop"`` (the empty entry a new Raft leader writes
        first, or a Paxos gap filled with a no-op), ``"config"`` (a change of the members:
        ``command`` is the new member ids) or ``"empty"`` (a Paxos slot this node knows nothing
        of yet, below one it knows).
    zxid : tuple of int or None
        ZAB only: the transaction id ``(epoch, counter)`` that names the entry; None elsewhere.
    """

    index: int
    term: int | None
    command: Any
    kind: str = "command"
    zxid: tuple[int, int] | None = None


@dataclass(frozen=True)
class NodeStatus:
    """What one node holds at one moment, read-only: the same fields for every protocol.

    Built by :meth:`Node.report` and read through ``Simulation.status(i)``. A field a protocol
    has no use for keeps its empty value (no term, no leader, an empty log); what only one
    protocol has is in ``extra``, named in that protocol's ``report()``.

    Attributes
    ----------
    node : int
        The node's id.
    up : bool
        False while the node is crashed: the other fields then show what it held when it
        crashed (its last run before the crash), not what it would hold on restart.
    role : str
        Its role: ``"leader"``, ``"follower"``, ``"primary"``, ``"coordinator"`` ...
    term : int or None
        The number of the leadership period it is in: Raft's term, ZAB's current epoch,
        primary-backup's view; None where the protocol has none (2PC, 3PC, ping-pong).
    leader : int or None
        The node it follows (its own id when it leads), if it knows one.
    log : tuple of LogRow
        Its log, first entry first (empty where the protocol keeps none).
    commit : int
        How many rows of ``log``, from the first, it knows are committed: its commit point.
        ``Simulation.committed(i)`` is the client commands among ``log[:commit]``.
    text : str
        Its one-line status, :meth:`Node.status` (the text the trace prints at start and
        recovery, and pictures write under the node).
    extra : mapping
        What only this protocol has, by name (ZAB's ``last_zxid``, Raft's ``voted_for`` ...),
        read-only.
    """

    node: NodeId
    up: bool
    role: str
    term: int | None = None
    leader: NodeId | None = None
    log: tuple[LogRow, ...] = ()
    commit: int = 0
    text: str = ""
    extra: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        # A copy behind a read-only view: neither the reader nor the node can change it later.
        object.__setattr__(self, "extra", MappingProxyType(dict(self.extra)))

    def committed(self) -> list[Any]:
        """The client commands among the committed rows, in order: what
        ``Simulation.committed(i)`` answers for this node."""
        return [row.command for row in self.log[: self.commit] if row.kind == "command"]


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

    def report(self) -> NodeStatus:
        """This node's state as a read-only :class:`NodeStatus`.

        The base class knows only the role and :meth:`status`; a protocol's node adds its term,
        leader, log and commit point. Marked up: ``Simulation.status(i)`` marks a crashed node.
        """
        return NodeStatus(self.id, True, self.role, text=self.status())

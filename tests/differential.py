"""Differential programs: the same client calls on any kazoo-compatible service, normalized to compare.

A *program* is data: a tuple of ``Call``s, each made by one of two clients. Client ``w`` (the
watcher) reads and sets watches; client ``x`` (the writer) creates, sets, deletes, reads and
commits transactions, with stale versions, ephemeral and sequential nodes and invalid arguments.
``random_program(seed)`` draws one from a seed, ``programs()`` is the hypothesis strategy; both use
the same generator (``build_program``), so a failing seed and a shrunk example read alike.

``run_program(program, make_client, root)`` runs a program on two fresh clients from
``make_client()`` (a ``kazoo.client.KazooClient`` on a real ZooKeeper, or a simulated client) and
returns a ``Transcript``: for every step the normalized result and the watch events each client
received because of it. Two services behave alike on a program when their transcripts are equal;
``Transcript.first_difference`` says where they part.

Normalization (what a transcript keeps, and why it is robust across two implementations):

- Paths are relative to the program's root: the root is ``~``, ``<root>/a`` is ``~/a``. A program
  never names its root, so one real ensemble runs many programs side by side (each under a fresh
  root) and a fresh simulated ensemble runs it under any root.
- Results: a created path (with its sequence suffix), data, ``True``, ``None``, children in the
  order the server lists them (ZooKeeper's HashSet order, which zablib's DataTree models, so it
  is compared as is), a transaction's list in order, and an error as
  ``!ClassName`` (kazoo's name: ``!NoNodeError``; client-side argument errors too: ``!TypeError``).
- A stat keeps version, cversion, aversion, dataLength, numChildren, the owner of an ephemeral as
  ``w``/``x`` (the client that created it; ``-`` for a persistent node) and czxid, mzxid, pzxid as
  *ranks*: after the run every distinct zxid seen anywhere in the transcript is replaced by its
  position in the sorted list of them (``z0``, ``z1``, ...). Ranks keep what a program can observe
  (which change came first, which nodes one transaction made) and drop what differs between two
  correct implementations: the epoch, session-creation transactions, and failed writes (ZooKeeper
  3.8 spends a zxid on each ErrorTxn; an implementation that spends none is not wrong). ctime and
  mtime are dropped (wall clock).
- Watch events: per client, in the order delivered, as ``(watcher, type, path, state)`` where
  ``watcher`` is ``data`` (set by exists/get) or ``child`` (get_children): kazoo hands a DELETED
  event to both kinds, data first.

Determinism on a real ZooKeeper: kazoo delivers watch events on its own callback thread, so
after every step of ``x`` the executor waits (``catch_up``) until ``w``'s server has applied
everything ``x`` has seen -- ``w`` calls ``sync("/")`` until a reply carries a zxid at least
``x``'s ``last_zxid`` (``sync`` alone is not enough when ``w`` talks to the leader, which answers a
sync like a read, possibly before applying a write a follower already acknowledged: one event
missing from its step in some 5,000 programs run under load fits that; unloaded, 0 of 10,951 writer
steps needed a second sync) -- and then until both clients' callback queues have run a marker
callback put at their end. A server queues a watch event when it applies the write that fires it,
before any later reply on that connection, so every event of ``x``'s step has been recorded when
the wait ends. No sleeping. A client that is not a real ``KazooClient`` (the simulated one)
delivers its events synchronously and needs no queue wait. These waits are not part of the
transcript.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

WATCHER = "w"
WRITER = "x"

# -- programs as data ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One client call: ``client`` (``w`` or ``x``), kazoo's method name, its arguments.

    Path arguments are *tokens* resolved against the program's root when it runs (``resolve``).
    ``watch=True`` asks the executor for its recording watcher. For ``transaction`` the arguments
    are ``Call``s of the transaction's own methods (create, delete, set_data, check), committed
    at once.
    """

    client: str
    op: str
    args: tuple = ()
    kwargs: tuple[tuple[str, Any], ...] = ()

    def __str__(self) -> str:
        inner = [repr(a) if not isinstance(a, Call) else a.render() for a in self.args]
        inner += [f"{k}={v!r}" for k, v in self.kwargs]
        prefix = f"{self.client}." if self.client else ""
        return f"{prefix}{self.op}({', '.join(inner)})"

    def render(self) -> str:
        """The call without its client, as a transaction's operation is written."""
        return str(Call("", self.op, self.args, self.kwargs))


Program = tuple[Call, ...]


def format_program(program: Program) -> str:
    """A program as numbered lines of Python-like calls (what a failure message shows)."""
    return "\n".join(f"{i:3d}  {call}" for i, call in enumerate(program))


def resolve(token: object, root: str) -> object:
    """The path a token names under ``root``: ``"/a"`` -> ``root + "/a"``, ``""`` -> ``root``.

    A token without a leading slash is a relative path: kazoo makes it absolute by prefixing
    ``/``, so ``"a"`` becomes ``root[1:] + "/a"`` (still under the root once kazoo normalizes it).
    Anything that is not a str (None, bytes) is passed through, for kazoo's TypeError.
    """
    if not isinstance(token, str):
        return token
    if token == "" or token.startswith("/"):
        return root + token
    return root.lstrip("/") + "/" + token


# -- generating programs -------------------------------------------------------------------------


class Chooser(Protocol):
    """What the generator needs from a source of choices (random.Random or hypothesis' draw)."""

    def choice(self, options: Sequence[Any]) -> Any: ...

    def integer(self, low: int, high: int) -> int: ...


class RandomChooser:
    """Choices from a seeded ``random.Random``."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def choice(self, options: Sequence[Any]) -> Any:
        return self.rng.choice(options)

    def integer(self, low: int, high: int) -> int:
        return self.rng.randint(low, high)


class DrawChooser:
    """Choices from hypothesis' ``draw`` (shrinks toward the first option and the low end)."""

    def __init__(self, draw: Callable[[Any], Any]) -> None:
        import hypothesis.strategies as st

        self.draw = draw
        self.st = st

    def choice(self, options: Sequence[Any]) -> Any:
        return self.draw(self.st.sampled_from(options))

    def integer(self, low: int, high: int) -> int:
        return self.draw(self.st.integers(low, high))


def weighted(**weights: int) -> tuple[str, ...]:
    """Names repeated by weight: a list to ``choice`` from (the first name is what shrinking reaches)."""
    return tuple(name for name, weight in weights.items() for _ in range(weight))


# Few paths, so that creates collide, deletes find children and watches fire. Sequential nodes
# under the root and under /a get suffixes 0000000000, 0000000001, ...: some tokens name them.
NODES = ("/a",) * 4 + ("/b",) * 3 + ("/a/b", "/a/b", "/a/c", "/a/c", "/b/a", "/a/b/c", "")
PARENTS = ("/a", "/a", "", "/b")
SEQUENTIAL = ("/s-", "/a/s-", "/a/", "/b")
SEQUENCED = ("/s-0000000000", "/s-0000000001", "/a/s-0000000001", "/a/0000000000")
# Kazoo normalizes some (relative, trailing or doubled slash), rejects others on the client
# (".", ".."), passes the rest to the server (forbidden characters), or raises TypeError.
ODD_PATHS = (
    "a", "a/b", "/a/", "//a", "/a//b", "/a/./b", "/a/../b", "/a\x00", "/\x01", "/a\ufff0", None, b"/a",
)
VALUES = (b"", b"v", b"vv", b"\x00\xff")
ODD_VALUES = (None, "text", 1)
VERSIONS = (-1, -1, 0, 0, 1, 2)
ODD_VERSIONS = (-2, 7, "1", None)

WRITER_OPS = weighted(
    create=6, set=3, delete=3, transaction=2, get=1, exists=1, get_children=1, sync=1, ensure_path=1
)
WATCHER_OPS = weighted(get=3, exists=3, get_children=3, sync=1)
TXN_OPS = weighted(create=3, set_data=2, delete=2, check=2)


def build_program(c: Chooser, length: int) -> Program:
    """Draw a program of ``length`` calls from the choices ``c`` makes."""
    builder = ProgramBuilder(c)
    return tuple(builder.call() for _ in range(length))


class ProgramBuilder:
    """Draws calls; remembers the paths of recent creates so that later calls often name them
    (a set, a watch, a delete of a node that exists), which a memoryless draw rarely does."""

    def __init__(self, c: Chooser) -> None:
        self.c = c
        self.recent: list[str] = []

    def call(self) -> Call:
        """One call of either client (the writer a little more often)."""
        c = self.c
        if c.choice((WRITER, WRITER, WRITER, WATCHER, WATCHER)) == WATCHER:
            op = c.choice(WATCHER_OPS)
            if op == "sync":
                return Call(WATCHER, op, (self.path(),))
            watch = c.choice((True, True, True, False))
            # Child watches mostly on the nodes that have children: the root, /a and /b.
            parent = op == "get_children" and c.choice((True, False))
            path = c.choice(PARENTS) if parent else self.path()
            return Call(WATCHER, op, (path,), (("watch", True),) if watch else ())
        op = c.choice(WRITER_OPS)
        if op == "create":
            return self.create(WRITER, makepath_allowed=True)
        if op == "set":
            return Call(WRITER, op, (self.path(), self.value()), self.version_kwarg())
        if op == "delete":
            kwargs = self.version_kwarg()
            if c.choice((False, False, False, True)):
                kwargs += (("recursive", True),)
            return Call(WRITER, op, (self.path(),), kwargs)
        if op == "transaction":
            return Call(WRITER, op, tuple(self.txn_op() for _ in range(c.integer(0, 4))))
        if op in ("get", "exists", "get_children") and c.choice((True, False, False, False)):
            # The writer's own watches: its events come before the answer to its write.
            return Call(WRITER, op, (self.path(),), (("watch", True),))
        return Call(WRITER, op, (self.path(),))

    def create(self, client: str, makepath_allowed: bool) -> Call:
        """A create by ``client``, or a transaction's create when ``client`` is "" (no makepath there)."""
        c = self.c
        sequence = c.choice((False, False, True))
        path = c.choice(SEQUENTIAL) if sequence and c.choice((True, True, False)) else self.path()
        if sequence and path in ("", "/"):
            # "<root>" + suffix would be a sibling of the root, numbered by the counter of "/",
            # which other programs share. KazooClient.create keeps a trailing slash for a
            # sequential node ("<root>/" + suffix, a child of the root), a transaction's create
            # drops it (so "/" there is the root again).
            path = "/" if client else "/s-"
        kwargs: tuple[tuple[str, Any], ...] = ()
        if c.choice((False, False, True)):
            kwargs += (("ephemeral", True),)
        if sequence:
            kwargs += (("sequence", True),)
        if makepath_allowed and c.choice((False, True)):
            kwargs += (("makepath", True),)
        if not sequence and isinstance(path, str):
            self.recent.append(path)
        value = self.value()
        return Call(client, "create", (path, value) if value != b"" else (path,), kwargs)

    def txn_op(self) -> Call:
        """One operation of a transaction."""
        c = self.c
        op = c.choice(TXN_OPS)
        if op == "create":
            return self.create("", makepath_allowed=False)
        if op == "set_data":
            return Call("", op, (self.path(), self.value()), self.version_kwarg())
        if op == "delete":
            return Call("", op, (self.path(),), self.version_kwarg())
        return Call("", op, (self.path(), self.version()))

    def path(self) -> object:
        c = self.c
        kind = c.choice(weighted(node=10, recent=16 if self.recent else 0, sequenced=2, odd=2))
        if kind == "recent":
            return c.choice(self.recent[-4:])
        return c.choice({"node": NODES, "sequenced": SEQUENCED, "odd": ODD_PATHS}[kind])

    def value(self) -> object:
        c = self.c
        return c.choice(VALUES) if c.choice(weighted(good=12, odd=1)) == "good" else c.choice(ODD_VALUES)

    def version(self) -> object:
        c = self.c
        return c.choice(VERSIONS) if c.choice(weighted(good=10, odd=1)) == "good" else c.choice(ODD_VERSIONS)

    def version_kwarg(self) -> tuple[tuple[str, Any], ...]:
        version = self.version()
        return () if version == -1 and self.c.choice((True, False)) else (("version", version),)


def random_program(seed: int, length: int | None = None) -> Program:
    """The program of ``seed`` (between 4 and 30 calls unless ``length`` says)."""
    c = RandomChooser(seed)
    return build_program(c, c.integer(4, 30) if length is None else length)


def programs(max_length: int = 30):
    """Hypothesis strategy of programs of 1 to ``max_length`` calls."""
    import hypothesis.strategies as st

    @st.composite
    def strategy(draw: Callable[[Any], Any]) -> Program:
        c = DrawChooser(draw)
        return build_program(c, c.integer(1, max_length))

    return strategy()


# -- transcripts ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Zxid:
    """A raw zxid, replaced by its rank when the transcript is finished."""

    value: int


@dataclass(frozen=True)
class Step:
    """One call's normalized result and the watch events each client received because of it."""

    index: int
    call: str
    result: Any
    events: tuple[tuple[str, tuple], ...]

    def __str__(self) -> str:
        text = f"{self.index:3d}  {self.call} -> {self.result!r}"
        for client, events in self.events:
            for event in events:
                text += f"\n       {client} got {event}"
        return text


@dataclass
class Transcript:
    """What a program did: one ``Step`` per call."""

    steps: list[Step] = field(default_factory=list)

    def __str__(self) -> str:
        return "\n".join(str(s) for s in self.steps)

    def first_differing_step(self, other: Transcript) -> int | None:
        """The index of the first step where the two transcripts differ, or None when equal."""
        for index, (mine, theirs) in enumerate(zip(self.steps, other.steps, strict=False)):
            if mine != theirs:
                return index
        if len(self.steps) != len(other.steps):
            return min(len(self.steps), len(other.steps))
        return None

    def first_difference(self, other: Transcript, names: tuple[str, str] = ("a", "b")) -> str | None:
        """None when equal, else the first step where they differ, both sides, with context."""
        index = self.first_differing_step(other)
        if index is None:
            return None
        before = [str(s) for s in self.steps[max(0, index - 3) : index]]
        sides = [
            f"{name}:\n{str(t.steps[index]) if index < len(t.steps) else '(no such step)'}"
            for name, t in zip(names, (self, other), strict=True)
        ]
        return "\n".join([f"first difference at step {index}:", *before, *sides])


def rank_zxids(steps: list[Step]) -> list[Step]:
    """Replace every ``Zxid`` by ``z<rank>`` among all distinct zxids of the transcript."""
    seen: set[int] = set()

    def collect(value: Any) -> None:
        if isinstance(value, Zxid):
            seen.add(value.value)
        elif isinstance(value, tuple | list):
            for item in value:
                collect(item)

    for step in steps:
        collect(step.result)
    rank = {z: f"z{i}" for i, z in enumerate(sorted(seen))}

    def replace(value: Any) -> Any:
        if isinstance(value, Zxid):
            return rank[value.value]
        if isinstance(value, tuple):
            return tuple(replace(v) for v in value)
        if isinstance(value, list):
            return [replace(v) for v in value]
        return value

    return [Step(s.index, s.call, replace(s.result), s.events) for s in steps]


class Normalizer:
    """Turns one service's answers into transcript values (see the module docstring)."""

    def __init__(self, root: str, sessions: dict[int, str]) -> None:
        self.root = root
        self.sessions = sessions

    def path(self, path: Any) -> Any:
        if isinstance(path, str) and (path == self.root or path.startswith(self.root + "/")):
            return "~" + path[len(self.root) :]
        return path

    def stat(self, stat: Any) -> tuple:
        owner = "-" if stat.ephemeralOwner == 0 else self.sessions.get(stat.ephemeralOwner, "?")
        return (
            "stat",
            f"version={stat.version}",
            f"cversion={stat.cversion}",
            f"aversion={stat.aversion}",
            f"dataLength={stat.dataLength}",
            f"numChildren={stat.numChildren}",
            f"owner={owner}",
            ("czxid", Zxid(stat.czxid)),
            ("mzxid", Zxid(stat.mzxid)),
            ("pzxid", Zxid(stat.pzxid)),
        )

    def value(self, op: str, value: Any) -> Any:
        """Normalize a returned value (or an exception instance) of the call ``op``."""
        if isinstance(value, BaseException):
            return "!" + type(value).__name__
        if is_stat(value):
            return self.stat(value)
        if isinstance(value, str):
            return self.path(value)
        if op == "get_children" and isinstance(value, list):
            return tuple(value)  # in the server's order: zablib models ZooKeeper's HashSet
        if isinstance(value, tuple | list):
            return tuple(self.value("", v) for v in value)
        return value

    def event(self, kind: str, event: Any) -> tuple:
        return (kind, str(event.type), self.path(event.path), str(event.state))


def is_stat(value: Any) -> bool:
    """True for a ZnodeStat of kazoo or of any look-alike (duck-typed on its fields)."""
    return all(hasattr(value, f) for f in ("czxid", "mzxid", "pzxid", "version", "ephemeralOwner"))


class Recorder:
    """A client's two watch callbacks (one for data watches, one for child watches) and its events."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []
        self.lock = threading.Lock()

    def data(self, event: Any) -> None:
        with self.lock:
            self.events.append(("data", event))

    def child(self, event: Any) -> None:
        with self.lock:
            self.events.append(("child", event))

    def take(self) -> list[tuple[str, Any]]:
        with self.lock:
            taken, self.events = self.events, []
        return taken


def drain_callbacks(client: Any, timeout: float = 10.0) -> None:
    """Wait until every callback already queued on a kazoo client's callback thread has run.

    Only a real ``kazoo.client.KazooClient`` has that thread; any other client (the simulated
    one) delivers its events synchronously and needs no wait.

    Raises
    ------
    RuntimeError
        When the marker has not run after ``timeout`` seconds (a stuck callback thread).
    """
    from kazoo.client import KazooClient
    from kazoo.protocol.states import Callback

    if not isinstance(client, KazooClient):
        return
    done = threading.Event()
    client.handler.dispatch_callback(Callback("watch", done.set, ()))
    if not done.wait(timeout):
        raise RuntimeError(f"kazoo's callback thread did not drain within {timeout} s")


def catch_up(watcher: Any, writer: Any, timeout: float = 10.0) -> None:
    """Make ``watcher``'s server apply everything ``writer`` has seen, and wait for the events.

    ``sync`` alone is not enough on a real ZooKeeper: a server that is the leader answers a sync
    like a read, possibly before it has applied a write another server already acknowledged.
    A reply carries the zxid its server had applied when it answered, and a server queues a
    watch event on the connection when it applies the write that fires it; so once a reply to
    ``watcher`` carries a zxid at least the writer's newest, every event of the writer's
    changes has been sent to ``watcher`` before that reply. Then the callback threads drain.

    Raises
    ------
    RuntimeError
        When ``watcher`` has not caught up after ``timeout`` seconds.
    """
    target = writer.last_zxid
    deadline = time.monotonic() + timeout
    watcher.sync("/")
    while watcher.last_zxid < target:
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"the watcher's server did not reach zxid {target:#x} (at {watcher.last_zxid:#x}) "
                f"within {timeout} s"
            )
        watcher.sync("/")
    for client in (watcher, writer):
        drain_callbacks(client, timeout)


def session_id(client: Any) -> int | None:
    """The client's session id (kazoo's ``client_id[0]``), or None."""
    client_id = getattr(client, "client_id", None)
    return client_id[0] if client_id else None


def run_program(program: Iterable[Call], make_client: Callable[[], Any], root: str = "/t") -> Transcript:
    """Run ``program`` on two fresh clients from ``make_client()`` under a fresh ``root``.

    Parameters
    ----------
    program
        The calls, in order.
    make_client
        Returns a new, not yet started, kazoo-compatible client; called twice (``w``, then ``x``).
    root
        An absolute path that does not exist yet; ``x`` creates it before the first call.

    Returns
    -------
    Transcript
        One normalized ``Step`` per call, zxids ranked.
    """
    clients = {WATCHER: make_client(), WRITER: make_client()}
    started = []
    try:
        for client in clients.values():
            client.start()
            started.append(client)
        clients[WRITER].create(root)
        catch_up(clients[WATCHER], clients[WRITER])  # or w's server may not have the root yet
        sessions = {session_id(c): name for name, c in clients.items()}
        normalize = Normalizer(root, sessions)
        recorders = {name: Recorder() for name in clients}
        steps = []
        for index, call in enumerate(program):
            result = perform(call, clients[call.client], recorders[call.client], root)
            if call.client == WRITER:
                catch_up(clients[WATCHER], clients[WRITER])
            else:
                drain_callbacks(clients[WATCHER])  # a read fires nothing: a cheap check that it did not
            events = []
            for name, recorder in recorders.items():
                if taken := recorder.take():
                    events.append((name, tuple(normalize.event(kind, e) for kind, e in taken)))
            steps.append(Step(index, str(call), normalize.value(call.op, result), tuple(events)))
        return Transcript(rank_zxids(steps))
    finally:
        for client in reversed(started):
            client.stop()
            client.close()


CONNECTION_TROUBLE = frozenset(
    {"!ConnectionLoss", "!SessionExpiredError", "!ConnectionClosedError", "!OperationTimeoutError"}
)
"""Results no program asks for (it injects no faults): a loaded machine's dropped connection."""


def connection_trouble(transcript: Transcript) -> bool:
    """True when a step's result (or a transaction's) is one of ``CONNECTION_TROUBLE``."""

    def troubled(value: Any) -> bool:
        if isinstance(value, tuple):
            return any(troubled(v) for v in value)
        return isinstance(value, str) and value in CONNECTION_TROUBLE

    return any(troubled(step.result) for step in transcript.steps)


def run_steadily(
    program: Iterable[Call], make_client: Callable[[], Any], fresh_root: Callable[[], str], attempts: int = 2
) -> Transcript:
    """``run_program`` again under a new root (up to ``attempts`` runs) while a connection to a
    real server drops in the middle; the last transcript otherwise (so the trouble shows)."""
    program = tuple(program)
    for _ in range(attempts):
        transcript = run_program(program, make_client, root=fresh_root())
        if not connection_trouble(transcript):
            break
    return transcript


def perform(call: Call, client: Any, recorder: Recorder, root: str) -> Any:
    """Make one call; return its value, or the exception it raised (as a value)."""
    try:
        if call.op == "transaction":
            transaction = client.transaction()
            for op in call.args:
                getattr(transaction, op.op)(resolve(op.args[0], root), *op.args[1:], **dict(op.kwargs))
            return transaction.commit()
        kwargs = dict(call.kwargs)
        if kwargs.get("watch"):
            kwargs["watch"] = recorder.child if call.op == "get_children" else recorder.data
        return getattr(client, call.op)(resolve(call.args[0], root), *call.args[1:], **kwargs)
    except Exception as error:  # a recorded outcome, not a failure of the machinery
        return error

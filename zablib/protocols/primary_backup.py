"""Naive primary-backup replication: the design the rest of the book improves on.

One node, the *primary*, takes every write, appends it to its log and forwards it to the other
nodes, the *backups* (Alsberg and Day's primary-backup scheme). Two ways to answer the client:

``mode="async"``
    The primary acknowledges a write as soon as it has logged it, and ships new writes to the
    backups in the background, in a batch every ``SHIP_MS`` milliseconds (as log shipping does).
    Fast, and it keeps working with backups down, but a write acknowledged just before the
    primary crashes may exist nowhere else: when a backup takes over, that write is gone
    although the client was told it succeeded.
``mode="sync"``
    The primary acknowledges a write only once *every* backup has logged it. Nothing
    acknowledged is lost, but a single unreachable backup stops all progress.

Failover is deliberately naive: a backup that has not heard from the primary for a (randomised)
timeout promotes itself, in a higher *view*, and its log becomes the truth. Nothing stops two
nodes that cannot hear each other from both being primary. Quorums, epochs and terms (chapters
4 and 5) are the fix.

Messages travel over FIFO links; lost or reordered messages are repaired by a full resync.
A backup takes appends and heartbeats only from the primary whose full log (``Sync``) it has
adopted in its current view, and it remembers that primary in stable storage: an ``Ack`` then
really means "my log is a prefix of yours", and one view's writes are acknowledged by at most one
primary. (Comparing log lengths alone is not enough: a recovered old primary holding a write
nobody else saw has a log as long as the new primary's, but different.)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from zablib.core import LogRow, Message, Node, NodeId, NodeStatus, Output
from zablib.invariants import check_contains
from zablib.network import LinkConfig, uniform
from zablib.sim import Simulation

HEARTBEAT_MS = 50.0
SHIP_MS = 20.0  # async mode ships new writes to the backups in batches, this often
FAILOVER_MS = (150.0, 300.0)
MODES = ("async", "sync")


@dataclass(frozen=True)
class Replicate(Message):
    """Primary -> backup: append ``value`` at position ``index`` (1-based) of the log."""

    view: int
    index: int
    value: Any


@dataclass(frozen=True)
class Heartbeat(Message):
    """Primary -> backup: I am primary of ``view`` and have shipped ``length`` log entries."""

    view: int
    length: int


@dataclass(frozen=True)
class Ack(Message):
    """Backup -> primary: my log has ``length`` entries, all matching yours."""

    view: int
    length: int


@dataclass(frozen=True)
class Behind(Message):
    """Backup -> primary: I could not append; send me your whole log."""

    view: int


@dataclass(frozen=True)
class Sync(Message):
    """Primary -> backup: replace your log with ``log`` (how a new primary imposes its history)."""

    view: int
    log: tuple


@dataclass(frozen=True)
class NewerView(Message):
    """Anyone -> a stale primary: view ``view`` has started; step down."""

    view: int


class ReplicaNode(Node):
    """A primary-backup replica.

    Durable state: ``view``, ``log`` and ``primary`` (whose log this node adopted in ``view``;
    None until a ``Sync`` arrives). Volatile state: role, what each backup has (``match``), which
    client writes still wait for an acknowledgement.
    """

    def __init__(self, node_id: NodeId, peers: tuple[NodeId, ...], storage: Mapping[str, Any],
                 mode: str = "async"):
        super().__init__(node_id, peers, storage)
        self.mode = mode
        self.view: int = storage.get("view", 1)
        self.log: tuple = storage.get("log", ())
        first_boot = "view" not in storage
        # Initially the lowest id is primary of view 1; a recovering node comes back as a backup.
        self.role = "primary" if first_boot and node_id == peers[0] else "backup"
        # Every log starts empty, i.e. equal to the first primary's: no Sync is needed in view 1.
        self.primary: NodeId | None = peers[0] if first_boot else storage.get("primary")
        self.match: dict[NodeId, int] = {}
        self.waiting: list[int] = []  # indexes of client writes not yet acknowledged (sync)
        self.shipped = len(self.log)  # async: entries already sent to the backups

    # -- inputs ------------------------------------------------------------------------------
    def on_start(self, now: float) -> Output:
        out = Output()
        if self.role == "primary":
            out.write(view=self.view, log=self.log, primary=self.id)
            return self._heartbeat(out)
        return out.set_timer("failover", FAILOVER_MS)

    def on_client(self, now: float, request: Any) -> Output:
        if self.role != "primary":
            return Output(reply=False)
        return self._step_primary_write(request)

    def on_timer(self, now: float, name: str) -> Output:
        if name == "heartbeat" and self.role == "primary":
            return self._heartbeat(Output())
        if name == "ship" and self.role == "primary":
            return self._ship()
        if name == "failover" and self.role == "backup":
            return self._take_over()
        return Output()

    def on_message(self, now: float, src: NodeId, msg: Message) -> Output:
        if msg.view < self.view:
            # Someone lives in an older view: tell them (a stale primary then steps down).
            return Output().send(src, NewerView(self.view))
        rival = (self.role == "primary" and isinstance(msg, Heartbeat | Replicate | Sync)
                 and src < self.id)  # two primaries of one view: the lower id keeps it
        if msg.view > self.view or rival:
            out = self._follow(src, msg.view)
        else:
            out = Output()
        if self.role == "primary":
            return self._step_primary(out, src, msg)
        return self._step_backup(out, src, msg)

    # -- roles -------------------------------------------------------------------------------
    def _step_primary_write(self, value: Any) -> Output:
        self.log = self.log + (value,)
        index = len(self.log)
        out = Output(reply=True).write(log=self.log)
        if self.mode == "async":
            out.note(f"acknowledged {value!r} to the client", tag="ack", value=value)
            if self.shipped == index - 1:
                out.set_timer("ship", SHIP_MS)  # the first write of a new batch
        else:
            out.broadcast(self.others, Replicate(self.view, index, value))
            self.shipped = index
            self.waiting.append(index)
        return out

    def _ship(self) -> Output:
        out = Output()
        for index in range(self.shipped + 1, len(self.log) + 1):
            out.broadcast(self.others, Replicate(self.view, index, self.log[index - 1]))
        self.shipped = len(self.log)
        return out

    def _step_primary(self, out: Output, src: NodeId, msg: Message) -> Output:
        if isinstance(msg, Ack):
            self.match[src] = max(self.match.get(src, 0), msg.length)
            if msg.length < self.shipped:  # it missed something already sent: resend it all
                out.send(src, Sync(self.view, self.log[: self.shipped]))
            self._acknowledge_ready(out)
        elif isinstance(msg, Behind):
            out.send(src, Sync(self.view, self.log[: self.shipped]))
        elif isinstance(msg, NewerView):
            pass  # handled by _follow when its view is higher
        return out

    def _step_backup(self, out: Output, src: NodeId, msg: Message) -> Output:
        if not isinstance(msg, Heartbeat | Replicate | Sync):
            return out  # late answers to a primary we no longer are
        if self.primary not in (None, src):
            return out  # a rival primary of our view: we already follow another one
        out.set_timer("failover", FAILOVER_MS)
        if self.primary is None and not isinstance(msg, Sync):
            return out.send(src, Behind(self.view))  # new view: adopt the primary's log first
        if isinstance(msg, Replicate):
            if msg.index == len(self.log) + 1:
                self.log = self.log + (msg.value,)
                out.write(log=self.log).send(src, Ack(self.view, len(self.log)))
            elif msg.index <= len(self.log) and self.log[msg.index - 1] == msg.value:
                out.send(src, Ack(self.view, len(self.log)))  # a duplicate
            else:
                out.send(src, Behind(self.view))
        elif isinstance(msg, Sync):
            if self.primary is None:
                self.primary = src
                out.write(primary=src)
            if msg.log != self.log:
                dropped = [v for v in self.log if v not in msg.log]
                if dropped:
                    out.note(f"discarded {dropped!r} to match primary {src}",
                             tag="discarded", value=tuple(dropped))
                self.log = msg.log
                out.write(log=self.log)
            out.send(src, Ack(self.view, len(self.log)))
        elif isinstance(msg, Heartbeat):
            if len(self.log) == msg.length:
                out.send(src, Ack(self.view, len(self.log)))
            else:
                out.send(src, Behind(self.view))  # missing or extra writes: ask for the full log
        return out

    # -- transitions -------------------------------------------------------------------------
    def _take_over(self) -> Output:
        self.view += 1
        self.role = "primary"
        self.primary = self.id
        self.match = {}
        self.waiting = []
        self.shipped = len(self.log)
        out = Output().write(view=self.view, primary=self.id)
        out.note(f"took over as primary of view {self.view} with {len(self.log)} writes",
                 tag="primary", value=self.view)
        out.cancel_timer("failover")
        out.broadcast(self.others, Sync(self.view, self.log))
        return self._heartbeat(out, announce=False)

    def _follow(self, src: NodeId, view: int) -> Output:
        """Enter ``view`` as a backup (of ``src`` if it is the one who sent a view message)."""
        out = Output()
        if self.role == "primary":
            lost = [self.log[i - 1] for i in self.waiting]
            out.note(f"stepped down: view {view} has begun", tag="step-down", value=view)
            if lost:
                out.note(f"writes {lost!r} were never acknowledged", tag="unacknowledged",
                         value=tuple(lost))
            out.cancel_timer("heartbeat").cancel_timer("ship")
        self.view = max(self.view, view)
        self.role = "backup"
        self.primary = None
        self.waiting = []
        out.write(view=self.view, primary=None)
        return out.set_timer("failover", FAILOVER_MS)

    def _heartbeat(self, out: Output, announce: bool = True) -> Output:
        if announce:
            out.broadcast(self.others, Heartbeat(self.view, self.shipped))
        return out.set_timer("heartbeat", HEARTBEAT_MS)

    def _acknowledge_ready(self, out: Output) -> None:
        """Sync mode: acknowledge each waiting write that every backup has logged."""
        if self.mode != "sync" or not self.waiting:
            return
        everyone = min(self.match.get(b, 0) for b in self.others)
        while self.waiting and self.waiting[0] <= everyone:
            value = self.log[self.waiting.pop(0) - 1]
            out.note(f"acknowledged {value!r} to the client", tag="ack", value=value)

    def status(self) -> str:
        return f"{self.role} v{self.view} log={len(self.log)}"

    def report(self) -> NodeStatus:
        """Role, view (as ``term``), the primary whose log it adopted (as ``leader``; None in a
        new view until a ``Sync`` arrives) and its log.

        Naive primary-backup has no commit point: a replica counts a write as done as soon as it
        has logged it, so ``commit`` is the whole log (and a later ``Sync`` can still take a
        write back). Log rows carry no term. ``extra``: ``mode`` (``"async"`` or ``"sync"``).
        """
        log = tuple(LogRow(k, None, value) for k, value in enumerate(self.log, 1))
        return NodeStatus(self.id, True, self.role, term=self.view, leader=self.primary, log=log,
                          commit=len(log), text=self.status(), extra={"mode": self.mode})


class PrimaryBackupSimulation(Simulation):
    """A :class:`~zablib.sim.Simulation` of primary-backup replicas with client-level questions."""

    mode: str

    def primary(self) -> NodeId | None:
        """The live node that considers itself primary of the highest view, or None."""
        live = [n for i, n in sorted(self.nodes.items()) if self.is_up(i) and n.role == "primary"]
        if not live:
            return None
        return max(live, key=lambda n: (n.view, -n.id)).id

    leader = primary

    def primaries(self) -> list[NodeId]:
        """Every live node that currently believes it is primary (more than one = split brain)."""
        return [i for i, n in sorted(self.nodes.items()) if self.is_up(i) and n.role == "primary"]

    def submit(self, value: Any) -> bool:
        """Send a client write to the current primary; True if a live primary took it."""
        p = self.primary()
        if p is None:
            return False
        return bool(self.request(p, value))

    def committed(self, node: NodeId) -> list[Any]:
        """The writes ``node`` has applied, in order, as it knows them (as it knew them when it
        crashed, while it is down): every write in its log.

        Naive primary-backup has no commit point: a replica applies a write as soon as it logs
        it, and every log write is durable, so this is also its log on stable storage. A
        primary's writes in async mode, or a backup's before a new primary's ``Sync``, may
        still be taken back: that is the design's flaw, not a different meaning.
        """
        return self.status(node).committed()

    def acknowledged(self) -> list[Any]:
        """Every write some primary acknowledged to the client, in order."""
        return self.trace.values("ack")

    def lost_writes(self) -> list[Any]:
        """Acknowledged writes missing from the current primary's log (empty if no primary)."""
        p = self.primary()
        if p is None:
            return []
        have = set(self.committed(p))
        return [v for v in self.acknowledged() if v not in have]


def durability(sim: PrimaryBackupSimulation) -> None:
    """Every acknowledged write is in the current primary's log."""
    p = sim.primary()
    if p is not None:
        check_contains(sim.acknowledged(), {p: sim.committed(p)})


def cluster(n: int = 3, *, seed: int = 0, mode: str = "async",
            link: LinkConfig | None = None) -> PrimaryBackupSimulation:
    """A primary-backup group of ``n`` replicas (ids 1..n); node 1 starts as primary.

    Parameters
    ----------
    n : int
        Number of replicas, at least 2; any of them may become primary.
    seed : int
        Seed of the run.
    mode : {"async", "sync"}
        When the primary acknowledges a write (see the module docstring).
    link : LinkConfig, optional
        Link settings; default uniform 1-10 ms delay, FIFO, no loss.
    """
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; use 'async' or 'sync'")
    if not isinstance(n, int) or isinstance(n, bool) or n < 2:
        raise ValueError(f"primary-backup needs at least 2 replicas, got {n!r}")
    sim = PrimaryBackupSimulation(
        lambda i, peers, storage: ReplicaNode(i, peers, storage, mode),
        range(1, n + 1),
        seed=seed,
        link=link or LinkConfig(delay=uniform(1.0, 10.0)),
        invariants=[durability],
    )
    sim.mode = mode
    return sim

"""Zab, ZooKeeper's atomic broadcast, with crash recovery.

Which Zab: by default **Zab 1.0**, the protocol ZooKeeper runs since 3.4 as its design page
*Zab1.0* (ZooKeeper wiki) specifies it, with ZooKeeper's fast leader election as phase 0;
``cluster(discovery="adopt")`` runs the discovery phase of the Zab paper instead (Junqueira,
Reed, Serafini, "Zab: High-performance broadcast for primary-backup systems", DSN 2011). The
two differ in one rule of phase 1, below.

A Zab server is *looking* (electing), *following* or *leading*. Every transaction gets a
**zxid** ``(epoch, counter)``, compared lexicographically: the epoch numbers the leadership that
proposed it, the counter orders its proposals. A server runs four phases:

Phase 0, election
    ZooKeeper's fast leader election. Each looking server votes for the best server it knows, by
    ``(current epoch, last zxid, id)``, and broadcasts notifications carrying its vote, its
    election round and its state. It adopts a better vote and broadcasts again, and decides once a
    quorum agrees with its vote (after a short *finalize* wait for a better vote). Servers that
    are already following or leading answer a looking server with their vote, so that a late
    joiner learns who leads.
Phase 1, discovery
    Followers send ``FollowerInfo`` with their accepted epoch. With a quorum (itself included),
    the prospective leader picks ``max(accepted epochs) + 1`` and sends ``NewEpoch``; a follower
    persists it as its accepted epoch and answers ``AckEpoch`` with its current epoch and its
    history's last zxid. What the leader does with a more recent history (higher current epoch,
    or the same and a higher last zxid) than its own is the ``discovery`` rule:

    ``"check"`` (default), Zab 1.0's: the election already chose the most up-to-date server
    among those that voted, so the leader only checks; told of a more recent history by a
    follower of its quorum, it disconnects and returns to election, where that history's vote
    wins unless a quorum elects without it. (ZooKeeper's code is gentler than its wiki page:
    ``Leader.waitForEpochAck`` refuses only that follower's connection, "Follower is ahead of
    the leader", and the leader gives up when ``initLimit`` passes without a quorum.)

    ``"adopt"``, the paper's: ``AckEpoch`` carries the follower's whole history, and once a
    quorum has acknowledged, the leader takes the most recent history among them and its own as
    its own before synchronising anyone. The election then need not prefer up-to-date servers
    at all (the paper's phase 0 is any leader oracle): even the broken ``"election-ignores-zxid"``
    loses nothing.
Phase 2, synchronisation
    The leader brings each follower to its own history with ``Diff`` (send what is missing),
    ``Trunc`` (drop proposals the leader does not have, then send what is missing) or ``Snap``
    (the follower is more than ``diff_limit`` proposals behind: send the whole history), then
    ``NewLeader``; the follower adopts the epoch as its current epoch and acknowledges. After a
    quorum of acknowledgements the leader commits its history and sends ``UpToDate``.
Phase 3, broadcast
    ``Proposal`` -> ``Ack`` -> ``Commit``, over FIFO links; a proposal commits once a quorum
    (the leader included) has logged it, and servers deliver in zxid order. ``Ping``/``Pong``
    are heartbeats: a follower that stops hearing from its leader, and a leader that stops
    hearing from a quorum, return to election.

Timers come from ZooKeeper's three knobs, ``cluster(tick_ms=, init_limit=, sync_limit=)`` as in
``zoo.cfg`` (:class:`Timers`): the leader pings every tick; a new leader must have a quorum
synchronised, and a new follower must have its ``NewLeader``, within ``init_limit`` ticks of
their election; once synchronised, ``sync_limit`` ticks of silence end a session; election
notifications are re-sent every 2-4 ticks. The defaults (a 20 ms tick, 10 and 5 ticks) suit the
book's 1-10 ms links; slower links need a longer tick, as a real ensemble's ``tickTime`` is set
above its network's delays. ZooKeeper gives each of its leader's three waits (epoch, epoch
acknowledgements, ``NewLeader`` acknowledgements) ``initLimit`` ticks of its own and its
follower ``initLimit`` ticks per message read; here ``init_limit`` bounds the whole of
establishment, which is stricter and, like every timer, never matters to safety.

Durable state (``Output.write``): ``accepted_epoch`` (and from whom it was accepted),
``current_epoch``, ``history`` (a tuple of ``(zxid, txn)``) and ``committed`` (the zxid up to
which the server has delivered). Everything else is volatile.

The simulator's links may lose or duplicate messages, which TCP would not. Each follower's
connection to its leader is a *session*: its messages carry a session id, duplicates are
recognised by zxid or phase, and a gap (a lost proposal) makes the follower drop the session and
start over with an election, as a broken TCP connection does in ZooKeeper.

Observers (``cluster(n, observers=k)``, ZooKeeper's ``peerType=observer``, since 3.3) are
servers that learn what is committed but never vote. An observer looks for the leader the way
a voter does, tallying the voters' notifications (voters answer an observer's notification but
never count it, and an observer never backs itself); it registers with ``ObserverInfo`` and is
synchronised with ``Diff``/``Trunc``/``Snap`` and ``NewLeader`` like a follower; then it gets one
``Inform`` per committed transaction (the transaction itself: it never sees a ``Proposal`` and
never sends an ``Ack``). No quorum counts it: not an election, not discovery or synchronisation,
not a commit, not the leader's contact with its quorum. Its accepted epoch does not raise the
leader's new epoch either, and its ``NewEpoch`` is always ``late``. An observer is ``"looking"``
while it looks for a leader and ``"observer"`` while it observes one (ZooKeeper's ``srvr`` says
``Mode: observer``). A lost ``Inform`` shows as a ``Ping`` whose commit point is beyond the
observer's history: it drops the leader and looks again, as a follower does on a lost proposal.

Static membership. Each server's ensemble is its own: ``voters`` (and ``observers``) come from
its configuration file, as in ZooKeeper before 3.5, and a server counts only the voters *it*
knows. Another server's notification, ``FollowerInfo`` or ``Ack`` is counted only if that server
is a voter in this server's configuration (a notification from one that is not is answered, as
ZooKeeper answers a non-voting server, and otherwise ignored). ``sim.restart(i, members=...)``
restarts a server with a new configuration file; a server not in its own configuration stays
idle, as ZooKeeper refuses to start ("My id is not in the peer list"). With every server
configured alike (the default) nothing of this shows; configurations that differ can have two
leaders at once (:func:`scenario_static_grow`).

Two simplifications, said plainly. ``AckEpoch`` carries, besides the last zxid, how many
proposals of each epoch the follower's history holds (``epochs``); ZooKeeper's leader finds the
same boundaries in its transaction log. And the history is never compacted: ``Snap`` sends the
history itself rather than a data-tree snapshot.

Broken variants, for the checkers to catch (``cluster(n, variant=...)``):

``"election-ignores-zxid"``
    Votes are ordered by server id alone and the leader skips the up-to-date check of discovery
    (with ``discovery="adopt"``, which has no such check, nothing breaks).
``"skip-trunc"``
    The leader sends ``Diff`` where ``Trunc`` is needed: the follower keeps proposals nobody
    committed.
``"commit-without-quorum"``
    The leader commits a proposal as soon as it has logged it itself.
``"volatile-commit-point"``
    The delivered zxid is not persisted: a recovered server delivers its history again.
``"observer-acks-count"``
    Observers are sent proposals and acknowledge them as followers do, and the leader counts
    their acknowledgements towards its quorum's size: a proposal commits once as many servers
    as a quorum of voters, observers included, have logged it.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import zablib.quorum as quorum
from zablib.core import LogRow, Message, Node, NodeId, NodeStatus, Output
from zablib.invariants import InvariantViolation, check_prefix_order, check_single_leader
from zablib.network import LinkConfig, uniform
from zablib.sim import Simulation, SimulationError

Zxid = tuple[int, int]
#: An election vote, ZooKeeper's ``Vote``: (current epoch, last zxid, id) of the server a looking
#: server backs as leader (not a message: notifications carry it).
Vote = tuple[int, Zxid, NodeId]

#: ZooKeeper's three timing knobs (``zoo.cfg``'s ``tickTime``, ``initLimit``, ``syncLimit``) as the
#: book runs them: a tick of 20 ms (ZooKeeper's default is 2000 ms: the book's clock runs a
#: hundred times faster, for links of 1-10 ms) and zoo.cfg's sample limits, 10 and 5 ticks.
TICK_MS = 20.0
INIT_LIMIT = 10
SYNC_LIMIT = 5
DIFF_LIMIT = 10  # a follower missing more proposals than this gets a Snap

ZERO: Zxid = (0, 0)
VARIANTS = ("correct", "election-ignores-zxid", "skip-trunc", "commit-without-quorum",
            "volatile-commit-point", "observer-acks-count")
#: What a prospective leader does in discovery with a follower's more recent history (see the
#: module docstring): Zab 1.0's ``"check"`` (ZooKeeper's rule) or the Zab paper's ``"adopt"``.
DISCOVERIES = ("check", "adopt")
LOOKING, FOLLOWING, LEADING = "looking", "following", "leading"
#: The role of an observer that has found its leader (ZooKeeper's ``Mode: observer``).
OBSERVING = "observer"
#: The role of a server that is not in its own configuration: it does nothing.
IDLE = "idle"
#: An observer's own vote: worse than any voter's, so that an observer never backs itself.
NO_VOTE: Vote = (-1, (-1, -1), -1)



def _check_limit(name: str, value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} is a number of ticks, an int >= 1 (as in zoo.cfg), got {value!r}")
    return value


@dataclass(frozen=True)
class Timers:
    """Every timer of a Zab server, derived from ZooKeeper's three knobs.

    Parameters
    ----------
    tick_ms : float
        ``tickTime``: the leader pings its followers, and a follower that has not yet heard from
        its leader sends ``FollowerInfo`` again, once a tick. (ZooKeeper pings every half tick
        and checks its quorum every tick; here one tick does both.)
    init_limit : int
        ``initLimit``, in ticks: how long a leader may take from its election until a quorum is
        synchronised, and how long a follower waits from its election until its leader has
        sent ``NewLeader``; past it, either returns to election.
    sync_limit : int
        ``syncLimit``, in ticks: once synchronised, a follower that has heard nothing from its
        leader, and a leader that has not heard from a quorum, for this long return to election.

    Attributes
    ----------
    ping_ms, connect_ms, init_ms, sync_ms : float
        A tick, a tick, ``init_limit`` ticks, ``sync_limit`` ticks.
    election_ms : (float, float)
        A looking server broadcasts its notification again after a random 2 to 4 ticks.
    finalize_ms : float
        Half a tick: how long a looking server whose vote a quorum shares waits for a better one
        (ZooKeeper's ``finalizeWait``). ZooKeeper's election timers are fixed milliseconds
        (``finalizeWait`` 200 ms; the notification interval doubles from 200 ms up to 60 s);
        here they scale with the tick, so that one knob slows the whole protocol down for slow
        links.
    """

    tick_ms: float = TICK_MS
    init_limit: int = INIT_LIMIT
    sync_limit: int = SYNC_LIMIT
    ping_ms: float = field(init=False)
    connect_ms: float = field(init=False)
    init_ms: float = field(init=False)
    sync_ms: float = field(init=False)
    election_ms: tuple[float, float] = field(init=False)
    finalize_ms: float = field(init=False)

    def __post_init__(self) -> None:
        tick = self.tick_ms
        if not isinstance(tick, int | float) or isinstance(tick, bool) or not 0 < tick < math.inf:
            raise ValueError(f"tick_ms (ZooKeeper's tickTime) must be a positive number of ms, "
                             f"got {tick!r}")
        _check_limit("init_limit", self.init_limit)
        _check_limit("sync_limit", self.sync_limit)
        tick = float(tick)
        derived = {"tick_ms": tick, "ping_ms": tick, "connect_ms": tick,
                   "init_ms": self.init_limit * tick, "sync_ms": self.sync_limit * tick,
                   "election_ms": (2 * tick, 4 * tick), "finalize_ms": tick / 2}
        for name, value in derived.items():
            object.__setattr__(self, name, value)

# -- messages --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Notification(Message):
    """Election: ``vote`` is who the sender backs in ``round``; ``state`` is its own state."""

    vote: Vote
    round: int
    state: str

    def describe(self) -> str:
        epoch, zxid, leader = self.vote
        return f"Notification(vote={leader} e{epoch} z{zxid}, round={self.round}, {self.state})"


@dataclass(frozen=True)
class FollowerInfo(Message):
    """Follower -> prospective leader: I follow you in ``session``; my accepted epoch."""

    session: int
    accepted_epoch: int


@dataclass(frozen=True)
class ObserverInfo(FollowerInfo):
    """Observer -> leader: I observe you in ``session``; my accepted epoch (ZooKeeper's
    ``OBSERVERINFO``): send me what is committed, never count me."""


@dataclass(frozen=True)
class NewEpoch(Message):
    """Leader -> follower: the new epoch is ``epoch``.

    ``late`` says the leader already has its quorum for ``epoch`` and will not count this
    follower's answer, so a follower that accepted ``epoch`` from another would-be leader may
    still join.
    """

    session: int
    epoch: int
    late: bool = False


@dataclass(frozen=True)
class AckEpoch(Message):
    """Follower -> leader: accepted; my current epoch and history (last zxid, per-epoch counts).

    With the paper's discovery (``discovery="adopt"``) it carries the whole ``history`` too.
    """

    session: int
    epoch: int
    current_epoch: int
    last_zxid: Zxid
    epochs: tuple[tuple[int, int], ...]
    history: tuple | None = field(default=None, repr=False)

    def describe(self) -> str:
        text = repr(self)
        return text if self.history is None else f"{text[:-1]}, history of {len(self.history)})"


@dataclass(frozen=True)
class Diff(Message):
    """Leader -> follower: append ``entries`` (the proposals you miss)."""

    session: int
    epoch: int
    entries: tuple


@dataclass(frozen=True)
class Trunc(Message):
    """Leader -> follower: drop every proposal after ``zxid``, then append ``entries``."""

    session: int
    epoch: int
    zxid: Zxid
    entries: tuple


@dataclass(frozen=True)
class Snap(Message):
    """Leader -> follower: replace your history with ``history``, delivered up to ``committed``."""

    session: int
    epoch: int
    history: tuple
    committed: Zxid

    def describe(self) -> str:
        return (f"Snap(session={self.session}, epoch={self.epoch}, {len(self.history)} entries, "
                f"committed={self.committed})")


@dataclass(frozen=True)
class NewLeader(Message):
    """Leader -> follower: your history is mine now; adopt ``epoch`` as current epoch."""

    session: int
    epoch: int


@dataclass(frozen=True)
class AckNewLeader(Message):
    """Follower -> leader: my history is yours and my current epoch is ``epoch``."""

    session: int
    epoch: int


@dataclass(frozen=True)
class UpToDate(Message):
    """Leader -> follower: the leader is established; deliver up to ``committed``."""

    session: int
    epoch: int
    committed: Zxid


@dataclass(frozen=True)
class Proposal(Message):
    """Leader -> follower: log ``txn`` as ``zxid``."""

    session: int
    zxid: Zxid
    txn: Any


@dataclass(frozen=True)
class Ack(Message):
    """Follower -> leader: I have logged everything up to ``zxid``."""

    session: int
    zxid: Zxid


@dataclass(frozen=True)
class Commit(Message):
    """Leader -> follower: deliver everything up to ``zxid``."""

    session: int
    zxid: Zxid


@dataclass(frozen=True)
class Inform(Message):
    """Leader -> observer: ``txn`` is committed as ``zxid``; log it and deliver it (ZooKeeper's
    ``INFORM``: a proposal and its commit in one message, for a server that does not vote)."""

    session: int
    zxid: Zxid
    txn: Any


@dataclass(frozen=True)
class Ping(Message):
    """Leader -> follower heartbeat: my last proposal and my commit point."""

    session: int
    last_zxid: Zxid
    committed: Zxid


@dataclass(frozen=True)
class Pong(Message):
    """Follower -> leader heartbeat: I have logged everything up to ``last_zxid``."""

    session: int
    last_zxid: Zxid


# -- history helpers -------------------------------------------------------------------------
def epoch_counts(history: tuple) -> tuple[tuple[int, int], ...]:
    """How many proposals of each epoch ``history`` holds, as ``((epoch, count), ...)``."""
    counts: dict[int, int] = {}
    for (epoch, counter), _ in history:
        counts[epoch] = max(counts.get(epoch, 0), counter)
    return tuple(sorted(counts.items()))


def common_point(leader: tuple, follower_epochs: tuple[tuple[int, int], ...]) -> Zxid:
    """The last zxid up to which a follower's history equals the leader's.

    Within an epoch every history holds a prefix ``(e, 1) .. (e, c)`` of that epoch's proposals
    (they come from one leader over a FIFO link), so comparing counts per epoch, oldest first,
    finds where the two histories part.
    """
    mine = dict(epoch_counts(leader))
    theirs = dict(follower_epochs)
    point = ZERO
    for epoch in sorted(set(mine) | set(theirs)):
        a, b = mine.get(epoch, 0), theirs.get(epoch, 0)
        if a == b:
            point = (epoch, a) if a else point
            continue
        low = min(a, b)
        return (epoch, low) if low else point
    return point


def choose_sync(leader: tuple, follower_last: Zxid, follower_epochs: tuple[tuple[int, int], ...],
                diff_limit: int = DIFF_LIMIT) -> tuple[str, Zxid, tuple]:
    """Decide how a leader with history ``leader`` brings a follower up to date.

    Returns ``(mode, point, entries)``: ``"diff"`` (append ``entries``), ``"trunc"`` (drop what
    follows ``point``, then append ``entries``) or ``"snap"`` (``entries`` is the whole history).

    >>> h = (((1, 1), "a"), ((1, 2), "b"), ((2, 1), "c"))
    >>> choose_sync(h, (1, 2), ((1, 2),))[0], choose_sync(h, (1, 3), ((1, 3),))[0]
    ('diff', 'trunc')
    """
    point = common_point(leader, follower_epochs)
    missing = tuple(entry for entry in leader if entry[0] > point)
    if len(missing) > diff_limit:
        return "snap", point, leader
    return ("diff" if point == follower_last else "trunc"), point, missing


# -- the server --------------------------------------------------------------------------------
@dataclass
class FollowerSession:
    """A leader's record of one follower's session (volatile): where the follower stands in
    discovery and synchronisation (``stage``), what it told the leader, what it has logged
    (``acked``) and when the leader last heard from it. ZooKeeper's leader keeps this in a
    ``LearnerHandler``, one per connected follower."""

    session: int
    accepted_epoch: int
    stage: str = "info"  # info -> epoch -> acked -> sync -> synced
    current_epoch: int = 0
    last_zxid: Zxid = ZERO
    epochs: tuple = ()
    history: tuple | None = None
    acked: Zxid = ZERO
    heard: float = 0.0
    observer: bool = False  # it registered with ObserverInfo: it gets Informs, never Proposals
    voting: bool = True  # a voter of this leader's configuration: it counts in its quorums


class ZabServer(Node):
    """One Zab server (see the module docstring for the phases).

    ``sync_rule`` is how a leader decides to synchronise a follower, :func:`choose_sync` unless
    ``cluster(choose_sync=...)`` replaces it; ``timers`` are its timers (:class:`Timers`, from
    ZooKeeper's tick and limits); ``discovery`` is ``"check"`` or ``"adopt"`` (:data:`DISCOVERIES`).

    ``voters`` and ``observers`` are this server's configuration (its ``zoo.cfg`` server list):
    by default every peer votes. It is an observer if it is among ``observers``, and idle if it
    is in neither (see the module docstring).
    """

    def __init__(self, node_id: NodeId, peers: tuple[NodeId, ...], storage: Mapping[str, Any],
                 variant: str = "correct", diff_limit: int = DIFF_LIMIT,
                 sync_rule: Callable[..., tuple[str, Zxid, tuple]] | None = None,
                 timers: Timers | None = None, discovery: str = "check",
                 voters: Collection[NodeId] | None = None, observers: Collection[NodeId] = ()):
        super().__init__(node_id, peers, storage)
        self.variant = variant
        self.discovery = discovery
        self.timers = Timers() if timers is None else timers
        self.diff_limit = diff_limit
        self.sync_rule = choose_sync if sync_rule is None else sync_rule
        # The ensemble as this server's configuration names it: who votes and acknowledges.
        self.voters = frozenset(peers) if voters is None else frozenset(voters)
        self.observer_ids = frozenset(observers) - self.voters
        self.observer = node_id in self.observer_ids
        self.idle = node_id not in self.voters and not self.observer
        if voters is not None or observers:
            # Notifications go to the servers of this server's configuration.
            self.others = tuple(sorted((self.voters | self.observer_ids) - {node_id}))
        self.accepted_epoch: int = storage.get("accepted_epoch", 0)
        self.accepted_from: NodeId | None = storage.get("accepted_from")
        self.epoch: int = storage.get("current_epoch", 0)
        self.history: tuple = storage.get("history", ())
        self.committed_zxid: Zxid = ZERO if variant == "volatile-commit-point" else storage.get(
            "committed", ZERO)
        self.role = LOOKING
        # election
        self.round = 0
        self.vote: Vote = self._own_vote()
        self.received: dict[NodeId, Vote] = {}
        self.out_of_election: dict[NodeId, tuple[NodeId, str]] = {}
        self.finalizing = False
        self.answered: dict[NodeId, float] = {}  # when a non-voter's notification was answered
        # following
        self.leader_id: NodeId | None = None
        self.session = 0
        # Connections are numbered across restarts too, so that a leader never mistakes a new
        # connection for a repeat of one from before this server's crash.
        self.sessions: int = storage.get("sessions", 0)
        self.phase = ""
        # leading
        self.followers: dict[NodeId, FollowerSession] = {}
        self.new_epoch: int | None = None
        self.syncing = False
        self.established = False
        self.lead_start = 0.0

    # -- properties for pictures and tests -------------------------------------------------
    @property
    def last_zxid(self) -> Zxid:
        """The zxid of the last proposal in this server's history."""
        return self.history[-1][0] if self.history else ZERO

    def status(self) -> str:
        role = self.role
        if role == LEADING:
            role += "" if self.established else " (not established)"
        elif role == FOLLOWING:
            role += f" {self.leader_id}" + ("" if self.phase == "synced" else f" ({self.phase})")
        elif role == OBSERVING:
            role += f" of {self.leader_id}" + ("" if self.phase == "synced" else f" ({self.phase})")
        elif role == LOOKING and self.observer:
            role = "observer looking"
        return f"{role} e{self.epoch} last={self.last_zxid} committed={self.committed_zxid}"

    def report(self) -> NodeStatus:
        """Role, current epoch (as ``term``), the leader it follows (itself when leading; None
        while looking), its history as log rows (each with its ``zxid``; ``term`` is the zxid's
        epoch) and ``commit``, how many of them it has delivered.

        ``extra``: ``last_zxid`` (of its last proposal, ``(0, 0)`` for an empty history),
        ``committed_zxid`` (up to which it has delivered), ``accepted_epoch``, ``phase`` (a
        follower's progress towards its leader: ``"connect"``, ``"epoch"``, ``"sync"``,
        ``"synced"``; ``""`` when not following) and ``established`` (a leader whose quorum is
        synchronised).
        """
        history = self.history
        log = tuple(LogRow(k, zxid[0], txn, zxid=zxid) for k, (zxid, txn) in enumerate(history, 1))
        commit = bisect.bisect_right(history, self.committed_zxid, key=lambda e: e[0])
        return NodeStatus(
            self.id, True, self.role, term=self.epoch, leader=self.leader_id, log=log,
            commit=commit, text=self.status(),
            extra={"last_zxid": self.last_zxid, "committed_zxid": self.committed_zxid,
                   "accepted_epoch": self.accepted_epoch, "phase": self.phase,
                   "established": self.established})

    def _own_vote(self) -> Vote:
        return NO_VOTE if self.observer else (self.epoch, self.last_zxid, self.id)

    def _better(self, a: Vote, b: Vote) -> bool:
        if self.variant == "election-ignores-zxid":
            return a[2] > b[2]
        return a > b

    # -- inputs ----------------------------------------------------------------------------
    def on_start(self, now: float) -> Output:
        if self.idle:  # ZooKeeper refuses to start: "My id is not in the peer list"
            self.role = IDLE
            return Output().note(f"idle: {self.id} is not in its own configuration", tag="idle")
        return self._look(now, Output(), "")

    def on_client(self, now: float, request: Any) -> Output:
        if self.role != LEADING or not self.established:
            return Output(reply=False)
        return self._step_leader_propose(request)

    def drop_leader(self, now: float, why: str) -> Output:
        """Leave the leader this server follows and look for one again, as when the connection
        to it breaks.

        A door for a service that shares the follower's connection with Zab (``zablib.coord``:
        ZooKeeper sends client requests over the same learner connection) and has noticed a
        message lost on it, which Zab alone could not see. A no-op unless following.
        """
        if self.role not in (FOLLOWING, OBSERVING):
            return Output()
        return self._look(now, Output(), f"lost leader {self.leader_id}: {why}")

    def on_timer(self, now: float, name: str) -> Output:
        out = Output()
        if self.role == LOOKING:
            if name == "election":
                out.broadcast(self.others, self._notification())
                return out.set_timer("election", self.timers.election_ms)
            if name == "finalize":
                self.finalizing = False
                return self._maybe_decide(now, out, final=True)
        elif self.role in (FOLLOWING, OBSERVING):
            if name == "connect" and self.phase == "connect":
                out.send(self.leader_id, self._learner_info())
                return out.set_timer("connect", self.timers.connect_ms)
            if name == "init" and self.phase != "synced":
                return self._look(now, out, f"leader {self.leader_id} did not sync me in time")
            if name == "leader-silent":
                return self._look(now, out, f"lost leader {self.leader_id}")
        elif self.role == LEADING and name == "tick":
            return self._step_leader_tick(now, out)
        return out

    def on_message(self, now: float, src: NodeId, msg: Message) -> Output:
        out = Output()
        if self.idle:
            return out
        if isinstance(msg, Notification):
            return self._step_notification(now, out, src, msg)
        if self.role in (FOLLOWING, OBSERVING):
            return self._step_follower(now, out, src, msg)
        if self.role == LEADING:
            return self._step_leader(now, out, src, msg)
        return out

    # -- phase 0: election -----------------------------------------------------------------
    def _notification(self) -> Notification:
        return Notification(self.vote, self.round, self.role)

    def _look(self, now: float, out: Output, why: str) -> Output:
        """Enter (or re-enter) election, dropping any leadership or session."""
        if why:
            out.note(f"{self.role} -> looking: {why}", tag="looking", value=why)
        out.cancel_timer("tick").cancel_timer("connect").cancel_timer("init")
        out.cancel_timer("leader-silent")
        self.role = LOOKING
        self.leader_id = None
        self.phase = ""
        self.followers = {}
        self.new_epoch = None
        self.syncing = self.established = False
        self.round += 1
        self.vote = self._own_vote()
        self.received = {}
        self.out_of_election = {}
        self.finalizing = False
        out.broadcast(self.others, self._notification())
        out.set_timer("election", self.timers.election_ms)
        return self._maybe_decide(now, out)

    def _step_notification(self, now: float, out: Output, src: NodeId, n: Notification) -> Output:
        if src not in self.voters:
            # An observer, or a server this configuration does not list: answered (by a voter,
            # at most once a tick per server, so that two servers that each take the other for a
            # non-voter do not answer each other forever), never counted.
            if not self.observer and n.state == LOOKING and (
                    now - self.answered.get(src, -math.inf) >= self.timers.tick_ms):
                self.answered[src] = now
                out.send(src, self._notification())
            return out
        if self.role != LOOKING:
            if n.state == LOOKING and not self.observer:  # tell it whom we follow / that we lead
                out.send(src, self._notification())
            return out
        # An observer only listens: voters never count what it says, so it never answers and
        # never broadcasts a changed vote (it asks again on its election timer).
        talk = not self.observer
        if n.state == LOOKING:
            if n.round > self.round:
                self.round = n.round
                self.received = {}
                own = self._own_vote()
                self.vote = n.vote if self._better(n.vote, own) else own
                if talk:
                    out.broadcast(self.others, self._notification())
            elif n.round < self.round:
                return out.send(src, self._notification()) if talk else out
            elif self._better(n.vote, self.vote):
                self.vote = n.vote
                if talk:
                    out.broadcast(self.others, self._notification())
            self.received[src] = n.vote
            return self._maybe_decide(now, out)
        # src already follows or leads: can we join the leader it names?
        leader = n.vote[2]
        self.out_of_election[src] = (leader, n.state)
        backers = [s for s, (lead, _) in self.out_of_election.items() if lead == leader]
        leads = self.out_of_election.get(leader, (None, ""))[1] == LEADING
        if leads and quorum.is_quorum(backers, self.voters):
            self.vote = n.vote
            return self._decide(now, out)
        return out

    def _maybe_decide(self, now: float, out: Output, final: bool = False) -> Output:
        backers = [] if self.observer else [self.id]
        backers += [s for s, v in self.received.items() if v == self.vote]
        if not quorum.is_quorum(backers, self.voters):
            return out
        if final or len(self.voters) == 1:
            return self._decide(now, out)
        if not self.finalizing:
            self.finalizing = True
            out.set_timer("finalize", self.timers.finalize_ms)
        return out

    def _decide(self, now: float, out: Output) -> Output:
        out.cancel_timer("election").cancel_timer("finalize")
        leader = self.vote[2]
        out.note(f"elected {leader} in round {self.round}", tag="elected", value=leader)
        if leader == self.id:
            return self._become_leader(now, out)
        return self._become_follower(now, out, leader)

    # -- phase 1 and 2, follower side --------------------------------------------------------
    def _learner_info(self) -> FollowerInfo:
        kind = ObserverInfo if self.observer else FollowerInfo
        return kind(self.session, self.accepted_epoch)

    def _become_follower(self, now: float, out: Output, leader: NodeId) -> Output:
        self.role = OBSERVING if self.observer else FOLLOWING
        self.leader_id = leader
        self.sessions += 1
        self.session = self.sessions
        out.write(sessions=self.sessions)
        self.phase = "connect"
        out.send(leader, self._learner_info())
        out.set_timer("connect", self.timers.connect_ms)
        return out.set_timer("init", self.timers.init_ms)

    def _step_follower(self, now: float, out: Output, src: NodeId, msg: Message) -> Output:
        if src != self.leader_id or getattr(msg, "session", None) != self.session:
            return out  # another server, or an earlier session with this one
        phase = self.phase
        if isinstance(msg, NewEpoch) and phase == "connect":
            same = msg.epoch == self.accepted_epoch and (self.accepted_from == src or msg.late)
            if msg.epoch < self.accepted_epoch or (msg.epoch == self.accepted_epoch and not same):
                return self._look(now, out, f"epoch {msg.epoch} of {src} is not above "
                                  f"accepted epoch {self.accepted_epoch}")
            self.accepted_epoch, self.accepted_from = msg.epoch, src
            out.write(accepted_epoch=msg.epoch, accepted_from=src)
            self.phase = "epoch"
            out.cancel_timer("connect")
            return out.send(src, AckEpoch(self.session, msg.epoch, self.epoch, self.last_zxid,
                                          epoch_counts(self.history),
                                          self.history if self.discovery == "adopt" else None))
        if isinstance(msg, Diff | Trunc | Snap) and phase == "epoch":
            return self._step_follower_sync(out, msg)
        if isinstance(msg, NewLeader) and phase == "sync":
            self.epoch = msg.epoch
            self.phase = "synced"
            out.write(current_epoch=msg.epoch)
            if self.observer:
                out.note(f"observing {src} in epoch {msg.epoch}", tag="observing", value=msg.epoch)
            else:
                out.note(f"following {src} in epoch {msg.epoch}", tag="following", value=msg.epoch)
            out.cancel_timer("init").set_timer("leader-silent", self.timers.sync_ms)
            return out.send(src, AckNewLeader(self.session, msg.epoch))
        if phase != "synced":
            return out
        if isinstance(msg, Proposal):
            return self._step_follower_proposal(now, out, msg)
        if isinstance(msg, Inform):
            return self._step_observer_inform(now, out, msg)
        if isinstance(msg, Commit | UpToDate):
            return self._deliver_to(out, msg.zxid if isinstance(msg, Commit) else msg.committed)
        if isinstance(msg, Ping):
            # A follower logs every proposal; an observer hears only of committed ones.
            sent = msg.committed if self._hears_commits_only() else msg.last_zxid
            if sent > self.last_zxid:  # a proposal or an Inform was lost: this session is broken
                return self._look(now, out, f"missed proposals up to {sent}")
            out.set_timer("leader-silent", self.timers.sync_ms)
            out.send(src, Pong(self.session, self.last_zxid))
            return self._deliver_to(out, msg.committed)
        return out

    def _step_follower_sync(self, out: Output, msg: Diff | Trunc | Snap) -> Output:
        if isinstance(msg, Snap):
            self.history = msg.history
            out.note(f"snapshot of {len(msg.history)} proposals", tag="synced", value="snap")
        else:
            if isinstance(msg, Trunc):
                dropped = tuple(e for e in self.history if e[0] > msg.zxid)
                self.history = tuple(e for e in self.history if e[0] <= msg.zxid)
                out.note(f"truncated {len(dropped)} proposals after {msg.zxid}",
                         tag="truncated", value=dropped)
            self.history = self.history + msg.entries
        out.write(history=self.history)
        if self.committed_zxid > self.last_zxid:  # only a broken variant truncates delivered txns
            self.committed_zxid = self.last_zxid
            out.write(committed=self.committed_zxid)
        self.phase = "sync"
        if isinstance(msg, Snap):
            self._deliver_to(out, msg.committed)
        return out

    # -- phase 3, follower side --------------------------------------------------------------
    def _step_follower_proposal(self, now: float, out: Output, msg: Proposal) -> Output:
        last = self.last_zxid
        if msg.zxid <= last:
            return out  # a duplicate
        epoch, counter = msg.zxid
        expected = (epoch, last[1] + 1) if last[0] == epoch else (epoch, 1)
        if msg.zxid != expected:
            return self._look(now, out, f"gap before proposal {msg.zxid}")
        self.history = self.history + ((msg.zxid, msg.txn),)
        out.write(history=self.history)
        return out.send(self.leader_id, Ack(self.session, msg.zxid))

    def _hears_commits_only(self) -> bool:
        """An observer that hears of committed transactions only (not in the broken variant
        whose observers take proposals)."""
        return self.observer and self.variant != "observer-acks-count"

    def _step_observer_inform(self, now: float, out: Output, msg: Inform) -> Output:
        """Observer: ``msg.txn`` is committed as ``msg.zxid``; log it unless synchronisation
        already brought it, then deliver up to it."""
        last = self.last_zxid
        if msg.zxid > last:
            epoch, _ = msg.zxid
            expected = (epoch, last[1] + 1) if last[0] == epoch else (epoch, 1)
            if msg.zxid != expected:
                return self._look(now, out, f"gap before committed {msg.zxid}")
            self.history = self.history + ((msg.zxid, msg.txn),)
            out.write(history=self.history)
        return self._deliver_to(out, msg.zxid)

    def _deliver_to(self, out: Output, zxid: Zxid) -> Output:
        """Deliver, in zxid order, every logged proposal up to ``zxid``."""
        target = min(zxid, self.last_zxid)
        if target <= self.committed_zxid:
            return out
        # The history is sorted by zxid: start right after the last delivered proposal.
        start = bisect.bisect_right(self.history, self.committed_zxid, key=lambda e: e[0])
        for entry in self.history[start:]:
            if entry[0] > target:
                break
            out.note(f"delivered {entry[1]!r} {entry[0]}", tag="deliver", value=entry)
        self.committed_zxid = target
        return out.write(committed=target)

    # -- phase 1 and 2, leader side ----------------------------------------------------------
    def _become_leader(self, now: float, out: Output) -> Output:
        self.role = LEADING
        self.leader_id = self.id
        self.followers = {}
        self.new_epoch = None
        self.syncing = self.established = False
        self.lead_start = now
        out.set_timer("tick", self.timers.ping_ms)
        return self._maybe_new_epoch(now, out)

    def _quorum_in(self, stage: str) -> bool:
        """This leader and the followers at ``stage`` of discovery or synchronisation are a
        quorum."""
        return quorum.is_quorum(
            [self.id] + [p for p, fs in self.followers.items() if fs.stage == stage and fs.voting],
            self.voters)

    def _maybe_new_epoch(self, now: float, out: Output) -> Output:
        if self.new_epoch is not None:
            return out
        # Only voters' accepted epochs: a later leader's quorum meets this one's voters, so its
        # epoch is at least this one, and an observer that accepted this epoch can join it.
        infos = [fs for fs in self.followers.values() if fs.stage == "info" and fs.voting]
        if not self._quorum_in("info"):
            return out
        epoch = max([self.accepted_epoch] + [fs.accepted_epoch for fs in infos]) + 1
        self.new_epoch = epoch
        self.accepted_epoch, self.accepted_from = epoch, self.id
        out.write(accepted_epoch=epoch, accepted_from=self.id)
        out.note(f"proposes epoch {epoch}", tag="new-epoch", value=epoch)
        for peer, follower in sorted(self.followers.items()):
            follower.stage = "epoch"
            out.send(peer, NewEpoch(follower.session, epoch, not follower.voting))
        return self._maybe_sync(now, out)

    def _maybe_sync(self, now: float, out: Output) -> Output:
        if self.syncing or self.new_epoch is None:
            return out
        acked = [p for p, fs in sorted(self.followers.items()) if fs.stage == "acked"]
        if not self._quorum_in("acked"):
            return out
        self.syncing = True
        if self.discovery == "adopt":
            self._adopt_newest(out, [p for p in acked if self.followers[p].voting])
        self.epoch = self.new_epoch
        out.write(current_epoch=self.epoch)
        out.note(f"leads epoch {self.epoch}", tag="leader", value=(self.epoch, self.id))
        for peer in acked:
            self._sync(out, peer)
        return self._maybe_establish(out)

    def _adopt_newest(self, out: Output, acked: list[NodeId]) -> None:
        """The Zab paper's discovery: take the most recent history of the quorum (highest
        current epoch, then last zxid) as this leader's own, before synchronising anyone."""
        newest, source = (self.epoch, self.last_zxid), None
        for peer in acked:
            follower = self.followers[peer]
            if (follower.current_epoch, follower.last_zxid) > newest:
                newest, source = (follower.current_epoch, follower.last_zxid), peer
        if source is None:
            return
        history = self.followers[source].history
        dropped = tuple(entry for entry in self.history if entry not in history)
        self.history = history
        out.write(history=history)
        out.note(f"adopts the history of {source}, up to {newest[1]}"
                 + (f", dropping {len(dropped)} of its own" if dropped else ""),
                 tag="adopted", value=(source, dropped))

    def _sync(self, out: Output, peer: NodeId) -> None:
        follower = self.followers[peer]
        mode, point, entries = self.sync_rule(self.history, follower.last_zxid, follower.epochs,
                                              self.diff_limit)
        if mode == "trunc" and self.variant == "skip-trunc":
            mode, entries = "diff", tuple(e for e in self.history if e[0] > follower.last_zxid)
        s = follower.session
        if mode == "snap":
            out.send(peer, Snap(s, self.epoch, entries, self.committed_zxid))
        elif mode == "trunc":
            out.send(peer, Trunc(s, self.epoch, point, entries))
        else:
            out.send(peer, Diff(s, self.epoch, entries))
        out.note(f"syncs {peer} with {mode.upper()}", tag="sync", value=(peer, mode))
        out.send(peer, NewLeader(s, self.epoch))
        follower.stage = "sync"
        follower.acked = self.last_zxid

    def _maybe_establish(self, out: Output) -> Output:
        if self.established or not self.syncing:
            return out
        synced = [p for p, fs in sorted(self.followers.items()) if fs.stage == "synced"]
        if not self._quorum_in("synced"):
            return out
        self.established = True
        out.note(f"established in epoch {self.epoch}", tag="established", value=self.epoch)
        self._deliver_to(out, self.last_zxid)
        for peer in synced:
            out.send(peer, UpToDate(self.followers[peer].session, self.epoch, self.committed_zxid))
        return out

    def _step_leader(self, now: float, out: Output, src: NodeId, msg: Message) -> Output:
        if isinstance(msg, FollowerInfo):
            follower = self.followers.get(src)
            if follower is not None and follower.session == msg.session:
                if follower.stage == "epoch":  # our NewEpoch may have been lost: say it again
                    out.send(src, NewEpoch(msg.session, self.new_epoch,
                                           self.syncing or not follower.voting))
                return out
            observer = isinstance(msg, ObserverInfo)
            voting = not observer and src in self.voters
            self.followers[src] = FollowerSession(msg.session, msg.accepted_epoch, heard=now,
                                                  observer=observer, voting=voting)
            if self.new_epoch is None:
                return self._maybe_new_epoch(now, out)
            self.followers[src].stage = "epoch"
            return out.send(src, NewEpoch(msg.session, self.new_epoch, self.syncing or not voting))
        follower = self.followers.get(src)
        if follower is None or getattr(msg, "session", None) != follower.session:
            return out
        follower.heard = now
        if isinstance(msg, AckEpoch) and follower.stage == "epoch" and msg.epoch == self.new_epoch:
            theirs, mine = (msg.current_epoch, msg.last_zxid), (self.epoch, self.last_zxid)
            # A learner that does not vote cannot hold a committed transaction the leader lacks
            # (what it holds beyond what is committed, Trunc drops): it never sends us back.
            if (theirs > mine and self.discovery == "check" and not self.syncing
                    and follower.voting and self.variant != "election-ignores-zxid"):
                return self._look(now, out, f"{src} has a more recent history {theirs}")
            follower.stage = "acked"
            follower.current_epoch, follower.last_zxid = msg.current_epoch, msg.last_zxid
            follower.epochs, follower.history = msg.epochs, msg.history
            if self.syncing:
                self._sync(out, src)
                return out
            return self._maybe_sync(now, out)
        if isinstance(msg, AckNewLeader) and follower.stage == "sync":
            follower.stage = "synced"
            if self.established:
                return out.send(src, UpToDate(follower.session, self.epoch, self.committed_zxid))
            return self._maybe_establish(out)
        if isinstance(msg, Ack | Pong) and follower.stage == "synced":
            zxid = msg.zxid if isinstance(msg, Ack) else msg.last_zxid
            follower.acked = max(follower.acked, zxid)
            return self._maybe_commit(out)
        return out

    # -- phase 3, leader side ----------------------------------------------------------------
    def _forwarded(self) -> list[tuple[NodeId, FollowerSession]]:
        """The followers that get proposals and commits (observers, too, in the broken variant
        ``"observer-acks-count"``): synchronised, or being synchronised (the messages queue
        behind ``NewLeader`` on the FIFO link)."""
        return [(p, fs) for p, fs in sorted(self.followers.items())
                if fs.stage in ("sync", "synced")
                and (not fs.observer or self.variant == "observer-acks-count")]

    def _informed(self) -> list[tuple[NodeId, FollowerSession]]:
        """The observers that get an ``Inform`` per committed transaction."""
        if self.variant == "observer-acks-count":
            return []
        return [(p, fs) for p, fs in sorted(self.followers.items())
                if fs.stage in ("sync", "synced") and fs.observer]

    def _step_leader_propose(self, txn: Any) -> Output:
        last = self.last_zxid
        zxid = (self.epoch, last[1] + 1 if last[0] == self.epoch else 1)
        self.history = self.history + ((zxid, txn),)
        out = Output(reply=True).write(history=self.history)
        out.note(f"proposes {txn!r} as {zxid}", tag="propose", value=(zxid, txn))
        for peer, follower in self._forwarded():
            out.send(peer, Proposal(follower.session, zxid, txn))
        return self._maybe_commit(out)

    def _maybe_commit(self, out: Output) -> Output:
        if not self.established:
            return out
        acked = {p: fs.acked for p, fs in self.followers.items()
                 if fs.stage == "synced" and fs.voting}
        acked[self.id] = self.last_zxid
        if self.variant == "commit-without-quorum":
            target = max(acked.values())  # whatever one server has logged
        elif self.variant == "observer-acks-count":  # observers' acks fill the quorum's size
            learners = {p: fs.acked for p, fs in self.followers.items() if fs.stage == "synced"}
            held = sorted([self.last_zxid, *learners.values()], reverse=True)
            size = quorum.majority(len(self.voters))
            target = held[size - 1] if len(held) >= size else ZERO
        else:  # the highest zxid that a quorum has logged
            target = quorum.committed_index(acked, self.voters, missing=ZERO)
        before = self.committed_zxid
        if target <= before:
            return out
        self._deliver_to(out, target)
        for peer, follower in self._forwarded():
            out.send(peer, Commit(follower.session, self.committed_zxid))
        informed = self._informed()
        if informed:
            start = bisect.bisect_right(self.history, before, key=lambda e: e[0])
            done = [e for e in self.history[start:] if e[0] <= self.committed_zxid]
            for peer, follower in informed:
                for zxid, txn in done:
                    out.send(peer, Inform(follower.session, zxid, txn))
        return out

    def _step_leader_tick(self, now: float, out: Output) -> Output:
        if not self.established:
            if now - self.lead_start >= self.timers.init_ms:
                return self._look(now, out, f"no quorum synced within {self.timers.init_ms:g} ms")
        else:
            alive = [self.id] + [p for p, fs in self.followers.items()
                                 if fs.stage == "synced" and fs.voting
                                 and now - fs.heard <= self.timers.sync_ms]
            if not quorum.is_quorum(alive, self.voters):
                return self._look(now, out, "lost contact with a quorum")
        for peer, follower in sorted(self.followers.items()):
            if follower.stage == "synced":
                out.send(peer, Ping(follower.session, self.last_zxid, self.committed_zxid))
        return out.set_timer("tick", self.timers.ping_ms)


# -- invariants ------------------------------------------------------------------------------
def delivery_record(sim: Simulation) -> tuple[dict[int, list], dict[NodeId, list], dict[int, tuple]]:
    """Collect the run's broadcasts and deliveries from the trace.

    Returns ``(proposed, delivered, first)``: ``proposed[epoch]`` lists ``(zxid, txn)`` in the
    order the epoch's leader broadcast them; ``delivered[node]`` lists what ``node`` delivered,
    in order, over all its incarnations; ``first[epoch]`` is ``(leader, k)``: when the leader of
    ``epoch`` broadcast its first proposal, it had delivered ``k`` transactions.
    """
    proposed: dict[int, list] = {}
    delivered: dict[NodeId, list] = {i: [] for i in sim.node_ids}
    first: dict[int, tuple] = {}
    for e in sim.trace:
        if e.kind != "note":
            continue
        if e.tag == "deliver":
            delivered[e.node].append(e.value)
        elif e.tag == "propose":
            epoch = e.value[0][0]
            if epoch not in proposed:
                proposed[epoch] = []
                first[epoch] = (e.node, len(delivered[e.node]))
            proposed[epoch].append(e.value)
    return proposed, delivered, first


def check_zab(proposed: Mapping[int, list], delivered: Mapping[NodeId, list],
              first: Mapping[int, tuple]) -> None:
    """The Zab paper's properties (its problem statement) over one run's broadcasts and deliveries.

    Raises InvariantViolation naming the first broken one: ``integrity``, ``prefix order``
    (total order and agreement), ``local primary order``, ``global primary order`` or
    ``primary integrity``.
    """
    broadcast = {entry for entries in proposed.values() for entry in entries}
    for node, seq in sorted(delivered.items()):
        seen: set = set()
        for entry in seq:
            if entry not in broadcast:
                raise InvariantViolation("integrity", f"node {node} delivered {entry!r}, "
                                                      "which no leader broadcast")
            if entry in seen:
                raise InvariantViolation("integrity", f"node {node} delivered {entry!r} twice")
            seen.add(entry)
    check_prefix_order(delivered)
    for node, seq in sorted(delivered.items()):
        by_epoch: dict[int, list] = {}
        for entry in seq:
            by_epoch.setdefault(entry[0][0], []).append(entry)
        for epoch, got in sorted(by_epoch.items()):
            if got != proposed.get(epoch, [])[: len(got)]:
                raise InvariantViolation(
                    "local primary order",
                    f"node {node} delivered {[z for z, _ in got]} of epoch {epoch}, not in the "
                    "order its leader broadcast them")
        for a, b in zip(seq, seq[1:], strict=False):
            if b[0][0] < a[0][0]:
                raise InvariantViolation(
                    "global primary order",
                    f"node {node} delivered {b!r} of epoch {b[0][0]} after {a!r} of epoch {a[0][0]}")
    for epoch, (leader, k) in sorted(first.items()):
        had = set(delivered[leader][:k])
        for node, seq in sorted(delivered.items()):
            for entry in seq:
                if entry[0][0] < epoch and entry not in had:
                    raise InvariantViolation(
                        "primary integrity",
                        f"node {node} delivered {entry!r}, but leader {leader} of epoch {epoch} "
                        "began broadcasting without delivering it")


def zab_properties(sim: ZabSimulation) -> None:
    """Check integrity, total order, local/global primary order and primary integrity."""
    check_zab(*delivery_record(sim))


def one_leader_per_epoch(sim: ZabSimulation) -> None:
    """At most one server leads (synchronises followers in) each epoch."""
    check_single_leader(sim.trace.values("leader"), term_name="epoch")


def durable_prefix_order(sim: ZabSimulation) -> None:
    """The delivered sequences in stable storage are prefixes of one another."""
    check_prefix_order({i: sim.committed(i) for i in sim.node_ids}, what="has delivered")


# -- the simulation --------------------------------------------------------------------------
class ZabSimulation(Simulation):
    """A :class:`~zablib.sim.Simulation` of Zab servers with client-level questions."""

    variant: str = "correct"
    #: The observers' ids (after the voters'); empty without ``cluster(observers=...)``.
    observers: tuple[NodeId, ...] = ()
    #: Each server's configuration as ``(voters, observers)``, read when it (re)starts; see
    #: :meth:`restart`.
    configs: dict[NodeId, tuple[frozenset, frozenset]]

    def restart(self, node: NodeId, *, members: Collection[NodeId] | None = None,
                observers: Collection[NodeId] = ()) -> None:
        """Restart ``node`` (crash it if it is up, then recover it from its disk), with a new
        static configuration if ``members`` is given.

        Parameters
        ----------
        node : int
            The server.
        members : collection of int, optional
            The voters its new configuration file lists (it should list ``node`` itself, or
            ``observers`` should; otherwise it restarts idle). Without it, its configuration
            stays what it was.
        observers : collection of int
            The observers its new configuration lists.

        This is how an ensemble's membership changed before ZooKeeper 3.5: a new ``zoo.cfg``
        and a rolling restart, each server counting the quorums of its own file.
        """
        if members is not None:
            voters, seen = frozenset(members), frozenset(observers)
            unknown = sorted((voters | seen) - set(self.node_ids))
            if not voters or unknown:
                raise ValueError(f"members must be a non-empty set of this simulation's servers "
                                 f"{list(self.node_ids)}, got {sorted(voters)} and observers "
                                 f"{sorted(seen)}")
            self.configs[node] = (voters, seen - voters)
        elif observers:
            raise ValueError("observers= needs members= (the whole new configuration)")
        if self.is_up(node):
            self.crash(node)
        self.recover(node)

    def leader(self) -> NodeId | None:
        """The live, established leader of the highest epoch, or None."""
        live = [n for i, n in sorted(self.nodes.items())
                if self.is_up(i) and n.role == LEADING and n.established]
        return max(live, key=lambda n: n.epoch).id if live else None

    def submit(self, txn: Any) -> bool:
        """Hand ``txn`` to the current leader; True if a live established leader accepted it."""
        leader = self.leader()
        return False if leader is None else bool(self.request(leader, txn))

    def committed(self, node: NodeId) -> list[Any]:
        """The transactions ``node`` has delivered, in order, as it knows them now (as it knew
        them when it crashed, while it is down).

        A server writes its history and its delivered zxid to stable storage as it goes, so this
        is also what a restart finds on disk, except in the broken variant
        ``"volatile-commit-point"``, whose restarted server knows nothing delivered and
        delivers its history again.
        """
        return self.status(node).committed()

    def sync_modes(self) -> list[tuple[NodeId, str]]:
        """Every ``(follower, mode)`` a leader synchronised, in order."""
        return self.trace.values("sync")


def cluster(n: int = 3, *, seed: int = 0, variant: str = "correct", diff_limit: int = DIFF_LIMIT,
            link: LinkConfig | None = None, disks: Mapping[NodeId, Mapping[str, Any]] | None = None,
            choose_sync: Callable[..., tuple[str, Zxid, tuple]] | None = None,
            tick_ms: float = TICK_MS, init_limit: int = INIT_LIMIT,
            sync_limit: int = SYNC_LIMIT, discovery: str = "check", observers: int = 0,
            members: Mapping[NodeId, Collection[NodeId]] | None = None) -> ZabSimulation:
    """A Zab ensemble of ``n`` voting servers (ids 1..n) and ``observers`` observers (ids
    n+1..n+observers); all start looking.

    Parameters
    ----------
    n : int
        Number of voting servers, at least 1; every one votes and acknowledges.
    observers : int
        Number of observers (see the module docstring): they learn every committed transaction
        and count in no quorum. ``sim.observers`` lists them.
    members : mapping of node id -> collection of int, optional
        Static configurations that differ (see the module docstring): server ``i`` counts the
        voters ``members[i]`` (and knows the observers as the others do). A server not named
        has the ensemble's configuration; a server not in its own configuration stays idle
        until :meth:`ZabSimulation.restart` gives it one that names it.
    seed : int
        Seed of the run.
    variant : str
        ``"correct"`` or one of the broken variants of the module docstring.
    diff_limit : int
        A follower missing more proposals than this is synchronised with ``Snap``.
    link : LinkConfig, optional
        Link settings; default uniform 1-10 ms delay, FIFO, no loss.
    disks : mapping of node id -> mapping, optional
        What servers find on stable storage when they first start, as after a power cut of a
        running ensemble: ``{1: {"accepted_epoch": 2, "current_epoch": 2, "history": (((1, 1),
        "a"),)}}`` (keys as a server writes them; a server not named starts empty). Such a run
        is for elections and synchronisation: ``sim.check()`` knows only the proposals broadcast
        in the run, and reports those found on the disks as delivered but never broadcast.
    choose_sync : callable, optional
        Replaces :func:`choose_sync`, the leader's DIFF/TRUNC/SNAP decision, on every server (a
        wrapper that records the decisions, say); called with the same arguments, it answers as
        :func:`choose_sync` does.
    tick_ms : float
        ZooKeeper's ``tickTime`` in ms (default 20): the leader's ping period, and the unit of
        every other timer (:class:`Timers`).
    init_limit : int
        ZooKeeper's ``initLimit``, in ticks (default 10): the time a new leader has to
        synchronise a quorum, and a follower to be synchronised, before returning to election.
    sync_limit : int
        ZooKeeper's ``syncLimit``, in ticks (default 5): the silence after which a synchronised
        follower gives up its leader, and a leader a quorum it no longer hears from.

    discovery : str
        What a prospective leader does when a follower of its quorum has a more recent history:
        ``"check"`` (Zab 1.0, ZooKeeper's rule: it returns to election) or ``"adopt"`` (the Zab
        paper's discovery: it takes that history as its own). See the module docstring.

    The defaults suit the book's links (1-10 ms). On slower links, raise them as a ZooKeeper
    administrator does: a tick well above a message's usual delay, and limits that leave room for
    the tail of the delays; e.g. ``tick_ms=60`` for links of 20-60 ms.
    """
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"a Zab ensemble needs at least 1 server, got {n!r}")
    if not isinstance(observers, int) or isinstance(observers, bool) or observers < 0:
        raise ValueError(f"observers must be a non-negative int, got {observers!r}")
    ids = range(1, n + observers + 1)
    disks = {i: dict(disk) for i, disk in (disks or {}).items()}
    if not set(disks) <= set(ids):
        raise ValueError(f"disks of unknown servers {sorted(set(disks) - set(ids))}; "
                         f"servers are 1..{len(ids)}")
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; use one of {', '.join(VARIANTS)}")
    if not isinstance(diff_limit, int) or isinstance(diff_limit, bool) or diff_limit < 0:
        raise ValueError(f"diff_limit must be a non-negative int, got {diff_limit!r}")
    timers = Timers(tick_ms, init_limit, sync_limit)
    if discovery not in DISCOVERIES:
        raise ValueError(f"unknown discovery {discovery!r}; use 'check' (Zab 1.0, ZooKeeper's) "
                         "or 'adopt' (the Zab paper's)")
    voters, watchers = frozenset(range(1, n + 1)), frozenset(range(n + 1, n + observers + 1))
    configs = {i: (voters, watchers) for i in ids}
    for i, config in (members or {}).items():
        if i not in configs or not set(config) or not set(config) <= set(ids):
            raise ValueError(f"members[{i!r}] must name a non-empty set of servers 1..{len(ids)}, "
                             f"got {config!r}")
        configs[i] = (frozenset(config), watchers - frozenset(config))
    uniform_config = not observers and not members

    def server(i: NodeId, peers: tuple[NodeId, ...], storage: Mapping[str, Any]) -> ZabServer:
        # At first boot ``storage`` is empty and the disk is what the server finds; afterwards
        # the disk is part of what the simulation keeps for it.
        # (``sim.restart`` changes ``configs``, the same dict as ``sim.configs``.)
        config = {} if uniform_config and configs[i] == (voters, watchers) else dict(
            zip(("voters", "observers"), configs[i], strict=True))
        return ZabServer(i, peers, storage or disks.get(i, {}), variant, diff_limit,
                         choose_sync, timers, discovery, **config)

    sim = ZabSimulation(
        server,
        ids,
        seed=seed,
        link=link or LinkConfig(delay=uniform(1.0, 10.0)),
        invariants=[zab_properties, one_leader_per_epoch, durable_prefix_order],
    )
    sim.configs = configs
    for i, disk in disks.items():
        sim.storage[i].update(disk)
    sim.variant = variant
    sim.observers = tuple(sorted(watchers))
    return sim


def scenario_crash_after_logged(k: int, *, n: int = 5,
                                seed: int = 3) -> tuple[ZabSimulation, list[NodeId]]:
    """The leader crashes right after ``k`` of its followers logged a proposal ``t``.

    An ensemble of ``n`` commits ``"a"``; the leader then proposes ``"t"`` while its links to
    all but ``k`` followers are cut, and crashes as soon as those ``k`` have logged it. The
    network heals and the rest elect a new leader. If ``t`` was on a quorum (the leader and ``k``
    followers), every possible new leader has it and it must survive; with fewer it may be
    dropped, and is then never delivered by anyone (chapter 4's predict-then-run question).

    Returns
    -------
    (ZabSimulation, list of int)
        The finished simulation, and the followers that had logged ``t``.
    """
    if not isinstance(k, int) or not 0 <= k < n:
        raise ValueError(f"k must be an int with 0 <= k < n={n}, got {k!r}")
    sim = cluster(n, seed=seed)
    sim.run(until=150)
    leader = sim.leader()
    if leader is None:
        raise SimulationError(f"no leader by 150 ms with seed {seed}")
    sim.submit("a")
    sim.run_for(50)
    followers = [i for i in sim.node_ids if i != leader]
    logged, missing = followers[len(followers) - k:], followers[:len(followers) - k]
    for i in missing:
        sim.cut_link(leader, i)
    sim.submit("t")
    t_zxid = sim.nodes[leader].last_zxid
    while not all(sim.nodes[i].last_zxid == t_zxid for i in logged):
        if sim.step() is None:
            raise SimulationError("the proposal of t never reached the followers meant to log it")
    sim.crash(leader)
    sim.heal()
    sim.run_for(600)
    return sim, logged


# -- static membership: growing an ensemble by rolling restarts ---------------------------------
def established_leaders(sim: ZabSimulation) -> list[tuple[NodeId, tuple[NodeId, ...]]]:
    """The live leaders that are established *now* with a quorum of their own configuration.

    Each is ``(leader, followers)``: ``followers`` are the live servers that follow it, in sync,
    in the session it knows them by; with the leader they are a quorum of the leader's voters.
    With every server configured alike there is at most one (two quorums of one configuration
    share a server, and a server follows one leader at a time); servers configured differently
    can have two (:func:`scenario_static_grow`).
    """
    found = []
    for i in sim.node_ids:
        node = sim.nodes[i]
        if not sim.is_up(i) or node.role != LEADING or not node.established:
            continue
        followers = tuple(
            p for p, fs in sorted(node.followers.items())
            if fs.stage == "synced" and sim.is_up(p) and sim.nodes[p].role == FOLLOWING
            and sim.nodes[p].leader_id == i and sim.nodes[p].phase == "synced"
            and sim.nodes[p].session == fs.session)
        if quorum.is_quorum((i, *followers), node.voters):
            found.append((i, followers))
    return found


@dataclass
class StaticGrow:
    """The outcome of :func:`static_grow_run`: the simulation, the restarts made as ``(time,
    server)``, and the first moment two leaders were established at once, as ``(time,
    [(leader, followers), ...])`` (None if it never happened)."""

    sim: ZabSimulation
    restarts: list[tuple[float, NodeId]]
    two_leaders: tuple[float, list[tuple[NodeId, tuple[NodeId, ...]]]] | None


def static_grow_run(order: tuple[NodeId, ...] = (1, 2, 3), *, seed: int = 0,
                    gaps_ms: tuple[float, ...] = (300.0,) * 5, down_ms: float = 200.0,
                    start_ms: float = 300.0, until_two: bool = False,
                    **options: Any) -> StaticGrow:
    """Grow a 3-server ensemble to 5 the way it was done before ZooKeeper 3.5: new configuration
    files listing servers 1..5, and a rolling restart.

    Servers 1, 2, 3 run with a configuration of 1..3 (4 and 5 are installed but idle: their
    file does not list them). From ``start_ms`` on, servers 4 and 5 are started, then the
    servers of ``order`` restarted, each with the configuration 1..5, one after the other: a
    restart stops the server for ``down_ms`` (a JVM takes a while to stop and start again),
    and ``gaps_ms[k]`` after restart ``k`` is done comes the next. The run watches, after every
    event, for
    two leaders established at once (:func:`established_leaders`), and ends ``gaps_ms[-1]``
    after the last restart, or, with ``until_two``, as soon as there are two. ``options`` go
    to :func:`cluster`.

    With the defaults (restarts 300 ms apart, each server down for 200 ms), restarting the
    leader first (it is 3, the highest id, in a fresh ensemble) gives two leaders in every one
    of seeds 0..29: while it is down, 1 and 2 elect one of themselves, a quorum of their file's
    1..3; it comes back with 4 and 5 looking, and the three of them are a quorum of 1..5.
    Restarting 1 or 2 first never did (0 of 30 seeds each): when the leader's turn comes, the
    others all count 1..5. With random gaps (0-300 ms) and downtimes (0-1000 ms), about one
    run in five reaches two leaders (125, 135 and 152 of three draws of 600 runs), nearly all
    with the leader restarted first; another order can do it too, rarely (1 of those 1,800
    runs: order (1, 2, 3), seed 200, gaps (4.6, 1.6, 144.1, 266.6, 254.4) ms, down 287.2 ms:
    the restarted 1 and the new 4 and 5 elect 1, a quorum of 1..5, while 3 still leads 2, a
    quorum of 1..3).
    """
    steps = (4, 5, *order)
    if sorted(order) != [1, 2, 3] or len(gaps_ms) != len(steps):
        raise ValueError(f"order must be 1, 2, 3 in some order and gaps_ms give {len(steps)} "
                         f"gaps, got {order!r} and {gaps_ms!r}")
    old = (1, 2, 3)
    sim = cluster(5, seed=seed, members={i: old for i in range(1, 6)}, **options)
    sim.run(until=start_ms)
    restarts: list[tuple[float, NodeId]] = []
    two = None

    def run_for(ms: float) -> None:
        nonlocal two
        end = sim.now + ms
        while sim.run(until=end, max_events=1):  # one event at a time, up to ``end``
            if two is None:
                leaders = established_leaders(sim)
                if len(leaders) > 1:
                    two = (sim.now, leaders)
                    if until_two:
                        return

    for node, gap in zip(steps, gaps_ms, strict=True):
        if node in old:  # 4 and 5 were idle: they just start
            sim.crash(node)
            run_for(down_ms)
        if two is not None and until_two:
            break
        sim.restart(node, members=range(1, 6))
        restarts.append((sim.now, node))
        run_for(gap)
        if two is not None and until_two:
            break
    return StaticGrow(sim, restarts, two)


def scenario_static_grow(*, seed: int = 0, order: tuple[NodeId, ...] = (3, 1, 2),
                         **options: Any) -> StaticGrow:
    """Two leaders at once, from growing an ensemble of 3 to 5 by a rolling restart with new
    static configuration files (:func:`static_grow_run`, found by searching its restart orders,
    gaps and seeds), and what they do: each is handed a write as soon as both are established.

    The schedule, with the defaults: servers 1..3 run with the file 1..3 and elect 3; at 300 ms
    server 4 starts with the file 1..5, at 600 ms server 5; at 900 ms leader 3 is stopped and
    restarted 200 ms later with the file 1..5. Meanwhile 1 and 2, a quorum of 1..3, elect 2;
    3, 4 and 5, a quorum of 1..5 that 1 and 2 do not count, elect one of themselves. Both
    leaders commit their write as the first transaction of the same epoch: ``sim.check()``
    reports two leaders of one epoch and two transactions delivered at the same place.

    Returns
    -------
    StaticGrow
        The run (``two_leaders`` says who led with whom, and when), after the writes.
    """
    run = static_grow_run(order, seed=seed, until_two=True, **options)
    if run.two_leaders is None:
        raise SimulationError(f"no two leaders with seed {seed} and order {order}")
    for leader, _ in run.two_leaders[1]:
        run.sim.request(leader, f"written through {leader}")
    run.sim.run_for(100)
    return run

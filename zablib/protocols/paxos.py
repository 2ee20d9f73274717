"""Paxos (Lamport, "Paxos Made Simple", 2001): single-decree Paxos and Multi-Paxos.

Every node plays the three roles of the paper (§2.1): proposer, acceptor and learner.

Ballots (§2.2, "proposal numbers")
    A :class:`Ballot` is ``(round, proposer)``, ordered by round, then proposer id: totally
    ordered, and unique per proposer since no two proposers share an id and a proposer never
    reuses a round (it persists the highest round it has used or seen before it sends a
    Prepare, so a restart cannot reuse one either). ``Ballot(0, 0)`` is "no ballot".
Acceptor (§2.2, phases 1b and 2b)
    It answers ``Prepare(b)`` only if ``b`` is above every ballot it promised (as
    ``Paxos.tla``'s Phase1b, ``m.bal > maxBal[a]``), with a :class:`Promise` carrying the
    proposals it has accepted; it accepts ``Accept(b, slot, v)`` unless it promised a higher
    ballot (``m.bal >= maxBal[a]``, Phase2b). Its promise and its accepted proposals are written
    with ``Output.write`` before it answers (the simulator writes before it sends). A refusal is
    a :class:`Nack` naming the higher promise, so that the proposer can abandon its ballot (§2.4).
Proposer (phases 1a and 2a)
    After promises from a majority it proposes, for every slot any of them reported, the value of
    the highest-numbered accepted proposal it heard of (§2.2, P2c), and its own value or a no-op
    where none was reported.
Learner (§2.3)
    A proposer that counts a majority of :class:`Accepted` for one ballot and slot knows the value
    chosen and tells every node (:class:`Learn`); a node that falls behind is sent what it lacks
    when it answers a heartbeat. Learned values are durable; a node applies them in slot order.

Multi-Paxos (§3, the state machine)
    ``cluster(n)`` (``multi=True``) elects a distinguished leader: a node that hears no heartbeat
    for a randomised election timeout runs phase 1 once, for every slot from the first it does
    not know chosen, and from then on only phase 2 per command (§3: "phase 1 for infinitely many
    instances"). A new leader proposes the reported value for every slot not known chosen and a
    no-op for the gaps (§3's "no-op" commands), then assigns new commands to the next slots. It
    re-sends its unchosen proposals with each heartbeat, so lost messages only delay it. A leader
    that hears of a higher ballot steps down.
Single decree (``multi=False``)
    No leader: ``sim.propose(i, value)`` makes node ``i`` a proposer of slot 1. A proposer whose
    value is not chosen within its retry delay starts again with a higher ballot. With a fixed
    delay shorter than a round two proposers can pre-empt each other for ever (§2.4's
    "progress" paragraph; :func:`scenario_duel`); the default randomised exponential back-off
    ends the duel.

The acceptor's rules (``cluster(n, rules=Rules(...))``)
    The acceptor's two decisions are pure functions of its durable state and the message,
    :func:`on_prepare` and :func:`on_accept`, which return an :class:`AcceptorStep` (the new
    :class:`AcceptorState`, whether to write it before answering, the reply). A cluster built with
    ``rules=Rules(on_prepare=mine)`` runs ``mine`` in every acceptor (exercise 11 plugs a student's
    function in here), and :class:`RuleRecorder` records every decision beside the reference
    answer; ``zablib.models.Paxos(rules=...)`` runs the same functions in ``Paxos.tla``'s actions.

Broken variants (``cluster(n, variant=...)``), each caught by a checker in the tests:

``"forgetful-acceptor"``
    The promise is not persisted: a restarted acceptor has promised nothing and accepts a
    proposal of a lower ballot than one it had promised not to.
``"ignore-accepted"``
    A proposer ignores the values reported in phase 1 and proposes its own (a no-op in
    Multi-Paxos), which can choose a second value for a slot.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import zablib.quorum as quorum
from zablib.core import LogRow, Message, Node, NodeId, NodeStatus, Output
from zablib.invariants import InvariantViolation
from zablib.network import LinkConfig, constant, uniform
from zablib.sim import Simulation, SimulationError

VARIANTS = ("correct", "forgetful-acceptor", "ignore-accepted")
LEADER, CANDIDATE, FOLLOWER, PROPOSER, IDLE = "leader", "candidate", "follower", "proposer", "idle"
HEARTBEAT_MS = 20.0
ELECTION_MS = (100.0, 200.0)
RETRY_MS = (30.0, 60.0)
MAX_BACKOFF = 6  # the back-off range doubles at most this many times
MAX_BATCH = 64  # slots per Learn message


@dataclass(frozen=True)
class NoOp:
    """The value a new leader proposes for a slot it found empty (§3)."""

    def __repr__(self) -> str:
        return "noop"


NOOP = NoOp()


@functools.total_ordering
@dataclass(frozen=True, eq=True)
class Ballot:
    """A proposal number (§2.2): ``round`` first, then the ``proposer``'s id breaks ties.

    Raises TypeError when compared with anything but a Ballot, and ValueError for a negative
    round or proposer.
    """

    round: int
    proposer: NodeId

    def __post_init__(self) -> None:
        for name in ("round", "proposer"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"a ballot's {name} must be an int >= 0, got {value!r}")

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Ballot):
            raise TypeError(f"a ballot compares only with a ballot, not with {other!r}: "
                            "ballots are (round, proposer) pairs")
        return (self.round, self.proposer) < (other.round, other.proposer)

    def __str__(self) -> str:
        return f"{self.round}.{self.proposer}"


#: The ballot before any: every real ballot is higher (round 0 is never used).
ZERO = Ballot(0, 0)


# -- messages ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Prepare(Message):
    """Phase 1a: promise ``ballot`` for every slot from ``first`` on."""

    ballot: Ballot
    first: int

    def describe(self) -> str:
        return f"Prepare({self.ballot}, slots>={self.first})"


@dataclass(frozen=True)
class Promise(Message):
    """Phase 1b: the acceptor's accepted proposals ``(slot, ballot, value)`` from ``first`` on."""

    ballot: Ballot
    accepted: tuple[tuple[int, Ballot, Any], ...]

    def describe(self) -> str:
        acc = ", ".join(f"{s}:{b}={v!r}" for s, b, v in self.accepted)
        return f"Promise({self.ballot}, accepted=[{acc}])"


@dataclass(frozen=True)
class Accept(Message):
    """Phase 2a: accept ``value`` for ``slot`` in ``ballot``."""

    ballot: Ballot
    slot: int
    value: Any

    def describe(self) -> str:
        return f"Accept({self.ballot}, slot={self.slot}, {self.value!r})"


@dataclass(frozen=True)
class Accepted(Message):
    """Phase 2b, sent to the ballot's proposer."""

    ballot: Ballot
    slot: int

    def describe(self) -> str:
        return f"Accepted({self.ballot}, slot={self.slot})"


@dataclass(frozen=True)
class Nack(Message):
    """A refusal of ``ballot``: the acceptor promised ``promised``, which is higher."""

    ballot: Ballot
    promised: Ballot

    def describe(self) -> str:
        return f"Nack({self.ballot}, promised={self.promised})"


@dataclass(frozen=True)
class Learn(Message):
    """Chosen values ``(slot, value)``, from the proposer that counted the quorum."""

    chosen: tuple[tuple[int, Any], ...]

    def describe(self) -> str:
        return "Learn(" + ", ".join(f"{s}={v!r}" for s, v in self.chosen) + ")"


@dataclass(frozen=True)
class Heartbeat(Message):
    """The leader of ``ballot`` is alive and knows the first ``applied`` slots chosen."""

    ballot: Ballot
    applied: int

    def describe(self) -> str:
        return f"Heartbeat({self.ballot}, applied={self.applied})"


@dataclass(frozen=True)
class Behind(Message):
    """A follower that has applied only ``applied`` slots asks the leader for the rest."""

    applied: int


@dataclass(frozen=True)
class Campaign:
    """Client request (Multi-Paxos, scripted runs): start phase 1 now."""


@dataclass(frozen=True)
class Propose:
    """Client request (single decree): propose ``value`` for slot 1."""

    value: Any


# -- the acceptor's rules --------------------------------------------------------------------
@dataclass(frozen=True)
class AcceptorState:
    """What an acceptor keeps on stable storage.

    Attributes
    ----------
    promised : Ballot
        The highest ballot it has promised (or accepted in); :data:`ZERO` before any.
    accepted : tuple of (int, Ballot, Any)
        The proposals it has accepted, ``(slot, ballot, value)``, one per slot (the latest), in
        slot order.
    """

    promised: Ballot = ZERO
    accepted: tuple[tuple[int, Ballot, Any], ...] = ()

    def __str__(self) -> str:
        rows = ", ".join(f"{slot}:{ballot}={value!r}" for slot, ballot, value in self.accepted)
        return f"promised {self.promised}, accepted [{rows}]"


def describe_reply(reply: Message | None) -> str:
    """A reply in words: its message's ``describe()``, or "no answer"."""
    return "no answer" if reply is None else reply.describe()


class AcceptorStep(NamedTuple):
    """An acceptor's decision on one message: its ``state`` afterwards, whether to ``write``
    that state to stable storage before the ``reply`` leaves, and the ``reply`` (a message for
    the sender, or None for no answer)."""

    state: AcceptorState
    write: bool
    reply: Message | None


def on_prepare(state: AcceptorState, prepare: Prepare) -> AcceptorStep:
    """Phase 1b (Paxos Made Simple §2.2; ``Paxos.tla``'s Phase1b): promise a ballot above every
    earlier promise, written before the :class:`Promise` that reports every proposal accepted
    from slot ``prepare.first`` on; refuse a lower one with a :class:`Nack` naming the promise;
    say nothing to the ballot already promised (a duplicate, or a Prepare overtaken by its own
    ballot's Accept)."""
    if prepare.ballot == state.promised:
        return AcceptorStep(state, False, None)
    if not prepare.ballot > state.promised:
        return AcceptorStep(state, False, Nack(prepare.ballot, state.promised))
    report = tuple(row for row in state.accepted if row[0] >= prepare.first)
    return AcceptorStep(AcceptorState(prepare.ballot, state.accepted), True,
                        Promise(prepare.ballot, report))


def on_accept(state: AcceptorState, accept: Accept) -> AcceptorStep:
    """Phase 2b (§2.2; ``Paxos.tla``'s Phase2b): accept unless a higher ballot was promised,
    remembering the proposal (it replaces the slot's older one) and the ballot as promised,
    written before the :class:`Accepted`; refuse with a :class:`Nack` otherwise."""
    if accept.ballot < state.promised:
        return AcceptorStep(state, False, Nack(accept.ballot, state.promised))
    rows = {slot: (slot, ballot, value) for slot, ballot, value in state.accepted}
    rows[accept.slot] = (accept.slot, accept.ballot, accept.value)
    return AcceptorStep(AcceptorState(accept.ballot, tuple(rows[s] for s in sorted(rows))), True,
                        Accepted(accept.ballot, accept.slot))


@dataclass(frozen=True)
class Rules:
    """The acceptor's decisions, which ``cluster(rules=...)`` and ``models.Paxos(rules=...)`` can
    replace; each field defaults to the reference rule: ``Rules(on_prepare=mine)``."""

    on_prepare: Callable[[AcceptorState, Prepare], AcceptorStep] = on_prepare
    on_accept: Callable[[AcceptorState, Accept], AcceptorStep] = on_accept


#: The reference rules (Paxos Made Simple §2.2).
LAMPORT = Rules()


#: A rule's reply written as plain data, ``(kind, *fields)``: the message class of each kind.
REPLIES: dict[str, type[Message]] = {"promise": Promise, "accepted": Accepted, "nack": Nack}


def _rows(rows: Any, what: str) -> tuple[tuple[int, Ballot, Any], ...]:
    try:
        rows = tuple(tuple(row) for row in rows)
    except TypeError:
        raise TypeError(f"{what} must be a tuple of (slot, ballot, value) rows, got {rows!r}") from None
    if any(len(row) != 3 for row in rows):
        raise TypeError(f"{what} must be a tuple of (slot, ballot, value) rows, got {rows!r}")
    return rows


def as_reply(reply: Any, rule: str = "rule") -> Message | None:
    """A rule's reply as a message: None, a message, or plain data ``("promise", ballot,
    accepted)``, ``("accepted", ballot, slot)``, ``("nack", ballot, promised)`` (the fields of
    :class:`Promise`, :class:`Accepted` and :class:`Nack`, as ``Paxos.tla`` writes a message as
    a record with a type). TypeError saying what is wrong otherwise."""
    if reply is None or isinstance(reply, Message):
        return reply
    kinds = ", ".join(f"({k!r}, ...)" for k in REPLIES)
    if not isinstance(reply, tuple | list) or not reply or reply[0] not in REPLIES:
        raise TypeError(f"{rule}'s reply must be None or one of {kinds}, got {reply!r}")
    kind = REPLIES[reply[0]]
    if len(reply) != 3:
        raise TypeError(f"{rule}'s reply {reply!r} must be ({reply[0]!r}, "
                        f"{', '.join(kind.__dataclass_fields__)})")
    if kind is Promise:
        return Promise(reply[1], _rows(reply[2], f"{rule}'s promise's accepted"))
    return kind(reply[1], reply[2])


def as_step(answer: Any, rule: str = "rule") -> AcceptorStep:
    """A rule's ``answer`` ``(state, write, reply)`` as an :class:`AcceptorStep` (the reply as
    :func:`as_reply` reads it); TypeError saying what is wrong with it."""
    if not isinstance(answer, tuple | list) or len(answer) != 3:
        raise TypeError(f"{rule} must return (state, write, reply), got {answer!r}")
    state, write, reply = answer
    if not isinstance(state, AcceptorState):
        raise TypeError(f"{rule} must return an AcceptorState as its state, got {state!r}")
    if write not in (True, False):
        raise TypeError(f"{rule} must return True or False as write, got {write!r}")
    if not isinstance(state.promised, Ballot):
        raise TypeError(f"{rule} must return a state whose promised is a Ballot, got "
                        f"{state.promised!r}")
    state = AcceptorState(state.promised, _rows(state.accepted, f"{rule}'s state's accepted"))
    return AcceptorStep(state, bool(write), as_reply(reply, rule))


@dataclass(frozen=True)
class RuleDecision:
    """One decision an acceptor asked of a rule: ``rule`` (``"on_prepare"`` or
    ``"on_accept"``), its ``args`` ``(state, message)``, the ``answer`` the acceptor acted on and
    the ``expected`` answer of the reference rule."""

    rule: str
    args: tuple
    answer: AcceptorStep
    expected: AcceptorStep

    @property
    def agrees(self) -> bool:
        """The same state and reply as the reference, and written whenever the state changed
        (an extra write costs time but is safe)."""
        state, message = self.args
        return (self.answer.state == self.expected.state
                and self.answer.reply == self.expected.reply
                and (self.answer.write or self.answer.state == state))


@dataclass
class RuleRecorder:
    """Rules that answer as ``rules`` do and record every decision with the reference answer.

    Build a cluster (or a ``models.Paxos``) with ``rules=recorder.rules``; ``decisions`` lists
    every :class:`RuleDecision`, in order.

    >>> recorder = RuleRecorder()
    >>> sim = cluster(3, seed=1, multi=False, rules=recorder.rules)
    >>> sim.propose(1, "v") and sim.run(until=100) is not None
    True
    >>> sorted({d.rule for d in recorder.decisions}), recorder.disagreements()
    (['on_accept', 'on_prepare'], [])
    """

    rules_in_use: Rules = LAMPORT
    reference: Rules = LAMPORT
    decisions: list[RuleDecision] = field(default_factory=list)

    @property
    def rules(self) -> Rules:
        """The recording rules to plug in."""
        def recording(name: str) -> Callable[[AcceptorState, Any], AcceptorStep]:
            def decide(state: AcceptorState, message: Any) -> AcceptorStep:
                expected = getattr(self.reference, name)(state, message)
                answer = as_step(getattr(self.rules_in_use, name)(state, message), name)
                self.decisions.append(RuleDecision(name, (state, message), answer, expected))
                return answer
            return decide
        return Rules(on_prepare=recording("on_prepare"), on_accept=recording("on_accept"))

    def disagreements(self, rule: str | None = None) -> list[RuleDecision]:
        """The decisions (of ``rule``, or of both) that did not answer as the reference."""
        return [d for d in self.decisions if (rule is None or d.rule == rule) and not d.agrees]


# -- the node ---------------------------------------------------------------------------------
class PaxosNode(Node):
    """Proposer, acceptor and learner in one pure state machine.

    Parameters
    ----------
    node_id, peers, storage
        As for :class:`~zablib.core.Node`.
    variant : str
        ``"correct"`` or a broken variant (module docstring).
    multi : bool
        Multi-Paxos with a leader (True) or single-decree proposers (False).
    election_ms, heartbeat_ms
        Multi-Paxos: the randomised election timeout and the leader's heartbeat period.
    retry_ms : float or (float, float)
        Single decree: how long a proposer waits for its value to be chosen before it tries a
        higher ballot.
    backoff : bool
        Single decree: double the retry range after every failed attempt (randomised exponential
        back-off).
    rules : Rules
        The acceptor's decisions (default :data:`LAMPORT`).
    """

    def __init__(self, node_id: NodeId, peers: tuple[NodeId, ...], storage: Mapping[str, Any],
                 variant: str = "correct", multi: bool = True,
                 election_ms: tuple[float, float] = ELECTION_MS,
                 heartbeat_ms: float = HEARTBEAT_MS, retry_ms: float | tuple[float, float] = RETRY_MS,
                 backoff: bool = True, rules: Rules = LAMPORT):
        super().__init__(node_id, peers, storage)
        self.variant, self.multi, self.rules = variant, multi, rules
        self.election_ms, self.heartbeat_ms = election_ms, heartbeat_ms
        self.retry_ms, self.backoff = retry_ms, backoff
        # acceptor, durable (the promise is not, in the broken variant "forgetful-acceptor")
        self.promised: Ballot = storage.get("promised", ZERO)
        self.accepted: dict[int, tuple[Ballot, Any]] = {
            s: (b, v) for s, b, v in storage.get("accepted", ())}
        # proposer: the highest round used or seen, durable so that no ballot is reused
        self.round: int = storage.get("round", 0)
        # learner, durable
        self.learned: dict[int, Any] = dict(storage.get("learned", ()))
        self.applied = 0
        while self.applied + 1 in self.learned:
            self.applied += 1
        # proposer, volatile
        self.role = FOLLOWER if multi else IDLE
        self.ballot = ZERO
        self.leader_id: NodeId | None = None
        self.promises: dict[NodeId, tuple[tuple[int, Ballot, Any], ...]] = {}
        self.proposals: dict[int, Any] = {}  # slot -> value proposed in self.ballot, not chosen
        self.acks: dict[int, set[NodeId]] = {}
        self.next_slot = 1
        self.in_phase2 = False
        self.queue: list[Any] = []  # single decree: the value this proposer proposes
        self.attempts = 0

    # -- status ---------------------------------------------------------------------------
    def status(self) -> str:
        return (f"{self.role} ballot={self.ballot if self.ballot != ZERO else '-'} "
                f"promised={self.promised} learned={len(self.learned)} applied={self.applied}")

    def report(self) -> NodeStatus:
        """Role, ``term`` = the round of the promised ballot, the leader it knows of, its log (one
        row per slot up to the highest it knows of: the learned value, else the value it accepted,
        ``kind`` ``"command"`` or ``"noop"``, ``term`` the round of its accepted ballot, None for a
        learned value it never accepted, even where it accepted another value in that slot; a
        slot it knows nothing of, below one it knows, is a row of kind ``"empty"``, a kind only
        Paxos has) and ``commit`` = the slots it has applied (durable), all of them learned.

        ``extra``: ``promised`` and ``ballot`` (its own, as a proposer) as :class:`Ballot`,
        ``learned`` (how many slots it knows chosen, maybe with gaps).
        """
        top = max([*self.learned, *self.accepted, 0])
        rows = []
        for slot in range(1, top + 1):
            ballot, accepted = self.accepted.get(slot, (None, None))
            value = self.learned.get(slot, accepted)
            if value != accepted:  # learned a value it never accepted (its own vote lost out)
                ballot = None
            if slot not in self.learned and ballot is None:
                rows.append(LogRow(slot, None, None, "empty"))
                continue
            rows.append(LogRow(slot, None if ballot is None else ballot.round, value,
                               "noop" if value == NOOP else "command"))
        return NodeStatus(self.id, True, self.role, term=self.promised.round, leader=self.leader_id,
                          log=tuple(rows), commit=self.applied, text=self.status(),
                          extra={"promised": self.promised, "ballot": self.ballot,
                                 "learned": len(self.learned)})

    # -- inputs ---------------------------------------------------------------------------
    def on_start(self, now: float) -> Output:
        out = Output()
        if self.multi:
            out.set_timer("election", self.election_ms)
        return out

    def on_timer(self, now: float, name: str) -> Output:
        out = Output()
        if name == "election" and self.role != LEADER:
            self._start_phase1(out)
            out.set_timer("election", self.election_ms)
        elif name == "heartbeat" and self.role == LEADER:
            self._broadcast(out, Heartbeat(self.ballot, self.applied))
            for slot, value in sorted(self.proposals.items()):  # re-send what may be lost
                self._broadcast(out, Accept(self.ballot, slot, value))
            out.set_timer("heartbeat", self.heartbeat_ms)
        elif name == "retry" and self.role == PROPOSER and 1 not in self.learned:
            if self.ballot != ZERO:  # not after a Nack: that attempt was counted then
                self.attempts += 1
            self._start_phase1(out)
        return out

    def on_client(self, now: float, request: Any) -> Output:
        out = Output()
        if isinstance(request, Campaign):
            out.reply = self.multi and self.role != LEADER
            if out.reply:
                self._start_phase1(out)
                out.set_timer("election", self.election_ms)
            return out
        if isinstance(request, Propose):
            if self.multi:
                raise ValueError("propose() is single-decree Paxos; use submit() on a "
                                 "Multi-Paxos cluster, or cluster(n, multi=False)")
            out.note(f"proposes {request.value!r}", tag="propose", value=request.value)
            if 1 in self.learned:
                out.reply = False
                return out
            self.queue = [request.value]
            self.attempts = 0
            self.role = PROPOSER
            self._start_phase1(out)
            out.reply = True
            return out
        if not self.multi:
            raise ValueError("a single-decree node takes Propose(value), not a bare command")
        if self.role != LEADER:
            out.reply = False
            return out
        out.note(f"proposes {request!r}", tag="propose", value=request)
        self._propose(out, self.next_slot, request)
        self.next_slot += 1
        out.reply = True
        return out

    def on_message(self, now: float, src: NodeId, msg: Message) -> Output:
        out = Output()
        self._receive(out, src, msg)
        return out

    def _receive(self, out: Output, src: NodeId, msg: Message) -> None:
        if isinstance(msg, Prepare | Accept):
            reply = self._step_acceptor(out, src, msg)
            if reply is None:
                return
            if src == self.id:
                self._receive(out, src, reply)
            else:
                out.send(src, reply)
        elif isinstance(msg, Promise | Accepted | Nack):
            self._step_proposer(out, src, msg)
        elif isinstance(msg, Learn):
            self._learn(out, msg.chosen, relay=True)
        elif isinstance(msg, Heartbeat) and src != self.id:
            self._step_follower(out, src, msg)
        elif isinstance(msg, Behind) and self.role == LEADER:
            missing = [(s, self.learned[s]) for s in range(msg.applied + 1, self.applied + 1)]
            if missing:
                out.send(src, Learn(tuple(missing[:MAX_BATCH])))

    def _broadcast(self, out: Output, msg: Message) -> None:
        """Send ``msg`` to every node; this node's own part is handled here, not sent."""
        out.broadcast(self.others, msg)
        self._receive(out, self.id, msg)

    # -- acceptor -------------------------------------------------------------------------
    def _persist_acceptor(self, out: Output) -> None:
        if self.variant == "forgetful-acceptor":
            out.write(accepted=self._accepted_rows())
        else:
            out.write(promised=self.promised, accepted=self._accepted_rows())

    def _accepted_rows(self) -> tuple[tuple[int, Ballot, Any], ...]:
        return tuple((s, b, v) for s, (b, v) in sorted(self.accepted.items()))

    def _step_acceptor(self, out: Output, src: NodeId, msg: Prepare | Accept) -> Message | None:
        """Ask the rules (:func:`on_prepare`, :func:`on_accept`) and act on the answer: every
        vote it adds is noted for the checkers, and the state is written if it says so."""
        name = "on_prepare" if isinstance(msg, Prepare) else "on_accept"
        before = self.accepted
        step = as_step(getattr(self.rules, name)(
            AcceptorState(self.promised, self._accepted_rows()), msg), name)
        self.promised = step.state.promised
        self.accepted = {s: (b, v) for s, b, v in step.state.accepted}
        for slot, (ballot, value) in sorted(self.accepted.items()):
            if before.get(slot) != (ballot, value):
                out.note(f"accepts slot {slot} = {value!r} in {ballot}", tag="accept",
                         value=(slot, ballot, value))
        if step.write:
            self._persist_acceptor(out)
        if isinstance(step.reply, Promise) and self.multi and src != self.id:
            out.set_timer("election", self.election_ms)  # let the candidate finish
        return step.reply

    # -- proposer -------------------------------------------------------------------------
    def _new_ballot(self, out: Output, above: Ballot) -> Ballot:
        self.round = max(self.round, above.round) + 1
        out.write(round=self.round)
        return Ballot(self.round, self.id)

    def _start_phase1(self, out: Output) -> None:
        self.ballot = self._new_ballot(out, self.promised)
        if self.multi:
            self.role = CANDIDATE
            self.leader_id = None
            out.cancel_timer("heartbeat")
        else:
            out.set_timer("retry", self._retry_delay())
        self.promises, self.proposals, self.acks = {}, {}, {}
        self.in_phase2 = False
        out.note(f"phase 1 with ballot {self.ballot}", tag="prepare", value=self.ballot)
        self._broadcast(out, Prepare(self.ballot, self.applied + 1))

    def _retry_delay(self) -> float | tuple[float, float]:
        """Single decree: the wait before the next ballot; with back-off the range doubles with
        every failed attempt (drawn at random by the simulator)."""
        spread = 2 ** min(self.attempts, MAX_BACKOFF) if self.backoff else 1
        if isinstance(self.retry_ms, tuple):
            return (self.retry_ms[0] * spread, self.retry_ms[1] * spread)
        return self.retry_ms * spread

    def _step_proposer(self, out: Output, src: NodeId, msg: Promise | Accepted | Nack) -> None:
        if isinstance(msg, Nack):
            if msg.promised.round > self.round:
                self.round = msg.promised.round
                out.write(round=self.round)
            if (msg.ballot != self.ballot or not msg.promised > msg.ballot
                    or self.role not in (LEADER, CANDIDATE, PROPOSER)):
                return
            out.note(f"pre-empted by {msg.promised}", tag="preempted", value=msg.promised)
            if self.multi:
                self._step_down(out)
            elif self.backoff:  # §2.4: abandon the ballot; try again after a random wait
                self.attempts += 1
                self.ballot = ZERO
                out.set_timer("retry", self._retry_delay())
            else:  # the naive proposer: at once, with a higher ballot
                self.attempts += 1
                self._start_phase1(out)
            return
        if msg.ballot != self.ballot:
            return  # an answer to an abandoned ballot
        if isinstance(msg, Promise) and self.role in (CANDIDATE, PROPOSER) and not self.in_phase2:
            self.promises[src] = msg.accepted
            if quorum.is_quorum(self.promises, self.peers):
                self._phase2(out)
        elif isinstance(msg, Accepted) and msg.slot in self.proposals:
            self.acks.setdefault(msg.slot, set()).add(src)
            if quorum.is_quorum(self.acks[msg.slot], self.peers):
                value = self.proposals.pop(msg.slot)
                del self.acks[msg.slot]
                chosen = ((msg.slot, value),)
                out.broadcast(self.others, Learn(chosen))
                self._learn(out, chosen)

    def _step_down(self, out: Output) -> None:
        if self.multi:
            self.role = FOLLOWER
            out.cancel_timer("heartbeat")
            out.set_timer("election", self.election_ms)
        self.proposals, self.acks = {}, {}

    def _phase2(self, out: Output) -> None:
        """A majority promised: propose for every slot they reported (P2c) and fill the gaps."""
        highest: dict[int, tuple[Ballot, Any]] = {}
        for accepted in self.promises.values():
            for slot, ballot, value in accepted:
                if slot not in highest or ballot > highest[slot][0]:
                    highest[slot] = (ballot, value)
        first = self.applied + 1
        top = max([*highest, first - 1])
        if self.multi:
            self.role, self.leader_id = LEADER, self.id
            out.note(f"leader with ballot {self.ballot}", tag="leader", value=self.ballot)
            out.cancel_timer("election")
            out.set_timer("heartbeat", self.heartbeat_ms)
        self.in_phase2 = True  # later promises come too late
        for slot in range(first, top + 1):
            if slot in self.learned:
                continue
            if slot in highest and self.variant != "ignore-accepted":
                value = highest[slot][1]
            elif not self.multi and self.queue:
                value = self.queue[0]
            else:
                value = NOOP
            self._propose(out, slot, value)
        if not self.multi and top < 1 and self.queue:
            self._propose(out, 1, self.queue[0])
        self.next_slot = max([top, first - 1, *self.learned]) + 1

    def _propose(self, out: Output, slot: int, value: Any) -> None:
        self.proposals[slot] = value
        self.acks[slot] = set()
        self._broadcast(out, Accept(self.ballot, slot, value))

    # -- learner --------------------------------------------------------------------------
    def _step_follower(self, out: Output, src: NodeId, msg: Heartbeat) -> None:
        if msg.ballot < self.promised:
            out.send(src, Nack(msg.ballot, self.promised))
            return
        if self.role in (LEADER, CANDIDATE) and msg.ballot > self.ballot:
            self._step_down(out)
        if self.role == FOLLOWER:
            self.leader_id = src
            out.set_timer("election", self.election_ms)
        if msg.applied > self.applied:
            out.send(src, Behind(self.applied))

    def _learn(self, out: Output, chosen: Iterable[tuple[int, Any]], relay: bool = False) -> None:
        new = [(s, v) for s, v in chosen if s not in self.learned]
        if not new:
            return
        for slot, value in new:
            self.learned[slot] = value
            out.note(f"learns slot {slot} = {value!r}", tag="learn", value=(slot, value))
        out.write(learned=tuple(sorted(self.learned.items())))
        while self.applied + 1 in self.learned:
            self.applied += 1
            out.note(f"applies slot {self.applied}", tag="apply", value=self.applied)
        if self.role == LEADER and self.next_slot <= self.applied:
            self.next_slot = self.applied + 1
        if not self.multi and 1 in self.learned:
            if self.role == PROPOSER and relay:
                # Told by another proposer while still proposing: pass the value on, since a
                # client asked this node because some node had not learned it (§2.3).
                out.broadcast(self.others, Learn(((1, self.learned[1]),)))
            out.cancel_timer("retry")
            self.role = IDLE


# -- checkers on plain records ---------------------------------------------------------------
def chosen_values(votes: Iterable[tuple[NodeId, int, Ballot, Any]],
                  acceptors: Iterable[NodeId]) -> dict[int, set[Any]]:
    """Every value chosen per slot: accepted in one ballot by a majority of ``acceptors`` (§2.2).

    ``votes`` are ``(acceptor, slot, ballot, value)``: every proposal an acceptor accepted.
    """
    ids = tuple(acceptors)
    voters: dict[tuple[int, Ballot, Any], set[NodeId]] = {}
    for acceptor, slot, ballot, value in votes:
        voters.setdefault((slot, ballot, value), set()).add(acceptor)
    chosen: dict[int, set[Any]] = {}
    for (slot, _, value), who in voters.items():
        if quorum.is_quorum(who, ids):
            chosen.setdefault(slot, set()).add(value)
    return chosen


def check_one_value(votes: Iterable[tuple[NodeId, int, Ballot, Any]], acceptors: Iterable[NodeId]) -> None:
    """Safety (§2.1): at most one value is chosen per slot."""
    for slot, values in sorted(chosen_values(votes, acceptors).items()):
        if len(values) > 1:
            raise InvariantViolation("one value per slot", f"slot {slot} has {len(values)} "
                                     f"values chosen: {sorted(map(repr, values))}")


def check_only_proposed(votes: Iterable[tuple[NodeId, int, Ballot, Any]], acceptors: Iterable[NodeId],
                        proposed: Iterable[Any]) -> None:
    """Safety (§2.1): only a value that was proposed (or a leader's no-op) is chosen."""
    allowed = list(proposed) + [NOOP]
    for slot, values in sorted(chosen_values(votes, acceptors).items()):
        for value in values:
            if value not in allowed:
                raise InvariantViolation("only proposed values", f"slot {slot} chose {value!r}, "
                                         "which no client proposed")


def check_learners_agree(learned: Mapping[NodeId, Mapping[int, Any]],
                         chosen: Mapping[int, set[Any]] | None = None) -> None:
    """Safety (§2.1): no two learners learn different values for a slot, and (given ``chosen``)
    a learner learns only a value that was chosen."""
    first: dict[int, tuple[NodeId, Any]] = {}
    for node in sorted(learned):
        for slot, value in sorted(learned[node].items()):
            seen = first.setdefault(slot, (node, value))
            if seen[1] != value:
                raise InvariantViolation("learners agree", f"node {seen[0]} learned {seen[1]!r} "
                                         f"for slot {slot} but node {node} learned {value!r}")
            if chosen is not None and value not in chosen.get(slot, ()):
                raise InvariantViolation("learners agree", f"node {node} learned {value!r} for "
                                         f"slot {slot}, which was not chosen")


def _votes(sim: Simulation) -> list[tuple[NodeId, int, Ballot, Any]]:
    return [(e.node, *e.value) for e in sim.trace if e.kind == "note" and e.tag == "accept"]


def one_value(sim: PaxosSimulation) -> None:
    """At most one value chosen per slot, from every proposal any acceptor accepted in the run."""
    check_one_value(_votes(sim), sim.node_ids)


def only_proposed(sim: PaxosSimulation) -> None:
    """Only a proposed value (or a no-op) is chosen."""
    check_only_proposed(_votes(sim), sim.node_ids, sim.trace.values("propose"))


def learners_agree(sim: PaxosSimulation) -> None:
    """Every node's learned values (live or as they were at its crash) agree and were chosen."""
    learned: dict[NodeId, dict[int, Any]] = {i: {} for i in sim.node_ids}
    for e in sim.trace:
        if e.kind == "note" and e.tag == "learn":
            learned[e.node][e.value[0]] = e.value[1]
    check_learners_agree(learned, chosen_values(_votes(sim), sim.node_ids))


# -- the simulation --------------------------------------------------------------------------
class PaxosSimulation(Simulation):
    """A :class:`~zablib.sim.Simulation` of Paxos nodes with client-level questions."""

    variant: str = "correct"
    multi: bool = True

    def chosen(self) -> dict[int, Any]:
        """The value chosen per slot so far (accepted by a majority in one ballot), whether or
        not anyone has learned it yet. (A slot with two values, which only a broken variant
        makes, shows one of them; ``check()`` reports it.)"""
        chosen = chosen_values(_votes(self), self.node_ids)
        return {slot: min(values, key=repr) for slot, values in sorted(chosen.items())}

    def leader(self) -> NodeId | None:
        """Multi-Paxos: the live leader (phase 1 done) of the highest ballot, or None."""
        live = [n for i, n in sorted(self.nodes.items()) if self.is_up(i) and n.role == LEADER]
        return max(live, key=lambda n: n.ballot).id if live else None

    def submit(self, command: Any) -> bool:
        """Multi-Paxos: hand ``command`` to the leader; True if a live leader proposed it.

        Single decree: hand it to the first live node that has not learned a chosen value, which
        proposes it (:meth:`propose`); False if every live node has learned one.
        """
        if not self.multi:
            live = [i for i in self.node_ids if self.is_up(i) and 1 not in self.nodes[i].learned]
            return bool(live) and self.propose(live[0], command)
        leader = self.leader()
        return False if leader is None else bool(self.request(leader, command))

    def campaign(self, node: NodeId) -> bool:
        """Multi-Paxos: make ``node`` start phase 1 now (as if its election timer fired)."""
        return bool(self.request(node, Campaign()))

    def propose(self, node: NodeId, value: Any) -> bool:
        """Single decree: make ``node`` a proposer of ``value``; False if it already knows a
        value chosen."""
        return bool(self.request(node, Propose(value)))

    def committed(self, node: NodeId) -> list[Any]:
        """The client commands ``node`` has applied, in slot order, no-ops left out. Learned
        values are durable, so a restarted node still knows what it applied (as ZAB's, unlike
        Raft's volatile commit index)."""
        return self.status(node).committed()


def cluster(n: int = 3, *, seed: int = 0, variant: str = "correct", multi: bool = True,
            election_ms: tuple[float, float] = ELECTION_MS, heartbeat_ms: float = HEARTBEAT_MS,
            retry_ms: float | tuple[float, float] = RETRY_MS, backoff: bool = True,
            link: LinkConfig | None = None, rules: Rules | None = None) -> PaxosSimulation:
    """A Paxos cluster of ``n`` nodes (ids 1..n), each proposer, acceptor and learner.

    Parameters
    ----------
    n : int
        Nodes, at least 1; a majority of them is a quorum.
    seed : int
        Seed of the run.
    variant : str
        ``"correct"`` or a broken variant of the module docstring.
    multi : bool
        Multi-Paxos with an elected leader (default), or single-decree proposers
        (``sim.propose(i, value)``).
    election_ms, heartbeat_ms
        Multi-Paxos: range of the randomised election timeout, and the heartbeat period.
    retry_ms : float or (float, float)
        Single decree: a proposer's wait before a higher ballot (a range draws it at random).
    backoff : bool
        Single decree: double the wait after every failed attempt.
    link : LinkConfig, optional
        Default: uniform 1-10 ms, reordering (``fifo=False``), no loss.
    rules : Rules, optional
        The acceptor's decisions, e.g. ``Rules(on_accept=my_on_accept)`` (default
        :data:`LAMPORT`).
    """
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n must be an int >= 1, got {n!r}")
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; use one of {', '.join(VARIANTS)}")
    lo, hi = election_ms
    if not 0 < lo <= hi or heartbeat_ms <= 0:
        raise ValueError("need 0 < election_ms[0] <= election_ms[1] and heartbeat_ms > 0")
    retry = retry_ms if isinstance(retry_ms, tuple) else (retry_ms, retry_ms)
    if not 0 < retry[0] <= retry[1]:
        raise ValueError(f"retry_ms must be > 0 (or a range 0 < low <= high), got {retry_ms!r}")
    if rules is not None and not isinstance(rules, Rules):
        raise ValueError(f"rules must be a paxos.Rules, got {rules!r}")
    chosen_rules = LAMPORT if rules is None else rules
    sim = PaxosSimulation(
        lambda i, peers, storage: PaxosNode(i, peers, storage, variant, bool(multi), election_ms,
                                            heartbeat_ms, retry_ms, bool(backoff), chosen_rules),
        range(1, n + 1),
        seed=seed,
        link=link or LinkConfig(delay=uniform(1.0, 10.0), fifo=False),
        invariants=[one_value, only_proposed, learners_agree],
    )
    sim.variant, sim.multi = variant, bool(multi)
    return sim


# -- scripted runs ---------------------------------------------------------------------------
#: The links of the scripted runs, so slow that nothing arrives unless the script delivers it.
SCRIPT_LINK = LinkConfig(delay=constant(1000.0), fifo=False)


def _deliver(sim: PaxosSimulation, src: NodeId, dst: NodeId, kind: type) -> None:
    """Deliver the first message of ``kind`` on its way from ``src`` to ``dst``, now."""
    for m in sim.in_flight():
        if (m.src, m.dst) == (src, dst) and isinstance(m.message, kind):
            sim.deliver_now(m.msg_id)
            return
    raise SimulationError(f"no {kind.__name__} on its way from {src} to {dst}")


def scenario_duel(prepares: int = 12) -> PaxosSimulation:
    """Two single-decree proposers that pre-empt each other for ``prepares`` ballots (§2.4).

    No message is lost and no node crashes: the network only chooses an order, as an
    asynchronous network may. Proposer 1 finishes phase 1; before its Accepts arrive, proposer
    2 finishes phase 1 with a higher ballot, so the acceptors refuse them; proposer 1, told so by
    the Nacks, starts at once with a higher ballot, which then pre-empts proposer 2's Accepts;
    and so on. Every ballot gets one vote, its proposer's own: nothing is chosen, nothing unsafe
    happens, and the run could go on for ever (the shadow of FLP). The proposers are the naive
    ones (``backoff=False``); the scheduler would defeat any proposer in the same way, which is
    why Paxos needs a leader, or randomness, for progress.
    """
    if isinstance(prepares, bool) or not isinstance(prepares, int) or prepares < 2:
        raise ValueError(f"prepares must be an int >= 2, got {prepares!r}")
    sim = cluster(3, multi=False, backoff=False, retry_ms=10_000.0, link=SCRIPT_LINK)

    def next_message() -> int:
        """Phase 1 messages first; then Accepts, but never those of the newest ballot."""
        newest = max(node.ballot for node in sim.nodes.values())
        waiting = sim.in_flight()
        phase1 = [m for m in waiting if not isinstance(m.message, Accept)]
        stale = [m for m in waiting if isinstance(m.message, Accept) and m.message.ballot != newest]
        if not phase1 + stale:
            raise SimulationError("the duel stopped: nothing left to deliver")
        return (phase1 or stale)[0].msg_id

    sim.propose(1, "a")
    while any(not isinstance(m.message, Accept) for m in sim.in_flight()):
        sim.deliver_now(next_message())  # proposer 1 finishes phase 1
    sim.propose(2, "b")
    while len(sim.trace.values("prepare")) < prepares:
        sim.deliver_now(next_message())
    return sim


def scenario_forgotten_promise(variant: str = "forgetful-acceptor") -> PaxosSimulation:
    """The run that catches ``"forgetful-acceptor"`` (three single-decree proposers' nodes).

    Acceptor 3 promises ballot 1.2 to proposer 2, and crashes and restarts before its Promise
    reaches 2. Proposer 1 then runs ballot 1.1 with acceptor 3: a forgetful acceptor, which has
    lost its promise, promises 1.1 and accepts ``"a"``: chosen by {1, 3}. Then 3's Promise
    reaches proposer 2, which has heard of no accepted value from {2, 3} and proposes ``"b"``;
    3 accepts it too (1.2 is above 1.1): ``"b"`` is chosen by {2, 3}. A correct acceptor remembers
    its promise of 1.2 and refuses ballot 1.1, so ``"a"`` is never chosen. The rest of the run
    is left to the network (``sim.run``).
    """
    sim = cluster(3, multi=False, variant=variant, backoff=True, retry_ms=3000.0,
                  link=SCRIPT_LINK)
    sim.propose(2, "b")
    _deliver(sim, 2, 3, Prepare)  # 3 promises 1.2; its Promise stays on its way
    sim.crash(3)
    sim.recover(3)
    sim.propose(1, "a")
    _deliver(sim, 1, 3, Prepare)
    if any(isinstance(m.message, Promise) and m.src == 3 and m.dst == 1 for m in sim.in_flight()):
        _deliver(sim, 3, 1, Promise)  # only a forgetful acceptor promised 1.1
        _deliver(sim, 1, 3, Accept)
    _deliver(sim, 3, 2, Promise)
    _deliver(sim, 2, 3, Accept)
    sim.run(until=20_000)
    return sim


def scenario_ignored_value(variant: str = "ignore-accepted") -> PaxosSimulation:
    """The run that catches ``"ignore-accepted"`` (single decree, three nodes).

    Proposer 1 gets ``"a"`` chosen in ballot 1.1 by acceptors {1, 3}; nobody else has learned it
    yet. Proposer 2 runs ballot 1.2 with acceptors {2, 3}; acceptor 3 reports its vote for
    ``"a"``. A correct proposer must propose ``"a"`` (P2c); one that ignores accepted values
    proposes its own ``"b"``, which {2, 3} accept: two values chosen.
    """
    sim = cluster(3, multi=False, variant=variant, backoff=True, retry_ms=3000.0,
                  link=SCRIPT_LINK)
    sim.propose(1, "a")
    _deliver(sim, 1, 3, Prepare)
    _deliver(sim, 3, 1, Promise)
    _deliver(sim, 1, 3, Accept)
    _deliver(sim, 3, 1, Accepted)  # chosen by {1, 3}; the Learn messages are on their way
    sim.propose(2, "b")
    _deliver(sim, 2, 3, Prepare)
    _deliver(sim, 3, 2, Promise)
    _deliver(sim, 2, 3, Accept)
    sim.run(until=20_000)
    return sim


def scenario_gap(variant: str = "correct") -> PaxosSimulation:
    """Multi-Paxos: the leader crashes leaving a gap, and the next leader fills it with a no-op.

    Leader 1 proposes ``"x"`` for slot 1 while its links to the others are cut (no acceptor but
    itself hears of it), then ``"y"`` for slot 2, which a majority accepts: slot 2 is chosen and
    learned, but nobody can apply it, since slot 1 is not chosen. Leader 1 crashes before its
    next heartbeat would re-send ``"x"``. The next leader's phase 1 hears of no value for slot 1
    (a quorum of {2, 3} reports none): it proposes a no-op for slot 1 (§3) and nothing for slot
    2, which it has learned already (had it not, the promises' ``"y"`` would be proposed again),
    and every live node applies ``["y"]``.
    """
    sim = cluster(3, seed=0, variant=variant, election_ms=(150.0, 300.0), heartbeat_ms=60.0)
    sim.campaign(1)
    sim.run_until(lambda s: s.leader() == 1, what="node 1 leading")
    sim.run_for(70.0)
    sim.cut_link(1, 2)
    sim.cut_link(1, 3)
    sim.submit("x")
    sim.restore_link(1, 2)
    sim.restore_link(1, 3)
    sim.submit("y")
    sim.run_until(lambda s: 2 in s.nodes[2].learned and 2 in s.nodes[3].learned,
                  what="slot 2 learned")
    sim.crash(1)
    sim.run_until(lambda s: s.leader() in (2, 3) and all(
        s.nodes[i].applied >= 2 for i in (2, 3)), what="a new leader filling the gap")
    return sim

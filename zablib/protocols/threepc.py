"""Three-phase commit (Skeen 1981), with its termination protocol, and a deliberately wrong variant.

Node 0 is the coordinator; nodes ``1..n`` are participants. Skeen's idea: two-phase commit
blocks because a prepared participant's state is *adjacent* to both commit and abort, so a
survivor that sees only prepared peers cannot tell which one happened. Three-phase commit adds a
state between "voted yes" and "committed", **pre-committed**, and keeps the rule

    no state is adjacent to both commit and abort, and no non-committable state is adjacent to
    commit,

so that the survivors' states alone tell them what may have happened.

Phases (message names as in the usual descriptions):

1. ``CanCommit`` -> each participant votes (``Vote``); a yes voter writes its vote and becomes
   *uncertain*; a no voter aborts.
2. All yes: the coordinator writes a *pre-commit* record and sends ``PreCommit``; a participant
   writes it (*pre-committed*) and answers ``Ack``. Any no, or a missing vote: ``Abort``.
3. When every participant has acknowledged, or the missing ones have crashed, the coordinator
   commits and sends ``DoCommit``. Once it has sent a single ``PreCommit`` the coordinator never
   aborts.

Timeouts, all under the assumption Skeen's proof needs: *crashes only, detected reliably* (a
timeout means the peer has crashed):

* a participant waiting for ``CanCommit`` aborts unilaterally; the coordinator waiting for votes
  aborts; the coordinator waiting for acks commits;
* an uncertain or pre-committed participant waiting for its coordinator runs the **termination
  protocol**. Participants take over in rank order 1, 2, ...: a participant that times out on
  coordinator ``c`` turns to ``c + 1`` (and nudges it with a ``DecisionRequest``), or takes over
  itself when its own turn has come. The new coordinator asks every higher-ranked participant for
  its state (``StateRequest``/``StateReply``) and applies **Skeen's rule**:

  - some participant aborted (or had not even voted) -> abort;
  - some participant committed -> commit;
  - some participant pre-committed -> pre-commit the uncertain ones (``PreCommit``, ``Ack``),
    then commit;
  - every participant uncertain -> abort.

  Every message of a (new) coordinator carries its rank; a participant that has turned to
  coordinator ``c`` ignores ``PreCommit`` from ranks below ``c``, so a late message from a
  deposed coordinator cannot change a state it has already reported. Decisions (``DoCommit``,
  ``Abort``) are final and accepted from anyone.

Under a network partition the assumption fails: a timeout no longer means a crash, each side
takes the other for dead, and the two sides can decide differently. :func:`scenario_partition`
shows it, and the explorer finds the shortest such run by itself
(``zablib.models.CommitModel(threepc, 2, partitions=True)``).

``variant="abort-after-precommit"`` (alias ``"wrong"``) is the run the source note asks about:
its coordinator aborts when an ``Ack`` does not arrive in time, although it has already sent
``PreCommit``. That makes the coordinator's pre-commit state adjacent to both abort and commit,
and crashes alone then split the decision (:func:`scenario_wrong_variant`).

Recovery (outside Skeen's crash-stop model, for the simulator): a node that recovers undecided
asks the others (``DecisionRequest``) until someone who knows answers; it never takes over. A
coordinator that recovers before its pre-commit record aborts (nobody can have pre-committed).
After a *total* failure nobody may know: 3PC then blocks until every node is back. A recovered
undecided node answers a ``DecisionRequest`` with ``Recovered(state)``; once a recovered node has
that answer from every other node, it knows the durable state of all of them, none decided, and
applies Skeen's rule to them all (the coordinator's pre-commit record counting as
pre-committed). Every recovered node sees the same states, so they all decide alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, ClassVar

from zablib.core import Message, NodeId, NodeStatus, Output
from zablib.network import LinkConfig, constant
from zablib.protocols.commit import (
    ABORT,
    COMMIT,
    COORDINATOR,
    DECISION_TIMEOUT_MS,
    RETRY_MS,
    TIMEOUT_MS,
    CommitCoordinator,
    CommitParticipant,
    CommitSimulation,
    DecisionRequest,
    Signal,
    Vote,
    decided_state,
    node_factory_of,
)
from zablib.sim import NodeFactory

__all__ = [
    "VARIANTS", "CanCommit", "PreCommit", "Ack", "DoCommit", "Abort", "StateRequest", "StateReply",
    "Recovered",
    "Vote", "DecisionRequest", "Coordinator", "Participant", "ThreePCSimulation", "cluster",
    "node_factory", "termination_rule", "scenario_note", "scenario_partition",
    "scenario_wrong_variant",
]

VARIANTS = ("correct", "abort-after-precommit")
_ALIASES = {"wrong": "abort-after-precommit"}
UNDECIDED = ("uncertain", "precommitted")


def check_variant(variant: str) -> str:
    """The canonical name of ``variant`` ("wrong" is "abort-after-precommit"); ValueError if unknown."""
    if not isinstance(variant, str) or _ALIASES.get(variant, variant) not in VARIANTS:
        raise ValueError(f"unknown 3PC variant {variant!r}; use 'correct' or "
                         "'abort-after-precommit' (alias 'wrong')")
    return _ALIASES.get(variant, variant)


# -- messages ---------------------------------------------------------------------------------

class CanCommit(Signal):
    """Coordinator -> participant: can you commit? (phase 1)."""


@dataclass(frozen=True)
class RankedMessage(Message):
    """A 3PC message naming ``coord``, the rank of the coordinator it comes from or goes to.

    Each kind below only says how the trace writes it (``label``, with ``{coord}`` for the rank).
    """

    coord: NodeId
    label: ClassVar[str] = "{coord}"

    def describe(self) -> str:
        return self.label.format(coord=self.coord)


class PreCommit(RankedMessage):
    """Coordinator of rank ``coord`` -> participant: everyone voted yes; pre-commit (phase 2)."""

    label = "PreCommit(by {coord})"


class Ack(RankedMessage):
    """Participant -> coordinator ``coord``: I am pre-committed."""

    label = "Ack(to {coord})"


class DoCommit(RankedMessage):
    """The decision commit, from coordinator ``coord`` or from a node that knows it (phase 3)."""

    label = "DoCommit(by {coord})"


class Abort(RankedMessage):
    """The decision abort, from coordinator ``coord`` or from a node that knows it."""

    label = "Abort(by {coord})"


class StateRequest(RankedMessage):
    """New coordinator of rank ``coord`` -> participant: what is your state? (termination)."""

    label = "StateRequest(by {coord})"


@dataclass(frozen=True)
class StateReply(Message):
    """Participant -> new coordinator ``coord``: my state (``"uncertain"``, ``"precommitted"`` ...)."""

    coord: NodeId
    state: str

    def describe(self) -> str:
        return f"StateReply({self.state})"


@dataclass(frozen=True)
class Recovered(Message):
    """A node that recovered undecided -> a node asking for the outcome: I do not know; my
    durable state is ``state``."""

    state: str

    def describe(self) -> str:
        return f"Recovered({self.state})"


def _decision_message(outcome: str, coord: NodeId) -> Message:
    return DoCommit(coord) if outcome == COMMIT else Abort(coord)


def termination_rule(states: Iterable[str]) -> str:
    """Skeen's decision rule for a new coordinator, given the participants' states.

    Parameters
    ----------
    states : iterable of str
        Each one ``"working"`` (not voted), ``"uncertain"`` (voted yes), ``"precommitted"``,
        ``"committed"`` or ``"aborted"``.

    Returns
    -------
    str
        ``"abort"`` if any aborted or had not voted; else ``"commit"`` if any committed; else
        ``"precommit"`` (pre-commit the uncertain ones, then commit) if any pre-committed; else
        (all uncertain) ``"abort"``.

    Notes
    -----
    A cluster, a node factory and ``zablib.models.CommitModel`` take another rule of the same
    shape through ``termination_rule=`` (to try one out, or to check an exercise's answer).
    """
    seen = set(states)
    unknown = seen - {"working", "uncertain", "precommitted", "committed", "aborted"}
    if unknown:
        raise ValueError(f"unknown participant state(s) {sorted(unknown)}")
    if "aborted" in seen or "working" in seen:
        return "abort"
    if "committed" in seen:
        return "commit"
    if "precommitted" in seen:
        return "precommit"
    return "abort"


# -- nodes ------------------------------------------------------------------------------------

class Coordinator(CommitCoordinator):
    """The 3PC coordinator (node 0).

    Phase one as in :class:`~zablib.protocols.commit.CommitCoordinator`. Durable state adds
    ``phase`` (``"precommit"`` once it has decided to pre-commit); ``state`` adds
    ``"precommitting"`` (waiting for acks) and ``"uncertain"`` (recovered after pre-committing,
    outcome unknown: it asks).

    Parameters
    ----------
    variant : {"correct", "abort-after-precommit"}
        What to do when an ``Ack`` is missing: commit (Skeen), or abort (the wrong variant).
    termination_rule : callable
        The rule it applies when it recovers undecided and learns every other node's state
        (a function like :func:`termination_rule`).
    """

    decision_cancels = ("votes", "acks", "ask")

    def __init__(self, node_id: NodeId, peers: tuple[NodeId, ...], storage: Mapping[str, Any],
                 variant: str = "correct",
                 termination_rule: Callable[[list[str]], str] = termination_rule):
        super().__init__(node_id, peers, storage)
        self.variant = variant
        self.rule = termination_rule
        if self.decision is None and storage.get("phase") == "precommit":
            self.state = "uncertain"
        self.acked: frozenset[NodeId] = frozenset()
        self.recovered: tuple[tuple[NodeId, str], ...] = ()  # peers recovered undecided too

    @property
    def blocked(self) -> bool:
        """Recovered after pre-committing, undecided, waiting for someone who knows."""
        return self.state == "uncertain"

    def key(self) -> tuple:
        return (self.state, tuple(sorted(self.yes)), tuple(sorted(self.acked)), self.began,
                self.recovered)

    def awaiting(self, timer: str) -> tuple[NodeId, ...]:
        if timer == "votes":
            return super().awaiting(timer)
        if timer == "acks":
            return tuple(p for p in self.participants if p not in self.acked)
        return self.others

    def vote_request(self) -> Message:
        return CanCommit()

    def decision_message(self, outcome: str) -> Message:
        return _decision_message(outcome, self.id)

    def all_voted_yes(self, out: Output) -> Output:
        self.state = "precommitting"
        out.write(phase="precommit").cancel_timer("votes")
        out.note("every participant voted yes: pre-commit", tag="precommit")
        out.broadcast(self.participants, PreCommit(self.id))
        return out.set_timer("acks", TIMEOUT_MS)

    def recover_undecided(self, out: Output) -> Output:
        if self.state == "uncertain":
            out.note("recovered after pre-committing: asks for the outcome", tag="ask")
            out.broadcast(self.participants, DecisionRequest())
            return out.set_timer("ask", RETRY_MS)
        # No pre-commit record: no PreCommit ever left, so nobody can have pre-committed.
        return self.decide(out, ABORT, "recovered before pre-committing: abort")

    # -- inputs ----------------------------------------------------------------------------
    def on_message(self, now: float, src: NodeId, msg: Message) -> Output:
        out = Output()
        if isinstance(msg, DoCommit | Abort):
            if self.decision is None:
                outcome = COMMIT if isinstance(msg, DoCommit) else ABORT
                return self.decide(out, outcome, f"learns {outcome} from {src}", announce=False)
            return out
        if isinstance(msg, DecisionRequest):
            if self.decision is not None:
                out.send(src, _decision_message(self.decision, self.id))
            elif self.state == "uncertain":
                out.send(src, Recovered("precommitted"))  # its pre-commit record
            return out
        if isinstance(msg, Recovered) and self.state == "uncertain":
            self.recovered = _record(self.recovered, src, msg.state)
            outcome = _after_total_failure(self.rule, "precommitted", self.recovered, self.others)
            if outcome is not None:
                return self.decide(out, outcome, f"every node recovered undecided: {outcome}")
            return out
        return self._step_coordinator(out, src, msg)

    def on_timer(self, now: float, name: str) -> Output:
        out = Output()
        if name == "votes" and self.state == "waiting":
            return self.votes_timed_out(out)
        if name == "acks" and self.state == "precommitting":
            missing = ", ".join(map(str, self.awaiting("acks")))
            if self.variant == "correct":
                return self.decide(out, COMMIT, f"no Ack from {missing}: taken for crashed; "
                                                "all voted yes: commit")
            return self.decide(out, ABORT, f"no Ack from {missing} in time: abort (WRONG)")
        if name == "ask" and self.state == "uncertain":
            out.broadcast(self.participants, DecisionRequest())
            return out.set_timer("ask", RETRY_MS)
        return out

    # -- role --------------------------------------------------------------------------------
    def _step_coordinator(self, out: Output, src: NodeId, msg: Message) -> Output:
        if isinstance(msg, Vote) and self.state == "waiting":
            return self.count_vote(out, src, msg)
        if isinstance(msg, Ack) and msg.coord == self.id and self.state == "precommitting":
            self.acked = self.acked | {src}
            if len(self.acked) == len(self.participants):
                return self.decide(out, COMMIT, "every participant pre-committed: commit")
        return out

    def status(self) -> str:
        if self.state == "precommitting":
            return f"coordinator pre-committing ({len(self.acked)}/{len(self.participants)} acks)"
        return super().status()


class Participant(CommitParticipant):
    """A 3PC participant, which may become the coordinator of the termination protocol.

    Durable state: ``vote``, ``precommitted`` and ``decision``. ``state`` is ``"working"``,
    ``"uncertain"`` (voted yes), ``"precommitted"``, ``"committed"`` or ``"aborted"``. ``coord``
    is the rank of the coordinator it currently follows (0, the original one, at first; its own
    id while it runs the termination protocol). ``askers`` are the nodes that asked for the
    outcome before this node knew it: they are told as soon as it does. As new coordinator:
    ``phase`` is ``"collecting"`` (states) or ``"precommitting"`` (acks), ``replies`` the states
    collected and ``waiting`` the participants it still waits for.

    Parameters
    ----------
    vote : {"yes", "no"}
        What this participant votes when asked.
    termination_rule : callable
        The rule it applies to the states it collects as new coordinator (a function like
        :func:`termination_rule`).
    """

    prepared_state = "uncertain"
    vote_timer = "vote"

    def __init__(self, node_id: NodeId, peers: tuple[NodeId, ...], storage: Mapping[str, Any],
                 vote: str = "yes", termination_rule: Callable[[list[str]], str] = termination_rule):
        super().__init__(node_id, peers, storage, vote)
        self.rule = termination_rule
        self.participants = tuple(p for p in peers if p != COORDINATOR)
        if self.decision is None and storage.get("precommitted"):
            self.state = "precommitted"
        # Recovered undecided: it only asks, and never takes over (Skeen's model is crash-stop).
        self.recovering = self.state in UNDECIDED
        self.coord: NodeId = COORDINATOR
        self.phase: str | None = None
        self.replies: tuple[tuple[NodeId, str], ...] = ()
        self.waiting: tuple[NodeId, ...] = ()
        self.askers: tuple[NodeId, ...] = ()
        self.recovered: tuple[tuple[NodeId, str], ...] = ()  # peers recovered undecided too

    @property
    def role(self) -> str:  # type: ignore[override]
        """``"coordinator"`` while (or after) running the termination protocol, else ``"participant"``."""
        return "coordinator" if self.coord == self.id else "participant"

    @property
    def blocked(self) -> bool:
        """Recovered undecided, waiting for someone who knows the outcome."""
        return self.recovering and self.state in UNDECIDED

    def report(self) -> NodeStatus:
        """As every commit node's, with ``leader`` the coordinator it follows now: the rank it
        turned to, itself while it runs the termination protocol."""
        return replace(super().report(), leader=self.coord)

    def key(self) -> tuple:
        return (self.state, self.vote, self.coord, self.phase, self.replies, self.waiting,
                self.askers, self.recovering, self.recovered)

    def awaiting(self, timer: str) -> tuple[NodeId, ...]:
        if timer == "vote":
            return (COORDINATOR,)
        if timer == "decision":
            return (self.coord,)
        if timer in ("states", "acks"):
            return self.waiting
        return self.others

    # -- inputs ----------------------------------------------------------------------------
    def on_start(self, now: float) -> Output:
        out = Output()
        if self.state == "working":
            return out.set_timer("vote", TIMEOUT_MS)
        if self.recovering:
            out.note(f"recovered {self.state}: asks for the outcome", tag="ask")
            out.broadcast(self.others, DecisionRequest())
            return out.set_timer("ask", RETRY_MS)
        return out

    def on_message(self, now: float, src: NodeId, msg: Message) -> Output:
        out = Output()
        if isinstance(msg, DoCommit | Abort):
            return self._learn(out, COMMIT if isinstance(msg, DoCommit) else ABORT, src)
        if isinstance(msg, DecisionRequest):
            return self._answer(out, src)
        if isinstance(msg, StateRequest):
            return self._step_follow(out, src, msg)
        if isinstance(msg, StateReply | Ack):
            return self._step_new_coordinator(out, src, msg)
        if isinstance(msg, Recovered):
            return self._step_recovered(out, src, msg)
        return self._step_participant(out, src, msg)

    def on_timer(self, now: float, name: str) -> Output:
        out = Output()
        if name == "vote" and self.state == "working":
            return self._abort_unilaterally(out, "no CanCommit in time")
        if name == "decision" and self.state in UNDECIDED and self.phase is None:
            return self._suspect_coordinator(out)
        if name == "states" and self.phase == "collecting":
            out.note(f"no state from {', '.join(map(str, self.waiting))}: taken for crashed")
            self.waiting = ()
            return self._resolve(out)
        if name == "acks" and self.phase == "precommitting":
            return self._decide(out, COMMIT, f"no Ack from {', '.join(map(str, self.waiting))}: "
                                             "taken for crashed; commit")
        if name == "ask" and self.recovering and self.state in UNDECIDED:
            out.broadcast(self.others, DecisionRequest())
            return out.set_timer("ask", RETRY_MS)
        return out

    # -- as a participant ------------------------------------------------------------------
    def _step_participant(self, out: Output, src: NodeId, msg: Message) -> Output:
        if isinstance(msg, CanCommit):
            if self.state == "working":
                return self.cast_vote(out, src)
            if self.state == "aborted":
                return out.send(src, Vote(False))
            if self.state in UNDECIDED and self.coord == COORDINATOR:
                return out.send(src, Vote(True))
        elif isinstance(msg, PreCommit):
            if msg.coord < self.coord:
                return out.note(f"ignores PreCommit from deposed coordinator {msg.coord}")
            if self.state not in UNDECIDED or self.recovering:
                return out
            if msg.coord > self.coord:
                self._follow(out, msg.coord)
            if self.state == "uncertain":
                self.state = "precommitted"
                out.write(precommitted=True).note("pre-committed", tag="precommit")
            out.send(src, Ack(msg.coord))
            return out.set_timer("decision", DECISION_TIMEOUT_MS)
        return out

    def _step_follow(self, out: Output, src: NodeId, msg: StateRequest) -> Output:
        """A new coordinator of rank ``msg.coord`` asks for this node's state."""
        if msg.coord < self.coord:
            return out.note(f"ignores StateRequest from deposed coordinator {msg.coord}")
        if self.state == "working":
            self._abort_unilaterally(out, f"asked by {src} before voting")
        if self.state in UNDECIDED and not self.recovering:
            self._follow(out, msg.coord)
            out.set_timer("decision", DECISION_TIMEOUT_MS)
        return out.send(src, StateReply(msg.coord, self.state))

    def _follow(self, out: Output, coord: NodeId) -> None:
        if self.phase is not None:
            out.note(f"steps down for coordinator {coord}")
            out.cancel_timer("states").cancel_timer("acks")
        self.coord = coord
        self.phase = None
        self.replies = ()
        self.waiting = ()

    def _answer(self, out: Output, src: NodeId) -> Output:
        """Answer a ``DecisionRequest``: the outcome if known; abort if this node has not voted."""
        if self.decision is not None:
            return out.send(src, _decision_message(self.decision, self.id))
        if self.state == "working":
            self._abort_unilaterally(out, f"asked by {src} before voting")
            return out.send(src, Abort(self.id))
        if self.recovering:
            return out.send(src, Recovered(self.state))
        # Undecided: it will take part in the termination protocol, and answer once it knows.
        if src not in self.askers:
            self.askers = tuple(sorted(self.askers + (src,)))
        return out

    def _suspect_coordinator(self, out: Output) -> Output:
        """The coordinator followed has crashed: turn to the next rank, or take over."""
        gone = self.coord
        nxt = gone + 1 if gone < self.id else self.id
        if nxt == self.id:
            return self._take_over(out, gone)
        self.coord = nxt
        out.note(f"coordinator {gone} is gone: turns to {nxt}", tag="suspect", value=gone)
        out.send(nxt, DecisionRequest())
        return out.set_timer("decision", DECISION_TIMEOUT_MS)

    def _step_recovered(self, out: Output, src: NodeId, msg: Recovered) -> Output:
        """Another node recovered undecided too; with all of them, apply Skeen's rule."""
        if not (self.recovering and self.state in UNDECIDED):
            return out
        self.recovered = _record(self.recovered, src, msg.state)
        outcome = _after_total_failure(self.rule, self.state, self.recovered, self.others)
        if outcome is not None:
            return self._decide(out, outcome, f"every node recovered undecided: {outcome}")
        return out

    # -- as the new coordinator (termination protocol) -------------------------------------
    def _take_over(self, out: Output, gone: NodeId) -> Output:
        self.coord = self.id
        self.phase = "collecting"
        self.replies = ()
        self.waiting = tuple(p for p in self.participants if p > self.id)
        out.note(f"coordinator {gone} is gone: takes over (termination protocol)",
                 tag="takeover", value=self.id)
        out.cancel_timer("decision")
        if not self.waiting:
            return self._resolve(out)
        out.broadcast(self.waiting, StateRequest(self.id))
        return out.set_timer("states", TIMEOUT_MS)

    def _step_new_coordinator(self, out: Output, src: NodeId, msg: Message) -> Output:
        if msg.coord != self.id or src not in self.waiting:
            return out  # not for the coordinator this node is (any more)
        if isinstance(msg, StateReply) and self.phase == "collecting":
            self.waiting = tuple(p for p in self.waiting if p != src)
            if msg.state in ("committed", "aborted"):
                outcome = COMMIT if msg.state == "committed" else ABORT
                return self._decide(out, outcome, f"{src} has {msg.state}: {outcome}")
            self.replies = tuple(sorted(self.replies + ((src, msg.state),)))
            if not self.waiting:
                return self._resolve(out)
        elif isinstance(msg, Ack) and self.phase == "precommitting":
            self.waiting = tuple(p for p in self.waiting if p != src)
            if not self.waiting:
                return self._decide(out, COMMIT, "every uncertain participant pre-committed: commit")
        return out

    def _resolve(self, out: Output) -> Output:
        """Apply Skeen's rule to this node's state and the states collected."""
        states = [self.state] + [s for _, s in self.replies]
        rule = self.rule(states)
        summary = ", ".join(f"{i}: {s}" for i, s in sorted(self.replies + ((self.id, self.state),)))
        if rule in (ABORT, COMMIT):
            return self._decide(out, rule, f"states {{{summary}}}: {rule}")
        if self.state == "uncertain":
            self.state = "precommitted"
            out.write(precommitted=True)
        targets = tuple(i for i, s in self.replies if s == "uncertain")
        if not targets:
            return self._decide(out, COMMIT, f"states {{{summary}}}: commit")
        self.phase = "precommitting"
        self.waiting = targets
        out.note(f"states {{{summary}}}: pre-commit the others, then commit", tag="precommit")
        out.broadcast(targets, PreCommit(self.id))
        return out.set_timer("acks", TIMEOUT_MS)

    # -- decisions ---------------------------------------------------------------------------
    def _decide(self, out: Output, outcome: str, why: str) -> Output:
        """Decide as the new coordinator, and tell everyone."""
        self._settle(out, outcome)
        out.note(why, tag="decision", value=outcome)
        return out.broadcast(self.others, _decision_message(outcome, self.id))

    def _learn(self, out: Output, outcome: str, src: NodeId) -> Output:
        if self.decision is not None:
            if self.decision != outcome:
                out.note(f"ignores {outcome} from {src}: already {self.state}")
            return out
        # Whoever waits for this node's word is told: everyone if it was the coordinator.
        tell = self.others if self.coord == self.id else self.askers
        self._settle(out, outcome)
        out.note(f"learns {outcome} from {src}", tag="decision", value=outcome)
        return out.broadcast(tuple(p for p in tell if p != src), _decision_message(outcome, self.id))

    def _abort_unilaterally(self, out: Output, why: str) -> Output:
        tell = self.askers
        self._settle(out, ABORT)
        out.note(f"{why}: aborts unilaterally", tag="decision", value=ABORT)
        return out.broadcast(tell, Abort(self.id))

    def _settle(self, out: Output, outcome: str) -> None:
        self.state = decided_state(outcome)
        self.phase = None
        self.replies = ()
        self.waiting = ()
        self.askers = ()
        self.recovered = ()
        self.recovering = False
        out.write(decision=outcome)
        for name in ("vote", "decision", "states", "acks", "ask"):
            out.cancel_timer(name)

    def status(self) -> str:
        if self.phase == "collecting":
            return "new coordinator, collecting states"
        if self.phase == "precommitting":
            return "new coordinator, pre-committing"
        if self.blocked:
            return f"participant {self.state}, blocked"
        return f"{self.role} {self.state}"


def _record(recovered: tuple[tuple[NodeId, str], ...], node: NodeId,
            state: str) -> tuple[tuple[NodeId, str], ...]:
    return tuple(sorted({**dict(recovered), node: state}.items()))


def _after_total_failure(rule: Callable[[list[str]], str], own: str,
                         recovered: tuple[tuple[NodeId, str], ...],
                         others: tuple[NodeId, ...]) -> str | None:
    """Skeen's rule over every node's durable state, once every other node has said it
    recovered undecided; None while some have not."""
    states = dict(recovered)
    if any(p not in states for p in others):
        return None
    rule = rule([own, *states.values()])
    return COMMIT if rule == "precommit" else rule


# -- the simulation ---------------------------------------------------------------------------

class ThreePCSimulation(CommitSimulation):
    """A three-phase commit run: see :func:`cluster`."""

    protocol = "3pc"


def node_factory(votes: Mapping[NodeId, str], variant: str = "correct",
                 termination_rule: Callable[[list[str]], str] = termination_rule) -> NodeFactory:
    """``factory(node_id, peers, storage)`` building 3PC nodes with the given votes, variant and
    termination rule (checked here: ValueError for an unknown variant or a rule that is not
    callable)."""
    variant = check_variant(variant)
    if not callable(termination_rule):
        raise ValueError(f"termination_rule must be a function of the states, got {termination_rule!r}")
    return node_factory_of(partial(Coordinator, variant=variant, termination_rule=termination_rule),
                           partial(Participant, termination_rule=termination_rule), votes)


def cluster(participants: int = 2, *, seed: int = 0, votes: Mapping[int, str] | str | None = None,
            variant: str = "correct", termination_rule: Callable[[list[str]], str] = termination_rule,
            link: LinkConfig | None = None) -> ThreePCSimulation:
    """A three-phase commit of one transaction: coordinator 0 and participants ``1..participants``.

    ``participants``, ``seed``, ``votes`` and ``link`` mean what they mean for every commit run
    (:class:`~zablib.protocols.commit.CommitSimulation`): at least one participant; the seed of
    the delays (and of the votes when ``votes="random"``); ``{participant: "yes" | "no"}``
    with the others voting yes, or ``"random"``, or None for all yes; the link settings,
    uniform 1-10 ms FIFO links by default.

    Parameters
    ----------
    variant : {"correct", "abort-after-precommit", "wrong"}
        ``"abort-after-precommit"`` (alias ``"wrong"``): the coordinator aborts when an ``Ack``
        is missing, after pre-committing (see the module docstring).
    termination_rule : callable
        The rule a new coordinator (or a node recovered after a total failure) applies to the
        states it learns; default Skeen's, :func:`termination_rule`. Pass another to see what
        it does, e.g. an exercise's answer.
    """
    variant = check_variant(variant)
    sim = ThreePCSimulation(lambda v: node_factory(v, variant, termination_rule), participants,
                            seed=seed, votes=votes, link=link)
    sim.variant = variant
    return sim


# -- the note's scenarios ---------------------------------------------------------------------

def _phase_three_crash(variant: str, seed: int) -> ThreePCSimulation:
    """The note's 3PC schedule: A's ``Ack`` is late, the coordinator's decision reaches A and not
    yet B, then the coordinator and A crash. Crashes and slow links only: no loss, no partition."""
    sim = cluster(2, seed=seed, variant=variant)
    normal = sim.network.default.delay
    sim.run_until(lambda s: s.nodes[1].state == "uncertain", what="A voting yes")
    # A is slow to acknowledge: its Ack arrives after the coordinator's ack timeout.
    sim.configure_links(1, 0, delay=constant(3 * TIMEOUT_MS))
    sim.run_until(lambda s: s.nodes[2].state == "precommitted", what="B pre-committing")
    # B's copy of the decision will be slow too: still on its way when B has to act.
    sim.configure_links(0, 2, delay=constant(10 * TIMEOUT_MS))
    sim.run_until(lambda s: s.nodes[1].decision is not None, what="A learning the decision")
    sim.crash(0)
    sim.crash(1)
    sim.configure_links(1, 0, delay=normal)
    sim.configure_links(0, 2, delay=normal)
    sim.run_for(12 * TIMEOUT_MS)
    return sim


def scenario_note(seed: int = 0) -> ThreePCSimulation:
    """The source note's 3PC question, run on correct 3PC: it survives.

    A (node 1) and B (node 2) vote yes; the coordinator pre-commits both; A's ``Ack`` is late.
    Where the note's coordinator aborts, Skeen's coordinator, having sent ``PreCommit``, may only
    commit: it commits and sends ``DoCommit``; A gets it and commits; then the coordinator and A
    crash while B's copy is still on its way. B times out, turns to A (down), takes over, sees
    its own state, pre-committed, and commits. Everyone agrees: ``{0: "commit", 1: "commit",
    2: "commit"}``.
    """
    return _phase_three_crash("correct", seed)


def scenario_wrong_variant(seed: int = 0) -> ThreePCSimulation:
    """The note's run exactly, on the wrong variant: it splits its decision with crashes alone.

    Same schedule as :func:`scenario_note`, but the coordinator aborts when A's ``Ack`` is late,
    although B is already pre-committed. A aborts; the coordinator and A crash; B, pre-committed,
    runs the termination protocol alone and commits. ``outcome()`` is ``{0: "abort",
    1: "abort", 2: "commit"}`` and ``check()`` raises InvariantViolation (agreement). The late
    ``Abort`` reaches B after it has committed, and changes nothing.
    """
    return _phase_three_crash("abort-after-precommit", seed)


def scenario_partition(seed: int = 0) -> ThreePCSimulation:
    """Correct 3PC under a network partition: it splits its decision.

    Participants 1, 2 and 3 vote yes. The coordinator's ``PreCommit`` reaches 1; then the
    network splits into {0, 1} and {2, 3} before it reaches 2 and 3. On the left, the coordinator
    misses the acks of 2 and 3, takes them for crashed, and commits (with 1). On the right, 2 and
    3 take 0 and 1 for crashed; 2 takes over, finds everyone it can reach uncertain, and aborts.
    ``outcome()`` is ``{0: "commit", 1: "commit", 2: "abort", 3: "abort"}``; ``check()`` raises.
    """
    sim = cluster(3, seed=seed)
    normal = sim.network.default.delay
    sim.run_until(lambda s: all(s.nodes[i].state == "uncertain" for i in (1, 2, 3)),
                  what="every participant voting yes")
    # PreCommit travels slowly to 2 and 3, so the split catches it on the way.
    sim.configure_links(0, 2, delay=constant(TIMEOUT_MS))
    sim.configure_links(0, 3, delay=constant(TIMEOUT_MS))
    sim.run_until(lambda s: s.nodes[1].state == "precommitted", what="1 pre-committing")
    sim.partition({0, 1}, {2, 3})
    sim.configure_links(0, 2, delay=normal)
    sim.configure_links(0, 3, delay=normal)
    sim.run_for(12 * TIMEOUT_MS)
    return sim


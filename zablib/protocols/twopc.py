"""Two-phase commit (Gray 1978) with the cooperative termination protocol.

Node 0 is the *coordinator*; nodes ``1..n`` are *participants* (Gray's resource managers). One
transaction is decided per run:

1. **Voting.** The coordinator writes a *begin* record and sends ``Prepare`` to every participant.
   A participant that votes yes first writes its vote to stable storage, which makes it
   *prepared*: from now on it may neither commit nor abort on its own, it must wait to be told.
   A participant that votes no writes the abort and forgets the transaction at once.
2. **Decision.** With every vote yes the coordinator decides commit; with any no, or when a vote
   does not arrive in time, it decides abort. It writes the decision to stable storage *before*
   sending it (the kernel applies ``Output.write`` before the sends), so the decision survives a
   crash of the coordinator.

Timeouts, and what each waiting node may do about one:

* the coordinator, waiting for votes: abort;
* a participant that has not voted yet, waiting for ``Prepare``: abort unilaterally (it has
  promised nothing);
* a *prepared* participant, waiting for the decision: it may not decide alone. It runs the
  **cooperative termination protocol**: it asks everyone (``DecisionRequest``). A peer that knows
  the outcome answers with it; a peer that has not voted yet aborts unilaterally and answers
  abort; a prepared peer can only answer ``Uncertain`` (and remembers to pass the outcome on as
  soon as it learns it). If every peer it can reach is uncertain, the participant is
  **blocked**: it keeps asking the coordinator, and any peer that has not answered, periodically,
  until the coordinator (or a participant that knows the outcome) comes back. That is the flaw
  three-phase commit addresses.

A recovering coordinator re-reads its decision and sends it again; if it crashed before deciding,
it aborts (*presumed abort*: no participant can have committed, since nobody was told commit).

:meth:`CommitSimulation.outcome` reads each node's *stable storage*, so a crashed node's outcome is
what it wrote before crashing. The invariants are **agreement** (no two nodes decide differently)
and the safety half of **validity** (commit only if every participant durably voted yes).

What 2PC shares with 3PC (the votes, ``Vote`` and ``DecisionRequest``, the run's ``outcome()``
and its invariants) lives in :mod:`zablib.protocols.commit`. The same node classes are explored
exhaustively by ``zablib.models.CommitModel(twopc, ...)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from zablib.core import Message, Node, NodeId, Output
from zablib.network import LinkConfig
from zablib.protocols.commit import (
    ABORT,
    COMMIT,
    COORDINATOR,
    DECISION_TIMEOUT_MS,
    RETRY_MS,
    TIMEOUT_MS,
    VOTES,
    CommitSimulation,
    DecisionRequest,
    Vote,
    agreement,
    check_participants,
    check_validity,
    decided_state,
    decision_of,
    decisions,
    parse_votes,
    validity,
)
from zablib.sim import NodeFactory

__all__ = [
    # shared with 3PC (zablib.protocols.commit), named here too
    "ABORT", "COMMIT", "COORDINATOR", "DECISION_TIMEOUT_MS", "RETRY_MS", "TIMEOUT_MS", "VOTES",
    "CommitSimulation", "DecisionRequest", "Vote", "agreement", "check_participants",
    "check_validity", "decisions", "parse_votes", "validity",
    # two-phase commit's own
    "Prepare", "Decision", "Uncertain", "Coordinator", "Participant", "TwoPCSimulation",
    "node_factory", "cluster", "scenario_note",
]


# -- messages ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Prepare(Message):
    """Coordinator -> participant: vote on the transaction (phase 1)."""

    def describe(self) -> str:
        return "Prepare"


@dataclass(frozen=True)
class Decision(Message):
    """The outcome, ``"commit"`` or ``"abort"``: from the coordinator, or from a peer that knows it."""

    outcome: str

    def describe(self) -> str:
        return f"Decision({self.outcome})"


@dataclass(frozen=True)
class Uncertain(Message):
    """Answer to a ``DecisionRequest`` from a prepared participant: I do not know either."""

    def describe(self) -> str:
        return "Uncertain"


# -- nodes ------------------------------------------------------------------------------------

class Coordinator(Node):
    """The 2PC coordinator (node 0).

    Durable state: ``began`` (the begin record) and ``decision``. Volatile state: ``state``
    (``"waiting"`` for votes, then ``"committed"`` or ``"aborted"``) and ``yes``, the
    participants whose yes vote has arrived.
    """

    role = "coordinator"

    def __init__(self, node_id: NodeId, peers: tuple[NodeId, ...], storage: Mapping[str, Any]):
        super().__init__(node_id, peers, storage)
        self.participants = self.others
        decision = storage.get("decision")
        self.began = bool(storage.get("began"))
        self.state = decided_state(decision) if decision else "waiting"
        self.yes: frozenset[NodeId] = frozenset()

    @property
    def decision(self) -> str | None:
        """``"commit"``, ``"abort"`` or None while undecided."""
        return decision_of(self.state)

    def key(self) -> tuple:
        """Everything that determines this node's future behaviour, as plain hashable data.

        The first field is ``state``."""
        return (self.state, tuple(sorted(self.yes)), self.began)

    def awaiting(self, timer: str) -> tuple[NodeId, ...]:
        """The peers whose silence the timer ``timer`` detects (for a perfect failure detector)."""
        if timer == "votes":
            return tuple(p for p in self.participants if p not in self.yes)
        return ()

    # -- inputs ----------------------------------------------------------------------------
    def on_start(self, now: float) -> Output:
        out = Output()
        if not self.began:
            self.began = True  # from now on a restart is a recovery
            out.write(began=True).broadcast(self.participants, Prepare())
            return out.set_timer("votes", TIMEOUT_MS)
        if self.decision is not None:
            out.note(f"recovered: re-sends its decision {self.decision}", tag="resend",
                     value=self.decision)
            return out.broadcast(self.participants, Decision(self.decision))
        return self._decide(out, ABORT, "recovered undecided: presumed abort")

    def on_message(self, now: float, src: NodeId, msg: Message) -> Output:
        return self._step_coordinator(Output(), src, msg)

    def on_timer(self, now: float, name: str) -> Output:
        out = Output()
        if name == "votes" and self.state == "waiting":
            missing = ", ".join(map(str, self.awaiting("votes")))
            return self._decide(out, ABORT, f"no vote from {missing} in time: abort")
        return out

    # -- role --------------------------------------------------------------------------------
    def _step_coordinator(self, out: Output, src: NodeId, msg: Message) -> Output:
        if isinstance(msg, Vote) and self.state == "waiting":
            if not msg.yes:
                return self._decide(out, ABORT, f"{src} voted no: abort")
            self.yes = self.yes | {src}
            if len(self.yes) == len(self.participants):
                return self._decide(out, COMMIT, "every participant voted yes: commit")
        elif isinstance(msg, DecisionRequest) and self.decision is not None:
            out.send(src, Decision(self.decision))
        return out

    def _decide(self, out: Output, outcome: str, why: str) -> Output:
        self.state = decided_state(outcome)
        out.write(decision=outcome).cancel_timer("votes")
        out.note(why, tag="decision", value=outcome)
        return out.broadcast(self.participants, Decision(outcome))

    def status(self) -> str:
        if self.state == "waiting":
            return f"coordinator waiting ({len(self.yes)}/{len(self.participants)} yes)"
        return f"coordinator {self.state}"


class Participant(Node):
    """A 2PC participant.

    Durable state: ``vote`` and ``decision``. ``state`` is ``"working"`` (not voted yet),
    ``"prepared"`` (voted yes, outcome unknown), ``"committed"`` or ``"aborted"``. ``asking`` is
    true once a prepared participant has timed out and runs the termination protocol;
    ``answered`` are the peers that told it they are uncertain too (it does not ask them again:
    they will tell), ``askers`` the peers it told so (it tells them the outcome when it learns it).

    Parameters
    ----------
    vote : {"yes", "no"}
        What this participant votes when asked.
    """

    role = "participant"

    def __init__(self, node_id: NodeId, peers: tuple[NodeId, ...], storage: Mapping[str, Any],
                 vote: str = "yes"):
        super().__init__(node_id, peers, storage)
        self.vote = vote
        decision = storage.get("decision")
        if decision:
            self.state = decided_state(decision)
        elif storage.get("vote") == "yes":
            self.state = "prepared"
        else:
            self.state = "working"
        self.asking = False
        self.answered: tuple[NodeId, ...] = ()
        self.askers: tuple[NodeId, ...] = ()

    @property
    def decision(self) -> str | None:
        """``"commit"``, ``"abort"`` or None while undecided."""
        return decision_of(self.state)

    @property
    def blocked(self) -> bool:
        """Whether this participant is prepared, undecided and already asking its peers.

        It then waits for someone who knows the outcome.
        """
        return self.state == "prepared" and self.asking

    def key(self) -> tuple:
        """Everything that determines this node's future behaviour, as plain hashable data.

        The first field is ``state``."""
        return (self.state, self.vote, self.asking, self.answered, self.askers)

    def awaiting(self, timer: str) -> tuple[NodeId, ...]:
        """The peers whose silence the timer ``timer`` detects: always the coordinator."""
        return (COORDINATOR,)

    # -- inputs ----------------------------------------------------------------------------
    def on_start(self, now: float) -> Output:
        out = Output()
        if self.state == "working":
            return out.set_timer("prepare", TIMEOUT_MS)
        if self.state == "prepared":  # a recovery: whatever happened, ask
            return self._ask(out)
        return out

    def on_message(self, now: float, src: NodeId, msg: Message) -> Output:
        out = Output()
        if isinstance(msg, Decision):
            return self._learn(out, msg.outcome, src)
        if isinstance(msg, DecisionRequest):
            return self._step_termination(out, src)
        if isinstance(msg, Uncertain):
            if self.state == "prepared" and src not in self.answered:
                self.answered = tuple(sorted(self.answered + (src,)))
            return out
        return self._step_participant(out, src, msg)

    def on_timer(self, now: float, name: str) -> Output:
        out = Output()
        if name == "prepare" and self.state == "working":
            return self._abort_unilaterally(out, "no Prepare in time")
        if name == "decision" and self.state == "prepared":
            return self._ask(out)
        return out

    # -- role --------------------------------------------------------------------------------
    def _step_participant(self, out: Output, src: NodeId, msg: Message) -> Output:
        if not isinstance(msg, Prepare):
            return out
        if self.state == "working":
            out.cancel_timer("prepare")
            if self.vote == "yes":
                self.state = "prepared"
                out.write(vote="yes").note("votes yes: prepared", tag="vote", value="yes")
                return out.send(src, Vote(True)).set_timer("decision", DECISION_TIMEOUT_MS)
            self.state = "aborted"
            out.write(vote="no", decision=ABORT).note("votes no: aborted", tag="vote", value="no")
            return out.send(src, Vote(False))
        if self.state == "prepared":
            return out.send(src, Vote(True))  # the coordinator asks again: same answer
        if self.state == "aborted":
            return out.send(src, Vote(False))
        return out

    def _step_termination(self, out: Output, src: NodeId) -> Output:
        """Answer a peer's ``DecisionRequest`` (Gray's cooperative termination)."""
        if self.decision is not None:
            return out.send(src, Decision(self.decision))
        if self.state == "working":
            # Not voted yet: abort now, which also answers the peer.
            self._abort_unilaterally(out, f"asked by {src} before voting")
            return out.send(src, Decision(ABORT))
        if src not in self.askers:
            self.askers = tuple(sorted(self.askers + (src,)))
        return out.send(src, Uncertain())

    def _ask(self, out: Output) -> Output:
        if not self.asking:
            out.note("uncertain: asks the others (cooperative termination)", tag="ask")
        self.asking = True
        out.broadcast(tuple(p for p in self.others if p not in self.answered), DecisionRequest())
        return out.set_timer("decision", RETRY_MS)

    def _abort_unilaterally(self, out: Output, why: str) -> Output:
        self.state = "aborted"
        out.write(decision=ABORT).cancel_timer("prepare")
        return out.note(f"{why}: aborts unilaterally", tag="decision", value=ABORT)

    def _learn(self, out: Output, outcome: str, src: NodeId) -> Output:
        if self.decision is not None:
            return out
        self.state = decided_state(outcome)
        tell = tuple(p for p in self.askers if p != src)
        self.asking, self.answered, self.askers = False, (), ()
        out.write(decision=outcome).cancel_timer("decision").cancel_timer("prepare")
        out.note(f"learns {outcome} from {src}", tag="decision", value=outcome)
        return out.broadcast(tell, Decision(outcome))

    def status(self) -> str:
        if self.blocked:
            return "participant prepared, blocked"
        return f"participant {self.state}"


# -- the simulation ---------------------------------------------------------------------------

def node_factory(votes: Mapping[NodeId, str]) -> NodeFactory:
    """``factory(node_id, peers, storage)`` building 2PC nodes with the given votes."""

    def factory(i: NodeId, peers: tuple[NodeId, ...], storage: Mapping[str, Any]) -> Node:
        if i == COORDINATOR:
            return Coordinator(i, peers, storage)
        return Participant(i, peers, storage, votes[i])

    return factory


class TwoPCSimulation(CommitSimulation):
    """A two-phase commit run: see :func:`cluster`."""

    protocol = "2pc"


def cluster(participants: int = 2, *, seed: int = 0, votes: Mapping[int, str] | str | None = None,
            link: LinkConfig | None = None) -> TwoPCSimulation:
    """A two-phase commit of one transaction: coordinator 0 and participants ``1..participants``.

    Parameters
    ----------
    participants : int
        Number of participants, at least 1.
    seed : int
        Seed of the run (message delays; votes when ``votes="random"``).
    votes : mapping, "random" or None
        ``{participant: "yes" | "no"}`` (participants not named vote yes); ``"random"``: each
        participant votes yes or no with equal probability, drawn from the run's generator;
        None: everyone votes yes.
    link : LinkConfig, optional
        Link settings; default uniform 1-10 ms delay, FIFO, no loss.

    Returns
    -------
    TwoPCSimulation
        With ``outcome()``, ``blocked()``, ``states()`` and ``votes``; ``check()`` tests
        agreement and validity.
    """
    return TwoPCSimulation(node_factory, participants, seed=seed, votes=votes, link=link)


# -- the note's scenario ----------------------------------------------------------------------

def scenario_note(seed: int = 0) -> TwoPCSimulation:
    """The source note's 2PC run: A (node 1) votes no, B (node 2) votes yes.

    The coordinator decides abort and sends it; the copy for A arrives, the copy for B is lost
    (the coordinator dies before it leaves: we make the link 0 -> 2 lose it). Then the
    coordinator and A crash. B is prepared and asks around, but the only nodes that know the
    outcome are down: B is **blocked**, and rightly so, since from what B can see the coordinator
    might have decided commit (had A voted yes). The run stops with B blocked, 200 ms after the
    crashes; ``sim.recover(0)`` (or ``sim.recover(1)``) and running on unblocks B with abort.

    Returns
    -------
    TwoPCSimulation
        ``outcome() == {0: "abort", 1: "abort", 2: None}`` and ``blocked() == [2]``.
    """
    sim = cluster(2, seed=seed, votes={1: "no", 2: "yes"})
    sim.cut_link(0, 2)  # Prepare has already left; the decision for B will not get out
    sim.run_until(lambda s: s.delivered(Decision, 1) and s.nodes[2].state == "prepared",
                  what="A receiving the abort while B is prepared")
    sim.crash(0)
    sim.crash(1)
    sim.restore_link(0, 2)
    if not sim.dropped(Decision, 2):
        sim.run_until(lambda s: s.dropped(Decision, 2), what="the loss of B's copy of the abort")
    sim.run_for(4 * TIMEOUT_MS)
    return sim


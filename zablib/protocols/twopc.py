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
  **blocked**: it asks everyone again every :data:`~zablib.protocols.commit.RETRY_MS`, the
  uncertain peers too, until someone answers with the outcome. That is the flaw three-phase
  commit addresses.

  Asking again matters: an uncertain peer's promise to pass the outcome on lives in its volatile
  memory, so a restart forgets it, and the one message that keeps it can be lost. A participant
  that stopped asking such a peer could stay blocked for good while that peer, live and
  reachable, knows the outcome. Asking at a fixed rate guarantees that once some live node that
  knows the outcome is connected to a blocked participant, the participant learns it within one
  retry period and a round trip.

A recovering coordinator re-reads its decision and sends it again; if it crashed before deciding,
it aborts (*presumed abort*: no participant can have committed, since nobody was told commit).

:meth:`~zablib.protocols.commit.CommitSimulation.outcome` reads each node's *stable storage*,
so a crashed node's outcome is what it wrote before crashing. The invariants are **agreement**
(no two nodes decide differently) and the safety half of **validity** (commit only if every
participant durably voted yes).

What 2PC shares with 3PC (the votes, ``Vote`` and ``DecisionRequest``, the run's ``outcome()``
and its invariants) lives in :mod:`zablib.protocols.commit`. The same node classes are explored
exhaustively by ``zablib.models.CommitModel(twopc, ...)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import zablib.protocols.commit as commit
from zablib.core import Message, NodeId, Output
from zablib.network import LinkConfig
from zablib.protocols.commit import ABORT, COMMIT, COORDINATOR, RETRY_MS, TIMEOUT_MS, DecisionRequest, Vote
from zablib.sim import NodeFactory

# -- messages ---------------------------------------------------------------------------------

class Prepare(commit.Signal):
    """Coordinator -> participant: vote on the transaction (phase 1)."""


@dataclass(frozen=True)
class Decision(Message):
    """The outcome, ``"commit"`` or ``"abort"``: from the coordinator, or from a peer that knows it."""

    outcome: str

    def describe(self) -> str:
        return f"Decision({self.outcome})"


class Uncertain(commit.Signal):
    """Answer to a ``DecisionRequest`` from a prepared participant: I do not know either."""


# -- nodes ------------------------------------------------------------------------------------

class Coordinator(commit.CommitCoordinator):
    """The 2PC coordinator (node 0): phase one as in :class:`~zablib.protocols.commit.CommitCoordinator`
    (``state`` is ``"waiting"`` for votes), then commit once every vote is yes.
    """

    def vote_request(self) -> Message:
        return Prepare()

    def decision_message(self, outcome: str) -> Message:
        return Decision(outcome)

    def all_voted_yes(self, out: Output) -> Output:
        return self.decide(out, COMMIT, "every participant voted yes: commit")

    def recover_undecided(self, out: Output) -> Output:
        # Presumed abort: nobody can have committed, since nobody was told commit.
        return self.decide(out, ABORT, "recovered undecided: presumed abort")

    def key(self) -> tuple:
        return (self.state, tuple(sorted(self.yes)), self.began)

    # -- inputs ----------------------------------------------------------------------------
    def on_message(self, now: float, src: NodeId, msg: Message) -> Output:
        return self._step_coordinator(Output(), src, msg)

    def on_timer(self, now: float, name: str) -> Output:
        if name == "votes" and self.state == "waiting":
            return self.votes_timed_out(Output())
        return Output()

    # -- role --------------------------------------------------------------------------------
    def _step_coordinator(self, out: Output, src: NodeId, msg: Message) -> Output:
        if isinstance(msg, Vote) and self.state == "waiting":
            return self.count_vote(out, src, msg)
        if isinstance(msg, DecisionRequest) and self.decision is not None:
            out.send(src, Decision(self.decision))
        return out


class Participant(commit.CommitParticipant):
    """A 2PC participant.

    Durable state: ``vote`` and ``decision``. ``state`` is ``"working"`` (not voted yet),
    ``"prepared"`` (voted yes, outcome unknown), ``"committed"`` or ``"aborted"``. ``asking`` is
    true once a prepared participant has timed out and runs the termination protocol: it asks
    every other node, and asks again every ``RETRY_MS`` until it knows. ``askers`` are the peers
    it told it is uncertain too: it tells them the outcome as soon as it learns it (a shortcut
    only; they keep asking, since a restart forgets ``askers`` and a message can be lost).
    ``vote`` is what it votes when asked (see
    :class:`~zablib.protocols.commit.CommitParticipant`).
    """

    prepared_state = "prepared"
    vote_timer = "prepare"

    def __init__(self, node_id: NodeId, peers: tuple[NodeId, ...], storage: Mapping[str, Any],
                 vote: str = "yes"):
        super().__init__(node_id, peers, storage, vote)
        self.asking = False
        self.askers: tuple[NodeId, ...] = ()

    @property
    def blocked(self) -> bool:
        """Whether this participant is prepared, undecided and already asking its peers.

        It then waits for someone who knows the outcome.
        """
        return self.state == "prepared" and self.asking

    def key(self) -> tuple:
        return (self.state, self.vote, self.asking, self.askers)

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
            return out  # nothing learnt: ask again at the next retry
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
            return self.cast_vote(out, src)
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
        # Everyone, the peers that said they are uncertain too: they may know by now.
        out.broadcast(self.others, DecisionRequest())
        return out.set_timer("decision", RETRY_MS)

    def _abort_unilaterally(self, out: Output, why: str) -> Output:
        self.state = "aborted"
        out.write(decision=ABORT).cancel_timer("prepare")
        return out.note(f"{why}: aborts unilaterally", tag="decision", value=ABORT)

    def _learn(self, out: Output, outcome: str, src: NodeId) -> Output:
        if self.decision is not None:
            return out
        self.state = commit.decided_state(outcome)
        tell = tuple(p for p in self.askers if p != src)
        self.asking, self.askers = False, ()
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
    return commit.node_factory_of(Coordinator, Participant, votes)


class TwoPCSimulation(commit.CommitSimulation):
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


"""What two-phase and three-phase commit share: one transaction, one coordinator, votes, and the
questions asked of a run.

Both protocols (:mod:`zablib.protocols.twopc`, :mod:`zablib.protocols.threepc`) decide one
transaction among a coordinator, node :data:`COORDINATOR` (0), and participants ``1..n``. This
module holds what is the same in both and nothing that differs:

* the vocabulary: the outcomes :data:`COMMIT` and :data:`ABORT`, the votes, the timeouts;
* the two messages both send the same way: :class:`Vote` and :class:`DecisionRequest`;
* phase one, the same in both: :class:`CommitCoordinator` asks for votes and counts them,
  :class:`CommitParticipant` votes; each protocol's nodes build on them;
* the ``votes`` option of ``cluster(...)`` (:func:`parse_votes`);
* :class:`CommitSimulation`, the run with ``outcome()``, ``blocked()`` and ``states()``;
* the invariants, read from stable storage: **agreement** (no two nodes decide differently)
  and the safety half of **validity** (commit only if every participant durably voted yes).

Each protocol module imports this one and never the other protocol.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from zablib.core import Message, Node, NodeId, NodeStatus, Output
from zablib.invariants import InvariantViolation, check_agreement
from zablib.network import LinkConfig, uniform
from zablib.sim import NodeFactory, Simulation

#: The coordinator's node id; the participants are ``1..n``.
COORDINATOR: NodeId = 0
TIMEOUT_MS = 50.0
"""How long any node waits for a message before it times out (links take 1-10 ms)."""
DECISION_TIMEOUT_MS = 3 * TIMEOUT_MS
"""How long a participant that voted yes waits for the outcome. Longer than the coordinator's own
waits, so that a live coordinator has always decided (and its decision arrived) by then."""
RETRY_MS = 50.0
"""How often an undecided node that asks its peers for the outcome asks again."""
#: The two outcomes of a transaction.
COMMIT, ABORT = "commit", "abort"
VOTES = ("yes", "no")

#: A node's protocol state once it knows the outcome, and back.
_DECIDED_STATE = {COMMIT: "committed", ABORT: "aborted"}
_OUTCOME_OF_STATE = {state: outcome for outcome, state in _DECIDED_STATE.items()}


def decided_state(outcome: str) -> str:
    """The state of a node that knows ``outcome``: ``"committed"`` or ``"aborted"``."""
    return _DECIDED_STATE[outcome]


def decision_of(state: str) -> str | None:
    """The outcome a node in protocol state ``state`` knows: ``"commit"``, ``"abort"`` or None."""
    return _OUTCOME_OF_STATE.get(state)


# -- the messages both protocols send ----------------------------------------------------------

@dataclass(frozen=True)
class Vote(Message):
    """Participant -> coordinator: ``yes`` (I am prepared) or no."""

    yes: bool

    def describe(self) -> str:
        return "Vote(yes)" if self.yes else "Vote(no)"


@dataclass(frozen=True)
class Signal(Message):
    """A message that carries nothing but its kind; the trace writes its class name."""

    def describe(self) -> str:
        return type(self).__name__


class DecisionRequest(Signal):
    """An undecided node -> anyone: do you know the outcome? (termination)."""


# -- phase one: what both protocols' nodes do alike ---------------------------------------------

class CommitNode(Node):
    """A node of an atomic commit protocol. ``state`` names where it stands (``"working"``,
    ``"waiting"``, ``"committed"`` ...); the outcome it knows follows from it."""

    state: str = "working"

    @property
    def decision(self) -> str | None:
        """``"commit"``, ``"abort"`` or None while undecided."""
        return decision_of(self.state)

    def key(self) -> tuple:
        """Everything that determines this node's future behaviour, as plain hashable data.

        The first field is ``state`` (the explorer reads it there)."""
        raise NotImplementedError

    def awaiting(self, timer: str) -> tuple[NodeId, ...]:
        """The peers whose silence the timer ``timer`` detects (for a perfect failure detector)."""
        raise NotImplementedError

    def report(self) -> NodeStatus:
        """Role and the coordinator it follows (node 0; itself for the coordinator); no term and
        no log: one transaction is decided, and ``extra`` says where the node stands: ``state``
        (``"working"``, ``"prepared"``, ``"committed"`` ...) and ``decision`` (``"commit"``,
        ``"abort"`` or None while undecided)."""
        return NodeStatus(self.id, True, self.role, leader=COORDINATOR, text=self.status(),
                          extra={"state": self.state, "decision": self.decision})


class CommitCoordinator(CommitNode):
    """The coordinator's phase one, the same in 2PC and 3PC: write a begin record, ask every
    participant for its vote, abort on a no or a missing vote; and after a crash, re-send a
    decision already made.

    A protocol's coordinator says what its request and its decisions look like
    (:meth:`vote_request`, :meth:`decision_message`), what follows a yes from everyone
    (:meth:`all_voted_yes`) and what a recovery before any decision does
    (:meth:`recover_undecided`).

    Durable state: ``began`` (the begin record) and ``decision``. Volatile: ``state``
    (``"waiting"`` for votes, ..., ``"committed"`` or ``"aborted"``) and ``yes``, the
    participants whose yes vote has arrived.
    """

    role = "coordinator"
    #: The timers that deciding makes pointless: cancelled by
    #: :meth:`~zablib.protocols.commit.CommitCoordinator.decide`.
    decision_cancels: tuple[str, ...] = ("votes",)

    def __init__(self, node_id: NodeId, peers: tuple[NodeId, ...], storage: Mapping[str, Any]):
        super().__init__(node_id, peers, storage)
        self.participants = self.others
        decision = storage.get("decision")
        self.began = bool(storage.get("began"))
        self.state = decided_state(decision) if decision else "waiting"
        self.yes: frozenset[NodeId] = frozenset()

    def vote_request(self) -> Message:
        """The message that asks a participant for its vote."""
        raise NotImplementedError

    def decision_message(self, outcome: str) -> Message:
        """The message that tells a participant the outcome."""
        raise NotImplementedError

    def all_voted_yes(self, out: Output) -> Output:
        """Every participant voted yes: go on (2PC commits, 3PC pre-commits)."""
        raise NotImplementedError

    def recover_undecided(self, out: Output) -> Output:
        """Restarted after the begin record and before any decision."""
        raise NotImplementedError

    def awaiting(self, timer: str) -> tuple[NodeId, ...]:
        if timer == "votes":
            return tuple(p for p in self.participants if p not in self.yes)
        return ()

    def on_start(self, now: float) -> Output:
        out = Output()
        if not self.began:
            self.began = True  # from now on a restart is a recovery
            out.write(began=True).broadcast(self.participants, self.vote_request())
            return out.set_timer("votes", TIMEOUT_MS)
        if self.decision is not None:
            out.note(f"recovered: re-sends its decision {self.decision}", tag="resend",
                     value=self.decision)
            return out.broadcast(self.participants, self.decision_message(self.decision))
        return self.recover_undecided(out)

    def count_vote(self, out: Output, src: NodeId, vote: Vote) -> Output:
        """Phase one: a vote from ``src`` while waiting for votes."""
        if not vote.yes:
            return self.decide(out, ABORT, f"{src} voted no: abort")
        self.yes = self.yes | {src}
        if len(self.yes) == len(self.participants):
            return self.all_voted_yes(out)
        return out

    def votes_timed_out(self, out: Output) -> Output:
        """Some vote did not arrive in time: abort."""
        missing = ", ".join(map(str, self.awaiting("votes")))
        return self.decide(out, ABORT, f"no vote from {missing} in time: abort")

    def decide(self, out: Output, outcome: str, why: str, announce: bool = True) -> Output:
        """Write ``outcome`` (before anything leaves), note ``why``, and tell every participant
        unless ``announce`` is false."""
        self.state = decided_state(outcome)
        out.write(decision=outcome)
        for name in self.decision_cancels:
            out.cancel_timer(name)
        out.note(why, tag="decision", value=outcome)
        if announce:
            out.broadcast(self.participants, self.decision_message(outcome))
        return out

    def status(self) -> str:
        if self.state == "waiting":
            return f"coordinator waiting ({len(self.yes)}/{len(self.participants)} yes)"
        return f"coordinator {self.state}"


class CommitParticipant(CommitNode):
    """A participant's phase one, the same in 2PC and 3PC: wait for the vote request, vote,
    and write the vote before sending it.

    ``prepared_state`` names the state of a participant that has voted yes (2PC: prepared,
    3PC: uncertain) and ``vote_timer`` the timer that waits for the request.

    Parameters
    ----------
    vote : {"yes", "no"}
        What this participant votes when asked.
    """

    role = "participant"
    prepared_state: str
    vote_timer: str

    def __init__(self, node_id: NodeId, peers: tuple[NodeId, ...], storage: Mapping[str, Any],
                 vote: str = "yes"):
        super().__init__(node_id, peers, storage)
        self.vote = vote
        decision = storage.get("decision")
        if decision:
            self.state = decided_state(decision)
        elif storage.get("vote") == "yes":
            self.state = self.prepared_state
        else:
            self.state = "working"

    def cast_vote(self, out: Output, src: NodeId) -> Output:
        """Asked by ``src`` while working: vote. A yes is written first (from then on this
        participant may not decide alone); a no is an abort."""
        out.cancel_timer(self.vote_timer)
        if self.vote == "yes":
            self.state = self.prepared_state
            out.write(vote="yes").note(f"votes yes: {self.prepared_state}", tag="vote", value="yes")
            return out.send(src, Vote(True)).set_timer("decision", DECISION_TIMEOUT_MS)
        self.state = "aborted"
        out.write(vote="no", decision=ABORT).note("votes no: aborted", tag="vote", value="no")
        return out.send(src, Vote(False))


def node_factory_of(coordinator: Callable[..., Node], participant: Callable[..., Node],
                    votes: Mapping[NodeId, str]) -> NodeFactory:
    """``factory(node_id, peers, storage)``: ``coordinator(0, peers, storage)`` for node 0,
    ``participant(i, peers, storage, votes[i])`` for the others."""

    def factory(i: NodeId, peers: tuple[NodeId, ...], storage: Mapping[str, Any]) -> Node:
        if i == COORDINATOR:
            return coordinator(i, peers, storage)
        return participant(i, peers, storage, votes[i])

    return factory


# -- options and the durable record ----------------------------------------------------------

def parse_votes(votes: Mapping[int, str] | str | None, participants: int,
                rng: random.Random | None = None) -> dict[NodeId, str]:
    """Turn the ``votes`` option into ``{participant: "yes" | "no"}`` for participants ``1..n``.

    ``None`` means everyone votes yes; a mapping gives some votes (the others vote yes);
    ``"random"`` draws each vote, yes or no with equal probability, from ``rng``.
    """
    ids = range(1, participants + 1)
    if votes is None:
        return dict.fromkeys(ids, "yes")
    if isinstance(votes, str):
        if votes != "random":
            raise ValueError(f"votes must be a mapping, None or 'random', got {votes!r}")
        if rng is None:
            raise ValueError("votes='random' needs a random generator")
        return {i: rng.choice(VOTES) for i in ids}
    if not isinstance(votes, Mapping):
        raise ValueError(f"votes must be a mapping, None or 'random', got {votes!r}")
    for node, vote in sorted(votes.items(), key=lambda kv: repr(kv[0])):
        if isinstance(node, bool) or node not in ids:
            raise ValueError(f"votes names unknown node {node!r}; participants are 1..{participants}")
        if vote not in VOTES:
            raise ValueError(f"vote {vote!r} of node {node} must be 'yes' or 'no'")
    return {i: votes.get(i, "yes") for i in ids}


def check_participants(participants: int) -> int:
    """Return ``participants`` if it is a positive int, else raise ValueError."""
    if isinstance(participants, bool) or not isinstance(participants, int) or participants < 1:
        raise ValueError(f"participants must be a positive int (node 0 is the coordinator), "
                         f"got {participants!r}")
    return participants


def decisions(storages: Mapping[NodeId, Mapping[str, Any]]) -> dict[NodeId, str | None]:
    """Each node's durable decision: ``"commit"``, ``"abort"`` or None."""
    return {i: s.get("decision") for i, s in sorted(storages.items())}


def check_validity(storages: Mapping[NodeId, Mapping[str, Any]]) -> None:
    """Commit only if every participant durably voted yes (raises InvariantViolation)."""
    committed = [i for i, d in decisions(storages).items() if d == COMMIT]
    if not committed:
        return
    for i, s in sorted(storages.items()):
        if i != COORDINATOR and s.get("vote") != "yes":
            voted = s.get("vote")
            how = "never voted" if voted is None else f"voted {voted}"
            raise InvariantViolation(
                "validity", f"node {committed[0]} committed but participant {i} {how}")


# -- the simulation ------------------------------------------------------------------------------

class CommitSimulation(Simulation):
    """A :class:`~zablib.sim.Simulation` of an atomic commit protocol (2PC or 3PC).

    Node 0 is the coordinator, nodes ``1..n`` the participants; ``votes`` is what each participant
    votes. ``check()`` tests agreement and validity.

    Parameters
    ----------
    factory_for : callable
        ``factory_for(votes) -> factory(node_id, peers, storage)``, the protocol's node factory.
    participants : int
        Number of participants, at least 1.
    seed : int
        Seed of the run.
    votes : mapping, "random" or None
        See :func:`parse_votes`. ``votes="random"`` is drawn from the run's own seeded generator.
    link : LinkConfig, optional
        Link settings; default uniform 1-10 ms delay, FIFO, no loss.
    """

    protocol: str = "commit"
    variant: str = "correct"

    def __init__(self, factory_for: Callable[[dict[NodeId, str]], NodeFactory], participants: int, *,
                 seed: int = 0, votes: Mapping[int, str] | str | None = None,
                 link: LinkConfig | None = None):
        check_participants(participants)
        if votes != "random":
            parse_votes(votes, participants)  # complain about bad votes before anything runs
        if link is not None and not isinstance(link, LinkConfig):
            raise ValueError(f"link must be a LinkConfig, got {type(link).__name__}")
        self.votes: dict[NodeId, str] = {}
        self._votes_option = votes
        self._factory_for = factory_for
        self._built_factory: NodeFactory | None = None
        super().__init__(self._make_node, range(participants + 1), seed=seed,
                         link=link or LinkConfig(delay=uniform(1.0, 10.0)),
                         invariants=[agreement, validity])

    def _make_node(self, i: NodeId, peers: tuple[NodeId, ...], storage: Mapping[str, Any]) -> Node:
        if self._built_factory is None:
            # The first node is built inside Simulation.__init__, right after the generator.
            self.votes.update(parse_votes(self._votes_option, len(peers) - 1, self.rng))
            self._built_factory = self._factory_for(self.votes)
        return self._built_factory(i, peers, storage)

    @property
    def participants(self) -> tuple[NodeId, ...]:
        """The participant ids, ``1..n``."""
        return self.node_ids[1:]

    def outcome(self) -> dict[NodeId, str | None]:
        """``{node: "commit" | "abort" | None}`` for every node, from its stable storage.

        None means undecided. A crashed node's outcome is what it wrote before crashing.
        """
        return decisions(self.storage)

    def states(self) -> dict[NodeId, str]:
        """Each node's protocol state (``"prepared"``, ``"committed"`` ...), or ``"crashed"``."""
        return {i: (n.state if self.is_up(i) else "crashed") for i, n in sorted(self.nodes.items())}

    def blocked(self) -> list[NodeId]:
        """The live participants that voted yes, are undecided, and wait in vain for an answer."""
        return [i for i in self.participants
                if self.is_up(i) and getattr(self.nodes[i], "blocked", False)]

    # -- questions a scenario waits on -----------------------------------------------------
    def delivered(self, msg_type: type, dst: NodeId, src: NodeId | None = None) -> bool:
        """Whether a message of type ``msg_type`` has been delivered to ``dst`` (from ``src``)."""
        return any(e.kind == "deliver" and e.node == dst and isinstance(e.message, msg_type)
                   and (src is None or e.peer == src) for e in self.trace)

    def dropped(self, msg_type: type, dst: NodeId) -> bool:
        """Whether a message of type ``msg_type`` to ``dst`` has been lost."""
        return any(e.kind == "drop" and e.node == dst and isinstance(e.message, msg_type)
                   for e in self.trace)


def agreement(sim: CommitSimulation) -> None:
    """No two nodes decide differently (durable decisions, crashed nodes included)."""
    check_agreement(sim.outcome(), "decided")


def validity(sim: CommitSimulation) -> None:
    """Commit only if every participant durably voted yes."""
    check_validity(sim.storage)

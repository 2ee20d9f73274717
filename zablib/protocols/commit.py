"""What two-phase and three-phase commit share: one transaction, one coordinator, votes, and the
questions asked of a run.

Both protocols (:mod:`zablib.protocols.twopc`, :mod:`zablib.protocols.threepc`) decide one
transaction among a coordinator, node :data:`COORDINATOR` (0), and participants ``1..n``. This
module holds what is the same in both and nothing that differs:

* the vocabulary: the outcomes :data:`COMMIT` and :data:`ABORT`, the votes, the timeouts;
* the two messages both send the same way: :class:`Vote` and :class:`DecisionRequest`;
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

from zablib.core import Message, Node, NodeId
from zablib.invariants import InvariantViolation, check_agreement
from zablib.network import LinkConfig, uniform
from zablib.sim import NodeFactory, Simulation

COORDINATOR: NodeId = 0
TIMEOUT_MS = 50.0
"""How long any node waits for a message before it times out (links take 1-10 ms)."""
DECISION_TIMEOUT_MS = 3 * TIMEOUT_MS
"""How long a participant that voted yes waits for the outcome. Longer than the coordinator's own
waits, so that a live coordinator has always decided (and its decision arrived) by then."""
RETRY_MS = 50.0
"""How often an undecided node that asks its peers for the outcome asks again."""
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
class DecisionRequest(Message):
    """An undecided node -> anyone: do you know the outcome? (termination)."""

    def describe(self) -> str:
        return "DecisionRequest"


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

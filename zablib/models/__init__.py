"""Models for :func:`zablib.explore.explore`.

Spec-level models faithful to Lamport's TLA+ specs (``TCommit``, ``TwoPhase``, ``Paxos``), and
implementation-level models that explore the real 2PC/3PC node classes: ``CommitModel(protocol,
participants, ...)`` takes the protocol module itself, e.g. ``CommitModel(threepc, 2,
crashes=1)``. Models import protocols; protocols never import models.
"""

from zablib.models.commit_impl import CommitModel, CommitState, replay
from zablib.models.paxos import Paxos
from zablib.models.transaction_commit import TCommit, TwoPhase

__all__ = ["CommitModel", "CommitState", "Paxos", "TCommit", "TwoPhase", "replay"]

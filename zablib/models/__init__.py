"""Spec-level models for :func:`zablib.explore.explore`, faithful to Lamport's TLA+ specs."""

from zablib.models.transaction_commit import TCommit, TwoPhase

__all__ = ["TCommit", "TwoPhase"]

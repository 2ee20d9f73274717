"""Safety properties shared by the protocols, as small checks over plain data.

Each check takes values a protocol's simulation can compute (who decided what, who committed
which sequence, who led which term) and raises :class:`InvariantViolation` naming the property and
the nodes that break it. Protocol modules combine them into ``sim.check()``.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any

from zablib.core import NodeId


class InvariantViolation(AssertionError):
    """A safety property does not hold.

    Attributes
    ----------
    invariant : str
        Name of the broken property, e.g. ``"agreement"``.
    detail : str
        What exactly is wrong, naming nodes and values.
    """

    def __init__(self, invariant: str, detail: str):
        super().__init__(f"{invariant} violated: {detail}")
        self.invariant = invariant
        self.detail = detail


def check_agreement(decisions: Mapping[NodeId, Any], what: str = "decision") -> None:
    """No two nodes reach different decisions; ``None`` means undecided and is ignored.

    >>> check_agreement({1: "commit", 2: None, 3: "commit"})
    """
    decided = sorted((n, d) for n, d in decisions.items() if d is not None)
    for n, d in decided[1:]:
        first_node, first = decided[0]
        if d != first:
            raise InvariantViolation(
                "agreement", f"node {first_node} {what} {first!r} but node {n} {what} {d!r}"
            )


def check_prefix_order(sequences: Mapping[NodeId, Sequence[Any]], what: str = "delivered") -> None:
    """Of any two nodes' sequences, one is a prefix of the other (same items, same order).

    This is the total-order / state-machine-safety property of atomic broadcast and of a
    replicated log: nodes may lag behind, never disagree.
    """
    items = sorted(sequences.items())
    for k, (a, seq_a) in enumerate(items):
        for b, seq_b in items[k + 1:]:
            for pos, (x, y) in enumerate(zip(seq_a, seq_b, strict=False)):
                if x != y:
                    raise InvariantViolation(
                        "prefix order",
                        f"position {pos + 1}: node {a} {what} {x!r} but node {b} {what} {y!r}",
                    )


def check_no_duplicates(sequences: Mapping[NodeId, Sequence[Hashable]], what: str = "delivered") -> None:
    """No node has the same item twice in its sequence (integrity: at most once)."""
    for node, seq in sorted(sequences.items()):
        seen: set[Hashable] = set()
        for item in seq:
            if item in seen:
                raise InvariantViolation("integrity", f"node {node} {what} {item!r} twice")
            seen.add(item)


def check_single_leader(leaderships: Iterable[tuple[int, NodeId]], term_name: str = "term") -> None:
    """At most one node leads each term (election safety).

    Parameters
    ----------
    leaderships : iterable of (term, node)
        Every (term, node) pair in which ``node`` became leader, from the whole run.
    """
    leader_of: dict[int, NodeId] = {}
    for term, node in leaderships:
        other = leader_of.setdefault(term, node)
        if other != node:
            a, b = sorted((other, node))
            raise InvariantViolation(
                "single leader", f"nodes {a} and {b} both became leader of {term_name} {term}"
            )


def check_contains(
    required: Iterable[Any], sequences: Mapping[NodeId, Sequence[Any]], what: str = "acknowledged"
) -> None:
    """Every required item appears in every given sequence (durability of what was promised).

    Used, e.g., to state that every write acknowledged to a client is in the current primary's
    log; the primary-backup chapter shows how asynchronous replication breaks it.
    """
    for node, seq in sorted(sequences.items()):
        present = set(seq)
        for item in required:
            if item not in present:
                raise InvariantViolation(
                    "durability", f"{item!r} was {what} but node {node} does not have it"
                )

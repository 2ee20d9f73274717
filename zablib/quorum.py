"""Majority quorums, as pure arithmetic in one place (etcd-io/raft keeps it in ``quorum/``).

A *quorum* of a set of voters is any subset holding more than half of them. Any two quorums of
the same voters share at least one voter, which is what every protocol here leans on: two
leaders cannot both be elected by quorums of one term, and an entry stored on a quorum is seen
by every later quorum.

Every function takes the voters explicitly: acknowledgements, votes and indexes of servers that
are not voters (a learner being caught up, a server just removed) never count.

>>> majority(5)
3
>>> is_quorum({1, 2, 7}, members=(1, 2, 3))
True
>>> committed_index({1: 9, 2: 7, 3: 4}, members=(1, 2, 3))
7
>>> vote_result({1: True, 2: False}, members=(1, 2, 3))
'pending'

These functions do no I/O and keep no state; ``tests/test_quorum.py`` checks them on tables,
as etcd's ``quorum/testdata`` does.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Iterable, Mapping
from typing import Any

#: The results of :func:`vote_result`.
WON, LOST, PENDING = "won", "lost", "pending"


def majority(n: int) -> int:
    """The size of the smallest quorum of ``n`` voters: more than half of them.

    Raises
    ------
    ValueError
        If ``n`` is not a positive int (a configuration has at least one voter).
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"a quorum needs a positive whole number of voters, not {n!r}")
    return n // 2 + 1


def _voters(members: Collection[Hashable]) -> frozenset | set:
    voters = members if isinstance(members, set | frozenset) else set(members)
    if not voters:
        raise ValueError("a quorum of no voters is undefined; members is empty")
    return voters


def is_quorum(acks: Iterable[Hashable], members: Collection[Hashable]) -> bool:
    """Whether the voters among ``acks`` are a quorum of ``members``.

    ``acks`` may name servers outside ``members`` (they do not count) and the same server twice
    (it counts once).
    """
    voters = _voters(members)
    return len(voters.intersection(acks)) >= majority(len(voters))


def committed_index(match: Mapping[Hashable, Any], members: Collection[Hashable], *,
                    missing: Any = 0) -> Any:
    """The largest index that a quorum of ``members`` holds: each voter holds every index up to
    ``match[voter]``.

    Indexes need only be ordered (Raft's log indexes, Zab's zxids). A voter absent from
    ``match`` holds ``missing``; servers in ``match`` that are not voters are ignored.
    """
    voters = _voters(members)
    held = sorted((match.get(v, missing) for v in voters), reverse=True)
    return held[majority(len(voters)) - 1]


def vote_result(votes: Mapping[Hashable, bool], members: Collection[Hashable]) -> str:
    """:data:`WON` once a quorum of ``members`` granted, :data:`LOST` once so many refused that
    no quorum can grant any more, else :data:`PENDING` (voters that have not answered yet).

    ``votes`` maps a voter to whether it granted; answers of non-voters are ignored.
    """
    voters = _voters(members)
    answers = [bool(votes[v]) for v in voters if v in votes]
    granted = sum(answers)
    refused = len(answers) - granted
    need = majority(len(voters))
    if granted >= need:
        return WON
    if len(voters) - refused < need:
        return LOST
    return PENDING

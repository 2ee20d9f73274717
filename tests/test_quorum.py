"""Quorum arithmetic on tables, in the manner of etcd-io/raft's ``quorum/testdata``: each row is a
configuration, what its voters did, and the answer; a brute force over every subset checks the
tables' rule on all small configurations."""

from __future__ import annotations

from itertools import combinations, product

import pytest

from zablib import quorum
from zablib.quorum import LOST, PENDING, WON


# -- majority ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("n", "size"), [(1, 1), (2, 2), (3, 2), (4, 3), (5, 3), (6, 4), (7, 4)])
def test_a_majority_is_more_than_half(n, size):
    assert quorum.majority(n) == size


@pytest.mark.parametrize("bad", [0, -3, 2.5, "3", True, None])
def test_a_configuration_has_a_positive_whole_number_of_voters(bad):
    with pytest.raises(ValueError, match="positive whole number of voters"):
        quorum.majority(bad)


def test_any_two_majorities_overlap_and_one_voter_fewer_would_not():
    for n in range(1, 8):
        voters, q = range(n), quorum.majority(n)
        assert all(set(a) & set(b) for a in combinations(voters, q) for b in combinations(voters, q))
        if n > 1:  # two disjoint groups of q - 1 fit in n voters
            assert 2 * (q - 1) <= n


# -- is_quorum -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("acks", "members", "expected"), [
    ({1}, (1,), True),                  # a single server is its own quorum
    (set(), (1,), False),
    ({1}, (1, 2), False),               # half is not a majority
    ({1, 2}, (1, 2), True),
    ({1, 3}, (1, 2, 3), True),
    ({3}, (1, 2, 3), False),
    ({1, 2}, (1, 2, 3, 4), False),      # 2 of 4
    ({1, 2, 4}, (1, 2, 3, 4), True),
    ({1, 7, 8}, (1, 2, 3), False),      # 7 and 8 are not voters (learners, removed servers)
    ({2, 3, 9}, (1, 2, 3, 4, 5), False),
    ([2, 2, 3], (1, 2, 3), True),       # an ack counts once
    ([2, 2], (1, 2, 3), False),
])
def test_is_quorum_counts_only_distinct_voters(acks, members, expected):
    assert quorum.is_quorum(acks, members) is expected


def test_no_voters_no_quorum():
    with pytest.raises(ValueError, match="members is empty"):
        quorum.is_quorum({1}, ())


# -- committed_index -----------------------------------------------------------------------------
@pytest.mark.parametrize(("match", "members", "expected"), [
    ({1: 5}, (1,), 5),
    ({1: 5, 2: 3, 3: 0}, (1, 2, 3), 3),         # 1 and 2 hold index 3
    ({1: 5, 2: 5, 3: 0}, (1, 2, 3), 5),
    ({1: 5}, (1, 2, 3), 0),                     # the others hold nothing yet
    ({1: 9, 2: 7, 3: 4, 4: 2}, (1, 2, 3, 4), 4),  # 3 of 4 hold index 4
    ({1: 9, 2: 7, 3: 4, 4: 2, 5: 1}, (1, 2, 3, 4, 5), 4),
    ({1: 9, 2: 9, 9: 9}, (1, 2, 3, 4), 0),      # 9 is a learner: only 2 of 4 voters hold 9
    ({2: 3, 3: 3, 1: 8}, (2, 3, 4), 3),         # a leader (1) that removes itself does not count
])
def test_committed_index_is_the_largest_index_a_quorum_holds(match, members, expected):
    assert quorum.committed_index(match, members) == expected


def test_committed_index_works_for_any_ordered_index_such_as_zxids():
    zero = (0, 0)
    acked = {1: (2, 4), 2: (2, 1), 3: (1, 7), 4: zero}
    assert quorum.committed_index(acked, (1, 2, 3, 4, 5), missing=zero) == (1, 7)
    assert quorum.committed_index({1: (2, 4)}, (1, 2, 3), missing=zero) == zero


def test_committed_index_agrees_with_counting_holders_on_every_small_configuration():
    """The table's rule, by brute force: the largest i that a quorum has reached."""
    for n in range(1, 6):
        members = tuple(range(1, n + 1))
        for indexes in product(range(4), repeat=n):
            match = dict(zip(members, indexes, strict=True))
            best = max(i for i in range(4)
                       if quorum.is_quorum([m for m in members if match[m] >= i], members))
            assert quorum.committed_index(match, members) == best


# -- vote_result ---------------------------------------------------------------------------------
Y, N = True, False


@pytest.mark.parametrize(("votes", "members", "expected"), [
    ({}, (1,), PENDING),
    ({1: Y}, (1,), WON),
    ({1: N}, (1,), LOST),
    ({1: Y}, (1, 2, 3), PENDING),          # its own vote, the others still to answer
    ({1: Y, 2: Y}, (1, 2, 3), WON),
    ({1: Y, 2: N}, (1, 2, 3), PENDING),    # 3 can still decide it
    ({1: Y, 2: N, 3: N}, (1, 2, 3), LOST),
    ({2: N, 3: N}, (1, 2, 3), LOST),       # lost before 1 answers
    ({1: Y, 2: Y}, (1, 2, 3, 4), PENDING),  # 2 of 4
    ({1: Y, 2: N, 3: N}, (1, 2, 3, 4), LOST),
    ({1: Y, 2: Y, 3: Y}, (1, 2, 3, 4), WON),
    ({1: Y, 8: Y, 9: Y}, (1, 2, 3), PENDING),  # votes of non-voters do not count
])
def test_vote_result(votes, members, expected):
    assert quorum.vote_result(votes, members) == expected


def test_vote_result_is_won_lost_or_pending_exactly_as_counting_says():
    for n in range(1, 6):
        members = tuple(range(1, n + 1))
        for answers in product((None, Y, N), repeat=n):
            votes = {m: a for m, a in zip(members, answers, strict=True) if a is not None}
            granted = [m for m in members if votes.get(m) is True]
            could = [m for m in members if votes.get(m) is not False]
            expected = (WON if quorum.is_quorum(granted, members)
                        else PENDING if quorum.is_quorum(could, members) else LOST)
            assert quorum.vote_result(votes, members) == expected

"""Chapter 6's comparison of 2PC and 3PC, measured (Gray 1978; Skeen 1981)."""

from __future__ import annotations

import pytest

from zablib import compare


def test_message_cost_is_linear_three_and_five_per_participant() -> None:
    """2PC: Prepare, Vote, Decision per participant; 3PC: CanCommit, vote, PreCommit, Ack,
    DoCommit."""
    assert [compare.messages("2PC", n) for n in range(1, 6)] == [3 * n for n in range(1, 6)]
    assert [compare.messages("3PC", n) for n in range(1, 6)] == [5 * n for n in range(1, 6)]


def test_message_delays_until_everyone_decides() -> None:
    assert compare.delays_until_all_decide("2PC") == 3
    assert compare.delays_until_all_decide("3PC") == 5


@pytest.mark.parametrize(
    ("fault", "two", "three"),
    [
        ("coordinator crashes after the votes", "blocks: 1, 2, 3 and 4 wait", "decides abort"),
        ("decision reaches only 1; 0 and 1 crash", "blocks: 2, 3 and 4 wait", "decides commit"),
        ("participant 4 crashes before voting", "decides abort", "decides abort"),
        ("participant 4 crashes after voting yes", "decides commit", "decides commit"),
        ("partition {0, 1} | {2, 3, 4}", "blocks: 2, 3 and 4 wait",
         "splits: 0 and 1 commit, 2, 3 and 4 abort"),
    ],
)
def test_each_fault_blocks_decides_or_splits_as_the_theory_says(fault, two, three) -> None:
    """2PC blocks where the outcome is unknowable to the survivors; 3PC decides under crashes
    (its non-blocking property) but splits under a partition."""
    assert compare.verdict(compare.run("2PC", compare.FAULTS[fault])) == two
    assert compare.verdict(compare.run("3PC", compare.FAULTS[fault])) == three


def test_no_fault_commits() -> None:
    for protocol in compare.PROTOCOLS:
        assert compare.verdict(compare.run(protocol)) == "decides commit"


def test_unknown_protocol_is_named() -> None:
    with pytest.raises(ValueError, match="unknown protocol 'Paxos'"):
        compare.run("Paxos")


def test_names_reads_like_english() -> None:
    assert compare.names([2]) == "2"
    assert compare.names([2, 3, 4]) == "2, 3 and 4"
    assert compare.names([]) == ""

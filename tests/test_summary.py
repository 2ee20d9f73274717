"""The failure panel's summary (zablib.summary): what a run looks like, as data with one text
form."""

from __future__ import annotations

from zablib import faults
from zablib.protocols import threepc, twopc, zab
from zablib.summary import summarize


def test_a_summary_holds_what_the_protocol_can_answer():
    blocked = faults.run_scenario(twopc.cluster, n=2, crashes=((0, 10, None),), duration=400)
    summary = summarize(blocked)
    assert summary.crashed == (0,) and summary.time == 400
    assert summary.leader_role is None and summary.committed is None  # 2PC has neither
    assert summary.outcome == {0: None, 1: None, 2: None}
    assert summary.blocked == [1, 2] and summary.holds
    assert summary.render(events=False).splitlines() == [
        f"t = 400.0 ms   events: {len(blocked.trace)}   crashed: [0]",
        "outcome: 0=None, 1=None, 2=None",
        "blocked: [1, 2]",
        "invariants: 2 checked, all hold",
    ]


def test_a_broken_invariant_is_named_in_the_summary():
    """3PC under a partition right after PreCommit: one side commits, the other aborts."""
    split = faults.run_scenario(threepc.cluster, n=3, partition=(({0, 1}, {2, 3}), 14, None),
                                duration=400)
    summary = summarize(split, lines=2)
    assert not summary.holds and summary.broken == "agreement"
    assert summary.violation.startswith("agreement violated: node 0 decided 'commit'")
    assert len(summary.last_events) == 2
    text = summary.render()
    assert f"INVARIANT BROKEN: {summary.violation}" in text
    assert text.endswith("--- last events ---\n" + split.trace.describe(last=2))


def test_a_leader_and_what_each_node_committed():
    sim = faults.run_scenario(zab.cluster, n=3, seed=1, crashes=((3, 105, None),), duration=800,
                              actions=((100, "submit", "x=1"), (400, "submit", "x=2")))
    summary = summarize(sim, lines=0)
    assert (summary.leader_role, summary.leader) == ("leader", 2)
    assert summary.committed == {1: ["x=1", "x=2"], 2: ["x=1", "x=2"], 3: []}
    assert summary.last_events == () and summary.render().endswith("--- last events ---\n")

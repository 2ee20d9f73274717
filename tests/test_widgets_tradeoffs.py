"""Chapter 2's panel (``widgets.ThroughputPanel``), driven headlessly: its controls become the
arguments of ``zablib.coord.measure.throughput``, and what it shows is what was measured.

The measurements are short (10 ms windows, 16 clients) so that the file runs in seconds; the
panel passes its ``options`` to every call.
"""

from __future__ import annotations

import pytest

from zablib.coord.measure import throughput
from zablib.widgets import KERNEL_NOTE, THROUGHPUT_FAULTS, ThroughputPanel

OPTIONS = {"clients": 16, "duration_ms": 10.0, "warmup_ms": 5.0}


def calls_recorded():
    calls = []

    def measure(servers, ratio, **keywords):
        calls.append((servers, ratio, keywords["observers"], keywords["fault"], keywords["seed"]))
        return throughput(servers, ratio, **keywords)

    return calls, measure


@pytest.fixture(scope="module")
def panel() -> ThroughputPanel:
    return ThroughputPanel(throughput, servers=5, read_ratio=0.9, ratios=(0.0, 1.0), options=OPTIONS)


def test_the_first_run_is_the_chosen_ensemble_beside_three_servers(panel):
    assert sorted(panel.runs) == sorted(panel.baseline) == [0.0, 0.9, 1.0]
    assert all(run.servers == 5 and run.fault is None for run in panel.runs.values())
    assert all(run.servers == 3 for run in panel.baseline.values())
    chosen = panel.runs[0.9]
    assert chosen == throughput(5, 0.9, seed=0, **OPTIONS)  # what the panel shows is a measurement
    assert panel.summary_text.startswith(f"5 voters, 90% reads: {chosen.ops_per_second:,.0f} ops/s "
                                         f"(3 voters, no fault: {panel.baseline[0.9].ops_per_second:,.0f})")
    (figure,) = panel.last_figures
    labels = [line.get_label() for line in figure.axes[0].get_lines()]
    assert labels == ["3 servers", "5 servers"]


def test_the_kernel_line_comes_first(panel):
    note = panel.widget.children[0]
    assert note.value == KERNEL_NOTE and "zablib-kernel-note" in note._dom_classes


def test_a_crashed_follower_is_measured_and_named():
    twin = ThroughputPanel(throughput, servers=3, read_ratio=1.0, ratios=(0.0,), options=OPTIONS, draw=False)
    healthy = twin.runs[1.0].ops_per_second
    twin.controls["fault"].value = "crashed follower"
    assert twin.runs[1.0].fault == "crashed follower"
    assert twin.runs[1.0].ops_per_second < 0.8 * healthy  # two servers left to read from
    assert "3 voters, crashed follower, 100% reads" in twin.summary_text
    assert twin.last_figures == []  # draw=False
    assert [label for label, _ in THROUGHPUT_FAULTS] == [
        "none", "one follower slowed (20 ms links)", "one follower crashed"]


def test_only_what_changed_is_measured_again():
    calls, measure = calls_recorded()
    twin = ThroughputPanel(measure, servers=5, read_ratio=0.5, ratios=(0.0, 1.0), options=OPTIONS, draw=False)
    assert len(calls) == 6  # baseline and chosen ensemble, three shares each
    twin.controls["observers"].value = 2
    assert calls[6:] == [(5, r, 2, None, 0) for r in (0.0, 0.5, 1.0)]
    twin.controls["read_ratio"].value = 0.75
    assert calls[9:] == [(3, 0.75, 0, None, 0), (5, 0.75, 2, None, 0)]
    assert "5 voters + 2 observers, 75% reads" in twin.summary_text


def test_a_refused_measurement_is_shown_as_its_error():
    twin = ThroughputPanel(throughput, servers=3, ratios=(1.0,), options=OPTIONS, draw=False)
    twin.controls["servers"].value = 1
    twin.controls["fault"].value = "slow follower"
    assert twin.error and "needs a follower" in twin.error
    assert twin.summary_text.startswith("error: ") and twin.runs == {} and twin.last_figures == []
    twin.controls["fault"].value = None  # back to a valid choice: measured again
    assert twin.error is None and twin.runs[1.0].servers == 1


def test_a_copy_has_the_same_controls_and_leaves_the_original_alone(panel):
    twin = panel.copy()
    assert {k: c.value for k, c in twin.controls.items()} == {k: c.value for k, c in panel.controls.items()}
    twin.controls["servers"].value = 7
    assert panel.controls["servers"].value == 5 and twin.runs[0.9].servers == 7


def test_an_unknown_ensemble_size_is_refused():
    with pytest.raises(ValueError, match="servers must be one of"):
        ThroughputPanel(throughput, servers=4, options=OPTIONS)

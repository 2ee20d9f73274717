"""Chapter 2's pictures: measured curves (``viz.measured_curves``) and the ZooKeeper paper's
Figure 5 drawn from measurements (``viz.throughput_curves``).

The checks are on what the figure draws (lines, their points, labels, scales) and on the rules
every figure of the book follows (readable text, the column's width, the same bytes for the same
data), not on pixels.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
from matplotlib.text import Text

from zablib import viz
from zablib.coord.measure import sweep


def run(servers: int, ratio: float, ops: float, observers: int = 0) -> SimpleNamespace:
    return SimpleNamespace(servers=servers, observers=observers, read_ratio=ratio, ops_per_second=ops)


RUNS = {(3, 0.0): run(3, 0.0, 3000), (3, 1.0): run(3, 1.0, 29000),
        (7, 1.0): run(7, 1.0, 68000), (7, 0.0): run(7, 0.0, 1250),  # out of order on purpose
        (3, 0.5): run(3, 0.5, 6000, observers=4)}


def curves(fig):
    ax = fig.axes[0]
    return {line.get_label(): list(zip(line.get_xdata(), line.get_ydata(), strict=True))
            for line in ax.get_lines() if not line.get_label().startswith("_")}


def test_one_curve_per_ensemble_with_its_points_in_order_of_read_ratio():
    fig = viz.throughput_curves(RUNS, title="Figure 5")
    assert curves(fig) == {"3 servers": [(0.0, 3000), (1.0, 29000)],
                           "7 servers": [(0.0, 1250), (1.0, 68000)],
                           "3 servers + 4 observers": [(0.5, 6000)]}
    ax = fig.axes[0]
    assert ax.get_yscale() == "log" and ax.get_title() == "Figure 5"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == list(curves(fig))
    assert ax.xaxis.get_major_formatter()(0.9, 0) == "90%"


def test_each_curve_has_its_own_colour_and_marker():
    lines = [line for line in viz.throughput_curves(RUNS).axes[0].get_lines()]
    assert len({line.get_color() for line in lines}) == len(lines) == 3
    assert len({line.get_marker() for line in lines}) == 3


def test_a_run_that_never_finished_is_a_red_cross_on_the_top_edge():
    fig = viz.measured_curves({"snapshot": [(1, 20.0), (4, 80.0), (10, math.inf)]},
                              xlabel="MB", ylabel="ms")
    drawn = curves(fig)
    assert drawn["snapshot"] == [(1, 20.0), (4, 80.0)]
    assert drawn["never finished"] == [(10, 1.0)]  # in axes coordinates: the top edge
    assert fig.axes[0].get_yscale() == "linear"


def test_figures_fit_the_column_and_no_text_is_smaller_than_the_book_allows():
    for fig in (viz.throughput_curves(RUNS),
                viz.measured_curves({"a": [(1, 2.0)], "b": [(2, 3.0)]}, xlabel="x", ylabel="y", logy=True)):
        data, size = viz.png_for_screen(fig)
        assert size["width"] <= viz.COLUMN_PX
        small = [t.get_text() for t in fig.findobj(Text)
                 if t.get_visible() and t.get_text().strip() and t.get_fontsize() < viz.MIN_FONT_PT]
        assert not small


def test_the_same_measurements_give_the_same_picture():
    runs = sweep((3,), (0.0, 1.0), duration_ms=10.0, warmup_ms=5.0)
    first = viz.png_for_screen(viz.throughput_curves(runs))[0]
    assert viz.png_for_screen(viz.throughput_curves(sweep((3,), (0.0, 1.0), duration_ms=10.0,
                                                           warmup_ms=5.0)))[0] == first
    assert list(curves(viz.throughput_curves(runs))) == ["3 servers"]


def test_no_series_is_refused():
    with pytest.raises(ValueError, match="at least one series"):
        viz.measured_curves({}, xlabel="x", ylabel="y")

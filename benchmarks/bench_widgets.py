"""How long a reader waits after moving a panel's control: every chapter's panel, each control.

* **Panels**: the book's own, built with the arguments its chapters give them: the introduction's
  primary-backup :class:`~zablib.widgets.FailurePanel`, chapter 1's two- and three-phase commit
  panels, chapter 4's ZAB panel, chapter 5's Raft and Paxos panels, and chapter 3's four
  :class:`~zablib.widgets.ScenarioPanel` (each with the runs its page offers).
* **Changes**: for a failure panel, a crash box ticked, its window moved, each partition choice,
  the partition's window moved, message loss on and off, every value of every option menu, the
  seed; for a scenario panel, every run of its menu, and in each run every value of every menu,
  both states of every box, three positions of every slider, and the seed. A change is one
  assignment to a control's ``value`` (what the browser's message does in the kernel): the
  panel's observer rebuilds the run, runs it to its end, summarises it, draws its two figures and
  encodes them as PNGs into the panel's ``Output`` widget (at twice the screen's resolution,
  :func:`zablib.viz.png_for_panel`). The benchmark runs inside an IPython
  shell, so that the PNGs are made as in a notebook; sending them to the browser and showing
  them there is not in it.
* **Time**: CPU time of each change (``time.process_time``; on a quiet machine the wall clock
  says the same for this single-threaded work), ``REPEATS`` passes over all changes; per panel the
  median, the 90th percentile and the slowest change, and the median over all changes of all
  panels, in the line ``panel update median: X ms`` (target: at most 150 ms).
* **Baselines, in the same run**: the kernel's ping-pong ring of ``bench_kernel.py`` (its events
  per CPU second say how fast this machine is today), and the least any redraw of two figures
  costs: two blank figures of the panels' size, drawn and encoded as PNG the way the panels do
  (:func:`zablib.viz.png_for_panel`).
* **Where the time goes**: one update of each panel made again step by step with the public
  pieces it is made of: the simulation, the summary, building the two figures (``zablib.viz``),
  rendering them (``canvas.draw`` at the panels' resolution: layout and rasterising) and PNG
  encoding (:func:`zablib.viz.rgba_png`, as :func:`zablib.viz.png_for_panel` does); "other" is
  that update less those (the widgets' own work).

Run it with ``python benchmarks/bench_widgets.py [repeats]`` from the repository root.
"""

from __future__ import annotations

import gc
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from baseline import cpu, run_pingpong  # noqa: E402
from IPython.core.interactiveshell import InteractiveShell  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402

import zablib.viz as viz  # noqa: E402
from zablib.protocols import paxos, primary_backup, raft, threepc, twopc, zab  # noqa: E402
from zablib.widgets import FailurePanel, ScenarioPanel  # noqa: E402

REPEATS = 3
TARGET_MS = 150.0

Change = tuple[str, Callable[[], None]]


# -- the chapters' panels ----------------------------------------------------------------------
#: The chapters' failure panels: where, the cluster factory, and FailurePanel's arguments there.
_PB_WRITES = ((100, "submit", "w1"), (150, "submit", "w2"), (230, "submit", "w3"),
              (380, "submit", "w4"), (520, "submit", "w5"))
_ZAB_WRITES = ((100, "submit", "x=1"), (150, "submit", "x=2"), (400, "submit", "x=3"))
_LATER_WRITES = ((250, "submit", "x=1"), (300, "submit", "x=2"), (500, "submit", "x=3"))
_VOTES = {"everyone yes": None, "1 votes no": {1: "no"}, "random votes": "random"}
FAILURE_PANELS: list[tuple[str, Any, dict[str, Any]]] = [
    ("intro: primary-backup", primary_backup.cluster,
     dict(n=3, seed=1, duration=800, choices={"mode": ["async", "sync"]}, actions=_PB_WRITES)),
    ("ch1: two-phase commit", twopc.cluster,
     dict(n=2, seed=0, duration=400, choices={"votes": {
         "everyone yes": None, "1 votes no": {1: "no"}, "2 votes no": {2: "no"}, "random votes": "random"}})),
    ("ch1: three-phase commit", threepc.cluster,
     dict(n=3, seed=0, duration=400,
          choices={"variant": ["correct", "abort-after-precommit"], "votes": _VOTES})),
    ("ch4: ZAB broadcast", zab.cluster,
     dict(n=3, seed=1, duration=500, actions=_ZAB_WRITES, choices={"variant": {
         "correct ZAB": "correct", "commit without quorum": "commit-without-quorum",
         "skip TRUNC": "skip-trunc", "election ignores zxid": "election-ignores-zxid"}})),
    ("ch5: Raft", raft.cluster,
     dict(n=5, seed=0, duration=600, actions=_LATER_WRITES, choices={"variant": {
         "correct Raft": "correct", "commit previous term by counting": "commit-previous-term",
         "vote without the up-to-date check": "no-up-to-date-check",
         "votedFor not persisted": "volatile-vote"}})),
    ("ch5: Paxos", paxos.cluster,
     dict(n=5, seed=0, duration=600, actions=_LATER_WRITES, choices={"variant": {
         "correct Paxos": "correct", "acceptor forgets its promise": "forgetful-acceptor",
         "proposer ignores accepted values": "ignore-accepted"}})),
]
#: Chapter 3's scenario panels: where, the run shown first, the runs offered.
SCENARIO_PANELS: list[tuple[str, str, list[str]]] = [
    ("ch3: configuration and discovery", "service registry",
     ["configuration", "load balancing", "service registry", "event notification", "membership"]),
    ("ch3: coordination", "double barrier", ["barrier", "double barrier"]),
    ("ch3: election and locks", "lock and fencing", ["election", "lock and fencing", "queue"]),
    ("ch3: reads and writes", "reads", ["reads"]),
]


def book_panels() -> list[tuple[str, Callable[[], Any]]]:
    """Each panel the book builds, as ``(where, build)``, with its chapter's arguments (the
    notebooks' own cells, copied: intro.ipynb, chapters/01_background, 03_scenarios, 04_zab,
    05_principles)."""
    panels: list[tuple[str, Callable[[], Any]]] = [
        (where, lambda f=factory, a=args: FailurePanel(f, **a)) for where, factory, args in FAILURE_PANELS
    ]
    panels += [(where, lambda s=first, o=offer: ScenarioPanel(s, offer=o))
               for where, first, offer in SCENARIO_PANELS]
    return panels


def _set(control: Any, value: Any) -> Callable[[], None]:
    def change() -> None:
        control.value = value
    return change


def _values(menu: Any) -> list[Any]:
    """A dropdown's values (its options are values or ``(label, value)`` pairs)."""
    return [o[1] if isinstance(o, tuple) else o for o in menu.options]


def _menu_changes(name: str, menu: Any) -> list[Change]:
    """Every other value of a menu in turn, then back to where it was."""
    start = menu.value
    others = [v for v in _values(menu) if v != start]
    return [*((f"{name} = {v!r}", _set(menu, v)) for v in others), (f"{name} back", _set(menu, start))]


def failure_changes(panel: FailurePanel) -> list[Change]:
    """The changes a reader makes to a failure panel, each leaving the panel ready for the next."""
    first, last = panel.node_ids[0], panel.node_ids[-1]
    d = panel.duration
    changes: list[Change] = [
        (f"crash node {first}", _set(panel.crash_boxes[first], True)),
        (f"node {first} down window", _set(panel.crash_windows[first], (round(d * 0.2), round(d * 0.6)))),
        (f"crash node {last}", _set(panel.crash_boxes[last], True)),
        (f"uncrash node {last}", _set(panel.crash_boxes[last], False)),
        (f"uncrash node {first}", _set(panel.crash_boxes[first], False)),
    ]
    changes += _menu_changes("partition", panel.partition)[:-1]
    changes += [("partition window", _set(panel.partition_window, (round(d * 0.3), round(d * 0.7)))),
                ("no partition", _set(panel.partition, None)),
                ("loss 0.2", _set(panel.loss, 0.2)), ("loss 0", _set(panel.loss, 0.0))]
    for name, menu in panel.option_menus.items():
        changes += _menu_changes(name, menu)
    seed = int(panel.seed.value)
    changes += [("seed + 1", _set(panel.seed, seed + 1)), ("seed back", _set(panel.seed, seed))]
    return changes


def run_scenario_changes(panel: ScenarioPanel, timer: Callable[[str, Callable[[], None]], None]) -> None:
    """Make every change of a scenario panel, timing each (its controls exist only once its run
    is chosen, so they are found after each switch)."""
    import ipywidgets as w

    start = panel.menu.value
    for label in [start, *(v for v in panel.offer if v != start)]:
        if label != panel.menu.value:
            timer(f"run {label!r}", _set(panel.menu, label))
        for name, control in list(panel.controls.items()):
            if isinstance(control, w.Checkbox):
                timer(f"{name} toggled", _set(control, not control.value))
                timer(f"{name} back", _set(control, not control.value))
            elif isinstance(control, w.FloatSlider):
                was = control.value
                for value in (control.min, (control.min + control.max) / 2, control.max):
                    if value != control.value:
                        timer(f"{name} = {value:g}", _set(control, value))
                timer(f"{name} back", _set(control, was))
            else:
                for what, change in _menu_changes(name, control):
                    timer(what, change)
    seed = int(panel.seed.value)
    timer("seed + 1", _set(panel.seed, seed + 1))
    timer("seed back", _set(panel.seed, seed))
    if panel.menu.value != start:
        timer(f"run {start!r}", _set(panel.menu, start))


# -- timing ------------------------------------------------------------------------------------
def time_panel(panel: Any, repeats: int) -> tuple[list[float], list[tuple[str, BaseException]]]:
    """CPU seconds of each change of ``panel``, ``repeats`` passes over all of them, and the
    changes whose update raised (a panel shows a ValueError itself; anything else escapes to the
    notebook as a traceback), each once."""
    samples: list[float] = []
    errors: dict[str, BaseException] = {}

    def timer(what: str, change: Callable[[], None]) -> None:
        gc.collect()
        start = time.process_time()
        try:
            change()
        except Exception as exc:  # noqa: BLE001 - reported under the panel's line
            errors.setdefault(what, exc)
            return
        samples.append(time.process_time() - start)

    for _ in range(repeats):
        if isinstance(panel, FailurePanel):
            for what, change in failure_changes(panel):
                timer(what, change)
        else:
            run_scenario_changes(panel, timer)
    return samples, list(errors.items())


def blank_figures_to_png(repeats: int = 9) -> float:
    """Median CPU seconds to draw two blank figures of a panel's size and encode them as PNG."""
    def two() -> None:
        for height in (viz.CLUSTER_HEIGHT, 3.0):
            fig = plt.figure(figsize=(viz.FIG_WIDTH, height))
            fig.add_subplot()
            viz.png_for_panel(fig)
            plt.close(fig)

    return statistics.median(cpu(two)[1] for _ in range(repeats))


# -- where one update's time goes ----------------------------------------------------------------
PHASES = ("simulation", "summary", "figures", "rendering", "PNG encoding")


def phases(panel: Any) -> tuple[dict[str, float], bool]:
    """CPU seconds of one update of ``panel`` (its seed moved away and back: the update of the
    state it is in), and of each of its steps made again one by one with the public pieces it is
    made of: running the scenario, summarising it, building the figures (``zablib.viz``),
    rendering them (:func:`zablib.viz.png_for_panel` less its encoding: matplotlib's layout and
    rasterising at the panels' resolution), and encoding the pixels as PNG
    (:func:`zablib.viz.rgba_png`). "other" is the update less its steps. Also whether a failure
    panel kept its cluster graph in that update (the run ended in the same state), in which case
    the steps leave the cluster graph out too."""
    import zablib.scenarios as scenarios
    from zablib.widgets import SCENARIO_CONTROLS

    seed = int(panel.seed.value)
    panel.seed.value = seed + 1
    shown = list(panel.last_figures)
    update = cpu(_set(panel.seed, seed))[1]
    kept = isinstance(panel, FailurePanel) and bool(shown) and panel.last_figures[0] is shown[0]
    gc.collect()
    marks = [time.process_time()]
    if isinstance(panel, FailurePanel):
        run = panel.scenario.start(panel.factory)
        run.finish()
        marks.append(time.process_time())
        summary = panel.summarize(run.sim)
        _ = summary if isinstance(summary, str) else summary.render()
        marks.append(time.process_time())
        figures = [*([] if kept else [viz.cluster_graph(run.sim)]), viz.spacetime(run.sim)]
    else:
        result = getattr(scenarios, SCENARIO_CONTROLS[panel.menu.value][0])(**panel.arguments)
        marks.append(time.process_time())
        result.summary()
        marks.append(time.process_time())
        figures = [viz.client_lanes(result, title=panel.menu.value), viz.znode_tree(result)]
    marks.append(time.process_time())
    for fig in figures:
        viz.png_for_panel(fig)
    marks.append(time.process_time())
    encoding = 0.0
    for fig in figures:  # the same pixels again, to time their encoding alone
        fig.set_dpi(viz.SCREEN_DPI * viz.PIXEL_RATIO)
        canvas = FigureCanvasAgg(fig)
        canvas.draw()
        encoding += cpu(viz.rgba_png, canvas.buffer_rgba())[1]
    steps = {name: marks[k + 1] - marks[k] for k, name in enumerate(PHASES[:-1])}
    steps["rendering"] -= encoding
    steps["PNG encoding"] = encoding
    return {"update": update, **steps, "other": update - sum(steps.values())}, kept


# -- the report ----------------------------------------------------------------------------------
def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(repeats: int = REPEATS) -> float:
    InteractiveShell.instance()  # panels encode their PNGs only where IPython runs, as in a notebook
    pings, ping_cpu = cpu(run_pingpong)
    kernel_rate = pings / ping_cpu
    blank = blank_figures_to_png()
    print(f"baselines: kernel {kernel_rate:,.0f} events/s (ping-pong, {pings:,} deliveries); "
          f"two blank figures to PNG {blank * 1e3:.1f} ms")
    print(f"{'panel':34} {'changes':>7} {'median':>8} {'p90':>8} {'slowest':>8}   "
          "one update (the seed's), step by step")
    everything: list[float] = []
    for where, build in book_panels():
        try:
            panel = build()
        except Exception as exc:  # noqa: BLE001 - a panel the chapters cannot build yet is reported
            print(f"{where:34} skipped: {type(exc).__name__}: {exc}")
            continue
        samples, errors = time_panel(panel, repeats)
        everything += samples
        steps, kept = phases(panel)
        update = statistics.median(samples)
        split = ", ".join(f"{name} {ms * 1e3:.0f}" for name, ms in steps.items())
        split += " (ms; cluster graph kept)" if kept else " (ms)"
        print(f"{where:34} {len(samples) // repeats:7d} {update * 1e3:6.0f}ms "
              f"{percentile(samples, 0.9) * 1e3:6.0f}ms {max(samples) * 1e3:6.0f}ms   {split}")
        for what, exc in errors:
            print(f"{'':34} error after {what}: {type(exc).__name__}: {exc}".rstrip())
    median = statistics.median(everything)
    print(f"all panels: {len(everything)} changes; {median / blank:.1f} x two blank figures to PNG; "
          f"{median * kernel_rate:,.0f} kernel events")
    verdict = "within" if median * 1e3 <= TARGET_MS else "over"
    print(f"panel update median: {median * 1e3:.0f} ms ({verdict} the {TARGET_MS:.0f} ms target; CPU time)")
    return median


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else REPEATS)

"""The failure panel (zablib.widgets), driven headlessly, and the pure scenario runner and summary
beneath it (zablib.faults).

A test sets a control's ``.value`` (or clicks a button) exactly as a reader would, then reads the
simulation the panel built, the summary it computed, the text it shows and the figures it drew.
"""

import ast
import json
from pathlib import Path

import matplotlib
from IPython.core.inputtransformer2 import TransformerManager

matplotlib.use("Agg")

import pytest  # noqa: E402

from zablib.faults import Scenario, partition_choices, run_scenario  # noqa: E402
from zablib.protocols import pingpong, primary_backup  # noqa: E402
from zablib.summary import Summary, summarize  # noqa: E402
from zablib.widgets import FailurePanel  # noqa: E402

WRITES = ((100, "submit", "a"), (200, "submit", "b"))


@pytest.fixture
def panel():
    return FailurePanel(primary_backup.cluster, 3, seed=1, duration=1000, actions=WRITES)


def choice(panel, label):
    return dict(panel.partition.options)[label]


# -- the panel ---------------------------------------------------------------------------------

def test_untouched_panel_runs_the_whole_healthy_scenario(panel):
    assert panel.sim.now == 1000
    assert panel.sim.crashed == frozenset()
    assert [panel.sim.committed(i) for i in (1, 2, 3)] == [["a", "b"]] * 3
    assert len(panel.last_figures) == 2  # cluster graph and space-time diagram
    assert "primary: 1" in panel.summary_text
    assert "committed(3): ['a', 'b']" in panel.summary_text
    assert panel.widget.children  # what a notebook displays


def test_the_summary_is_data_and_the_text_under_the_pictures_is_its_rendering(panel):
    panel.crash_windows[1].value = (400, 1000)
    panel.crash_boxes[1].value = True
    summary = panel.summary
    assert isinstance(summary, Summary)
    assert summary.crashed == (1,) and summary.holds
    assert (summary.leader_role, summary.leader) == ("primary", panel.sim.primary())
    assert summary.committed == {i: panel.sim.committed(i) for i in (1, 2, 3)}
    assert panel.summary_text == summary.render()
    # What notebooks once cut out of the text with split("--- last events ---") is the data
    # rendered without its events.
    assert panel.summary_text.split("--- last events ---")[0] == summary.render(events=False) + "\n"


def test_controls_that_describe_no_valid_scenario_leave_no_summary(panel):
    panel.crash_windows[2].value = (300, 300)
    panel.crash_boxes[2].value = True
    assert panel.summary is None
    assert panel.summary_text == ("error: node 2 would recover at t=300.0 ms, "
                                  "not after its crash at t=300.0 ms")
    panel.crash_windows[2].value = (300, 600)
    assert isinstance(panel.summary, Summary) and panel.error is None


def test_crash_toggle_crashes_the_node_at_the_chosen_time(panel):
    panel.crash_windows[1].value = (400, 1000)  # right end at the duration: it stays down
    assert panel.sim.crashed == frozenset()  # the box is not ticked yet
    panel.crash_boxes[1].value = True
    assert panel.sim.crashed == {1}
    assert panel.sim.crash_intervals == [(1, 400.0, None)]
    crashes = panel.sim.trace.of_kind("crash")
    assert [(e.time, e.node) for e in crashes] == [(400.0, 1)]
    # The backups notice and one of them takes over, as the text under the pictures says.
    assert panel.sim.primary() in (2, 3)
    assert f"primary: {panel.sim.primary()}" in panel.summary_text
    assert "crashed: [1]" in panel.summary_text


def test_a_crash_window_ending_before_the_end_recovers_the_node(panel):
    panel.crash_boxes[2].value = True
    panel.crash_windows[2].value = (300, 600)
    assert panel.sim.crash_intervals == [(2, 300.0, 600.0)]
    assert panel.sim.crashed == frozenset()
    assert [e.time for e in panel.sim.trace.of_kind("recover")] == [600.0]


def test_partition_menu_splits_the_network_at_the_chosen_time(panel):
    labels = [label for label, _ in panel.partition.options]
    assert labels == ["none", "{1} | {2, 3}", "{2} | {1, 3}", "{3} | {1, 2}"]
    panel.partition_window.value = (500, 800)
    panel.partition.value = choice(panel, "{3} | {1, 2}")
    assert panel.sim.partition_intervals == [((frozenset({1, 2}), frozenset({3})), 500.0, 800.0)]
    cut = [e for e in panel.sim.trace.of_kind("drop") if e.text == "partition"]
    assert cut and all(500 <= e.time <= 800 and 3 in (e.src, e.dst) for e in cut)
    panel.partition.value = None
    assert panel.sim.partition_intervals == []


def test_message_loss_drops_messages(panel):
    assert not panel.sim.trace.of_kind("drop")
    panel.loss.value = 0.3
    lost = [e for e in panel.sim.trace.of_kind("drop") if e.text == "lost"]
    sent = panel.sim.trace.of_kind("send")
    assert 0.15 * len(sent) < len(lost) < 0.45 * len(sent)


def test_changing_the_seed_changes_the_run(panel):
    before = panel.sim.trace.describe()
    panel.seed.value = 2
    assert panel.sim.seed == 2
    assert panel.sim.trace.describe() != before


def test_reset_returns_to_time_zero_and_run_plays_to_the_end(panel):
    panel.reset_button.click()
    assert panel.sim.now == 0
    fresh = primary_backup.cluster(3, seed=1)
    assert panel.sim.trace.describe() == fresh.trace.describe()
    assert len(panel.last_figures) == 2  # redrawn at time 0
    panel.run_button.click()
    assert panel.sim.now == 1000


def test_step_advances_exactly_one_event(panel):
    panel.reset_button.click()
    reference = primary_backup.cluster(3, seed=1)
    for _ in range(5):
        panel.step_button.click()
        reference.run(max_events=1)
        assert panel.sim.trace.describe() == reference.trace.describe()
    assert 0 < panel.sim.now < 100


def test_stepping_to_the_end_gives_the_same_run_as_run(panel):
    panel.crash_boxes[1].value = True
    panel.partition.value = choice(panel, "{2} | {1, 3}")
    panel.loss.value = 0.1
    whole = panel.sim.trace.describe()
    panel.draw = False  # stepping hundreds of times: skip the pictures
    panel.reset()
    steps = 0
    while panel.step():
        steps += 1
    assert steps > 30
    assert panel.sim.trace.describe() == whole


def test_in_a_notebook_the_pictures_are_sharp_pngs_at_their_css_width(monkeypatch):
    """In a notebook (IPython running) a panel's output holds its two pictures at twice the
    screen's resolution with their CSS width in the metadata, as the notebooks' own figures, then
    the summary; the same run gives the same bytes."""
    import base64

    import IPython

    import zablib.viz as viz

    panel = FailurePanel(primary_backup.cluster, 3, seed=2, duration=1000, actions=WRITES)
    assert panel.output.outputs == ()  # headless: nobody sees it, nothing is encoded
    # pyplot has chosen its backend above; from now on the panel believes it is in a notebook
    monkeypatch.setattr(IPython, "get_ipython", lambda: object())
    panel.seed.value = 1
    *images, text = panel.output.outputs
    assert len(images) == 2 and text["text"] == panel.summary_text + "\n"
    for image, fig in zip(images, panel.last_figures, strict=True):
        width = image["metadata"]["image/png"]["width"]
        assert width == round(fig.get_figwidth() * viz.SCREEN_DPI) <= viz.COLUMN_PX
        png = base64.b64decode(image["data"]["image/png"])
        assert int.from_bytes(png[16:20], "big") == viz.PIXEL_RATIO * width
    panel.seed.value = 2
    panel.seed.value = 1
    assert panel.output.outputs[:2] == tuple(images)


def test_a_cluster_graph_is_drawn_again_only_when_what_it_shows_changed(panel):
    """A change after which the run ends in the same state (here: the partition's window moved
    while no partition is chosen) shows the same cluster graph, not drawn again; a change that
    alters what it shows (a node crashed for good) draws a new one, with the crashed node."""
    import zablib.viz as viz

    graph, diagram = panel.last_figures
    panel.partition_window.value = (300.0, 600.0)
    assert panel.last_figures[0] is graph and panel.last_figures[1] is not diagram
    panel.crash_boxes[3].value = True
    assert panel.last_figures[0] is not graph
    assert viz.cluster_state(panel.sim).roles[2] == "crashed"
    panel.crash_boxes[3].value = False  # back to the first run: its state, drawn anew
    assert viz.cluster_state(panel.sim) == viz.cluster_state(FailurePanel(
        primary_backup.cluster, 3, seed=1, duration=1000, actions=WRITES, draw=False).sim)


def test_an_action_that_fails_is_shown_not_raised():
    panel = FailurePanel(primary_backup.cluster, 3, duration=500, actions=((200, "request", 1, "x"),))
    assert panel.error is None
    panel.crash_windows[1].value = (100, 500)
    panel.crash_boxes[1].value = True
    assert panel.error == "node 1 is crashed; it cannot take client requests"
    assert panel.summary_text.startswith("error: node 1 is crashed")
    assert panel.sim.now == 200  # the run stopped where the action failed, and is still drawn
    assert len(panel.last_figures) == 2


def test_panel_takes_factory_options_and_any_cluster_factory():
    sync = FailurePanel(primary_backup.cluster, 2, duration=300, options={"mode": "sync"},
                        actions=((50, "submit", "x"),))
    assert sync.sim.mode == "sync"
    assert list(sync.crash_boxes) == [1, 2]
    ring = FailurePanel(pingpong.cluster, 4, duration=200, options={"rounds": 3})
    assert ring.sim.now == 200
    assert "primary" not in ring.summary_text and "committed" not in ring.summary_text
    assert len(ring.sim.trace.of_kind("deliver")) == 4 * 3


def test_custom_summary_and_headless_drawing_off():
    panel = FailurePanel(pingpong.cluster, 3, duration=100, draw=False,
                         summary=lambda sim: f"{len(sim.trace.of_kind('deliver'))} deliveries")
    assert panel.summary_text == "30 deliveries"
    assert panel.summary == "30 deliveries"
    assert panel.last_figures == []


def test_a_custom_summary_may_return_data_too():
    panel = FailurePanel(pingpong.cluster, 3, duration=100, draw=False,
                         summary=lambda sim: summarize(sim, lines=1))
    assert panel.summary.last_events == (panel.sim.trace[-1],)
    assert panel.summary_text.endswith("--- last events ---\n" + panel.sim.trace.describe(last=1))


def test_panel_rejects_an_unknown_action_at_once():
    with pytest.raises(ValueError, match="unknown action 'sumbit'"):
        FailurePanel(primary_backup.cluster, 3, actions=((100, "sumbit", "x"),))


# -- the pure functions beneath --------------------------------------------------------------

FAULTS = dict(n=3, seed=5, crashes=((1, 250, 650),), partition=(({1, 2}, {3}), 400, 700),
              loss=0.1, duration=900, actions=WRITES)


def test_run_scenario_is_deterministic():
    a = run_scenario(primary_backup.cluster, **FAULTS)
    b = run_scenario(primary_backup.cluster, **FAULTS)
    assert a.trace.describe() == b.trace.describe()
    c = run_scenario(primary_backup.cluster, **{**FAULTS, "seed": 6})
    assert c.trace.describe() != a.trace.describe()


def test_run_scenario_applies_every_happening_at_its_time():
    sim = run_scenario(primary_backup.cluster, **FAULTS, mode="sync")
    assert sim.mode == "sync"
    assert sim.now == 900
    assert sim.crash_intervals == [(1, 250, 650)]
    assert sim.partition_intervals == [((frozenset({1, 2}), frozenset({3})), 400, 700)]
    faults = [(e.time, e.kind) for e in sim.trace if e.kind in ("crash", "recover", "partition",
                                                                   "heal", "client", "network")]
    assert faults == [(0, "network"), (100, "client"), (200, "client"), (250, "crash"),
                      (400, "partition"), (650, "recover"), (700, "heal")]


def test_faults_at_the_same_time_come_before_client_actions():
    sim = run_scenario(primary_backup.cluster, crashes=((1, 100, None),),
                       actions=((100, "submit", "late"),), duration=150)
    assert [e.kind for e in sim.trace if e.kind in ("crash", "client")] == ["crash"]
    assert "late" not in sim.committed(1)  # the primary was already down when the client came


def test_callable_actions_get_the_simulation():
    seen = []
    run_scenario(pingpong.cluster, n=2, duration=50, actions=((20, lambda sim: seen.append(sim.now)),))
    assert seen == [20]


def test_scenario_is_a_value():
    a = Scenario(n=3, crashes=[[2, 100, None]], options={"mode": "sync"})
    b = Scenario(n=3, crashes=((2, 100, None),), options=(("mode", "sync"),))
    assert a == b
    assert a.schedule() == [(100.0, "crash", (2,))]


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        (dict(crashes=((7, 100, None),)), "unknown node 7; nodes are 1..3"),
        (dict(loss=1.5), "loss must be a probability with 0 <= loss < 1, got 1.5"),
        (dict(crashes=((2, 5000, None),)), "crash of node 2 at t=5000 ms is after the end of the run"),
        (dict(crashes=((2, 300, 200),)), "node 2 would recover at t=200 ms, not after its crash"),
        (dict(crashes=((2, 100, 400), (2, 300, None))), "crashes of node 2 overlap"),
        (dict(crashes=((2, -1, None),)), "must be a number of ms >= 0, got -1"),
        (dict(partition=(({1}, {2, 9}), 100, None)), "partition: unknown node 9"),
        (dict(partition=(({1}, {2}), 100, None)), r"partition: node\(s\) \[3\] are in no group"),
        (dict(partition=(({1, 2}, {2, 3}), 100, None)), "partition: node 2 is in two groups"),
        (dict(partition=(({1}, {2, 3}), 600, 300)), "the partition would heal at t=300 ms"),
        (dict(partition=({1}, {2, 3})), r"partition must be \(groups, at_ms, heal_at_ms or None\)"),
        (dict(actions=((100, "sumbit", "x"),)), "unknown action 'sumbit'"),
        (dict(actions=((2000, "submit", "x"),)), "action 'submit' at t=2000 ms is after the end"),
        (dict(duration=0), "duration must be a positive number"),
        (dict(seed="1"), "seed must be an int"),
        (dict(mode="fast"), "unknown mode 'fast'"),  # the factory's own check, passed through
    ],
)
def test_bad_scenarios_raise_value_errors_naming_the_problem(changes, problem):
    args = {"n": 3, "duration": 1000, **changes}
    with pytest.raises(ValueError, match=problem):
        run_scenario(primary_backup.cluster, **args)


def test_partition_choices_are_few_and_sensible():
    assert partition_choices([1, 2]) == [("none", None), ("{1} | {2}", (frozenset({1}), frozenset({2})))]
    five = [label for label, _ in partition_choices(range(1, 6))]
    assert len(five) == 8
    assert five[:2] == ["none", "{1} | {2, 3, 4, 5}"]
    assert "{1, 2} | {3, 4, 5}" in five
    # Two-phase commit numbers its coordinator 0; the menu follows the cluster's ids.
    assert [label for label, _ in partition_choices([0, 1, 2])][1] == "{0} | {1, 2}"


def test_summarize_reports_what_the_protocol_can_answer():
    sim = run_scenario(primary_backup.cluster, crashes=((1, 50, None),), duration=600)
    text = summarize(sim, lines=3).render()
    assert text.splitlines()[0] == f"t = 600.0 ms   events: {len(sim.trace)}   crashed: [1]"
    assert f"primary: {sim.primary()}" in text
    assert text.endswith(sim.trace.describe(last=3))


# -- chapter 3's panel over the coordination service's runs ---------------------------------------
from zablib.widgets import SCENARIO_CONTROLS, ScenarioPanel  # noqa: E402


def texts(fig):
    return [t.get_text() for ax in fig.axes for t in ax.texts]


def test_the_scenario_panel_runs_its_first_scenario_and_draws_lanes_and_tree():
    panel = ScenarioPanel("lock and fencing")
    assert panel.arguments == {"pause_ms": 600.0, "fencing": True, "seed": 0}
    assert panel.run.tokens == {"A": 0, "B": 1} and not panel.run.stale_write_accepted
    lanes, tree = panel.last_figures
    labels = [t.get_text() for t in lanes.axes[0].get_yticklabels()]
    assert labels == ["1", "2", "3", "101 A", "102 B"]  # servers, then the clients as lanes
    assert "A2 refused" in texts(lanes)
    assert any(t.get_text().startswith("/app/lock/") for t in tree.axes[0].get_yticklabels())
    assert "A2 with token 0: REFUSED" in panel.summary_text


def test_turning_fencing_off_lets_the_stale_write_in():
    panel = ScenarioPanel("lock and fencing", draw=False)
    panel.controls["fencing"].value = False
    assert panel.run.stale_write_accepted and not panel.run.fencing
    assert "stale write accepted: True" in panel.summary_text
    panel.controls["pause_ms"].value = 200.0  # shorter than the session: nothing goes wrong
    assert panel.run.both_held == [] and not panel.run.stale_write_accepted


def test_choosing_another_scenario_builds_its_controls_and_runs_it():
    panel = ScenarioPanel("lock and fencing", draw=False)
    panel.menu.value = "election"
    assert set(panel.controls) == {"naive", "pause_leader_ms"}
    assert panel.run.wakeups[0] == 1
    panel.controls["naive"].value = True
    assert panel.run.naive and panel.run.wakeups[0] == panel.run.waiting[0] == 4
    panel.controls["pause_leader_ms"].value = 600.0
    assert panel.run.overlaps and panel.run.stale_acts
    panel.menu.value = "service registry"
    panel.controls["how"].value = "close"
    assert panel.run.how == "close" and panel.run.listed_for < 100


def test_every_offered_scenario_runs_with_its_initial_controls():
    panel = ScenarioPanel("queue", draw=False)
    for label in SCENARIO_CONTROLS:
        panel.menu.value = label
        assert panel.error is None and panel.run is not None, label
        assert panel.summary_text == panel.run.summary()


@pytest.mark.parametrize("label", [label for label, (_, controls) in SCENARIO_CONTROLS.items()
                                   if any(kind == "slider" for _, kind, *_ in controls)])
def test_both_ends_of_every_slider_are_runs_or_shown_errors(label):
    """A reader drags a slider to its end: the run is made, or its ValueError is shown in the
    panel; nothing else escapes to the notebook as a traceback. The reads run's slow link stops
    short of syncLimit (from about 90 ms the follower stops serving), so its right end is a run."""
    panel = ScenarioPanel(label, draw=False)
    sliders = {name: c for name, c in panel.controls.items() if hasattr(c, "min") and hasattr(c, "max")}
    assert sliders, label
    for name, slider in sliders.items():
        was = slider.value
        for end in (slider.min, slider.max):
            slider.value = end  # a ValueError is caught and shown; anything else fails here
            assert panel.run is not None or panel.summary_text == f"error: {panel.error}", (name, end)
        slider.value = was
    if label == "reads":
        panel.controls["lag_ms"].value = panel.controls["lag_ms"].max
        for read in ("get", "sync_get"):
            panel.controls["read"].value = read
            assert panel.error is None and panel.run is not None, read


def test_the_seed_changes_the_run_and_the_menu_offers_what_it_is_given():
    panel = ScenarioPanel("double barrier", draw=False)
    first = panel.run.entered
    panel.seed.value = 5
    assert panel.run.entered != first
    panel.controls["crash"].value = "m2"
    assert panel.run.left["m2"] is None
    with pytest.raises(ValueError, match="unknown or not offered"):
        ScenarioPanel("lock", offer=["queue"])
    limited = ScenarioPanel("queue", offer=["queue", "barrier"], draw=False)
    assert list(limited.menu.options) == ["queue", "barrier"]


# -- what the book saves: the displayed panel keeps its first run --------------------------------

def test_a_copy_shows_the_same_run_and_driving_it_leaves_the_panel_alone(panel):
    panel.seed.value = 4
    panel.crash_windows[2].value = (300, 600)
    panel.crash_boxes[2].value = True
    shown = panel.summary_text
    copy = panel.copy()
    assert copy.scenario == panel.scenario and copy.summary_text == shown
    assert copy.last_figures == [] and copy.draw is False  # text only unless asked
    copy.crash_boxes[1].value = True
    copy.loss.value = 0.2
    assert copy.summary_text != shown
    assert panel.summary_text == shown and panel.scenario.loss == 0.0


def test_a_copy_keeps_the_menus_choices_and_summary_of_its_panel():
    votes = {"everyone yes": None, "1 votes no": {1: "no"}}
    from zablib.protocols import twopc

    panel = FailurePanel(twopc.cluster, n=2, seed=0, duration=400, choices={"votes": votes},
                         summary=lambda sim: f"outcome {sim.outcome()}", draw=False)
    panel.option_menus["votes"].value = {1: "no"}
    copy = panel.copy()
    assert copy.option_menus["votes"].value == {1: "no"}
    assert list(copy.option_menus["votes"].options) == list(panel.option_menus["votes"].options)
    assert copy.summary_text == panel.summary_text and copy.summary_text.startswith("outcome")
    copy.option_menus["votes"].value = None
    assert panel.option_menus["votes"].value == {1: "no"}


def test_a_scenario_panel_copy_runs_the_same_and_drives_on_its_own():
    panel = ScenarioPanel("lock and fencing", offer=["election", "lock and fencing"], draw=False)
    panel.controls["pause_ms"].value = 450.0
    copy = panel.copy()
    assert copy.arguments == panel.arguments and copy.summary_text == panel.summary_text
    assert list(copy.menu.options) == ["election", "lock and fencing"]
    copy.controls["fencing"].value = False
    assert panel.controls["fencing"].value is True and copy.run.stale_write_accepted != \
        panel.run.stale_write_accepted


def test_every_panel_opens_with_the_kernel_note_hidden_outside_the_book(panel):
    from zablib.widgets import KERNEL_NOTE

    for shown in (panel, ScenarioPanel("reads", draw=False)):
        note = shown.widget.children[0]
        assert note.value == KERNEL_NOTE and "zablib-kernel-note" in note._dom_classes
        # Hidden in Jupyter (where the controls work); _assets/book.css shows it on a static page.
        assert note.layout.display == "none"
    assert "running Python kernel" in KERNEL_NOTE and "Binder" in KERNEL_NOTE
    assert "Live Code" in KERNEL_NOTE


BOOK_NOTEBOOKS = sorted({*Path(__file__).resolve().parents[1].glob("chapters/*/*.ipynb"),
                         Path(__file__).resolve().parents[1] / "intro.ipynb"})


def displayed_panels(path):
    """(cell index, variable) of each panel a notebook displays, and its code cells' trees."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    python = TransformerManager().transform_cell  # IPython syntax (%xmode ...) to Python
    trees = [(i, ast.parse(python("".join(c["source"])))) for i, c in enumerate(cells)
             if c["cell_type"] == "code"]
    shown = []
    for index, tree in trees:
        made = {t.id for node in ast.walk(tree) if isinstance(node, ast.Assign)
                and isinstance(node.value, ast.Call) and getattr(node.value.func, "id", "")
                .endswith("Panel") for t in node.targets if isinstance(t, ast.Name)}
        last = tree.body[-1] if tree.body else None
        if isinstance(last, ast.Expr) and isinstance(last.value, ast.Name) and last.value.id in made:
            shown.append((index, last.value.id))
    return shown, trees


def root_name(node):
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


@pytest.mark.parametrize("path", BOOK_NOTEBOOKS, ids=lambda p: p.name)
def test_no_later_cell_drives_a_displayed_panel(path):
    """The book shows a panel as its notebook left it, so after a panel is displayed no cell
    sets its controls or presses its buttons (they drive ``panel.copy()`` instead): the page
    shows the first run, the one its text describes."""
    shown, trees = displayed_panels(path)
    driven = []
    for index, name in shown:
        for later, tree in trees:
            if later <= index:
                continue
            for node in ast.walk(tree):
                targets = (node.targets if isinstance(node, ast.Assign)
                           else [node.target] if isinstance(node, (ast.AugAssign, ast.AnnAssign))
                           else [])
                if any(root_name(t) == name and not isinstance(t, ast.Name) for t in targets):
                    driven.append(f"cell {later}: sets {ast.unparse(node)[:60]}")
                if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                        and root_name(node.func) == name
                        and node.func.attr in {"rerun", "run", "step", "reset", "click"}):
                    driven.append(f"cell {later}: calls {ast.unparse(node)[:60]}")
    assert not driven, f"{path.name} drives its displayed panel:\n" + "\n".join(driven)


def test_the_book_displays_panels():
    assert sum(len(displayed_panels(p)[0]) for p in BOOK_NOTEBOOKS) >= 9


def test_a_menu_whose_first_choice_is_none_shows_that_choice():
    """"nobody" (the value None) is selected, not an empty menu, at the start and in a copy."""
    panel = ScenarioPanel("membership", draw=False)
    assert panel.controls["leave"].value == "w2"
    panel.controls["leave"].value = None  # as code sets it
    assert panel.controls["leave"].index == 0 and "w2 leave" not in panel.summary_text
    panel.controls["leave"].index = 1
    panel.controls["leave"].index = 0  # as a reader picks it
    assert panel.controls["leave"].value is None and panel.controls["leave"].index == 0
    assert panel.copy().controls["leave"].index == 0
    barrier = ScenarioPanel("double barrier", draw=False)
    assert barrier.controls["crash"].index == 0 and barrier.controls["crash"].value is None
    failure = FailurePanel(primary_backup.cluster, 3, draw=False)
    failure.partition.index = 1
    failure.partition.value = None
    assert failure.partition.index == 0 and failure.scenario.partition is None
    assert failure.copy().partition.index == 0

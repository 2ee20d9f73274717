"""Thin ipywidgets panels over pure functions: break a cluster and watch what happens.

The logic is plain Python that tests and notebooks call directly: :class:`~zablib.faults.Scenario`
describes a run under faults, :class:`~zablib.faults.ScenarioRun` plays it, and
:func:`~zablib.summary.summarize` says what it looks like as a :class:`~zablib.summary.Summary`,
whose ``render()`` is the text shown.

:class:`FailurePanel` only maps widget values to a :class:`~zablib.faults.Scenario` and draws the
result with :mod:`zablib.viz`. Tests drive it headlessly by setting a control's ``.value`` and
reading ``panel.sim``, ``panel.summary`` (data), ``panel.summary_text`` and ``panel.last_figures``.

:class:`ScenarioPanel` does the same for chapter 3: its controls become the arguments of a run of
:mod:`zablib.scenarios` (a recipe on the simulated coordination service, broken on purpose), and
it draws the run's client lanes and its tree over time. Tests read ``panel.run`` (the run's
dataclass), ``panel.summary_text`` and ``panel.last_figures``.

A panel displayed in a notebook is saved with the notebook as it was when the notebook finished,
and that saved state is what the published book shows. Code that drives a panel from a later cell
therefore drives ``panel.copy()``, its own panel, so the displayed one keeps showing its first run.
Each panel's first row, :data:`KERNEL_NOTE`, says that the controls need a running kernel; it is
hidden (``display: none``) unless the book's stylesheet shows it on the static page.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from zablib.core import NodeId
from zablib.faults import Factory, Scenario, ScenarioRun, partition_choices
from zablib.sim import Simulation
from zablib.summary import Summary, summarize

#: The line at the top of every panel (class ``zablib-kernel-note``): hidden in a notebook, shown by
#: the book's stylesheet (``_assets/book.css``) where a saved panel is drawn without a kernel.
KERNEL_NOTE = ("These controls need a running Python kernel: start one from the rocket button at "
               "the top of the page (<b>Binder</b>, or <b>Live Code</b> to run this page's cells "
               "in place).")


@functools.cache
def _menu_type() -> type:
    """``ipywidgets.Dropdown`` in which None may be a choice ("nobody", "no partition").

    A plain Dropdown takes the value None for "nothing selected": choosing such a choice, in
    Jupyter or from code, emptied the menu (index None), and the static page showed it empty.
    Here None selects its choice like any other value.
    """
    import ipywidgets as w
    from traitlets import observe

    class Menu(w.Dropdown):
        def choice_values(self) -> list[Any]:
            """The menu's values in order (its options are values, or (label, value) pairs)."""
            options = tuple(self.options)
            if options and all(isinstance(o, list | tuple) and len(o) == 2 for o in options):
                return [value for _, value in options]
            return list(options)

        # Replaces Dropdown's observer of the same name, which sets the index None for None.
        @observe("value")
        def _propagate_value(self, change: Mapping[str, Any]) -> None:
            values, new = self.choice_values(), change["new"]
            if self.index is not None and self.index < len(values) and self.equals(values[self.index], new):
                index = self.index  # of two equal values, the one chosen stays chosen
            elif new is None and None not in values:
                index = None
            else:
                index = values.index(new)
            if self.index != index:
                self.index = index

    return Menu


def _kernel_note() -> Any:
    """The panel's first row: :data:`KERNEL_NOTE`, hidden unless a stylesheet shows it."""
    import ipywidgets as w

    note = w.HTML(value=KERNEL_NOTE, layout=w.Layout(display="none"))
    note.add_class("zablib-kernel-note")
    return note


class FailurePanel:
    """An ipywidgets panel to crash nodes, cut the network and drop messages, then watch.

    Controls: one "crash node i" checkbox per node with a range slider of when it is down (the
    right end at the duration means it never comes back), a partition menu with its own range
    slider, a message-loss slider, the seed, and *step* / *run* / *reset* buttons. Changing any
    control re-runs the whole scenario; *reset* rebuilds it at time 0, *step* then plays one event
    at a time, *run* plays it to the end. The output shows the cluster graph, the space-time
    diagram and a text summary.

    Parameters
    ----------
    factory : callable
        ``factory(n, seed=..., **options) -> Simulation``, e.g. ``primary_backup.cluster``.
    n : int
        Cluster size.
    seed : int
        Initial seed.
    duration : float
        Length of each run in ms.
    options : dict, optional
        Extra factory arguments, e.g. ``{"mode": "sync"}``.
    choices : dict, optional
        Factory arguments the reader may change, each with its allowed values, e.g.
        ``{"mode": ["async", "sync"]}``, or with labelled values, e.g.
        ``{"votes": {"all yes": None, "1 votes no": {1: "no"}}}``: one menu each (attribute
        ``option_menus``). The initial value is the one in ``options``, else the first one.
    actions : tuple
        Client actions of every run, as in :class:`~zablib.faults.Scenario`, e.g. ``((100, "submit", "x"),)``.
    summary : callable, optional
        ``summary(sim)`` says what the current run looks like: a :class:`~zablib.summary.Summary`
        (the default, :func:`~zablib.summary.summarize`), whose ``render()`` is the text under the
        pictures, or a ``str``, shown as it is.
    draw : bool
        Draw figures into the output (turn off for speed when only the simulation matters).

    Attributes
    ----------
    widget : ipywidgets.VBox
        What a notebook displays (displaying the panel itself shows it too). Its first row is
        the :data:`KERNEL_NOTE`, hidden outside the book.
    sim : Simulation
        The current simulation.
    scenario : ~zablib.faults.Scenario
        The scenario built from the controls.
    last_figures : list of Figure
        The figures drawn last (cluster graph, space-time diagram).
    summary : ~zablib.summary.Summary or str or None
        What ``summary(sim)`` returned last (by default a :class:`~zablib.summary.Summary`: read
        ``panel.summary.committed``, ``panel.summary.violation`` ... rather than the text); None
        while the controls describe no valid scenario.
    summary_text : str
        The text shown last: the summary rendered, after the error if there is one.
    summarize : callable
        The ``summary`` callable.
    error : str or None
        The message of the ValueError the last rebuild raised (shown instead of pictures).
    choices : dict
        The ``choices`` the panel was given (its menus), as :meth:`copy` passes them on.
    """

    def __init__(
        self,
        factory: Factory,
        n: int = 3,
        *,
        seed: int = 0,
        duration: float = 1000.0,
        options: Mapping[str, Any] | None = None,
        choices: Mapping[str, Iterable[Any]] | None = None,
        actions: Iterable[tuple[Any, ...]] = (),
        summary: Callable[[Simulation], Summary | str] | None = None,
        draw: bool = True,
    ):
        import ipywidgets as w

        self.factory = factory
        self.n = n
        self.choices = dict(choices or {})
        self.duration = float(duration)
        self.options = dict(options or {})
        self.option_menus: dict[str, Any] = {}
        for name, allowed in (choices or {}).items():
            # A mapping gives menu labels: {"everyone yes": None, "1 votes no": {1: "no"}}.
            pairs = (list(allowed.items()) if isinstance(allowed, Mapping)
                     else [(str(v), v) for v in allowed])
            if not pairs:
                raise ValueError(f"choices for {name!r} are empty")
            values = [v for _, v in pairs]
            initial = self.options.get(name, values[0])
            if initial not in values:
                raise ValueError(f"options[{name!r}] = {initial!r} is not one of the choices {values!r}")
            self.options[name] = initial
            self.option_menus[name] = _menu_type()(options=pairs, index=values.index(initial),
                                                 description=name,
                                                 layout=w.Layout(width="230px"),
                                                 style={"description_width": "70px"})
        self.actions = tuple(tuple(a) for a in actions)
        self.summarize: Callable[[Simulation], Summary | str] = summary or summarize
        self._summary_argument = summary
        self.draw = draw
        # Validate the fixed parts once, with a clear error, before building any widget.
        probe = Scenario(n=n, seed=seed, duration=self.duration, actions=self.actions,
                         options=self.options).start(factory)
        self.node_ids: tuple[NodeId, ...] = probe.sim.node_ids

        slider = dict(min=0.0, max=self.duration, step=max(self.duration / 100, 1.0),
                      continuous_update=False, readout_format=".0f",
                      layout=w.Layout(width="340px"), style={"description_width": "70px"})
        default_down = (round(self.duration / 3), self.duration)
        self.crash_boxes: dict[NodeId, Any] = {}
        self.crash_windows: dict[NodeId, Any] = {}
        rows = []
        for i in self.node_ids:
            box = w.Checkbox(value=False, description=f"crash node {i}", indent=False,
                             layout=w.Layout(width="130px"))
            window = w.FloatRangeSlider(value=default_down, description="down (ms)", **slider)
            self.crash_boxes[i] = box
            self.crash_windows[i] = window
            rows.append(w.HBox([box, window]))
        choices = partition_choices(self.node_ids)
        self.partition = _menu_type()(options=choices, index=0, description="partition",
                                    layout=w.Layout(width="230px"), style={"description_width": "70px"})
        self.partition_window = w.FloatRangeSlider(value=(round(self.duration / 2), self.duration),
                                                   description="cut (ms)", **slider)
        self.loss = w.FloatSlider(value=0.0, min=0.0, max=0.5, step=0.01, description="loss",
                                  continuous_update=False, readout_format=".2f",
                                  layout=w.Layout(width="300px"), style={"description_width": "70px"})
        self.seed = w.IntText(value=seed, description="seed", layout=w.Layout(width="160px"),
                              style={"description_width": "40px"})
        self.step_button = w.Button(description="step", tooltip="process one event")
        self.run_button = w.Button(description="run", tooltip="run to the end", button_style="primary")
        self.reset_button = w.Button(description="reset", tooltip="rebuild at time 0")
        self.output = w.Output()
        self.step_button.on_click(lambda _: self.step())
        self.run_button.on_click(lambda _: self.run())
        self.reset_button.on_click(lambda _: self.reset())
        controls = [*self.option_menus.values(), *self.crash_boxes.values(),
                    *self.crash_windows.values(), self.partition, self.partition_window, self.loss,
                    self.seed]
        for control in controls:
            control.observe(self._changed, names="value")
        self.widget = w.VBox([
            _kernel_note(),
            *([w.HBox(list(self.option_menus.values()))] if self.option_menus else []),
            *rows,
            w.HBox([self.partition, self.partition_window]),
            w.HBox([self.loss, self.seed]),
            w.HBox([self.step_button, self.run_button, self.reset_button]),
            self.output,
        ])
        self.sim: Simulation = probe.sim
        self.last_figures: list[Any] = []
        self.summary: Summary | str | None = None
        self.summary_text = ""
        self.error: str | None = None
        self._run: ScenarioRun | None = None
        self._cluster: tuple[Any, Any] | None = None  # (cluster_state, its figure), drawn last
        self.rerun()

    def copy(self, *, draw: bool = False) -> FailurePanel:
        """A new panel with the same arguments and the same control values, for code to drive.

        Setting a control of the displayed panel from a later cell would change what the
        notebook saves, and so what the published page shows, to the last run set; drive a copy
        instead. The copy draws no figures unless ``draw`` is True.
        """
        twin = FailurePanel(self.factory, self.n, seed=int(self.seed.value), duration=self.duration,
                            options={**self.options,
                                     **{k: m.value for k, m in self.option_menus.items()}},
                            choices=self.choices, actions=self.actions,
                            summary=self._summary_argument, draw=draw)
        for i in self.node_ids:
            twin.crash_windows[i].value = self.crash_windows[i].value
            twin.crash_boxes[i].value = self.crash_boxes[i].value
        twin.partition_window.value = self.partition_window.value
        twin.partition.value = self.partition.value
        twin.loss.value = self.loss.value
        return twin

    # -- mapping widgets to a scenario -------------------------------------------------------
    @property
    def scenario(self) -> Scenario:
        """The :class:`~zablib.faults.Scenario` the controls describe now."""
        crashes = []
        for i in self.node_ids:
            if self.crash_boxes[i].value:
                at, back = self.crash_windows[i].value
                crashes.append((i, float(at), None if back >= self.duration else float(back)))
        partition = None
        if self.partition.value is not None:
            at, heal = self.partition_window.value
            partition = (self.partition.value, float(at), None if heal >= self.duration else float(heal))
        return Scenario(n=self.n, seed=int(self.seed.value), crashes=tuple(crashes),
                        partition=partition, loss=float(self.loss.value), duration=self.duration,
                        actions=self.actions,
                        options={**self.options, **{k: m.value for k, m in self.option_menus.items()}})

    # -- buttons -----------------------------------------------------------------------------
    def reset(self) -> None:
        """Rebuild the scenario from the controls, at time 0, and redraw."""
        self._rebuild()
        self._redraw()

    def run(self) -> None:
        """Play the current scenario to its end and redraw."""
        self._play(lambda run: run.finish())
        self._redraw()

    def step(self) -> bool:
        """Process one event (after any fault due before it) and redraw; False when done."""
        moved = self._play(lambda run: run.step())
        self._redraw()
        return bool(moved)

    def rerun(self) -> None:
        """Rebuild from the controls and run to the end (what any change of a control does)."""
        self._rebuild()
        self.run()

    def _rebuild(self) -> None:
        try:
            self._run = self.scenario.start(self.factory)
        except ValueError as exc:
            self._run = None
            self.error = str(exc)
        else:
            self.sim = self._run.sim
            self.error = None

    def _play(self, how: Callable[[ScenarioRun], Any]) -> Any:
        if self._run is None:
            return None
        try:
            return how(self._run)
        except ValueError as exc:  # e.g. a client action on a crashed node: show it, keep the run
            self.error = str(exc)
            return None

    def _changed(self, change: Mapping[str, Any]) -> None:
        self.rerun()

    # -- drawing -----------------------------------------------------------------------------
    def _redraw(self) -> None:
        import zablib.viz as viz

        if self._run is None:  # the controls describe no valid scenario: there is nothing to draw
            self.summary = None
            self.summary_text = f"error: {self.error}"
            self.last_figures = []
        else:
            error = f"error: {self.error}\n" if self.error else ""
            self.summary = self.summarize(self.sim)
            text = self.summary if isinstance(self.summary, str) else self.summary.render()
            self.summary_text = error + text
            self.last_figures = [self._cluster_graph(), viz.spacetime(self.sim)] if self.draw else []
        _show(self.output, self.last_figures, self.summary_text)

    def _cluster_graph(self) -> Any:
        """The cluster graph of the current run: the last one again when the run ended in the same
        state (:func:`zablib.viz.cluster_state`), as it does after many changes (more loss, a crash
        window that ends before the end), so that it is neither drawn nor encoded again."""
        import zablib.viz as viz

        state = viz.cluster_state(self.sim)
        if self._cluster is None or self._cluster[0] != state:
            self._cluster = (state, viz.cluster_graph(self.sim))
        return self._cluster[1]

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


# -- chapter 3: a panel over the coordination service's scenario runs ----------------------------

#: The runs a :class:`ScenarioPanel` offers, by label: the function of :mod:`zablib.scenarios` and
#: its controls, each ``(argument, kind, description, choices, initial)`` where kind is
#: ``"slider"`` (choices ``(min, max, step)``), ``"check"`` (no choices) or ``"menu"`` (choices
#: a list of ``(label, value)``).
SCENARIO_CONTROLS: dict[str, tuple[str, tuple[tuple[str, str, str, Any, Any], ...]]] = {
    "configuration": ("config_run", (
        ("gap_ms", "slider", "gap (ms)", (0.0, 200.0, 10.0), 0.0),
        ("pause_ms", "slider", "pause sub1", (0.0, 600.0, 50.0), 0.0))),
    "load balancing": ("balance_run", (
        ("policy", "menu", "policy", [("round robin", "round_robin"), ("random", "random"),
                                      ("least loaded", "least_loaded")], "round_robin"),
        ("crash", "check", "crash provider p1", None, False))),
    "service registry": ("registry_run", (
        ("how", "menu", "p1 goes", [("crashes", "crash"), ("closes its session", "close"),
                                    ("nowhere", "none")], "crash"),
        ("session_timeout", "slider", "session (s)", (0.1, 0.4, 0.05), 0.4))),
    "event notification": ("notify_run", (
        ("disconnect_ms", "slider", "cut off (ms)", (0.0, 800.0, 50.0), 0.0),)),
    "membership": ("membership_run", (
        ("leave", "menu", "leaves", [("nobody", None), ("w2", "w2")], "w2"),
        ("crash", "menu", "crashes", [("nobody", None), ("w3", "w3")], "w3"))),
    "barrier": ("barrier_run", (
        ("crash_coordinator", "check", "coordinator crashes", None, False),)),
    "double barrier": ("double_barrier_run", (
        ("crash", "menu", "crashes", [("nobody", None), ("m1", "m1"), ("m2", "m2"), ("m3", "m3")], None),
        ("num_clients", "menu", "count", [("3 (all)", 3), ("4 (one too many)", 4)], 3))),
    "election": ("election_run", (
        ("naive", "check", "naive: watch all children", None, False),
        ("pause_leader_ms", "slider", "pause leader", (0.0, 1000.0, 50.0), 0.0))),
    "lock and fencing": ("lock_pause_run", (
        ("pause_ms", "slider", "pause A (ms)", (0.0, 1000.0, 50.0), 600.0),
        ("fencing", "check", "fencing tokens", None, True))),
    "queue": ("queue_run", (
        ("fault", "menu", "fault", [("none", "none"), ("a consumer crashes", "crash_consumer"),
                                    ("an answer is lost", "lost_answer"),
                                    ("leader cut off", "partition_leader")], "none"),)),
    "reads": ("reads_run", (
        ("read", "menu", "reads", [("plain get", "get"), ("sync, then get", "sync_get")], "get"),
        # At most 80 ms: from about 90 ms (past syncLimit) the leader drops the follower and
        # reads_run refuses the run (ValueError), so the slider's right end would be an error.
        ("lag_ms", "slider", "slow link (ms)", (0.0, 80.0, 10.0), 60.0))),
}


#: The output each figure a panel showed was encoded as, while the panel keeps the figure.
_ENCODED: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()


def _show(output: Any, figures: list[Any], text: str) -> None:
    """Put PNGs of ``figures`` and ``text`` in an ``ipywidgets.Output`` as widget state (in a
    notebook; headless, nobody can see it and nothing is done)."""
    from IPython import get_ipython

    import zablib.viz as viz

    if get_ipython() is None:
        return
    # Set the Output widget's content as widget state rather than printing into it: the
    # pictures are then PNGs whatever the notebook's matplotlib backend, the static book
    # keeps them, and no output leaks into the cell that changed a control.
    # Drawn at twice the screen's resolution with the CSS width in the metadata, as the
    # notebooks' own figures, so that panels are as sharp on a high-density screen. A figure
    # shown again (a panel's picture that did not change) is not encoded again.
    images = []
    for fig in figures:
        if fig not in _ENCODED:
            _ENCODED[fig] = viz.display_data(fig, panel=True)
        images.append(_ENCODED[fig])
    output.outputs = (*images, {"output_type": "stream", "name": "stdout", "text": text + "\n"})


class ScenarioPanel:
    """An ipywidgets panel over chapter 3's runs: pick a scenario and its fault, watch what happens.

    A menu chooses the run (:data:`SCENARIO_CONTROLS`); below it, that run's controls (a provider
    that crashes or closes its session, how long a lock holder is paused, fencing on or off, the
    naive or the predecessor watch ...) and the seed. Every change calls the run's function of
    :mod:`zablib.scenarios` with the controls' values as arguments, then shows its two pictures
    (:func:`zablib.viz.client_lanes`, :func:`zablib.viz.znode_tree`) and its ``summary()``.

    Parameters
    ----------
    scenario : str
        The run shown first (a key of :data:`SCENARIO_CONTROLS`).
    offer : iterable of str, optional
        The runs the menu offers (default: all of them).
    seed : int
        Initial seed.
    draw : bool
        Draw the figures (turn off when only the run matters).

    Attributes
    ----------
    widget : ipywidgets.VBox
        What a notebook displays (displaying the panel shows it too). Its first row is the
        :data:`KERNEL_NOTE`, hidden outside the book.
    menu : ipywidgets.Dropdown
        The run.
    controls : dict of str to widget
        The current run's controls, by the argument they set.
    seed : ipywidgets.IntText
        The seed.
    run : zablib.scenarios.CoordRun or None
        The result of the last run (None if its arguments were refused).
    summary_text : str
        The text shown: ``run.summary()``, or the error.
    last_figures : list of Figure
        The figures drawn last.
    error : str or None
        The message of the ValueError the last run raised.
    offer : list of str
        The runs the menu offers.
    """

    def __init__(self, scenario: str = "lock and fencing", *, offer: Iterable[str] | None = None,
                 seed: int = 0, draw: bool = True):
        import ipywidgets as w

        labels = list(SCENARIO_CONTROLS) if offer is None else list(offer)
        unknown = [label for label in labels + [scenario] if label not in SCENARIO_CONTROLS]
        if unknown or scenario not in labels:
            raise ValueError(f"unknown or not offered scenario(s) {unknown or [scenario]}; "
                             f"choose from {', '.join(SCENARIO_CONTROLS)}")
        self.draw = draw
        self.menu = _menu_type()(options=labels, value=scenario, description="scenario",
                               layout=w.Layout(width="300px"), style={"description_width": "70px"})
        self.seed = w.IntText(value=seed, description="seed", layout=w.Layout(width="160px"),
                              style={"description_width": "40px"})
        self.control_box = w.HBox([])
        self.output = w.Output()
        self.offer = labels
        self.widget = w.VBox([_kernel_note(), w.HBox([self.menu, self.seed]), self.control_box,
                              self.output])
        self.controls: dict[str, Any] = {}
        self.run: Any = None
        self.summary_text = ""
        self.last_figures: list[Any] = []
        self.error: str | None = None
        self.menu.observe(lambda _: self._switch(), names="value")
        self.seed.observe(lambda _: self.rerun(), names="value")
        self._switch()

    def copy(self, *, draw: bool = False) -> ScenarioPanel:
        """A new panel showing the same run with the same controls, for code to drive (see
        :meth:`FailurePanel.copy`); it draws no figures unless ``draw`` is True."""
        twin = ScenarioPanel(self.menu.value, offer=self.offer, seed=int(self.seed.value), draw=draw)
        for name, control in self.controls.items():
            twin.controls[name].value = control.value
        return twin

    @property
    def arguments(self) -> dict[str, Any]:
        """The keyword arguments the controls describe now (the seed included)."""
        return {**{name: control.value for name, control in self.controls.items()},
                "seed": int(self.seed.value)}

    def _switch(self) -> None:
        """Build the controls of the run the menu names, then run it."""
        import ipywidgets as w

        self.controls = {}
        for name, kind, description, choices, initial in SCENARIO_CONTROLS[self.menu.value][1]:
            style = {"description_width": "90px"}
            if kind == "slider":
                low, high, step = choices
                control = w.FloatSlider(value=initial, min=low, max=high, step=step, description=description,
                                        continuous_update=False, readout_format=".2f" if step < 1 else ".0f",
                                        layout=w.Layout(width="330px"), style=style)
            elif kind == "check":
                control = w.Checkbox(value=initial, description=description, indent=False,
                                     layout=w.Layout(width="230px"))
            else:
                control = _menu_type()(options=choices, index=[v for _, v in choices].index(initial),
                                     description=description, layout=w.Layout(width="260px"),
                                     style=style)
            control.observe(lambda _: self.rerun(), names="value")
            self.controls[name] = control
        self.control_box.children = tuple(self.controls.values())
        self.rerun()

    def rerun(self) -> None:
        """Run the chosen scenario with the controls' arguments and redraw."""
        import zablib.scenarios as scenarios
        import zablib.viz as viz

        function = getattr(scenarios, SCENARIO_CONTROLS[self.menu.value][0])
        try:
            self.run = function(**self.arguments)
        except ValueError as exc:
            self.run, self.error = None, str(exc)
            self.summary_text, self.last_figures = f"error: {exc}", []
        else:
            self.error = None
            self.summary_text = self.run.summary()
            self.last_figures = ([viz.client_lanes(self.run, title=self.menu.value),
                                  viz.znode_tree(self.run)] if self.draw else [])
        _show(self.output, self.last_figures, self.summary_text)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


#: The faults :class:`ThroughputPanel` offers (``zablib.coord.measure.FAULTS``), by label.
THROUGHPUT_FAULTS = (("none", None), ("one follower slowed (20 ms links)", "slow follower"),
                     ("one follower crashed", "crashed follower"))


class ThroughputPanel:
    """An ipywidgets panel over chapter 2's measurement: choose an ensemble, a fault and a share of
    reads, and see its throughput against the share of reads beside a 3-server ensemble's.

    Controls: the voting servers, the observers, the share of reads (the point the summary
    reports), a fault (none, one follower's links slowed, one follower crashed) and the seed.
    Every change calls ``measure(servers, read_ratio, observers=..., fault=..., seed=...,
    **options)`` (``zablib.coord.measure.throughput``) at each of ``ratios`` and at the chosen
    share, then draws the curve with :func:`zablib.viz.throughput_curves` next to the baseline
    (3 servers, no fault, same seed) and says in one line what it measured.

    Parameters
    ----------
    measure : callable
        ``measure(servers, read_ratio, **keywords)`` returning an object with ``servers``,
        ``observers``, ``read_ratio``, ``ops_per_second``, ``p50_ms``, ``leader``, ``busy``
        and ``fault``: ``zablib.coord.measure.throughput`` (passed in: this module does not
        import the coordination service).
    servers, observers : int
        Initial ensemble.
    read_ratio : float
        Initial share of reads.
    ratios : tuple of float
        The shares of reads each curve is measured at.
    options : dict, optional
        Further keywords of every ``measure`` call, e.g. ``{"clients": 64, "duration_ms": 40.0}``.
    seed : int
        Initial seed.
    draw : bool
        Draw the figure (turn off when only the numbers matter).

    Attributes
    ----------
    widget : ipywidgets.VBox
        What a notebook displays (displaying the panel shows it too). Its first row is the
        :data:`KERNEL_NOTE`, hidden outside the book.
    controls : dict of str to widget
        ``servers``, ``observers``, ``read_ratio``, ``fault`` and ``seed``.
    runs : dict
        The last curve's measurements, ``{read_ratio: result}`` (empty after an error).
    baseline : dict
        The baseline's, likewise.
    summary_text : str
        The line shown under the figure, or the error.
    last_figures : list of Figure
        The figures drawn last.
    error : str or None
        The message of the ValueError or RuntimeError the last measurement raised.
    """

    SIZES = (1, 3, 5, 7, 9, 13)

    def __init__(self, measure: Callable[..., Any], *, servers: int = 5, observers: int = 0,
                 read_ratio: float = 0.9, ratios: tuple[float, ...] = (0.0, 0.5, 0.9, 1.0),
                 options: Mapping[str, Any] | None = None, seed: int = 0, draw: bool = True):
        import ipywidgets as w

        if servers not in self.SIZES:
            raise ValueError(f"servers must be one of {self.SIZES}, got {servers!r}")
        self.measure = measure
        self.ratios = tuple(ratios)
        self.options = dict(options or {})
        self.draw = draw
        style = {"description_width": "90px"}
        self.controls: dict[str, Any] = {
            "servers": _menu_type()(options=self.SIZES, value=servers, description="voters",
                                    layout=w.Layout(width="190px"), style=style),
            "observers": w.IntSlider(value=observers, min=0, max=10, description="observers",
                                     continuous_update=False, layout=w.Layout(width="330px"), style=style),
            "read_ratio": w.FloatSlider(value=read_ratio, min=0.0, max=1.0, step=0.05,
                                        description="share of reads", continuous_update=False,
                                        readout_format=".0%", layout=w.Layout(width="330px"), style=style),
            "fault": _menu_type()(options=THROUGHPUT_FAULTS, value=None, description="fault",
                                  layout=w.Layout(width="330px"), style=style),
            "seed": w.IntText(value=seed, description="seed", layout=w.Layout(width="190px"), style=style),
        }
        self.output = w.Output()
        c = self.controls
        self.widget = w.VBox([_kernel_note(), w.HBox([c["servers"], c["observers"]]),
                              w.HBox([c["read_ratio"], c["fault"]]), c["seed"], self.output])
        self.runs: dict[float, Any] = {}
        self.baseline: dict[float, Any] = {}
        self.summary_text = ""
        self.last_figures: list[Any] = []
        self.error: str | None = None
        self._measured: dict[tuple, Any] = {}
        for control in self.controls.values():
            control.observe(lambda _: self.rerun(), names="value")
        self.rerun()

    def copy(self, *, draw: bool = False) -> ThroughputPanel:
        """A new panel with the same controls, for code to drive (see :meth:`FailurePanel.copy`);
        it draws no figure unless ``draw`` is True."""
        c = self.controls
        return ThroughputPanel(self.measure, servers=c["servers"].value, observers=c["observers"].value,
                               read_ratio=c["read_ratio"].value, ratios=self.ratios,
                               options=self.options, seed=c["seed"].value, draw=draw)

    def _measure(self, servers: int, ratio: float, observers: int, fault: str | None) -> Any:
        # Moving one slider reruns only what changed: the baseline and the other points stay.
        seed = int(self.controls["seed"].value)
        key = (servers, round(ratio, 4), observers, fault, seed)
        if key not in self._measured:
            self._measured[key] = self.measure(servers, round(ratio, 4), observers=observers,
                                               fault=fault, seed=seed, **self.options)
        return self._measured[key]

    def rerun(self) -> None:
        """Measure the chosen ensemble (and the baseline) and redraw."""
        import zablib.viz as viz

        c = self.controls
        servers, observers, fault = c["servers"].value, c["observers"].value, c["fault"].value
        chosen = round(float(c["read_ratio"].value), 4)
        ratios = sorted({*self.ratios, chosen})
        try:
            self.baseline = {r: self._measure(3, r, 0, None) for r in ratios}
            self.runs = {r: self._measure(servers, r, observers, fault) for r in ratios}
        except (ValueError, RuntimeError) as exc:
            self.runs, self.baseline, self.error = {}, {}, str(exc)
            self.summary_text, self.last_figures = f"error: {exc}", []
        else:
            self.error = None
            self.summary_text = self._summary(chosen)
            runs = {("baseline", r): run for r, run in self.baseline.items()}
            if (servers, observers, fault) != (3, 0, None):
                runs.update({("chosen", r): run for r, run in self.runs.items()})
            self.last_figures = [viz.throughput_curves(runs, title=f"share of reads chosen: {chosen:.0%}")] \
                if self.draw else []
        _show(self.output, self.last_figures, self.summary_text)

    def _summary(self, ratio: float) -> str:
        run, base = self.runs[ratio], self.baseline[ratio]
        observers = f" + {run.observers} observers" if run.observers else ""
        fault = f", {run.fault}" if run.fault else ""
        return (f"{run.servers} voters{observers}{fault}, {ratio:.0%} reads: {run.ops_per_second:,.0f} ops/s "
                f"(3 voters, no fault: {base.ops_per_second:,.0f}); median latency {run.p50_ms:.2f} ms; "
                f"leader {run.leader} busy {run.busy[run.leader - 1]:.0%} of the time")

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

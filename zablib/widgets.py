"""Thin ipywidgets panels over pure functions: break a cluster and watch what happens.

The logic lives in plain Python that tests and notebooks call directly:

* :class:`Scenario` is a frozen description of one run (cluster size, seed, crashes, a
  partition, message loss, client actions, duration); :func:`run_scenario` runs one.
* :class:`ScenarioRun` plays a scenario step by step (for the panel's *step* button) and gives
  exactly the trace :func:`run_scenario` gives when played to the end.

:class:`FailurePanel` only maps widget values to a :class:`Scenario` and draws the result with
:mod:`zablib.viz`. Tests drive it headlessly by setting a control's ``.value`` and reading
``panel.sim``, ``panel.summary_text`` and ``panel.last_figures``.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

from zablib.core import NodeId
from zablib.invariants import InvariantViolation
from zablib.network import _describe_ids
from zablib.sim import Simulation

Factory = Callable[..., Simulation]
Groups = tuple[frozenset[NodeId], ...]

# Same-time happenings are applied in this order: faults first, then the client acts.
_ORDER = {"crash": 0, "recover": 1, "partition": 2, "heal": 3, "action": 4}


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _groups_text(groups: Iterable[Iterable[NodeId]]) -> str:
    return " | ".join("{" + ", ".join(map(str, sorted(g))) + "}" for g in groups)


@dataclass(frozen=True)
class Scenario:
    """One run of a cluster under a fault schedule; immutable, so it can be replayed exactly.

    Parameters
    ----------
    n : int
        Cluster size, passed to the factory.
    seed : int
        Seed of the run.
    crashes : tuple of (node, at_ms, recover_at_ms or None)
        Crash ``node`` at ``at_ms``; restart it at ``recover_at_ms`` (None: it stays down).
    partition : (groups, at_ms, heal_at_ms or None) or None
        Split the network into ``groups`` (disjoint, covering every node) at ``at_ms`` and heal
        it at ``heal_at_ms`` (None: never).
    loss : float
        Probability that any message is lost, from time 0 (``0 <= loss < 1``).
    duration : float
        Run until this simulated time (milliseconds).
    actions : tuple of (at_ms, name, *args) or (at_ms, callable)
        Client actions: at ``at_ms`` call ``sim.name(*args)`` (e.g. ``(100, "submit", "x")``) or
        ``callable(sim)``.
    options : tuple of (key, value)
        Extra keyword arguments of the factory, e.g. ``(("mode", "sync"),)``.

    Notes
    -----
    Happenings at the same time are applied in the order crash, recover, partition, heal, action,
    each kind in the order given, after every message and timer due at that time.
    """

    n: int = 3
    seed: int = 0
    crashes: tuple[tuple[NodeId, float, float | None], ...] = ()
    partition: tuple[Groups, float, float | None] | None = None
    loss: float = 0.0
    duration: float = 1000.0
    actions: tuple[tuple[Any, ...], ...] = ()
    options: tuple[tuple[str, Any], ...] = field(default=())

    def __post_init__(self) -> None:
        # Normalise to tuples so that equal scenarios compare equal however they were written.
        object.__setattr__(self, "crashes", tuple(tuple(c) for c in self.crashes))
        object.__setattr__(self, "actions", tuple(tuple(a) for a in self.actions))
        opts = self.options.items() if isinstance(self.options, Mapping) else self.options
        object.__setattr__(self, "options", tuple(sorted((str(k), v) for k, v in opts)))
        if self.partition is not None:
            if not isinstance(self.partition, tuple | list) or len(self.partition) != 3:
                raise ValueError(
                    f"partition must be (groups, at_ms, heal_at_ms or None), got {self.partition!r}"
                )
            groups, at, heal = self.partition
            try:
                frozen = tuple(frozenset(g) for g in groups)
            except TypeError:
                raise ValueError(f"partition groups must be sets of node ids, got {groups!r}") from None
            object.__setattr__(self, "partition", (frozen, at, heal))
        self._check_plain()

    # -- validation ---------------------------------------------------------------------------
    def _check_plain(self) -> None:
        """Checks that need no cluster: types and ranges."""
        if not isinstance(self.n, int) or isinstance(self.n, bool) or self.n < 1:
            raise ValueError(f"n must be a positive int, got {self.n!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise ValueError(f"seed must be an int, got {self.seed!r}")
        if not _is_number(self.duration) or self.duration <= 0:
            raise ValueError(f"duration must be a positive number of ms, got {self.duration!r}")
        if not _is_number(self.loss) or not 0 <= self.loss < 1:
            raise ValueError(f"loss must be a probability with 0 <= loss < 1, got {self.loss!r}")
        for crash in self.crashes:
            if len(crash) != 3:
                raise ValueError(f"a crash is (node, at_ms, recover_at_ms or None), got {crash!r}")
            node, at, back = crash
            self._check_time(f"crash of node {node}", at)
            if back is not None:
                self._check_time(f"recovery of node {node}", back)
                if back <= at:
                    raise ValueError(
                        f"node {node} would recover at t={back} ms, not after its crash at t={at} ms"
                    )
        if self.partition is not None:
            _, at, heal = self.partition
            self._check_time("partition", at)
            if heal is not None:
                self._check_time("heal", heal)
                if heal <= at:
                    raise ValueError(f"the partition would heal at t={heal} ms, not after it starts "
                                     f"at t={at} ms")
        for action in self.actions:
            if len(action) < 2:
                raise ValueError(f"an action is (at_ms, name, *args) or (at_ms, callable), got {action!r}")
            self._check_time(f"action {action[1]!r}", action[0])
            if not (callable(action[1]) or isinstance(action[1], str)):
                raise ValueError(f"action {action!r}: give a method name or a callable, not "
                                 f"{type(action[1]).__name__}")
            if callable(action[1]) and len(action) != 2:
                raise ValueError(f"action {action!r}: a callable action takes the simulation only")

    def _check_time(self, what: str, t: Any) -> None:
        if not _is_number(t) or t < 0:
            raise ValueError(f"time of {what} must be a number of ms >= 0, got {t!r}")
        if t > self.duration:
            raise ValueError(f"{what} at t={t} ms is after the end of the run "
                             f"(duration {self.duration} ms)")

    def _check_against(self, sim: Simulation) -> None:
        """Checks that need the cluster: node ids, partition groups, action names."""
        ids = sim.node_ids
        known = _describe_ids(ids)
        per_node: dict[NodeId, list[tuple[float, float]]] = {}
        for node, at, back in self.crashes:
            if node not in ids:
                raise ValueError(f"crashes: unknown node {node!r}; nodes are {known}")
            end = float("inf") if back is None else back
            for a, b in per_node.get(node, []):
                if at <= b and a <= end:
                    raise ValueError(f"crashes of node {node} overlap (at t={a} ms and t={at} ms); "
                                     "a node must recover before it can crash again")
            per_node.setdefault(node, []).append((at, end))
        if self.partition is not None:
            groups = self.partition[0]
            seen: set[NodeId] = set()
            if len(groups) < 2:
                raise ValueError(f"partition needs at least two groups, got {_groups_text(groups)}")
            for g in groups:
                if not g:
                    raise ValueError("partition: a group is empty")
                for node in sorted(g):
                    if node not in ids:
                        raise ValueError(f"partition: unknown node {node!r}; nodes are {known}")
                    if node in seen:
                        raise ValueError(f"partition: node {node} is in two groups")
                    seen.add(node)
            missing = sorted(set(ids) - seen)
            if missing:
                raise ValueError(f"partition: node(s) {missing} are in no group; "
                                 "every node must be in exactly one")
        for action in self.actions:
            name = action[1]
            if isinstance(name, str) and (name.startswith("_") or not callable(getattr(sim, name, None))):
                raise ValueError(f"unknown action {name!r}: {type(sim).__name__} has no such method")

    # -- running ------------------------------------------------------------------------------
    def schedule(self) -> list[tuple[float, str, tuple]]:
        """The happenings of this scenario as ``(time, kind, arguments)``, in the order applied."""
        items: list[tuple[float, int, int, str, tuple]] = []
        for k, (node, at, back) in enumerate(self.crashes):
            items.append((at, _ORDER["crash"], k, "crash", (node,)))
            if back is not None:
                items.append((back, _ORDER["recover"], k, "recover", (node,)))
        if self.partition is not None:
            groups, at, heal = self.partition
            items.append((at, _ORDER["partition"], 0, "partition", groups))
            if heal is not None:
                items.append((heal, _ORDER["heal"], 0, "heal", ()))
        for k, action in enumerate(self.actions):
            items.append((action[0], _ORDER["action"], k, "action", tuple(action[1:])))
        items.sort(key=lambda item: item[:3])
        return [(float(t), kind, args) for t, _, _, kind, args in items]

    def start(self, factory: Factory) -> ScenarioRun:
        """Build the cluster at time 0 (with the loss set) and return a run to step or finish."""
        return ScenarioRun(self, factory)

    def run(self, factory: Factory) -> Simulation:
        """Run this scenario to its end with ``factory(n, seed=seed, **options)``."""
        return self.start(factory).finish()


class ScenarioRun:
    """A scenario being played: :meth:`step` one event at a time or :meth:`finish` it.

    Stepping to the end gives the same trace as :meth:`finish`.
    """

    def __init__(self, scenario: Scenario, factory: Factory):
        self.scenario = scenario
        self.sim: Simulation = factory(scenario.n, seed=scenario.seed, **dict(scenario.options))
        if not isinstance(self.sim, Simulation):
            raise ValueError(f"the factory returned {type(self.sim).__name__}, not a Simulation")
        scenario._check_against(self.sim)
        if scenario.loss:
            self.sim.set_loss(scenario.loss)
        self._pending = scenario.schedule()
        self._next = 0

    @property
    def done(self) -> bool:
        """True once the run has reached its duration with every happening applied."""
        return self._next == len(self._pending) and self.sim.now >= self.scenario.duration

    def _apply(self, kind: str, args: tuple) -> None:
        sim = self.sim
        if kind == "crash":
            sim.crash(*args)
        elif kind == "recover":
            sim.recover(*args)
        elif kind == "partition":
            sim.partition(*args)
        elif kind == "heal":
            sim.heal()
        elif callable(args[0]):
            args[0](sim)
        else:
            getattr(sim, args[0])(*args[1:])

    def step(self) -> bool:
        """Apply the happenings due before the next event, then process that one event.

        Returns False when there was nothing left to do (the run is done).
        """
        sim = self.sim
        applied = False
        while self._next < len(self._pending):
            t, kind, args = self._pending[self._next]
            if sim.run(until=max(t, sim.now), max_events=1):
                return True  # an event due at or before the happening came first
            self._next += 1
            self._apply(kind, args)
            applied = True
        return sim.run(until=max(self.scenario.duration, sim.now), max_events=1) == 1 or applied

    def finish(self) -> Simulation:
        """Apply every remaining happening in time order and run until the duration."""
        sim = self.sim
        while self._next < len(self._pending):
            t, kind, args = self._pending[self._next]
            sim.run(until=max(t, sim.now))
            self._next += 1
            self._apply(kind, args)
        sim.run(until=max(self.scenario.duration, sim.now))
        return sim


def run_scenario(
    factory: Factory,
    *,
    n: int = 3,
    seed: int = 0,
    crashes: Iterable[tuple[NodeId, float, float | None]] = (),
    partition: tuple[Iterable[Iterable[NodeId]], float, float | None] | None = None,
    loss: float = 0.0,
    duration: float = 1000.0,
    actions: Iterable[tuple[Any, ...]] = (),
    **options: Any,
) -> Simulation:
    """Run ``factory(n, seed=seed, **options)`` under a fault schedule and return the simulation.

    See :class:`Scenario` for the arguments. The same arguments always give the same trace.

    Examples
    --------
    >>> from zablib.protocols import primary_backup
    >>> sim = run_scenario(primary_backup.cluster, n=3, seed=1, crashes=((1, 300, None),),
    ...                    actions=((100, "submit", "x"),), duration=800)
    >>> sim.primary() != 1
    True
    """
    return Scenario(n=n, seed=seed, crashes=tuple(crashes), partition=partition, loss=loss,
                    duration=duration, actions=tuple(actions), options=options).run(factory)


def partition_choices(node_ids: Iterable[NodeId], limit: int = 8) -> list[tuple[str, Groups | None]]:
    """Sensible two-way splits of ``node_ids`` for a menu: ``[(label, groups or None), ...]``.

    First "none", then each node cut off alone, then the splits of the id range into a first and a
    last block (``{1, 2} | {3, 4, 5}``), at most ``limit`` choices in all.
    """
    ids = tuple(sorted(node_ids))
    choices: list[tuple[str, Groups | None]] = [("none", None)]
    splits: list[Groups] = []
    for (node,) in combinations(ids, 1):
        splits.append((frozenset([node]), frozenset(ids) - {node}))
    for k in range(2, len(ids) - 1):
        splits.append((frozenset(ids[:k]), frozenset(ids[k:])))
    seen: set[frozenset[frozenset[NodeId]]] = set()
    for groups in splits:
        if len(choices) >= limit:
            break
        if frozenset(groups) in seen:  # with two nodes, cutting off 1 is cutting off 2
            continue
        seen.add(frozenset(groups))
        # The label names the cut-off node first ("{2} | {1, 3}"); the value is ordered as the
        # simulator orders groups, by their smallest member.
        choices.append((_groups_text(groups), tuple(sorted(groups, key=min))))
    return choices


def default_summary(sim: Simulation, lines: int = 8) -> str:
    """A short text about ``sim``: time, crashed nodes, protocol answers, last trace lines.

    Protocol answers are shown when the simulation has them: ``primary()`` or ``leader()``,
    ``outcome()``, ``blocked()``, ``acknowledged()``, ``lost_writes()`` and ``committed(i)``
    for every node;
    then whether ``sim.check()`` finds every invariant intact.
    """
    out = [f"t = {sim.now:.1f} ms   events: {len(sim.trace)}   "
           f"crashed: {sorted(sim.crashed) if sim.crashed else 'none'}"]
    for name in ("primary", "leader"):
        if callable(getattr(sim, name, None)):
            out.append(f"{name}: {getattr(sim, name)()}")
            break
    if callable(getattr(sim, "outcome", None)):
        outcome = sim.outcome()
        out.append("outcome: " + ", ".join(f"{i}={outcome[i]}" for i in sorted(outcome)))
    for name in ("blocked", "acknowledged", "lost_writes"):
        if callable(getattr(sim, name, None)):
            out.append(f"{name}: {getattr(sim, name)()!r}")
    if callable(getattr(sim, "committed", None)):
        for i in sim.node_ids:
            out.append(f"committed({i}): {sim.committed(i)!r}")
    try:
        sim.check()
    except InvariantViolation as exc:
        out.append(f"INVARIANT BROKEN: {exc}")
    else:
        out.append(f"invariants: {len(sim.invariants)} checked, all hold")
    out.append("--- last events ---")
    out.append(sim.trace.describe(last=lines))
    return "\n".join(out)


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
        Client actions of every run, as in :class:`Scenario`, e.g. ``((100, "submit", "x"),)``.
    summary : callable, optional
        ``summary(sim) -> str`` for the text under the pictures (default :func:`default_summary`).
    draw : bool
        Draw figures into the output (turn off for speed when only the simulation matters).

    Attributes
    ----------
    widget : ipywidgets.VBox
        What a notebook displays (displaying the panel itself shows it too).
    sim : Simulation
        The current simulation.
    scenario : Scenario
        The scenario built from the controls.
    last_figures : list of Figure
        The figures drawn last (cluster graph, space-time diagram).
    summary_text : str
        The text shown last.
    error : str or None
        The message of the ValueError the last rebuild raised (shown instead of pictures).
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
        summary: Callable[[Simulation], str] | None = None,
        draw: bool = True,
    ):
        import ipywidgets as w

        self.factory = factory
        self.n = n
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
            self.option_menus[name] = w.Dropdown(options=pairs, index=values.index(initial),
                                                 description=name,
                                                 layout=w.Layout(width="230px"),
                                                 style={"description_width": "70px"})
        self.actions = tuple(tuple(a) for a in actions)
        self.summary = summary or default_summary
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
        self.partition = w.Dropdown(options=choices, index=0, description="partition",
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
            *([w.HBox(list(self.option_menus.values()))] if self.option_menus else []),
            *rows,
            w.HBox([self.partition, self.partition_window]),
            w.HBox([self.loss, self.seed]),
            w.HBox([self.step_button, self.run_button, self.reset_button]),
            self.output,
        ])
        self.sim: Simulation = probe.sim
        self.last_figures: list[Any] = []
        self.summary_text = ""
        self.error: str | None = None
        self._run: ScenarioRun | None = None
        self.rerun()

    # -- mapping widgets to a scenario -------------------------------------------------------
    @property
    def scenario(self) -> Scenario:
        """The :class:`Scenario` the controls describe now."""
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
        from IPython import get_ipython

        from zablib import viz

        if self._run is None:  # the controls describe no valid scenario: there is nothing to draw
            self.summary_text = f"error: {self.error}"
            self.last_figures = []
        else:
            error = f"error: {self.error}\n" if self.error else ""
            self.summary_text = error + self.summary(self.sim)
            self.last_figures = ([viz.cluster_graph(self.sim), viz.spacetime(self.sim)]
                                 if self.draw else [])
        if get_ipython() is None:
            return  # headless (a test, a script): nobody can see the output widget
        # Set the Output widget's content as widget state rather than printing into it: the
        # pictures are then PNGs whatever the notebook's matplotlib backend, the static book
        # keeps them, and no output leaks into the cell that changed a control.
        images = [
            {"output_type": "display_data", "metadata": {},
             "data": {"image/png": base64.b64encode(viz.to_png(fig)).decode("ascii"),
                      "text/plain": "<figure>"}}
            for fig in self.last_figures
        ]
        text = {"output_type": "stream", "name": "stdout", "text": self.summary_text + "\n"}
        self.output.outputs = (*images, text)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

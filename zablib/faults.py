"""One fault model: what goes wrong in a run, written as data, for every part of the book.

A *schedule* is a sequence of :class:`FaultEvent` ``(at, kind, args)``: at a simulated time (or
at a :class:`Moment`, a point defined by the nodes' state), do one thing of :data:`KINDS` to the
simulation: crash or recover a node, partition or heal the network, change message loss,
duplication or one link's delay, or call a client action such as ``submit``. One interpreter,
:func:`apply_fault`, does them all, and :class:`ScheduleRun` plays a schedule step by step or to
its end (:func:`play`), or up to given times with something else acting in between
(:meth:`ScheduleRun.run_to`). Three kinds of schedule use this vocabulary:

* **scripted**: :class:`Scenario`, the frozen description the failure panel builds from its
  controls (crashes, a partition, loss, client actions); :func:`run_scenario` runs one and
  :class:`ScenarioRun` steps it;
* **random**: :func:`random_run` draws a seeded schedule as :class:`RandomFaults` describes it
  (:func:`faulty_run` is the ZAB campaign's and :func:`zab_links_run` the same on slow and
  heavy-tailed links, :func:`raft_faulty_run` Raft's, with membership changes as an option, and
  :func:`raft_changes_run` Raft's widened one: changes aimed at faulty servers, load, slow
  links) and returns the events it applied, which :func:`play` replays exactly;
  :func:`quiesce` ends a campaign run's faults, and :func:`recovers` (any protocol),
  :func:`zab_stuck` (ZAB's bound) or :func:`raft_stuck` (Raft's) judge its liveness;
* **named**: :func:`commit_faults`, chapter 6's faults on an atomic commit, each triggered by what
  the nodes have written to stable storage; :func:`service_faults`, chapter 6's faults on any
  leader-based service (2PC and 3PC run once per operation, Paxos, ZAB, Raft), whose events name
  nodes by role (:class:`Pick`: :data:`LEADER`, :func:`followers`, :data:`THE_REST`, resolved
  when the fault happens) and wait for the :func:`decidable` moment.

What a run looks like afterwards is :func:`zablib.summary.summarize`'s business, not this
module's. Nothing here knows about widgets or plotting.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import combinations
from typing import Any, NamedTuple

import zablib.protocols.commit as commit
import zablib.protocols.raft as raft
import zablib.protocols.transactions as transactions
import zablib.protocols.twopc as twopc
import zablib.protocols.zab as zab
from zablib.core import NodeId
from zablib.network import (
    LinkConfig,
    constant,
    describe_groups,
    describe_ids,
    exponential,
    lognormal,
    uniform,
)
from zablib.sim import Simulation, SimulationError

Factory = Callable[..., Simulation]
Groups = tuple[frozenset[NodeId], ...]


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


# -- the vocabulary -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Moment:
    """A point in a run defined by the simulation's state rather than by the clock.

    Parameters
    ----------
    what : str
        The moment in words, for error messages and :meth:`FaultEvent.describe`
        (``"every vote cast"``).
    holds : callable
        ``holds(sim) -> bool``: whether the moment has come.
    """

    what: str
    holds: Callable[[Simulation], bool] = field(repr=False)


#: A moment that has always come: an event at ``NOW`` happens at once, before anything more runs.
NOW = Moment("now", lambda sim: True)


@dataclass(frozen=True)
class Pick:
    """Nodes named by their role rather than by id ("the leader", "two followers").

    A pick stands for node ids in the ``args`` of a ``crash``, ``recover`` or ``partition``
    event. It is resolved when the first event that names it happens, and a schedule run keeps
    that answer: a later event that names the same pick means the same nodes (the leader that
    crashed is the one that recovers, although another node leads by then).

    Parameters
    ----------
    what : str
        The nodes in words, for :meth:`FaultEvent.describe` (``"the leader"``).
    choose : callable
        ``choose(sim, picked) -> tuple of node ids``; ``picked`` maps the picks already resolved
        in this run to their nodes (so that "two followers" can leave out the leader picked).
    """

    what: str
    choose: Callable[[Simulation, Mapping[Pick, tuple[NodeId, ...]]], tuple[NodeId, ...]] = \
        field(repr=False, compare=False)

    def __str__(self) -> str:
        return self.what


def _the_leader(sim: Simulation, picked: Mapping[Pick, tuple[NodeId, ...]]) -> tuple[NodeId, ...]:
    leader = sim.leader()  # type: ignore[attr-defined]  # every leader-based simulation has it
    if leader is None:
        raise SimulationError(f"no leader to pick at t={sim.now:.3f} ms")
    return (leader,)


#: The live leader when first named (``sim.leader()``: a coordinator, a ZAB/Raft/Paxos leader).
LEADER = Pick("the leader", _the_leader)


def followers(count: int, *, with_leader: bool = False, what: str | None = None) -> Pick:
    """``count`` live nodes that are neither the leader nor picked yet in the run, lowest ids
    first (a coordinator's participants, a leader's followers); with ``with_leader``, the leader
    and those nodes."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"followers() picks at least 1 node, got {count!r}")

    def choose(sim: Simulation, picked: Mapping[Pick, tuple[NodeId, ...]]) -> tuple[NodeId, ...]:
        leader = _the_leader(sim, picked)
        taken = {i for nodes in picked.values() for i in nodes} | set(leader)
        free = [i for i in sim.node_ids if sim.is_up(i) and i not in taken]
        if len(free) < count:
            raise SimulationError(f"cannot pick {count} live followers outside {sorted(taken)} "
                                  f"at t={sim.now:.3f} ms")
        return (leader if with_leader else ()) + tuple(free[:count])
    plural = "s" if count > 1 else ""
    return Pick(what or ("the leader and " if with_leader else "") + f"{count} follower{plural}",
                choose)


#: Every node not picked yet in the run (up or down): the far side of a partition.
THE_REST = Pick("the rest", lambda sim, picked: tuple(
    i for i in sim.node_ids if all(i not in nodes for nodes in picked.values())))


def resolve(sim: Simulation, item: Any, picked: dict[Pick, tuple[NodeId, ...]]) -> Any:
    """``item`` with a :class:`Pick` replaced by its nodes (resolved now, the first time, and
    remembered in ``picked``); anything else as it is."""
    if not isinstance(item, Pick):
        return item
    if item not in picked:
        picked[item] = tuple(item.choose(sim, picked))
    return picked[item]

#: What a :class:`FaultEvent` may do, with its ``args``.
KINDS: dict[str, str] = {
    "crash": "(node,)",
    "recover": "(node,)",
    "partition": "(group, group, ...): disjoint sets of node ids covering every node",
    "heal": "()",
    "loss": "(probability,): every link",
    "duplication": "(probability,): every link",
    "delay": "(src, dst, delay): one link's delay distribution; delay None: the network's default",
    "action": "(method name, *args) called on the simulation, or (callable,) given the simulation",
}


class FaultEvent(NamedTuple):
    """One happening of a schedule: at ``at``, do ``kind`` with ``args`` (see :data:`KINDS`).

    ``at`` is a simulated time in ms, or a :class:`Moment`: the event happens as soon as the
    moment holds.
    """

    at: float | Moment
    kind: str
    args: tuple = ()

    def describe(self) -> str:
        """One line of text: ``"   250.000  crash 2"``, ``"when every vote cast:  crash 0"``."""
        when = f"when {self.at.what}:" if isinstance(self.at, Moment) else f"{self.at:10.3f}"
        args = self.args
        if self.kind == "partition" and any(isinstance(g, Pick) for g in args):
            what = "partition " + " | ".join(
                str(g) if isinstance(g, Pick) else describe_groups((g,)) for g in args)
        elif self.kind == "partition":
            what = "partition " + describe_groups(args)
        elif self.kind == "delay":
            what = f"delay {args[0]} -> {args[1]} " + ("default" if args[2] is None else repr(args[2]))
        elif self.kind == "action" and callable(args[0]):
            what = "call " + getattr(args[0], "__name__", "a callable")
        elif self.kind == "action":
            what = " ".join([args[0], *map(repr, args[1:])])
        else:
            what = " ".join([self.kind, *map(str, args)])
        return f"{when}  {what}"


def apply_fault(sim: Simulation, event: FaultEvent,
                picked: dict[Pick, tuple[NodeId, ...]] | None = None) -> None:
    """Do ``event`` to ``sim`` now (whatever its ``at``): the one interpreter of :data:`KINDS`.

    A :class:`Pick` among the nodes of a ``crash``, ``recover`` or ``partition`` is resolved
    through ``picked`` (the run's answers so far, updated here); a crash or recovery of a pick
    applies to each of its nodes.
    """
    kind, args = event.kind, event.args
    if kind in ("crash", "recover", "partition") and any(isinstance(a, Pick) for a in args):
        picked = {} if picked is None else picked
        args = tuple(resolve(sim, a, picked) for a in args)
        if kind != "partition":
            args = tuple(i for a in args for i in (a if isinstance(a, tuple) else (a,)))
            for node in args:
                getattr(sim, kind)(node)
            return
    if kind == "crash":
        sim.crash(*args)
    elif kind == "recover":
        sim.recover(*args)
    elif kind == "partition":
        sim.partition(*args)
    elif kind == "heal":
        sim.heal()
    elif kind == "loss":
        sim.set_loss(*args)
    elif kind == "duplication":
        sim.set_duplication(*args)
    elif kind == "delay":
        src, dst, delay = args
        sim.configure_links(src, dst, delay=sim.network.default.delay if delay is None else delay)
    elif kind == "action":
        if callable(args[0]):
            args[0](sim)
        else:
            getattr(sim, args[0])(*args[1:])
    else:
        raise ValueError(f"unknown fault kind {kind!r}; kinds are {', '.join(KINDS)}")


def _check_event(event: Any) -> FaultEvent:
    if not isinstance(event, tuple) or len(event) not in (2, 3):
        raise ValueError(f"a fault event is (at, kind, args), got {event!r}")
    event = FaultEvent(*event)
    if event.kind not in KINDS:
        raise ValueError(f"unknown fault kind {event.kind!r}; kinds are {', '.join(KINDS)}")
    if not isinstance(event.at, Moment) and (not _is_number(event.at) or event.at < 0):
        raise ValueError(f"a fault event happens at a time in ms >= 0 or at a Moment, got {event.at!r}")
    if not isinstance(event.args, tuple):
        raise ValueError(f"the args of a fault event are a tuple, got {event.args!r}")
    if event.kind == "action" and not event.args:
        raise ValueError("an action event needs a method name or a callable")
    return event


class ScheduleRun:
    """A schedule being played on ``sim``: :meth:`step` one event at a time or :meth:`finish` it.

    Events are applied in the order given: one at a time ``t`` after every message and timer due
    at or before ``t``; one at a :class:`Moment` as soon as the moment holds. Stepping to the end
    gives the same trace as :meth:`finish`.

    Parameters
    ----------
    sim : Simulation
        The simulation to play the schedule on.
    events : iterable of FaultEvent
        The schedule (plain ``(at, kind, args)`` tuples are accepted).
    until : float, optional
        Run on until this simulated time once every event is applied (default: stop there).
    """

    def __init__(self, sim: Simulation, events: Iterable[tuple], until: float | None = None):
        if until is not None and (not _is_number(until) or until < 0):
            raise ValueError(f"until must be a time in ms >= 0, got {until!r}")
        self.sim = sim
        self.events: tuple[FaultEvent, ...] = tuple(_check_event(e) for e in events)
        self.until = until
        self._next = 0
        #: The nodes each :class:`Pick` of the schedule stood for, once resolved.
        self.picked: dict[Pick, tuple[NodeId, ...]] = {}

    @property
    def done(self) -> bool:
        """True once every event is applied and the run has reached ``until``."""
        return self._next == len(self.events) and (self.until is None or self.sim.now >= self.until)

    def step(self) -> bool:
        """Apply the events due before the next simulation event, then process that one event.

        Returns False when there was nothing left to do (the run is done).
        """
        sim = self.sim
        applied = False
        while self._next < len(self.events):
            event = self.events[self._next]
            if isinstance(event.at, Moment):
                if not event.at.holds(sim):
                    if sim.step() is None:
                        raise SimulationError(f"{event.at.what} did not happen: nothing left to "
                                              f"happen (t={sim.now:.3f} ms)")
                    return True
            elif sim.run(until=max(event.at, sim.now), max_events=1):
                return True  # a simulation event due at or before this one came first
            self._next += 1
            apply_fault(sim, event, self.picked)
            applied = True
        if self.until is None:
            return applied
        return sim.run(until=max(self.until, sim.now), max_events=1) == 1 or applied

    def run_to(self, time: float) -> Simulation:
        """Play the schedule up to simulated time ``time`` and stop there (``sim.now == time``).

        Applies the events due by then in order, as :meth:`finish` does (one at a time ``t``
        after every simulation event due at or before ``t``, one at a :class:`Moment` as soon as
        it holds), and processes every simulation event due at or before ``time``. Calling it
        for a growing ``time`` lets something else act at fixed times between the calls (a
        client, say) while the schedule waits for its moments.
        """
        sim = self.sim
        if not _is_number(time) or time < sim.now:
            raise ValueError(f"run_to needs a time >= now ({sim.now}), got {time!r}")
        while self._next < len(self.events):
            event = self.events[self._next]
            if isinstance(event.at, Moment):
                if not event.at.holds(sim):
                    if sim.run(until=time, max_events=1) == 0:
                        return sim  # the moment has not come by ``time``
                    continue
            elif event.at <= time:
                sim.run(until=max(event.at, sim.now))
            else:
                break
            self._next += 1
            apply_fault(sim, event, self.picked)
        sim.run(until=time)
        return sim

    def finish(self) -> Simulation:
        """Apply every remaining event in order and run on until ``until``."""
        sim = self.sim
        while self._next < len(self.events):
            event = self.events[self._next]
            if isinstance(event.at, Moment):
                sim.run_until(event.at.holds, what=event.at.what)
            else:
                sim.run(until=max(event.at, sim.now))
            self._next += 1
            apply_fault(sim, event, self.picked)
        if self.until is not None:
            sim.run(until=max(self.until, sim.now))
        return sim


def play(sim: Simulation, events: Iterable[tuple], *, until: float | None = None) -> Simulation:
    """Play the schedule ``events`` on ``sim`` (then run until ``until``) and return ``sim``.

    Replaying what :func:`random_run` returns on a fresh cluster built the same way gives the
    same trace, byte for byte.
    """
    return ScheduleRun(sim, events, until).finish()


# -- scripted: the failure panel's scenario -------------------------------------------------------

# Same-time happenings of a scenario are applied in this order: faults first, then the client.
_ORDER = {"crash": 0, "recover": 1, "partition": 2, "heal": 3, "action": 4}


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
    each kind in the order given, after every message and timer due at that time
    (:meth:`schedule` lists them so).
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

    def check_against(self, sim: Simulation) -> None:
        """Check what needs the cluster (node ids, partition groups, action names).

        Raises
        ------
        ValueError
            Naming the problem, e.g. ``"crashes: unknown node 7; nodes are 1..3"``.
        """
        ids = sim.node_ids
        known = describe_ids(ids)
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
                raise ValueError(f"partition needs at least two groups, got {describe_groups(groups)}")
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
    def schedule(self) -> list[FaultEvent]:
        """The happenings of this scenario as :class:`FaultEvent`, in the order applied."""
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
        return [FaultEvent(float(t), kind, args) for t, _, _, kind, args in items]

    def start(self, factory: Factory) -> ScenarioRun:
        """Build the cluster at time 0 (with the loss set) and return a run to step or finish."""
        return ScenarioRun(self, factory)

    def run(self, factory: Factory) -> Simulation:
        """Run this scenario to its end with ``factory(n, seed=seed, **options)``."""
        return self.start(factory).finish()


class ScenarioRun(ScheduleRun):
    """A :class:`Scenario` being played, as a :class:`ScheduleRun` of its :meth:`Scenario.schedule`.

    Builds ``factory(n, seed=seed, **options)``, checks the scenario against it and sets the
    loss, all at time 0; then :meth:`ScheduleRun.step` plays one event at a time and
    :meth:`ScheduleRun.finish` plays it to the end (``duration``), the same trace either way.
    """

    def __init__(self, scenario: Scenario, factory: Factory):
        sim = factory(scenario.n, seed=scenario.seed, **dict(scenario.options))
        if not isinstance(sim, Simulation):
            raise ValueError(f"the factory returned {type(sim).__name__}, not a Simulation")
        scenario.check_against(sim)
        if scenario.loss:
            sim.set_loss(scenario.loss)
        super().__init__(sim, scenario.schedule(), until=scenario.duration)
        self.scenario = scenario


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
        choices.append((describe_groups(groups), tuple(sorted(groups, key=min))))
    return choices


# -- random: the campaigns' seeded schedules ------------------------------------------------------

#: Faults a random schedule can draw (besides client writes).
RANDOM_KINDS = ("crash", "recover", "partition", "heal", "loss", "duplication", "membership")


def _numbered(i: int) -> str:
    return f"t{i + 1}"


def _raft_command(i: int) -> tuple[str, int]:
    return ("c", i)


@dataclass(frozen=True)
class RandomFaults:
    """How a random schedule is drawn; :func:`random_run` draws one from a seed.

    Every random choice comes from one :class:`random.Random` seeded with the schedule's seed, in
    this order: the cluster size; the warm-up; the starting loss, then duplication; the number of
    rounds; then per round the fault (a uniform draw in ``[0, 1)`` against ``mix``, then what the
    fault needs: a node, a cut, a rate), the writes, the pause. So a schedule replays identically
    and a failing seed can be studied alone.

    Parameters
    ----------
    sizes : tuple of int
        The cluster size is drawn from these (repeat one to weight it).
    warmup_ms : float or None
        Before the first round, run for a uniform ``[0, warmup_ms)``; None: no warm-up (no draw).
    start_losses, start_duplications : tuple of float
        Before the first round, set the loss (then the duplication) to one of these; empty: leave
        it (no draw).
    rounds : int or (low, high)
        Exactly this many rounds, or a number drawn from ``low..high``.
    mix : tuple of (kind, probability)
        The fault of a round, from :data:`RANDOM_KINDS`: ``crash`` a live node, ``recover`` a
        crashed one, ``partition`` the nodes into two random non-empty groups, ``heal``, set the
        ``loss`` or the ``duplication`` of every link to one of ``losses``/``duplications``, or a
        ``membership`` change (``add_server`` a non-member while there are fewer than
        ``grow_below`` members, else add or remove on a coin flip; never fewer than two members).
        Probabilities are taken in order; what they leave up to 1 is a round without a fault.
    if_impossible : "nothing" or "next"
        What a drawn fault that cannot happen (a crash with every node down, a recovery with none)
        does: nothing, or the next fault of ``mix`` that can.
    node_order : "sorted" or "shuffled"
        The order of the node list that crashes and partitions draw from: sorted afresh each
        round, or kept as the last partition shuffled it.
    losses, duplications : tuple of float
        The rates a ``loss``/``duplication`` fault (and ``midway``) draws from.
    midway : bool
        After the fault of round ``rounds // 2``, draw a new loss, then a new duplication.
    writes : int or (low, high)
        Client writes (``sim.submit``) per round, after its fault: exactly, or drawn.
    command : callable
        ``command(i)`` is the ``i``-th write of the schedule (from 0).
    pause_ms : (low, high)
        Each round ends with a pause of uniform ``[low, high)`` simulated ms.
    load_gaps : tuple of (float or None)
        Before the first round, draw one (empty: no draw, no load): a float ``g`` makes the client
        write every ``g`` ms through each round's pause as well (sustained load); None, no load.
    grow_below : int
        A membership change adds a server while there are fewer members than this.
    aim : "any" or "faulty"
        Which server a membership change picks: any candidate, or preferably one that is
        crashed, cut off from the leader, or restarted within the last ``recent_ms`` (any
        candidate when none is).
    recent_ms : float
        How long after its recovery a server counts as recently restarted, for ``aim``.
    changes : int or (low, high)
        Membership changes per ``membership`` fault, exactly or drawn: the next one is asked
        for as soon as ``change_done(sim)`` holds (at most ``change_wait_ms`` later).
    change_done : callable, optional
        ``change_done(sim)``: the last change is complete (needed when ``changes`` may exceed 1).
    change_wait_ms : float
        The longest wait for ``change_done`` between two changes of one round.
    """

    sizes: tuple[int, ...] = (3, 4, 5)
    warmup_ms: float | None = 200.0
    start_losses: tuple[float, ...] = ()
    start_duplications: tuple[float, ...] = ()
    rounds: int | tuple[int, int] = (3, 8)
    mix: tuple[tuple[str, float], ...] = (("crash", 0.25), ("recover", 0.20), ("partition", 0.15),
                                          ("heal", 0.10), ("loss", 0.10), ("duplication", 0.10))
    if_impossible: str = "nothing"
    node_order: str = "sorted"
    losses: tuple[float, ...] = (0.0, 0.05, 0.2)
    duplications: tuple[float, ...] = (0.0, 0.1, 0.3)
    midway: bool = False
    writes: int | tuple[int, int] = (0, 3)
    command: Callable[[int], Any] = field(default=_numbered, repr=False)
    pause_ms: tuple[float, float] = (5.0, 150.0)
    load_gaps: tuple[float | None, ...] = ()
    grow_below: int = 4
    aim: str = "any"
    recent_ms: float = 200.0
    changes: int | tuple[int, int] = 1
    change_done: Callable[[Simulation], bool] | None = field(default=None, repr=False)
    change_wait_ms: float = 300.0

    def __post_init__(self) -> None:
        for name in ("sizes", "start_losses", "start_duplications", "losses", "duplications",
                     "load_gaps"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        object.__setattr__(self, "mix", tuple((str(k), p) for k, p in self.mix))
        if not self.sizes or not all(isinstance(s, int) and s >= 1 for s in self.sizes):
            raise ValueError(f"sizes must be positive ints, got {self.sizes!r}")
        unknown = [k for k, _ in self.mix if k not in RANDOM_KINDS]
        if unknown:
            raise ValueError(f"unknown random fault(s) {unknown}; choose from {', '.join(RANDOM_KINDS)}")
        if any(not _is_number(p) or p < 0 for _, p in self.mix) or (self.mix and self.bounds()[-1] > 1):
            raise ValueError(f"mix must give probabilities >= 0 that add up to at most 1, got {self.mix!r}")
        if self.if_impossible not in ("nothing", "next"):
            raise ValueError(f"if_impossible must be 'nothing' or 'next', got {self.if_impossible!r}")
        if self.node_order not in ("sorted", "shuffled"):
            raise ValueError(f"node_order must be 'sorted' or 'shuffled', got {self.node_order!r}")
        for name in ("rounds", "writes", "changes"):
            value = getattr(self, name)
            if not (isinstance(value, int) or (isinstance(value, tuple) and len(value) == 2)):
                raise ValueError(f"{name} must be an int or a (low, high) pair, got {value!r}")
        if self.aim not in ("any", "faulty"):
            raise ValueError(f"aim must be 'any' or 'faulty', got {self.aim!r}")
        if any(g is not None and (not _is_number(g) or g <= 0) for g in self.load_gaps):
            raise ValueError(f"load_gaps must be None or gaps in ms > 0, got {self.load_gaps!r}")
        if self.changes != 1 and self.change_done is None:
            raise ValueError("several membership changes in a row need change_done(sim)")

    def bounds(self) -> tuple[float, ...]:
        """Upper ends of the faults' intervals of ``[0, 1)``, in the order of ``mix``."""
        total, out = 0.0, []
        for _, p in self.mix:
            # Rounded so that 0.25 + 0.20 is the 0.45 a schedule written by hand compares with.
            total = round(total + p, 12)
            out.append(total)
        return tuple(out)


#: Raft's schedules (:func:`raft_faulty_run`), without membership changes.
RAFT_FAULTS = RandomFaults(
    sizes=(3, 3, 5), warmup_ms=None, start_losses=(0.0, 0.05, 0.2), start_duplications=(0.0, 0.1),
    rounds=12, mix=(("crash", 0.2), ("recover", 0.2), ("partition", 0.15), ("heal", 0.1)),
    if_impossible="next", node_order="shuffled", writes=1, command=_raft_command,
    pause_ms=(10.0, 80.0),
)

#: Raft's widened schedules (:func:`raft_changes_run`): membership changes aimed at crashed,
#: cut-off and recently restarted servers, one or two in a row, clusters of two to five members
#: (and shrunk to two), and a client writing every 4 ms through a third of the schedules.
RAFT_CHANGES = replace(
    RAFT_FAULTS, sizes=(2, 3, 3, 4, 5),
    mix=(("crash", 0.15), ("recover", 0.2), ("partition", 0.15), ("heal", 0.1), ("membership", 0.3)),
    load_gaps=(None, None, 4.0), grow_below=3, aim="faulty", changes=(1, 2),
    change_done=lambda sim: not sim.change_pending(),
)

#: The links of :func:`raft_changes_run`, one profile per seed in turn: (name, delay of every
#: link, election timeout range, heartbeat period). "slow" is the mean-40 ms links of a
#: wide-area deployment; "long-tailed" has an exponential tail (one message in 150 takes
#: over 100 ms, more than the shortest election timeout); "heavy-tailed" is lognormal with
#: median 30 ms and mean 40 ms (one message in a hundred over 175 ms, one in ten thousand over
#: 500 ms). The last three keep Raft's default timeouts.
RAFT_LINKS: tuple[tuple[str, Any, tuple[float, float], float], ...] = (
    ("fast", uniform(1.0, 10.0), (50.0, 100.0), 15.0),
    ("slow", uniform(20.0, 60.0), raft.ELECTION_MS, raft.HEARTBEAT_MS),
    ("long-tailed", exponential(1.0, 20.0), raft.ELECTION_MS, raft.HEARTBEAT_MS),
    ("heavy-tailed", lognormal(30.0, 40.0), raft.ELECTION_MS, raft.HEARTBEAT_MS),
)


def _possible(kind: str, sim: Simulation) -> bool:
    if kind == "crash":
        return any(sim.is_up(i) for i in sim.node_ids)
    if kind == "recover":
        return bool(sim.crashed)
    if kind == "partition":
        return len(sim.node_ids) > 1
    return True  # heal, loss and duplication always can; a membership change may change nothing


def draw_faults(sim: Simulation, rng: random.Random, faults: RandomFaults) -> list[FaultEvent]:
    """Apply a random schedule to ``sim``, drawing from ``rng``; return the events applied.

    See :class:`RandomFaults` for what is drawn, and in which order. The events, played on a
    fresh cluster built the same way (:func:`play` with ``until=sim.now``), give the same trace.
    """
    applied: list[FaultEvent] = []

    def do(kind: str, *args: Any) -> None:
        event = FaultEvent(sim.now, kind, args)
        apply_fault(sim, event)
        applied.append(event)

    if "membership" in dict(faults.mix) and not callable(getattr(sim, "configuration", None)):
        raise ValueError(f"membership changes need a cluster with configuration(); "
                         f"{type(sim).__name__} has none")
    if faults.warmup_ms is not None:
        sim.run_for(rng.uniform(0, faults.warmup_ms))
    if faults.start_losses:
        do("loss", rng.choice(faults.start_losses))
    if faults.start_duplications:
        do("duplication", rng.choice(faults.start_duplications))
    load = rng.choice(faults.load_gaps) if faults.load_gaps else None
    rounds = faults.rounds if isinstance(faults.rounds, int) else rng.randint(*faults.rounds)
    kinds = [kind for kind, _ in faults.mix]
    bounds = faults.bounds()
    order = list(sim.node_ids)
    restarted: dict[NodeId, float] = {}  # when this schedule last recovered each node
    written = 0
    for k in range(rounds):
        r = rng.random()
        if faults.node_order == "sorted":
            order = list(sim.node_ids)
        drawn = next((j for j, bound in enumerate(bounds) if r < bound), None)
        fault = None
        while drawn is not None and fault is None:
            if _possible(kinds[drawn], sim):
                fault = kinds[drawn]
            elif faults.if_impossible == "next" and drawn + 1 < len(kinds):
                drawn += 1
            else:
                drawn = None
        if fault == "crash":
            do("crash", rng.choice([i for i in order if sim.is_up(i)]))
        elif fault == "recover":
            node = rng.choice(sorted(sim.crashed))
            do("recover", node)
            restarted[node] = sim.now
        elif fault == "partition":
            rng.shuffle(order)
            cut = rng.randint(1, len(order) - 1)
            do("partition", frozenset(order[:cut]), frozenset(order[cut:]))
        elif fault == "heal":
            do("heal")
        elif fault == "loss":
            do("loss", rng.choice(faults.losses))
        elif fault == "duplication":
            do("duplication", rng.choice(faults.duplications))
        elif fault == "membership":
            changes = faults.changes if isinstance(faults.changes, int) else rng.randint(*faults.changes)
            for c in range(changes):
                if c and faults.change_done is not None:
                    waited = sim.now
                    while not faults.change_done(sim) and sim.now - waited < faults.change_wait_ms:
                        sim.run_for(5.0)
                _change_membership(sim, rng, faults, do, restarted)
        if faults.midway and k == rounds // 2:
            do("loss", rng.choice(faults.losses))
            do("duplication", rng.choice(faults.duplications))
        for _ in range(faults.writes if isinstance(faults.writes, int) else rng.randint(*faults.writes)):
            do("action", "submit", faults.command(written))
            written += 1
        pause = rng.uniform(*faults.pause_ms)
        if load is None:
            sim.run_for(pause)
            continue
        end = sim.now + pause
        while sim.now + load < end:  # sustained load: a write every `load` ms
            sim.run_for(load)
            do("action", "submit", faults.command(written))
            written += 1
        sim.run(until=end)
    return applied


def _change_membership(sim: Simulation, rng: random.Random, faults: RandomFaults,
                       do: Callable[..., None], restarted: Mapping[NodeId, float]) -> None:
    """One single-server change of a schedule: add a non-member or remove a member (never
    below two), aimed as ``faults.aim`` says."""
    members = sim.configuration()
    outside = [i for i in sim.node_ids if i not in members]
    if outside and (len(members) < faults.grow_below or rng.random() < 0.5):
        do("action", "add_server", rng.choice(_aimed(sim, outside, faults, restarted)))
    elif len(members) > 2:
        do("action", "remove_server", rng.choice(_aimed(sim, list(members), faults, restarted)))


def _aimed(sim: Simulation, candidates: list[NodeId], faults: RandomFaults,
           restarted: Mapping[NodeId, float]) -> list[NodeId]:
    """The candidates a change picks from: with ``aim="faulty"`` those that are down, on the
    minority side of a partition (the leader too) or restarted within ``recent_ms`` (all of
    them when none is)."""
    if faults.aim == "any":
        return candidates
    groups = sim.network.groups()
    cut_off = {i for g in groups if 2 * len(g) <= len(sim.node_ids) for i in g}

    def faulty(i: NodeId) -> bool:
        return (not sim.is_up(i) or i in cut_off
                or sim.now - restarted.get(i, float("-inf")) < faults.recent_ms)

    return [i for i in candidates if faulty(i)] or candidates


def random_run(
    factory: Factory, seed: int, faults: RandomFaults = RandomFaults(), **options: Any
) -> tuple[Simulation, list[FaultEvent]]:
    """Schedule ``seed`` of ``faults`` on ``factory(n, seed=seed, **options)``.

    Returns
    -------
    (Simulation, list of FaultEvent)
        The simulation after the schedule (no ``check()`` yet) and the events it applied:
        ``play(factory(n, seed=seed, **options), events, until=sim.now)`` replays it exactly.
    """
    rng = random.Random(seed)
    n = rng.choice(faults.sizes)
    sim = factory(n, seed=seed, **options)
    return sim, draw_faults(sim, rng, faults)


def faulty_run(
    factory: Factory,
    seed: int,
    *,
    sizes: Sequence[int] = (3, 4, 5),
    warmup_ms: float = 200.0,
    **options: Any,
) -> Simulation:
    """Schedule ``seed`` of the ZAB campaign (the default :class:`RandomFaults`), then
    ``sim.check()`` (which raises :class:`~zablib.invariants.InvariantViolation`).

    A cluster of a random size, a random warm-up, then 3 to 8 rounds: with probability 0.25 crash
    a live node, 0.20 recover a crashed one, 0.15 partition, 0.10 heal, 0.10 set the loss, 0.10
    the duplication, else nothing; then 0 to 3 writes ``t1``, ``t2`` ...; then 5-150 ms.
    """
    faults = replace(RandomFaults(), sizes=tuple(sizes), warmup_ms=warmup_ms)
    sim, _ = random_run(factory, seed, faults, **options)
    sim.check()
    return sim


#: The links of :func:`zab_links_run`, one profile per seed in turn: (name, delay of every
#: link, ZooKeeper's knobs for :func:`zablib.protocols.zab.cluster`). "fast" is the book's
#: links and default knobs (its schedules are :func:`faulty_run`'s); "slow" has the mean-40 ms
#: links of a wide-area deployment and "heavy-tailed" lognormal ones with the same mean (one
#: message in a hundred over 175 ms, one in ten thousand over 500 ms), both FIFO, as ZAB's TCP
#: links are, with a 60 ms tick: as a ZooKeeper administrator would set ``tickTime``, above the
#: usual delay of a message, its limits (10 and 5 ticks) leaving room for the tail. With the
#: default 20 ms tick such links establish no leader at all.
ZAB_LINKS: tuple[tuple[str, Any, dict[str, Any]], ...] = (
    ("fast", uniform(1.0, 10.0), {}),
    ("slow", uniform(20.0, 60.0), {"tick_ms": 60.0}),
    ("heavy-tailed", lognormal(30.0, 40.0), {"tick_ms": 60.0}),
)


def zab_links_run(seed: int, **options: Any) -> Simulation:
    """Schedule ``seed`` of the ZAB campaign on the links of ``ZAB_LINKS[seed % 3]``; no
    ``check()`` yet.

    The faults are :func:`faulty_run`'s (the default :class:`RandomFaults`), their warm-up and
    pauses stretched by the profile's tick over the default one, so that a slow ensemble gets
    as many ticks between faults as a fast one; on the fast profile the schedule is exactly
    :func:`faulty_run`'s. ``options`` go to :func:`zablib.protocols.zab.cluster` (``variant``
    ...) and override the profile's.
    """
    _, delay, knobs = ZAB_LINKS[seed % len(ZAB_LINKS)]
    stretch = knobs.get("tick_ms", zab.TICK_MS) / zab.TICK_MS
    base = RandomFaults()
    faults = replace(base, warmup_ms=base.warmup_ms * stretch,
                     pause_ms=(base.pause_ms[0] * stretch, base.pause_ms[1] * stretch))
    options = {**knobs, "link": LinkConfig(delay=delay), **options}
    sim, _ = random_run(zab.cluster, seed, faults, **options)
    return sim


#: The liveness bound of :func:`zab_stuck`, in the ensemble's ticks: an established leader
#: within ZAB_LEADER_TICKS of them once the faults stop, then a new transaction delivered by
#: every server within ZAB_COMMIT_TICKS more. Measured on 6,000 schedules of
#: :func:`zab_links_run`, the worst wait for a leader was 25.5 ticks on fast links (510 ms), 19
#: on slow ones and 33 on heavy-tailed ones (1.1 and 2 s); for the delivery everywhere 15.5, 14
#: and 23 ticks.
ZAB_LEADER_TICKS = 50
#: The second half of :func:`zab_stuck`'s bound: ticks for a new transaction to be delivered by
#: every server once a leader is established (see :data:`ZAB_LEADER_TICKS`).
ZAB_COMMIT_TICKS = 30


def zab_stuck(sim: zab.ZabSimulation, *, leader_ms: float | None = None,
              commit_ms: float | None = None, attempts: int = 3) -> str | None:
    """Why a ZAB run is not live once its faults have stopped (:func:`quiesce`), or None.

    Live: within ``leader_ms`` a leader is established (a quorum synchronised with it), and a
    new transaction ``("final", k)`` it accepts is delivered by every server within
    ``commit_ms`` (by default :data:`ZAB_LEADER_TICKS` and :data:`ZAB_COMMIT_TICKS` ticks of the
    ensemble). A client tries again with a fresh transaction (``attempts`` tries in all) when
    the leader that accepted it loses its leadership first, so the whole wait is at most
    ``attempts * (leader_ms + commit_ms)``. Runs ``sim.check()`` at the end.
    """
    tick = max(node.timers.tick_ms for node in sim.nodes.values())
    return _stuck_after_faults(
        sim, find_leader=lambda s: s.leader(), reign=lambda s, leader: s.nodes[leader].epoch,
        members=lambda s, leader: s.node_ids, step_ms=tick / 2,
        leader_ms=ZAB_LEADER_TICKS * tick if leader_ms is None else leader_ms,
        commit_ms=ZAB_COMMIT_TICKS * tick if commit_ms is None else commit_ms, attempts=attempts,
        words=_Wording("no leader established", "not delivered by every server",
                       "the leader lost its leadership before each of {attempts} transactions "
                       "was delivered"))


def raft_faulty_run(
    seed: int,
    *,
    steps: int = 12,
    membership: bool = False,
    vary_loss_midway: bool = False,
    **options: Any,
) -> Simulation:
    """Raft's schedule ``seed`` (:data:`RAFT_FAULTS`, the tests' and the benchmark's); no
    ``check()`` yet.

    A 3- or 5-server :func:`zablib.protocols.raft.cluster` with reordering links, 50-100 ms
    election timeouts and 15 ms heartbeats (``options`` are passed on, e.g. ``variant``); a
    random loss (0, 5 or 20 %) and duplication (0 or 10 %); then ``steps`` rounds of a fault
    (crash, recover, partition, heal, with ``membership`` also a single-server change, or none),
    one client command ``("c", k)`` and 10-80 ms. With ``vary_loss_midway`` the loss and
    duplication change half-way through.
    """
    mix = RAFT_FAULTS.mix + ((("membership", 0.15),) if membership else ())
    faults = replace(RAFT_FAULTS, rounds=steps, mix=mix, midway=vary_loss_midway)
    options = {"election_ms": (50.0, 100.0), "heartbeat_ms": 15.0, **options}
    sim, _ = random_run(raft.cluster, seed, faults, spares=2 if membership else 0, **options)
    return sim


def raft_changes_run(seed: int, **options: Any) -> Simulation:
    """Schedule ``seed`` of the widened Raft campaign (:data:`RAFT_CHANGES`); no ``check()`` yet.

    A :func:`zablib.protocols.raft.cluster` of 2 to 5 servers with 2 spares, on the links of
    ``RAFT_LINKS[seed % 4]`` (reordering, with that profile's delays and timeouts); a random
    loss and duplication; then 12 rounds of a fault (crash, recover, partition, heal, or one or
    two membership changes aimed at faulty servers), one client command ``("c", k)`` and 10-80
    ms, with a command every 4 ms through the pauses in a third of the schedules. ``options``
    are passed on to the cluster (e.g. ``pre_vote=True``).
    """
    _, delay, election_ms, heartbeat_ms = RAFT_LINKS[seed % len(RAFT_LINKS)]
    options = {"election_ms": election_ms, "heartbeat_ms": heartbeat_ms,
               "link": LinkConfig(delay=delay, fifo=False), **options}
    sim, _ = random_run(raft.cluster, seed, RAFT_CHANGES, spares=2, **options)
    return sim


#: The liveness bound of :func:`raft_stuck`, in the cluster's longest election timeout: a
#: leader within this many of them once the faults stop. The worst time measured from the end
#: of the faults to a new command applied everywhere (widened schedules,
#: :func:`raft_changes_run`) was 5 timeouts on fast and long-tailed links (4,000 schedules) and
#: 17 on slow and heavy-tailed ones (3.4 s in 20,000 schedules): there Raft's default
#: 100-200 ms timeouts are barely longer than a 40-120 ms round trip, so split votes repeat.
RAFT_LEADER_TIMEOUTS = 30
#: ... and then a new command applied by every member within this many election timeouts more.
RAFT_COMMIT_TIMEOUTS = 10


def raft_stuck(sim: raft.RaftSimulation, *, leader_ms: float | None = None,
               commit_ms: float | None = None, attempts: int = 3) -> str | None:
    """Why a Raft run is not live once its faults have stopped (:func:`quiesce`), or None.

    Live: within ``leader_ms`` a leader of the newest term among the live members of its
    configuration has committed its no-op (§8), and a new command ``("final", k)`` it accepts is
    applied by every member of its configuration within ``commit_ms`` (by default
    :data:`RAFT_LEADER_TIMEOUTS` and :data:`RAFT_COMMIT_TIMEOUTS` times the longest election
    timeout). A client tries again with a fresh command (``attempts`` tries in all) when the
    leader that accepted its command is deposed first, so the whole wait is at most
    ``attempts * (leader_ms + commit_ms)``. A removed server that was never told may campaign on
    with a higher term (thesis §4.2.3): it is not a member, so it is not asked. Runs
    ``sim.check()`` at the end.
    """
    timeout = max(node.election_ms[1] for node in sim.nodes.values())
    return _stuck_after_faults(
        sim, find_leader=_established_leader, reign=lambda s, leader: s.nodes[leader].term,
        members=lambda s, leader: s.nodes[leader].config, step_ms=10.0,
        leader_ms=RAFT_LEADER_TIMEOUTS * timeout if leader_ms is None else leader_ms,
        commit_ms=RAFT_COMMIT_TIMEOUTS * timeout if commit_ms is None else commit_ms,
        attempts=attempts,
        words=_Wording("no leader", "not applied on every member {members}",
                       "the leader was deposed before each of {attempts} commands was applied"))


class _Wording(NamedTuple):
    """How :func:`_stuck_after_faults` words its three answers for one protocol."""

    no_leader: str  # "<no_leader> within X ms"
    not_done: str  # "<command> <not_done> within X ms"; may name {members}
    lost: str  # every attempt's leader lost its reign first; may name {attempts}


def _stuck_after_faults(sim: Simulation, *, find_leader: Callable[[Any], NodeId | None],
                        reign: Callable[[Any, NodeId], Any],
                        members: Callable[[Any, NodeId], Iterable[NodeId]], step_ms: float,
                        leader_ms: float, commit_ms: float, attempts: int,
                        words: _Wording) -> str | None:
    """The liveness check :func:`zab_stuck`, :func:`raft_stuck` and :func:`paxos_stuck` share.

    Up to ``attempts`` times: wait ``leader_ms`` for ``find_leader(sim)``; submit a fresh
    command ``("final", k)``; wait ``commit_ms`` for every node of ``members(sim, leader)`` to
    have applied it, starting over when the leader steps down or its ``reign`` (epoch, term,
    ballot) changes first. Simulated time advances in steps of ``step_ms``. Returns None when
    the command was applied everywhere, else why not; runs ``sim.check()`` at the end.
    """
    for attempt in range(attempts):
        start = sim.now
        leader = find_leader(sim)
        while leader is None and sim.now - start < leader_ms:
            sim.run_for(step_ms)
            leader = find_leader(sim)
        if leader is None:
            sim.check()
            return f"{words.no_leader} within {leader_ms:.0f} ms: " + _statuses(sim)
        command, held = ("final", attempt), reign(sim, leader)
        if not sim.submit(command):
            continue
        targets = members(sim, leader)
        start = sim.now
        while sim.now - start < commit_ms:
            if all(command in sim.committed(i) for i in targets):
                sim.check()
                return None
            if sim.leader() != leader or reign(sim, leader) != held:
                break  # the leader lost its reign: the command may be lost, so the client asks again
            sim.run_for(step_ms)
        else:
            sim.check()
            not_done = words.not_done.format(members=list(targets))
            return f"{command!r} {not_done} within {commit_ms:.0f} ms: " + _statuses(sim)
    sim.check()
    return words.lost.format(attempts=attempts) + ": " + _statuses(sim)


def _statuses(sim: raft.RaftSimulation) -> str:
    return "; ".join(f"{i}: {sim.nodes[i].status()}" + ("" if sim.is_up(i) else " (down)")
                     for i in sim.node_ids)


def _established_leader(sim: raft.RaftSimulation) -> NodeId | None:
    """The live leader, if it has committed its no-op and no live member of its configuration
    is in a newer term."""
    leader = sim.leader()
    if leader is None:
        return None
    node = sim.nodes[leader]
    newest = max((sim.nodes[i].term for i in node.config if sim.is_up(i)), default=0)
    return leader if node.commit_index >= node.term_start and node.term >= newest else None


def quiesce(sim: Simulation) -> None:
    """Stop every fault: heal the network, no loss or duplication, recover every crashed node."""
    sim.heal()
    sim.set_loss(0.0)
    sim.set_duplication(0.0)
    for i in sorted(sim.crashed):
        sim.recover(i)


def recovers(sim: Simulation, *, after_ms: float, commit_ms: float, command: Any = "after") -> bool:
    """Liveness once faults have stopped: after ``after_ms`` there is a leader that accepts
    ``command``, and within ``commit_ms`` more every node has it. Runs ``sim.check()`` too."""
    sim.run_for(after_ms)
    if sim.leader() is None or not sim.submit(command):
        return False
    sim.run_for(commit_ms)
    sim.check()
    return all(command in sim.committed(i) for i in sim.node_ids)


# -- named: chapter 6's faults on an atomic commit ------------------------------------------------

def every_vote_cast() -> Moment:
    """Every participant of a 2PC/3PC run has written a yes vote to stable storage."""
    return Moment("every vote cast",
                  lambda sim: all(sim.storage[i].get("vote") == "yes" for i in sim.participants))


def has_decided(node: NodeId, what: str | None = None) -> Moment:
    """``node`` has written its decision to stable storage."""
    return Moment(what or f"{node} deciding", lambda sim: "decision" in sim.storage[node])


def voted_yes(node: NodeId, what: str | None = None) -> Moment:
    """``node`` has written a yes vote to stable storage."""
    return Moment(what or f"{node} voting yes", lambda sim: sim.storage[node].get("vote") == "yes")


def heard_from(node: NodeId, count: int, sender: NodeId = 0, what: str | None = None) -> Moment:
    """``node`` has received ``count`` messages from ``sender`` (the coordinator, by default)."""
    def holds(sim: Simulation) -> bool:
        return sum(1 for e in sim.trace
                   if e.kind == "deliver" and e.node == node and e.peer == sender) == count
    return Moment(what or f"{node} hearing from {sender} {count} times", holds)


def commit_faults(participants: int) -> dict[str, tuple[FaultEvent, ...]]:
    """Chapter 6's faults on one transaction with ``participants`` participants, by name.

    Node 0 is the coordinator; the last participant is the one that crashes; the partition
    separates ``{0, 1}`` from the other participants. Each fault waits for a moment defined by
    what the nodes have written to stable storage (every vote cast, a decision ...), then
    crashes nodes or cuts the network:

    * the coordinator crashes once every vote is cast, before the last vote reaches it;
    * the source note's pattern: the decision reaches participant 1 only, then the coordinator
      and 1 crash (the copies for the others are lost to a partition, which stays: it only
      separates the survivors from two crashed nodes);
    * the last participant crashes at once, before it votes;
    * the last participant crashes right after it votes yes;
    * the partition falls while the coordinator's second message is on its way to the far side
      (those links are slowed to one timeout until 1 has heard phase two, then restored).
    """
    if not isinstance(participants, int) or participants < 2:
        raise ValueError(f"commit faults need at least 2 participants, got {participants!r}")
    last = participants
    left, right = frozenset({0, 1}), frozenset(range(2, participants + 1))
    votes_cast = every_vote_cast()
    decided = has_decided(0, "the coordinator deciding")
    learnt = has_decided(1, "1 learning the decision")
    phase_two = heard_from(1, 2, what="1 hearing phase two")
    slow = constant(twopc.TIMEOUT_MS)
    return {
        "coordinator crashes after the votes": (FaultEvent(votes_cast, "crash", (0,)),),
        "decision reaches only 1; 0 and 1 crash": (
            FaultEvent(decided, "partition", (left, right)),
            FaultEvent(learnt, "crash", (0,)),
            FaultEvent(learnt, "crash", (1,)),
        ),
        f"participant {last} crashes before voting": (FaultEvent(NOW, "crash", (last,)),),
        f"participant {last} crashes after voting yes": (
            FaultEvent(voted_yes(last, "it voting yes"), "crash", (last,)),
        ),
        f"partition {describe_groups((left, right))}": (
            *(FaultEvent(votes_cast, "delay", (0, q, slow)) for q in sorted(right)),
            FaultEvent(phase_two, "partition", (left, right)),
            *(FaultEvent(phase_two, "delay", (0, q, None)) for q in sorted(right)),
        ),
    }


# -- named: chapter 6's faults on a replicated service, for every protocol ------------------------

def _durable_on(sim: Simulation, node: NodeId, op: Any) -> bool:
    if isinstance(sim, transactions.TransactionSimulation):
        return sim.prepared(node, op)
    return any(row.command == op for row in sim.status(node).log)


def _needed(sim: Simulation) -> int:
    """How many nodes must hold an operation before it can be decided: every node for an
    atomic commit (each participant's yes vote and the coordinator's record), a majority for
    consensus."""
    n = len(sim.node_ids)
    return n if isinstance(sim, transactions.TransactionSimulation) else n // 2 + 1


def _leader_knows(sim: Simulation, op: Any) -> bool:
    leader = sim.leader()  # type: ignore[attr-defined]
    if leader is None:
        return False
    if isinstance(sim, transactions.TransactionSimulation):
        return sim.outcomes(leader).get(op) is not None
    return op in sim.committed(leader)  # type: ignore[attr-defined]


def decidable(op: Any, what: str | None = None) -> Moment:
    """``op`` is on stable storage at as many nodes as the protocol needs to decide it (every
    participant's yes vote for 2PC and 3PC, a majority's log or acceptance for Paxos, ZAB and
    Raft), and the leader does not know yet that it is decided: from here on the operation can
    be decided without the leader, if the protocol allows it."""
    def holds(sim: Simulation) -> bool:
        held = sum(1 for i in sim.node_ids if _durable_on(sim, i, op))
        return held >= _needed(sim) and not _leader_knows(sim, op)
    return Moment(what or f"{op!r} decidable, the leader not knowing it yet", holds)


def service_faults(op: Any, until: float) -> dict[str, tuple[FaultEvent, ...]]:
    """Chapter 6's faults on a leader-based service of five nodes, by name; the same schedule
    for every protocol.

    Each waits for the moment :func:`decidable` names for ``op`` (it is held by enough nodes to
    be decided, the leader not knowing it yet), then does its fault to nodes named by role
    (:class:`Pick`: the leader, found at run time; followers other than the leader), and ends it
    at simulated time ``until`` (recovers the nodes, heals the network):

    * the leader crashes;
    * a minority (two followers) crashes;
    * a majority (three followers) crashes; the leader stays up;
    * the leader is cut off with one follower (a minority) from the other three.
    """
    if not _is_number(until) or until < 0:
        raise ValueError(f"until must be a time in ms >= 0, got {until!r}")
    at = decidable(op)
    two, three = followers(2), followers(3)
    near = followers(1, with_leader=True)
    return {
        "the leader crashes": (FaultEvent(at, "crash", (LEADER,)),
                               FaultEvent(until, "recover", (LEADER,))),
        "a minority crashes": (FaultEvent(at, "crash", (two,)), FaultEvent(until, "recover", (two,))),
        "a majority crashes": (FaultEvent(at, "crash", (three,)),
                               FaultEvent(until, "recover", (three,))),
        "the leader is cut off with a minority": (FaultEvent(at, "partition", (near, THE_REST)),
                                                  FaultEvent(until, "heal")),
    }


# -- random: atomic commit campaigns (2PC and 3PC with crash-recovery) ---------------------------

#: What a round of :func:`commit_faulty_run` does, with its probability (the rest: nothing).
#: ``crash`` stops the node the round aims at, losing a random part of what it sent at that
#: moment (it dies in the middle of a broadcast); ``restart`` does the same and brings it back
#: 0-20 ms later, with only what it persisted; ``recover`` restarts a crashed node. 2PC is safe
#: under anything, so its schedules also partition, heal, lose and duplicate messages; 3PC is
#: safe only where a timeout means a crash (Skeen's model), so its schedules never cut or lose a
#: message.
COMMIT_MIXES: dict[str, tuple[tuple[str, float], ...]] = {
    "2pc": (("crash", 0.25), ("restart", 0.15), ("recover", 0.20), ("partition", 0.15),
            ("heal", 0.10), ("loss", 0.10), ("duplication", 0.05)),
    "3pc": (("crash", 0.35), ("restart", 0.25), ("recover", 0.25), ("duplication", 0.05)),
}


def commit_faulty_run(factory: Factory, seed: int,
                      mix: Sequence[tuple[str, float]] | None = None,
                      ) -> tuple[Simulation, list[FaultEvent]]:
    """Schedule ``seed`` of the atomic commit campaign on ``factory`` (``twopc.cluster`` or
    ``threepc.cluster``); no ``check()`` yet.

    Every choice comes from ``random.Random(seed)``: 2 to 4 participants; everyone votes yes
    (three schedules in four) or each vote is drawn; then 3 to 12 rounds. A round aims at a node
    (the coordinator with probability 0.4, else a participant), waits for a moment in that
    node's life (0-12 ms from now; or its next protocol step that it notes, a vote, a decision,
    a question ...; or its next message sent; waiting at most 200 ms), then does one fault of
    ``mix`` (default :data:`COMMIT_MIXES` of the protocol). The moments put crashes where they
    hurt: between a decision and its messages, right after a node answers "uncertain".

    Returns
    -------
    (Simulation, list of FaultEvent)
        The simulation after the schedule and the events applied (a message lost in a crash is
        an ``action`` event calling ``drop_now``). The same seed gives the same run.
    """
    rng = random.Random(seed)
    participants = rng.choice((2, 3, 4))
    sim = factory(participants, seed=seed, votes=None if rng.random() < 0.75 else "random")
    mix = tuple(COMMIT_MIXES[sim.protocol] if mix is None else mix)
    applied: list[FaultEvent] = []

    def do(kind: str, *args: Any) -> None:
        event = FaultEvent(sim.now, kind, args)
        apply_fault(sim, event)
        applied.append(event)

    for _ in range(rng.randint(3, 12)):
        node = 0 if rng.random() < 0.4 else rng.choice(sim.node_ids[1:])
        moment = rng.random()
        if moment < 0.25:
            sim.run_for(rng.uniform(0.0, 12.0))
        else:
            _next_event_of(sim, node, "note" if moment < 0.7 else "send", 200.0)
        fault = _drawn(rng, mix)
        if fault in ("crash", "restart") and sim.is_up(node):
            for msg_id in _just_sent(sim, node):
                if rng.random() < 0.5:
                    do("action", "drop_now", msg_id, f"node {node} crashed before sending it")
            do("crash", node)
            if fault == "restart":
                sim.run_for(rng.uniform(0.0, 20.0))
                do("recover", node)
        elif fault == "recover" and sim.crashed:
            do("recover", rng.choice(sorted(sim.crashed)))
        elif fault == "partition":
            order = list(sim.node_ids)
            rng.shuffle(order)
            cut = rng.randint(1, len(order) - 1)
            do("partition", frozenset(order[:cut]), frozenset(order[cut:]))
        elif fault == "heal":
            do("heal")
        elif fault == "loss":
            do("loss", rng.choice((0.0, 0.1, 0.3)))
        elif fault == "duplication":
            do("duplication", rng.choice((0.0, 0.1, 0.3)))
    return sim, applied


def _drawn(rng: random.Random, mix: Sequence[tuple[str, float]]) -> str | None:
    r, total = rng.random(), 0.0
    for kind, p in mix:
        total += p
        if r < total:
            return kind
    return None


def _next_event_of(sim: Simulation, node: NodeId, kind: str, ms: float) -> None:
    """Run event by event until ``node`` records an event of ``kind``, for at most ``ms``."""
    deadline, seen = sim.now + ms, len(sim.trace)
    while sim.now <= deadline and sim.step() is not None:
        trace = sim.trace
        if any(trace[k].kind == kind and trace[k].node == node for k in range(seen, len(trace))):
            return
        seen = len(trace)


def _just_sent(sim: Simulation, node: NodeId) -> list[int]:
    """The ids of the messages ``node`` has sent at this very moment and that are on their way."""
    trace, sent = sim.trace, []
    k = len(trace) - 1
    while k >= 0 and trace[k].time == sim.now:
        if trace[k].kind == "send" and trace[k].node == node:
            sent.append(trace[k].msg_id)
        k -= 1
    on_their_way = {f.msg_id for f in sim.in_flight()}
    return [i for i in reversed(sent) if i in on_their_way]


def _holds_within(sim: Simulation, holds: Callable[[Simulation], bool], ms: float) -> bool:
    """Run event by event until ``holds(sim)``; False if ``ms`` pass (or nothing is left) first."""
    deadline = sim.now + ms
    while not holds(sim):
        if sim.now > deadline or sim.step() is None:
            return False
    return sim.now <= deadline


def commit_settle_ms(sim: Simulation) -> float:
    """The liveness bound of :func:`commit_liveness` for a 2PC or 3PC run on bounded links.

    A hop takes at most ``d``, the links' longest delay (10 ms by default). **2PC**: once some
    live, reachable node knows the outcome, an undecided participant asks everyone within one
    decision timeout (or one retry period, if it already asks), and the answer takes a round
    trip: ``DECISION_TIMEOUT_MS + 2 d`` (170 ms). A live coordinator that is still counting
    votes decides within ``TIMEOUT_MS``. **3PC**: a participant that has not crashed does not ask
    everyone; it turns to the coordinators rank by rank, one decision timeout each, then takes
    over (states, then acks): ``(n + 1) * DECISION_TIMEOUT_MS + 2 * TIMEOUT_MS + 4 d`` for
    ``n`` participants (590-890 ms). Once every node is back, a restarted node asks at once, so
    deciding everywhere takes no longer. Measured over 50,000 schedules of each
    (``benchmarks/bench_commit_campaign.py``, seeds 0-49,999): learning took at most 160 ms
    (2PC) and 403 ms (3PC), deciding once everyone was back at most 50 ms and 69 ms.
    """
    delay = sim.network.default.delay
    if delay.kind not in ("constant", "uniform"):
        raise ValueError(f"commit_settle_ms needs links with a longest delay, not {delay.kind!r} ones")
    if sim.protocol == "2pc":
        return commit.DECISION_TIMEOUT_MS + 2 * delay.high
    participants = len(sim.node_ids) - 1
    return (participants + 1) * commit.DECISION_TIMEOUT_MS + 2 * commit.TIMEOUT_MS + 4 * delay.high


class CommitLiveness(NamedTuple):
    """What :func:`commit_liveness` found: ``problem`` (None when live) and the times it measured.

    ``learn_ms``: from the moment some live node knew the outcome (crashed nodes still down) to
    the moment every live node knew it (None when nobody live knew it); ``decide_ms``: from the
    moment every node was back to the moment every node had decided (None when not reached).
    """

    problem: str | None
    learn_ms: float | None
    decide_ms: float | None


def commit_liveness(sim: Simulation, settle_ms: float | None = None) -> CommitLiveness:
    """Whether a 2PC/3PC run is live once its faults stop; runs ``sim.check()``.

    Two checks, each within ``settle_ms`` (default :func:`commit_settle_ms`):

    1. the network heals (no loss, no duplication) while the crashed nodes stay down: from the
       moment some live node knows the outcome, every live node must learn it (while nobody
       live knows, 2PC may rightly block);
    2. then every crashed node recovers: every node must decide.
    """
    settle_ms = commit_settle_ms(sim) if settle_ms is None else settle_ms
    sim.check()
    sim.heal()
    sim.set_loss(0.0)
    sim.set_duplication(0.0)

    def undecided(s: Simulation) -> list[NodeId]:
        return [i for i, d in s.outcome().items() if d is None and s.is_up(i)]

    def someone_knows(s: Simulation) -> bool:
        return any(d is not None and s.is_up(i) for i, d in s.outcome().items())

    learn_ms = None
    if _holds_within(sim, someone_knows, settle_ms):
        since = sim.now
        if not _holds_within(sim, lambda s: not undecided(s), settle_ms):
            sim.check()
            return CommitLiveness(
                f"a live node knew the outcome at t={since:.1f} ms, but live node(s) "
                f"{undecided(sim)} had not learnt it {settle_ms:.0f} ms later "
                f"(crashed: {sorted(sim.crashed)})", None, None)
        learn_ms = sim.now - since
    sim.check()
    quiesce(sim)
    since = sim.now
    if not _holds_within(sim, lambda s: not undecided(s), settle_ms):
        sim.check()
        return CommitLiveness(f"node(s) {undecided(sim)} undecided {settle_ms:.0f} ms after every "
                              "node was back", learn_ms, None)
    sim.check()
    return CommitLiveness(None, learn_ms, sim.now - since)


# -- Paxos's campaign (appended; shaped as Raft's) ------------------------------------------------

#: Multi-Paxos's schedules (:func:`paxos_faulty_run`): Raft's faults (crash, recover, partition,
#: heal; a starting loss and duplication) with a client write ``("c", k)`` per round.
PAXOS_FAULTS = RAFT_FAULTS


def paxos_faulty_run(seed: int, *, steps: int = 12, vary_loss_midway: bool = False,
                     **options: Any) -> Simulation:
    """Multi-Paxos's schedule ``seed`` (:data:`PAXOS_FAULTS`, the tests' and the benchmark's);
    no ``check()`` yet.

    A 3- or 5-node :func:`zablib.protocols.paxos.cluster` with reordering links, 50-100 ms
    election timeouts and 15 ms heartbeats (``options`` are passed on, e.g. ``variant``); a
    random loss (0, 5 or 20 %) and duplication (0 or 10 %); then ``steps`` rounds of a fault
    (crash, recover, partition, heal, or none), one client command ``("c", k)`` and 10-80 ms.
    """
    import zablib.protocols.paxos as paxos

    faults = replace(PAXOS_FAULTS, rounds=steps, midway=vary_loss_midway)
    options = {"election_ms": (50.0, 100.0), "heartbeat_ms": 15.0, **options}
    sim, _ = random_run(paxos.cluster, seed, faults, **options)
    return sim


#: The liveness bound of :func:`paxos_stuck`, in the cluster's longest election timeout: a
#: leader within this many of them once the faults stop (Raft's bound; measured on 20,000
#: schedules of :func:`paxos_faulty_run`, a new command was applied everywhere at worst 160 ms,
#: under 2 timeouts, after the faults stopped) ...
PAXOS_LEADER_TIMEOUTS = 30
#: ... and then a new command applied by every node within this many election timeouts more.
PAXOS_COMMIT_TIMEOUTS = 10


def paxos_stuck(sim: Simulation, *, leader_ms: float | None = None,
                commit_ms: float | None = None, attempts: int = 3) -> str | None:
    """Why a Multi-Paxos run is not live once its faults have stopped (:func:`quiesce`), or None.

    Live: within ``leader_ms`` a leader has finished phase 1, and a new command ``("final", k)``
    it proposes is applied by every node within ``commit_ms`` (by default
    :data:`PAXOS_LEADER_TIMEOUTS` and :data:`PAXOS_COMMIT_TIMEOUTS` times the longest election
    timeout). A client tries again with a fresh command (``attempts`` tries in all) when the
    leader is pre-empted first. Runs ``sim.check()`` at the end.
    """
    timeout = max(node.election_ms[1] for node in sim.nodes.values())
    return _stuck_after_faults(
        sim, find_leader=lambda s: s.leader(), reign=lambda s, leader: s.nodes[leader].ballot,
        members=lambda s, leader: s.node_ids, step_ms=10.0,
        leader_ms=PAXOS_LEADER_TIMEOUTS * timeout if leader_ms is None else leader_ms,
        commit_ms=PAXOS_COMMIT_TIMEOUTS * timeout if commit_ms is None else commit_ms,
        attempts=attempts,
        words=_Wording("no leader", "not applied on every node",
                       "the leader was pre-empted before each of {attempts} commands was applied"))


def paxos_decree_run(seed: int, *, steps: int = 12, **options: Any) -> Simulation:
    """Single-decree Paxos under schedule ``seed`` of :data:`PAXOS_FAULTS`; no ``check()`` yet.

    A 3- or 5-node ``paxos.cluster(multi=False)`` with reordering links, 20-40 ms retries with
    back-off, the faults and rates of :func:`paxos_faulty_run`, and per round one value
    ``("c", k)`` handed to a live node that has not learned a value (``sim.submit``).
    """
    import zablib.protocols.paxos as paxos

    faults = replace(PAXOS_FAULTS, rounds=steps)
    options = {"multi": False, "retry_ms": (20.0, 40.0), **options}
    sim, _ = random_run(paxos.cluster, seed, faults, **options)
    return sim


def paxos_decree_stuck(sim: Simulation, *, within_ms: float = 2000.0,
                       attempts: int = 3) -> str | None:
    """Why a single-decree run has not chosen a value that every node learned once its faults
    have stopped (:func:`quiesce`), or None.

    A client hands a fresh value ``("final", k)`` to a node that has not learned a value (which
    finds and re-proposes one already chosen, if any) and waits ``within_ms`` for every node to
    learn one; ``attempts`` tries in all. Runs ``sim.check()`` at the end.
    """
    for attempt in range(attempts):
        if not sim.submit(("final", attempt)):
            break  # every node has learned a value
        start = sim.now
        while sim.now - start < within_ms and not all(sim.committed(i) for i in sim.node_ids):
            sim.run_for(10.0)
    sim.check()
    if all(sim.committed(i) for i in sim.node_ids):
        return None
    return (f"not every node learned a value within {attempts} tries of {within_ms:.0f} ms: "
            + _statuses(sim))

"""The interpreter of transcript commands: each command drives a simulation and prints what it did.

A command's output is the trace events it caused, one :meth:`~zablib.trace.Event.describe` line
each (only the kinds chosen with ``show``), followed by what it returns, if anything
(``=> True`` for ``submit``, ``ok`` for ``check`` ...). The interpreter finds a protocol's
``cluster()`` by name in :mod:`zablib.protocols` and uses public
:class:`~zablib.sim.Simulation` methods only, so it works for every protocol.

Commands (``NODE`` is a node id, or ``leader`` for the current ``sim.leader()``):

=========================================== =========================================================
``show KIND...`` / ``show all``             echo only trace events of these kinds from now on
``cluster PROTOCOL [N] [OPTION=VALUE...]``  build ``zablib.protocols.PROTOCOL.cluster(N, ...)``
``scenario PROTOCOL.NAME [VALUE...] [...]`` run the library's ``PROTOCOL.scenario_NAME(...)``
``run``                                     until nothing is pending (bounded)
``run for=MS`` / ``run until=TIME``         for a duration / to an absolute simulated time
``run events=N``                            at most N events
``run until=CONDITION [...] [limit=N]``     event by event until the condition holds
``run until=CONDITION [...] poll=MS``       in slices of MS until it holds, at most ``within=MS``
``step [N]``                                deliver or fire N events (default 1)
``crash NODE`` / ``recover NODE``           faults
``partition (A,B) (C,D,E)`` / ``isolate``   cut the network; ``heal`` removes every cut
``cut-link SRC DST`` / ``restore-link ...`` one-way link faults
``set-loss P`` / ``set-duplication P``      on every link, or ``src=`` / ``dst=`` ones
``submit VALUE``                            ``sim.submit(VALUE)``; prints ``=> result``
``campaign`` / ``add-server`` /             the protocol's method of that name, with a NODE;
``remove-server NODE``                      prints ``=> result``
``check``                                   ``sim.check()``: ``ok`` or the violation
``leader``, ``committed [NODE...]``,        questions: ``sim.leader()``, ``sim.committed(i)``,
``status [NODE...]``                        each node's ``status()``
``trace [kinds=(...)] [last=N]``            the whole trace so far (``start=``/``end=`` times)
=========================================== =========================================================

Conditions are listed in :mod:`zablib.datadriven.conditions`.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable
from types import ModuleType
from typing import Any

import zablib.protocols
from zablib.datadriven.arguments import Command, parse_command
from zablib.datadriven.conditions import CONDITIONS
from zablib.datadriven.fileformat import ScriptError
from zablib.invariants import InvariantViolation
from zablib.sim import Simulation, SimulationError
from zablib.trace import KINDS

#: ``run until=CONDITION poll=MS`` gives up after this many simulated milliseconds by default.
POLL_WITHIN_MS = 3000.0


def protocols() -> list[str]:
    """The names of the modules of :mod:`zablib.protocols` that provide ``cluster()``."""
    names = [m.name for m in pkgutil.iter_modules(zablib.protocols.__path__)]
    return sorted(n for n in names if callable(getattr(_import(n), "cluster", None)))


def _import(name: str) -> ModuleType:
    return importlib.import_module(f"zablib.protocols.{name}")


def protocol_module(name: Any) -> ModuleType:
    """The protocol module called ``name`` (``"zab"``, ``"raft"`` ...), or a ValueError naming them."""
    known = protocols()
    if name not in known:
        raise ValueError(f"unknown protocol {name!r}; protocols are {', '.join(known)}")
    return _import(name)


class Interpreter:
    """Runs transcript commands against one simulation at a time.

    Parameters
    ----------
    source : str
        Where the commands come from (a file name), for error messages.

    Examples
    --------
    >>> it = Interpreter()
    >>> it.run("show crash recover")
    ''
    >>> it.run("cluster zab n=3 seed=5")
    ''
    >>> print(it.run("crash 2"))
         0.000  crash     2
    """

    def __init__(self, source: str = "<script>"):
        self.source = source
        self.sim: Simulation | None = None
        self.kinds: tuple[str, ...] | None = None  # None: echo every kind
        self._seen = 0

    # -- running a command ----------------------------------------------------------------
    def run(self, line: str, lineno: int = 0) -> str:
        """Run one command line and return its output (no final newline).

        Raises
        ------
        ScriptError
            Naming ``source``, ``lineno`` and the problem: an unknown command, a bad argument,
            or an error the simulation raised (a crashed node asked to crash again ...).
        """
        try:
            command = parse_command(line)
        except ValueError as exc:
            raise ScriptError(self.source, lineno, str(exc)) from None
        handler = COMMANDS.get(command.name)
        if handler is None:
            raise ScriptError(self.source, lineno, f"unknown command {command.name!r}; commands are "
                                                   f"{', '.join(sorted(COMMANDS))}")
        if handler.__name__ not in ("cmd_show", "cmd_cluster", "cmd_scenario") and self.sim is None:
            raise ScriptError(self.source, lineno, f"{command.name}: no simulation yet; start "
                                                   "with 'cluster PROTOCOL ...' or 'scenario ...'")
        try:
            inspect.signature(handler).bind(self, *command.args, **command.options)
        except TypeError as exc:
            raise ScriptError(self.source, lineno,
                              f"{command.name}: {exc}; usage: {usage(command.name)}") from None
        try:
            result = handler(self, *command.args, **command.options)
        except (ValueError, TypeError, KeyError, SimulationError) as exc:
            problem = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
            raise ScriptError(self.source, lineno, f"{command.name}: {problem}") from None
        return "\n".join(self._new_events() + list(result or ()))

    def _new_events(self) -> list[str]:
        if self.sim is None:
            return []
        trace = self.sim.trace
        events = trace[self._seen:]
        self._seen = len(trace)
        return [e.describe() for e in events if self.kinds is None or e.kind in self.kinds]

    def _start(self, sim: Any, what: str) -> None:
        if not isinstance(sim, Simulation):
            raise ValueError(f"{what} returned {type(sim).__name__}, not a Simulation")
        self.sim = sim
        self._seen = 0

    def _node(self, node: Any) -> int:
        if node == "leader":
            current = getattr(self.sim, "leader", lambda: None)()
            if current is None:
                raise ValueError("'leader' names no node: there is no leader now")
            return current
        if isinstance(node, bool) or not isinstance(node, int):
            raise ValueError(f"a node is an id or 'leader', got {node!r}")
        return node

    def _call(self, method: str, *args: Any) -> list[str]:
        function = getattr(self.sim, method, None)
        if not callable(function):
            raise ValueError(f"a {type(self.sim).__name__} has no {method}()")
        return [f"=> {function(*args)!r}"]

    # -- set-up ---------------------------------------------------------------------------
    def cmd_show(self, *kinds: str) -> None:
        """show KIND... | show all  -- echo only trace events of these kinds"""
        if kinds == ("all",):
            self.kinds = None
            return
        if not kinds:
            raise ValueError(f"name the kinds to show, or 'all'; kinds are {', '.join(KINDS)}")
        unknown = [k for k in kinds if k not in KINDS]
        if unknown:
            raise ValueError(f"unknown event kind {unknown[0]!r}; kinds are {', '.join(KINDS)}")
        self.kinds = tuple(kinds)

    def cmd_cluster(self, protocol: str, n: int | None = None, **options: Any) -> None:
        """cluster PROTOCOL [N] [seed=S] [OPTION=VALUE...]  -- a new simulation"""
        build = protocol_module(protocol).cluster
        self._start(build(**options) if n is None else build(n, **options), f"{protocol}.cluster")

    def cmd_scenario(self, name: str, *args: Any, **options: Any) -> list[str]:
        """scenario PROTOCOL.NAME [VALUE...] [OPTION=VALUE...]  -- a library scenario's run"""
        protocol, _, short = str(name).partition(".")
        module = protocol_module(protocol)
        function = getattr(module, f"scenario_{short}", None)
        if not short or not callable(function):
            known = sorted(f"{protocol}.{n[9:]}" for n in dir(module) if n.startswith("scenario_"))
            raise ValueError(f"unknown scenario {name!r}; {protocol}'s scenarios are "
                             f"{', '.join(known) or 'none'}")
        result = function(*args, **options)
        rest: tuple = ()
        if isinstance(result, tuple):
            result, *rest = result
        self._start(result, f"{name}")
        return [f"=> {value!r}" for value in rest]

    # -- time -----------------------------------------------------------------------------
    def cmd_run(self, **options: Any) -> None:
        """run [for=MS | until=TIME | events=N | until=CONDITION [OPTION=VALUE...]]"""
        sim = self.sim
        modes = [k for k in ("for", "until", "events") if k in options]
        if len(modes) > 1:
            raise ValueError(f"give one of for=, until=, events=, not {' and '.join(modes)}")
        until = options.get("until")
        if isinstance(until, str):
            self._run_until(options.pop("until"), options)
            return
        extra = sorted(set(options) - {"for", "until", "events"})
        if extra:
            raise ValueError(f"unknown option {extra[0]}=; usage: {usage('run')}")
        if "for" in options:
            sim.run_for(_number(options["for"], "for"))
        elif "until" in options:
            sim.run(until=_number(until, "until"))
        elif "events" in options:
            sim.run(max_events=options["events"])
        else:
            sim.run()

    def _run_until(self, name: str, options: dict[str, Any]) -> None:
        sim = self.sim
        make = CONDITIONS.get(name)
        if make is None:
            raise ValueError(f"unknown condition {name!r}; conditions are {', '.join(CONDITIONS)}")
        poll = options.pop("poll", None)
        within = options.pop("within", None)
        limit = options.pop("limit", None)
        try:
            inspect.signature(make).bind(sim, len(sim.trace), **options)
        except TypeError as exc:
            raise ValueError(f"condition {name!r}: {exc}") from None
        holds = make(sim, len(sim.trace), **options)
        if poll is None:
            if within is not None:
                raise ValueError("within= bounds a polled run: give poll=MS too, or limit=EVENTS")
            sim.run_until(holds, what=f"until={name}", **({} if limit is None else {"limit": limit}))
            return
        if limit is not None:
            raise ValueError("limit= counts events of a run without poll=; a polled run takes within=MS")
        poll = _number(poll, "poll")
        within = POLL_WITHIN_MS if within is None else _number(within, "within")
        if poll <= 0:
            raise ValueError(f"poll must be > 0 ms, got {poll}")
        start = sim.now
        while not holds(sim):
            if sim.now - start >= within:
                raise SimulationError(f"until={name} did not hold within {within:g} ms "
                                      f"(t={sim.now:.3f} ms)")
            sim.run_for(poll)

    def cmd_step(self, count: int = 1) -> None:
        """step [N]  -- deliver or fire the next N events"""
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError(f"step takes a positive number of events, got {count!r}")
        for _ in range(count):
            if self.sim.step() is None:
                break

    # -- faults ---------------------------------------------------------------------------
    def cmd_crash(self, node: Any) -> None:
        """crash NODE"""
        self.sim.crash(self._node(node))

    def cmd_recover(self, node: Any) -> None:
        """recover NODE"""
        self.sim.recover(self._node(node))

    def cmd_isolate(self, node: Any) -> None:
        """isolate NODE"""
        self.sim.isolate(self._node(node))

    def cmd_partition(self, *groups: Any) -> None:
        """partition GROUP GROUP...  (a group is (1,2,...) or one id)"""
        if len(groups) < 2:
            raise ValueError("a partition needs at least two groups, e.g. partition (1,2) (3,4,5)")
        self.sim.partition(*[g if isinstance(g, tuple) else (g,) for g in groups])

    def cmd_heal(self) -> None:
        """heal"""
        self.sim.heal()

    def cmd_cut_link(self, src: Any, dst: Any) -> None:
        """cut-link SRC DST"""
        self.sim.cut_link(self._node(src), self._node(dst))

    def cmd_restore_link(self, src: Any, dst: Any) -> None:
        """restore-link SRC DST"""
        self.sim.restore_link(self._node(src), self._node(dst))

    def cmd_set_loss(self, p: float, src: Any = None, dst: Any = None) -> None:
        """set-loss P [src=NODE] [dst=NODE]"""
        self.sim.set_loss(_number(p, "p"), *self._ends(src, dst))

    def cmd_set_duplication(self, p: float, src: Any = None, dst: Any = None) -> None:
        """set-duplication P [src=NODE] [dst=NODE]"""
        self.sim.set_duplication(_number(p, "p"), *self._ends(src, dst))

    def _ends(self, src: Any, dst: Any) -> tuple[int | None, int | None]:
        return tuple(None if end is None else self._node(end) for end in (src, dst))  # type: ignore

    # -- clients --------------------------------------------------------------------------
    def cmd_submit(self, value: Any) -> list[str]:
        """submit VALUE"""
        return self._call("submit", value)

    def cmd_campaign(self, node: Any) -> list[str]:
        """campaign NODE"""
        return self._call("campaign", self._node(node))

    def cmd_add_server(self, node: Any) -> list[str]:
        """add-server NODE"""
        return self._call("add_server", self._node(node))

    def cmd_remove_server(self, node: Any) -> list[str]:
        """remove-server NODE"""
        return self._call("remove_server", self._node(node))

    # -- questions ------------------------------------------------------------------------
    def cmd_check(self) -> list[str]:
        """check  -- ok, or the invariant the run broke"""
        try:
            self.sim.check()
        except InvariantViolation as exc:
            return [f"{type(exc).__name__}: {exc}"]
        return ["ok"]

    def cmd_leader(self) -> list[str]:
        """leader"""
        if not callable(getattr(self.sim, "leader", None)):
            raise ValueError(f"a {type(self.sim).__name__} has no leader()")
        return [f"leader: {self.sim.leader()!r}"]

    def cmd_committed(self, *nodes: Any) -> list[str]:
        """committed [NODE...]"""
        ids = [self._node(n) for n in nodes] or list(self.sim.node_ids)
        if not callable(getattr(self.sim, "committed", None)):
            raise ValueError(f"a {type(self.sim).__name__} has no committed()")
        return [f"{i}: {self.sim.committed(i)!r}" for i in ids]

    def cmd_status(self, *nodes: Any) -> list[str]:
        """status [NODE...]"""
        ids = [self._node(n) for n in nodes] or list(self.sim.node_ids)
        return [f"{i}: {self.sim.status(i).text}" + ("" if self.sim.is_up(i) else " (crashed)")
                for i in ids]

    def cmd_trace(self, kinds: Any = None, last: int | None = None, start: float | None = None,
                  end: float | None = None) -> list[str]:
        """trace [kinds=(KIND,...)] [last=N] [start=MS] [end=MS]  -- the whole trace so far"""
        if kinds is not None:
            kinds = kinds if isinstance(kinds, tuple) else (kinds,)
            unknown = [k for k in kinds if k not in KINDS]
            if unknown:
                raise ValueError(f"unknown event kind {unknown[0]!r}; kinds are {', '.join(KINDS)}")
        text = self.sim.trace.describe(kinds=kinds or self.kinds, last=last, start=start, end=end)
        return text.split("\n") if text else []


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number, got {value!r}")
    return value


#: Every command, by the name a transcript uses (``add-server`` is ``Interpreter.cmd_add_server``).
COMMANDS: dict[str, Callable[..., Any]] = {
    name[4:].replace("_", "-"): function
    for name, function in vars(Interpreter).items() if name.startswith("cmd_")
}


def usage(name: str) -> str:
    """The first line of a command's docstring: how to call it."""
    doc = inspect.getdoc(COMMANDS[name]) or name
    return doc.split("\n")[0]


__all__ = ["COMMANDS", "Command", "Interpreter", "POLL_WITHIN_MS", "protocol_module", "protocols", "usage"]

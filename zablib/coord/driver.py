"""Blocking client programs on a simulated clock: greenlets, switched only where a program waits.

A kazoo program is plain blocking code: ``zk.create(...)`` returns when the server has answered.
In the simulator nothing happens unless the simulation runs, so a call must *run the simulation*
until its answer arrives. With one program that is simple: the call steps the simulation itself.
With several (ten clients competing for one lock) each must wait for its own answer while the
others go on. Threads would do it, but their interleaving depends on the operating system, and a
run must repeat exactly from its seed. So each program runs in a **greenlet** (a coroutine with
its own stack, from the ``greenlet`` package, which gevent is built on): it runs until it makes a
blocking call, then *switches* to the driver, which steps the simulation until some waiting
program's answer is there and switches back to that program.

The rules, and why a run is deterministic:

* Exactly one greenlet runs at a time, and it gives up control only by waiting (a client call,
  ``handler.sleep_func``, an event's or lock's ``wait``). There is no preemption and no thread.
* The **hub** is the greenlet that steps the simulation: the caller of :meth:`Driver.run`, or a
  program's main line (a notebook cell, a test) that makes a blocking call while nobody else is
  stepping: it becomes the hub until its own answer arrives. A spawned program never steps the
  simulation; it waits and is woken.
* The simulation is stepped one event at a time. After each event the driver collects what the
  client nodes produced (answers, state changes, watch events, wake-ups, in the order the nodes
  produced them) and makes the woken greenlets *ready*, in that order; ready greenlets run, first
  in first out, each until it waits again, before the next event. New greenlets (:meth:`Driver.spawn`,
  watch callbacks, listeners) join the same queue.
* The events come from the simulation's seeded heap; everything the driver does depends only on
  them and on the programs. Same seed, same programs: same trace, byte for byte.

Callbacks run as kazoo runs them: each client's watch functions one after another in a greenlet of
their own (kazoo's single callback thread: a watch function that blocks delays the next one), each
state listener in a greenlet of its own (so that it may call the client). An exception in a callback
is logged and kept in :attr:`Driver.callback_errors`, as kazoo logs it; an exception in a program
ends the program and is raised by :meth:`Driver.run`.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from greenlet import GreenletExit, getcurrent, greenlet

from zablib.coord.connection import ClientNode, KazooTimeoutError, Sleep
from zablib.core import NodeId
from zablib.sim import Simulation, SimulationError

log = logging.getLogger(__name__)


class Waiter:
    """Something a greenlet can wait for: ``done`` once it happened."""

    __slots__ = ("done", "value", "waiter")

    def __init__(self) -> None:
        self.done = False
        self.value: Any = None
        self.waiter: Any = None


class Task:
    """A program running in a greenlet (see :meth:`Driver.spawn`).

    Attributes
    ----------
    name : str
        A name for messages.
    done : bool
        The program has returned or raised.
    value : object
        What it returned.
    error : BaseException or None
        What it raised.
    """

    def __init__(self, driver: Driver, name: str):
        self.driver = driver
        self.name = name
        self.done = False
        self.value: Any = None
        self.error: BaseException | None = None
        self.joiners: list[Waiter] = []
        self.reported = False

    def __repr__(self) -> str:
        state = "failed" if self.error is not None else "done" if self.done else "running"
        return f"Task({self.name}, {state})"

    def result(self, timeout: float | None = 60.0) -> Any:
        """Wait for the program to end (at most ``timeout`` simulated seconds) and return what
        it returned, or raise what it raised.

        Raises
        ------
        KazooTimeoutError
            If it has not ended in time.
        """
        if not self.done:
            waiter = Waiter()
            self.joiners.append(waiter)
            self.driver.block(waiter, f"the end of {self.name}",
                              None if timeout is None else timeout * 1000.0)
            if not self.done:
                raise KazooTimeoutError(f"{self.name} did not end within {timeout:g} s")
        self.reported = True
        if self.error is not None:
            raise self.error
        return self.value


class CallbackQueue:
    """One client's watch callbacks, run one after another (kazoo's callback thread)."""

    def __init__(self) -> None:
        self.items: deque[tuple[Callable, tuple]] = deque()
        self.running = False


class Driver:
    """Runs programs as greenlets against one simulation (see the module docstring).

    Parameters
    ----------
    sim : Simulation
        The simulation whose client nodes (:class:`~zablib.coord.connection.ClientNode`) the
        programs use.
    """

    def __init__(self, sim: Simulation):
        self.sim = sim
        self.ready: deque[Any] = deque()
        self.hub: Any = None
        self.clients: dict[NodeId, ClientNode] = {}
        self.listeners: dict[NodeId, Callable[[], Iterable[Callable]]] = {}
        self.callbacks: dict[NodeId, CallbackQueue] = {}
        self.remove_listener: dict[NodeId, Callable[[Callable], None]] = {}
        self.state_waiters: dict[NodeId, list[Waiter]] = {}
        self.tasks: list[Task] = []
        #: How many spawned tasks have not ended yet.
        self.unfinished = 0
        #: ``(client node, exception)`` for every watch function or listener that raised.
        self.callback_errors: list[tuple[NodeId, BaseException]] = []

    # -- clients ----------------------------------------------------------------------------------
    def attach(self, node: NodeId, listeners: Callable[[], Iterable[Callable]],
               remove_listener: Callable[[Callable], None]) -> None:
        """Serve client node ``node``: ``listeners()`` gives its state listeners at a change."""
        client = self.sim.nodes[node]
        if not isinstance(client, ClientNode):
            raise TypeError(f"node {node} is not a client node")
        self.clients[node] = client
        self.listeners[node] = listeners
        self.remove_listener[node] = remove_listener
        self.callbacks[node] = CallbackQueue()

    def request(self, node: NodeId, request: Any) -> None:
        """Hand ``request`` to client node ``node`` now (through the simulation, so the trace
        shows it), and pass on what it produced."""
        self.sim.request(node, request)
        self._dispatch(node)

    def call(self, node: NodeId, call: Any, what: str) -> Any:
        """Submit ``call`` (a :class:`~zablib.coord.connection.Call`) and wait for its outcome."""
        self.request(node, call)
        self.block(call, what)
        if call.error is not None:
            raise call.error
        return call.value

    def sleep(self, node: NodeId, seconds: float) -> None:
        """Wait ``seconds`` of simulated time (on ``node``'s clock: a paused client sleeps on)."""
        token = Waiter()
        self.request(node, Sleep(token, max(0.0, seconds) * 1000.0))
        self.block(token, "the end of a sleep")

    # -- waiting ----------------------------------------------------------------------------------
    def block(self, waitable: Any, what: str, timeout_ms: float | None = None) -> None:
        """Return once ``waitable.done`` (a :class:`Waiter`, a call, ...).

        From a program's greenlet: switch to the hub until woken. From anywhere else (a
        notebook cell, a test): become the hub and step the simulation until done, or until
        ``timeout_ms`` of simulated time passed (then return with ``waitable.done`` false).
        A program's wait with a timeout must be woken by a timer of its own (as
        :meth:`sleep` and the handler's events do).
        """
        if waitable.done:
            return
        current = getcurrent()
        if self.hub is None:
            self.hub = current
            try:
                until = None if timeout_ms is None else self.sim.now + timeout_ms
                self._drive(lambda: waitable.done, what, until)
            finally:
                self.hub = None
            return
        if current is self.hub:
            raise RuntimeError(f"waiting for {what} inside the driver's own loop (a callback "
                               "ran outside its greenlet)")
        while not waitable.done:
            waitable.waiter = current
            self.hub.switch()
        waitable.waiter = None

    def wake(self, waitable: Any) -> None:
        """Mark ``waitable`` done and make its waiting greenlet ready (once)."""
        waitable.done = True
        who = waitable.waiter
        if who is not None:
            waitable.waiter = None
            self.ready.append(who)

    def wait_until(self, node: NodeId, predicate: Callable[[], bool], what: str,
                   timeout_ms: float | None = None) -> bool:
        """Wait until ``predicate()`` holds, asking it again at each change of client ``node``'s
        connection state, for at most ``timeout_ms`` of simulated time; return ``predicate()``."""
        if predicate():
            return True
        if self.hub is None:
            self.hub = getcurrent()
            try:
                until = None if timeout_ms is None else self.sim.now + timeout_ms
                self._drive(predicate, what, until)
            finally:
                self.hub = None
            return predicate()
        current = getcurrent()
        deadline = None if timeout_ms is None else self.sim.now + timeout_ms
        waiter = Waiter()
        if timeout_ms is not None:
            self.request(node, Sleep(waiter, timeout_ms))
        waiting = self.state_waiters.setdefault(node, [])
        while not predicate() and (deadline is None or self.sim.now < deadline):
            waiter.done = False
            if waiter not in waiting:
                waiting.append(waiter)
            waiter.waiter = current
            self.hub.switch()
        waiter.done = True  # a late timer finds it done and leaves it alone
        if waiter in waiting:
            waiting.remove(waiter)
        return predicate()

    # -- running ----------------------------------------------------------------------------------
    def spawn(self, func: Callable, *args: Any, name: str | None = None, **kwargs: Any) -> Task:
        """Run ``func(*args, **kwargs)`` as a program in its own greenlet; it starts the next
        time the simulation runs."""
        task = Task(self, name or getattr(func, "__name__", "program"))

        def main() -> None:
            try:
                task.value = func(*args, **kwargs)
            except GreenletExit:
                raise
            except BaseException as error:  # noqa: BLE001 - handed to whoever asks the task
                task.error = error
            finally:
                task.done = True
                self.unfinished -= 1
                for waiter in task.joiners:
                    self.wake(waiter)

        self.tasks.append(task)
        self.unfinished += 1
        self.ready.append(greenlet(main))
        return task

    def run(self, until: float | None = None, done: Callable[[], bool] | None = None,
            what: str = "the programs") -> bool:
        """Step the simulation, running ready programs, until simulated time ``until`` or until
        ``done()`` holds (at least one of them must be given).

        Returns
        -------
        bool
            True if ``done()`` holds (False when ``until`` came first).

        Raises
        ------
        BaseException
            The error of the first program that failed (once).
        SimulationError
            If nothing is left to happen before the condition holds.
        """
        if until is None and done is None:
            raise ValueError("run() needs until= (a simulated time) or done= (a condition)")
        if self.hub is not None:
            raise RuntimeError("run() cannot be called from inside a program or callback; "
                               "programs only make client calls")
        self.hub = getcurrent()
        try:
            finished = self._drive(done or (lambda: False), what, until)
        finally:
            self.hub = None
        self.raise_failures()
        return finished

    def raise_failures(self) -> None:
        """Raise the error of the first failed program not reported yet."""
        for task in self.tasks:
            if task.error is not None and not task.reported:
                task.reported = True
                raise task.error

    def _drive(self, done: Callable[[], bool], what: str, until: float | None) -> bool:
        sim = self.sim
        run = sim.run
        while True:
            if self.ready:
                self._run_ready()
            if done():
                return True
            if until is not None:
                if sim.now >= until:
                    return False
                run(until=until, max_events=1)
            elif run(max_events=1) == 0:
                raise SimulationError(f"waiting for {what}: nothing left to happen "
                                      f"(t={sim.now:.3f} ms)")
            for node, client in self.clients.items():
                if client.completions:
                    self._dispatch(node)

    def _run_ready(self) -> None:
        hub = self.hub
        ready = self.ready
        while ready:
            who = ready.popleft()
            if who.dead:
                continue
            who.parent = hub
            who.switch()

    # -- what client nodes produced ------------------------------------------------------------------
    def _dispatch(self, node: NodeId) -> None:
        client = self.clients.get(node)
        if client is None or not client.completions:
            return
        items = list(client.completions)
        client.completions.clear()
        for item in items:
            kind = item[0]
            if kind == "call":
                self.wake(item[1])
            elif kind == "wake":
                if not item[1].done:
                    self.wake(item[1])
            elif kind == "watch":
                self._queue_callback(node, item[1], (item[2],))
            elif kind == "keeper":
                for waiter in self.state_waiters.pop(node, []):
                    self.wake(waiter)
            elif kind == "state":
                for listener in list(self.listeners[node]()):
                    self.ready.append(greenlet(self._listener_main(node, listener, item[1])))

    def _listener_main(self, node: NodeId, listener: Callable, state: str) -> Callable[[], None]:
        def main() -> None:
            try:
                if listener(state) is True:
                    self.remove_listener[node](listener)
            except GreenletExit:
                raise
            except Exception as error:  # noqa: BLE001 - kazoo logs a listener's error
                log.exception("Error in connection state listener")
                self.callback_errors.append((node, error))
        return main

    def _queue_callback(self, node: NodeId, func: Callable, args: tuple) -> None:
        queue = self.callbacks[node]
        queue.items.append((func, args))
        if not queue.running:
            queue.running = True
            self.ready.append(greenlet(self._worker_main(node, queue)))

    def _worker_main(self, node: NodeId, queue: CallbackQueue) -> Callable[[], None]:
        def main() -> None:
            try:
                while queue.items:
                    func, args = queue.items.popleft()
                    try:
                        func(*args)
                    except GreenletExit:
                        raise
                    except Exception as error:  # noqa: BLE001 - kazoo's worker logs and goes on
                        log.exception("Exception in worker queue thread")
                        self.callback_errors.append((node, error))
            finally:
                queue.running = False
        return main


# -- kazoo's handler interface, simulated -----------------------------------------------------------
class SimEvent:
    """``threading.Event`` for programs on the simulated clock (kazoo's ``event_object()``)."""

    def __init__(self, driver: Driver, node: NodeId):
        self.driver = driver
        self.node = node
        self.flag = False
        self.waiters: list[Waiter] = []

    def is_set(self) -> bool:
        """Whether the flag is set."""
        return self.flag

    isSet = is_set  # noqa: N815 - threading.Event's old name

    def set(self) -> None:
        """Set the flag and wake every waiter."""
        self.flag = True
        waiters, self.waiters = self.waiters, []
        for waiter in waiters:
            if not waiter.done:
                self.driver.wake(waiter)

    def clear(self) -> None:
        """Reset the flag."""
        self.flag = False

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the flag is set or ``timeout`` simulated seconds passed; return the flag."""
        if self.flag:
            return True
        waiter = Waiter()
        self.waiters.append(waiter)
        if timeout is not None:
            self.driver.request(self.node, Sleep(waiter, max(0.0, timeout) * 1000.0))
        self.driver.block(waiter, "an event")
        if waiter in self.waiters:
            self.waiters.remove(waiter)
        return self.flag


class SimLock:
    """``threading.Lock`` (or ``RLock`` with ``reentrant``) for programs on the simulated clock;
    waiters get the lock first come, first served."""

    def __init__(self, driver: Driver, node: NodeId, reentrant: bool = False):
        self.driver = driver
        self.node = node
        self.reentrant = reentrant
        self.owner: Any = None
        self.count = 0
        self.waiters: deque[Waiter] = deque()

    def locked(self) -> bool:
        """Whether someone holds the lock."""
        return self.count > 0

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        """Take the lock; wait (at most ``timeout`` simulated seconds, -1: no limit) if held."""
        me = getcurrent()
        if self.count and self.reentrant and self.owner is me:
            self.count += 1
            return True
        if not self.count:
            self.owner, self.count = me, 1
            return True
        if not blocking:
            return False
        waiter = Waiter()
        self.waiters.append(waiter)
        if timeout is not None and timeout >= 0:
            self.driver.request(self.node, Sleep(waiter, timeout * 1000.0))
        self.driver.block(waiter, "a lock")
        if waiter.value == "granted":
            self.owner = me
            return True
        if waiter in self.waiters:
            self.waiters.remove(waiter)
        return False

    def release(self) -> None:
        """Give the lock back (to the first waiter, if any)."""
        if not self.count:
            raise RuntimeError("release unlocked lock")
        self.count -= 1
        if self.count:
            return
        self.owner = None
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done:
                waiter.value = "granted"
                self.count = 1
                self.driver.wake(waiter)
                return

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()


class SimHandler:
    """kazoo's handler interface (``client.handler``) on the simulated clock.

    kazoo's recipes reach the client's handler for sleeping, spawning and waiting
    (``handler.sleep_func``, ``handler.spawn``, ``handler.event_object()``,
    ``handler.lock_object()``); here each of them is the driver's, so recipes written for kazoo
    run unchanged.
    """

    name = "zablib_simulated_handler"
    timeout_exception = KazooTimeoutError

    def __init__(self, driver: Driver, node: NodeId):
        self.driver = driver
        self.node = node

    def sleep_func(self, seconds: float) -> None:
        """Sleep ``seconds`` of simulated time."""
        self.driver.sleep(self.node, seconds)

    def spawn(self, func: Callable, *args: Any, **kwargs: Any) -> Task:
        """Run ``func`` in a greenlet of its own."""
        return self.driver.spawn(func, *args, **kwargs)

    def event_object(self) -> SimEvent:
        """A new :class:`SimEvent`."""
        return SimEvent(self.driver, self.node)

    def lock_object(self) -> SimLock:
        """A new :class:`SimLock`."""
        return SimLock(self.driver, self.node)

    def rlock_object(self) -> SimLock:
        """A new reentrant :class:`SimLock`."""
        return SimLock(self.driver, self.node, reentrant=True)

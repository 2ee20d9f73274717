"""Two backends for the recipe tests: the simulated ensemble and a real ZooKeeper, one interface.

A recipe test is written once and runs on both (the ``backend`` fixture of ``tests/conftest.py``
is parametrized ``["simulated", "real"]``)::

    def test_lock_excludes(backend):
        a, b = backend.client(), backend.client()          # started clients
        path = backend.path("lock")                        # a fresh path
        t = backend.spawn(program, a, name="a")            # t.result(timeout=s): value or raise
        backend.run()                                      # wait for every spawned program
        backend.sleep(0.5)                                 # seconds of the backend's clock
        backend.wait_until(lambda: ..., timeout=5, what="...")
        backend.crash_client(a)                            # faults: see each method
        backend.pause_client(a, seconds)
        backend.expire_session(a)
        backend.isolate_leader(); backend.heal()

:class:`SimulatedBackend`: one :class:`zablib.coord.Ensemble` of three servers with a fixed seed
per test, so a run repeats exactly; programs are greenlets on simulated time (one "second" is
1000 simulated ms; a session lasts 0.4 s). :class:`RealBackend`: the real three-server ZooKeeper
of ``tests/zookeeper.py`` (shared by the tests of a process), a fresh root znode per test,
programs in threads, and each client behind its own :class:`zk_proxy.ZkProxy` so that a crash
and a pause are real network effects; sessions of 1.5 s. Every client, proxy and stopped server
is cleaned up when the test ends (:meth:`Backend.close`).

Times are in seconds of the backend's clock on both. Write waits in units of
``backend.session_timeout`` (and ``backend.tick``, the servers' tick; ``backend.slack``, the
noise a timing bound must allow) rather than constants. Beyond the contract of
``/tmp/helpers/RECIPES.md``: ``backend.errors`` (the clients' exception module),
``backend.servers``, ``client(server=i)`` (a client of one server only, for stale reads),
``leader()``, ``serving()``, ``check()`` (the simulated service's invariants).

Where the two differ, and why the tests may still assert the same:

* **pause**: the simulated client node is frozen, timers included: nothing happens on it until
  the pause ends. A real kazoo client cannot be frozen, so its proxy holds its traffic and
  refuses its new connections instead; kazoo's own threads notice the silence after its read
  timeout (2/3 of the session), go ``SUSPENDED`` and fail pending calls with ``ConnectionLoss``
  during the pause. On both, nothing reaches a server, a pause longer than the session expires
  it, and the client hears ``LOST`` only after the pause.
* **isolate_leader**: the simulated leader is partitioned away but keeps running (it stops
  serving once it misses its quorum); the real one's JVM is stopped (a partition would need root).
  On both the others elect a new leader and serve, and heal brings the old one back as a follower.
* **crash_client**: the simulated client node stays isolated and keeps trying: its programs' calls
  fail with ``ConnectionLoss`` when it notices (2/3 of the session), later ones with
  ``KazooTimeoutError`` after its ``call_timeout`` (10 s). The real kazoo client is stopped behind
  its cut proxy, so its calls fail with ``ConnectionClosedError`` at once. Either way a crashed
  client's programs end with an error from its client; its listeners hear nothing more.
"""

from __future__ import annotations

import itertools
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest
from zk_proxy import ZkProxy

SIM_SEED = 7
"""The seed of every simulated backend the fixture makes (a test may build its own with another)."""

SIM_SESSION_TIMEOUT = 0.4
"""Session timeout of the simulated clients, in simulated seconds (the longest a server grants)."""

REAL_SESSION_TIMEOUT = 1.5
"""Session timeout of the real clients, in seconds: short, so fault tests wait little, but three
pings' worth (kazoo pings every third of it) above the scheduling noise of a loaded 2-core box."""

RUN_TIMEOUT = 30.0
"""How long ``run()`` waits for the programs by default, in the backend's seconds."""


class LeftRunningWarning(UserWarning):
    """A real backend's program thread was still running after its test had ended."""


class WaitTimeout(AssertionError):
    """A ``wait_until`` condition did not hold in time (a test failure, with what was awaited)."""


class Backend:
    """What both backends offer (see the module docstring); subclasses fill in the clock and faults.

    Attributes
    ----------
    name : str
        ``"simulated"`` or ``"real"``.
    servers : tuple of int
        The server ids (1, 2, 3).
    session_timeout : float
        Seconds: the session timeout of the clients ``client()`` makes.
    tick : float
        Seconds: the servers' tickTime (sessions expire on tick boundaries).
    poll : float
        Seconds between two looks of ``wait_until``.
    slack : float
        Seconds a timing bound of a test may add for the backend's noise (network, scheduling).
    """

    name = "backend"
    servers: tuple[int, ...] = ()
    session_timeout = 1.0
    tick = 0.1
    poll = 0.01
    slack = 0.0
    root = ""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} t={self.now():.3f} s>"

    # -- clients and paths --------------------------------------------------------------------------
    def client(self, timeout: float | None = None, server: int | None = None) -> Any:
        """A new, started, kazoo-compatible client.

        Parameters
        ----------
        timeout : float, optional
            Its session timeout (default :attr:`session_timeout`).
        server : int, optional
            Talk to this server only (one of :attr:`servers`), e.g. to read from a lagging one.
            By default a client may use any server (simulated: in a seeded random order, as
            kazoo's ``randomize_hosts``; real: each new client starts at the next server).
        """
        raise NotImplementedError

    def path(self, name: str) -> str:
        """The znode path ``<root>/<name>``: this test's own (simulated: root ``""``, the tree is
        the test's; real: a fresh root znode, created). The same name gives the same path."""
        name = name.strip("/")
        if not name:
            raise ValueError("path() needs a non-empty name")
        return f"{self.root}/{name}"

    @property
    def errors(self) -> ModuleType:
        """The module of the exception classes this backend's clients raise."""
        raise NotImplementedError

    # -- programs and time --------------------------------------------------------------------------
    def spawn(self, program: Callable, *args: Any, name: str | None = None, **kwargs: Any) -> Any:
        """Run ``program(*args, **kwargs)`` concurrently; returns a handle with
        ``result(timeout)`` (its value, or what it raised) and ``done``."""
        raise NotImplementedError

    def run(self, timeout: float = RUN_TIMEOUT) -> None:
        """Wait until every spawned program has ended; raise the first error not yet reported,
        or an error naming the programs still running after ``timeout`` seconds."""
        raise NotImplementedError

    def sleep(self, seconds: float) -> None:
        """Let ``seconds`` of the backend's clock pass (programs run meanwhile)."""
        raise NotImplementedError

    def now(self) -> float:
        """The backend's clock, in seconds."""
        raise NotImplementedError

    def event(self) -> Any:
        """A new ``threading.Event``-like object for coordinating programs and the test."""
        raise NotImplementedError

    def wait_until(self, condition: Callable[[], Any], timeout: float = 5.0,
                   what: str = "the condition") -> Any:
        """Look at ``condition()`` every :attr:`poll` seconds until it is true; return its value.

        ``condition`` may call clients. Raises :class:`WaitTimeout` (an AssertionError) naming
        ``what`` if it is still false after ``timeout`` seconds of the backend's clock.
        """
        deadline = self.now() + timeout
        while True:
            value = condition()
            if value:
                return value
            if self.now() >= deadline:
                raise WaitTimeout(f"{self.name} backend: {what} did not happen within {timeout:g} s")
            self.sleep(self.poll)

    # -- faults -------------------------------------------------------------------------------------
    def crash_client(self, client: Any) -> None:
        """The client's process dies: no more traffic either way, for good. Its session is not
        closed: the servers expire it after the session timeout (its ephemerals go then). Its
        state listeners are removed (a dead process runs no code); its programs' calls fail
        (see the module docstring), so they end and :meth:`run` does not wait for them forever."""
        raise NotImplementedError

    def pause_client(self, client: Any, seconds: float) -> None:
        """A GC pause, starting now and lasting ``seconds``: the client sends nothing (no pings:
        a pause longer than its session lets the servers expire it) and hears nothing; then it
        resumes and handles what was held. Returns at once."""
        raise NotImplementedError

    def expire_session(self, client: Any, wait: bool = True) -> None:
        """The servers end ``client``'s session now (its ephemerals are deleted).

        kazoo's trick on both backends: a second client resumes the session (same id and
        password) and closes it. With ``wait`` (and a client that has not crashed) return only
        once ``client`` has heard ``LOST``; it then goes on with a new session, as kazoo does.
        """
        raise NotImplementedError

    def isolate_leader(self, wait: bool = True) -> int:
        """Cut the ensemble's leader off from everyone (simulated: a partition; real: its JVM is
        stopped). With ``wait``, return once the other servers have a new leader. Returns the old
        leader's id. :meth:`heal` undoes it."""
        raise NotImplementedError

    def heal(self) -> None:
        """Undo :meth:`isolate_leader` and wait until every server serves again. Crashed clients
        stay crashed."""
        raise NotImplementedError

    def leader(self) -> int | None:
        """The id of the server leading now, or None."""
        raise NotImplementedError

    def serving(self) -> list[int]:
        """The ids of the servers that serve clients now, ascending."""
        raise NotImplementedError

    def check(self) -> None:
        """Check the service's invariants where the backend can (simulated: ``ens.check()``)."""

    def close(self) -> None:
        """Release everything the test made (called by the fixture when the test ends)."""

    # -- helpers ------------------------------------------------------------------------------------
    def _lost_flag(self, client: Any) -> Callable[[], bool]:
        """Listen on ``client`` for ``LOST``; return a function telling whether it came."""
        heard: list[str] = []

        def listener(state: str) -> bool:
            if state == "LOST":
                heard.append(state)
                return True  # kazoo removes a listener that returns True
            return False

        client.add_listener(listener)
        return lambda: bool(heard)


# -- the simulated ensemble ---------------------------------------------------------------------------
class SimulatedBackend(Backend):
    """The recipes on :class:`zablib.coord.Ensemble`: deterministic, on simulated time.

    Parameters
    ----------
    seed : int
        The ensemble's seed.
    n : int
        Number of servers.
    session_timeout : float
        Session timeout of the clients, in simulated seconds (0.04 .. 0.4).
    max_clients : int
        Client slots (one is the backend's clock, one more per ``expire_session``).

    Attributes
    ----------
    ens : zablib.coord.Ensemble
        The ensemble: for a test that wants to look inside (``ens.sim.trace``, ``ens.tree(i)``).
    """

    name = "simulated"
    poll = 0.005
    slack = 0.05

    def __init__(self, seed: int = SIM_SEED, n: int = 3, session_timeout: float = SIM_SESSION_TIMEOUT,
                 max_clients: int = 32) -> None:
        from zablib.coord import Ensemble
        from zablib.coord.server import TICK_MS

        self.ens = Ensemble(n, seed=seed, max_clients=max_clients)
        self.servers = self.ens.servers
        self.session_timeout = session_timeout
        self.tick = TICK_MS / 1000.0
        # A client slot that is never started: the timer behind sleep() and event() (a sleeping
        # program needs a client node's clock; a test client's could be paused).
        self.clock = self.ens.client()
        self.crashed: set[int] = set()
        self.isolated_leader: int | None = None

    @property
    def errors(self) -> ModuleType:
        import zablib.coord.errors as errors

        return errors

    def client(self, timeout: float | None = None, server: int | None = None) -> Any:
        zk = self.ens.client(hosts=server, timeout=self.session_timeout if timeout is None else timeout)
        zk.start()
        return zk

    def spawn(self, program: Callable, *args: Any, name: str | None = None, **kwargs: Any) -> Any:
        return self.ens.spawn(program, *args, name=name, **kwargs)

    def run(self, timeout: float = RUN_TIMEOUT) -> None:
        self.ens.run(limit=timeout * 1000.0)

    def sleep(self, seconds: float) -> None:
        self.clock.handler.sleep_func(seconds)

    def now(self) -> float:
        return self.ens.now / 1000.0

    def event(self) -> Any:
        return self.clock.handler.event_object()

    def crash_client(self, client: Any) -> None:
        """Isolate the client from every server, for good (:meth:`heal` keeps it isolated)."""
        self.crashed.add(client.node_id)
        _forget_listeners(client)
        self.ens.isolate_client(client)

    def pause_client(self, client: Any, seconds: float) -> None:
        """``Ensemble.pause_client``: the client node is frozen, timers included."""
        self.ens.pause_client(client, seconds * 1000.0)

    def expire_session(self, client: Any, wait: bool = True) -> None:
        # The session as the client node holds it: kazoo's client_id is None while disconnected.
        node = self.ens.sim.nodes[client.node_id]
        if node.session_id is None:
            raise ValueError(f"{client!r} has no session to expire")
        lost = self._lost_flag(client)
        # The second client talks to another server than the client's own, so that the close
        # reaches the client as ZooKeeper's does: its server drops the connection of the
        # closed session, the client reconnects and hears that the session has expired.
        others = [s for s in self.ens.servers if s != node.server] or None
        ghost = self.ens.client(hosts=others, timeout=self.session_timeout,
                                client_id=(node.session_id, node.passwd))
        ghost.start()
        ghost.stop()
        if wait and client.node_id not in self.crashed:
            self.wait_until(lost, timeout=20 * self.session_timeout,
                            what=f"{client!r} hearing that its session expired")

    def isolate_leader(self, wait: bool = True) -> int:
        """Partition the leader alone; every client that has not crashed stays with the others
        (so it reconnects there and keeps its session)."""
        old = self.wait_until(self.ens.leader, timeout=10.0, what="a leader")
        majority = {s for s in self.ens.servers if s != old}
        majority |= {c for c in self.ens.clients if c not in self.crashed}
        # The majority first: clients made later (their slots are placed now) land there too.
        self.ens.partition(majority, {old})
        self.isolated_leader = old
        if wait:
            self.wait_until(lambda: self.ens.leader() not in (None, old), timeout=10.0,
                            what=f"a new leader once server {old} is cut off")
        return old

    def heal(self) -> None:
        self.ens.heal()
        for node in sorted(self.crashed):  # heal() ends client isolations too: crashes stay
            self.ens.isolate_client(node)
        self.isolated_leader = None
        self.wait_until(lambda: self.ens.leader() is not None
                        and self.serving() == list(self.ens.servers),
                        timeout=10.0, what="every server serving again")

    def leader(self) -> int | None:
        return self.ens.leader()

    def serving(self) -> list[int]:
        return [s for s in self.ens.servers if self.ens.server(s).serving is not None]

    def check(self) -> None:
        self.ens.check()


# -- the real ZooKeeper -------------------------------------------------------------------------------
class ThreadTask:
    """A program running in a daemon thread (what :meth:`RealBackend.spawn` returns).

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

    def __init__(self, program: Callable, args: tuple, kwargs: dict, name: str) -> None:
        self.name = name
        self.done = False
        self.value: Any = None
        self.error: BaseException | None = None
        self.reported = False
        self.thread = threading.Thread(target=self._main, args=(program, args, kwargs),
                                       name=f"program {name}", daemon=True)

    def __repr__(self) -> str:
        state = "failed" if self.error is not None else "done" if self.done else "running"
        return f"ThreadTask({self.name}, {state})"

    def _main(self, program: Callable, args: tuple, kwargs: dict) -> None:
        try:
            self.value = program(*args, **kwargs)
        except BaseException as error:  # noqa: BLE001 - handed to whoever asks the task
            self.error = error
        finally:
            self.done = True

    def result(self, timeout: float | None = 60.0) -> Any:
        """Wait at most ``timeout`` seconds for the program; return its value or raise its error.

        Raises
        ------
        TimeoutError
            If it is still running.
        """
        self.thread.join(timeout)
        if self.thread.is_alive():
            raise TimeoutError(f"{self.name} did not end within {timeout:g} s")
        self.reported = True
        if self.error is not None:
            raise self.error
        return self.value


class RealBackend(Backend):
    """The recipes on a real ZooKeeper (``tests/zookeeper.py``'s :class:`RealEnsemble`).

    Parameters
    ----------
    ensemble : RealEnsemble
        The running ensemble (the ``real_zookeeper`` fixture's).
    session_timeout : float
        Session timeout of the clients, in seconds (the servers grant 0.4 .. 60).

    Attributes
    ----------
    root : str
        This test's own root znode (created at once).
    """

    name = "real"
    poll = 0.02
    slack = 1.0

    def __init__(self, ensemble: Any, session_timeout: float = REAL_SESSION_TIMEOUT) -> None:
        from zookeeper import TICK_MS

        self.ensemble = ensemble
        self.session_timeout = session_timeout
        self.tick = TICK_MS / 1000.0
        self.servers = tuple(ensemble.servers)
        self.addresses = [ensemble.address(s) for s in self.servers]
        self.turn = itertools.count()
        self.started = time.monotonic()
        self.proxies: list[tuple[Any, ZkProxy]] = []
        self.tasks: list[ThreadTask] = []
        self.crashed: list[Any] = []
        self.down: set[int] = set()
        self.events: list[threading.Event] = []
        self.heal_ensemble()  # a test before us may have left a server down
        self.admin = self._direct_client()
        self.root = ensemble.fresh_root("recipes")
        self.admin.ensure_path(self.root)

    @property
    def errors(self) -> ModuleType:
        import kazoo.exceptions

        return kazoo.exceptions

    def _options(self, timeout: float) -> dict[str, Any]:
        # Reconnection retries capped at 0.5 s (kazoo's default cap is an hour): a client that
        # comes back from a pause or a failover reconnects within its session, and stop() ends
        # a reconnecting client quickly.
        return dict(timeout=timeout,
                    connection_retry=dict(max_tries=-1, delay=0.05, backoff=2, max_delay=0.5))

    def _direct_client(self) -> Any:
        from kazoo.client import KazooClient

        zk = KazooClient(hosts=self.ensemble.hosts, **self._options(max(self.session_timeout, 10.0)))
        zk.start(timeout=30)
        return zk

    def client(self, timeout: float | None = None, server: int | None = None) -> Any:
        from kazoo.client import KazooClient

        if server is None:
            proxy = ZkProxy(self.addresses, first=next(self.turn) % len(self.addresses))
        elif server in self.servers:
            proxy = ZkProxy([self.ensemble.address(server)])
        else:
            raise ValueError(f"server must be one of {self.servers}, got {server!r}")
        zk = KazooClient(hosts=proxy.address,
                         **self._options(self.session_timeout if timeout is None else timeout))
        self.proxies.append((zk, proxy))
        zk.start(timeout=30)
        return zk

    def proxy(self, client: Any) -> ZkProxy:
        """The proxy in front of ``client``."""
        for zk, proxy in self.proxies:
            if zk is client:
                return proxy
        raise ValueError(f"{client!r} is not a client of this backend")

    def spawn(self, program: Callable, *args: Any, name: str | None = None, **kwargs: Any) -> ThreadTask:
        task = ThreadTask(program, args, kwargs, name or getattr(program, "__name__", "program"))
        self.tasks.append(task)
        task.thread.start()
        return task

    def run(self, timeout: float = RUN_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        for task in self.tasks:
            task.thread.join(max(0.0, deadline - time.monotonic()))
        for task in self.tasks:
            if task.error is not None and not task.reported:
                task.reported = True
                raise task.error
        running = [t.name for t in self.tasks if not t.done]
        if running:
            raise RuntimeError(f"programs still running after {timeout:g} s: {', '.join(running)}")

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))

    def now(self) -> float:
        return time.monotonic() - self.started

    def event(self) -> threading.Event:
        event = threading.Event()
        self.events.append(event)  # set when the test ends, so that no program waits on it for ever
        return event

    def crash_client(self, client: Any) -> None:
        """Cut the client's proxy (its connections close, new ones are refused, for good), then
        stop the kazoo client in the background: its goodbye cannot pass the cut proxy, so the
        session stays open at the servers, but its calls now fail with ConnectionClosedError
        instead of waiting for ever for a reconnection."""
        self.proxy(client).cut()
        self.crashed.append(client)
        _forget_listeners(client)
        threading.Thread(target=_stop_quietly, args=(client,), name="crashed client stop",
                         daemon=True).start()

    def pause_client(self, client: Any, seconds: float) -> None:
        """Pause the client's proxy (see ``tests/zk_proxy.py``: traffic held both ways, new
        connections refused; kazoo's own threads notice the silence and wait to reconnect)."""
        self.proxy(client).pause(seconds)

    def expire_session(self, client: Any, wait: bool = True) -> None:
        from kazoo.client import KazooClient

        client_id = client.client_id
        if client_id is None:
            raise ValueError(f"{client!r} has no session to expire")
        lost = self._lost_flag(client)
        # Straight to the servers, not through the client's proxy (which may be cut or paused).
        # Closing the session closes its connection on every server: the client reconnects and
        # hears that its session has expired.
        ghost = KazooClient(hosts=self.ensemble.hosts, client_id=client_id,
                            **self._options(self.session_timeout))
        ghost.start(timeout=30)
        try:
            ghost.stop()
        finally:
            ghost.close()
        if wait and all(client is not c for c in self.crashed):
            self.wait_until(lost, timeout=20 * self.session_timeout + 10,
                            what=f"{client!r} hearing that its session expired")

    def isolate_leader(self, wait: bool = True) -> int:
        """Stop the leader's JVM (SIGTERM); the clients' proxies then reach only the others."""
        old = self.wait_until(self.ensemble.leader, timeout=30.0, what="a leader")
        self.down.add(old)
        self.ensemble.stop(old)
        if wait:
            self.ensemble.wait_ready(timeout=60.0)
        return old

    def heal(self) -> None:
        self.heal_ensemble()

    def heal_ensemble(self) -> None:
        """Start every server that is not running and wait until the ensemble is ready."""
        if any(not self.ensemble.is_running(s) for s in self.ensemble.servers):
            self.ensemble.start(timeout=90.0)
        self.down.clear()

    def leader(self) -> int | None:
        return self.ensemble.leader()

    def serving(self) -> list[int]:
        return [s for s in self.ensemble.servers if self.ensemble.mode(s) in ("leader", "follower")]

    def close(self) -> None:
        """Stop every client (in parallel, bounded), close every proxy, start any server a test
        stopped. Programs still running then fail on their closed clients and end; those waiting
        on an :meth:`event` are woken. A program still running after that is named in a warning
        (its daemon thread is left behind)."""
        for _, proxy in self.proxies:
            proxy.resume()  # a pause still running would hold each goodbye until it ends
        clients = [zk for zk, _ in self.proxies] + [self.admin]
        stoppers = [threading.Thread(target=_stop_quietly, args=(zk,), daemon=True) for zk in clients]
        for t in stoppers:
            t.start()
        deadline = time.monotonic() + 15.0
        for t in stoppers:
            t.join(max(0.0, deadline - time.monotonic()))
        for _, proxy in self.proxies:
            proxy.close()
        self.heal_ensemble()
        for event in self.events:
            event.set()
        deadline = time.monotonic() + 2.0
        for task in self.tasks:
            task.thread.join(max(0.0, deadline - time.monotonic()))
        left = [task.name for task in self.tasks if task.thread.is_alive()]
        if left:
            warnings.warn(f"programs still running when the test ended: {', '.join(left)}",
                          LeftRunningWarning, stacklevel=2)


def _forget_listeners(client: Any) -> None:
    for listener in list(client.state_listeners):
        client.remove_listener(listener)


def _stop_quietly(zk: Any) -> None:
    try:
        zk.stop()
        zk.close()
    except Exception:  # noqa: BLE001 - cleaning up after a test: a client may be half broken
        pass


# -- the fixture's body ---------------------------------------------------------------------------------
def backend_for(request: pytest.FixtureRequest) -> Iterator[Backend]:
    """Make the backend ``request.param`` names, yield it, close it (the ``backend`` fixture).

    The real one asks for the session fixture ``real_zookeeper`` only then, so a run of the
    simulated tests alone never starts a JVM; it skips (or fails under CI=true) without ZooKeeper.
    """
    if request.param == "simulated":
        backend: Backend = SimulatedBackend()
    elif request.param == "real":
        backend = RealBackend(request.getfixturevalue("real_zookeeper"))
    else:
        raise ValueError(f"unknown backend {request.param!r}; use 'simulated' or 'real'")
    try:
        yield backend
    finally:
        backend.close()


# -- timing bounds the recipe tests share ---------------------------------------------------------
def expiry_bound(backend) -> float:
    """How long a crashed client's ephemeral znode stays listed at most, in seconds: its session
    timeout, then the servers' expiry check (sessions expire on the first tick boundary after
    their timeout: one tick; a second for the client's last ping landing just after one), the
    close-session commit, the watch and the watcher's read (0.1 s), and the backend's noise."""
    return backend.session_timeout + 2 * backend.tick + 0.1 + backend.slack


def listed_at_least(backend) -> float:
    """How long a crashed client's ephemeral znode stays listed at least, in seconds: kazoo pings
    after a third of the session timeout of silence, so the servers last heard of it at most that
    long before the crash, and expire it a session timeout later (on a tick boundary)."""
    return backend.session_timeout * 2 / 3 - backend.tick


def rejoin_bound(backend) -> float:
    """How long after hearing LOST a client has its ephemeral znode again (re-registered, rejoined),
    in seconds: kazoo reconnects at once with a new session (a round of connection attempts, at most a session
    timeout), then one create, plus the backend's noise."""
    return backend.session_timeout + 0.1 + backend.slack

"""Chapter 3's runs: each scenario of a coordination service, run on the simulated ensemble, as data.

Every function here builds a fresh :class:`~zablib.coord.ensemble.Ensemble` from its seed, runs one of the
recipes of :mod:`zablib.recipes` on it with kazoo-compatible clients, breaks it the way its
parameters say (a provider crashes, a lock holder pauses, a listener is cut off ...) and returns a
dataclass of plain results: what each client saw, how long something took, in simulated
milliseconds. The same parameters give the same results, byte for byte (the ensemble's seed fixes
every delay).

Each result also keeps the ensemble (``run.ens``) and what a picture of the run needs: a label for
each client lane (``run.names``), the intervals and moments worth marking (``run.spans``,
``run.marks``, ``run.moments``), and the life of every znode (:meth:`CoordRun.lives`, read from
the trace by :func:`znode_lives`). :mod:`zablib.viz` draws them (``viz.client_lanes(run)``, the
space-time diagram with the clients as lanes; ``viz.znode_tree(run)``, the tree over time);
:class:`zablib.widgets.ScenarioPanel` turns its controls into the arguments of these functions.

The runs, in the order of chapter 3:

==========================  ==================================================================
:func:`config_run`          configuration publish/subscribe: which values each subscriber saw
:func:`balance_run`         client-side load balancing over the registered providers
:func:`registry_run`        service discovery: how long a dead provider stays listed
:func:`barrier_run`         a barrier, and a coordinator that never lifts it
:func:`double_barrier_run`  a double barrier: enter together, leave together
:func:`notify_run`          event notification, and a watch across a disconnection
:func:`membership_run`      cluster membership as a master sees it
:func:`election_run`        leader election: the herd effect, and two clients who both lead
:func:`lock_pause_run`      a lock holder paused past its session, and the fencing token
:func:`queue_run`           a queue: each item taken exactly once, under faults
:func:`reads_run`           plain reads and ``sync`` then read, checked for linearizability
==========================  ==================================================================
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from zablib.coord import Ensemble, KazooClient
from zablib.coord.connection import KazooTimeoutError
from zablib.coord.errors import KazooException
from zablib.coord.measure import lagging_follower_lost
from zablib.coord.messages import ConnectResponse
from zablib.coord.server import zxid64
from zablib.coord.tree import DataTree
from zablib.coord.txn import MultiRequest
from zablib.core import NodeId

__all__ = [
    "QUEUE_FAULTS", "CoordRun", "ZnodeLife", "znode_lives", "session_owners",
    "ConfigRun", "config_run", "BalanceRun", "balance_run", "RegistryRun", "registry_run",
    "NotifyRun", "notify_run", "MembershipRun", "membership_run", "BarrierRun", "barrier_run",
    "DoubleBarrierRun", "double_barrier_run", "ElectionRun", "election_run", "LockPauseRun",
    "lock_pause_run", "QueueRun", "queue_run", "ReadsRun", "reads_run",
]

# -- what every run keeps ----------------------------------------------------------------------
@dataclass(frozen=True)
class ZnodeLife:
    """One life of a znode: from its creation to its deletion.

    Attributes
    ----------
    path : str
        The znode's path.
    created : float
        When the first server applied its creation (simulated ms).
    deleted : float or None
        When the first server applied its deletion (None: it still exists).
    ephemeral : bool
        An ephemeral znode (deleted with its session).
    owner : str or None
        Who owns an ephemeral znode: the label of the client whose session created it (its node
        id when it has no label).
    """

    path: str
    created: float
    deleted: float | None
    ephemeral: bool
    owner: str | None


def znode_lives(ens: Ensemble, names: Mapping[NodeId, str] | None = None, *,
                under: str = "/") -> list[ZnodeLife]:
    """The life of every znode of a run, read from the trace of ``ens``.

    Every committed transaction is replayed once, in zxid order, on a fresh
    :class:`~zablib.coord.tree.DataTree`, at the moment the first server applied it (its
    ``deliver`` note); the tree's own ``created`` and ``deleted`` triggers say which znodes each
    transaction made and removed, closed sessions included.

    Parameters
    ----------
    ens : ~zablib.coord.ensemble.Ensemble
        The run.
    names : mapping of int to str, optional
        A label for some client nodes, used as the owners of their ephemeral znodes.
    under : str
        Keep only the znodes under this path (ZooKeeper's own ``/zookeeper`` nodes are never
        kept).

    Returns
    -------
    list of ZnodeLife
        In order of creation.
    """
    first: dict[int, tuple[float, Any]] = {}
    for e in ens.sim.trace.of_kind("note"):
        if e.tag == "deliver" and e.node in ens.servers:
            zxid, entry = e.value
            first.setdefault(zxid64(zxid), (e.time, entry))
    owner_of = session_owners(ens, names)
    tree = DataTree()
    alive: dict[str, ZnodeLife] = {}
    lives: list[ZnodeLife] = []
    prefix = under.rstrip("/") + "/"
    for zxid in sorted(first):
        time, entry = first[zxid]
        applied = tree.apply(entry.txn, zxid, entry.time)
        for path, kind in applied.triggers:
            if not path.startswith(prefix) or path.startswith("/zookeeper"):
                continue
            if kind == "created":
                stat = applied.tree.exists(path)
                owner = stat.ephemeralOwner if stat is not None else 0
                alive[path] = ZnodeLife(path, time, None, bool(owner),
                                        owner_of.get(owner, f"{owner:#x}") if owner else None)
                lives.append(alive[path])
            elif kind == "deleted" and path in alive:
                life = alive.pop(path)
                lives[lives.index(life)] = ZnodeLife(life.path, life.created, time, life.ephemeral,
                                                     life.owner)
        tree = applied.tree
    return lives


def session_owners(ens: Ensemble, names: Mapping[NodeId, str] | None = None) -> dict[int, str]:
    """Session id -> the label of the client node it was granted to (from the servers'
    ``ConnectResponse`` messages in the trace; the node id when it has no label)."""
    owners: dict[int, str] = {}
    for e in ens.sim.trace.of_kind("send"):
        if isinstance(e.message, ConnectResponse) and e.message.session_id:
            owners.setdefault(e.message.session_id, (names or {}).get(e.peer, str(e.peer)))
    return owners


@dataclass(kw_only=True)
class CoordRun:
    """What every scenario run keeps besides its results: the run itself, and its picture.

    Attributes
    ----------
    ens : ~zablib.coord.ensemble.Ensemble
        The simulated ensemble after the run (``ens.sim.trace`` is the whole run).
    names : dict of int to str
        A label for each client lane, e.g. ``{101: "101 publisher"}``.
    spans : list of (node, start, end, label)
        Intervals worth drawing on a client's lane (``viz.spacetime(spans=...)``).
    marks : list of (node, time, label)
        Moments worth marking on a lane (``viz.spacetime(marks=...)``).
    moments : list of (time, label)
        Moments of the whole run (``viz.tree_timeline(moments=...)``).
    start : float
        When the scenario itself began (the ensemble's election and the clients' first
        connections come before it): pictures start here.
    """

    ens: Ensemble
    names: dict[NodeId, str] = field(default_factory=dict)
    spans: list[tuple[NodeId, float, float | None, str]] = field(default_factory=list)
    marks: list[tuple[NodeId, float, str]] = field(default_factory=list)
    moments: list[tuple[float, str]] = field(default_factory=list)
    start: float = 0.0

    def lanes(self) -> tuple[NodeId, ...]:
        """The servers, then the clients that took part, in node order."""
        return tuple(self.ens.servers) + tuple(sorted(self.names))

    def lives(self, under: str = "/") -> list[ZnodeLife]:
        """The life of every znode under ``under`` (:func:`znode_lives`), owners labelled."""
        owners = {node: label.split(" ", 1)[-1] for node, label in self.names.items()}
        return znode_lives(self.ens, owners, under=under)


# -- helpers shared by the runs ------------------------------------------------------------------
def _clients(ens: Ensemble, roles: Iterable[str], *, timeout: float = 0.4) -> dict[str, KazooClient]:
    """One started client per role, all connected together; their lanes are named after them."""
    clients = {role: ens.client(timeout=timeout) for role in roles}
    for zk in clients.values():
        ens.spawn(zk.start, name="start")
    ens.run()
    return clients


def _names(clients: Mapping[str, KazooClient]) -> dict[NodeId, str]:
    return {zk.node_id: f"{zk.node_id} {role}" for role, zk in clients.items()}


def _follow(ens: Ensemble, read: Callable[[], Any], until: float,
            stop: Callable[[], bool] | None = None) -> list[tuple[float, Any]]:
    """Run ``ens`` until simulated time ``until`` (or until ``stop()`` holds), noting
    ``(time, read())`` at every change of ``read()``. ``read`` is asked after each event of the
    simulation: it makes no client call and leaves nothing in the trace."""
    seen = [(ens.now, read())]

    def changed() -> bool:
        return read() != seen[-1][1] or (stop is not None and stop())

    while ens.now < until:
        ens.driver.run(until=until, done=changed, what="a change")
        if read() != seen[-1][1]:
            seen.append((ens.now, read()))
        if stop is not None and stop():
            break
    return seen


def _intervals(changes: list[tuple[float, Any]], test: Callable[[Any], bool],
               end: float) -> list[tuple[float, float]]:
    """The intervals of time during which ``test(value)`` held, from a list of changes."""
    spans: list[tuple[float, float]] = []
    opened: float | None = None
    for t, value in changes:
        if test(value) and opened is None:
            opened = t
        elif not test(value) and opened is not None:
            spans.append((opened, t))
            opened = None
    if opened is not None:
        spans.append((opened, end))
    return spans


def _programs_done(ens: Ensemble) -> Callable[[], bool]:
    return lambda: not ens.driver.unfinished


def _first(changes: list[tuple[float, Any]], test: Callable[[Any], bool]) -> float | None:
    return next((t for t, value in changes if test(value)), None)


def _granted_ms(ens: Ensemble, zk: KazooClient) -> float:
    """The session timeout the ensemble last granted ``zk``, in ms (from its ConnectResponse)."""
    granted = [e.message.timeout_ms for e in ens.sim.trace.of_kind("send")
               if e.peer == zk.node_id and isinstance(e.message, ConnectResponse)
               and e.message.timeout_ms > 0]
    if not granted:
        raise ValueError(f"client {zk.node_id} was never granted a session")
    return float(granted[-1])


# -- 1. configuration publish/subscribe ----------------------------------------------------------
CONFIG_PATH = "/app/config"


@dataclass(kw_only=True)
class ConfigRun(CoordRun):
    """What :func:`config_run` measured.

    Attributes
    ----------
    published : list of (float, bytes)
        Each value the publisher wrote, with the time its write was answered.
    seen : dict of str to list of bytes
        Each subscriber's values, in the order it read them (the first is the value it found
        when it subscribed).
    skipped : dict of str to list of bytes
        The published values a subscriber never read.
    final : dict of str to bytes
        Each subscriber's value at the end.
    """

    published: list[tuple[float, bytes]]
    seen: dict[str, list[bytes]]
    skipped: dict[str, list[bytes]]
    final: dict[str, bytes | None]

    @property
    def converged(self) -> bool:
        """Every subscriber ends with the last value published."""
        return all(value == self.published[-1][1] for value in self.final.values())

    def summary(self) -> str:
        """The run in a few lines of text."""
        lines = ["published: " + " ".join(v.decode() for _, v in self.published)]
        for role, seen in self.seen.items():
            skipped = " ".join(v.decode() for v in self.skipped[role]) or "nothing"
            lines.append(f"{role} saw: {' '.join(v.decode() for v in seen)}   skipped: {skipped}")
        lines.append(f"converged on {self.published[-1][1].decode()}: {self.converged}")
        return "\n".join(lines)


def config_run(writes: int = 5, gap_ms: float = 100.0, *, subscribers: int = 2,
               pause_ms: float = 0.0, seed: int = 0) -> ConfigRun:
    """A publisher overwrites the configuration ``writes`` times; subscribers follow it.

    The publisher writes ``v1``, ``v2`` ... into ``/app/config`` (which holds ``v0`` when the
    subscribers start), waiting ``gap_ms`` after each write is answered. Each subscriber is a
    :class:`~zablib.recipes.config.ConfigSubscriber` (kazoo's ``DataWatch``: read, watch, read
    again when the watch fires). With ``pause_ms``, the first subscriber freezes (a long GC
    pause) just as the writes begin.

    Parameters
    ----------
    writes : int
        How many values to publish after ``v0``.
    gap_ms : float
        Pause between the answer to one write and the next write, in ms; 0 sends every write at
        once, without waiting for answers (they are pipelined on the publisher's connection and
        applied in the order sent).
    subscribers : int
        How many subscribers.
    pause_ms : float
        How long the first subscriber is frozen when the writes begin (0: not at all).
    seed : int
        The ensemble's seed.
    """
    from zablib.recipes.config import ConfigSubscriber, publish

    if writes < 1 or subscribers < 1 or gap_ms < 0 or pause_ms < 0:
        raise ValueError(f"need writes >= 1, subscribers >= 1, gap_ms >= 0 and pause_ms >= 0; got "
                         f"writes={writes}, subscribers={subscribers}, gap_ms={gap_ms}, pause_ms={pause_ms}")
    ens = Ensemble(3, seed=seed)
    roles = ["publisher"] + [f"sub{k}" for k in range(1, subscribers + 1)]
    clients = _clients(ens, roles)
    publisher = clients["publisher"]
    publish(publisher, CONFIG_PATH, b"v0")
    subs = {role: ConfigSubscriber(clients[role], CONFIG_PATH) for role in roles[1:]}
    run = ConfigRun(ens=ens, names=_names(clients), start=ens.now, published=[], seen={},
                    skipped={}, final={})
    if pause_ms:
        ens.pause_client(clients["sub1"], pause_ms)
        run.spans.append((clients["sub1"].node_id, ens.now, ens.now + pause_ms, "paused"))
    published: list[tuple[float, bytes]] = []

    def write(value: bytes) -> None:
        publish(publisher, CONFIG_PATH, value)
        published.append((ens.now, value))
        run.marks.append((publisher.node_id, ens.now, value.decode()))

    def publishing() -> None:
        for k in range(1, writes + 1):
            write(b"v%d" % k)
            if k < writes:
                publisher.handler.sleep_func(gap_ms / 1000)

    if gap_ms:
        ens.spawn(publishing, name="publisher")
    else:  # a burst: every write sent at once, pipelined on the publisher's one connection
        for k in range(1, writes + 1):
            ens.spawn(write, b"v%d" % k, name=f"write v{k}")
    ens.run()
    published.sort(key=lambda item: int(item[1][1:]))  # answers come back in the order sent
    last = published[-1][1]
    # Let every subscriber catch up (a paused one first wakes up).
    ens.driver.run(until=ens.now + max(pause_ms, 0.0) + 1000.0,
                   done=lambda: all(sub.value == last for sub in subs.values()), what="convergence")
    run.published = published
    run.seen = {role: list(sub.seen) for role, sub in subs.items()}
    run.skipped = {role: [v for _, v in published if v not in sub.seen] for role, sub in subs.items()}
    run.final = {role: sub.value for role, sub in subs.items()}
    return run


# -- 3. service registry and discovery -----------------------------------------------------------
SERVICE = "api"


@dataclass(kw_only=True)
class RegistryRun(CoordRun):
    """What :func:`registry_run` measured.

    Attributes
    ----------
    how : str
        How provider ``p1`` went away: ``"crash"``, ``"close"`` or ``"none"``.
    session_ms : float
        The session timeout the ensemble granted the providers.
    gone_at : float
        When ``p1`` went away (ms).
    unlisted_at : float or None
        When the consumer's :class:`~zablib.recipes.registry.ServiceWatcher` stopped listing it
        (None: it never did within the run).
    history : list of (float, list of str)
        Every provider list the consumer saw, with the time it saw it.
    """

    how: str
    session_ms: float
    gone_at: float
    unlisted_at: float | None
    history: list[tuple[float, list[str]]]

    @property
    def listed_for(self) -> float | None:
        """How long the consumer kept listing ``p1`` after it went away (ms)."""
        return None if self.unlisted_at is None else self.unlisted_at - self.gone_at

    def summary(self) -> str:
        """The run in a few lines of text."""
        lines = [f"{t:7.1f} ms  consumer lists {', '.join(p) or 'nobody'}" for t, p in self.history]
        if self.how != "none":
            listed = "until the end" if self.listed_for is None else f"{self.listed_for:.1f} ms"
            lines.append(f"p1 went away ({self.how}) at {self.gone_at:.1f} ms; still listed for {listed} "
                         f"(session timeout {self.session_ms:.0f} ms)")
        return "\n".join(lines)


def registry_run(how: str = "crash", *, session_timeout: float = 0.4, providers: int = 3,
                 seed: int = 0) -> RegistryRun:
    """Providers register under ``/services/api``; a consumer follows the list; ``p1`` goes away.

    Each provider ``p1``, ``p2`` ... registers its address (``10.0.0.k:8080``) with a
    :class:`~zablib.recipes.registry.ServiceRegistry` (an ephemeral sequential znode); the
    consumer follows the list with a :class:`~zablib.recipes.registry.ServiceWatcher`. Then
    ``p1`` goes away: ``"crash"`` (the process dies: it is cut off from every server for good and
    its session is never closed), ``"close"`` (it stops cleanly: ``client.stop()`` closes its
    session) or ``"none"``. The run ends two and a half session timeouts (and 100 ms) later.

    Parameters
    ----------
    how : {"crash", "close", "none"}
        How ``p1`` goes away.
    session_timeout : float
        The session timeout the providers ask for, in seconds (the ensemble grants 0.04..0.4).
    providers : int
        How many providers.
    seed : int
        The ensemble's seed.
    """
    from zablib.recipes.registry import ServiceRegistry, ServiceWatcher

    if how not in ("crash", "close", "none"):
        raise ValueError(f"how must be 'crash', 'close' or 'none', got {how!r}")
    if providers < 1:
        raise ValueError(f"need at least one provider, got {providers}")
    ens = Ensemble(3, seed=seed)
    roles = [f"p{k}" for k in range(1, providers + 1)]
    clients = _clients(ens, roles, timeout=session_timeout)
    clients.update(_clients(ens, ["consumer"]))
    for k, role in enumerate(roles, 1):
        ServiceRegistry(clients[role]).register(SERVICE, f"10.0.0.{k}:8080")
    watcher = ServiceWatcher(clients["consumer"], SERVICE)
    ens.run_for(100)
    names = _names(clients)
    gone_at = ens.now
    first = clients["p1"]
    if how == "crash":
        ens.isolate_client(first)
    elif how == "close":
        ens.spawn(first.stop, name="p1 stops")
    label = {"crash": "p1 crashes", "close": "p1 closes its session", "none": "nothing happens"}[how]
    history = _follow(ens, lambda: list(watcher.providers), gone_at + 2500.0 * session_timeout + 100.0)
    unlisted_at = _first(history, lambda listed: "10.0.0.1:8080" not in listed) if how != "none" else None
    run = RegistryRun(ens=ens, names=names, start=gone_at - 100.0, how=how,
                      session_ms=_granted_ms(ens, first), gone_at=gone_at, unlisted_at=unlisted_at,
                      history=history)
    run.moments.append((gone_at, label))
    run.marks.append((first.node_id, gone_at, label))
    if unlisted_at is not None:
        run.marks.append((clients["consumer"].node_id, unlisted_at, "p1 unlisted"))
        run.spans.append((clients["consumer"].node_id, gone_at, unlisted_at, "still lists p1"))
    return run


# -- 2. load balancing -----------------------------------------------------------------------------
@dataclass(kw_only=True)
class BalanceRun(CoordRun):
    """What :func:`balance_run` measured.

    Attributes
    ----------
    policy : str
        The balancer's policy.
    loads : dict of str to float
        The load each provider published (its address -> load).
    choices : list of (float, str)
        Each request's provider, with the time it was chosen.
    crashed_at : float or None
        When provider ``p1`` (``10.0.0.1:8080``) crashed, if it did.
    """

    policy: str
    loads: dict[str, float]
    choices: list[tuple[float, str]]
    crashed_at: float | None

    @property
    def counts(self) -> dict[str, int]:
        """How many requests went to each provider, by address."""
        counts = dict.fromkeys(sorted(self.loads), 0)
        for _, address in self.choices:
            counts[address] += 1
        return counts

    @property
    def to_the_dead(self) -> int:
        """Requests sent to ``p1`` after it crashed (nobody answers them)."""
        if self.crashed_at is None:
            return 0
        return sum(1 for t, address in self.choices if t >= self.crashed_at and address == "10.0.0.1:8080")

    def summary(self) -> str:
        """The run in a few lines of text."""
        counts = ", ".join(f"{a}: {n}" for a, n in self.counts.items())
        lines = [f"{self.policy}: {counts}"]
        if self.crashed_at is not None:
            lines.append(f"p1 crashed at {self.crashed_at:.1f} ms; requests sent to it afterwards: "
                         f"{self.to_the_dead}")
        return "\n".join(lines)


def balance_run(policy: str = "round_robin", *, requests: int = 30, gap_ms: float = 20.0,
                loads: tuple[float, ...] = (0.9, 0.2, 0.5), crash: bool = False,
                seed: int = 0) -> BalanceRun:
    """A consumer spreads requests over the registered providers with a load balancer.

    One provider per entry of ``loads`` registers ``10.0.0.k:8080`` with its load as the node's
    data; the consumer's :class:`~zablib.recipes.balancer.LoadBalancer` chooses a provider for
    each of ``requests`` requests, one every ``gap_ms``. With ``crash``, provider ``p1`` crashes
    after the first fifth of the requests: the balancer keeps choosing it until its session
    expires and the consumer's watch removes it.

    Parameters
    ----------
    policy : {"round_robin", "random", "least_loaded"}
        The balancer's policy.
    requests : int
        How many requests.
    gap_ms : float
        Time between two requests.
    loads : tuple of float
        The providers' loads (one provider each).
    crash : bool
        Crash provider ``p1`` along the way.
    seed : int
        The ensemble's seed (and the random policy's).
    """
    from zablib.recipes.balancer import LoadBalancer
    from zablib.recipes.registry import ServiceRegistry, ServiceWatcher

    if requests < 1 or gap_ms <= 0 or not loads:
        raise ValueError(f"need requests >= 1, gap_ms > 0 and at least one load; got requests={requests}, "
                         f"gap_ms={gap_ms}, loads={loads}")
    ens = Ensemble(3, seed=seed)
    roles = [f"p{k}" for k in range(1, len(loads) + 1)]
    clients = _clients(ens, roles + ["consumer"])
    addresses = {role: f"10.0.0.{k}:8080" for k, role in enumerate(roles, 1)}
    for role, load in zip(roles, loads, strict=True):
        ServiceRegistry(clients[role]).register(SERVICE, addresses[role], b"%g" % load)
    consumer = clients["consumer"]
    balancer = LoadBalancer(ServiceWatcher(consumer, SERVICE), SERVICE, policy=policy, seed=seed)
    run = BalanceRun(ens=ens, names=_names(clients), start=ens.now, policy=policy,
                     loads={addresses[r]: load for r, load in zip(roles, loads, strict=True)},
                     choices=[], crashed_at=None)

    def send_requests() -> None:
        for k in range(requests):
            if crash and k == requests // 5:
                ens.isolate_client(clients["p1"])
                run.crashed_at = ens.now
                run.marks.append((clients["p1"].node_id, ens.now, "p1 crashes"))
                run.moments.append((ens.now, "p1 crashes"))
            run.choices.append((ens.now, balancer.choose()))
            consumer.handler.sleep_func(gap_ms / 1000)

    ens.spawn(send_requests, name="consumer")
    ens.run()
    if run.crashed_at is not None:
        dead = [t for t, address in run.choices if t >= run.crashed_at and address == addresses["p1"]]
        if dead:
            run.spans.append((consumer.node_id, run.crashed_at, dead[-1], "sends to dead p1"))
    return run


# -- 5. event notification -------------------------------------------------------------------------
EVENTS_PATH = "/app/events"


@dataclass(kw_only=True)
class NotifyRun(CoordRun):
    """What :func:`notify_run` measured.

    Attributes
    ----------
    sent : list of (float, float, bytes)
        Each signal: when the notifier sent it, when its write was answered, its payload.
    received : list of (float, bytes)
        Each payload the listener read, with the time it read it (the first is the empty
        channel it found when it started).
    missed : int
        Signals the listener knows it never read (from the gaps between versions).
    raw : list of (float, str, str)
        What a plain one-time watch, set just before the disconnection, was told: time, event
        type, client state (``"CHANGED"``, ``"CONNECTED"`` for a change; ``"NONE"`` with the
        connection's state when kazoo drops the watch).
    states : list of (float, str)
        The listener client's state changes (``SUSPENDED``, ``CONNECTED``, ``LOST``).
    disconnected : tuple of (float, float) or None
        When the listener was cut off, and when it was reconnected to the network.
    """

    sent: list[tuple[float, float, bytes]]
    received: list[tuple[float, bytes]]
    missed: int
    raw: list[tuple[float, str, str]]
    states: list[tuple[float, str]]
    disconnected: tuple[float, float] | None

    @property
    def latencies(self) -> list[float]:
        """For each payload read, the time from its signal's sending to its reading (ms)."""
        when = {payload: t for t, _, payload in self.sent}
        return [t - when[payload] for t, payload in self.received if payload in when]

    def summary(self) -> str:
        """The run in a few lines of text."""
        lines = ["sent:     " + " ".join(p.decode() for _, _, p in self.sent),
                 "received: " + " ".join(p.decode() or "(empty)" for _, p in self.received),
                 f"missed (coalesced): {self.missed}",
                 "plain one-time watch: " + (", ".join(f"{kind} ({state})" for _, kind, state in self.raw)
                                             or "never fired"),
                 "listener's states: " + (", ".join(f"{s} at {t:.1f}" for t, s in self.states) or "none")]
        return "\n".join(lines)


def notify_run(signals: int = 6, gap_ms: float = 60.0, *, disconnect_ms: float = 0.0,
               seed: int = 0) -> NotifyRun:
    """A notifier signals ``signals`` times; a listener follows; maybe it is cut off meanwhile.

    The notifier writes ``e1``, ``e2`` ... into ``/app/events`` with a
    :class:`~zablib.recipes.notify.Notifier`, one every ``gap_ms``; the listener is a
    :class:`~zablib.recipes.notify.Listener` (kazoo's ``DataWatch``). Just before the second
    signal, the listener's client also sets a plain one-time watch (``exists(path, watch=...)``)
    and, with ``disconnect_ms``, is cut off from every server for that long: shorter than its
    session timeout (400 ms) the session survives; longer, it expires.

    Parameters
    ----------
    signals : int
        How many signals.
    gap_ms : float
        Time between two signals.
    disconnect_ms : float
        How long the listener is cut off (0: never).
    seed : int
        The ensemble's seed.
    """
    from zablib.recipes.notify import Listener, Notifier

    if signals < 2 or gap_ms <= 0 or disconnect_ms < 0:
        raise ValueError(f"need signals >= 2, gap_ms > 0 and disconnect_ms >= 0; got signals={signals}, "
                         f"gap_ms={gap_ms}, disconnect_ms={disconnect_ms}")
    ens = Ensemble(3, seed=seed)
    clients = _clients(ens, ["notifier", "listener"])
    notifier, listening = Notifier(clients["notifier"], EVENTS_PATH), clients["listener"]
    notifier.client.ensure_path(EVENTS_PATH)  # the channel exists before anyone listens
    received: list[tuple[float, bytes]] = []
    raw: list[tuple[float, str, str]] = []
    states: list[tuple[float, str]] = []
    listener = Listener(listening, EVENTS_PATH, callback=lambda payload: received.append((ens.now, payload)))
    listening.add_listener(lambda state: states.append((ens.now, state)))
    run = NotifyRun(ens=ens, names=_names(clients), start=ens.now, sent=[], received=received,
                    missed=0, raw=raw, states=states, disconnected=None)
    node = listening.node_id

    def signalling() -> None:
        for k in range(1, signals + 1):
            if k == 2:
                listening.exists(EVENTS_PATH,
                                 watch=lambda event: raw.append((ens.now, event.type, event.state)))
                if disconnect_ms:
                    ens.isolate_client(listening)
                    run.disconnected = (ens.now, ens.now + disconnect_ms)
                    run.spans.append((node, ens.now, ens.now + disconnect_ms, "cut off"))
                    ens.spawn(reconnect, name="reconnect")
            sent = ens.now
            notifier.signal(b"e%d" % k)
            run.sent.append((sent, ens.now, b"e%d" % k))
            run.marks.append((clients["notifier"].node_id, sent, f"e{k}"))
            notifier.client.handler.sleep_func(gap_ms / 1000)

    def reconnect() -> None:
        clients["notifier"].handler.sleep_func(disconnect_ms / 1000)
        ens.heal_client(listening)

    ens.spawn(signalling, name="notifier")
    ens.run()
    last = b"e%d" % signals
    ens.driver.run(until=ens.now + 3000.0, done=lambda: bool(listener.events) and listener.events[-1] == last,
                   what="the listener reading the last signal")
    ens.run_for(50)
    run.missed = listener.missed
    return run


# -- 6. cluster membership -------------------------------------------------------------------------
GROUP_PATH = "/cluster/workers"


@dataclass(kw_only=True)
class MembershipRun(CoordRun):
    """What :func:`membership_run` measured.

    Attributes
    ----------
    changes : list of (float, str, str)
        Each change the master saw: time, ``"join"`` or ``"leave"``, member.
    members : list of str
        The master's view at the end.
    left_at : dict of str to float
        When each departing worker left (``"leave"``) or crashed (``"crash"``).
    """

    changes: list[tuple[float, str, str]]
    members: list[str]
    left_at: dict[str, float]

    def seen_after(self, member: str) -> float | None:
        """How long after ``member`` left the master saw it leave (ms), or None."""
        seen = next((t for t, kind, who in self.changes if kind == "leave" and who == member), None)
        return None if seen is None or member not in self.left_at else seen - self.left_at[member]

    def summary(self) -> str:
        """The run in a few lines of text."""
        lines = [f"{t:7.1f} ms  master sees {who} {kind}" for t, kind, who in self.changes]
        for who in self.left_at:
            after = self.seen_after(who)
            lines.append(f"{who} left at {self.left_at[who]:.1f} ms; the master saw it "
                         + ("never" if after is None else f"{after:.1f} ms later"))
        lines.append(f"members at the end: {', '.join(self.members)}")
        return "\n".join(lines)


def membership_run(workers: int = 4, *, leave: str | None = "w2", crash: str | None = "w3",
                   seed: int = 0) -> MembershipRun:
    """Workers join a group one after another; one leaves cleanly, one crashes; a master watches.

    Each worker ``w1``, ``w2`` ... joins ``/cluster/workers`` with a
    :class:`~zablib.recipes.membership.Membership` (an ephemeral znode named after it), 30 ms
    apart; the master follows the group with a
    :class:`~zablib.recipes.membership.MembershipWatcher`. 100 ms after the last join, ``leave``
    leaves (deletes its znode) and ``crash`` crashes (it is cut off for good; its znode goes
    when its session expires). The run ends 800 ms later.

    Parameters
    ----------
    workers : int
        How many workers.
    leave, crash : str or None
        The worker that leaves cleanly, and the one that crashes (None: nobody).
    seed : int
        The ensemble's seed.
    """
    from zablib.recipes.membership import Membership, MembershipWatcher

    roles = [f"w{k}" for k in range(1, workers + 1)]
    for who in (leave, crash):
        if who is not None and who not in roles:
            raise ValueError(f"{who!r} is not one of the workers {roles}")
    if leave is not None and leave == crash:
        raise ValueError(f"{leave!r} cannot both leave and crash")
    ens = Ensemble(3, seed=seed)
    clients = _clients(ens, ["master"] + roles)
    watcher = MembershipWatcher(clients["master"], GROUP_PATH)
    groups = {role: Membership(clients[role], GROUP_PATH) for role in roles}
    run = MembershipRun(ens=ens, names=_names(clients), start=ens.now, changes=[], members=[],
                        left_at={})

    def joining() -> None:
        for role in roles:
            groups[role].join(role)
            clients["master"].handler.sleep_func(0.03)
        clients["master"].handler.sleep_func(0.1)
        if leave is not None:
            run.left_at[leave] = ens.now
            run.marks.append((clients[leave].node_id, ens.now, "leaves"))
            groups[leave].leave()
        if crash is not None:
            run.left_at[crash] = ens.now
            run.marks.append((clients[crash].node_id, ens.now, "crashes"))
            run.moments.append((ens.now, f"{crash} crashes"))
            ens.isolate_client(clients[crash])

    ens.spawn(joining, name="workers")
    seen = _follow(ens, lambda: len(watcher.changes), ens.now + 60_000.0, stop=_programs_done(ens))
    seen += _follow(ens, lambda: len(watcher.changes), ens.now + 800.0)[1:]
    counted = 0
    for t, count in seen:
        for kind, member in watcher.changes[counted:count]:
            run.changes.append((t, kind, member))
        counted = count
    run.members = list(watcher.members)
    return run


# -- 7. leader election ----------------------------------------------------------------------------
ELECTION_PATH = "/election"


@dataclass(kw_only=True)
class ElectionRun(CoordRun):
    """What :func:`election_run` measured.

    Attributes
    ----------
    naive : bool
        Every candidate watched the election's children (the herd), rather than its predecessor.
    elected : list of (float, str, int)
        Each election: time, candidate, its fencing token.
    wakeups : list of int
        For each leader's departure, the watch notifications the candidates received before the
        next departure (``Lock.wakeups``, added up).
    notices : list of int
        For the same windows, the watch notifications the servers sent (``WatchNotice``
        messages in the trace).
    waiting : list of int
        For each departure, how many candidates were still waiting.
    leaders : list of (float, tuple of str)
        Who believed it led, at every change: the candidates whose leader function was running
        and whose :attr:`~zablib.recipes.election.Election.is_leader` held.
    acts : list of (float, str, int)
        Each act of leadership: time, candidate, token.
    """

    naive: bool
    elected: list[tuple[float, str, int]]
    wakeups: list[int]
    notices: list[int]
    waiting: list[int]
    leaders: list[tuple[float, tuple[str, ...]]]
    acts: list[tuple[float, str, int]]

    @property
    def overlaps(self) -> list[tuple[float, float]]:
        """The intervals during which two or more candidates believed they led."""
        return _intervals(self.leaders, lambda names: len(names) >= 2, self.ens.now)

    @property
    def stale_acts(self) -> list[tuple[float, str, int]]:
        """Acts of a candidate after a later candidate had been elected (an older token)."""
        return [(t, role, token) for t, role, token in self.acts
                if any(token < newer for when, _, newer in self.elected if when <= t)]

    def summary(self) -> str:
        """The run in a few lines of text."""
        lines = [f"{t:7.1f} ms  {role} leads (token {token})" for t, role, token in self.elected]
        lines.append(f"candidates waiting at each departure: {self.waiting}")
        lines.append(f"watch notifications received:         {self.wakeups}")
        lines.append(f"watch notifications the servers sent: {self.notices}")
        for start, end in self.overlaps:
            lines.append(f"two leaders from {start:.1f} to {end:.1f} ms")
        for t, role, token in self.stale_acts:
            lines.append(f"{t:7.1f} ms  {role} acts with old token {token}")
        return "\n".join(lines)


def election_run(candidates: int = 5, *, naive: bool = False, pause_leader_ms: float = 0.0,
                 hold_ms: float = 60.0, seed: int = 0) -> ElectionRun:
    """Candidates elect a leader, one after another; the herd effect counted; a leader paused.

    Each candidate ``c1``, ``c2`` ... runs an :class:`~zablib.recipes.election.Election` on
    ``/election``. A leader works in steps of 20 ms for ``hold_ms``: it checks
    :attr:`~zablib.recipes.election.Election.is_leader` (and returns if it no longer leads),
    works 20 ms, then acts; then it steps down, and the next candidate leads. With ``naive``, every
    candidate's lock is a :class:`~zablib.recipes.lock.HerdLock` (it watches all the children)
    instead of watching its predecessor. With ``pause_leader_ms``, the first leader freezes (a
    long GC pause) during its first step, after its check and before its act; longer than its
    session timeout (400 ms), the ensemble expires its session and elects the next candidate
    while the first, frozen, still believes it leads, and acts when it wakes up.

    Parameters
    ----------
    candidates : int
        How many candidates.
    naive : bool
        Use the herd lock.
    pause_leader_ms : float
        How long the first leader is frozen (0: never).
    hold_ms : float
        How long each leader leads before stepping down.
    seed : int
        The ensemble's seed.
    """
    from zablib.coord import KazooException
    from zablib.coord.messages import WatchNotice
    from zablib.recipes.election import Election
    from zablib.recipes.lock import HerdLock

    if candidates < 2 or hold_ms <= 0 or pause_leader_ms < 0:
        raise ValueError(f"need candidates >= 2, hold_ms > 0 and pause_leader_ms >= 0; got "
                         f"candidates={candidates}, hold_ms={hold_ms}, pause_leader_ms={pause_leader_ms}")
    ens = Ensemble(3, seed=seed)
    roles = [f"c{k}" for k in range(1, candidates + 1)]
    clients = _clients(ens, roles)
    elections = {role: Election(clients[role], ELECTION_PATH, role) for role in roles}
    if naive:  # the same election on the naive lock (Election's lock is a public attribute)
        for role in roles:
            elections[role].lock = HerdLock(clients[role], ELECTION_PATH, role)
    run = ElectionRun(ens=ens, names=_names(clients), start=ens.now, naive=naive, elected=[],
                      wakeups=[], notices=[], waiting=[], leaders=[], acts=[])
    departures: list[tuple[float, int, int]] = []  # (time, wakeups so far, candidates waiting)

    def total_wakeups() -> int:
        return sum(e.lock.wakeups for e in elections.values())

    in_office: set[str] = set()

    def lead(role: str) -> None:
        election = elections[role]
        run.elected.append((ens.now, role, election.token))
        in_office.add(role)
        try:
            for _ in range(max(1, round(hold_ms / 20))):
                if not election.is_leader:
                    return
                # 20 ms of work between the check and the act: a pause may fall in between.
                clients[role].handler.sleep_func(0.02)
                run.acts.append((ens.now, role, election.token))
            departures.append((ens.now, total_wakeups(), sum(e.lock.waiting for e in elections.values())))
        finally:
            in_office.discard(role)

    def candidate(role: str) -> None:
        try:
            elections[role].run(lead, role)
        except KazooException as error:  # a paused leader's session is gone: its step-down fails
            run.marks.append((clients[role].node_id, ens.now, type(error).__name__))

    for role in roles:
        ens.spawn(candidate, role, name=role)
    if pause_leader_ms:
        ens.driver.run(until=ens.now + 5000.0, done=lambda: bool(in_office), what="a first leader")
        first = clients[run.elected[0][1]]
        ens.pause_client(first, pause_leader_ms)
        run.spans.append((first.node_id, ens.now, ens.now + pause_leader_ms, "paused"))
    run.leaders = _follow(ens, lambda: tuple(r for r in roles if r in in_office and elections[r].is_leader),
                          ens.now + 60_000.0, stop=_programs_done(ens))
    ens.run()
    # The herd, counted: between one departure and the next.
    times = [t for t, _, _ in departures] + [ens.now]
    counts = [w for _, w, _ in departures] + [total_wakeups()]
    notices = [e.time for e in ens.sim.trace.of_kind("send") if isinstance(e.message, WatchNotice)
               and e.message.path.startswith(ELECTION_PATH)]
    for k, (t, _, waiting) in enumerate(departures):
        run.wakeups.append(counts[k + 1] - counts[k])
        run.notices.append(sum(1 for n in notices if t < n <= times[k + 1]))
        run.waiting.append(waiting)
    for role in roles:
        for start, end in _intervals(run.leaders, lambda names, role=role: role in names, ens.now):
            run.spans.append((clients[role].node_id, start, end, "believes it leads"))
    for t, role, token in run.elected:
        run.marks.append((clients[role].node_id, t, f"elected, token {token}"))
    for t, role, token in run.stale_acts:
        run.marks.append((clients[role].node_id, t, f"acts with token {token}"))
    return run


# -- 8a. a lock, its paused holder, and the fencing token ------------------------------------------
LOCK_PATH = "/app/lock"


@dataclass(kw_only=True)
class LockPauseRun(CoordRun):
    """What :func:`lock_pause_run` measured.

    Attributes
    ----------
    fencing : bool
        The resource checked fencing tokens.
    tokens : dict of str to int
        Each client's fencing token (``Lock.token`` when it acquired).
    writes : list of (float, str, int, str, bool)
        Each write to the resource: time, client, token, value, accepted.
    holders : list of (float, tuple of str)
        Who believed it held the lock, at every change: the clients between the return of
        their ``acquire()`` and their call of ``release()``.
    resource : ~zablib.recipes.fencing.FencedResource
        The protected resource at the end (``.accepted``, ``.refused``, ``.writers()``).
    """

    fencing: bool
    tokens: dict[str, int]
    writes: list[tuple[float, str, int, str, bool]]
    holders: list[tuple[float, tuple[str, ...]]]
    resource: Any

    @property
    def both_held(self) -> list[tuple[float, float]]:
        """The intervals during which both clients believed they held the lock."""
        return _intervals(self.holders, lambda names: len(names) >= 2, self.ens.now)

    @property
    def stale_write_accepted(self) -> bool:
        """The resource accepted a write of A's (the older token) after one of B's."""
        tokens = [token for token, _ in self.resource.accepted]
        if self.tokens.get("B") not in tokens:
            return False
        return self.tokens["A"] in tokens[tokens.index(self.tokens["B"]) + 1:]

    def summary(self) -> str:
        """The run in a few lines of text."""
        lines = [f"{t:7.1f} ms  {who} writes {value} with token {token}: {'accepted' if ok else 'REFUSED'}"
                 for t, who, token, value, ok in self.writes]
        for start, end in self.both_held:
            lines.append(f"A and B both believed they held the lock from {start:.1f} to {end:.1f} ms")
        lines.append(f"resource ({'fenced' if self.fencing else 'no fencing'}): writers in order "
                     f"{self.resource.writers()}; stale write accepted: {self.stale_write_accepted}")
        return "\n".join(lines)


def lock_pause_run(pause_ms: float = 600.0, *, fencing: bool = True, hold_ms: float = 300.0,
                   seed: int = 0, check: Callable[[int, int | None], bool] | None = None) -> LockPauseRun:
    """Client A holds the lock and is frozen mid-work; B takes the lock; A wakes up and writes.

    A acquires a :class:`~zablib.recipes.lock.Lock` on ``/app/lock``, writes ``A1`` to the
    protected resource with its token, and starts 50 ms of work; it is frozen (a long GC pause)
    for ``pause_ms`` during that work, then writes ``A2`` (it has no way to notice anything in
    between) and releases. B asks for the lock once A holds it, and when it gets it, writes
    ``B1``, works ``hold_ms``, writes ``B2`` and releases. The resource is a
    :class:`~zablib.recipes.fencing.FencedResource`: with ``fencing`` it refuses a token older
    than the newest it has seen; without, it accepts everything.

    Parameters
    ----------
    pause_ms : float
        How long A is frozen (longer than its session timeout, 400 ms, loses its lock).
    fencing : bool
        The resource checks tokens.
    hold_ms : float
        How long B works between its two writes.
    seed : int
        The ensemble's seed.
    check : callable, optional
        With ``fencing``, the resource's rule ``check(token, highest_seen) -> bool`` (default
        :func:`~zablib.recipes.fencing.accept_token`): the door for the exercise "a fencing check".
    """
    from zablib.coord import KazooException
    from zablib.recipes.fencing import FencedResource, StaleTokenError
    from zablib.recipes.lock import Lock

    if pause_ms < 0 or hold_ms < 0:
        raise ValueError(f"need pause_ms >= 0 and hold_ms >= 0; got pause_ms={pause_ms}, hold_ms={hold_ms}")
    ens = Ensemble(3, seed=seed)
    clients = _clients(ens, ["A", "B"])
    locks = {name: Lock(clients[name], LOCK_PATH, name) for name in clients}
    resource = FencedResource(check) if fencing else FencedResource(check=lambda token, highest: True)
    run = LockPauseRun(ens=ens, names=_names(clients), start=ens.now, fencing=fencing, tokens={},
                       writes=[], holders=[], resource=resource)

    def write(name: str, value: str) -> None:
        token = locks[name].token
        try:
            resource.write(token, value)
            accepted = True
        except StaleTokenError:
            accepted = False
        run.writes.append((ens.now, name, token, value, accepted))
        run.marks.append((clients[name].node_id, ens.now, f"{value} {'ok' if accepted else 'refused'}"))

    holding: list[str] = []

    def holds(name: str, now_holds: bool) -> None:
        holding.append(name) if now_holds else holding.remove(name)
        run.holders.append((ens.now, tuple(sorted(holding))))

    def work(name: str, first: str, second: str, ms: float) -> None:
        lock = locks[name]
        lock.acquire()
        holds(name, True)
        run.tokens[name] = lock.token
        write(name, first)
        clients[name].handler.sleep_func(ms / 1000)
        write(name, second)
        holds(name, False)
        try:
            lock.release()
        except KazooException as error:  # A's session is gone: so is its node
            run.marks.append((clients[name].node_id, ens.now, type(error).__name__))

    ens.spawn(work, "A", "A1", "A2", 50.0, name="A")
    ens.driver.run(until=ens.now + 5000.0, done=lambda: "A" in run.tokens, what="A holding the lock")
    ens.spawn(work, "B", "B1", "B2", hold_ms, name="B")
    ens.run_for(10)  # A is in the middle of its work
    if pause_ms:
        ens.pause_client(clients["A"], pause_ms)
        run.spans.append((clients["A"].node_id, ens.now, ens.now + pause_ms, "A frozen"))
    ens.run()
    for name, zk in clients.items():
        for start, end in _intervals(run.holders, lambda names, name=name: name in names, ens.now):
            run.spans.append((zk.node_id, start, end, "holds the lock"))
    for start, _ in run.both_held:
        run.moments.append((start, "two holders"))
    return run


# -- 8b. a queue -------------------------------------------------------------------------------------
QUEUE_PATH = "/jobs"
#: The faults :func:`queue_run` knows.
QUEUE_FAULTS = ("none", "crash_consumer", "lost_answer", "partition_leader")


@dataclass(kw_only=True)
class QueueRun(CoordRun):
    """What :func:`queue_run` measured.

    Attributes
    ----------
    fault : str
        The fault: one of :data:`QUEUE_FAULTS`.
    items : list of bytes
        The items put, in order.
    taken : list of (float, str, bytes)
        Each item a consumer took: time, consumer, item.
    claims : dict of str to str
        Who took each item according to the queue's claims, read after the run: the item's
        node name -> consumer.
    left : list of bytes
        Items still in the queue at the end.
    disconnections : dict of str to int
        How many times each consumer's connection dropped (``SUSPENDED``).
    """

    fault: str
    items: list[bytes]
    taken: list[tuple[float, str, bytes]]
    claims: dict[str, str]
    left: list[bytes]
    disconnections: dict[str, int]

    @property
    def exactly_once(self) -> bool:
        """Every item was taken once, none is left, and the claims agree: one claim per item,
        each consumer with as many claims as items it took."""
        taken = sorted(item for _, _, item in self.taken)
        by_claims = sorted(self.claims.values())
        by_takes = sorted(who for _, who, _ in self.taken)
        return taken == sorted(self.items) and not self.left and by_claims == by_takes

    @property
    def per_consumer(self) -> dict[str, list[bytes]]:
        """The items each consumer took, in order."""
        mine: dict[str, list[bytes]] = {}
        for _, who, item in self.taken:
            mine.setdefault(who, []).append(item)
        return mine

    def summary(self) -> str:
        """The run in a few lines of text."""
        taken = self.per_consumer
        lines = [f"{who}: {' '.join(v.decode() for v in taken.get(who, [])) or '(nothing)'}"
                 for who in self.disconnections]
        lines.append(f"items: {len(self.items)}, taken: {len(self.taken)}, claims: {len(self.claims)}, "
                     f"left: {len(self.left)}; exactly once: {self.exactly_once}")
        lines.append("disconnections: " + ", ".join(f"{k} {n}" for k, n in self.disconnections.items()))
        return "\n".join(lines)


def queue_run(consumers: int = 3, items: int = 12, *, fault: str = "none", seed: int = 0) -> QueueRun:
    """A producer fills a queue; consumers take items until it is empty; maybe a fault strikes.

    The producer puts ``job-01`` ... with a :class:`~zablib.recipes.queue.Queue` on ``/jobs``;
    consumers ``k1``, ``k2`` ... take items (``take(timeout=0.3)``), 20 ms of work each, until the
    queue stays empty. Faults: ``"crash_consumer"`` cuts ``k1`` off for good right after it takes
    its second item (it holds that item, and will never process it); ``"lost_answer"`` cuts
    ``k1`` off for 60 ms just after a server has received its first transaction taking an item
    (the others start 100 ms late, so that nobody competes for that item), so that the
    transaction is applied but its answer is lost (``ConnectionLoss``);
    ``"partition_leader"`` cuts the ensemble's leader off from everyone for 300 ms while the
    consumers work: every consumer's connection drops (the followers lose their leader too).

    Parameters
    ----------
    consumers : int
        How many consumers.
    items : int
        How many items.
    fault : {"none", "crash_consumer", "lost_answer", "partition_leader"}
        The fault.
    seed : int
        The ensemble's seed.
    """
    from zablib.recipes.queue import Queue

    if fault not in QUEUE_FAULTS:
        raise ValueError(f"fault must be one of {', '.join(QUEUE_FAULTS)}; got {fault!r}")
    if consumers < 1 or items < 1:
        raise ValueError(f"need consumers >= 1 and items >= 1; got consumers={consumers}, items={items}")
    ens = Ensemble(3, seed=seed)
    roles = [f"k{k}" for k in range(1, consumers + 1)]
    clients = _clients(ens, ["producer"] + roles)
    producer = Queue(clients["producer"], QUEUE_PATH)
    values = [b"job-%02d" % k for k in range(1, items + 1)]
    for value in values:
        producer.put(value)
    queues = {role: Queue(clients[role], QUEUE_PATH) for role in roles}
    run = QueueRun(ens=ens, names=_names(clients), start=ens.now, fault=fault, items=values,
                   taken=[], claims={}, left=[], disconnections=dict.fromkeys(roles, 0))
    for role in roles:
        clients[role].add_listener(lambda state, role=role: _count_suspended(run.disconnections, role, state))

    def consume(role: str) -> None:
        zk, queue = clients[role], queues[role]
        if fault == "lost_answer" and role != "k1":
            zk.handler.sleep_func(0.1)  # k1 takes the first item uncontested
        while True:
            item = queue.take(timeout=0.3)
            if item is None:
                return
            run.taken.append((ens.now, role, item))
            run.marks.append((zk.node_id, ens.now, item.decode()[4:]))
            if fault == "crash_consumer" and role == "k1" and len(run.per_consumer["k1"]) == 2:
                ens.isolate_client(zk)
                run.spans.append((zk.node_id, ens.now, None, "crashed"))
                return
            zk.handler.sleep_func(0.02)

    for role in roles:
        ens.spawn(consume, role, name=role)
    if fault == "lost_answer":
        k1 = clients["k1"]
        _run_until_delivered(ens, k1.node_id, MultiRequest)
        ens.isolate_client(k1)
        run.marks.append((k1.node_id, ens.now, "answer lost"))
        run.spans.append((k1.node_id, ens.now, ens.now + 60.0, "cut off"))
        ens.run_for(60)
        ens.heal_client(k1)
    if fault == "partition_leader":
        ens.run_for(40)
        leader = ens.leader()
        ens.partition([leader], [s for s in ens.servers if s != leader])
        run.moments.append((ens.now, f"leader {leader} cut off"))
        ens.run_for(300)
        ens.heal()
        run.moments.append((ens.now, "healed"))
    ens.run()
    owner = {queue.consumer: role for role, queue in queues.items()}
    run.claims = {name: owner.get(who, who) for name, who in producer.claimed().items()}
    run.left = [clients["producer"].get(f"{QUEUE_PATH}/{name}")[0] for name in producer.items()]
    return run


def _run_until_delivered(ens: Ensemble, client: NodeId, kind: type) -> None:
    """Run ``ens`` until a server has received a request of type ``kind`` from ``client``."""
    from zablib.coord.messages import Request

    trace = ens.sim.trace
    seen = [len(trace)]

    def delivered() -> bool:
        fresh = range(seen[0], len(trace))
        seen[0] = len(trace)
        return any(trace[k].kind == "deliver" and trace[k].peer == client
                   and isinstance(trace[k].message, Request) and isinstance(trace[k].message.op, kind)
                   for k in fresh)

    if not ens.driver.run(until=ens.now + 10_000.0, done=delivered, what="a request"):
        raise ValueError(f"client {client} sent no {kind.__name__} within 10 s")


def _count_suspended(counts: dict[str, int], role: str, state: str) -> None:
    if state == "SUSPENDED":
        counts[role] += 1


# -- 4. barriers -------------------------------------------------------------------------------------
BARRIER_PATH = "/app/barrier"


@dataclass(kw_only=True)
class BarrierRun(CoordRun):
    """What :func:`barrier_run` measured.

    Attributes
    ----------
    arrived : dict of str to float
        When each worker began to wait.
    passed : dict of str to float or None
        When each worker's ``wait`` returned True (None: it timed out).
    removed_at : float or None
        When the barrier's znode was deleted (the first server applied the delete; None: it
        never was).
    """

    arrived: dict[str, float]
    passed: dict[str, float | None]
    removed_at: float | None

    def summary(self) -> str:
        """The run in a few lines of text."""
        removed = "never" if self.removed_at is None else f"at {self.removed_at:.1f} ms"
        lines = [f"barrier removed {removed}"]
        for who, t in self.arrived.items():
            passed = "timed out" if self.passed[who] is None else f"passed at {self.passed[who]:.1f}"
            lines.append(f"{who} arrived at {t:.1f} ms, {passed}")
        return "\n".join(lines)


def barrier_run(workers: int = 3, *, lift_ms: float = 200.0, crash_coordinator: bool = False,
                timeout: float = 1.0, seed: int = 0) -> BarrierRun:
    """A coordinator holds workers at a :class:`~zablib.recipes.barrier.Barrier`, then lifts it.

    The coordinator puts the barrier up (``/app/barrier``); workers ``w1``, ``w2`` ... arrive
    40 ms apart and ``wait(timeout)``; ``lift_ms`` after putting it up the coordinator removes
    it. With ``crash_coordinator``, the coordinator crashes before removing it: the barrier's
    znode is persistent, so nothing takes it down, and every worker waits until its timeout.

    Parameters
    ----------
    workers : int
        How many workers.
    lift_ms : float
        How long the coordinator keeps the barrier up.
    crash_coordinator : bool
        The coordinator crashes instead of removing it.
    timeout : float
        How long a worker waits at most, in seconds.
    seed : int
        The ensemble's seed.
    """
    from zablib.recipes.barrier import Barrier

    if workers < 1 or lift_ms < 0 or timeout <= 0:
        raise ValueError(f"need workers >= 1, lift_ms >= 0 and timeout > 0; got workers={workers}, "
                         f"lift_ms={lift_ms}, timeout={timeout}")
    ens = Ensemble(3, seed=seed)
    roles = [f"w{k}" for k in range(1, workers + 1)]
    clients = _clients(ens, ["coordinator"] + roles)
    coordinator = clients["coordinator"]
    Barrier(coordinator, BARRIER_PATH).create()
    run = BarrierRun(ens=ens, names=_names(clients), start=ens.now, arrived={}, passed={},
                     removed_at=None)

    def lift() -> None:
        coordinator.handler.sleep_func(lift_ms / 1000)
        if crash_coordinator:
            ens.isolate_client(coordinator)
            run.marks.append((coordinator.node_id, ens.now, "crashes"))
            run.moments.append((ens.now, "coordinator crashes"))
            return
        Barrier(coordinator, BARRIER_PATH).remove()
        run.marks.append((coordinator.node_id, ens.now, "removed"))

    def work(k: int, role: str) -> None:
        zk = clients[role]
        zk.handler.sleep_func(0.04 * k)
        run.arrived[role] = ens.now
        passed = Barrier(zk, BARRIER_PATH).wait(timeout)
        run.passed[role] = ens.now if passed else None
        run.spans.append((zk.node_id, run.arrived[role], ens.now, "waits" if passed else "waits in vain"))

    ens.spawn(lift, name="coordinator")
    for k, role in enumerate(roles):
        ens.spawn(work, k, role, name=role)
    ens.run()
    removal = [life.deleted for life in run.lives(BARRIER_PATH.rsplit("/", 1)[0])
               if life.path == BARRIER_PATH and life.deleted is not None]
    if removal:
        run.removed_at = removal[0]
        run.moments.append((removal[0], "barrier removed"))
    return run


@dataclass(kw_only=True)
class DoubleBarrierRun(CoordRun):
    """What :func:`double_barrier_run` measured.

    Attributes
    ----------
    arrived : dict of str to float
        When each member called ``enter()``.
    entered : dict of str to float or None
        When its ``enter()`` returned True (None: it timed out).
    done : dict of str to float
        When it finished its work and called ``leave()``.
    left : dict of str to float or None
        When its ``leave()`` returned True (None: it timed out, or the member crashed).
    crashed : str or None
        The member that crashed during its work.
    """

    arrived: dict[str, float]
    entered: dict[str, float | None]
    done: dict[str, float]
    left: dict[str, float | None]
    crashed: str | None

    @property
    def entered_together(self) -> bool:
        """Nobody entered before the last member had arrived (and someone entered)."""
        times = [t for t in self.entered.values() if t is not None]
        return bool(times) and min(times) >= max(self.arrived.values())

    @property
    def left_together(self) -> bool:
        """Nobody left before the last live member had finished its work."""
        times = [t for t in self.left.values() if t is not None]
        live = [t for who, t in self.done.items() if who != self.crashed]
        return bool(times) and min(times) >= max(live)

    def summary(self) -> str:
        """The run in a few lines of text."""
        def at(t: float | None) -> str:
            return "  never" if t is None else f"{t:7.1f}"
        lines = ["member  arrived  entered  done    left"]
        for who, t in self.arrived.items():
            lines.append(f"{who:6}  {at(t)}  {at(self.entered.get(who))}  {at(self.done.get(who))}"
                         f"  {at(self.left.get(who))}")
        lines.append(f"entered together: {self.entered_together}; left together: {self.left_together}")
        return "\n".join(lines)


def double_barrier_run(arrivals: tuple[float, ...] = (0.0, 80.0, 200.0),
                       work: tuple[float, ...] = (60.0, 250.0, 120.0), *,
                       num_clients: int | None = None, crash: str | None = None,
                       timeout: float = 2.0, seed: int = 0) -> DoubleBarrierRun:
    """Members ``m1``, ``m2`` ... enter a :class:`~zablib.recipes.barrier.DoubleBarrier`, work, leave.

    Member ``k`` arrives ``arrivals[k]`` ms after the start, ``enter()``\\ s, works ``work[k]`` ms
    and ``leave()``\\ s. ``num_clients`` (default: the number of members) is the barrier's
    count: one more than there are members, and nobody ever enters. With ``crash``, that member
    is cut off for good halfway through its work: it never leaves, and the others leave only
    when its session has expired and its znode is gone.

    Parameters
    ----------
    arrivals : tuple of float
        When each member arrives (ms after the start).
    work : tuple of float
        How long each works inside (ms).
    num_clients : int, optional
        The barrier's count.
    crash : str, optional
        The member that crashes (``"m1"`` ...).
    timeout : float
        How long ``enter`` and ``leave`` wait at most, in seconds.
    seed : int
        The ensemble's seed.
    """
    from zablib.recipes.barrier import DoubleBarrier

    if len(arrivals) != len(work) or not arrivals:
        raise ValueError(f"arrivals and work need one entry per member; got {len(arrivals)} and {len(work)}")
    roles = [f"m{k}" for k in range(1, len(arrivals) + 1)]
    if crash is not None and crash not in roles:
        raise ValueError(f"{crash!r} is not one of the members {roles}")
    ens = Ensemble(3, seed=seed)
    clients = _clients(ens, roles)
    count = len(roles) if num_clients is None else num_clients
    run = DoubleBarrierRun(ens=ens, names=_names(clients), start=ens.now, arrived={}, entered={},
                           done={}, left={}, crashed=crash)
    start = ens.now

    def member(role: str, arrive: float, busy: float) -> None:
        zk = clients[role]
        zk.handler.sleep_func(arrive / 1000)
        barrier = DoubleBarrier(zk, BARRIER_PATH, count, role)
        run.arrived[role] = ens.now
        entered = barrier.enter(timeout)
        run.entered[role] = ens.now if entered else None
        run.spans.append((zk.node_id, run.arrived[role], ens.now, "waits to enter"))
        if not entered:
            return
        began = ens.now
        if role == crash:
            zk.handler.sleep_func(busy / 2000)
            ens.isolate_client(zk)
            run.marks.append((zk.node_id, ens.now, "crashes"))
            run.moments.append((ens.now, f"{role} crashes"))
            run.spans.append((zk.node_id, began, None, "works"))
            run.done[role] = ens.now
            run.left[role] = None
            return
        zk.handler.sleep_func(busy / 1000)
        run.spans.append((zk.node_id, began, ens.now, "works"))
        run.done[role] = ens.now
        left = barrier.leave(timeout)
        run.left[role] = ens.now if left else None
        run.spans.append((zk.node_id, run.done[role], ens.now, "waits to leave"))

    for role, arrive, busy in zip(roles, arrivals, work, strict=True):
        ens.spawn(member, role, arrive, busy, name=role)
    ens.run(limit=start + 60_000.0 - ens.now)
    return run


# -- what "linearizable" means for reads and for writes --------------------------------------------
@dataclass(kw_only=True)
class ReadsRun(CoordRun):
    """What :func:`reads_run` recorded and what the checker said.

    Attributes
    ----------
    read : str
        How the reader read: ``"get"`` or ``"sync_get"`` (``sync``, then ``get``).
    lag_ms : float
        The delay on the link from the leader to the reader's server.
    operations : list of zablib.linearizability.Operation
        The recorded history (times in simulated ms).
    result : zablib.linearizability.Result
        The checker's verdict on it (against a key-value model in which ``/x`` starts at ``0``).
    """

    read: str
    lag_ms: float
    operations: list[Any]
    result: Any

    @property
    def reads(self) -> list[tuple[float, float, bytes]]:
        """Each read of the reader: call, return, value."""
        return [(op.call, op.return_, op.output) for op in self.operations if op.client == "reader"]

    def summary(self) -> str:
        """The run in a few lines of text: every operation, by call time, and the verdict."""
        lines = ["   call  return  client  operation"]
        for op in sorted(self.operations, key=lambda op: (op.call, op.return_)):
            what = (f"set {op.input[2].decode()}" if op.client == "writer"
                    else f"{self.read} -> {op.output.decode()}")
            lines.append(f"{op.call:7.1f} {op.return_:7.1f}  {op.client:6}  {what}")
        lines.append(f"linearizable: {self.result.ok}")
        return "\n".join(lines)


def reads_run(read: str = "get", *, lag_ms: float = 60.0, seed: int = 0) -> ReadsRun:
    """A writer sets ``/x`` to 1..5 through one follower; a reader reads it through the other,
    whose link from the leader is slow; both histories are checked for linearizability.

    The writer's writes go through ZAB: once a write returns, a quorum has it, whichever server
    answered. The reader's server is a follower whose commits arrive ``lag_ms`` late (a slow
    link, as a follower within ZooKeeper's ``syncLimit`` still serves); it answers plain reads
    from its own copy. Every call is recorded by a
    :class:`~zablib.recipes.recording.RecordingClient` and the history is checked with
    :func:`zablib.linearizability.check`.

    Parameters
    ----------
    read : {"get", "sync_get"}
        How the reader reads: a plain ``get``, or ``sync`` then ``get``.
    lag_ms : float
        Delay of the link from the leader to the reader's server (0: the default 1-10 ms).
    seed : int
        The ensemble's seed.
    """
    from zablib.linearizability import History, KVModel, check
    from zablib.network import constant
    from zablib.recipes.recording import RecordingClient

    if read not in ("get", "sync_get"):
        raise ValueError(f"read must be 'get' or 'sync_get', got {read!r}")
    if lag_ms < 0:
        raise ValueError(f"lag_ms must be >= 0, got {lag_ms}")
    ens = Ensemble(3, seed=seed)
    clients = {"setup": ens.client()}
    clients["setup"].start()
    clients["setup"].create("/x", b"0")
    fast, slow = ens.followers()
    history = History(clock=lambda: ens.now)
    clients["writer"] = ens.client(hosts=fast)
    clients["reader"] = ens.client(hosts=slow)
    for role in ("writer", "reader"):
        clients[role].start()
    writer = RecordingClient(clients["writer"], history, "writer")
    reader = RecordingClient(clients["reader"], history, "reader")
    if lag_ms:
        ens.sim.configure_links(ens.leader(), slow, delay=constant(lag_ms))
    start = ens.now

    def write() -> None:
        for value in range(1, 6):
            writer.set("/x", b"%d" % value)
            writer.handler.sleep_func(0.05)

    def read_ten_times() -> None:
        for _ in range(10):
            getattr(reader, read)("/x")
            reader.handler.sleep_func(0.03)

    ens.spawn(write, name="writer")
    ens.spawn(read_ten_times, name="reader")
    try:
        ens.run()
    except (KazooException, KazooTimeoutError) as exc:
        # Past syncLimit the leader drops the slow follower, which then stops serving: the run
        # no longer shows a stale read but a lost connection. Said as a refused argument, so a
        # panel's slider at that end shows why instead of a traceback.
        raise ValueError(f"lag_ms={lag_ms:g} is too slow for this run: "
                         f"{lagging_follower_lost(ens, lag_ms, exc)}") from exc
    operations = history.operations()
    names = _names({role: clients[role] for role in ("writer", "reader")})
    run = ReadsRun(ens=ens, names=names, start=start, read=read, lag_ms=lag_ms, operations=operations,
                   result=check(operations, KVModel({"/x": b"0"})))
    for op in operations:
        zk = clients[op.client]
        label = op.input[2].decode() if op.client == "writer" else op.output.decode()
        run.spans.append((zk.node_id, op.call, op.return_, "set" if op.client == "writer" else read))
        run.marks.append((zk.node_id, op.return_, label))
    return run

"""``Ensemble``: a simulated ZooKeeper ensemble, its clients, and the faults you can inflict.

``Ensemble(3, seed=0)`` builds one :class:`~zablib.sim.Simulation` (``ens.sim``) with three
servers (:class:`~zablib.coord.server.CoordServer`, ids 1..3, running zablib's ZAB) and a fixed
number of client slots (:class:`~zablib.coord.connection.ClientNode`, ids 101, 102, ...; idle
until ``ens.client()`` hands one out: the simulator's network is fixed when it is built).
``ens.client()`` returns a :class:`~zablib.coord.client.KazooClient`::

    ens = Ensemble(3, seed=0)
    zk = ens.client()
    zk.start()
    zk.create("/app", b"config")
    zk.get("/app")          # (b'config', ZnodeStat(...))

Each call runs simulated time until its answer arrives. Several programs run together as
greenlets (``zablib.coord.driver``)::

    def worker(zk, name):
        zk.start()
        zk.create("/workers/" + name, ephemeral=True, makepath=True)

    for k in range(3):
        ens.spawn(worker, ens.client(), f"w{k}")
    ens.run()               # until every spawned program has returned

Time: the ensemble runs ZooKeeper's protocols on zablib's ZAB clock, one hundred times faster
than ZooKeeper's defaults: a tick (``tickTime``) is 20 ms, so a session timeout is granted within
40..400 ms (2..20 ticks). ``ens.client()`` asks for 0.4 s by default, the longest a server grants.
(kazoo's own default, 10 s, would be granted as 400 ms too, but kazoo waits for a server's answer
to a connection attempt for the *requested* timeout divided by the number of servers: 3.3 s per
dead server, longer than any session here lives.)

Faults: :meth:`Ensemble.crash`, :meth:`~Ensemble.recover`, :meth:`~Ensemble.partition`,
:meth:`~Ensemble.heal`, :meth:`~Ensemble.isolate_client` (cut a client off from every server),
:meth:`~Ensemble.heal_client`, :meth:`~Ensemble.pause_client` (a long GC pause: the client does
nothing, not even ping, for a while). ``ens.sim.check()`` checks ZAB's and the service's
invariants (``zablib.coord.checks``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import zablib.coord.checks as checks
import zablib.protocols.zab as zab
from zablib.coord.client import KazooClient
from zablib.coord.connection import ClientNode, Pause
from zablib.coord.driver import Driver, Task
from zablib.coord.server import TICK_MS, VARIANTS, CoordServer
from zablib.coord.tree import DataTree
from zablib.core import NodeId
from zablib.network import LinkConfig, describe_ids, uniform
from zablib.sim import Simulation, SimulationError

#: The node id of the first client slot; servers are 1..n.
FIRST_CLIENT = 101

#: How long ``Ensemble.run()`` without ``until`` waits for the programs, in simulated ms.
RUN_LIMIT_MS = 60_000.0


class CoordSimulation(Simulation):
    """The simulation of an ensemble: servers ``1..n`` and client nodes from 101.

    Attributes
    ----------
    servers : tuple of int
        The server ids (observers included).
    observers : tuple of int
        The observers among them.
    clients : tuple of int
        The client slots' node ids.
    """

    servers: tuple[NodeId, ...] = ()
    clients: tuple[NodeId, ...] = ()
    observers: tuple[NodeId, ...] = ()

    def leader(self) -> NodeId | None:
        """The live, established ZAB leader of the highest epoch, or None."""
        live = [self.nodes[i].zab for i in self.servers
                if self.is_up(i) and self.nodes[i].zab.role == zab.LEADING and self.nodes[i].zab.established]
        return max(live, key=lambda z: z.epoch).id if live else None

    def committed(self, node: NodeId) -> list[Any]:
        """The txn entries server ``node`` has delivered, in zxid order (ZAB's meaning)."""
        if node not in self.servers:
            raise ValueError(f"node {node} is not a server; servers are {describe_ids(self.servers)}")
        return self.status(node).committed()


def _server_factory(servers: tuple[NodeId, ...], timers: zab.Timers, variant: str,
                    zab_variant: str, observers: tuple[NodeId, ...] = ()) -> Callable:
    def factory(node: NodeId, peers: tuple[NodeId, ...], storage: Any) -> Any:
        if node in servers:
            return CoordServer(node, servers, storage, timers.tick_ms, variant, zab_variant,
                               timers.init_limit, timers.sync_limit, observers)
        return ClientNode(node, peers, storage)
    return factory


class Ensemble:
    """A simulated ZooKeeper ensemble (see the module docstring).

    Parameters
    ----------
    n : int
        Number of voting servers (ids 1..n).
    observers : int
        Number of observer servers (ids n+1..n+observers): they take client sessions, answer
        reads from their own tree (possibly stale, as followers do) and forward writes, syncs
        and session requests to the leader, but never vote (``zablib.protocols.zab``): read
        capacity without the write cost of more voters.
    seed : int
        Seed of the run: the same seed and the same calls give the same trace.
    max_clients : int
        Number of client slots (node ids 101 ..); ``client()`` fails once all are taken.
    tick_ms : float
        ZooKeeper's tickTime in simulated ms (default 20): sessions' unit and ZAB's (its ping
        period and the unit of its limits, ``zablib.protocols.zab.Timers``).
    init_limit, sync_limit : int
        ZooKeeper's initLimit and syncLimit, in ticks (default 10 and 5), for ZAB underneath.
    link : LinkConfig, optional
        Every link's settings (default: 1-10 ms uniform delay, FIFO, no loss).
    variant : str
        ``"correct"`` or a broken server variant of ``zablib.coord.server`` (for the checkers).
    zab_variant : str
        ``"correct"`` or a broken variant of ``zablib.protocols.zab`` underneath.

    Attributes
    ----------
    sim : CoordSimulation
        The simulation: ``sim.trace``, ``sim.check()``, ``sim.status(i)``.
    driver : ~zablib.coord.driver.Driver
        Runs the programs (``spawn``, ``run``).
    servers : tuple of int
        The server ids, observers included.
    observers : tuple of int
        The observers' ids (the last ``observers`` servers).
    """

    def __init__(self, n: int = 3, *, observers: int = 0, seed: int = 0, max_clients: int = 16,
                 tick_ms: float = TICK_MS,
                 link: LinkConfig | None = None, variant: str = "correct",
                 zab_variant: str = "correct", init_limit: int = zab.INIT_LIMIT,
                 sync_limit: int = zab.SYNC_LIMIT):
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n < FIRST_CLIENT:
            raise ValueError(f"an ensemble needs 1..{FIRST_CLIENT - 1} servers, got {n!r}")
        if (not isinstance(observers, int) or isinstance(observers, bool)
                or not 0 <= observers < FIRST_CLIENT - n):
            raise ValueError(f"observers must be an int with 0 <= observers <= "
                             f"{FIRST_CLIENT - 1 - n} (server ids stop at {FIRST_CLIENT - 1}), "
                             f"got {observers!r}")
        if not isinstance(max_clients, int) or isinstance(max_clients, bool) or max_clients < 0:
            raise ValueError(f"max_clients must be a non-negative int, got {max_clients!r}")
        timers = zab.Timers(tick_ms, init_limit, sync_limit)  # checks all three
        if variant not in VARIANTS:
            raise ValueError(f"unknown variant {variant!r}; use one of {', '.join(VARIANTS)}")
        if zab_variant not in zab.VARIANTS:
            raise ValueError(f"unknown zab_variant {zab_variant!r}; use one of {', '.join(zab.VARIANTS)}")
        self.servers = tuple(range(1, n + observers + 1))
        self.observers = self.servers[n:]
        clients = tuple(range(FIRST_CLIENT, FIRST_CLIENT + max_clients))
        self.sim = CoordSimulation(
            _server_factory(self.servers, timers, variant, zab_variant, self.observers),
            self.servers + clients, seed=seed,
            link=link or LinkConfig(delay=uniform(1.0, 10.0)), invariants=checks.INVARIANTS)
        self.sim.servers, self.sim.clients = self.servers, clients
        self.sim.observers = self.observers
        self.driver = Driver(self.sim)
        self.tick_ms = tick_ms
        self.clients: dict[NodeId, KazooClient] = {}
        self._server_groups: list[set[NodeId]] | None = None
        self._isolated: set[NodeId] = set()

    def __repr__(self) -> str:
        watching = f" ({len(self.observers)} observers)" if self.observers else ""
        return (f"<Ensemble of {len(self.servers)} servers{watching}, {len(self.clients)} clients, "
                f"t={self.sim.now:.1f} ms>")

    # -- reading ----------------------------------------------------------------------------------
    @property
    def now(self) -> float:
        """Simulated time in ms."""
        return self.sim.now

    def leader(self) -> NodeId | None:
        """The current ZAB leader (established, of the highest epoch), or None."""
        return self.sim.leader()

    def followers(self) -> list[NodeId]:
        """Every voting server but the current leader, ascending (all voters while none leads);
        observers are in ``observers``."""
        leader = self.leader()
        return [i for i in self.servers if i != leader and i not in self.observers]

    def tree(self, server: NodeId) -> DataTree:
        """Server ``server``'s data tree as it has applied it (it may lag behind)."""
        return self.server(server).tree

    def server(self, server: NodeId) -> CoordServer:
        """The :class:`~zablib.coord.server.CoordServer` node ``server`` (read-only use: for
        pictures and tests)."""
        if server not in self.servers:
            raise ValueError(f"unknown server {server!r}; servers are {describe_ids(self.servers)}")
        return self.sim.nodes[server]

    def check(self) -> None:
        """Check every invariant (``ens.sim.check()``)."""
        self.sim.check()

    @property
    def callback_errors(self) -> list[tuple[NodeId, BaseException]]:
        """``(client node, exception)`` for each watch function or listener that raised."""
        return self.driver.callback_errors

    # -- clients ----------------------------------------------------------------------------------
    def client(self, hosts: NodeId | Iterable[NodeId] | None = None, timeout: float = 0.4,
               client_id: tuple[int, bytes] | None = None, *, randomize_hosts: bool = True,
               call_timeout: float = 10.0, default_acl: list | None = None,
               max_retry_delay: float = 1.0) -> KazooClient:
        """A new, not yet started, kazoo-compatible client.

        Parameters
        ----------
        hosts : int or iterable of int, optional
            The servers it may connect to (default: all), as kazoo's ``hosts``.
        timeout : float
            The session timeout to ask for, in seconds (granted within 2..20 ticks, 0.04..0.4 s
            at the default tick; see the module docstring for why not kazoo's 10 s).
        client_id : (int, bytes), optional
            Resume this session (kazoo's ``client_id``).
        randomize_hosts : bool
            Try the servers in a (seeded) random order, as kazoo does.
        call_timeout : float
            Simulated seconds a call waits at most before raising ``KazooTimeoutError``.
        default_acl : list, optional
            Accepted for kazoo compatibility; zablib has no ACLs.
        max_retry_delay : float
            Cap, in seconds, of the pause between two rounds of connection attempts.
        """
        free = [c for c in self.sim.clients if c not in self.clients]
        if not free:
            raise ValueError(f"all {len(self.sim.clients)} client slots are taken; "
                             "build the Ensemble with a larger max_clients=")
        servers = self._check_hosts(hosts)
        node = free[0]
        client = KazooClient(self.driver, node, servers, timeout=timeout, client_id=client_id,
                             randomize_hosts=randomize_hosts, call_timeout=call_timeout,
                             default_acl=default_acl, seed=self.sim.seed * 1_000_003 + node,
                             max_retry_delay=max_retry_delay)
        self.clients[node] = client
        return client

    def _check_hosts(self, hosts: Any) -> tuple[NodeId, ...]:
        if hosts is None:
            return self.servers
        chosen = (hosts,) if isinstance(hosts, int) else tuple(hosts)
        bad = [h for h in chosen if h not in self.servers]
        if not chosen or bad:
            raise ValueError(f"hosts must be servers of the ensemble ({describe_ids(self.servers)}), "
                             f"got {hosts!r}")
        return chosen

    def _client_node(self, client: KazooClient | NodeId) -> NodeId:
        node = client.node_id if isinstance(client, KazooClient) else client
        if node not in self.clients:
            raise ValueError(f"{client!r} is not a client of this ensemble")
        return node

    # -- programs ---------------------------------------------------------------------------------
    def spawn(self, program: Callable, *args: Any, name: str | None = None, **kwargs: Any) -> Task:
        """Run ``program(*args, **kwargs)`` in a greenlet of its own, from the next ``run`` (or
        the next blocking call) on. Returns its :class:`~zablib.coord.driver.Task`."""
        return self.driver.spawn(program, *args, name=name, **kwargs)

    def run(self, until: float | None = None, *, limit: float = RUN_LIMIT_MS) -> None:
        """Run the simulation and the programs: until simulated time ``until`` (ms), or, without
        it, until every spawned program has returned (at most ``limit`` ms more).

        Raises
        ------
        BaseException
            What a program raised (the first one, once).
        SimulationError
            If the programs did not all return within ``limit``.
        """
        if until is not None:
            if until < self.sim.now:
                raise ValueError(f"until={until} is in the past; simulated time is already {self.sim.now}")
            self.driver.run(until=until)
            return
        driver = self.driver
        finished = driver.run(until=self.sim.now + limit, done=lambda: not driver.unfinished,
                              what="the spawned programs")
        if not finished:
            running = ", ".join(t.name for t in driver.tasks if not t.done)
            raise SimulationError(f"programs still running after {limit:g} ms: {running}")

    def run_for(self, ms: float) -> None:
        """Run ``ms`` more milliseconds of simulated time."""
        if ms < 0:
            raise ValueError(f"ms must be >= 0, got {ms}")
        self.run(until=self.sim.now + ms)

    # -- faults -----------------------------------------------------------------------------------
    def crash(self, server: NodeId) -> None:
        """Crash server ``server`` (it keeps only what ZAB persisted)."""
        self.server(server)
        self.sim.crash(server)

    def recover(self, server: NodeId) -> None:
        """Restart crashed server ``server`` from its disk."""
        self.server(server)
        self.sim.recover(server)

    def partition(self, *groups: Iterable[NodeId | KazooClient]) -> None:
        """Split the ensemble: servers (and clients) in different groups cannot talk.

        Every server must be in exactly one group. A client may be named in a group (its node id
        or the client itself); a client not named stays with the server it is connected to (or
        with the first group), at the moment of the call.
        """
        named = [{self._client_node(m) if isinstance(m, KazooClient) else m for m in g} for g in groups]
        in_groups = [s for g in named for s in g if s in self.servers]
        if sorted(in_groups) != list(self.servers):
            raise ValueError(f"every server ({describe_ids(self.servers)}) must be in exactly one "
                             f"group, got {[sorted(g) for g in named]}")
        for g in named:
            for member in g:
                if member not in self.servers:
                    self._client_node(member)
        self._server_groups = named
        self._apply_network()

    def heal(self) -> None:
        """End every partition and client isolation."""
        self._server_groups = None
        self._isolated = set()
        self.sim.heal()

    def isolate_client(self, client: KazooClient) -> None:
        """Cut ``client`` off from every server (until :meth:`heal_client` or :meth:`heal`)."""
        self._isolated.add(self._client_node(client))
        self._apply_network()

    def heal_client(self, client: KazooClient) -> None:
        """Undo :meth:`isolate_client`."""
        self._isolated.discard(self._client_node(client))
        self._apply_network()

    def pause_client(self, client: KazooClient, ms: float) -> None:
        """Freeze ``client`` for ``ms`` simulated ms, as a long GC pause would: it sends nothing
        (no pings: its session may expire) and handles what arrived meanwhile afterwards."""
        if not ms >= 0:
            raise ValueError(f"ms must be >= 0, got {ms!r}")
        self.driver.request(self._client_node(client), Pause(ms))

    def _apply_network(self) -> None:
        if self._server_groups is None and not self._isolated:
            if self.sim.network.partitioned:
                self.sim.heal()
            return
        groups = [set(g) for g in (self._server_groups or [set(self.servers)])]
        placed = set().union(*groups)
        for node in self.sim.clients:
            if node in placed or node in self._isolated:
                continue
            near = self.sim.nodes[node].server
            next((g for g in groups if near in g), groups[0]).add(node)
        groups += [{node} for node in sorted(self._isolated)]
        self.sim.partition(*groups)

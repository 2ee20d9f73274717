"""ZooKeeper as a coordination service on zablib's ZAB, with a kazoo-compatible client.

::

    from zablib.coord import Ensemble
    ens = Ensemble(3, seed=0)        # servers 1, 2, 3 running zablib.protocols.zab
    zk = ens.client()                # a kazoo.client.KazooClient look-alike (node 101)
    zk.start()
    zk.create("/app/config", b"v1", makepath=True)
    data, stat = zk.get("/app/config")

Two layers, one import direction:

* **The data tree** knows no consensus, no simulator, no network: ``errors`` (kazoo's exception
  classes and codes), ``paths`` (ZooKeeper's path rules, kazoo's normalisation), ``tree``
  (znodes, ``ZnodeStat``, the pure ``apply(tree, txn, zxid, time)``), ``txn`` (requests,
  idempotent transactions, the leader's ``prepare``).
* **The service** puts it on the simulator: ``server`` (a ZooKeeper server that contains a real
  ``zab.ZabServer`` and applies what ZAB delivers), ``sessions`` (session ids, the leader's
  expiry clock), ``watches`` (a server's one-time watches), ``messages`` (what clients, servers
  and the leader say), ``connection`` (kazoo's connection logic as a simulation node),
  ``driver`` (blocking programs as greenlets on simulated time), ``client`` (``KazooClient``),
  ``retry`` (``KazooRetry``), ``watchers`` (``DataWatch``, ``ChildrenWatch``), ``states``
  (``KazooState``, ``KeeperState``, ``EventType``, ``WatchedEvent``), ``checks`` (the service's
  invariants) and ``ensemble`` (``Ensemble``: servers, client slots, faults).

Node ids: servers are ``1..n`` (as ``zab.cluster``); clients are simulation nodes too, with ids
from 101 up (``Ensemble(max_clients=16)`` slots, handed out by ``ens.client()``).

Time runs one hundred times faster than ZooKeeper's defaults, on ZAB's clock: a tick is 20 ms, a
session timeout 40..400 ms. Several blocking programs share a run as greenlets
(``ens.spawn(program, zk)``, ``ens.run()``); see ``driver`` for why a run is deterministic.

What kazoo has and this client has not: the ``*_async`` calls, ACLs (accepted, not enforced),
``chroot``, authentication, ``reconfig``, read-only servers, the recipes bound to the client
(``zk.Lock`` ...) and the handler's ``async_result``/``dispatch_callback``. On the server side,
ZooKeeper's session-moved check (a request on an old connection of a session that moved) and
local sessions are not modelled.
"""

from zablib.coord.client import KazooClient, TransactionRequest
from zablib.coord.connection import KazooTimeoutError
from zablib.coord.ensemble import FIRST_CLIENT, CoordSimulation, Ensemble
from zablib.coord.errors import (
    BadArgumentsError,
    BadVersionError,
    ConnectionClosedError,
    ConnectionLoss,
    KazooException,
    NoChildrenForEphemeralsError,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
    RolledBackError,
    RuntimeInconsistency,
    SessionExpiredError,
    ZookeeperError,
)
from zablib.coord.retry import KazooRetry, RetryFailedError
from zablib.coord.states import EventType, KazooState, KeeperState, WatchedEvent
from zablib.coord.tree import ZnodeStat
from zablib.coord.watchers import ChildrenWatch, DataWatch

__all__ = [
    "FIRST_CLIENT",
    "BadArgumentsError",
    "BadVersionError",
    "ChildrenWatch",
    "ConnectionClosedError",
    "ConnectionLoss",
    "CoordSimulation",
    "DataWatch",
    "Ensemble",
    "EventType",
    "KazooClient",
    "KazooException",
    "KazooRetry",
    "KazooState",
    "KazooTimeoutError",
    "KeeperState",
    "NoChildrenForEphemeralsError",
    "NoNodeError",
    "NodeExistsError",
    "NotEmptyError",
    "RetryFailedError",
    "RolledBackError",
    "RuntimeInconsistency",
    "SessionExpiredError",
    "TransactionRequest",
    "WatchedEvent",
    "ZnodeStat",
    "ZookeeperError",
]

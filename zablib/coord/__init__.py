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

import importlib

# Where each public name lives. The package imports nothing when it is imported: a name is loaded
# from its module on first use (PEP 562), so that importing the data tree (``zablib.coord.tree``,
# which runs this file first) does not pull in the service, the simulator and ZAB with it.
_HOMES = {
    "KazooClient": "client", "TransactionRequest": "client",
    "KazooTimeoutError": "connection",
    "FIRST_CLIENT": "ensemble", "CoordSimulation": "ensemble", "Ensemble": "ensemble",
    "BadArgumentsError": "errors", "BadVersionError": "errors", "ConnectionClosedError": "errors",
    "ConnectionLoss": "errors", "KazooException": "errors", "NoChildrenForEphemeralsError": "errors",
    "NodeExistsError": "errors", "NoNodeError": "errors", "NotEmptyError": "errors",
    "RolledBackError": "errors", "RuntimeInconsistency": "errors", "SessionExpiredError": "errors",
    "ZookeeperError": "errors",
    "KazooRetry": "retry", "RetryFailedError": "retry",
    "EventType": "states", "KazooState": "states", "KeeperState": "states", "WatchedEvent": "states",
    "ZnodeStat": "tree",
    "ChildrenWatch": "watchers", "DataWatch": "watchers",
}


def __getattr__(name: str):
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'zablib.coord' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"zablib.coord.{home}"), name)
    globals()[name] = value  # found once, then an ordinary attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOMES))


__all__ = sorted(_HOMES)

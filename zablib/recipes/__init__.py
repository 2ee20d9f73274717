"""ZooKeeper recipes written once, in plain blocking kazoo style, for any kazoo-compatible client.

Each recipe takes a client as its first argument: zablib's simulated one
(``zablib.coord.Ensemble().client()``) or a real ``kazoo.client.KazooClient`` connected to a real
ZooKeeper. The recipe code is the same; only the client differs. Recipes import nothing from the
simulator or the protocols (``ARCHITECTURE.md``); they catch the client's own exception classes
through :func:`zablib.recipes.base.errors_of`.

Like ``zablib.coord``, the package imports nothing when it is imported: each public name is
loaded from its module on first use (PEP 562).
"""

import importlib

# Where each public name lives (filled in as recipes land).
_HOMES: dict[str, str] = {
    "errors_of": "base", "sequence_number": "base",
    "FencedResource": "fencing", "StaleTokenError": "fencing", "accept_token": "fencing",
    "HerdLock": "lock", "Lock": "lock", "watch_predecessor": "lock",
    "Barrier": "barrier", "DoubleBarrier": "barrier",
    "Queue": "queue",
    "Election": "election",
    "ConfigSubscriber": "config", "publish": "config", "write_value": "config",
    "ServiceRegistry": "registry", "ServiceWatcher": "registry", "address_of": "registry",
    "LoadBalancer": "balancer", "NoProviderError": "balancer", "parse_load": "balancer",
    "Membership": "membership", "MembershipWatcher": "membership",
    "Listener": "notify", "Notifier": "notify",
    "RecordingClient": "recording",
}


def __getattr__(name: str):
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'zablib.recipes' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"zablib.recipes.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOMES))


__all__ = sorted(_HOMES)

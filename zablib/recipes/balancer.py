"""Client-side load balancing over the providers a :class:`~zablib.recipes.registry.ServiceWatcher` lists.

Each consumer picks a provider itself, from its own watched copy of the registry: no balancer
process, no extra hop. Three policies:

* ``"round_robin"``: the next provider in sorted order after the one chosen last (so a provider
  that joins or leaves shifts the turn without restarting it);
* ``"random"``: uniformly, from the balancer's own ``random.Random(seed)`` (never the global
  one: a seeded run repeats);
* ``"least_loaded"``: the provider whose node data holds the smallest load (a decimal number,
  ``b"0.7"``, written by the provider with :meth:`~zablib.recipes.registry.ServiceRegistry.update`;
  see :func:`parse_load`); ties go round robin.

What it promises: :meth:`LoadBalancer.choose` returns a provider listed in the watcher's
*current* list, so once the watcher has caught up with a provider's departure the balancer never
returns it again. Before that (a crashed provider stays listed until its session expires; a
disconnected consumer's list is as old as its last read) it may, and the caller must cope with a
provider that does not answer. ``least_loaded`` reads each provider's data at every choice (one
``get`` per provider, retried after ``ConnectionLoss``; a provider whose node is gone by then is
skipped): the loads are as fresh as the consumer's server, which may not yet have applied a
provider's latest update (a consumer that must see it calls ``sync`` first), and cost a round
trip each; a busy consumer would cache them with a ``DataWatch`` per provider. kazoo has no
balancer recipe; it adds no session of its own to lose.
"""

from __future__ import annotations

import bisect
import math
import random
from typing import Any

from zablib.recipes.base import errors_of
from zablib.recipes.registry import ServiceWatcher

__all__ = ["POLICIES", "LoadBalancer", "NoProviderError", "parse_load"]

#: The policies :class:`LoadBalancer` knows.
POLICIES = ("round_robin", "random", "least_loaded")


class NoProviderError(LookupError):
    """No provider of the service is listed (or, for ``least_loaded``, still registered)."""


def parse_load(data: bytes | None) -> float:
    """A provider's load from its node data: a decimal number in ASCII.

    Empty data counts as 0 (a provider that never reported); data that is not a number counts
    as infinitely loaded (chosen last), so one confused provider cannot attract every request.

    >>> parse_load(b"0.25"), parse_load(b""), parse_load(b"busy")
    (0.25, 0.0, inf)
    """
    if not data:
        return 0.0
    try:
        load = float(data.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        return math.inf
    return load if not math.isnan(load) else math.inf


class LoadBalancer:
    """Choose a provider of ``service`` by ``policy``.

    Parameters
    ----------
    watcher_or_client : ~zablib.recipes.registry.ServiceWatcher or KazooClient-like
        A watcher of the service, or a started client (the balancer then makes its own watcher
        under ``base``, and :meth:`close` closes it).
    service : str
        The service (must be the watcher's).
    policy : str
        One of :data:`POLICIES`.
    seed : int
        Seed of the ``random`` policy's own generator.
    base : str
        The registry's root, when given a client.

    Attributes
    ----------
    watcher : ~zablib.recipes.registry.ServiceWatcher
        Where the providers come from.
    counts : dict of str to int
        How many times each address was chosen.
    """

    def __init__(self, watcher_or_client: Any, service: str, *, policy: str = "round_robin", seed: int = 0,
                 base: str = "/services"):
        if policy not in POLICIES:
            raise ValueError(f"unknown policy {policy!r}; use one of {', '.join(POLICIES)}")
        if isinstance(watcher_or_client, ServiceWatcher):
            if watcher_or_client.service != service:
                raise ValueError(f"the watcher follows service {watcher_or_client.service!r}, "
                                 f"not {service!r}")
            self.watcher = watcher_or_client
            self._owns_watcher = False
        else:
            errors_of(watcher_or_client)  # a TypeError naming what is missing
            self.watcher = ServiceWatcher(watcher_or_client, service, base)
            self._owns_watcher = True
        self.service = service
        self.policy = policy
        self.counts: dict[str, int] = {}
        self._random = random.Random(seed)
        self._last: str | None = None

    def __repr__(self) -> str:
        return f"<LoadBalancer {self.service} {self.policy} over {self.watcher.providers}>"

    def choose(self) -> str:
        """The address of the provider to use now.

        Raises
        ------
        NoProviderError
            If the watcher lists no provider (or none is left to read, for ``least_loaded``).
        """
        providers = list(self.watcher.providers)
        if providers and self.policy == "least_loaded":
            providers = self._least_loaded(providers)
        if not providers:
            raise NoProviderError(f"no provider of service {self.service!r} is listed under "
                                  f"{self.watcher.directory}")
        if self.policy == "random":
            chosen = self._random.choice(providers)
        else:
            chosen = self._after_last(providers)
        self._last = chosen
        self.counts[chosen] = self.counts.get(chosen, 0) + 1
        return chosen

    def close(self) -> None:
        """Close the watcher if the balancer made it."""
        if self._owns_watcher:
            self.watcher.close()

    def _after_last(self, providers: list[str]) -> str:
        """The first of the sorted ``providers`` after the one chosen last (round robin)."""
        if self._last is None:
            return providers[0]
        return providers[bisect.bisect_right(providers, self._last) % len(providers)]

    def _least_loaded(self, providers: list[str]) -> list[str]:
        """Those of ``providers`` with the smallest load now (sorted); the departed skipped."""
        client = self.watcher.client
        err = errors_of(client)
        loads: dict[str, float] = {}
        for address in providers:
            path = self.watcher.paths.get(address)
            if path is None:
                continue
            try:
                data, _ = client.retry(client.get, path)
            except err.NoNodeError:
                continue  # it left since the watcher's last read
            loads[address] = parse_load(data)
        if not loads:
            return []
        least = min(loads.values())
        return [address for address in providers if loads.get(address) == least]

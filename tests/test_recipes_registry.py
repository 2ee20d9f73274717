"""Service registry, discovery and client-side load balancing (``zablib.recipes.registry``,
``zablib.recipes.balancer``), on the simulated ensemble and on a real ZooKeeper, with the same
assertions.

A provider is an ephemeral znode: it is listed while its session lives. A crashed provider stays
listed until the servers expire its session, then every watcher sees it go (measured, and bounded
by the session timeout plus a margin); a provider whose session expired registers again. A
balancer chooses only among the providers its watcher lists now, each policy spreading the load
its own way.
"""

from __future__ import annotations

import math

import pytest
from lost_answers import lose_answers
from recipe_backends import expiry_bound, listed_at_least, rejoin_bound

from zablib.recipes.balancer import LoadBalancer, NoProviderError, parse_load
from zablib.recipes.registry import ServiceRegistry, ServiceWatcher, address_of

ADDRESSES = ["10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"]


def registered(backend, service: str, addresses: list[str]):
    """One provider client per address, each registered; returns (clients, registries, paths)."""
    clients = [backend.client() for _ in addresses]
    registries = [ServiceRegistry(zk, backend.path("services")) for zk in clients]
    paths = [r.register(service, address, b"0") for r, address in zip(registries, addresses, strict=True)]
    return clients, registries, paths


def test_providers_are_discovered_and_followed(backend):
    base = backend.path("services")
    consumer = backend.client()
    watcher = ServiceWatcher(consumer, "search", base)
    assert watcher.providers == [] and watcher.history == [[]]

    _, registries, paths = registered(backend, "search", ADDRESSES)
    assert all(p.startswith(f"{base}/search/{a}-") for p, a in zip(paths, ADDRESSES, strict=True))
    assert ServiceRegistry(consumer, base).discover("search") == ADDRESSES
    backend.wait_until(lambda: watcher.providers == ADDRESSES, what="the watcher listing all three")

    registries[1].unregister(paths[1])
    backend.wait_until(lambda: watcher.providers == [ADDRESSES[0], ADDRESSES[2]],
                       what="the watcher dropping the one that left")
    assert watcher.history[0] == [] and watcher.history[-1] == [ADDRESSES[0], ADDRESSES[2]]
    assert ServiceRegistry(consumer, base).discover("search") == [ADDRESSES[0], ADDRESSES[2]]
    assert ServiceRegistry(consumer, base).discover("nothing-here") == []


def test_a_crashed_provider_stays_listed_until_its_session_expires(backend):
    consumer = backend.client()
    watcher = ServiceWatcher(consumer, "search", backend.path("services"))
    balancer = LoadBalancer(watcher, "search")
    clients, _, _ = registered(backend, "search", ADDRESSES)
    backend.wait_until(lambda: watcher.providers == ADDRESSES, what="all three listed")

    backend.crash_client(clients[0])
    crashed = backend.now()
    backend.sleep(listed_at_least(backend))
    assert ADDRESSES[0] in watcher.providers  # dead, and still listed: its session lives
    backend.wait_until(lambda: ADDRESSES[0] not in watcher.providers, timeout=expiry_bound(backend),
                       what="the crashed provider gone")
    listed = backend.now() - crashed
    print(f"{backend.name}: a crashed provider stayed listed {listed:.2f} s "
          f"(session timeout {backend.session_timeout} s)")
    assert listed_at_least(backend) <= listed <= expiry_bound(backend)

    # The watcher has caught up: the balancer never returns the dead provider again.
    assert {balancer.choose() for _ in range(12)} == set(ADDRESSES[1:])


def test_a_provider_whose_session_expired_registers_again(backend):
    consumer = backend.client()
    watcher = ServiceWatcher(consumer, "search", backend.path("services"))
    clients, registries, paths = registered(backend, "search", ADDRESSES[:2])
    backend.wait_until(lambda: watcher.providers == ADDRESSES[:2], what="both listed")

    backend.expire_session(clients[0])  # returns once the provider has heard LOST
    lost = backend.now()
    backend.wait_until(lambda: registries[0].reregistered == 1, timeout=rejoin_bound(backend),
                       what="the provider registering again under its new session")
    print(f"{backend.name}: registered again {backend.now() - lost:.2f} s after hearing LOST")
    backend.wait_until(lambda: watcher.providers == ADDRESSES[:2], what="both listed again")
    assert [ADDRESSES[1]] in watcher.history  # it was gone for a while
    [new_path] = registries[0].registrations
    assert new_path != paths[0] and address_of(new_path.rsplit("/", 1)[1]) == ADDRESSES[0]
    assert ServiceRegistry(consumer, backend.path("services")).discover("search") == ADDRESSES[:2]


def test_a_create_whose_answer_was_lost_registers_once(backend):
    """ConnectionLoss after the server applied the create: a blind retry would list the provider
    twice; the registry finds the node its session owns and keeps that one."""
    base = backend.path("services")
    zk = backend.client()
    registry = ServiceRegistry(zk, base)
    first = registry.register("search", ADDRESSES[0])  # the service's znode exists now
    lose_answers(zk, backend.errors, create=1)
    second = registry.register("search", ADDRESSES[1])
    assert zk.losing == {"create": 0}
    assert sorted(zk.get_children(f"{base}/search")) == sorted(p.rsplit("/", 1)[1] for p in (first, second))
    assert registry.discover("search") == ADDRESSES[:2]


def test_round_robin_takes_turns_and_random_is_seeded(backend):
    consumer = backend.client()
    watcher = ServiceWatcher(consumer, "search", backend.path("services"))
    registered(backend, "search", ADDRESSES)
    backend.wait_until(lambda: watcher.providers == ADDRESSES, what="all three listed")

    turns = LoadBalancer(watcher, "search")
    assert [turns.choose() for _ in range(6)] == ADDRESSES * 2
    draws = [LoadBalancer(watcher, "search", policy="random", seed=7) for _ in range(2)]
    first, second = ([b.choose() for _ in range(300)] for b in draws)
    assert first == second  # its own seeded generator: the same choices, whatever else runs
    assert all(80 <= first.count(a) <= 120 for a in ADDRESSES)  # spread evenly


def test_least_loaded_reads_each_providers_load(backend):
    consumer = backend.client()
    _, registries, paths = registered(backend, "search", ADDRESSES)
    balancer = LoadBalancer(consumer, "search", policy="least_loaded", base=backend.path("services"))
    backend.wait_until(lambda: balancer.watcher.providers == ADDRESSES, what="all three listed")
    assert [balancer.choose() for _ in range(3)] == ADDRESSES  # all at 0: ties go round robin

    # The consumer reads the loads from its own server, which may not have applied another
    # client's acknowledged write yet (on a real, loaded ensemble it sometimes had not): sync
    # first, as a reader must that wants what was written before its read.
    services = backend.path("services")
    for registry, path, load in zip(registries, paths, [b"0.9", b"0.2", b"0.5"], strict=True):
        registry.update(path, load)
    consumer.sync(services)
    assert {balancer.choose() for _ in range(4)} == {ADDRESSES[1]}
    registries[1].update(paths[1], b"0.95")
    consumer.sync(services)
    assert balancer.choose() == ADDRESSES[2]
    registries[2].unregister(paths[2])  # gone, even before the watcher hears of it
    consumer.sync(services)
    assert balancer.choose() == ADDRESSES[0]
    balancer.close()


def test_no_provider_is_a_clear_error(backend):
    balancer = LoadBalancer(backend.client(), "search", base=backend.path("services"))
    with pytest.raises(NoProviderError, match="no provider of service 'search'"):
        balancer.choose()


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="unknown policy 'fastest'"):
        LoadBalancer(object(), "search", policy="fastest")
    with pytest.raises(TypeError, match="kazoo-compatible client"):
        LoadBalancer(object(), "search")
    with pytest.raises(ValueError, match="not a provider's node name"):
        address_of("0000000001")
    assert address_of("host-a:80-0000000012") == "host-a:80"


def test_a_load_is_a_decimal_number():
    assert parse_load(b"0.25") == 0.25
    assert parse_load(b"") == 0.0 and parse_load(None) == 0.0
    assert parse_load(b"busy") == math.inf and parse_load(b"nan") == math.inf

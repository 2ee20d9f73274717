"""Configuration publish/subscribe (``zablib.recipes.config``), on the simulated ensemble and on a
real ZooKeeper, with the same assertions.

A subscriber is a ``DataWatch``: it reads the value when its watch fires, so it converges to the
last configuration published, may skip the ones in between, and never sees a value out of order.
Faults: the leader cut away while a publisher writes and a subscriber paused past its session
timeout; after they end, every subscriber has the last value within a stated bound.
"""

from __future__ import annotations

import pytest
from lost_answers import lose_answers

from zablib.recipes.config import ConfigSubscriber, publish, write_value

#: After the faults end, every subscriber holds the last value within this many seconds plus
#: 2.8 times the outage. A DataWatch re-reads with the client's command retry, kazoo's: pauses
#: from 0.1 s doubling with up to +40 % jitter, so the pause under way when the outage ends is
#: at most 2.8 times the outage; then a reconnection (at most a round of connection attempts)
#: and one read. Measured: see the test.
LIVENESS_S = 3.0


def is_subsequence(seen: list, published: list) -> bool:
    """Whether ``seen`` is ``published`` with some values left out, in the same order."""
    rest = iter(published)
    return all(any(value == candidate for candidate in rest) for value in seen)


def publish_burst(backend, client, path: str, values: list[bytes]) -> list[bytes]:
    """Publish ``values`` as fast as ``client`` can: one program per value, all at once, so that
    the writes pipeline on its connection. Returns what was published in the order applied (by
    the version each write became)."""
    applied: list[tuple[int, bytes]] = []

    def one(value: bytes) -> None:
        applied.append((publish(client, path, value), value))

    for value in values:
        backend.spawn(one, value, name=f"publish {value!r}")
    backend.run()
    first = min(version for version, _ in applied)
    assert sorted(version for version, _ in applied) == list(range(first, first + len(values)))
    return [value for _, value in sorted(applied)]


def test_subscribers_converge_to_the_last_configuration_and_may_skip_values(backend):
    path = backend.path("app/config")
    publisher = backend.client()
    subscribers = [ConfigSubscriber(backend.client(), path) for _ in range(3)]
    assert [s.value for s in subscribers] == [None, None, None]  # nothing published yet

    published = publish_burst(backend, publisher, path, [f"v{k}".encode() for k in range(20)])

    backend.wait_until(lambda: all(s.value == published[-1] for s in subscribers), timeout=LIVENESS_S,
                       what="every subscriber holding the last configuration")
    for s in subscribers:
        assert s.seen[-1] == published[-1]
        assert is_subsequence(s.seen, published), (s.seen, published)
        assert s.versions == sorted(set(s.versions))  # each version once, in order
    if backend.name == "simulated":
        # A watch fires once; the read after it returns the value of that moment: writes in a
        # burst reach a subscriber as fewer changes (deterministic here: seeded).
        assert all(len(s.seen) < len(published) for s in subscribers)


def test_a_subscriber_calls_back_with_each_value_it_sees(backend):
    path = backend.path("app/config")
    zk = backend.client()
    calls = []
    subscriber = ConfigSubscriber(zk, path, on_change=lambda value, version: calls.append((value, version)))
    # One value at a time: a watch may skip a value written while its read is on the way (the
    # first test), so "each value it sees" is tested with each value seen before the next write.
    assert publish(zk, path, b"a") == 0
    backend.wait_until(lambda: calls[-1:] == [(b"a", 0)], what="the call for a")
    assert publish(zk, path, b"b") == 1
    backend.wait_until(lambda: len(calls) >= 3, what="three calls: missing, a, b")
    assert calls == [(None, None), (b"a", 0), (b"b", 1)]
    subscriber.close()
    publish(zk, path, b"c")
    backend.sleep(0.2)
    assert calls[-1] == (b"b", 1) and subscriber.value == b"b"  # closed: no more calls


def test_subscribers_converge_after_the_leader_is_cut_away_and_a_pause(backend):
    """The leader is cut away while the publisher writes, and a subscriber is paused past its
    session timeout: its session expires, the DataWatch reads again under the new session."""
    path = backend.path("app/config")
    publisher = backend.client()
    subscribers = [ConfigSubscriber(backend.client(), path) for _ in range(2)]
    publish(publisher, path, b"v0")
    backend.wait_until(lambda: all(s.value == b"v0" for s in subscribers), what="v0 everywhere")
    published = [b"v0"]

    def keep_publishing() -> None:
        for k in range(1, 11):
            value = f"v{k}".encode()
            write_value(publisher, path, value)  # survives ConnectionLoss and the new leader
            published.append(value)
            publisher.handler.sleep_func(backend.session_timeout / 4)

    started = backend.now()
    task = backend.spawn(keep_publishing, name="publisher")
    backend.pause_client(subscribers[1].client, 2.5 * backend.session_timeout)
    backend.isolate_leader()  # while the publisher writes
    backend.sleep(backend.session_timeout)
    backend.heal()
    task.result(timeout=60)
    outage = backend.now() - started
    healed = backend.now()

    backend.wait_until(lambda: all(s.value == published[-1] for s in subscribers),
                       timeout=LIVENESS_S + 2.8 * outage, what="every subscriber holding the last value")
    print(f"{backend.name}: faults for {outage:.2f} s, subscribers caught up "
          f"{backend.now() - healed:.2f} s after; they saw {[len(s.seen) for s in subscribers]} of "
          f"{len(published)} values")
    for s in subscribers:
        assert is_subsequence(s.seen, published), (s.seen, published)


def test_a_write_whose_answer_was_lost_is_not_applied_twice(backend):
    """ConnectionLoss after the server applied a set: kazoo's plain retry writes again (a second
    version, and subscribers may see the value twice); publish reads the znode back first."""
    path = backend.path("app/config")
    zk = backend.client()
    assert publish(zk, path, b"v0") == 0

    lose_answers(zk, backend.errors, set=1)
    zk.retry(zk.set, path, b"v1")
    assert zk.losing == {"set": 0} and zk.get(path)[1].version == 2  # one write, two versions

    lose_answers(zk, backend.errors, set=1)
    assert publish(zk, path, b"v2") == 3  # found applied: no fourth version
    assert zk.losing == {"set": 0} and zk.get(path)[1].version == 3

    lose_answers(zk, backend.errors, create=1)
    assert publish(zk, backend.path("app/other"), b"w0") == 0  # a lost create: read back too


@pytest.mark.parametrize("value", ["text", None, bytearray(b"x")])
def test_a_configuration_is_bytes(value):
    with pytest.raises(TypeError, match="bytes"):
        publish(object(), "/config", value)

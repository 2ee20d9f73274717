"""Event notification (``zablib.recipes.notify``), on the simulated ensemble and on a real
ZooKeeper, with the same assertions.

A watch is a doorbell: a listener reads the latest payload when it rings, so signals sent close
together are coalesced, and the znode's version tells it how many (``missed``). Every signal is
either read or counted as missed. Across a disconnection (a listener paused past its session
timeout: its session expires) it reads the latest payload after reconnecting, within a stated
bound, and counts what it missed.
"""

from __future__ import annotations

import pytest
from lost_answers import lose_answers

from zablib.recipes.notify import Listener, Notifier

#: After a listener's pause ends, it holds the latest payload within this many seconds plus
#: 2.8 times the pause (a DataWatch re-reads with kazoo's command retry, whose pauses double
#: with up to +40 % jitter; then a reconnection and one read).
LIVENESS_S = 3.0


def is_subsequence(seen: list, sent: list) -> bool:
    rest = iter(sent)
    return all(any(value == candidate for candidate in rest) for value in seen)


def test_a_listener_gets_each_signal_sent_one_at_a_time(backend):
    path = backend.path("events/deploy")
    notifier = Notifier(backend.client(), path)
    calls = []
    listener = Listener(backend.client(), path, callback=calls.append)
    for k in range(3):
        assert notifier.signal(f"deploy {k}".encode()) == k
        backend.wait_until(lambda k=k: len(listener.events) == k + 1, what=f"signal {k} heard")
    assert listener.events == calls == [b"deploy 0", b"deploy 1", b"deploy 2"]
    assert listener.versions == [0, 1, 2] and listener.missed == 0


def test_signals_close_together_are_coalesced_and_counted(backend):
    path = backend.path("events/deploy")
    sender = backend.client()
    notifier = Notifier(sender, path)
    listeners = [Listener(backend.client(), path) for _ in range(2)]
    applied: list[tuple[int, bytes]] = []

    def signal(payload: bytes) -> None:
        applied.append((notifier.signal(payload), payload))

    for k in range(20):  # all at once: the writes pipeline on the sender's connection
        backend.spawn(signal, f"deploy {k}".encode(), name=f"signal {k}")
    backend.run()
    assert sorted(version for version, _ in applied) == list(range(20))
    sent = [payload for _, payload in sorted(applied)]  # in the order applied
    backend.wait_until(lambda: all(len(s.events) + s.missed == 20 for s in listeners),
                       what="every signal read or counted as missed")
    for s in listeners:
        assert s.events[-1] == sent[-1] and is_subsequence(s.events, sent)
        assert s.versions == sorted(set(s.versions))
    if backend.name == "simulated":
        assert all(s.missed > 0 for s in listeners)  # deterministic here (seeded)


def test_across_a_disconnection_a_listener_sees_the_latest_signal(backend):
    path = backend.path("events/deploy")
    notifier = Notifier(backend.client(), path)
    notifier.signal(b"before")
    zk = backend.client()
    states: list[str] = []
    zk.add_listener(states.append)
    listener = Listener(zk, path)
    assert listener.events == [b"before"]

    # Past its session timeout (the servers expire it on the next tick boundary: two ticks, and
    # the backend's noise, make sure): the session expires during the pause.
    pause = backend.session_timeout + 2 * backend.tick + backend.slack
    paused = backend.now()
    backend.pause_client(zk, pause)
    for k in range(5):
        notifier.signal(f"during {k}".encode())
    backend.sleep(pause)
    resumed = paused + pause
    backend.wait_until(lambda: listener.events[-1] == b"during 4", timeout=LIVENESS_S + 2.8 * pause,
                       what="the listener reading the latest signal")
    print(f"{backend.name}: listener caught up {backend.now() - resumed:.2f} s after its pause, "
          f"missed {listener.missed}")
    assert "LOST" in states  # it was cut off long enough to lose its session
    assert listener.events == [b"before", b"during 4"] and listener.missed == 4


def test_a_listener_started_before_the_first_signal_counts_from_version_0(backend):
    path = backend.path("events/new")
    listener = Listener(backend.client(), path)
    notifier = Notifier(backend.client(), path)
    notifier.signal(b"a")
    notifier.signal(b"b")
    backend.wait_until(lambda: listener.events and listener.events[-1] == b"b", what="b heard")
    assert len(listener.events) + listener.missed == 2


def test_a_signal_whose_answer_was_lost_is_sent_once(backend):
    path = backend.path("events/deploy")
    zk = backend.client()
    notifier = Notifier(zk, path)
    listener = Listener(backend.client(), path)
    assert notifier.signal(b"one") == 0
    lose_answers(zk, backend.errors, set=1)
    assert notifier.signal(b"two") == 1  # applied once, found by reading it back
    backend.wait_until(lambda: listener.events[-1:] == [b"two"], what="two heard")
    assert zk.losing == {"set": 0} and len(listener.events) + listener.missed == 2


def test_a_payload_is_bytes(backend):
    with pytest.raises(TypeError, match="bytes"):
        Notifier(backend.client(), backend.path("events")).signal("text")

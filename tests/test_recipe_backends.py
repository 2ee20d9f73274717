"""The two backends of the recipe tests do what they promise, the same way (tests/recipe_backends.py).

Every recipe test trusts ``backend.crash_client``, ``pause_client``, ``expire_session`` and
``isolate_leader`` to mean the same on the simulated ensemble and on a real ZooKeeper. These
stories run each fault on both and check what a recipe would see: when an ephemeral node goes,
which session states the client hears, whether writes go on. Times are measured on the backend's
own clock and bounded in units of its session timeout and tick.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest
from recipe_backends import SimulatedBackend
from zk_proxy import ZkProxy


def states_of(client) -> list[str]:
    """The session states ``client`` hears from now on, in order."""
    heard: list[str] = []
    client.add_listener(heard.append)
    return heard


def session_of(client) -> int | None:
    return client.client_id[0] if client.client_id else None


# -- programs, time, waiting ------------------------------------------------------------------------
def test_programs_run_together_and_hand_back_their_results_and_errors(backend):
    a, b = backend.client(), backend.client()
    path = backend.path("counter")
    a.create(path, b"0")
    go = backend.event()

    def waiter(zk):
        assert go.wait(10 * backend.session_timeout), "never told to go"
        return zk.get(path)[0]

    def writer(zk):
        zk.set(path, b"1")
        go.set()
        return "written"

    def broken(zk):
        zk.get(backend.path("missing"))

    w, r = backend.spawn(waiter, b, name="waiter"), backend.spawn(writer, a, name="writer")
    failing = backend.spawn(broken, a, name="broken")
    with pytest.raises(backend.errors.NoNodeError):
        failing.result(timeout=10)
    backend.run()
    assert (w.result(timeout=1), r.result(timeout=1)) == (b"1", "written")


def test_run_names_the_programs_still_running_and_reraises_a_failure(backend):
    never = backend.event()
    backend.spawn(lambda: never.wait(), name="stuck")
    with pytest.raises(Exception, match="stuck"):
        backend.run(timeout=0.3)
    never.set()
    backend.run()

    def fails():
        raise ValueError("the program's own error")

    backend.spawn(fails, name="fails")
    with pytest.raises(ValueError, match="own error"):
        backend.run()


def test_sleep_and_now_measure_the_backends_clock_and_wait_until_names_what_it_waited_for(backend):
    start = backend.now()
    backend.sleep(0.25)
    assert 0.25 <= backend.now() - start < 0.25 + 0.5
    with pytest.raises(AssertionError, match="the moon"):
        backend.wait_until(lambda: False, timeout=0.1, what="the moon")
    assert backend.wait_until(lambda: "yes", timeout=0.1) == "yes"
    assert backend.path("a") == backend.path("/a/") != backend.path("b")


def test_the_simulated_backend_repeats_a_run_exactly_from_its_seed():
    def story(backend):
        a, b = backend.client(), backend.client()
        a.create(backend.path("x"), ephemeral=True)
        backend.spawn(lambda: b.exists(backend.path("x")), name="reader")
        backend.pause_client(a, backend.session_timeout)
        backend.isolate_leader()
        backend.heal()
        backend.run()
        return [event.describe() for event in backend.ens.sim.trace]

    assert story(SimulatedBackend(seed=3)) == story(SimulatedBackend(seed=3))


def test_the_real_ensemble_is_whole_again_when_a_test_ends_with_its_leader_cut_off(backend):
    if backend.name == "simulated":
        pytest.skip("each test has an ensemble of its own on the simulated backend: nothing to restore")
    zk = backend.client()
    old = backend.isolate_leader(wait=False)
    backend.pause_client(zk, 60)  # left paused too: closing must not wait for the pause to end
    start = backend.now()
    backend.close()  # what the fixture does when the test ends (and does again, harmlessly)
    assert backend.now() - start < 30
    assert backend.serving() == list(backend.servers) and old in backend.serving()


# -- a crashed client -----------------------------------------------------------------------------
def test_a_crashed_clients_ephemeral_goes_only_after_about_its_session_timeout(backend):
    owner, observer = backend.client(), backend.client()
    member = backend.path("member")
    owner.create(member, b"alive", ephemeral=True)
    timeout = backend.session_timeout


    def keeps_reading(zk):
        while True:
            try:
                zk.exists(member)
            except Exception as error:  # noqa: BLE001 - whatever its dead client raises
                return type(error).__name__
            backend.sleep(timeout / 10)

    reader = backend.spawn(keeps_reading, owner, name="the crashed client's program")
    backend.sleep(timeout / 5)
    backend.crash_client(owner)
    crashed = backend.now()
    backend.wait_until(lambda: observer.exists(member) is None, timeout=3 * timeout + 2,
                       what="the crashed client's ephemeral node going")
    gone = backend.now() - crashed

    # The servers last heard the client at most a ping interval (a third of the session) before
    # the crash; they expire it on the next tick after its timeout, then commit the close.
    assert timeout * 2 / 3 - backend.tick <= gone <= timeout + 3 * backend.tick + backend.slack, gone
    # Its program ends, failing on its dead client (so run() does not wait for it for ever).
    assert reader.result(timeout=1) in ("ConnectionLoss", "ConnectionClosedError")


# -- a paused client ------------------------------------------------------------------------------
def test_a_short_pause_is_harmless(backend):
    owner, observer = backend.client(), backend.client()
    member = backend.path("member")
    owner.create(member, ephemeral=True)
    session, heard = session_of(owner), states_of(owner)

    backend.pause_client(owner, backend.session_timeout / 3)
    backend.sleep(backend.session_timeout)

    assert "LOST" not in heard
    assert owner.exists(member) is not None and observer.exists(member) is not None
    assert session_of(owner) == session


def test_a_pause_longer_than_the_session_expires_it_and_the_client_learns_it_afterwards(backend):
    owner, observer = backend.client(), backend.client()
    member = backend.path("member")
    owner.create(member, ephemeral=True)
    session, heard = session_of(owner), states_of(owner)
    timeout = backend.session_timeout

    backend.pause_client(owner, 2.5 * timeout)
    paused = backend.now()
    backend.wait_until(lambda: observer.exists(member) is None, timeout=2.5 * timeout,
                       what="the paused client's ephemeral going")
    assert backend.now() - paused < 2.5 * timeout
    assert "LOST" not in heard  # still paused: it cannot know yet

    backend.wait_until(lambda: "LOST" in heard, timeout=3 * timeout + 2, what="the client hearing LOST")
    assert backend.now() - paused >= 2.5 * timeout
    backend.wait_until(lambda: owner.connected and session_of(owner) not in (None, session),
                       timeout=3 * timeout + 2, what="a new session")
    assert owner.exists(member) is None


# -- an expired session -----------------------------------------------------------------------------
def test_expire_session_deletes_the_ephemerals_at_once_and_the_client_hears_lost(backend):
    owner, observer = backend.client(), backend.client()
    member = backend.path("member")
    owner.create(member, ephemeral=True)
    session, heard = session_of(owner), states_of(owner)

    start = backend.now()
    backend.expire_session(owner)
    assert backend.now() - start < backend.session_timeout + backend.slack

    observer.sync(member)
    assert observer.exists(member) is None
    assert "LOST" in heard
    backend.wait_until(lambda: owner.connected and session_of(owner) not in (None, session),
                       timeout=3 * backend.session_timeout + 2, what="a new session")
    assert owner.create(member, ephemeral=True) == member


# -- the leader cut off ----------------------------------------------------------------------------
def test_isolating_the_leader_keeps_writes_going_through_the_majority_and_heal_brings_it_back(backend):
    a, b = backend.client(), backend.client()
    path = backend.path("k")
    a.create(path, b"before")
    sessions = session_of(a), session_of(b)

    old = backend.isolate_leader()
    assert backend.leader() not in (None, old)
    assert old not in backend.serving()
    a.retry(a.set, path, b"during")
    b.retry(b.sync, path)
    assert b.retry(b.get, path)[0] == b"during"
    assert (session_of(a), session_of(b)) == sessions  # both moved to the majority in time

    backend.heal()
    assert backend.serving() == list(backend.servers) and backend.leader() is not None
    a.retry(a.set, path, b"after")
    back = backend.client(server=old)  # the old leader has caught up with what it missed
    back.sync(path)
    assert back.get(path)[0] == b"after"
    backend.check()


# -- the proxy behind each real client ------------------------------------------------------------
@pytest.fixture
def echo_server():
    """A loopback server that echoes what it receives (a stand-in for ZooKeeper)."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve(conn):
        with conn:
            while data := conn.recv(1024):
                conn.sendall(data)

    def accept():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    yield f"127.0.0.1:{listener.getsockname()[1]}"
    listener.shutdown(socket.SHUT_RDWR)
    listener.close()


def connect(proxy: ZkProxy) -> socket.socket:
    host, port = proxy.address.split(":")
    return socket.create_connection((host, int(port)), timeout=5)


def test_the_proxy_forwards_both_ways_and_skips_a_server_that_refuses(echo_server):
    refusing = socket.create_server(("127.0.0.1", 0))
    dead = f"127.0.0.1:{refusing.getsockname()[1]}"
    refusing.close()  # nobody listens there now
    proxy = ZkProxy([dead, echo_server])
    try:
        with connect(proxy) as s:
            s.sendall(b"ping")
            assert s.recv(16) == b"ping"
    finally:
        proxy.close()


def test_a_paused_proxy_holds_traffic_refuses_new_connections_and_delivers_afterwards(echo_server):
    proxy = ZkProxy([echo_server])
    try:
        with connect(proxy) as s:
            s.sendall(b"a")
            assert s.recv(16) == b"a"
            proxy.pause(0.3)
            start = time.monotonic()
            s.sendall(b"held")
            with connect(proxy) as late:  # the handshake completes, then the proxy hangs up
                assert late.recv(16) == b""
            assert s.recv(16) == b"held"
            assert time.monotonic() - start >= 0.25
    finally:
        proxy.close()


def test_a_cut_proxy_closes_its_connections_and_refuses_new_ones_for_good(echo_server):
    proxy = ZkProxy([echo_server])
    with connect(proxy) as s:
        s.sendall(b"a")
        assert s.recv(16) == b"a"
        proxy.cut()
        assert s.recv(16) == b""
    with pytest.raises(ConnectionRefusedError):
        connect(proxy)
    proxy.close()
    assert not any(t.is_alive() for t in proxy.threads)

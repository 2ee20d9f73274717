"""A TCP proxy between one kazoo client and a real ZooKeeper ensemble, so that tests can break it.

A real client's faults are network faults: a client process that dies stops talking, a client in
a long GC pause says nothing (not even its pings) and then carries on. A test cannot freeze kazoo's
threads, but it can put a proxy between the client and the servers and act on the proxy::

    proxy = ZkProxy(["127.0.0.1:2181", "127.0.0.1:2182", "127.0.0.1:2183"])
    zk = KazooClient(hosts=proxy.address)
    zk.start()
    proxy.pause(3.0)   # nothing passes either way for 3 s; what was sent is delivered afterwards
    proxy.cut()        # every connection closed, new ones refused: the client is dead to the ensemble

One proxy serves one client. It listens on a loopback port of its own and opens, for each
connection the client makes, one connection onward to a server: the next one in turn (round
robin from ``first``, as ``RealEnsemble.client_factory`` gives each client the next server first),
skipping servers that refuse, so a client fails over when a server's JVM is stopped. Each
direction of a connection is copied by a thread of its own, so the bytes of a direction keep
their order.

While paused the proxy holds what it has read (both ways) and also refuses new connections (it
accepts and closes them at once): a paused client must not reach a server at all, as a frozen
process would not. kazoo notices the silence (its read timeout, 2/3 of the session timeout),
drops the connection and retries; the retries fail until the pause ends. So a pause longer than
the session lets the servers expire the session, and the client learns it (``LOST``) only once
the pause is over, as a client waking from a GC pause does.

Every thread is a daemon and :meth:`ZkProxy.close` ends them all; a proxy never outlives its test.
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import threading
import time
from collections.abc import Sequence

BUFFER = 65536


def _split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host, int(port)


class _Link:
    """One client connection and its server connection, copied both ways by two threads."""

    def __init__(self, client: socket.socket, server: socket.socket) -> None:
        self.client = client
        self.server = server
        self.lock = threading.Lock()
        self.shut = False
        self.pumps_left = 2

    def shutdown(self) -> None:
        """End both connections; wakes the threads blocked reading them (idempotent)."""
        with self.lock:
            if self.shut:
                return
            self.shut = True
        for s in (self.client, self.server):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def pump_done(self) -> None:
        """One copying thread has ended; the last one closes the sockets."""
        self.shutdown()
        with self.lock:
            self.pumps_left -= 1
            last = self.pumps_left == 0
        if last:
            self.client.close()
            self.server.close()


class ZkProxy:
    """A cuttable, pausable TCP proxy from one loopback port to the servers of an ensemble.

    Parameters
    ----------
    servers : sequence of str
        ``host:port`` of each server.
    first : int
        Index of the server the first connection goes to; later connections take the next ones.
    connect_timeout : float
        Seconds to wait for a server to accept a connection before trying the next one.

    Attributes
    ----------
    address : str
        ``127.0.0.1:<port>``: the ``hosts`` to give the client.
    """

    def __init__(self, servers: Sequence[str], first: int = 0, connect_timeout: float = 1.0) -> None:
        if not servers:
            raise ValueError("a proxy needs at least one server address")
        self.servers = [_split(a) for a in servers]
        self.turn = itertools.count(first)
        self.connect_timeout = connect_timeout
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self.links: list[_Link] = []
        self.condition = threading.Condition()
        self.resume_at = 0.0
        self.is_cut = False
        self.threads: list[threading.Thread] = []
        self._start(self._accept_loop, "accept")

    def __repr__(self) -> str:
        state = "cut" if self.is_cut else "paused" if self.paused else "open"
        return f"<ZkProxy {self.address} {state}, {len(self.open_links())} connections>"

    # -- what a test does ---------------------------------------------------------------------------
    @property
    def paused(self) -> bool:
        """True while a pause is running."""
        return time.monotonic() < self.resume_at

    def open_links(self) -> list[_Link]:
        """The connections still open."""
        with self.condition:
            return [link for link in self.links if not link.shut]

    def pause(self, seconds: float) -> None:
        """Hold every byte, both ways, and refuse new connections for ``seconds`` from now.

        Returns at once. What was held is delivered when the pause ends (unless the connection
        was closed meanwhile). A second pause extends the first if it ends later.
        """
        if not seconds >= 0:
            raise ValueError(f"seconds must be >= 0, got {seconds!r}")
        with self.condition:
            self.resume_at = max(self.resume_at, time.monotonic() + seconds)
            self.condition.notify_all()

    def resume(self) -> None:
        """End a pause now: what was held is delivered."""
        with self.condition:
            self.resume_at = 0.0
            self.condition.notify_all()

    def cut(self) -> None:
        """Close every connection and refuse new ones, for good: the client has died."""
        with self.condition:
            self.is_cut = True
            links = list(self.links)
            self.condition.notify_all()
        # shutdown (not just close) wakes the thread blocked in accept(): it then ends.
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        for link in links:
            link.shutdown()

    def close(self, timeout: float = 2.0) -> None:
        """Cut, then wait (at most ``timeout`` s in all) for the proxy's threads to end."""
        self.cut()
        deadline = time.monotonic() + timeout
        for thread in list(self.threads):
            thread.join(max(0.0, deadline - time.monotonic()))
        self.listener.close()

    # -- the threads --------------------------------------------------------------------------------
    def _start(self, target, name: str, *args) -> None:
        thread = threading.Thread(target=target, args=args, name=f"zk-proxy {self.address} {name}",
                                  daemon=True)
        self.threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # cut: the listening socket was shut down
            if self.is_cut:
                client.close()
                return
            if self.paused:
                client.close()  # a frozen client reaches nobody
                continue
            self._start(self._connect, "connect", client)

    def _connect(self, client: socket.socket) -> None:
        server = None
        start = next(self.turn)
        for k in range(len(self.servers)):
            address = self.servers[(start + k) % len(self.servers)]
            try:
                server = socket.create_connection(address, timeout=self.connect_timeout)
                break
            except OSError:
                continue  # that server is down: the next one
        if server is None:
            client.close()  # nobody answers: the client sees its connection drop
            return
        server.settimeout(None)
        for s in (client, server):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no Nagle delay on pings
        link = _Link(client, server)
        with self.condition:
            if self.is_cut:
                link.pumps_left = 0
                client.close()
                server.close()
                return
            self.links.append(link)
        self._start(self._pump, "client->server", link, client, server)
        self._start(self._pump, "server->client", link, server, client)

    def _hold(self) -> bool:
        """Wait out a pause; False once the proxy is cut."""
        with self.condition:
            while not self.is_cut:
                left = self.resume_at - time.monotonic()
                if left <= 0:
                    return True
                self.condition.wait(left)
            return False

    def _pump(self, link: _Link, source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                data = source.recv(BUFFER)
                # An end of stream waits out a pause too: a paused client hears nothing, not
                # even that its server closed the connection.
                if not self._hold() or not data:
                    return
                sink.sendall(data)
        except OSError:
            return
        finally:
            link.pump_done()

"""A real ZooKeeper ensemble for the tests: Debian's ``zookeeper`` package (3.8) on loopback.

``RealEnsemble`` starts ``n`` servers (one JVM each, ``QuorumPeerMain`` with its own ``zoo.cfg``,
data directory, ``myid`` and log file under a temporary directory), waits until the four-letter
command ``srvr`` reports one ``Mode: leader`` and the rest ``Mode: follower``, and stops every JVM
it started, by PID. ``stop(i)`` and ``start(i)`` take one server down and bring it back, for tests
that kill the leader or a follower.

The pytest fixture ``real_zookeeper`` (registered in ``tests/conftest.py``) is session-scoped and
lazy: a pytest-xdist worker starts an ensemble only when one of its tests asks for it, and keeps
it for the rest of its session. ``--dist loadscope`` keeps each test module on one worker, so at
most one ensemble runs per worker; a worker never shares its ensemble with another, so a test that
kills a server can never disturb a test running on the other worker.

Where the package is missing the fixture skips with the command that installs it; under
``CI=true`` it fails instead, so CI can never pass without the real-ZooKeeper tests.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

INSTALL_HINT = "apt-get install zookeeper"
"""What to run (as root, on Debian/Ubuntu) to get the real ZooKeeper these tests start."""

DEBIAN_CLASSPATH = (
    "/etc/zookeeper/conf",  # log4j.properties
    "/usr/share/java/zookeeper.jar",  # its manifest names the jars it needs, slf4j-api among them
    # A logging backend: with /usr/share/java/* slf4j would pick its no-op binding and the logs
    # a failed start reports would be empty.
    "/usr/share/java/slf4j-log4j12.jar",
    "/usr/share/java/log4j-1.2.jar",
)
"""Debian's layout of the zookeeper package (3.8): what ``QuorumPeerMain`` needs on the classpath."""

JVM_OPTIONS = (
    "-Xmx256m",
    "-Xms32m",
    # One GC thread and the quick JIT tier: six JVMs share two cores with the rest of the suite,
    # and every test talks to them for seconds, not hours.
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-Djava.net.preferIPv4Stack=true",
    "-Dzookeeper.root.logger=INFO,CONSOLE",
    "-Dzookeeper.console.threshold=INFO",
)

TICK_MS = 200
"""tickTime: short so that elections and session expiry are fast (sessions may be 0.4 s to 60 s)."""


def missing_reason() -> str | None:
    """Say why a real ZooKeeper cannot be started here, or None when it can.

    Returns
    -------
    str or None
        A sentence naming what to install, or None if Java and ZooKeeper's jar are present.
    """
    if shutil.which("java") is None:
        return f"no Java runtime on PATH: install it with `{INSTALL_HINT}` (it pulls in Java)"
    if os.environ.get("ZOOKEEPER_CLASSPATH"):
        return None
    missing = [path for path in DEBIAN_CLASSPATH if not os.path.exists(path)]
    if missing:
        return (
            f"ZooKeeper is not installed ({', '.join(missing)} missing): run `{INSTALL_HINT}` as "
            "root, or set ZOOKEEPER_CLASSPATH to a ZooKeeper 3.8 classpath"
        )
    return None


def free_ports(count: int) -> list[int]:
    """Ask the kernel for ``count`` distinct free TCP ports on 127.0.0.1.

    All sockets stay bound until every port is chosen, so the ports are distinct; another process
    could still take one before the JVM binds it (the ensemble then fails to start, with its log).
    """
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            s = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
        return ports


def four_letter(port: int, command: str = "srvr", timeout: float = 1.0) -> str:
    """Send a four-letter command to the server on ``port`` and return its whole answer ('' if none)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(command.encode())
            chunks = []
            while chunk := s.recv(4096):
                chunks.append(chunk)
            return b"".join(chunks).decode(errors="replace")
    except OSError:
        return ""


def server_mode(port: int) -> str | None:
    """The ``Mode:`` a server reports (``leader``, ``follower``, ``standalone``), or None."""
    for line in four_letter(port).splitlines():
        if line.startswith("Mode:"):
            return line.split(":", 1)[1].strip()
    return None


def _die_with_parent() -> list[str]:
    # The kernel kills the JVM if the test process dies without running its finalizers (SIGKILL,
    # an xdist worker crash), so no ensemble outlives its test run. setpriv execs java, so the PID
    # stays the JVM's; a preexec_fn would do the same but is unsafe once kazoo's threads run.
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "KILL"] if setpriv else []


_RUNNING: dict[int, subprocess.Popen] = {}
"""Every JVM this process started and has not yet reaped, by PID (the atexit backstop reads it)."""


def _stop_process(process: subprocess.Popen, grace: float = 5.0) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(grace)
    _RUNNING.pop(process.pid, None)


@atexit.register
def _stop_leftovers() -> None:
    for process in list(_RUNNING.values()):
        _stop_process(process, grace=2.0)


@dataclass(frozen=True)
class Server:
    """One server of the ensemble: its id, ports and files."""

    sid: int
    client_port: int
    quorum_port: int
    election_port: int
    directory: Path

    @property
    def address(self) -> str:
        """``127.0.0.1:<client port>``, for a client that must talk to this server only."""
        return f"127.0.0.1:{self.client_port}"

    @property
    def log(self) -> Path:
        """The server's log file (its stdout and stderr)."""
        return self.directory / "server.log"

    @property
    def config(self) -> Path:
        """The server's zoo.cfg."""
        return self.directory / "zoo.cfg"


class RealEnsemble:
    """A real ZooKeeper ensemble of ``n`` servers on loopback ports, in a temporary directory.

    Parameters
    ----------
    n
        Number of servers (ids 1..n).
    base_dir
        Directory for the servers' data, configs and logs; a fresh temporary one if None (removed
        by ``close``).
    classpath
        Java classpath holding ZooKeeper and a log4j.properties; Debian's by default, or the
        ZOOKEEPER_CLASSPATH environment variable.

    Examples
    --------
    >>> with RealEnsemble(3) as ens:                      # doctest: +SKIP
    ...     zk = KazooClient(hosts=ens.hosts); zk.start()
    """

    def __init__(self, n: int = 3, base_dir: Path | None = None, classpath: str | None = None) -> None:
        if n < 1:
            raise ValueError(f"an ensemble needs at least one server, got n={n}")
        self.classpath = classpath or os.environ.get("ZOOKEEPER_CLASSPATH") or ":".join(DEBIAN_CLASSPATH)
        self.own_dir = base_dir is None
        self.base_dir = Path(tempfile.mkdtemp(prefix="zookeeper-")) if base_dir is None else Path(base_dir)
        ports = free_ports(3 * n)
        self.servers: dict[int, Server] = {
            sid: Server(sid, *ports[3 * (sid - 1) : 3 * sid], self.base_dir / f"server{sid}")
            for sid in range(1, n + 1)
        }
        self.processes: dict[int, subprocess.Popen] = {}
        self.roots = itertools.count()
        for server in self.servers.values():
            self.write_config(server)

    # -- what a test reads ------------------------------------------------------------------------

    @property
    def hosts(self) -> str:
        """The connection string of every server, for ``KazooClient(hosts=...)``."""
        return ",".join(s.address for s in self.servers.values())

    def address(self, sid: int) -> str:
        """``host:port`` of server ``sid``."""
        return self.servers[sid].address

    def mode(self, sid: int) -> str | None:
        """What server ``sid`` says it is (``leader``/``follower``), None when down or electing."""
        return server_mode(self.servers[sid].client_port) if self.is_running(sid) else None

    def is_running(self, sid: int) -> bool:
        """True while server ``sid``'s JVM is alive."""
        process = self.processes.get(sid)
        return process is not None and process.poll() is None

    def leader(self) -> int | None:
        """The id of the server that says ``Mode: leader``, or None."""
        return next((sid for sid in self.servers if self.mode(sid) == "leader"), None)

    def followers(self) -> list[int]:
        """The ids of the servers that say ``Mode: follower``."""
        return [sid for sid in self.servers if self.mode(sid) == "follower"]

    def client_factory(self, **options: Any) -> Callable[[], Any]:
        """A ``make_client`` giving each new KazooClient the next server first (round robin).

        Two clients of one program then usually talk to two different servers, which is what
        makes reads stale and watches cross servers; each can still fail over to the others.
        """
        from kazoo.client import KazooClient

        turn = itertools.count()
        addresses = [s.address for s in self.servers.values()]

        def make_client() -> KazooClient:
            first = next(turn) % len(addresses)
            hosts = ",".join(addresses[first:] + addresses[:first])
            return KazooClient(hosts=hosts, randomize_hosts=False, **options)

        return make_client

    def fresh_root(self, prefix: str = "t") -> str:
        """A znode path no test of this process has used: ``/<prefix><n>``."""
        return f"/{prefix}{next(self.roots)}"

    def log_tail(self, sid: int, lines: int = 25) -> str:
        """The last ``lines`` lines of server ``sid``'s log."""
        try:
            text = self.servers[sid].log.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    # -- starting and stopping --------------------------------------------------------------------

    def write_config(self, server: Server) -> None:
        """Write ``server``'s zoo.cfg and myid (its data directory is ``<dir>/data``)."""
        data = server.directory / "data"
        data.mkdir(parents=True, exist_ok=True)
        (data / "myid").write_text(f"{server.sid}\n")
        peers = [
            f"server.{s.sid}=127.0.0.1:{s.quorum_port}:{s.election_port}" for s in self.servers.values()
        ]
        server.config.write_text(
            "\n".join(
                [
                    f"tickTime={TICK_MS}",
                    "initLimit=10",
                    "syncLimit=5",
                    f"minSessionTimeout={2 * TICK_MS}",
                    "maxSessionTimeout=60000",
                    f"dataDir={data}",
                    f"clientPort={server.client_port}",
                    "clientPortAddress=127.0.0.1",
                    "admin.enableServer=false",
                    "4lw.commands.whitelist=srvr",
                    # No snapshots or purges during a test run; fsync off: the disks are scratch.
                    "autopurge.purgeInterval=0",
                    "forceSync=no",
                    # Single-server ensembles must still run as a quorum peer (same code path).
                    "standaloneEnabled=false",
                    *peers,
                    "",
                ]
            )
        )

    def start(self, sid: int | None = None, timeout: float = 60.0) -> None:
        """Start server ``sid`` (every server when None) and wait until the ensemble is ready.

        Raises
        ------
        RuntimeError
            When the ensemble is not ready within ``timeout`` seconds; the message holds every
            server's mode and the tail of its log.
        """
        for s in self.servers if sid is None else [sid]:
            if not self.is_running(s):
                self.spawn(s)
        self.wait_ready(timeout)

    def spawn(self, sid: int) -> None:
        """Start server ``sid``'s JVM without waiting for it."""
        server = self.servers[sid]
        log = server.log.open("ab")
        try:
            process = subprocess.Popen(
                [
                    *_die_with_parent(),
                    "java",
                    *JVM_OPTIONS,
                    f"-Dzookeeper.log.dir={server.directory}",
                    "-cp",
                    self.classpath,
                    "org.apache.zookeeper.server.quorum.QuorumPeerMain",
                    str(server.config),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=server.directory,
            )
        finally:
            log.close()
        self.processes[sid] = process
        _RUNNING[process.pid] = process

    def stop(self, sid: int | None = None) -> None:
        """Stop server ``sid`` (every server when None): SIGTERM, then SIGKILL after 5 s."""
        for s in list(self.processes) if sid is None else [sid]:
            process = self.processes.pop(s, None)
            if process is not None:
                _stop_process(process)

    def kill(self, sid: int) -> None:
        """Kill server ``sid`` at once (SIGKILL), as a crash would."""
        process = self.processes.pop(sid, None)
        if process is not None:
            process.kill()
            process.wait()
            _RUNNING.pop(process.pid, None)

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Wait until the running servers are one leader and followers (all running ones serve).

        Raises
        ------
        RuntimeError
            When a JVM exits, or the ensemble is not ready by the deadline.
        """
        deadline = time.monotonic() + timeout
        while True:
            for sid, process in self.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(self.describe(f"ZooKeeper server {sid} exited ({process.returncode})"))
            modes, n = Counter(self.mode(sid) for sid in self.processes), len(self.processes)
            if modes == Counter(leader=1, follower=n - 1) or modes == Counter(standalone=n):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(self.describe(f"ZooKeeper ensemble not ready after {timeout:.0f} s"))
            time.sleep(0.05)

    def describe(self, headline: str) -> str:
        """``headline``, then each server's mode and log tail: what a failed start reports."""
        parts = [headline]
        for sid in self.servers:
            parts.append(f"--- server {sid} ({self.mode(sid) or 'not serving'}), {self.servers[sid].log}:")
            parts.append(self.log_tail(sid))
        return "\n".join(parts)

    def close(self) -> None:
        """Stop every server and remove the temporary directory (if this ensemble made it)."""
        self.stop()
        if self.own_dir:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def __enter__(self) -> RealEnsemble:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def real_ensemble(n: int = 3) -> Iterator[RealEnsemble]:
    """Start an ensemble, yield it, stop it (the body of the ``real_zookeeper`` fixture).

    Skips (or, under CI=true, fails) when ZooKeeper is not installed.
    """
    import pytest

    reason = missing_reason()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and the real-ZooKeeper tests cannot run: {reason}", pytrace=False)
        pytest.skip(reason)
    with RealEnsemble(n) as ensemble:
        yield ensemble

"""A kazoo-compatible client of the simulated ensemble.

:class:`KazooClient` has kazoo 2.11.0's names, signatures, return values, exception classes and
client-side argument checks for the calls a coordination program makes: ``start``, ``stop``,
``restart``, ``close``, ``create``, ``ensure_path``, ``get``, ``set``, ``delete``, ``exists``,
``get_children``, ``sync``, ``transaction`` (``create``, ``delete``, ``set_data``, ``check``,
``commit``), ``retry``, ``add_listener``/``remove_listener``, ``DataWatch``, ``ChildrenWatch``,
and the attributes ``state``, ``client_state``, ``connected``, ``client_id``, ``handler``. So a
program written against ``kazoo.client.KazooClient`` runs on it unchanged, and the same program
gives the same answers on a real ZooKeeper (the differential tests check it).

Every call *blocks* until its answer arrives, and "arrives" means simulated time runs until the
client's server answers: from a notebook cell or a test the call steps the simulation itself;
from a program started with ``Ensemble.spawn`` it waits while the other programs go on (see
``zablib.coord.driver``). Paths are normalised as kazoo does (a relative path is put under the
root, ``//`` collapses, ``..`` is a ValueError) and the server checks the rest.

Known gaps against kazoo: no ``*_async`` calls, no ACLs (``acl`` is type-checked and ignored: every
znode is open), no ``chroot``, no authentication, no ``reconfig``, no recipes bound to the client
(``zk.Lock`` ...: ``zablib.recipes`` takes the client instead).
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from functools import partial
from typing import Any

import zablib.coord.paths as paths
from zablib.coord.connection import Call, ClientNode, Configure, KazooTimeoutError, Start, Stop
from zablib.coord.driver import Driver, SimHandler
from zablib.coord.errors import ConfigurationError, NodeExistsError, NoNodeError, WriterNotClosedException
from zablib.coord.messages import Exists, GetChildren, GetData
from zablib.coord.retry import KazooRetry
from zablib.coord.states import KeeperState
from zablib.coord.txn import (
    CheckRequest,
    CreateRequest,
    DeleteRequest,
    MultiRequest,
    SetDataRequest,
    SyncRequest,
    check_flag,
    check_value,
    check_version,
)
from zablib.coord.watchers import ChildrenWatch, DataWatch


def _check_path(path: object) -> None:
    if not isinstance(path, str):
        raise TypeError("Invalid type for 'path' (string expected)")


def _check_watch(watch: object) -> None:
    if watch and not callable(watch):
        raise TypeError("Invalid type for 'watch' (must be a callable)")


def _check_acl(acl: object) -> None:
    # kazoo: a list/tuple of ACLs, not a single ACL (a namedtuple with perms and id).
    if acl and (not isinstance(acl, tuple | list) or hasattr(acl, "perms")):
        raise TypeError("Invalid type for 'acl' (acl must be a tuple/list of ACL's")


class KazooClient:
    """A ZooKeeper client of a simulated ensemble, with kazoo's API (see the module docstring).

    Made by ``Ensemble.client()``, not directly.

    Parameters
    ----------
    driver : ~zablib.coord.driver.Driver
        The ensemble's driver (runs the simulation while a call waits).
    node : int
        The client's node in the simulation.
    servers : tuple of int
        The servers it may connect to (kazoo's ``hosts``).
    timeout : float
        The session timeout it asks for, in seconds (kazoo's ``timeout``); the server grants it
        within ``[2, 20]`` ticks.
    client_id : (int, bytes), optional
        A session to resume (kazoo's ``client_id``).
    randomize_hosts : bool
        Try the servers in a (seeded) random order.
    call_timeout : float
        Seconds of simulated time a call waits at most (then
        :class:`~zablib.coord.connection.KazooTimeoutError`).
    default_acl : list, optional
        Checked like kazoo's and otherwise ignored (zablib has no ACLs).
    seed : int
        The client's own seed (host order, retry jitter).
    max_retry_delay : float
        The cap, in seconds, of the pause between two rounds of connection attempts.
    """

    def __init__(self, driver: Driver, node: int, servers: tuple[int, ...], *, timeout: float = 0.4,
                 client_id: tuple[int, bytes] | None = None, randomize_hosts: bool = True,
                 call_timeout: float = 10.0, default_acl: list | None = None, seed: int = 0,
                 max_retry_delay: float = 1.0):
        self._driver = driver
        self._node_id = node
        self._node: ClientNode = driver.sim.nodes[node]
        self._call_timeout_ms = call_timeout * 1000.0
        self._session_timeout = int(timeout * 1000)
        self.hosts = tuple(servers)
        self.chroot = ""
        self.default_acl = default_acl
        self.randomize_hosts = randomize_hosts
        self.handler = SimHandler(driver, node)
        self.state_listeners: dict[Callable, None] = {}
        self.DataWatch = partial(DataWatch, self)
        self.ChildrenWatch = partial(ChildrenWatch, self)
        driver.attach(node, lambda: list(self.state_listeners), self.remove_listener)
        driver.request(node, Configure(self.hosts, self._session_timeout, randomize_hosts, seed,
                                       max_retry_delay_ms=max_retry_delay * 1000.0,
                                       client_id=client_id))
        self._retry = KazooRetry(max_tries=None, delay=0.1, backoff=2, max_delay=3600,
                                 sleep_func=self.handler.sleep_func,
                                 clock=lambda: driver.sim.now / 1000.0,
                                 rng=self._node.rng)

    def __repr__(self) -> str:
        return f"<KazooClient {self._node_id} {self.state}>"

    # -- state -----------------------------------------------------------------------------------
    @property
    def node_id(self) -> int:
        """The client's node id in the simulation (101, 102, ...)."""
        return self._node_id

    @property
    def state(self) -> str:
        """kazoo's ``KazooState``: ``"CONNECTED"``, ``"SUSPENDED"`` or ``"LOST"``."""
        return self._node.state

    @property
    def client_state(self) -> str:
        """kazoo's ``KeeperState`` of the connection."""
        return self._node.keeper

    @property
    def connected(self) -> bool:
        """Whether a connection is established."""
        return self._node.live

    @property
    def client_id(self) -> tuple[int, bytes] | None:
        """``(session id, password)`` while connected, else None."""
        node = self._node
        return (node.session_id, node.passwd) if node.live else None

    @property
    def last_zxid(self) -> int:
        """The newest zxid this client has seen."""
        return self._node.last_zxid

    def add_listener(self, listener: Callable[[str], Any]) -> None:
        """Call ``listener(state)`` at each change of :attr:`state`; a listener that returns
        True is removed."""
        if not (listener and callable(listener)):
            raise ConfigurationError("listener must be callable")
        self.state_listeners[listener] = None

    def remove_listener(self, listener: Callable[[str], Any]) -> None:
        """Stop calling ``listener``."""
        self.state_listeners.pop(listener, None)

    # -- session ---------------------------------------------------------------------------------
    def start(self, timeout: float = 15) -> None:
        """Connect, waiting at most ``timeout`` simulated seconds.

        Raises
        ------
        KazooTimeoutError
            If no connection was established in time (the client is then stopped).
        """
        if self._node.live:
            return
        self._driver.request(self._node_id, Start())
        self._driver.wait_until(self._node_id, lambda: self._node.live, "a connection",
                                timeout * 1000.0)
        if not self._node.live:
            self.stop()
            self.close()
            raise KazooTimeoutError("Connection time-out")

    def stop(self) -> None:
        """Close the session (its ephemeral znodes go) and stop; a no-op on a stopped client."""
        if self._node.stopped:
            return
        self._driver.request(self._node_id, Stop())
        limit = max(10.0, self._session_timeout / 1000.0)
        closed = self._driver.wait_until(
            self._node_id, lambda: self._node.keeper == KeeperState.CLOSED, "the session's close",
            limit * 1000.0)
        if not closed:
            raise WriterNotClosedException(
                f"Writer still open from prior connection and wouldn't close after {limit:g} seconds")

    def restart(self) -> None:
        """Stop and start again (with a new session)."""
        self.stop()
        self.start()

    def close(self) -> None:
        """Free the client's resources, after ``stop`` (kazoo's ``close``). A simulated client
        holds none: its calls already raise ``ConnectionClosedError`` once it is stopped."""

    # -- calls -----------------------------------------------------------------------------------
    def _call(self, op: Any, watch: Callable | None = None, include_stat: bool = False) -> Any:
        call = Call(op, watch or None, include_stat, self._call_timeout_ms)
        return self._driver.call(self._node_id, call, f"the answer to {call!r}")

    def retry(self, func: Callable, *args: Any, **kwargs: Any) -> Any:
        """Call ``func(*args, **kwargs)`` again while it fails with ConnectionLoss,
        OperationTimeoutError or SessionExpiredError (kazoo's command retry: no limit on tries,
        pauses from 0.1 s doubling)."""
        return self._retry.copy()(func, *args, **kwargs)

    def create(self, path: str, value: bytes = b"", acl: list | None = None, ephemeral: bool = False,
               sequence: bool = False, makepath: bool = False, include_data: bool = False) -> Any:
        """Create a znode; return its path (with the 10-digit suffix if ``sequence``), or
        ``(path, ZnodeStat)`` with ``include_data``.

        ``makepath`` creates missing parents first. Raises NodeExistsError, NoNodeError (no
        parent), NoChildrenForEphemeralsError, BadArgumentsError (an invalid path), or
        ZookeeperError.
        """
        acl = acl or self.default_acl
        _check_path(path)
        _check_acl(acl)
        if value is not None and not isinstance(value, bytes):
            raise TypeError("Invalid type for 'value' (must be a byte string)")
        check_flag(ephemeral, "ephemeral")
        check_flag(sequence, "sequence")
        check_flag(makepath, "makepath")
        check_flag(include_data, "include_data")
        while True:
            request = CreateRequest(paths.normalize(path, trailing=sequence), value, ephemeral, sequence)
            try:
                return self._call(request, include_stat=include_data)
            except NoNodeError:
                if not makepath:
                    raise
                parent = path.rstrip("/") if sequence and path.endswith("/") else posixpath.split(path)[0]
                self.ensure_path(parent, acl)

    def ensure_path(self, path: str, acl: list | None = None) -> Any:
        """Create ``path`` and any missing parent; True if it already existed, else what the
        last create returned (kazoo's return values)."""
        acl = acl or self.default_acl
        if self.exists(path):
            return True
        parent, node = posixpath.split(path)
        if node:
            self.ensure_path(parent, acl)
        try:
            return self.create(path, acl=acl)
        except NodeExistsError:
            return True

    def exists(self, path: str, watch: Callable | None = None) -> Any:
        """The znode's ZnodeStat, or None if it does not exist; ``watch`` fires when it is
        created, changed or deleted."""
        _check_path(path)
        _check_watch(watch)
        return self._call(Exists(paths.normalize(path), bool(watch)), watch)

    def get(self, path: str, watch: Callable | None = None) -> tuple[bytes | None, Any]:
        """``(data, ZnodeStat)`` of the znode (NoNodeError if missing); ``watch`` fires when it
        is changed or deleted."""
        _check_path(path)
        _check_watch(watch)
        return self._call(GetData(paths.normalize(path), bool(watch)), watch)

    def get_children(self, path: str, watch: Callable | None = None, include_data: bool = False) -> Any:
        """The names of the znode's children (``(names, ZnodeStat)`` with ``include_data``);
        ``watch`` fires when a child is created or deleted, or the znode is deleted."""
        _check_path(path)
        _check_watch(watch)
        check_flag(include_data, "include_data")
        return self._call(GetChildren(paths.normalize(path), bool(watch), include_data), watch)

    def set(self, path: str, value: bytes, version: int = -1) -> Any:
        """Replace the znode's data if its version is ``version`` (-1: any); return the new
        ZnodeStat. Raises BadVersionError, NoNodeError."""
        _check_path(path)
        check_value(value)
        check_version(version)
        return self._call(SetDataRequest(paths.normalize(path), value, version))

    def delete(self, path: str, version: int = -1, recursive: bool = False) -> Any:
        """Delete the znode if its version is ``version`` (-1: any); ``recursive`` deletes its
        children first (and ignores ``version``). Raises NoNodeError, BadVersionError,
        NotEmptyError."""
        check_flag(recursive, "recursive")
        if recursive:
            return self._delete_recursive(path)
        _check_path(path)
        check_version(version)
        return self._call(DeleteRequest(paths.normalize(path), version))

    def _delete_recursive(self, path: str) -> Any:
        try:
            children = self.get_children(path)
        except NoNodeError:
            return True
        for child in children:
            self._delete_recursive(path + child if path == "/" else path + "/" + child)
        try:
            self.delete(path)
        except NoNodeError:
            pass
        return None

    def sync(self, path: str) -> str:
        """Make this client's server catch up with the leader; return the path.

        kazoo checks no type here: its path handling (``path.lstrip("/")``) fails first, with
        AttributeError for None or an int, TypeError for bytes; so does this.
        """
        path.lstrip("/")
        return self._call(SyncRequest(paths.normalize(path)))

    def transaction(self) -> TransactionRequest:
        """A new :class:`TransactionRequest`: operations committed all together or not at all."""
        return TransactionRequest(self)

    def multi(self, operations: list) -> list:
        """Commit ``operations`` (requests of ``zablib.coord.txn``) as one multi: what
        :meth:`TransactionRequest.commit` sends."""
        return self._call(MultiRequest(tuple(operations)))


class TransactionRequest:
    """kazoo's ``TransactionRequest``: collect operations, then :meth:`commit` them at once.

    ``commit()`` returns one result per operation: the created path, True for a delete or a
    check, the new ZnodeStat for a set; if one operation fails, nothing is done and every
    result is an exception instance (``RolledBackError`` for the operations that would have
    succeeded). Also a context manager that commits on leaving.
    """

    def __init__(self, client: KazooClient):
        self.client = client
        self.operations: list = []
        self.committed = False

    def create(self, path: str, value: bytes = b"", acl: list | None = None, ephemeral: bool = False,
               sequence: bool = False) -> None:
        """Add a create (``makepath`` is not available in a transaction)."""
        if acl is None and self.client.default_acl:
            acl = self.client.default_acl
        _check_path(path)
        if acl and not isinstance(acl, tuple | list):
            raise TypeError("Invalid type for 'acl' (acl must be a tuple/list of ACL's")
        check_value(value, allow_none=False)
        check_flag(ephemeral, "ephemeral")
        check_flag(sequence, "sequence")
        self._add(CreateRequest(paths.normalize(path), value, ephemeral, sequence))

    def delete(self, path: str, version: int = -1) -> None:
        """Add a delete."""
        _check_path(path)
        check_version(version)
        self._add(DeleteRequest(paths.normalize(path), version))

    def set_data(self, path: str, value: bytes, version: int = -1) -> None:
        """Add a set."""
        _check_path(path)
        check_value(value, allow_none=False)
        check_version(version)
        self._add(SetDataRequest(paths.normalize(path), value, version))

    def check(self, path: str, version: int) -> None:
        """Add a version check: the transaction fails unless the znode has ``version``."""
        _check_path(path)
        check_version(version)
        self._add(CheckRequest(paths.normalize(path), version))

    def commit(self) -> list:
        """Send the operations; return their results (see the class docstring)."""
        self._check_tx_state()
        self.committed = True
        return self.client.multi(self.operations)

    def __enter__(self) -> TransactionRequest:
        return self

    def __exit__(self, exc_type: Any, exc_value: Any, exc_tb: Any) -> None:
        if not exc_type:
            self.commit()

    def _check_tx_state(self) -> None:
        if self.committed:
            raise ValueError("Transaction already committed")

    def _add(self, request: Any) -> None:
        self._check_tx_state()
        self.operations.append(request)

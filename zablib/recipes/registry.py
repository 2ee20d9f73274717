"""Service registry and discovery: providers register ephemeral znodes, clients watch the list.

Layout: one persistent znode per service, ``{base}/{service}``, and under it one *ephemeral
sequential* znode per registration, named after the provider's address::

    /services/search/10.0.0.7:8080-0000000003      data: whatever the provider says (its load)

A provider registers with :meth:`ServiceRegistry.register`; consumers read the list once
(:meth:`ServiceRegistry.discover`) or follow it with kazoo's ``ChildrenWatch``
(:class:`ServiceWatcher`). The address is in the node's *name*, so one ``get_children`` lists
every provider; the data stays free for what changes (a load, for
:class:`zablib.recipes.balancer.LoadBalancer`).

Failures:

* **A provider that crashes stays listed until its session expires.** Nothing tells the servers
  it is dead but its silence: they delete its ephemeral znode when its session times out, and
  only then do watchers see it go. Until then consumers may send it requests (the recipe cannot
  do better; a client must cope with a listed provider that does not answer).
* **ConnectionLoss during register**: the ``create`` may have been applied. Retrying it blindly
  would register the provider twice (two sequential znodes, one of them never removed until the
  session ends). As kazoo's ``Lock`` looks for its node by a unique prefix, a retry here first
  looks for a child with the same address owned by *this* session (``stat.ephemeralOwner``): a
  session id is unique, so it needs no random prefix and a simulated run stays deterministic.
* **Session loss** (``LOST``): every ephemeral znode of the session is gone: the provider is not
  listed any more. With ``reregister=True`` (the default) the registry registers everything
  again as soon as the client is ``CONNECTED`` with its new session (new paths:
  ``ServiceRegistry.registrations``); kazoo's ``Party`` leaves that to its user.
* **A watcher across a disconnection** misses the changes made meanwhile, one by one: kazoo's
  ``ChildrenWatch`` reads the children again when the client reconnects and reports the new list
  if it differs, so ``ServiceWatcher.history`` gets one entry for all of them.
"""

from __future__ import annotations

from typing import Any

from zablib.coord.paths import join, validate_path
from zablib.recipes.base import errors_of, sequence_number

__all__ = ["ServiceRegistry", "ServiceWatcher", "address_of", "service_path"]

_SUFFIX = len("-0000000000")


def service_path(base: str, service: str) -> str:
    """The znode of ``service`` under ``base`` (``/services/search``).

    Raises
    ------
    TypeError
        If ``service`` is not a str.
    ValueError
        If ``service`` is empty, contains ``/`` or makes an invalid path.
    """
    if not isinstance(service, str):
        raise TypeError(f"a service name must be a str, got {type(service).__name__}")
    if not service or "/" in service:
        raise ValueError(f"a service name must be a non-empty znode name without '/', got {service!r}")
    return validate_path(join(validate_path(base), service))


def _node_prefix(directory: str, address: object) -> str:
    if not isinstance(address, str):
        raise TypeError(f"an address must be a str, got {type(address).__name__}")
    if not address or "/" in address:
        raise ValueError(f"an address must be non-empty and without '/', got {address!r}")
    return validate_path(join(directory, address + "-"), sequential=True)


def address_of(name: str) -> str:
    """The address in a provider's node name: ``"10.0.0.7:8080-0000000003"`` -> ``"10.0.0.7:8080"``.

    Raises
    ------
    ValueError
        If ``name`` is not ``{address}-{ten digits}``.
    """
    sequence_number(name)
    if len(name) <= _SUFFIX or name[-_SUFFIX] != "-":
        raise ValueError(f"{name!r} is not a provider's node name ({{address}}-{{ten digits}})")
    return name[:-_SUFFIX]


class ServiceRegistry:
    """Register providers of services under ``base``; discover them.

    Parameters
    ----------
    client : KazooClient-like
        A started kazoo-compatible client: the provider's session.
    base : str
        The registry's root znode.
    reregister : bool
        Register everything again after the session is lost (see the module docstring).

    Attributes
    ----------
    registrations : dict of str to (str, str)
        ``path -> (service, address)`` of every registration alive as far as this registry
        knows, current paths (they change when a lost session is replaced).
    reregistered : int
        How many registrations were made again after a session loss.
    """

    def __init__(self, client: Any, base: str = "/services", *, reregister: bool = True):
        self.err = errors_of(client)
        self.client = client
        self.base = validate_path(base)
        self.registrations: dict[str, tuple[str, str]] = {}
        self.reregistered = 0
        self._data: dict[str, bytes] = {}
        self._lost = False
        self._again = client.handler.lock_object()  # one re-registration at a time
        if reregister:
            client.add_listener(self._state_changed)

    def __repr__(self) -> str:
        return f"<ServiceRegistry {self.base} {len(self.registrations)} registrations>"

    def register(self, service: str, address: str, data: bytes = b"") -> str:
        """Register ``address`` as a provider of ``service``; return its ephemeral node's path.

        Raises
        ------
        TypeError, ValueError
            On a bad service name, address or data.
        """
        if not isinstance(data, bytes):
            raise TypeError(f"data must be bytes, got {type(data).__name__}")
        directory = service_path(self.base, service)
        path = self._create(directory, _node_prefix(directory, address), data)
        self.registrations[path] = (service, address)
        self._data[path] = data
        return path

    def update(self, path: str, data: bytes) -> None:
        """Set the data of a registration (a provider reports its load, say).

        The new data is kept for a re-registration (a node gone with a lost session is not an
        error). ``set`` is retried after ``ConnectionLoss``: setting the same data twice changes
        nothing a reader sees.

        Raises
        ------
        ValueError
            If ``path`` is not one of ``registrations``.
        """
        self._check_mine(path)
        if not isinstance(data, bytes):
            raise TypeError(f"data must be bytes, got {type(data).__name__}")
        self._data[path] = data
        try:
            self.client.retry(self.client.set, path, data)
        except self.err.NoNodeError:
            pass  # gone with a lost session: the re-registration carries the new data

    def unregister(self, path: str) -> None:
        """Remove a registration (its znode; already gone with a lost session is fine).

        Raises
        ------
        ValueError
            If ``path`` is not one of ``registrations``.
        """
        self._check_mine(path)
        del self.registrations[path]
        del self._data[path]
        try:
            self.client.retry(self.client.delete, path)
        except self.err.NoNodeError:
            pass

    def discover(self, service: str) -> list[str]:
        """The addresses of ``service``'s providers listed now, sorted, each once."""
        directory = service_path(self.base, service)
        try:
            children = self.client.retry(self.client.get_children, directory)
        except self.err.NoNodeError:
            return []
        return sorted({address_of(name) for name in children})

    def _check_mine(self, path: str) -> None:
        if path not in self.registrations:
            raise ValueError(f"{path!r} is not a registration of this registry; "
                             f"current ones: {sorted(self.registrations)}")

    def _create(self, directory: str, prefix: str, data: bytes) -> str:
        tried = [False]

        def attempt() -> str:
            if tried[0]:
                found = self._find_own(directory, prefix)
                if found is not None:
                    return found
            tried[0] = True
            return self.client.create(prefix, data, ephemeral=True, sequence=True, makepath=True)

        return self.client.retry(attempt)

    def _find_own(self, directory: str, prefix: str) -> str | None:
        """The node a lost ``create`` made for this session, if it was applied."""
        session = self.client.client_id
        if session is None:
            raise self.err.ConnectionLoss()  # not connected: let the retry wait
        try:
            children = self.client.get_children(directory)
        except self.err.NoNodeError:
            return None
        for name in sorted(children, key=sequence_number, reverse=True):
            path = join(directory, name)
            if path[:-10] != prefix or path in self.registrations:
                continue
            stat = self.client.exists(path)
            if stat is not None and stat.ephemeralOwner == session[0]:
                return path
        return None

    def _state_changed(self, state: str) -> None:
        # A listener must not block (kazoo calls it on its connection thread): hand the work over.
        if state == "LOST":
            self._lost = True
        elif state == "CONNECTED" and self._lost:
            self._lost = False
            self.client.handler.spawn(self._register_again)

    def _register_again(self) -> None:
        with self._again:
            for old in list(self.registrations):
                if old not in self.registrations:
                    continue  # unregistered meanwhile
                try:
                    stat = self.client.retry(self.client.exists, old)
                    session = self.client.client_id
                    if session is not None and stat is not None and stat.ephemeralOwner == session[0]:
                        continue  # made in this session already (by an earlier round of this loop)
                    service, address = self.registrations.pop(old)
                    data = self._data.pop(old)
                    self.register(service, address, data)
                except self.err.ConnectionClosedError:
                    return  # the client was stopped: nothing to keep alive
                self.reregistered += 1


class ServiceWatcher:
    """Follow the providers of ``service`` with kazoo's ``ChildrenWatch``.

    Parameters
    ----------
    client : KazooClient-like
        A started kazoo-compatible client.
    service : str
        The service's name.
    base : str
        The registry's root znode.

    Attributes
    ----------
    providers : list of str
        The addresses listed at the last change seen, sorted, each once.
    paths : dict of str to str
        ``address -> path`` of its newest registration (for reading a provider's data).
    history : list of list of str
        Every distinct provider list seen, in order (the first is the list found at the start).
    """

    def __init__(self, client: Any, service: str, base: str = "/services"):
        errors_of(client)
        self.client = client
        self.service = service
        self.directory = service_path(base, service)
        self.providers: list[str] = []
        self.paths: dict[str, str] = {}
        self.history: list[list[str]] = []
        self.closed = False
        # kazoo's ChildrenWatch stops at once on a missing znode: make sure the service's exists.
        client.retry(client.ensure_path, self.directory)
        client.ChildrenWatch(self.directory, self._changed)

    def __repr__(self) -> str:
        return f"<ServiceWatcher {self.directory} {self.providers}>"

    def _changed(self, children: list[str]) -> bool | None:
        if self.closed:
            return False  # tells the ChildrenWatch to stop
        paths: dict[str, str] = {}
        for name in sorted(children, key=sequence_number):
            paths[address_of(name)] = join(self.directory, name)  # the newest one wins
        self.paths = paths
        providers = sorted(paths)
        if not self.history or providers != self.providers:
            self.providers = providers
            self.history.append(providers)
        return None

    def close(self) -> None:
        """Stop following: the next change stops the ``ChildrenWatch`` without calling back."""
        self.closed = True

"""Configuration publish/subscribe: one znode holds the configuration, subscribers watch it.

The publisher writes the whole configuration into one znode (:func:`publish`); every subscriber
follows it with kazoo's ``DataWatch`` (:class:`ConfigSubscriber`), which reads the znode, leaves
a watch, and reads again each time the watch fires.

What a subscriber sees, and what it may not:

* **It converges to the last value.** After the last ``publish``, every connected subscriber
  reads the znode again (its watch fired) and ends with the last value.
* **It may skip intermediate values.** A watch fires once and the subscriber reads *the current*
  value when its read arrives: two writes in a row may reach it as one change, the second. What it
  sees (``ConfigSubscriber.seen``) is always a *subsequence* of what was published, in order:
  never a value twice out of order, never a value nobody wrote.
* **Across a disconnection** (``SUSPENDED``: its server died or the network broke) kazoo drops
  every watch and hands each a ``NONE`` event; the ``DataWatch`` re-reads with the client's
  command retry, which waits until the client has reconnected: the subscriber sees the value of
  the moment it reconnects, skipping every write made meanwhile. Until then ``ConfigSubscriber.value``
  is the last value it read, possibly stale, and nothing tells it so but the client's state.
* **After its session is lost** (``LOST``, then ``CONNECTED`` with a new session) the
  ``DataWatch`` reads again too (it listens for ``CONNECTED``): a subscriber needs no action. A
  configuration is a persistent znode: a lost session takes nothing with it.

``ConnectionLoss`` on the publisher's side: a ``set`` whose answer is lost may have been applied
or not, and kazoo's plain ``client.retry(client.set, ...)`` would apply it a second time (a
second version with the same value: subscribers would see it twice). :func:`write_value` reads
the znode before trying again and stops if it holds the value already: the lost write was
applied. What stays ambiguous, as for any client of ZooKeeper: if another publisher wrote on top
of our lost write before we looked, we cannot tell whether ours was applied, and write it again
(it then comes last); if the znode held the same value before, we may take its old version for
ours. Both end with the value published; the first is why one publisher per configuration is the
usual rule. kazoo has no configuration recipe of its own; this is the pattern of ZooKeeper's
documentation, with its lost-answer case handled.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from zablib.coord.paths import validate_path
from zablib.recipes.base import errors_of

__all__ = ["ConfigSubscriber", "publish", "write_value"]


def _check_value(value: object) -> None:
    if not isinstance(value, bytes):
        raise TypeError(f"a configuration value must be bytes, got {type(value).__name__}")


def write_value(client: Any, path: str, value: bytes) -> Any:
    """Make ``value`` the data of ``path``, creating the znode (and its parents) if it is missing.

    One unconditional ``set`` (one round trip, so a fast writer's calls pipeline on its
    connection and are applied in the order made). After ``ConnectionLoss`` or a session expiry,
    the answer is lost: it reads the znode before writing again and stops if it already holds
    ``value``, so a lost write is not applied twice (see the module docstring for what stays
    ambiguous).

    Parameters
    ----------
    client : KazooClient-like
        A started kazoo-compatible client.
    path : str
        The znode.
    value : bytes
        The data to write.

    Returns
    -------
    ~zablib.coord.tree.ZnodeStat
        The znode's stat after our write (``stat.version`` is the version written), or, after a
        lost answer, the stat of the version found holding ``value``.

    Raises
    ------
    TypeError
        If ``value`` is not bytes.
    ValueError
        If ``path`` is not a valid znode path.
    """
    _check_value(value)
    validate_path(path)
    err = errors_of(client)
    answer_lost = [False]

    def attempt() -> Any:
        if answer_lost[0]:
            try:
                data, stat = client.get(path)
            except err.NoNodeError:
                data, stat = None, None
            if stat is not None and data == value:
                return stat  # the write whose answer we lost was applied (or someone wrote it)
        answer_lost[0] = True  # until this attempt returns: an exception means we cannot know
        while True:  # a concurrent create or delete may race us: go round again
            try:
                return client.set(path, value)
            except err.NoNodeError:
                pass
            try:
                return client.create(path, value, makepath=True, include_data=True)[1]
            except err.NodeExistsError:
                pass

    return client.retry(attempt)


def publish(client: Any, path: str, value: bytes) -> int:
    """Publish ``value`` as the configuration at ``path``; return the version written.

    Parameters
    ----------
    client : KazooClient-like
        A started kazoo-compatible client.
    path : str
        The configuration's znode (created with its parents if missing).
    value : bytes
        The whole configuration.

    Returns
    -------
    int
        The znode's version after this write (0 for the write that created it).
    """
    return write_value(client, path, value).version


class ConfigSubscriber:
    """Follow the configuration at ``path`` with kazoo's ``DataWatch``.

    Parameters
    ----------
    client : KazooClient-like
        A started kazoo-compatible client.
    path : str
        The configuration's znode; it need not exist yet.
    on_change : callable, optional
        ``on_change(value, version)`` after each change the subscriber sees (``(None, None)``
        when the znode is deleted). It runs on the client's callback thread (greenlet): it must
        not block for long.

    Attributes
    ----------
    value : bytes or None
        The configuration last read (None while the znode does not exist).
    version : int or None
        Its version.
    seen : list of bytes
        Every value read, in order: a subsequence of what was published.
    versions : list of int
        The version of each value in ``seen``: strictly increasing while the znode is not
        deleted and created again.
    """

    def __init__(self, client: Any, path: str,
                 on_change: Callable[[bytes | None, int | None], Any] | None = None):
        if on_change is not None and not callable(on_change):
            raise TypeError(f"on_change must be callable, got {type(on_change).__name__}")
        validate_path(path)
        errors_of(client)
        self.client = client
        self.path = path
        self.value: bytes | None = None
        self.version: int | None = None
        self.seen: list[bytes] = []
        self.versions: list[int] = []
        self.on_change = on_change
        self.closed = False
        client.DataWatch(path, self._changed)

    def __repr__(self) -> str:
        return f"<ConfigSubscriber {self.path} version={self.version} value={self.value!r}>"

    def _changed(self, data: bytes | None, stat: Any) -> bool | None:
        if self.closed:
            return False  # tells the DataWatch to stop
        self.value = data
        self.version = None if stat is None else stat.version
        if stat is not None:
            self.seen.append(data)
            self.versions.append(stat.version)
        if self.on_change is not None:
            self.on_change(self.value, self.version)
        return None

    def close(self) -> None:
        """Stop following: the next change stops the ``DataWatch`` without calling back."""
        self.closed = True

"""Event notification: a znode's data as a channel, its watch as the doorbell.

A :class:`Notifier` signals by writing a payload into one znode; every :class:`Listener`
follows the znode with kazoo's ``DataWatch`` and is called with the payload it reads.

A watch is a doorbell, not a mailbox. It fires once, and the listener then reads the znode's
*current* data: signals sent while the watch was being set again, or while the listener was
disconnected or paused, are **coalesced** into the one it reads. It never gets a signal twice or
out of order. The znode's version counts every signal (each ``set`` adds one), so a listener
knows how many it missed from the gap between the versions it read: ``Listener.missed``.
Use it for "something changed, look again", never to deliver every message (a queue does that:
``zablib.recipes.queue``).

Failures:

* **Across a disconnection** (``SUSPENDED``) kazoo drops the watch and hands it a ``NONE`` event;
  the ``DataWatch`` reads again with the client's command retry, which waits until the client has
  reconnected. The listener then gets the *latest* payload, and ``missed`` counts the signals in
  between. The same after a session loss (``LOST``, then ``CONNECTED``): the ``DataWatch`` reads
  again on ``CONNECTED``. Nothing is ephemeral here: a lost session takes nothing with it.
* **ConnectionLoss while signalling**: the notifier's write may have been applied; it reads the
  znode before writing again (:func:`zablib.recipes.config.write_value`) so that a lost answer does
  not become two signals. The cost: if the znode already held the same payload, a signal whose
  answer was lost may be taken as sent when it was not; listeners would have read that payload
  anyway.
* **The znode deleted and created again**: versions start from 0 again; a listener that read
  it missing counts every version of the new znode it did not read.

kazoo has no notification recipe; this is ZooKeeper's "watch as a signal" pattern.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from zablib.coord.paths import validate_path
from zablib.recipes.base import errors_of
from zablib.recipes.config import write_value

__all__ = ["Listener", "Notifier"]


class Notifier:
    """Send signals through the znode at ``path`` (made with its parents if missing).

    Parameters
    ----------
    client : KazooClient-like
        A started kazoo-compatible client.
    path : str
        The channel's znode.

    Attributes
    ----------
    sent : int
        How many signals this notifier has sent.
    """

    def __init__(self, client: Any, path: str):
        errors_of(client)
        self.client = client
        self.path = validate_path(path)
        self.sent = 0

    def __repr__(self) -> str:
        return f"<Notifier {self.path} sent={self.sent}>"

    def signal(self, payload: bytes) -> int:
        """Signal ``payload``; return the znode's version it became (0 for the first).

        Raises
        ------
        TypeError
            If ``payload`` is not bytes.
        """
        version = write_value(self.client, self.path, payload).version
        self.sent += 1
        return version


class Listener:
    """Listen to the channel at ``path`` (it need not exist yet).

    Parameters
    ----------
    client : KazooClient-like
        A started kazoo-compatible client.
    path : str
        The channel's znode.
    callback : callable, optional
        ``callback(payload)`` for each payload read; it runs on the client's callback thread
        (greenlet) and must not block for long.

    Attributes
    ----------
    events : list of bytes
        The payloads read, in order (the one found at the start included, if the znode exists).
    versions : list of int
        The znode's version of each payload in ``events``.
    missed : int
        Signals coalesced away: sent after the first one read (or after the znode was found
        missing) and never read. ``len(events) + missed`` counts every signal since.
    """

    def __init__(self, client: Any, path: str, callback: Callable[[bytes], Any] | None = None):
        if callback is not None and not callable(callback):
            raise TypeError(f"callback must be callable, got {type(callback).__name__}")
        errors_of(client)
        self.path = validate_path(path)
        self.callback = callback
        self.events: list[bytes] = []
        self.versions: list[int] = []
        self.missed = 0
        self.closed = False
        # The version read last; -1 once the znode was read missing (its first version is 0);
        # None before the first read.
        self._last: int | None = None
        client.DataWatch(path, self._changed)

    def __repr__(self) -> str:
        return f"<Listener {self.path} events={len(self.events)} missed={self.missed}>"

    def _changed(self, data: bytes | None, stat: Any) -> bool | None:
        if self.closed:
            return False  # tells the DataWatch to stop
        if stat is None:
            self._last = -1
            return None
        version = stat.version
        if self._last is not None:
            # A version below the last read: the znode was made again; its versions 0.. are new.
            since = self._last if version > self._last else -1
            self.missed += version - since - 1
        self._last = version
        self.events.append(data)
        self.versions.append(version)
        if self.callback is not None:
            self.callback(data)
        return None

    def close(self) -> None:
        """Stop listening: the next signal stops the ``DataWatch`` without calling back."""
        self.closed = True

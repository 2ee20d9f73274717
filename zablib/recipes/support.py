"""What the locking recipes share: argument checks, names nobody else can have, and a deadline.

* :func:`check_path` and :func:`check_timeout` turn a bad argument into a ``TypeError`` or
  ``ValueError`` naming it, before anything is sent.
* :func:`unique_prefix` gives a node-name prefix no other contender can have (kazoo's Lock puts
  a random UUID there, an idea from Netflix's Curator). A recipe whose ``create`` was answered by
  ``ConnectionLoss`` does not know whether the node exists; it lists the parent's children and
  looks for its prefix. A UUID would make a simulated run differ from one run to the next, so the
  prefix is built from the client's first session id (ZooKeeper never gives two live sessions
  the same id) and a counter kept per client object: unique, and the same for the same seed.
* :class:`Deadline` measures a timeout on the *client's* clock. A recipe never reads
  ``time.monotonic``: on the simulated ensemble time is simulated, and a wall clock would be
  wrong. The deadline is a helper task of the client's handler that sleeps on an event and, if
  nobody finished first, says so and wakes the recipe.
"""

from __future__ import annotations

import itertools
import weakref
from typing import Any

from zablib.recipes.base import errors_of

__all__ = ["Deadline", "check_path", "check_timeout", "unique_prefix"]

# client -> (its tag, a counter of the prefixes handed out for it). Weak keys: a client that is
# gone takes its entry with it, so a new Ensemble's clients start again at 0.
_PREFIXES: weakref.WeakKeyDictionary[Any, tuple[str, itertools.count]] = weakref.WeakKeyDictionary()


def check_path(path: object, what: str = "path") -> str:
    """``path`` if it is an absolute znode path without a trailing slash.

    Raises
    ------
    TypeError
        If ``path`` is not a string.
    ValueError
        If it is not absolute, or ends with ``/``.
    """
    if not isinstance(path, str):
        raise TypeError(f"{what} must be a string, got {type(path).__name__}")
    if not path.startswith("/") or (path.endswith("/") and path != "/"):
        raise ValueError(f"{what} must be an absolute znode path like '/app/lock', got {path!r}")
    return path


def check_timeout(timeout: object) -> float | None:
    """``timeout`` (seconds) if it is None or a number >= 0.

    Raises
    ------
    TypeError
        If it is not a number.
    ValueError
        If it is negative.
    """
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise TypeError(f"timeout must be a number of seconds or None, got {timeout!r}")
    if timeout < 0:
        raise ValueError(f"timeout must be >= 0 seconds, got {timeout!r}")
    return float(timeout)


def _session_id(client: Any) -> int:
    current = client.client_id
    if current is None:
        raise errors_of(client).ConnectionLoss("no session yet: waiting for a connection")
    return current[0]


def unique_prefix(client: Any) -> str:
    """A node-name prefix that no other call, on this client or any other, gets.

    Waits (``client.retry``) until the client has a session, the first time it is asked for
    this client.

    >>> # unique_prefix(zk) -> '1000065f3a0000-0', then '1000065f3a0000-1', ...
    """
    entry = _PREFIXES.get(client)
    if entry is None:
        entry = (f"{client.retry(_session_id, client):x}", itertools.count())
        _PREFIXES[client] = entry
    tag, counter = entry
    return f"{tag}-{next(counter)}"


class Deadline:
    """A timeout on the client's own clock, ringing an event the recipe waits on.

    Parameters
    ----------
    client : KazooClient-like
        Whose handler runs the timer (a thread on kazoo, a greenlet on simulated time).
    timeout : float or None
        Seconds; None never rings.
    wake : Event-like
        The event the recipe waits on; set when the deadline passes.

    Attributes
    ----------
    expired : bool
        The deadline passed before :meth:`finish` was called.
    """

    def __init__(self, client: Any, timeout: float | None, wake: Any):
        self.expired = False
        self.wake = wake
        self.done = client.handler.event_object()
        if timeout is not None:
            client.handler.spawn(self.ring, timeout)

    def ring(self, timeout: float) -> None:
        """The timer: wait for :meth:`finish` at most ``timeout`` seconds, else expire."""
        if not self.done.wait(timeout):
            self.expired = True
            self.wake.set()

    def finish(self) -> None:
        """The recipe is done waiting: stop the timer (it will not ring)."""
        self.done.set()

"""A distributed lock, ZooKeeper's recipe: ephemeral sequential nodes, each waiter watching one.

Every contender creates an *ephemeral sequential* node under the lock's path
(``/app/lock/<prefix>__lock__0000000007``). The contender whose node has the lowest sequence
number holds the lock; every other one watches the node just before its own, its
*predecessor*, and looks again when that node goes. Releasing deletes the node; a holder whose
session ends loses its node, and with it the lock, without doing anything.

Why the predecessor, and not the lowest node or the parent's children: when the holder leaves,
only its successor must act. Watching the parent's children (:class:`HerdLock`, the naive recipe)
wakes *every* waiter at every change, N notifications where one would do: the herd effect.
``Lock.wakeups`` counts the notifications each contender received. Which node to watch is a
pure rule, :func:`watch_predecessor`, passed as ``predecessor=`` (the door for the exercise
"which node must a lock waiter watch").

**Fencing token.** ``Lock.token`` is the sequence number of the holder's node. ZooKeeper takes
sequence numbers from the parent's change counter, so they only grow, and holders get the lock in
the order of their numbers: a later holder always has a larger token. Pass it to a
:class:`~zablib.recipes.fencing.FencedResource`: a holder paused past its session timeout comes
back with an older token and its writes are refused.

**ConnectionLoss.** A ``create`` answered by ``ConnectionLoss`` may or may not have happened. As
kazoo's Lock (and Curator's) does, the node name starts with a prefix no other contender has
(:func:`~zablib.recipes.support.unique_prefix`); after the loss the recipe lists the children,
once reconnected, and adopts the node with its prefix, or creates one if there is none. Every
read is retried with ``client.retry``; a release is a delete retried until it succeeds or the
node is gone.

**Session loss.** When the session expires the ensemble deletes the node: the lock is gone,
whatever the program is doing. A waiter notices (its node is no longer among the children) and
joins the queue again with a new node, as kazoo's does. A holder's ``Lock.is_acquired``
becomes False when the client reports ``LOST`` (a state listener; kazoo's Lock leaves this to the
user's listener); but a holder does not hear of it in time if it is paused or cut off: use the
fencing token. A lost lock is not taken again by itself: the program decides.

Differences from kazoo's ``Lock``: ``acquire(timeout=...)`` returns False when the time is up
(kazoo raises ``LockTimeout``), as ``threading.Lock.acquire`` does; a second ``acquire`` of a held
lock raises ``RuntimeError`` (kazoo's blocks forever); the context manager returns the lock (for
``with Lock(...) as lock: resource.write(lock.token, ...)``). ``cancel()`` makes a pending
``acquire`` raise the client's ``CancelledError``, as kazoo's does.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from zablib.recipes.base import errors_of, sequence_number
from zablib.recipes.support import Deadline, check_path, check_timeout, unique_prefix

__all__ = ["LOCK_MARK", "HerdLock", "Lock", "watch_predecessor"]

#: What every lock node's name carries before its sequence number (kazoo's ``__lock__``, so that
#: a kazoo Lock and this one on the same path see each other as contenders).
LOCK_MARK = "__lock__"

_CONTENDER = re.compile(re.escape(LOCK_MARK) + r"\d{10}$")

# What one look at the contenders tells a contender.
HELD, WAIT, AGAIN, GONE = "held", "wait", "again", "gone"


def watch_predecessor(children: list[str], mine: str) -> str | None:
    """The node a lock waiter watches: the contender just before ``mine`` in sequence order.

    Parameters
    ----------
    children : list of str
        The names of every contender's node (in any order; ZooKeeper lists children unsorted,
        and node names may differ before their ten-digit sequence number).
    mine : str
        The name of this contender's node (one of ``children``).

    Returns
    -------
    str or None
        The name of the node to watch, or None when ``mine`` has the lowest sequence number:
        this contender holds the lock.

    Raises
    ------
    ValueError
        If ``mine`` is not among ``children``.

    Examples
    --------
    >>> watch_predecessor(["b__lock__0000000003", "a__lock__0000000001", "c__lock__0000000007"],
    ...                   "c__lock__0000000007")
    'b__lock__0000000003'
    >>> watch_predecessor(["a__lock__0000000001"], "a__lock__0000000001") is None
    True
    """
    if mine not in children:
        raise ValueError(f"{mine!r} is not among the contenders {sorted(children)!r}")
    number = sequence_number(mine)
    earlier = [child for child in children if sequence_number(child) < number]
    return max(earlier, key=sequence_number) if earlier else None


class Lock:
    """A distributed lock: kazoo's ``Lock`` with a fencing token and a pluggable watch rule.

    Parameters
    ----------
    client : KazooClient-like
        A started client (kazoo's, or zablib's simulated one).
    path : str
        The lock's znode (created if missing); contenders are its children.
    identifier : str
        A name for this contender, stored in its node (see :meth:`contenders`).
    predecessor : callable, optional
        ``predecessor(children, mine) -> str | None``: which contender node to watch, None when
        ``mine`` holds the lock. Default :func:`watch_predecessor`. The lock trusts the rule: a
        rule that answers None for a node that is not first breaks mutual exclusion.

    Attributes
    ----------
    is_acquired : bool
        This contender holds the lock (as far as it knows: see the module docstring).
    token : int or None
        The fencing token: the sequence number of this contender's node, while it has one.
    node : str or None
        The name of this contender's node, while it has one.
    wakeups : int
        Watch notifications this contender has received (the herd effect, counted).
    waiting : bool
        True while ``acquire`` is blocked waiting for a notification.

    Examples
    --------
    >>> lock = Lock(zk, "/app/lock", "worker-1")           # doctest: +SKIP
    >>> with lock:                                         # doctest: +SKIP
    ...     resource.write(lock.token, b"my update")
    """

    def __init__(self, client: Any, path: str, identifier: str = "", *,
                 predecessor: Callable[[list[str], str], str | None] | None = None):
        self.err = errors_of(client)
        self.path = check_path(path, "the lock's path")
        if path == "/":
            raise ValueError("the lock's path must be below the root, e.g. '/app/lock'")
        if not isinstance(identifier, str):
            raise TypeError(f"identifier must be a string, got {identifier!r}")
        if predecessor is not None and not callable(predecessor):
            raise TypeError("predecessor must be a function predecessor(children, mine) -> str | None, "
                            f"got {predecessor!r}")
        self.client = client
        self.identifier = identifier
        self.predecessor = predecessor or watch_predecessor
        self.is_acquired = False
        self.token: int | None = None
        self.node: str | None = None
        self.wakeups = 0
        self.waiting = False
        self.cancelled = False
        self.wake_event = client.handler.event_object()

    def __repr__(self) -> str:
        state = "held" if self.is_acquired else "waiting" if self.waiting else "free"
        return f"<{type(self).__name__} {self.path} {self.identifier!r} {state}, token {self.token}>"

    # -- acquiring --------------------------------------------------------------------------------
    def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        """Take the lock: wait until this contender's node is first (or the time is up).

        Parameters
        ----------
        blocking : bool
            False: look once and return at once.
        timeout : float, optional
            Give up after this many seconds (of the client's clock).

        Returns
        -------
        bool
            True if the lock is held, False if ``blocking`` was False and the lock was taken, or
            the time ran out (this contender's node is then deleted).

        Raises
        ------
        CancelledError
            The client's ``CancelledError``, if :meth:`cancel` was called meanwhile.
        RuntimeError
            If this Lock already holds the lock (it is not re-entrant).
        """
        if self.is_acquired:
            raise RuntimeError(f"this {type(self).__name__} already holds {self.path} (it is not re-entrant)")
        if not isinstance(blocking, bool):
            raise TypeError(f"blocking must be True or False, got {blocking!r}")
        timeout = check_timeout(timeout)
        self.cancelled = False
        deadline = Deadline(self.client, timeout if blocking else None, self.wake_event)
        prefix = mine = None
        try:
            self.client.retry(self.client.ensure_path, self.path)
            prefix = unique_prefix(self.client) + LOCK_MARK
            while True:
                if self.cancelled:
                    raise self.err.CancelledError(f"acquiring {self.path} was cancelled")
                if mine is None:
                    mine = self.create_node(prefix)
                    self.node, self.token = mine, sequence_number(mine)
                self.wake_event.clear()
                turn = self.client.retry(self.look, mine)
                if turn == HELD:
                    break
                if turn == GONE:  # the session expired and took our node: queue up again
                    mine = self.node = self.token = None
                elif turn == WAIT:
                    if not blocking or deadline.expired:
                        self.abandon(prefix, mine)
                        return False
                    self.waiting = True
                    self.wake_event.wait()
                    self.waiting = False
        except Exception:  # not BaseException: a program being torn down sends nothing more
            self.abandon(prefix, mine)
            raise
        finally:
            self.waiting = False
            deadline.finish()
        self.is_acquired = True
        self.client.add_listener(self.session_changed)
        return True

    def create_node(self, prefix: str) -> str:
        """Create this contender's node and return its name; after a ``ConnectionLoss``, adopt
        the node with ``prefix`` if the create did happen."""
        while True:
            try:
                created = self.client.create(f"{self.path}/{prefix}", self.identifier.encode(),
                                             ephemeral=True, sequence=True)
                return created.rsplit("/", 1)[1]
            except (self.err.ConnectionLoss, self.err.SessionExpiredError):
                found = self.client.retry(self.find, prefix)
                if found is not None:
                    return found

    def find(self, prefix: str) -> str | None:
        """The child whose name starts with ``prefix``, or None."""
        return next((c for c in self.client.get_children(self.path) if c.startswith(prefix)), None)

    def contender_nodes(self, watch: Callable | None = None) -> list[str]:
        """The names of the contenders' nodes, in sequence order (one ``get_children``)."""
        children = self.client.get_children(self.path, watch=watch)
        return sorted((c for c in children if _CONTENDER.search(c)), key=sequence_number)

    def look(self, mine: str) -> str:
        """One look at the contenders: HELD, or WAIT with a watch set on the predecessor, or
        AGAIN (the predecessor went meanwhile), or GONE (our node is not there any more).
        The rule gets the contenders in the server's order, as a real ZooKeeper lists them."""
        children = [c for c in self.client.get_children(self.path) if _CONTENDER.search(c)]
        if mine not in children:
            return GONE
        before = self.predecessor(list(children), mine)
        if before is None:
            return HELD
        if before == mine or before not in children:
            raise ValueError(f"the predecessor rule answered {before!r}; it must answer None or "
                             f"another contender's node among {children!r}")
        try:
            self.client.get(f"{self.path}/{before}", watch=self.notified)
        except self.err.NoNodeError:
            return AGAIN
        return WAIT

    def notified(self, event: Any) -> None:
        """Watch function: count the notification and wake ``acquire``."""
        self.wakeups += 1
        self.wake_event.set()

    def abandon(self, prefix: str | None, mine: str | None) -> None:
        """Best effort: delete this contender's node after a failed or cancelled acquire."""
        self.node = self.token = None
        if prefix is None:
            return
        try:
            node = mine or self.find(prefix)
            if node is not None:
                self.client.delete(f"{self.path}/{node}")
        except self.err.KazooException:
            pass  # an ephemeral node goes with its session anyway

    def cancel(self) -> None:
        """Make a pending :meth:`acquire` give up (it raises ``CancelledError``)."""
        self.cancelled = True
        self.wake_event.set()

    # -- holding ------------------------------------------------------------------------------------
    def session_changed(self, state: str) -> bool:
        """State listener while held: ``LOST`` means the node, and the lock, are gone."""
        if state == "LOST":
            self.is_acquired = False
            self.node = None
            return True  # kazoo removes a listener that returns True
        return False

    def release(self) -> bool:
        """Give the lock up (delete this contender's node).

        Returns
        -------
        bool
            True if the lock was held and is now released; False if it was not held (never
            acquired, already released, or lost with the session).
        """
        if not self.is_acquired:
            return False
        self.client.remove_listener(self.session_changed)
        node = self.node
        self.client.retry(self.delete_node, node)
        self.is_acquired = False
        self.node = self.token = None
        return True

    def delete_node(self, node: str) -> None:
        """Delete ``node``; already gone is fine (a retried delete, or an expired session)."""
        try:
            self.client.delete(f"{self.path}/{node}")
        except self.err.NoNodeError:
            pass

    def contenders(self) -> list[str]:
        """The contenders' identifiers, in lock order (the holder first)."""
        self.client.retry(self.client.ensure_path, self.path)
        names = self.client.retry(self.contender_nodes)
        identifiers = []
        for name in names:
            try:
                data, _ = self.client.retry(self.client.get, f"{self.path}/{name}")
            except self.err.NoNodeError:
                continue
            identifiers.append((data or b"").decode("utf-8"))
        return identifiers

    def __enter__(self) -> Lock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class HerdLock(Lock):
    """The naive lock: every waiter watches the lock's children and looks again at each change.

    Correct, and the same API as :class:`Lock`, but releasing the lock notifies *every* waiter
    (each lists the children again; one of them finds itself first): N notifications and N
    ``get_children`` calls where :class:`Lock` makes one. ``Lock.wakeups`` counts them.
    """

    def __init__(self, client: Any, path: str, identifier: str = ""):
        super().__init__(client, path, identifier)

    def look(self, mine: str) -> str:
        """One look at the children, with a watch on them: HELD, WAIT or GONE."""
        children = self.contender_nodes(watch=self.notified)
        if mine not in children:
            return GONE
        return HELD if watch_predecessor(children, mine) is None else WAIT

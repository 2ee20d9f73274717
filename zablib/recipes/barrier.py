"""Barriers: hold processes back until a condition holds (ZooKeeper's recipes).

:class:`Barrier` (kazoo's): the barrier is up while its znode exists. ``create()`` puts it up,
``remove()`` takes it down, ``wait()`` blocks until it is down.

:class:`DoubleBarrier` (ZooKeeper's "double barrier"): ``num_clients`` processes synchronise the
start and the end of a computation. ``enter()`` returns when ``num_clients`` of them have
arrived; ``leave()`` returns when every one of them has left. Each participant is an ephemeral
child of the barrier's znode; the one that sees the count reach ``num_clients`` creates the
child ``ready``, which every participant waits for. To leave, a participant deletes its node
and waits for the lowest remaining one to go; the lowest waits for the highest, and leaves last,
taking ``ready`` down with it. Each waiter watches one node, not all of them.

**ConnectionLoss.** Every read and every delete is retried with ``client.retry``; a participant's
node has a name nobody else has (:func:`~zablib.recipes.support.unique_prefix`), so a ``create``
answered by ``ConnectionLoss`` is retried and ``NodeExistsError`` then means it had happened.
kazoo's barriers wait for one kind of watch event (``DELETED``, ``CREATED``) and hang if the
connection drops meanwhile: kazoo hands every watch a ``NONE`` event when the connection is lost
and forgets it. Here any event wakes the waiter, which looks again and sets a new watch.

**Session loss.** A ``Barrier``'s znode is persistent: nothing is lost. A ``DoubleBarrier``
participant whose session expires loses its ephemeral node. Before it has passed ``enter``, it
creates its node again with the new session. Afterwards, it has *left* as far as the others can
tell: they may leave before it has finished. Like kazoo's, this recipe cannot tell a dead
participant from a slow one; a process that sees ``LOST`` must treat its part of the computation
as abandoned.

``ready`` stays until the last participant leaves, so that a participant slowed down by a
connection loss still finds it; a double barrier's path serves one round at a time.
"""

from __future__ import annotations

from typing import Any

from zablib.recipes.base import errors_of
from zablib.recipes.support import Deadline, check_path, check_timeout, unique_prefix

__all__ = ["Barrier", "DoubleBarrier"]

READY = "ready"


class Barrier:
    """kazoo's ``Barrier``: processes wait while the barrier's znode exists.

    Parameters
    ----------
    client : KazooClient-like
        A started client.
    path : str
        The barrier's znode.
    """

    def __init__(self, client: Any, path: str):
        self.err = errors_of(client)
        self.path = check_path(path, "the barrier's path")
        self.client = client
        self.wake_event = client.handler.event_object()

    def __repr__(self) -> str:
        return f"<Barrier {self.path}>"

    def create(self) -> None:
        """Put the barrier up (a no-op if it is up)."""
        self.client.retry(self.client.ensure_path, self.path)

    def remove(self) -> bool:
        """Take the barrier down; return whether it was up."""
        try:
            self.client.retry(self.client.delete, self.path)
        except self.err.NoNodeError:
            return False
        return True

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the barrier is down (at most ``timeout`` seconds); return whether it is."""
        deadline = Deadline(self.client, check_timeout(timeout), self.wake_event)
        try:
            while True:
                self.wake_event.clear()
                if self.client.retry(self.client.exists, self.path, watch=self.notified) is None:
                    return True
                if deadline.expired:
                    return False
                self.wake_event.wait()
        finally:
            deadline.finish()

    def notified(self, event: Any) -> None:
        """Watch function: something happened to the barrier (or the connection): look again."""
        self.wake_event.set()


class DoubleBarrier:
    """ZooKeeper's double barrier: enter together, leave together.

    Parameters
    ----------
    client : KazooClient-like
        A started client.
    path : str
        The barrier's znode (created if missing).
    num_clients : int
        How many participants must enter before any passes.
    identifier : str
        This participant's name, stored in its node.

    Attributes
    ----------
    participating : bool
        This participant has entered and not yet left.
    node : str or None
        The name of this participant's node.
    """

    def __init__(self, client: Any, path: str, num_clients: int, identifier: str = ""):
        self.err = errors_of(client)
        self.path = check_path(path, "the barrier's path")
        if path == "/":
            raise ValueError("the barrier's path must be below the root, e.g. '/app/barrier'")
        if isinstance(num_clients, bool) or not isinstance(num_clients, int) or num_clients < 1:
            raise ValueError(f"num_clients must be a positive int, got {num_clients!r}")
        if not isinstance(identifier, str):
            raise TypeError(f"identifier must be a string, got {identifier!r}")
        self.client = client
        self.num_clients = num_clients
        self.identifier = identifier
        self.participating = False
        self.node: str | None = None
        self.wake_event = client.handler.event_object()

    def __repr__(self) -> str:
        return f"<DoubleBarrier {self.path} {self.identifier!r} of {self.num_clients}>"

    def participants(self) -> list[str]:
        """The participants' node names, sorted (one ``get_children``)."""
        return sorted(c for c in self.client.get_children(self.path) if c != READY)

    def notified(self, event: Any) -> None:
        """Watch function: look again."""
        self.wake_event.set()

    def join(self) -> None:
        """Create this participant's ephemeral node (it may exist: a retried create)."""
        try:
            self.client.create(f"{self.path}/{self.node}", self.identifier.encode(), ephemeral=True)
        except self.err.NodeExistsError:
            pass

    def enter(self, timeout: float | None = None) -> bool:
        """Arrive, and wait until ``num_clients`` participants have arrived.

        Returns
        -------
        bool
            True once they have; False if ``timeout`` seconds passed first (this participant's
            node is then deleted: it has not entered).
        """
        deadline = Deadline(self.client, check_timeout(timeout), self.wake_event)
        try:
            self.client.retry(self.client.ensure_path, self.path)
            self.node = unique_prefix(self.client)
            self.client.retry(self.join)
            while True:
                self.wake_event.clear()
                if self.client.retry(self.client.exists, f"{self.path}/{READY}", watch=self.notified):
                    break
                present = self.client.retry(self.participants)
                if self.node not in present:  # our session expired: arrive again
                    self.client.retry(self.join)
                    continue
                if len(present) >= self.num_clients:
                    self.client.retry(self.raise_ready)
                    break
                if deadline.expired:
                    self.client.retry(self.delete_mine)
                    return False
                self.wake_event.wait()
        finally:
            deadline.finish()
        self.participating = True
        return True

    def raise_ready(self) -> None:
        """Create ``ready`` (someone else may have already)."""
        try:
            self.client.create(f"{self.path}/{READY}")
        except self.err.NodeExistsError:
            pass

    def delete_mine(self) -> None:
        """Delete this participant's node (gone already is fine)."""
        self.delete(self.node)

    def delete(self, name: str) -> None:
        """Delete child ``name`` (gone already is fine)."""
        try:
            self.client.delete(f"{self.path}/{name}")
        except self.err.NoNodeError:
            pass

    def leave(self, timeout: float | None = None) -> bool:
        """Leave, and wait until every participant has left.

        Returns
        -------
        bool
            True once all have left; False if ``timeout`` seconds passed first (this
            participant's node is deleted all the same: it has left).
        """
        if self.node is None:
            raise RuntimeError("leave() before enter(): this participant never arrived")
        deadline = Deadline(self.client, check_timeout(timeout), self.wake_event)
        try:
            while True:
                self.wake_event.clear()
                present = self.client.retry(self.participants)
                if not present:
                    break
                if present == [self.node]:  # the last one: take ready down, then go
                    self.client.retry(self.delete, READY)
                    self.client.retry(self.delete_mine)
                    break
                if present[0] == self.node:
                    waited = present[-1]  # the lowest leaves last: wait for the highest
                else:
                    if self.node in present:
                        self.client.retry(self.delete_mine)
                    waited = present[0]  # the others wait for the lowest
                if deadline.expired:
                    self.client.retry(self.delete_mine)
                    return False
                if self.client.retry(self.client.exists, f"{self.path}/{waited}", watch=self.notified):
                    self.wake_event.wait()
        finally:
            deadline.finish()
            self.participating = False
        return True

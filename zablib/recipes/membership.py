"""Cluster membership: each member holds an ephemeral znode; a master watches the group.

Layout: a persistent group znode and one *ephemeral* child per member, named after it::

    /cluster/workers/worker-3        (ephemeral, owned by worker-3's session; data: anything)

A member joins with :meth:`Membership.join` and leaves with :meth:`Membership.leave`, or by
dying: a crashed member's znode goes when its session expires, and for the group that *is* its
leave. A master follows the group with kazoo's ``ChildrenWatch`` (:class:`MembershipWatcher`)
and turns each new list of children into joins and leaves.

Failures:

* **A crashed member stays a member until its session expires** (the servers only notice its
  silence), then the master sees it leave.
* **ConnectionLoss during join**: the ``create`` may have been applied. The node's name is the
  member's, not sequential, so a retry that hits ``NodeExistsError`` asks who owns it
  (``stat.ephemeralOwner``): our own session means our lost create was applied, and the join
  has succeeded. Another session's node means the name is taken: a previous incarnation of the
  member whose session has not expired yet (it crashed and came back), or a second member with
  the same name. ``join`` raises ``NodeExistsError`` then, unless ``wait=True``: it waits until
  that node is deleted (a crashed incarnation's when its session expires, a live member's only
  when it leaves: with no timeout, as kazoo's blocking calls). (kazoo's ``Party`` avoids the
  question with a random node name, at the price of listing a restarted member twice until its
  old session expires.)
* **Session loss** (``LOST``): the member's znode is gone, so the master sees it leave. With
  ``rejoin=True`` (the default) the member joins again as soon as it is ``CONNECTED`` with its new
  session, and the master sees it come back; ``rejoins`` counts how often.
* **A master's watcher across a disconnection** misses what happened meanwhile: kazoo's
  ``ChildrenWatch`` reads the children again when the client reconnects, so a member that left
  and came back while the master was away shows no change at all, and several changes arrive as
  one list (``MembershipWatcher.changes`` then lists the leaves first, then the joins).
"""

from __future__ import annotations

from typing import Any

from zablib.coord.paths import join, validate_path
from zablib.recipes.base import errors_of

__all__ = ["Membership", "MembershipWatcher"]


def _member_path(group: str, member: object) -> str:
    if not isinstance(member, str):
        raise TypeError(f"a member's name must be a str, got {type(member).__name__}")
    if not member or "/" in member:
        raise ValueError(f"a member's name must be a non-empty znode name without '/', got {member!r}")
    return validate_path(join(group, member))


class Membership:
    """One member of the group at ``path``.

    Parameters
    ----------
    client : KazooClient-like
        A started kazoo-compatible client: the member's session.
    path : str
        The group's znode (made if missing).
    rejoin : bool
        Join again after a session loss (see the module docstring).

    Attributes
    ----------
    member : str or None
        The name joined with, None when not a member.
    rejoins : int
        How many times it joined again after losing its session.
    """

    def __init__(self, client: Any, path: str, *, rejoin: bool = True):
        self.err = errors_of(client)
        self.client = client
        self.path = validate_path(path)
        self.member: str | None = None
        self.data = b""
        self.rejoins = 0
        self._lost = False
        if rejoin:
            client.add_listener(self._state_changed)

    def __repr__(self) -> str:
        return f"<Membership {self.path} member={self.member!r}>"

    def join(self, member: str, data: bytes = b"", *, wait: bool = False) -> str:
        """Join the group as ``member``; return the member's znode path.

        Parameters
        ----------
        member : str
            The member's name (a znode name).
        data : bytes
            Stored in its znode (an address, say).
        wait : bool
            If another session holds the name, wait until its node is deleted instead of
            raising.

        Raises
        ------
        ValueError
            If this object has already joined under another name.
        NodeExistsError
            (the client's) If another session holds ``member`` and ``wait`` is false.
        """
        node = _member_path(self.path, member)
        if not isinstance(data, bytes):
            raise TypeError(f"data must be bytes, got {type(data).__name__}")
        if self.member is not None and self.member != member:
            raise ValueError(f"already a member as {self.member!r}; leave() first")
        self._create(node, data, wait)
        self.member, self.data = member, data
        return node

    def leave(self) -> None:
        """Leave the group: delete the member's znode if this session owns it (gone already, or
        held by another incarnation of the member, it is left alone)."""
        if self.member is None:
            return
        node = join(self.path, self.member)
        self.member = None
        client = self.client

        def attempt() -> None:
            stat = client.exists(node)
            session = client.client_id
            if session is None:
                raise self.err.ConnectionLoss()  # not connected: let the retry wait
            if stat is not None and stat.ephemeralOwner == session[0]:
                client.delete(node, version=stat.version)

        try:
            client.retry(attempt)
        except (self.err.NoNodeError, self.err.BadVersionError):
            pass  # deleted meanwhile (our session ended), or no longer ours

    def members(self) -> list[str]:
        """The group's members now, sorted."""
        try:
            return sorted(self.client.retry(self.client.get_children, self.path))
        except self.err.NoNodeError:
            return []

    def _create(self, node: str, data: bytes, wait: bool) -> None:
        client = self.client
        while True:
            try:
                client.retry(client.create, node, data, ephemeral=True, makepath=True)
                return
            except self.err.NodeExistsError:
                pass
            gone = client.handler.event_object()
            stat, session = client.retry(self._owner, node, gone if wait else None)
            if stat is None:
                continue  # deleted meanwhile: try again
            if stat.ephemeralOwner == session:
                return  # our own create, whose answer was lost, was applied
            if not wait:
                raise self.err.NodeExistsError(f"member {node} is held by another session "
                                               f"(0x{stat.ephemeralOwner:x})")
            gone.wait()  # the watch fires on its deletion (or on our disconnection): look again

    def _owner(self, node: str, gone: Any) -> tuple[Any, int]:
        """``node``'s stat (None if missing) and our session id; ``gone`` is set when the node
        changes or the connection drops (an exists watch), if given."""
        watch = None if gone is None else (lambda event: gone.set())
        stat = self.client.exists(node, watch)
        session = self.client.client_id
        if session is None:
            raise self.err.ConnectionLoss()  # not connected: let the retry wait
        return stat, session[0]

    def _state_changed(self, state: str) -> None:
        # A listener must not block (kazoo calls it on its connection thread): hand the work over.
        if state == "LOST":
            self._lost = True
        elif state == "CONNECTED" and self._lost and self.member is not None:
            self._lost = False
            self.client.handler.spawn(self._join_again)

    def _join_again(self) -> None:
        if self.member is None:
            return
        try:
            self._create(join(self.path, self.member), self.data, wait=True)
        except self.err.ConnectionClosedError:
            return  # the client was stopped
        self.rejoins += 1


class MembershipWatcher:
    """A master's view of the group at ``path``, with kazoo's ``ChildrenWatch``.

    Parameters
    ----------
    client : KazooClient-like
        A started kazoo-compatible client.
    path : str
        The group's znode (made if missing: the watch needs it).

    Attributes
    ----------
    members : list of str
        The members at the last change seen, sorted.
    changes : list of (str, str)
        ``("join", member)`` and ``("leave", member)`` in the order seen; the members found at
        the start count as joins; within one new list, leaves first, then joins, each sorted.
    """

    def __init__(self, client: Any, path: str):
        errors_of(client)
        self.client = client
        self.path = validate_path(path)
        self.members: list[str] = []
        self.changes: list[tuple[str, str]] = []
        self.closed = False
        client.retry(client.ensure_path, self.path)
        client.ChildrenWatch(self.path, self._changed)

    def __repr__(self) -> str:
        return f"<MembershipWatcher {self.path} {self.members}>"

    def _changed(self, children: list[str]) -> bool | None:
        if self.closed:
            return False  # tells the ChildrenWatch to stop
        before, now = set(self.members), set(children)
        self.changes += [("leave", m) for m in sorted(before - now)]
        self.changes += [("join", m) for m in sorted(now - before)]
        self.members = sorted(now)
        return None

    def close(self) -> None:
        """Stop following: the next change stops the ``ChildrenWatch`` without calling back."""
        self.closed = True

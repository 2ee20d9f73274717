"""Leader election on the lock: the contender that holds the lock leads.

Every candidate joins the election's lock (:class:`~zablib.recipes.lock.Lock`): an ephemeral
sequential node, the lowest one leads, and each candidate watches only its predecessor, so a
leader's death wakes one candidate, not all of them (the herd effect, see
:class:`~zablib.recipes.lock.HerdLock`). :meth:`Election.run` blocks until this candidate is
elected, calls the leader function, and steps down (deletes its node) when the function returns
or raises, as kazoo's ``Election`` does.

**Knowing that one leads.** A leader function should ask :attr:`Election.is_leader` before each
act of leadership, and return when it turns False. :attr:`Election.is_leader` is stricter than
``lock.is_acquired``: it is False while the client is ``SUSPENDED`` (disconnected, the session
may or may not still live: the leader cannot know, so it must not act), and after ``LOST``
(the session expired: the node is gone, another candidate may lead already). Curator's
``LeaderLatch`` does the same; kazoo's ``Election`` leaves it to the leader function. Because
kazoo declares a connection dead after two thirds of the session timeout without an answer,
a leader that is cut off stops acting *before* the ensemble expires its session and elects the
next one. A leader that is *paused* (a GC pause) cannot notice anything: two candidates may then
both act as leader for a moment; :attr:`Election.token` (the lock's fencing token) lets the
resources they touch refuse the old one (:mod:`zablib.recipes.fencing`).

**ConnectionLoss and session loss** are the lock's: a lost ``create`` is found again by its
prefix; a candidate whose session expired while waiting joins again with a new node; a leader
whose session expired is no longer leader (``is_leader`` is False) and ``run`` returns when its
function does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from zablib.recipes.lock import Lock

__all__ = ["Election"]


class Election:
    """Kazoo's ``Election``, on :class:`~zablib.recipes.lock.Lock`, with :attr:`is_leader` and a
    fencing :attr:`token`.

    Parameters
    ----------
    client : KazooClient-like
        A started client.
    path : str
        The election's znode; candidates are its children.
    identifier : str
        This candidate's name (see :meth:`contenders`).

    Attributes
    ----------
    lock : ~zablib.recipes.lock.Lock
        The lock underneath (its ``wakeups`` count the notifications this candidate received).
    """

    def __init__(self, client: Any, path: str, identifier: str = ""):
        self.client = client
        self.lock = Lock(client, path, identifier)

    def __repr__(self) -> str:
        return f"<Election {self.lock.path} {self.lock.identifier!r} leader={self.is_leader}>"

    @property
    def is_leader(self) -> bool:
        """This candidate leads: it holds the lock and its client is connected."""
        return self.lock.is_acquired and self.client.state == "CONNECTED"

    @property
    def token(self) -> int | None:
        """The fencing token of this candidate's leadership (its lock node's sequence number)."""
        return self.lock.token

    def run(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Wait until elected, call ``func(*args, **kwargs)``, then step down.

        Returns
        -------
        object
            What ``func`` returned; None if the candidacy was cancelled before the election was
            won (``func`` is then not called).

        Raises
        ------
        ValueError
            If ``func`` is not callable (kazoo's check).
        """
        if not callable(func):
            raise ValueError("leader function is not callable")
        try:
            self.lock.acquire()
        except self.lock.err.CancelledError:
            return None
        try:
            return func(*args, **kwargs)
        finally:
            self.lock.release()

    def cancel(self) -> None:
        """Withdraw a candidate that is still waiting; a leader's function is not interrupted."""
        self.lock.cancel()

    def contenders(self) -> list[str]:
        """The candidates' identifiers, the leader first."""
        return self.lock.contenders()

"""A resource protected by fencing tokens: what makes a lock safe when its holder is slow.

A ZooKeeper lock is a *lease*: it is held while the holder's session lives, and a session ends
when the ensemble stops hearing from the client, whatever the client believes. A holder that
pauses (a long garbage collection, a swapped-out process) for longer than its session timeout
wakes up still believing it holds the lock, while the ensemble has given it to someone else. No
check the holder makes before writing helps: the pause can fall between the check and the write.

The fix (Martin Kleppmann, "How to do distributed locking", 2016; Chubby's "sequencer") is on the
resource's side: every lock holder sends its *fencing token*, a number that grows with every new
holder (``Lock.token``, the sequence number of its lock node), and the resource refuses a token
older than the newest it has seen. The stale holder's write bounces.

:class:`FencedResource` is such a resource, in plain Python (it talks to no ZooKeeper: it stands
for a database or a storage service). Its rule is a pure function, :func:`accept_token`, passed
as ``check=`` (the door for the exercise "write the fencing check").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["FencedResource", "StaleTokenError", "accept_token"]


def accept_token(token: int, highest_seen: int | None) -> bool:
    """The fencing rule: accept ``token`` unless a newer one has been seen.

    Parameters
    ----------
    token : int
        The writer's fencing token.
    highest_seen : int or None
        The highest token the resource has accepted so far (None: none yet).

    Returns
    -------
    bool
        True when ``token >= highest_seen`` (the same holder may write again), or nothing was
        seen yet.

    >>> accept_token(7, None), accept_token(7, 7), accept_token(6, 7)
    (True, True, False)
    """
    return highest_seen is None or token >= highest_seen


class StaleTokenError(Exception):
    """A write carried a fencing token older than one the resource has already seen.

    Attributes
    ----------
    token : int
        The refused token.
    highest_seen : int or None
        The highest token accepted before.
    """

    def __init__(self, token: int, highest_seen: int | None):
        super().__init__(f"stale fencing token {token}: the resource has already seen token "
                         f"{highest_seen}")
        self.token = token
        self.highest_seen = highest_seen


class FencedResource:
    """A storage service that checks the fencing token of every write.

    Parameters
    ----------
    check : callable, optional
        ``check(token, highest_seen) -> bool``, the rule deciding whether a write is accepted
        (default :func:`accept_token`). ``lambda token, highest: True`` is a resource without
        fencing.

    Attributes
    ----------
    accepted : list of (int, object)
        The accepted writes, ``(token, value)``, in order.
    refused : list of (int, object)
        The refused ones.
    highest_seen : int or None
        The highest token accepted so far.
    """

    def __init__(self, check: Callable[[int, int | None], bool] | None = None):
        if check is not None and not callable(check):
            raise TypeError(f"check must be a function check(token, highest_seen) -> bool, got {check!r}")
        self.check = check or accept_token
        self.accepted: list[tuple[int, Any]] = []
        self.refused: list[tuple[int, Any]] = []
        self.highest_seen: int | None = None

    def __repr__(self) -> str:
        return (f"<FencedResource: {len(self.accepted)} accepted, {len(self.refused)} refused, "
                f"highest token {self.highest_seen}>")

    def write(self, token: int, value: Any) -> None:
        """Write ``value`` on behalf of the holder of ``token``.

        Raises
        ------
        StaleTokenError
            If the check refuses the token (the write is recorded in ``refused``).
        TypeError
            If ``token`` is not an int (a lock that is not held has token None).
        """
        if isinstance(token, bool) or not isinstance(token, int):
            raise TypeError(f"a fencing token is an int (Lock.token while the lock is held), got {token!r}")
        if not self.check(token, self.highest_seen):
            self.refused.append((token, value))
            raise StaleTokenError(token, self.highest_seen)
        self.accepted.append((token, value))
        self.highest_seen = token if self.highest_seen is None else max(self.highest_seen, token)

    def writers(self) -> list[int]:
        """The tokens of the accepted writes, consecutive repeats merged: ``[3, 5, 3]`` would
        mean that holder 3 wrote again after holder 5 had started (two holders at once)."""
        runs: list[int] = []
        for token, _ in self.accepted:
            if not runs or runs[-1] != token:
                runs.append(token)
        return runs

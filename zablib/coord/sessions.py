"""Sessions: their ids and passwords, and the leader's clock that expires them.

A ZooKeeper *session* is a client's standing with the service. It is opened by a transaction
(``CreateSessionTxn``), so every server knows it; it outlives a connection, so a client whose
server fails can carry it to another server; and it ends by a transaction too
(``CloseSessionTxn``), when the client says goodbye or when it has been silent longer than its
timeout. Ending it deletes the session's *ephemeral* znodes: that is how a lock holder that
crashed lets go of its lock.

Who decides that a session is silent? The **leader** alone, as in ZooKeeper's
``SessionTrackerImpl``: servers report which sessions their clients were heard from
(:class:`~zablib.coord.messages.Touches`, ZooKeeper's learners piggyback it on their ping
replies), and the leader keeps one deadline per session. A deadline is rounded up to the next
multiple of the tick, as ZooKeeper's ``ExpiryQueue`` does, so that sessions expire in batches
once per tick. A new leader starts every known session's clock afresh: a session never expires
because the leader changed.

Session ids follow ZooKeeper's ``SessionTrackerImpl.initializeNextSessionId``: the server id in
the top byte, the (simulated) clock in ms when the server started serving in the middle, a
counter at the bottom; so ids made by different servers, or by one server in different periods,
never collide. The password a client must bring back on reconnection is derived from the id and a
fixed secret (ZooKeeper draws it from ``Random(id ^ superSecret)``).
"""

from __future__ import annotations

import hashlib
import math

#: ZooKeeper's ``superSecret`` (a constant in ZooKeeperServer too).
SUPER_SECRET = 0xB3415C00


def first_session_id(server: int, now_ms: float) -> int:
    """The first session id a server hands out when it starts serving at ``now_ms``.

    ``(server << 56) | (ms << 16)`` with the clock truncated to 40 bits, as ZooKeeper computes
    ``((elapsed << 24) >>> 8) | (id << 56)``.
    """
    if not 0 < server < 128:
        raise ValueError(f"server ids of sessions must be in 1..127, got {server}")
    return (server << 56) | ((int(now_ms) & (2**40 - 1)) << 16)


def password(session_id: int) -> bytes:
    """The 16-byte password of ``session_id`` (deterministic, derived from a fixed secret)."""
    seed = (session_id ^ SUPER_SECRET).to_bytes(8, "big", signed=False)
    return hashlib.blake2b(seed, digest_size=16).digest()


def negotiate(timeout_ms: int, tick_ms: float) -> int:
    """The session timeout a server grants: the request clamped to ZooKeeper's default bounds,
    ``2 * tickTime`` and ``20 * tickTime``."""
    low, high = int(2 * tick_ms), int(20 * tick_ms)
    return max(low, min(high, int(timeout_ms)))


class SessionTracker:
    """The leader's deadlines of the open sessions (ZooKeeper's ``SessionTrackerImpl``).

    Plain volatile data: a new leader builds one from the sessions its tree knows.

    Parameters
    ----------
    tick_ms : float
        ZooKeeper's ``tickTime``: deadlines are rounded up to a multiple of it.
    """

    def __init__(self, tick_ms: float):
        self.tick_ms = tick_ms
        self.deadline: dict[int, float] = {}
        self.timeout: dict[int, int] = {}
        self.closing: set[int] = set()

    def _round(self, time: float) -> float:
        # ExpiryQueue.roundToNextInterval: the next multiple of the tick strictly after ``time``.
        return (math.floor(time / self.tick_ms) + 1) * self.tick_ms

    def track(self, session_id: int, timeout_ms: int, now: float) -> None:
        """Start (or restart) the clock of ``session_id``."""
        self.timeout[session_id] = timeout_ms
        self.deadline[session_id] = self._round(now + timeout_ms)

    def touch(self, session_id: int, now: float, timeout_ms: int | None = None) -> bool:
        """The session's client was heard from: push its deadline back.

        Returns False for a session this leader does not know or is already closing (so a
        client cannot revive a session the leader has decided to expire).
        """
        if not self.alive(session_id):
            return False
        if timeout_ms is not None:
            self.timeout[session_id] = timeout_ms
        self.deadline[session_id] = self._round(now + self.timeout[session_id])
        return True

    def alive(self, session_id: int) -> bool:
        """Known and not closing."""
        return session_id in self.deadline and session_id not in self.closing

    def expire(self, now: float) -> list[int]:
        """The sessions whose deadline has passed, oldest deadline first (then by id); they are
        marked closing, so that the caller proposes their close exactly once."""
        due = sorted((d, s) for s, d in self.deadline.items() if d <= now and s not in self.closing)
        for _, session_id in due:
            self.closing.add(session_id)
        return [s for _, s in due]

    def close(self, session_id: int) -> None:
        """Mark ``session_id`` closing (its client asked to close it)."""
        if session_id in self.deadline:
            self.closing.add(session_id)

    def remove(self, session_id: int) -> None:
        """Forget ``session_id`` (its close is committed)."""
        self.deadline.pop(session_id, None)
        self.timeout.pop(session_id, None)
        self.closing.discard(session_id)

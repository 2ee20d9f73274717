"""A distributed queue in which exactly one consumer gets each item, connection losses included.

Items are persistent sequential children of the queue's path (``/jobs/entry-...-0000000012``),
taken in sequence order. The textbook recipe (and kazoo's ``Queue``) takes an item by reading it
and deleting it: whoever's ``delete`` succeeds has it. That breaks when the delete is answered by
``ConnectionLoss``: the delete may have happened or not. Retried, it fails with ``NoNodeError``,
which it would also do if another consumer had taken the item. kazoo's ``Queue`` retries and
moves on: if the first delete had happened, nobody gets the item (it is lost); a recipe that
assumed the opposite would hand one item to two consumers.

**How this queue avoids it: a claim.** A consumer takes an item with one atomic transaction that
deletes the item *and* creates a claim node, ``<path>/claims/<item>``, holding the consumer's id
(``Queue.consumer``, unique per Queue object). Exactly one transaction on an item can
succeed: the delete of the others fails. A consumer whose transaction was answered by
``ConnectionLoss`` (or ``SessionExpiredError``: a claim is persistent and outlives the session)
waits until it is connected again and reads the claim: its own id means it won; another id means
another consumer has the item; no claim means its transaction has not happened, and it sends it
again (of its attempts, at most one can succeed, as for anybody else's). So every item goes to
exactly one consumer, which learns it; the claims are the record of who took what
(:meth:`Queue.claimed`). They are not deleted: a claim is what lets a consumer find out, later,
that it won. A consumer that crashes after its claim and before processing the item loses that
item, but the claim names it: taken once, by a consumer that died.

**ConnectionLoss on put.** A ``create`` answered by ``ConnectionLoss`` is found again as kazoo's
Lock finds its node: the item's name starts with a prefix no other put has
(:func:`~zablib.recipes.support.unique_prefix`); after reconnecting, the producer syncs and looks
for it among the items and the claims, and creates it again only if it is in neither. (As for
kazoo's Lock, a create still in flight on the old connection when the producer looks is not
seen; ZooKeeper's ``sync`` narrows that window but cannot close it.)

**Session loss.** Items and claims are persistent: a consumer's session ending loses nothing.
Reads are retried with ``client.retry`` (which retries after session expiry too, as kazoo's).
"""

from __future__ import annotations

from typing import Any

from zablib.recipes.base import errors_of, sequence_number
from zablib.recipes.support import Deadline, check_path, check_timeout, unique_prefix

__all__ = ["Queue"]

ENTRY = "entry-"
CLAIMS = "claims"


class Queue:
    """A FIFO queue of byte strings in which each item is taken by exactly one consumer.

    Parameters
    ----------
    client : KazooClient-like
        A started client.
    path : str
        The queue's znode (created if missing).

    Attributes
    ----------
    consumer : str or None
        This consumer's id, written in the claims of the items it takes (set on first use).

    Examples
    --------
    >>> jobs = Queue(zk, "/jobs")          # doctest: +SKIP
    >>> jobs.put(b"resize photo 7")        # doctest: +SKIP
    >>> jobs.take()                        # doctest: +SKIP
    b'resize photo 7'
    """

    def __init__(self, client: Any, path: str):
        self.err = errors_of(client)
        self.path = check_path(path, "the queue's path")
        if path == "/":
            raise ValueError("the queue's path must be below the root, e.g. '/jobs'")
        self.client = client
        self.claims_path = f"{path}/{CLAIMS}"
        self.consumer: str | None = None
        self.ensured = False
        self.wake_event = client.handler.event_object()

    def __repr__(self) -> str:
        return f"<Queue {self.path} consumer={self.consumer}>"

    def ensure_paths(self) -> None:
        """Create the queue's znode and its claims' znode, once."""
        if not self.ensured:
            self.client.retry(self.client.ensure_path, self.claims_path)
            self.ensured = True

    # -- producing --------------------------------------------------------------------------------
    def put(self, value: bytes) -> None:
        """Append ``value`` to the queue (exactly once, also across a ``ConnectionLoss``).

        Raises
        ------
        TypeError
            If ``value`` is not bytes.
        """
        if not isinstance(value, bytes):
            raise TypeError(f"a queue item must be bytes, got {type(value).__name__}")
        self.ensure_paths()
        prefix = f"{ENTRY}{unique_prefix(self.client)}-"
        while True:
            try:
                self.client.create(f"{self.path}/{prefix}", value, sequence=True)
                return
            except (self.err.ConnectionLoss, self.err.SessionExpiredError):
                if self.client.retry(self.put_happened, prefix):
                    return

    def put_happened(self, prefix: str) -> bool:
        """Whether an item named ``prefix...`` exists, or did and was claimed."""
        self.client.sync(self.path)
        names = self.client.get_children(self.path) + self.client.get_children(self.claims_path)
        return any(name.startswith(prefix) for name in names)

    # -- consuming --------------------------------------------------------------------------------
    def items(self, watch: Any = None) -> list[str]:
        """The names of the items waiting, oldest first (one ``get_children``)."""
        children = self.client.get_children(self.path, watch=watch)
        return sorted((c for c in children if c.startswith(ENTRY)), key=sequence_number)

    def get(self) -> bytes | None:
        """Take the oldest item; None if the queue is empty. Does not block."""
        return self.take_one(watch=None)

    def take(self, timeout: float | None = None) -> bytes | None:
        """Take the oldest item, waiting for one if the queue is empty.

        Parameters
        ----------
        timeout : float, optional
            Seconds to wait at most (of the client's clock).

        Returns
        -------
        bytes or None
            The item, or None if none came in time (as kazoo's ``LockingQueue.get``).
        """
        timeout = check_timeout(timeout)
        deadline = Deadline(self.client, timeout, self.wake_event)
        try:
            while True:
                self.wake_event.clear()
                value = self.take_one(watch=self.notified)
                if value is not None or deadline.expired:
                    return value
                self.wake_event.wait()
        finally:
            deadline.finish()

    def notified(self, event: Any) -> None:
        """Watch function: the items changed (or the connection did): look again."""
        self.wake_event.set()

    def take_one(self, watch: Any) -> bytes | None:
        """Claim the oldest item someone else has not claimed first; None if there is none
        (with ``watch`` set on the children then)."""
        self.ensure_paths()
        if self.consumer is None:
            self.consumer = unique_prefix(self.client)
        while True:
            names = self.client.retry(self.items, watch)
            if not names:
                return None
            for name in names:
                won, value = self.claim(name)
                if won:
                    return value
            watch = None  # every item listed went to others: list again (the watch is set)

    def claim(self, name: str) -> tuple[bool, bytes | None]:
        """Try to take item ``name``: ``(True, value)`` if this consumer got it."""
        try:
            value, stat = self.client.retry(self.client.get, f"{self.path}/{name}")
        except self.err.NoNodeError:
            return False, None
        while True:
            transaction = self.client.transaction()
            transaction.delete(f"{self.path}/{name}", version=stat.version)
            transaction.create(f"{self.claims_path}/{name}", self.consumer.encode())
            try:
                results = transaction.commit()
            except (self.err.ConnectionLoss, self.err.SessionExpiredError):
                owner = self.client.retry(self.settled_owner, name)
                if owner is None:
                    continue  # our transaction has not happened: send it again
                return owner == self.consumer, value
            if not any(isinstance(result, Exception) for result in results):
                return True, value
            return self.client.retry(self.settled_owner, name) == self.consumer, value

    def settled_owner(self, name: str) -> str | None:
        """:meth:`claim_owner` after a ``sync``: the server we read from has applied every
        transaction the leader had committed, our lost one included if it got that far."""
        self.client.sync(self.claims_path)
        return self.claim_owner(name)

    def claim_owner(self, name: str) -> str | None:
        """The consumer id in item ``name``'s claim, or None if it has no claim."""
        try:
            data, _ = self.client.get(f"{self.claims_path}/{name}")
        except self.err.NoNodeError:
            return None
        return (data or b"").decode("utf-8")

    def claimed(self) -> dict[str, str]:
        """Every item taken so far and the id of the consumer that took it."""
        self.ensure_paths()
        names = self.client.retry(self.client.get_children, self.claims_path)
        owners = {name: self.client.retry(self.claim_owner, name) for name in names}
        return {name: owner for name, owner in sorted(owners.items(), key=lambda kv: sequence_number(kv[0]))
                if owner is not None}

    def __len__(self) -> int:
        """How many items are waiting."""
        self.ensure_paths()
        return len(self.client.retry(self.items))

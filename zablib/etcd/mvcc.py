"""etcd's multi-version key-value store, as a plain Python object that knows no consensus.

One ordered key space of byte strings. Every change (a put, a delete that deletes something,
a txn that writes, the revocation of a lease with keys) makes the next **revision** of the whole
store, one number for all keys: the store starts at revision 1 and its first change is revision
2, as etcd's does. Each key keeps:

``create_revision``
    the revision of the put that created it (a key deleted and put again is created anew);
``mod_revision``
    the revision of its latest change;
``version``
    how many puts since its creation (1 after the first; a delete resets it).

Old revisions stay readable: :meth:`KVStore.range` takes ``revision=r`` and answers as the store
was at ``r``, until a :class:`Compact` at ``c`` drops what only revisions before ``c`` needed;
then an older read, or a watch from before ``c``, fails with etcd's error
``mvcc: required revision has been compacted``. The list of changes per revision
(:meth:`KVStore.changes_since`) is what a watch from a past revision replays.

A :class:`Txn` compares (value, version, create_revision, mod_revision of single keys) and runs
its ``success`` or ``failure`` operations as one change: every write in it gets the same
revision, and a txn whose branch writes nothing makes none.

Leases live here as replicated state (which leases exist, their TTL, which keys each carries);
*when* a lease expires is not: that is the leader's clock (``zablib.etcd.server``), which
revokes an expired lease through a :class:`LeaseRevoke` in the log, as etcd's lessor does.

Everything is deterministic: :meth:`KVStore.apply` of the same requests in the same order gives
the same store and the same answers on every server.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from zablib.etcd.errors import CompactedError, FutureRevisionError

#: ``range_end`` that means "every key from ``key`` on" (etcd's ``"\0"``).
ALL = b"\0"
#: etcd's largest lease TTL, in seconds (``MaxLeaseTTL``).
MAX_LEASE_TTL = 9_000_000_000
PUT, DELETE = "PUT", "DELETE"
#: What a :class:`Compare` may look at ...
TARGETS = ("value", "version", "create_revision", "mod_revision", "lease")
#: ... and how it may compare.
RESULTS = ("=", "!=", "<", ">")


def as_key(key: bytes | str) -> bytes:
    """A key as bytes (``str`` is encoded as UTF-8); refuses anything else and the empty key."""
    if isinstance(key, str):
        key = key.encode()
    if not isinstance(key, bytes):
        raise TypeError(f"a key is bytes or str, got {key!r}")
    if not key:
        raise ValueError("etcdserver: key is not provided (the empty key)")
    return key


def as_value(value: bytes | str) -> bytes:
    """A value as bytes (``str`` is encoded as UTF-8)."""
    if isinstance(value, str):
        return value.encode()
    if not isinstance(value, bytes):
        raise TypeError(f"a value is bytes or str, got {value!r}")
    return value


def prefix_end(prefix: bytes) -> bytes:
    """The ``range_end`` that makes ``[prefix, range_end)`` every key starting with ``prefix``
    (clientv3's ``GetPrefixRangeEnd``: the prefix with its last byte below 0xff incremented)."""
    end = bytearray(prefix)
    for i in range(len(end) - 1, -1, -1):
        if end[i] < 0xFF:
            end[i] += 1
            return bytes(end[: i + 1])
    return ALL  # the prefix is all 0xff: every key after it


def in_range(key: bytes, start: bytes, end: bytes) -> bool:
    """Whether ``key`` is in ``[start, end)``; an empty ``end`` means ``start`` alone."""
    if not end:
        return key == start
    return key >= start and (end == ALL or key < end)


# -- data ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class KeyValue:
    """A key's value at one revision, with etcd's metadata (``mvccpb.KeyValue``).

    A deletion is recorded as a tombstone: ``version`` 0, ``create_revision`` 0, an empty value
    and ``mod_revision`` the revision of the delete.
    """

    key: bytes
    value: bytes
    create_revision: int
    mod_revision: int
    version: int
    lease: int = 0

    @property
    def tombstone(self) -> bool:
        """Whether this records a deletion."""
        return self.version == 0


@dataclass(frozen=True)
class Event:
    """One change of one key (``mvccpb.Event``): ``type`` is ``"PUT"`` or ``"DELETE"``; ``kv``
    the key after it (for a delete, the tombstone: ``kv.mod_revision`` is the delete's
    revision); ``prev_kv`` the key before it, or None if it did not exist."""

    type: str
    kv: KeyValue
    prev_kv: KeyValue | None = None

    @property
    def revision(self) -> int:
        """The revision of the change."""
        return self.kv.mod_revision

    def describe(self) -> str:
        value = "" if self.type == DELETE else f"={self.kv.value.decode(errors='replace')}"
        return f"{self.type} {self.kv.key.decode(errors='replace')}{value}@{self.revision}"


@dataclass(frozen=True)
class Failure:
    """A refused request, as data (so that it can travel in a note): ``kind`` is an error class
    name of ``zablib.etcd.errors``."""

    kind: str
    detail: str = ""
    compact_revision: int = 0


# -- requests (what goes into the Raft log, and what a client reads) -------------------------------
@dataclass(frozen=True)
class Range:
    """Read ``key``, or ``[key, range_end)``, at ``revision`` (0: the latest)."""

    key: bytes
    range_end: bytes = b""
    revision: int = 0


@dataclass(frozen=True)
class Put:
    """Set ``key`` to ``value``, attached to ``lease`` (0: no lease)."""

    key: bytes
    value: bytes
    lease: int = 0


@dataclass(frozen=True)
class DeleteRange:
    """Delete ``key``, or every key of ``[key, range_end)``."""

    key: bytes
    range_end: bytes = b""


@dataclass(frozen=True)
class Compare:
    """``target`` of ``key`` (one of :data:`TARGETS`) compared by ``result`` (one of
    :data:`RESULTS`) with ``value``. On a key that does not exist every number is 0, and a
    comparison of its value is false whatever the operator (etcd's rule)."""

    key: bytes
    target: str
    result: str
    value: Any


@dataclass(frozen=True)
class Txn:
    """If every compare holds, run ``success``, else ``failure``: :class:`Range`,
    :class:`Put` and :class:`DeleteRange` operations, applied as one change."""

    compare: tuple[Compare, ...] = ()
    success: tuple[Any, ...] = ()
    failure: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Compact:
    """Drop the history before ``revision``."""

    revision: int


@dataclass(frozen=True)
class LeaseGrant:
    """Create a lease of ``ttl`` seconds (``id`` 0: the store picks the id)."""

    ttl: int
    id: int = 0


@dataclass(frozen=True)
class LeaseRevoke:
    """Delete lease ``id`` and every key attached to it, in one revision."""

    id: int


WRITES = (Put, DeleteRange, Txn, Compact, LeaseGrant, LeaseRevoke)


# -- responses -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RangeResponse:
    """``kvs`` in key order; ``revision`` is the store's revision when it answered (etcd's
    header revision), whatever revision was read."""

    revision: int
    kvs: tuple[KeyValue, ...]

    @property
    def count(self) -> int:
        return len(self.kvs)


@dataclass(frozen=True)
class PutResponse:
    revision: int
    prev_kv: KeyValue | None = None


@dataclass(frozen=True)
class DeleteRangeResponse:
    revision: int
    deleted: int
    prev_kvs: tuple[KeyValue, ...] = ()


@dataclass(frozen=True)
class TxnResponse:
    """``succeeded``: whether the compares held; ``responses``: one per operation run."""

    revision: int
    succeeded: bool
    responses: tuple[Any, ...]


@dataclass(frozen=True)
class CompactResponse:
    revision: int


@dataclass(frozen=True)
class LeaseGrantResponse:
    """``ttl`` is the TTL granted (a TTL below the minimum is raised to it, as etcd does)."""

    revision: int
    id: int
    ttl: int


@dataclass(frozen=True)
class LeaseRevokeResponse:
    revision: int


@dataclass
class Lease:
    """A lease as every server holds it: id, TTL in seconds, and the keys attached."""

    id: int
    ttl: int
    keys: set[bytes] = field(default_factory=set)


# -- the store -------------------------------------------------------------------------------------
class KVStore:
    """etcd's MVCC store and lease table (module docstring).

    Parameters
    ----------
    min_ttl : int
        The smallest TTL a lease gets, in seconds: etcd raises a shorter one to 1.5 election
        timeouts (rounded up), so that a leader change alone cannot expire it.
    """

    def __init__(self, min_ttl: int = 1):
        self.revision = 1
        self.compact_revision = 0
        self.min_ttl = min_ttl
        self.keys: list[bytes] = []  # sorted: every key with a version kept
        self.versions: dict[bytes, list[KeyValue]] = {}  # per key, oldest first
        self.history: list[tuple[int, tuple[Event, ...]]] = []  # (revision, its events)
        self.leases: dict[int, Lease] = {}
        self.lease_counter = 0
        self.writing: list[Event] | None = None  # the events of the change being applied

    # -- reading ------------------------------------------------------------------------------------
    def check_revision(self, revision: int) -> int:
        """``revision`` (0: the latest) if it can be read, else the error etcd gives."""
        if revision == 0:
            return self.revision
        if revision < self.compact_revision:
            raise CompactedError(self.compact_revision, f"revision {revision} < compacted "
                                 f"{self.compact_revision}")
        if revision > self.revision:
            raise FutureRevisionError(f"revision {revision} > current {self.revision}")
        return revision

    def keys_in(self, key: bytes, range_end: bytes = b"") -> Iterator[bytes]:
        """The keys with a history in ``[key, range_end)`` (or ``key`` alone), in order."""
        if not range_end:
            if key in self.versions:
                yield key
            return
        for k in self.keys[bisect_left(self.keys, key):]:
            if range_end != ALL and k >= range_end:
                return
            yield k

    def at(self, key: bytes, revision: int | None = None) -> KeyValue | None:
        """``key`` as it was at ``revision`` (None: now, writes of a txn under way included), or
        None if it did not exist then."""
        versions = self.versions.get(key)
        if not versions:
            return None
        if revision is None:
            kv = versions[-1]
        else:
            kv = next((v for v in reversed(versions) if v.mod_revision <= revision), None)
        return None if kv is None or kv.tombstone else kv

    def range(self, request: Range, *, latest: bool = False) -> RangeResponse:
        """Answer a :class:`Range`. Raises :class:`~zablib.etcd.errors.CompactedError` or
        :class:`~zablib.etcd.errors.FutureRevisionError` for a revision it cannot read."""
        revision = None if latest and not request.revision else self.check_revision(request.revision)
        kvs = tuple(kv for k in self.keys_in(request.key, request.range_end)
                    if (kv := self.at(k, revision)) is not None)
        return RangeResponse(self.revision, kvs)

    def changes_since(self, start: int, key: bytes,
                      range_end: bytes = b"") -> list[tuple[int, tuple[Event, ...]]]:
        """The changes of ``[key, range_end)`` (or ``key``) at revisions ``>= start``, each as
        ``(revision, events)``, oldest first: what a watch from ``start`` replays. Raises
        :class:`~zablib.etcd.errors.CompactedError` if ``start`` is before the compaction."""
        if start < self.compact_revision:
            raise CompactedError(self.compact_revision, f"watch from {start} < compacted "
                                 f"{self.compact_revision}")
        found = []
        first = bisect_left(self.history, start, key=lambda item: item[0])
        for revision, events in self.history[first:]:
            mine = tuple(e for e in events if in_range(e.kv.key, key, range_end))
            if mine:
                found.append((revision, mine))
        return found

    # -- writing -------------------------------------------------------------------------------------
    def apply(self, request: Any) -> Any:
        """Apply one replicated request; return its response, or a :class:`Failure`.

        A failure changes nothing. The events of a change are in the store's ``history`` under
        its revision (the last item, if the revision moved).
        """
        try:
            return self.apply_or_raise(request)
        except (CompactedError, FutureRevisionError) as error:
            compacted = error.compact_revision if isinstance(error, CompactedError) else 0
            return Failure(type(error).__name__, str(error), compacted)

    def apply_or_raise(self, request: Any) -> Any:
        if isinstance(request, Range):
            return self.range(request)
        if isinstance(request, Compact):
            return self.compact(request.revision)
        if isinstance(request, LeaseGrant):
            return self.grant(request)
        if isinstance(request, LeaseRevoke):
            if request.id not in self.leases:
                return Failure("LeaseNotFoundError", f"lease {request.id}")
            self.begin()
            lease = self.leases.pop(request.id)
            for key in sorted(lease.keys):
                self.delete_one(key)
            return LeaseRevokeResponse(self.end())
        if isinstance(request, Put | DeleteRange | Txn):
            missing = self.missing_lease(request)
            if missing:
                return Failure("LeaseNotFoundError", f"lease {missing}")
            self.begin()
            response = self.run(request)
            revision = self.end()
            return _with_revision(response, revision)
        raise TypeError(f"not an etcd request: {request!r}")

    def missing_lease(self, request: Any) -> int:
        """The first lease a put of ``request`` (a txn: of the branch it will run) names that
        does not exist, or 0 (etcd checks this before it applies anything)."""
        if isinstance(request, Put):
            return request.lease if request.lease and request.lease not in self.leases else 0
        if isinstance(request, Txn):
            branch = request.success if self.holds(request.compare) else request.failure
            return next((m for op in branch if (m := self.missing_lease(op))), 0)
        return 0

    def begin(self) -> None:
        self.writing = []

    def end(self) -> int:
        """Close the change: the revision moves by one if anything was written."""
        events, self.writing = self.writing, None
        if events:
            self.revision += 1
            self.history.append((self.revision, tuple(events)))
        return self.revision

    def run(self, request: Any) -> Any:
        if isinstance(request, Range):
            return self.range(request, latest=True)
        if isinstance(request, Put):
            return PutResponse(0, self.put_one(request))
        if isinstance(request, DeleteRange):
            live = [k for k in self.keys_in(request.key, request.range_end) if self.at(k) is not None]
            prev = tuple(self.delete_one(k) for k in live)
            return DeleteRangeResponse(0, len(prev), prev)
        if isinstance(request, Txn):
            succeeded = self.holds(request.compare)
            ops = request.success if succeeded else request.failure
            return TxnResponse(0, succeeded, tuple(self.run(op) for op in ops))
        raise TypeError(f"a txn runs Range, Put and DeleteRange operations, not {request!r}")

    def put_one(self, request: Put) -> KeyValue | None:
        key, rev = request.key, self.revision + 1
        prev = self.at(key)
        kv = KeyValue(key, request.value, prev.create_revision if prev else rev, rev,
                      prev.version + 1 if prev else 1, request.lease)
        if prev is not None and prev.lease and prev.lease != request.lease and prev.lease in self.leases:
            self.leases[prev.lease].keys.discard(key)
        if request.lease:
            self.leases[request.lease].keys.add(key)
        self.record(kv, Event(PUT, kv, prev))
        return prev

    def delete_one(self, key: bytes) -> KeyValue:
        prev = self.at(key)
        assert prev is not None
        if prev.lease in self.leases:
            self.leases[prev.lease].keys.discard(key)
        tomb = KeyValue(key, b"", 0, self.revision + 1, 0)
        self.record(tomb, Event(DELETE, tomb, prev))
        return prev

    def record(self, kv: KeyValue, event: Event) -> None:
        versions = self.versions.get(kv.key)
        if versions is None:
            self.versions[kv.key] = [kv]
            insort(self.keys, kv.key)
        elif versions[-1].mod_revision == kv.mod_revision:
            versions[-1] = kv  # written twice in one txn: etcd refuses that before the log
        else:
            versions.append(kv)
        assert self.writing is not None
        self.writing.append(event)

    def holds(self, compares: Sequence[Compare]) -> bool:
        """Whether every compare holds now."""
        return all(self.compare(c) for c in compares)

    def compare(self, c: Compare) -> bool:
        kv = self.at(c.key)
        if kv is None and c.target == "value":
            return False
        have = getattr(kv, c.target) if kv is not None else 0
        want = c.value
        return {"=": have == want, "!=": have != want, "<": have < want, ">": have > want}[c.result]

    def compact(self, revision: int) -> Any:
        if revision <= self.compact_revision:
            return Failure("CompactedError", f"revision {revision} <= compacted "
                           f"{self.compact_revision}", self.compact_revision)
        if revision > self.revision:
            return Failure("FutureRevisionError", f"revision {revision} > current {self.revision}")
        self.compact_revision = revision
        for key in list(self.keys):
            versions = self.versions[key]
            older = [v for v in versions if v.mod_revision < revision]
            kept = [v for v in versions if v.mod_revision >= revision]
            if older and not older[-1].tombstone:
                kept.insert(0, older[-1])  # what the key was at the compaction revision
            if kept:
                self.versions[key] = kept
            else:
                del self.versions[key]
                self.keys.remove(key)
        first = bisect_left(self.history, revision, key=lambda item: item[0])
        del self.history[:first]
        return CompactResponse(self.revision)

    def grant(self, request: LeaseGrant) -> Any:
        if request.ttl > MAX_LEASE_TTL:
            return Failure("LeaseTTLTooLargeError", f"ttl {request.ttl} > {MAX_LEASE_TTL}")
        lease_id = request.id
        if lease_id in self.leases:
            return Failure("LeaseExistsError", f"lease {lease_id}")
        if not lease_id:
            self.lease_counter += 1
            while self.lease_counter in self.leases:
                self.lease_counter += 1
            lease_id = self.lease_counter
        ttl = max(request.ttl, self.min_ttl)
        self.leases[lease_id] = Lease(lease_id, ttl)
        return LeaseGrantResponse(self.revision, lease_id, ttl)


def _with_revision(response: Any, revision: int) -> Any:
    """``response`` (and a txn's responses) stamped with the revision after the change."""
    if isinstance(response, TxnResponse):
        return TxnResponse(revision, response.succeeded,
                           tuple(_with_revision(r, revision) for r in response.responses))
    return type(response)(revision, *[getattr(response, f) for f in response.__dataclass_fields__
                                      if f != "revision"])

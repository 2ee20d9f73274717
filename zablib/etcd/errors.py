"""The errors an etcd v3 client can see, with etcd's own texts.

etcd's server answers a failed request with a gRPC status whose message is a fixed text
(``etcdserver: mvcc: required revision has been compacted`` ...; the list is
``api/v3rpc/rpctypes/error.go`` in etcd's source). Here each text is an exception class, so a
test can catch the kind and a reader sees the words etcd prints. The texts are etcd's; the class
names are this package's.
"""

from __future__ import annotations


class EtcdError(Exception):
    """Base of every error the simulated etcd reports; ``str(error)`` is etcd's text."""

    #: etcd's message for this kind of error.
    text = "etcdserver: unknown error"

    def __init__(self, detail: str | None = None):
        super().__init__(self.text if detail is None else f"{self.text} ({detail})")


class CompactedError(EtcdError):
    """A read or a watch asked for a revision older than the last compaction."""

    text = "etcdserver: mvcc: required revision has been compacted"

    def __init__(self, compact_revision: int, detail: str | None = None):
        #: The revision the store was compacted at: the oldest one still readable.
        self.compact_revision = compact_revision
        super().__init__(detail)


class FutureRevisionError(EtcdError):
    """A read asked for a revision the store has not reached."""

    text = "etcdserver: mvcc: required revision is a future revision"


class LeaseNotFoundError(EtcdError):
    """A put, keepalive or revoke named a lease that does not exist (or has expired)."""

    text = "etcdserver: requested lease not found"


class LeaseExistsError(EtcdError):
    """A grant asked for a lease id that is taken."""

    text = "etcdserver: lease already exists"


class LeaseTTLTooLargeError(EtcdError):
    """A grant asked for a TTL above etcd's maximum (9,000,000,000 s)."""

    text = "etcdserver: too large lease TTL"


class EmptyKeyError(EtcdError):
    """A request without a key."""

    text = "etcdserver: key is not provided"


class DuplicateKeyError(EtcdError):
    """A txn branch that writes one key twice (etcd refuses it before it reaches Raft)."""

    text = "etcdserver: duplicate key given in txn request"


class NoLeaderError(EtcdError):
    """The server asked knows no leader, so it cannot take a write or a linearizable read."""

    text = "etcdserver: no leader"


class RequestTimeoutError(EtcdError):
    """No answer within the client's deadline (a lost leader, a partition, a lost proposal)."""

    text = "etcdserver: request timed out"


class UnavailableError(EtcdError):
    """The client's server went down while the request was in flight."""

    text = "rpc error: code = Unavailable desc = connection to the server lost"


#: What a server's answer names, as the error class the client raises.
BY_NAME: dict[str, type[EtcdError]] = {cls.__name__: cls for cls in (
    CompactedError, FutureRevisionError, LeaseNotFoundError, LeaseExistsError,
    LeaseTTLTooLargeError, EmptyKeyError, DuplicateKeyError, NoLeaderError, RequestTimeoutError,
    UnavailableError)}


def error_for(kind: str, detail: str | None = None, compact_revision: int = 0) -> EtcdError:
    """The exception for a server's failure named ``kind`` (a class name of this module)."""
    cls = BY_NAME.get(kind)
    if cls is None:
        raise ValueError(f"unknown etcd error kind {kind!r}; known: {', '.join(sorted(BY_NAME))}")
    if cls is CompactedError:
        return CompactedError(compact_revision, detail)
    return cls(detail)

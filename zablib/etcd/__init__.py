"""An etcd-like key-value store on zablib's Raft: etcd v3's data model and API, simulated.

::

    from zablib.etcd import cluster
    sim = cluster(3, seed=0)          # servers 1, 2, 3: zablib.protocols.raft underneath
    etcd = sim.client()               # a tiny clientv3
    etcd.put("/config/a", "1")        # PutResponse(revision=2, ...)
    etcd.get("/config/", prefix=True) # a linearizable read (Raft's ReadIndex)
    w = etcd.watch("/config/", prefix=True, start_revision=1)

The contrast with ZooKeeper (``zablib.coord``), measured in ``zablib.etcd.contrast``:

* **One revision per change, for the whole store**, and history kept until compacted: a read
  may ask for a past revision, and a watch may start from one. A watch delivers every change
  in revision order, exactly once, and a client that resumes from its last revision + 1 (on
  any server, after any crash) misses nothing. ZooKeeper's watches are one-time triggers: a
  client that re-reads and re-arms after each notification can miss the values written in
  between.
* **Reads are linearizable by default** (Raft's ReadIndex: the leader confirms it still
  leads before the read is served), and serializable (local, possibly stale) only on request.
  ZooKeeper's reads are local by default, and ``sync`` makes them current.
* **Leases** instead of sessions: a key attached to a lease is deleted when the lease expires
  on the leader's clock, through a log entry.

Modules: ``errors`` (etcd's error texts), ``mvcc`` (the multi-version store: revisions, range,
txn, compaction, the lease table; knows no consensus), ``server`` (``EtcdServer``: a
``RaftServer`` that applies what Raft commits, serves ReadIndex and local reads, keeps the
leader's lease clocks and the watches), ``client`` (``Client``: put/get/delete/txn/compact,
lease_grant/keepalive/keepalive_once/lease_revoke, watch), ``simulation`` (``cluster(n)`` and
``EtcdSimulation``), ``contrast`` (the measured differences with ZooKeeper).
"""

import importlib

# Loaded on first use (PEP 562), so that importing the pure store does not load Raft.
_HOMES = {
    "cluster": "simulation", "EtcdSimulation": "simulation",
    "Client": "client", "Pending": "client", "Watch": "client", "KeepAliveLoop": "client",
    "compare": "client", "op_put": "client", "op_get": "client", "op_delete": "client",
    "EtcdServer": "server",
    "EtcdError": "errors", "CompactedError": "errors", "FutureRevisionError": "errors",
    "LeaseNotFoundError": "errors", "LeaseExistsError": "errors", "DuplicateKeyError": "errors",
    "NoLeaderError": "errors", "RequestTimeoutError": "errors", "UnavailableError": "errors",
    "KVStore": "mvcc", "KeyValue": "mvcc", "Event": "mvcc",
}


def __getattr__(name: str):
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'zablib.etcd' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"zablib.etcd.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOMES))


__all__ = sorted(_HOMES)

"""ZooKeeper's data tree: znodes, their stat, sessions, and the pure ``apply`` of a transaction.

ZooKeeper keeps a small tree of **znodes**, named by paths like files (``/app/config``). Each
znode holds a little data (bytes, at most about 1 MB) and may have children. A znode is

* *persistent*: it stays until someone deletes it; or
* *ephemeral*: it belongs to the *session* that created it (a client's connection as the
  service sees it) and is deleted when that session ends; ephemeral znodes have no children;
* either kind may be *sequential*: the server appends a 10-digit counter taken from the parent
  (``/q/item-0000000003``), so concurrent clients get distinct, ordered names.

Every change is a transaction with a **zxid** (the epoch of its leader in the high 32 bits, a
counter in the low 32 bits). A znode's **stat** records the zxids and times of its changes and
its version counters; a conditional write ("set if version is 3") compares against them.

:class:`DataTree` is immutable from outside. :func:`apply` is a pure function
``(tree, txn, zxid, time) -> Applied(tree', result, triggers)``: the input tree is unchanged,
the new tree shares every znode the txn did not touch (a persistent structure, so applying a
txn costs about the same whatever the tree's size), ``result`` is what the client gets, and
``triggers`` are the watch events the txn fires, in ZooKeeper's order.

This module knows nothing about consensus: replicas that apply the same txns in the same
order hold equal trees (compare with ``==`` or :meth:`DataTree.digest`).
Children are listed in a real ZooKeeper's order, a Java ``HashSet``'s, modelled exactly
(:meth:`DataTree.children`).
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from itertools import chain
from types import MappingProxyType
from typing import Any, NamedTuple

import zablib.coord.errors as errors
import zablib.coord.paths as paths
from zablib.coord.txn import (
    CheckVersionTxn,
    CloseSessionTxn,
    CreateSessionTxn,
    CreateTxn,
    DeleteTxn,
    ErrorTxn,
    MultiTxn,
    SetDataTxn,
    Txn,
)

#: ZooKeeper's own znodes, present in every tree (``DataTree``'s constructor): the root, its
#: child ``zookeeper``, and that one's children ``quota`` and ``config``.
SYSTEM_PATHS = ("/", "/zookeeper", "/zookeeper/config", "/zookeeper/quota")

#: The kinds of watch trigger: NodeCreated, NodeDeleted, NodeDataChanged, NodeChildrenChanged.
TRIGGER_KINDS = ("created", "deleted", "changed", "child")


class ZnodeStat(NamedTuple):
    """A znode's metadata, with kazoo's field order and convenience properties.

    Attributes
    ----------
    czxid, mzxid : int
        The zxid of the txn that created the znode, and of the last one that set its data.
    ctime, mtime : int
        The leader's clock (ms) when those txns were prepared.
    version : int
        How many times its data was set (``set`` and conditional ``delete`` compare with it).
    cversion : int
        Child version: the number of changes to its children, +1 for each child created or
        deleted. ZooKeeper stores only the number of creations, ``c``, and reports
        ``2 * c - numChildren`` (``DataNode.copyStat``: every child not present any more was
        deleted once), so the root of a fresh tree, with one child and no creation, reports -1.
        The next sequential child's counter is ``c`` (:meth:`DataTree.sequence_counter`).
    aversion : int
        Version of its access control list (always 0 here: ACLs are not modelled).
    ephemeralOwner : int
        The owning session's id for an ephemeral znode, 0 for a persistent one.
    dataLength : int
        Length of its data in bytes.
    numChildren : int
        Number of children.
    pzxid : int
        The zxid of the last txn that created or deleted one of its children (its own czxid
        before that).
    """

    czxid: int
    mzxid: int
    ctime: int
    mtime: int
    version: int
    cversion: int
    aversion: int
    ephemeralOwner: int  # noqa: N815 -- ZooKeeper's and kazoo's name
    dataLength: int  # noqa: N815
    numChildren: int  # noqa: N815
    pzxid: int

    @property
    def acl_version(self) -> int:
        """``aversion``."""
        return self.aversion

    @property
    def children_version(self) -> int:
        """``cversion``."""
        return self.cversion

    @property
    def created(self) -> float:
        """``ctime`` in seconds."""
        return self.ctime / 1000.0

    @property
    def last_modified(self) -> float:
        """``mtime`` in seconds."""
        return self.mtime / 1000.0

    @property
    def owner_session_id(self) -> int | None:
        """``ephemeralOwner``, or None for a persistent znode."""
        return self.ephemeralOwner or None

    @property
    def creation_transaction_id(self) -> int:
        """``czxid``."""
        return self.czxid

    @property
    def last_modified_transaction_id(self) -> int:
        """``mzxid``."""
        return self.mzxid

    @property
    def data_length(self) -> int:
        """``dataLength``."""
        return self.dataLength

    @property
    def children_count(self) -> int:
        """``numChildren``."""
        return self.numChildren


_ZERO_STAT = ZnodeStat(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)


class Applied(NamedTuple):
    """What :func:`apply` returns.

    Attributes
    ----------
    tree : DataTree
        The tree after the txn (the same object when the txn changed nothing).
    result : object
        What the client gets: the created path (str) for a create, True for a delete or a
        check, the new ZnodeStat for a set, a list of per-op results for a multi (a failed
        multi's list holds an exception instance per op, as kazoo's ``commit()`` returns it),
        the session id for a session's creation, None for its close, and an exception
        instance from :mod:`zablib.coord.errors` for a failed txn.
    triggers : tuple of (str, str)
        ``(path, kind)`` watch triggers in the order ZooKeeper fires them. ``"created"`` fires
        the data watches (``exists``/``get``) on the path; ``"deleted"`` its data watches and
        its child watches; ``"changed"`` its data watches; ``"child"`` its child watches. A
        server sends each session one event per trigger (``WatchManager`` skips a watcher it
        already notified); kazoo then calls every callback it holds for that event (on a
        NodeDeleted, the path's data and child callbacks both).
    """

    tree: DataTree
    result: Any
    triggers: tuple[tuple[str, str], ...]


# -- a persistent map: a copy touches one bucket of 64 --------------------------------------------
_WIDTH = 64
_EMPTY: dict = {}  # shared by every empty bucket, never written


def _slot(key: str) -> int:
    # crc32, not hash(): str hashes are salted per process, and a pickled tree must still work.
    return zlib.crc32(key.encode("utf-8", "surrogatepass")) & (_WIDTH - 1)


class _PMap:
    """An immutable str-keyed map whose updates copy one of 64 buckets, not the whole map."""

    __slots__ = ("_buckets", "_size")

    def __init__(self, buckets: tuple[dict, ...] | None = None, size: int = 0) -> None:
        self._buckets = buckets if buckets is not None else (_EMPTY,) * _WIDTH
        self._size = size

    def get(self, key: str, default: Any = None) -> Any:
        return self._buckets[_slot(key)].get(key, default)

    def __contains__(self, key: str) -> bool:
        return key in self._buckets[_slot(key)]

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[str]:
        return chain.from_iterable(self._buckets)

    def items(self) -> Iterator[tuple[str, Any]]:
        return chain.from_iterable(bucket.items() for bucket in self._buckets)

    def set(self, key: str, value: Any) -> _PMap:
        index = _slot(key)
        bucket = dict(self._buckets[index])
        grew = key not in bucket
        bucket[key] = value
        buckets = list(self._buckets)
        buckets[index] = bucket
        return _PMap(tuple(buckets), self._size + grew)

    def remove(self, key: str) -> _PMap:
        index = _slot(key)
        bucket = dict(self._buckets[index])
        del bucket[key]
        buckets = list(self._buckets)
        buckets[index] = bucket or _EMPTY
        return _PMap(tuple(buckets), self._size - 1)


# -- ZooKeeper's child order: the iteration order of a java.util.HashSet<String>(8) -------------
# DataNode.addChild creates ``new HashSet<String>(8)`` on the first child and never drops it
# (removeChild only removes), and getChildren copies it into an ArrayList, so a client gets the
# children in the set's iteration order: bucket by bucket, and within a bucket in the order of
# its linked list. A new key goes to its bucket's tail; a resize splits every bucket in two
# keeping the relative order (HashMap.resize's lo/hi lists); a removal unlinks; the table never
# shrinks. So the order is "by bucket index at the current capacity, then by insertion" and the
# state behind it is the table's capacity and each child's insertion stamp.
_FIRST_CAPACITY = 8  # HashMap(8): tableSizeFor(8) = 8, the table allocated on the first put
_TREEIFY_THRESHOLD = 8  # a bucket reaching 9 keys is treeified...
_MIN_TREEIFY_CAPACITY = 64  # ...unless the table is smaller: then the table is resized instead
_INT32 = 0xFFFFFFFF


def java_hash(name: str) -> int:
    """``HashMap.hash(name)``: Java's ``String.hashCode`` with its high half folded into the low.

    ``hashCode`` is ``s[0]*31^(n-1) + ... + s[n-1]`` over the UTF-16 code units, in 32-bit
    arithmetic; HashMap spreads it as ``h ^ (h >>> 16)``. Returned as an unsigned 32-bit int
    (the bucket index ``(capacity - 1) & hash`` only reads the low bits).

    Examples
    --------
    >>> java_hash("a"), java_hash("Aa") == java_hash("BB") == 2112  # as "Aa".hashCode() in Java
    (97, True)
    >>> java_hash("hello") == 99162322 ^ (99162322 >> 16)  # "hello".hashCode() is 99162322
    True
    """
    units = [ord(c) for c in name]
    if units and max(units) > 0xFFFF:  # outside the BMP: Java sees a surrogate pair
        raw = name.encode("utf-16-be", "surrogatepass")
        units = [raw[i] << 8 | raw[i + 1] for i in range(0, len(raw), 2)]
    h = 0
    for unit in units:
        h = (31 * h + unit) & _INT32
    return h ^ (h >> 16)


def _bucket_order(children: _PMap, capacity: int) -> list[str]:
    mask = capacity - 1
    return [name for name, _ in sorted(children.items(), key=lambda item: (item[1][0] & mask, item[1][1]))]


@dataclass(frozen=True, slots=True)
class _Znode:
    data: bytes | None
    stat: ZnodeStat  # as a client sees it (cversion in ZooKeeper's reported form)
    children: _PMap  # child name -> (java_hash(name), insertion stamp)
    creates: int = 0  # children ever created: ZooKeeper's stored cversion, the sequence counter
    capacity: int = 0  # the Java HashSet's table size; 0 while the set does not exist yet
    adds: int = 0  # children ever added: the next insertion stamp



def _table_add(members: _PMap, capacity: int, key: str, stamp: int) -> tuple[_PMap, int]:
    """``HashMap.putVal`` of a new ``key`` into a table of ``capacity``: the members with it
    (stamped ``stamp``) and the table's capacity after."""
    h = java_hash(key)
    grown = members.set(key, (h, stamp))
    if capacity < _MIN_TREEIFY_CAPACITY:
        # HashMap.putVal: appending a 9th key to a bucket calls treeifyBin, which resizes a
        # table under 64 instead. Only small tables get here, so counting is cheap.
        mask = capacity - 1
        in_bucket = sum(1 for _, (other, _) in members.items() if other & mask == h & mask) + 1
        if in_bucket > _TREEIFY_THRESHOLD:
            capacity *= 2
    if len(grown) > capacity * 3 // 4:  # threshold = capacity * loadFactor 0.75
        capacity *= 2
    return grown, capacity


def _with_child(node: _Znode, name: str) -> _Znode:
    """``node`` after ``DataNode.addChild(name)`` on its Java HashSet (stat and counter unchanged)."""
    children, capacity = _table_add(node.children, node.capacity or _FIRST_CAPACITY, name, node.adds)
    return replace(node, children=children, capacity=capacity, adds=node.adds + 1)


# -- the order a closing session's ephemerals are deleted in ------------------------------------
# DataTree keeps each session's ephemeral paths in a ``new HashSet<String>()`` (a 16-bucket
# table on the first add), made on the session's first ephemeral and kept, never shrunk, until
# the session closes. PrepRequestProcessor's closeSession takes ``getEphemerals(session)``, a
# ``clone()`` of that set -- HashMap.clone re-puts the entries, in the original's iteration
# order, into a fresh table sized for them (``tableSizeFor(size / 0.75 + 1)``), which may be
# smaller or larger than the original's -- and CloseSessionTxn carries ``new ArrayList<>(clone)``
# (zookeeper.closeSessionTxn.enabled is true by default in 3.8); killSession deletes in that
# list's order, and the NodeDeleted / NodeChildrenChanged events follow it.
_SESSION_SET_CAPACITY = 16


@dataclass(frozen=True, slots=True)
class _Owned:
    """A session's ephemeral paths as ZooKeeper's HashSet holds them."""

    members: _PMap  # path -> (java_hash(path), insertion stamp)
    capacity: int = _SESSION_SET_CAPACITY
    adds: int = 0

    def with_path(self, path: str) -> _Owned:
        members, capacity = _table_add(self.members, self.capacity, path, self.adds)
        return _Owned(members, capacity, self.adds + 1)

    def without_path(self, path: str) -> _Owned:
        return replace(self, members=self.members.remove(path)) if path in self.members else self

    def close_order(self) -> list[str]:
        """The order of ``new ArrayList<String>(set.clone())``."""
        size = len(self.members)
        capacity = 1
        while capacity < int(size / 0.75 + 1.0):  # HashMap.tableSizeFor
            capacity *= 2
        clone = _PMap()
        for stamp, path in enumerate(_bucket_order(self.members, self.capacity)):
            clone, capacity = _table_add(clone, capacity, path, stamp)
        return _bucket_order(clone, capacity)


@dataclass(frozen=True, slots=True)
class _Parts:
    nodes: _PMap  # path -> _Znode
    # Plain dicts, never written after construction (copied on change), so a tree pickles.
    sessions: dict[int, int]  # session id -> timeout ms
    ephemerals: dict[int, _Owned]  # session id -> the ephemeral paths it owns


def _initial_parts(config: bytes) -> _Parts:
    # DataTree's constructor: the root, /zookeeper, /zookeeper/quota, /zookeeper/config with
    # zero stats, children added without counting as creations (so cversion reports -1, -2);
    # the config znode's ACL version is -1 (setACL with version -1), and in an ensemble its
    # data is the membership, set with version -1 (ZKDatabase.initConfigInZKDatabase).
    # Children are added in the constructor's order: zookeeper under the root, then quota, then
    # config (addConfigNode) under /zookeeper.
    leaf = _PMap()
    config_node = _Znode(config, _ZERO_STAT._replace(aversion=-1, version=-1, dataLength=len(config)), leaf)
    quota = _Znode(b"", _ZERO_STAT, leaf)
    system = _Znode(b"", _ZERO_STAT._replace(numChildren=2, cversion=-2), leaf)
    system = _with_child(_with_child(system, "quota"), "config")
    root = _with_child(_Znode(b"", _ZERO_STAT._replace(numChildren=1, cversion=-1), leaf), "zookeeper")
    nodes = _PMap().set("/", root).set("/zookeeper", system)
    nodes = nodes.set("/zookeeper/quota", quota).set("/zookeeper/config", config_node)
    return _Parts(nodes, {}, {})


class DataTree:
    """DataTree(config: bytes = b"")

    An immutable ZooKeeper data tree: znodes and the open sessions.

    ``DataTree()`` is the tree of a fresh ZooKeeper ensemble: the root ``/`` and ZooKeeper's
    own ``/zookeeper``, ``/zookeeper/quota`` and ``/zookeeper/config``, with the stats a real
    3.8 ensemble reports for them (zeros, except cversion -1 on ``/`` and -2 on ``/zookeeper``,
    version and aversion -1 on ``/zookeeper/config``; its mtime, 0 here, is a wall-clock time
    there), and no session. Every other tree comes from :func:`apply`.

    Parameters
    ----------
    config : bytes, default b""
        The data of ``/zookeeper/config``: a real ensemble stores its membership there
        (``server.1=host:port:port:participant`` lines and ``version=0``).

    Examples
    --------
    >>> from zablib.coord.txn import CreateSessionTxn, CreateTxn
    >>> tree = apply(DataTree(), CreateSessionTxn(7, 10_000), zxid=1, time=0).tree
    >>> tree = apply(tree, CreateTxn("/app", b"hi", 0, 1), zxid=2, time=5).tree
    >>> tree.get("/app")[0], tree.get("/app")[1].czxid
    (b'hi', 2)
    >>> tree.children("/")
    ['app', 'zookeeper']
    """

    __slots__ = ("_parts",)

    def __init__(self, config: bytes = b"", *, _parts: _Parts | None = None) -> None:
        if not isinstance(config, bytes):
            raise TypeError(f"config must be bytes, got {type(config).__name__}")
        self._parts = _parts if _parts is not None else _initial_parts(config)

    # -- reads ----------------------------------------------------------------------------------
    def _znode(self, path: str) -> _Znode:
        node = self._parts.nodes.get(path) if isinstance(path, str) else None
        if node is None:
            paths.check_path_type(path)
            raise errors.NoNodeError(path)
        return node

    def get(self, path: str) -> tuple[bytes | None, ZnodeStat]:
        """The data and stat of znode ``path``.

        Raises
        ------
        NoNodeError
            If there is no such znode (an invalid path simply names no znode, as on the server).
        """
        node = self._znode(path)
        return node.data, node.stat

    def exists(self, path: str) -> ZnodeStat | None:
        """The stat of znode ``path``, or None if there is none.

        Raises
        ------
        BadArgumentsError
            If ``path`` contains a NUL character (the server's one check on ``exists``).
        """
        paths.check_path_type(path)
        if "\0" in path:
            raise errors.BadArgumentsError(path)
        node = self._parts.nodes.get(path)
        return None if node is None else node.stat

    def children(self, path: str) -> list[str]:
        """The names of the children of ``path``, in the order a real ZooKeeper 3.8 lists them.

        That is the iteration order of the ``java.util.HashSet<String>(8)`` a ZooKeeper znode
        keeps its children in (``DataNode.addChild``): by bucket, ``HashMap.hash(name) &
        (capacity - 1)``, then by insertion within a bucket; the capacity starts at 8, doubles
        when the set holds more than three quarters of it (or when a 9th name lands in one
        bucket of a table under 64) and never shrinks, even when the last child goes. The tree
        keeps that capacity and each child's insertion rank, so the order is replicated state:
        every replica that applied the same txns lists the same order, and so does a zablib
        server that rebuilt its tree by replaying ZAB's history. Recipes that need an order
        must sort, as with a real server.

        Two limits, both where names collide in a bucket: a real server that *loads a snapshot*
        re-adds each znode's children in the snapshot's (iteration) order, which can reorder
        names of one bucket that were added in another order; and a bucket of 9 or more names
        in a table of 64 or more is a red-black tree in Java (``HashMap.TreeNode``), whose
        iteration order (root first, then new nodes after their tree parent) is not modelled:
        here such a bucket keeps insertion order. Neither happens with fewer than 49 children.

        Raises
        ------
        NoNodeError
            If there is no such znode.
        """
        node = self._znode(path)
        return _bucket_order(node.children, node.capacity)

    def sequence_counter(self, path: str) -> int:
        """The counter the next sequential child of ``path`` gets: how many children were ever
        created under it (ZooKeeper's stored cversion, which its clients never see as such).

        Raises
        ------
        NoNodeError
            If there is no such znode.
        """
        return self._znode(path).creates

    def ephemerals(self, session_id: int) -> tuple[str, ...]:
        """The paths of the ephemeral znodes ``session_id`` owns, sorted."""
        owned = self._parts.ephemerals.get(session_id)
        return tuple(sorted(owned.members)) if owned else ()

    def ephemeral_close_order(self, session_id: int) -> tuple[str, ...]:
        """The paths of ``session_id``'s ephemeral znodes in the order closing it deletes them.

        That is the iteration order of a clone of the session's Java ``HashSet<String>()``
        (16 buckets at first) of paths, which ZooKeeper's CloseSessionTxn lists: by bucket
        index ``java_hash(path) & (capacity - 1)`` at the clone's capacity, then by the
        original set's iteration order. It depends on the set's capacity and insertion order,
        replicated state kept here (see :meth:`ephemeral_order`).

        Two limits: a real server that loads a snapshot rebuilds the sets in the snapshot's
        order; and a real leader preparing the close adds the session's still-pending creates
        to the end of its clone and drops pending deletes (PrepRequestProcessor's
        ``outstandingChanges``), where here the order is taken from the set the close applies to.
        """
        owned = self._parts.ephemerals.get(session_id)
        return tuple(owned.close_order()) if owned else ()

    def sessions(self) -> Mapping[int, int]:
        """The open sessions: session id -> timeout in ms (a read-only mapping)."""
        return MappingProxyType(self._parts.sessions)

    def paths(self) -> list[str]:
        """Every znode's path, sorted (ZooKeeper's own znodes included)."""
        return sorted(self._parts.nodes)

    def __len__(self) -> int:
        """The number of znodes, ZooKeeper's own four included."""
        return len(self._parts.nodes)

    def __contains__(self, path: object) -> bool:
        return isinstance(path, str) and path in self._parts.nodes

    # -- identity -------------------------------------------------------------------------------
    def state(self) -> tuple:
        """The whole replicated state as plain sorted data: ``((path, data, stat), ...)`` and
        ``((session id, timeout), ...)``. Two trees are equal when their states are."""
        nodes = tuple((path, node.data, tuple(node.stat)) for path, node in sorted(self._parts.nodes.items()))
        return nodes, tuple(sorted(self._parts.sessions.items()))

    def child_order(self) -> tuple[tuple[str, int, tuple[str, ...]], ...]:
        """What decides the order of children, now and after any later txn: ``((path,
        capacity, children in order), ...)`` for every znode that ever had a child, by path.
        (Resizes only split buckets, so names in one bucket stay in one bucket's relative
        order; the capacity and the present order are all that matters.)"""
        return tuple((path, node.capacity, tuple(_bucket_order(node.children, node.capacity)))
                     for path, node in sorted(self._parts.nodes.items()) if node.capacity)

    def digest(self) -> str:
        """A SHA-256 hex digest of :meth:`state`: equal trees, equal digests, in any process."""
        sha = hashlib.sha256()
        nodes, sessions = self.state()
        for path, data, stat in nodes:
            sha.update(repr((path, data, stat)).encode("utf-8", "surrogatepass"))
        sha.update(repr(sessions).encode())
        sha.update(repr(self.child_order()).encode("utf-8", "surrogatepass"))
        return sha.hexdigest()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DataTree):
            return NotImplemented
        return other is self or (self.state() == other.state() and self.child_order() == other.child_order()
                                 and self.ephemeral_order() == other.ephemeral_order())

    def ephemeral_order(self) -> tuple[tuple[int, int, tuple[str, ...]], ...]:
        """What decides the order closing a session deletes its ephemerals in, now and after any
        later txn: ``((session id, capacity, paths in the set's order), ...)`` for every open
        session whose set is not empty or has grown, by session id (see :meth:`ephemeral_close_order`)."""
        return tuple((session, owned.capacity, tuple(_bucket_order(owned.members, owned.capacity)))
                     for session, owned in sorted(self._parts.ephemerals.items())
                     if owned.members or owned.capacity != _SESSION_SET_CAPACITY)

    def __hash__(self) -> int:
        return hash(self.digest())

    def __repr__(self) -> str:
        return f"DataTree({len(self)} znodes, {len(self._parts.sessions)} sessions)"

    # -- the one writer -------------------------------------------------------------------------
    def apply(self, txn: Txn, zxid: int, time: int) -> Applied:
        """Same as the module function :func:`apply` (``tree.apply(txn, zxid, time)``)."""
        if not isinstance(txn, CreateTxn | DeleteTxn | SetDataTxn | CheckVersionTxn | ErrorTxn | MultiTxn
                          | CreateSessionTxn | CloseSessionTxn):
            raise TypeError(f"not a transaction: {txn!r}")
        if isinstance(txn, ErrorTxn):
            return Applied(self, txn.error(), ())
        if isinstance(txn, MultiTxn) and txn.failed():
            return Applied(self, _rolled_back(txn), ())
        edit = _Edit(self._parts, zxid, time)
        # Only a txn prepared against another tree can fail below; it changes nothing (a multi
        # is rolled back whole, where ZooKeeper trusts its leader and would keep earlier ops).
        try:
            result = edit.run(txn)
        except _MultiFailed as failed:
            return Applied(self, failed.results(txn), ())
        except errors.ZookeeperError as error:
            return Applied(self, error, ())
        return Applied(DataTree(_parts=edit.parts()), result, tuple(edit.triggers))


def _rolled_back(txn: MultiTxn) -> list[errors.ZookeeperError]:
    """A failed multi's results (DataTree.processTxn): ops before the first error are rolled
    back, error ops keep their code, non-error ops after an error are runtime inconsistencies."""
    results: list[errors.ZookeeperError] = []
    seen_error = False
    for op in txn.txns:
        if isinstance(op, ErrorTxn):
            seen_error = True
            results.append(op.error())
        elif seen_error:
            results.append(errors.RuntimeInconsistency(op.path))
        else:
            results.append(errors.RolledBackError(op.path))
    return results


class _MultiFailed(Exception):
    def __init__(self, index: int, error: errors.ZookeeperError) -> None:
        super().__init__(index, error)
        self.index = index
        self.error = error

    def results(self, txn: MultiTxn) -> list[errors.ZookeeperError]:
        return [errors.RolledBackError(op.path) if i < self.index else self.error if i == self.index
                else errors.RuntimeInconsistency(op.path) for i, op in enumerate(txn.txns)]


class _Edit:
    """One txn's changes, gathered on persistent structures (discarded if the txn fails)."""

    def __init__(self, parts: _Parts, zxid: int, time: int) -> None:
        self.nodes = parts.nodes
        self.sessions = parts.sessions
        self.ephemerals = parts.ephemerals
        self.zxid = zxid
        self.time = time
        self.triggers: list[tuple[str, str]] = []

    def parts(self) -> _Parts:
        return _Parts(self.nodes, self.sessions, self.ephemerals)

    def node(self, path: str) -> _Znode:
        node = self.nodes.get(path)
        if node is None:
            raise errors.NoNodeError(path)
        return node

    def run(self, txn: Txn) -> Any:
        if isinstance(txn, CreateTxn):
            return self.create(txn)
        if isinstance(txn, DeleteTxn):
            self.delete(txn.path)
            return True
        if isinstance(txn, SetDataTxn):
            return self.set_data(txn)
        if isinstance(txn, CheckVersionTxn):
            self.node(txn.path)
            return True
        if isinstance(txn, MultiTxn):
            results = []
            for index, op in enumerate(txn.txns):
                try:
                    results.append(self.run(op))
                except errors.ZookeeperError as error:
                    raise _MultiFailed(index, error) from None
            return results
        if isinstance(txn, CreateSessionTxn):
            self.sessions = {**self.sessions, txn.session_id: txn.timeout_ms}
            return txn.session_id
        return self.close_session(txn)

    def create(self, txn: CreateTxn) -> str:
        path = txn.path
        parent_path = paths.parent(path)
        parent = self.node(parent_path)
        name = paths.basename(path)
        if name in parent.children:
            raise errors.NodeExistsError(path)
        stat = ZnodeStat(self.zxid, self.zxid, self.time, self.time, 0, 0, 0, txn.ephemeral_owner,
                         _length(txn.data), 0, self.zxid)
        creates = txn.parent_cversion if txn.parent_cversion != -1 else parent.creates + 1
        parent_stat = parent.stat
        # DataTree.createNode moves the counter and pzxid only forward (a replayed create must
        # not turn them back).
        if creates > parent.creates:
            parent_stat = parent_stat._replace(pzxid=self.zxid)
        else:
            creates = parent.creates
        parent = _with_child(parent, name)
        count = len(parent.children)
        parent_stat = parent_stat._replace(numChildren=count, cversion=2 * creates - count)
        self.nodes = self.nodes.set(parent_path, replace(parent, stat=parent_stat, creates=creates))
        self.nodes = self.nodes.set(path, _Znode(txn.data, stat, _PMap()))
        if txn.ephemeral_owner:
            owned = self.ephemerals.get(txn.ephemeral_owner, _Owned(_PMap()))
            self.ephemerals = {**self.ephemerals, txn.ephemeral_owner: owned.with_path(path)}
        self.triggers += [(path, "created"), (parent_path, "child")]
        return path

    def delete(self, path: str) -> None:
        node = self.node(path)
        parent_path = paths.parent(path)
        parent = self.node(parent_path)
        if node.children:
            raise errors.NotEmptyError(path)
        children = parent.children.remove(paths.basename(path))
        parent_stat = parent.stat._replace(numChildren=len(children),
                                           cversion=2 * parent.creates - len(children))
        if self.zxid > parent.stat.pzxid:
            parent_stat = parent_stat._replace(pzxid=self.zxid)
        # The set stays, and with it its capacity: ZooKeeper never drops or shrinks it.
        parent = replace(parent, stat=parent_stat, children=children)
        self.nodes = self.nodes.set(parent_path, parent).remove(path)
        owner = node.stat.ephemeralOwner
        if owner in self.ephemerals:  # an emptied set stays, with its capacity, as in DataTree
            self.ephemerals = {**self.ephemerals, owner: self.ephemerals[owner].without_path(path)}
        self.triggers += [(path, "deleted"), (parent_path, "child")]

    def set_data(self, txn: SetDataTxn) -> ZnodeStat:
        node = self.node(txn.path)
        stat = node.stat._replace(mzxid=self.zxid, mtime=self.time, version=txn.version,
                                  dataLength=_length(txn.data))
        self.nodes = self.nodes.set(txn.path, replace(node, data=txn.data, stat=stat))
        self.triggers.append((txn.path, "changed"))
        return stat

    def close_session(self, txn: CloseSessionTxn) -> None:
        # In the order of ZooKeeper's CloseSessionTxn (see _Owned.close_order).
        owned = self.ephemerals.get(txn.session_id)
        for path in owned.close_order() if owned else ():
            self.delete(path)
        self.sessions = {s: t for s, t in self.sessions.items() if s != txn.session_id}
        self.ephemerals = {s: p for s, p in self.ephemerals.items() if s != txn.session_id}


def _length(data: bytes | None) -> int:
    return 0 if data is None else len(data)


def apply(tree: DataTree, txn: Txn, zxid: int, time: int) -> Applied:
    """Apply one committed transaction; a pure function.

    Parameters
    ----------
    tree : DataTree
        The tree before; it is not changed.
    txn : ~zablib.coord.txn.Txn
        A transaction from :func:`zablib.coord.txn.prepare` (or a session txn).
    zxid : int
        Its zxid, ``epoch << 32 | counter``; becomes czxid/mzxid/pzxid where ZooKeeper puts it.
        All ops of a multi share it.
    time : int
        The leader's clock in ms when it prepared the txn; becomes ctime/mtime.

    Returns
    -------
    Applied
        ``(tree', result, triggers)``; see :class:`Applied`. A txn that fails here (only one
        prepared against a different tree can) yields its error and the unchanged tree; a
        multi is all or nothing.
    """
    return tree.apply(txn, zxid, time)


def violations(tree: DataTree) -> list[str]:
    """The broken invariants of ``tree``, each as a sentence (an empty list when it is sound).

    Checked: every znode but the root has its parent, and appears among the parent's children;
    numChildren equals the number of children; dataLength equals the data's length; no znode
    has an ephemeral parent; every ephemeral znode's owner is an open session and lists it.
    """
    found: list[str] = []
    sessions = tree.sessions()
    all_paths = set(tree.paths())
    for path in sorted(all_paths):
        data, stat = tree.get(path)
        children = tree.children(path)
        if stat.numChildren != len(children):
            found.append(f"{path}: numChildren {stat.numChildren} but {len(children)} children")
        if stat.dataLength != _length(data):
            found.append(f"{path}: dataLength {stat.dataLength} but {_length(data)} bytes of data")
        for child in children:
            if paths.join(path, child) not in all_paths:
                found.append(f"{path}: lists child {child!r}, which does not exist")
        if path == paths.ROOT:
            continue
        parent = paths.parent(path)
        if parent not in all_paths:
            found.append(f"{path}: its parent {parent} does not exist")
            continue
        if paths.basename(path) not in tree.children(parent):
            found.append(f"{path}: not among the children of {parent}")
        if tree.get(parent)[1].ephemeralOwner:
            found.append(f"{path}: its parent {parent} is ephemeral")
        owner = stat.ephemeralOwner
        if owner and owner not in sessions:
            found.append(f"{path}: ephemeral of session {owner:#x}, which is not open")
        elif owner and path not in tree.ephemerals(owner):
            found.append(f"{path}: ephemeral of session {owner:#x}, which does not list it")
    for session in sessions:
        for path in tree.ephemerals(session):
            if path not in all_paths or tree.get(path)[1].ephemeralOwner != session:
                found.append(f"session {session:#x} lists {path}, which is not its ephemeral")
    return found

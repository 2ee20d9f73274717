"""A server's watch table: who asked to hear about which znode (ZooKeeper's ``WatchManager``).

A *watch* is a one-time request "tell me when this znode changes", left by a read: ``get`` and
``exists`` leave a **data watch** (fired when the znode is created, changed or deleted),
``get_children`` a **child watch** (fired when a child is created or deleted, or the znode
itself is deleted). The server that answered the read holds the watch; it lives as long as the
client's connection to that server, and it fires at most once.

The data tree says what a transaction changed as *triggers* ``(path, kind)``; this table turns
them into notices for the watching connections, as ZooKeeper's ``DataTree`` and
``WatchManager.triggerWatch`` do:

=============  ==========================================  =================
trigger kind   watches fired (and removed)                 event type
=============  ==========================================  =================
``created``    data watches on the path                    ``CREATED``
``changed``    data watches on the path                    ``CHANGED``
``deleted``    data and child watches on the path          ``DELETED``
``child``      child watches on the path (the parent)      ``CHILD``
=============  ==========================================  =================

A connection that holds both a data and a child watch on a deleted znode gets one ``DELETED``
notice, not two (ZooKeeper passes the data watchers it notified as ``supress`` to the child
table). Watchers of one path are notified in the order they registered: ZooKeeper keeps them in
a hash set, whose order a program cannot rely on anyway.
"""

from __future__ import annotations

from zablib.coord.states import EVENT_OF_TRIGGER

Watcher = int  # the client node holding the connection


class WatchTable:
    """The one-time data and child watches a server holds for its connections."""

    def __init__(self) -> None:
        # path -> watchers in registration order (a dict used as an ordered set)
        self.data: dict[str, dict[Watcher, None]] = {}
        self.child: dict[str, dict[Watcher, None]] = {}

    def __len__(self) -> int:
        return sum(map(len, self.data.values())) + sum(map(len, self.child.values()))

    def add_data(self, path: str, watcher: Watcher) -> None:
        """Leave a data watch of ``watcher`` on ``path``."""
        self.data.setdefault(path, {})[watcher] = None

    def add_child(self, path: str, watcher: Watcher) -> None:
        """Leave a child watch of ``watcher`` on ``path``."""
        self.child.setdefault(path, {})[watcher] = None

    def trigger(self, path: str, kind: str) -> list[tuple[Watcher, str]]:
        """Fire the watches a ``(path, kind)`` trigger of the data tree fires; remove them.

        Returns
        -------
        list of (watcher, event type)
            One notice per watcher, in registration order.
        """
        event = EVENT_OF_TRIGGER[kind]
        if kind == "child":
            fired = list(self.child.pop(path, ()))
        elif kind == "deleted":
            fired = list(self.data.pop(path, ()))
            fired += [w for w in self.child.pop(path, ()) if w not in fired]
        else:
            fired = list(self.data.pop(path, ()))
        return [(watcher, event) for watcher in fired]

    def remove(self, watcher: Watcher) -> None:
        """Drop every watch of ``watcher`` (its connection closed)."""
        for table in (self.data, self.child):
            for path in [p for p, who in table.items() if watcher in who]:
                del table[path][watcher]
                if not table[path]:
                    del table[path]

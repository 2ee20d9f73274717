"""kazoo's connection states and watch events, with kazoo's names and values.

A ZooKeeper client lives through two kinds of state:

* the **connection's** state as the ZooKeeper protocol sees it, :class:`KeeperState`
  (``CONNECTING``, ``CONNECTED``, ``EXPIRED_SESSION``, ``CLOSED`` ...), read as
  ``client.client_state``;
* the simplified state a program reacts to, :class:`KazooState` (``CONNECTED``, ``SUSPENDED``:
  the connection is gone but the session may survive, ``LOST``: the session is over and its
  ephemeral znodes are gone), read as ``client.state`` and handed to listeners
  (``client.add_listener``).

A *watch* is a one-time notification that a znode changed; the client hands it to the watch
function as a :class:`WatchedEvent` ``(type, state, path)`` with ``type`` one of
:class:`EventType`.

The values are kazoo 2.11.0's (``kazoo.protocol.states``), strings equal to kazoo's, so a program
that compares ``event.type == "CHILD"`` or ``state == KazooState.LOST`` behaves the same on both.
"""

from __future__ import annotations

from typing import NamedTuple


class KazooState:
    """The simplified connection state a program sees (kazoo's ``KazooState``).

    Attributes
    ----------
    CONNECTED : str
        Connected to a server; the session is alive.
    SUSPENDED : str
        The connection is lost but the session may still be alive: the client is reconnecting.
        A lock holder should act as if it may have lost its lock until it knows more.
    LOST : str
        The session is over (expired or closed): its ephemeral znodes are gone. Also the state
        of a client that has not been started.
    """

    SUSPENDED = "SUSPENDED"
    CONNECTED = "CONNECTED"
    LOST = "LOST"


class KeeperState:
    """The ZooKeeper protocol's connection state (kazoo's ``KeeperState``).

    Attributes
    ----------
    CONNECTING : str
        Looking for a server (at start, and after a connection was lost).
    CONNECTED : str
        A connection is established and the session is alive.
    CONNECTED_RO : str
        Connected to a read-only server; kept for kazoo compatibility (zablib's servers are
        never read-only).
    CLOSED : str
        The client closed its session (``stop()``), or has not started.
    EXPIRED_SESSION : str
        A server said the session has expired.
    AUTH_FAILED : str
        Kept for kazoo compatibility; zablib's servers take no authentication.
    """

    AUTH_FAILED = "AUTH_FAILED"
    CONNECTED = "CONNECTED"
    CONNECTED_RO = "CONNECTED_RO"
    CONNECTING = "CONNECTING"
    CLOSED = "CLOSED"
    EXPIRED_SESSION = "EXPIRED_SESSION"


class EventType:
    """What a watch reports (kazoo's ``EventType``).

    Attributes
    ----------
    CREATED : str
        The znode was created (a watch left by ``exists`` on a missing znode).
    DELETED : str
        The znode was deleted.
    CHANGED : str
        The znode's data was set.
    CHILD : str
        A child was created or deleted under the znode (a watch left by ``get_children``).
    NONE : str
        The connection changed (kazoo hands it to every watch when the connection is lost).
    """

    CREATED = "CREATED"
    DELETED = "DELETED"
    CHANGED = "CHANGED"
    CHILD = "CHILD"
    NONE = "NONE"


#: The data tree's trigger kinds (``zablib.coord.tree``) as the event type a client sees.
EVENT_OF_TRIGGER = {
    "created": EventType.CREATED,
    "deleted": EventType.DELETED,
    "changed": EventType.CHANGED,
    "child": EventType.CHILD,
}


class WatchedEvent(NamedTuple):
    """A change a watch function is told about (kazoo's ``WatchedEvent``).

    Attributes
    ----------
    type : str
        An :class:`EventType` value.
    state : str
        The client's :class:`KeeperState` when the event arrived.
    path : str or None
        The znode the event is about (None for a connection event).
    """

    type: str
    state: str
    path: str | None

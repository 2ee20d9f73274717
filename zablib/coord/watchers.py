"""kazoo's ``DataWatch`` and ``ChildrenWatch``: a function called at every change of a znode.

A ZooKeeper watch fires once; to follow a znode, a program must read it again and leave a new
watch each time, and do so again after a reconnection (kazoo forgets watches when a connection
drops). kazoo's two recipes do that bookkeeping:

* ``DataWatch(client, path, func)`` calls ``func(data, stat)`` now and whenever the znode's data
  changes, is created or is deleted (``(None, None)`` while it does not exist); ``func`` may take
  a third argument, the :class:`~zablib.coord.states.WatchedEvent`.
* ``ChildrenWatch(client, path, func)`` calls ``func(children)`` now and whenever the set of
  children changes (``send_event=True``: ``func(children, event)``); it stops if the znode is
  deleted.

Returning ``False`` from ``func`` stops the watch. Both also work as decorators
(``@client.DataWatch("/path")``). This is kazoo 2.11.0's code (Apache License 2.0), with kazoo's
handler replaced by the client's simulated one: callbacks run in greenlets, the lock is a
greenlet lock, and retries sleep on the simulated clock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from zablib.coord.errors import ConnectionClosedError, KazooException, NoNodeError
from zablib.coord.states import KazooState

log = logging.getLogger(__name__)


def _ignore_closed(func: Callable) -> Callable:
    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ConnectionClosedError:
            return None
    return wrapper


class DataWatch:
    """Call a function with a znode's data and stat now and at every change (kazoo's DataWatch).

    Parameters
    ----------
    client : ~zablib.coord.client.KazooClient
        The client (``client.DataWatch(path, func)`` passes it).
    path : str
        The znode to watch; it need not exist.
    func : callable, optional
        ``func(data, stat)`` or ``func(data, stat, event)``; given later when used as a
        decorator. Return ``False`` to stop watching.
    """

    def __init__(self, client: Any, path: str, func: Callable | None = None, *args: Any, **kwargs: Any):
        self._client = client
        self._path = path
        self._func = func
        self._stopped = False
        self._run_lock = client.handler.lock_object()
        self._version: int | None = None
        self._retry = client.retry
        self._ever_called = False
        self._used = False
        if func is not None:
            self._used = True
            self._client.add_listener(self._session_watcher)
            self._get_data()

    def __call__(self, func: Callable) -> Callable:
        """Use as a decorator: ``@client.DataWatch(path)``."""
        if self._used:
            raise KazooException("A function has already been associated with this DataWatch instance.")
        self._func = func
        self._used = True
        self._client.add_listener(self._session_watcher)
        self._get_data()
        return func

    def _log_func_exception(self, data: Any, stat: Any, event: Any = None) -> None:
        try:
            if not self._ever_called:
                self._ever_called = True
            try:
                result = self._func(data, stat, event)
            except TypeError:
                result = self._func(data, stat)
            if result is False:
                self._stopped = True
                self._func = None
                self._client.remove_listener(self._session_watcher)
        except Exception as exc:
            log.exception(exc)
            raise

    @_ignore_closed
    def _get_data(self, event: Any = None) -> None:
        with self._run_lock:
            if self._stopped:
                return
            initial_version = self._version
            try:
                data, stat = self._retry(self._client.get, self._path, self._watcher)
            except NoNodeError:
                data = None
                stat = self._retry(self._client.exists, self._path, self._watcher)
                if stat:
                    self._client.handler.spawn(self._get_data)
                    return
            self._version = None if stat is None else stat.mzxid
            if initial_version != self._version or not self._ever_called:
                self._log_func_exception(data, stat, event)

    def _watcher(self, event: Any) -> None:
        self._get_data(event=event)

    def _session_watcher(self, state: str) -> None:
        if state == KazooState.CONNECTED:
            self._client.handler.spawn(self._get_data)


class ChildrenWatch:
    """Call a function with a znode's children now and at every change (kazoo's ChildrenWatch).

    Parameters
    ----------
    client : ~zablib.coord.client.KazooClient
        The client (``client.ChildrenWatch(path, func)`` passes it).
    path : str
        The znode whose children to watch; the watch stops if it does not exist.
    func : callable, optional
        ``func(children)`` (or ``func(children, event)`` with ``send_event``); return ``False``
        to stop watching.
    allow_session_lost : bool
        Keep watching after the session is lost (re-register on reconnection).
    send_event : bool
        Pass the :class:`~zablib.coord.states.WatchedEvent` (None on the first call).
    """

    def __init__(self, client: Any, path: str, func: Callable | None = None,
                 allow_session_lost: bool = True, send_event: bool = False):
        self._client = client
        self._path = path
        self._func = func
        self._send_event = send_event
        self._stopped = False
        self._watch_established = False
        self._allow_session_lost = allow_session_lost
        self._run_lock = client.handler.lock_object()
        self._prior_children: list[str] | None = None
        self._used = False
        if func is not None:
            self._used = True
            if allow_session_lost:
                self._client.add_listener(self._session_watcher)
            self._get_children()

    def __call__(self, func: Callable) -> Callable:
        """Use as a decorator: ``@client.ChildrenWatch(path)``."""
        if self._used:
            raise KazooException("A function has already been associated with this ChildrenWatch instance.")
        self._func = func
        self._used = True
        if self._allow_session_lost:
            self._client.add_listener(self._session_watcher)
        self._get_children()
        return func

    @_ignore_closed
    def _get_children(self, event: Any = None) -> None:
        with self._run_lock:
            if self._stopped:
                return
            try:
                children = self._client.retry(self._client.get_children, self._path, self._watcher)
            except NoNodeError:
                self._stopped = True
                return
            if not self._watch_established:
                self._watch_established = True
                if self._prior_children is not None and self._prior_children == children:
                    return
            self._prior_children = children
            try:
                result = self._func(children, event) if self._send_event else self._func(children)
                if result is False:
                    self._stopped = True
                    self._func = None
                    if self._allow_session_lost:
                        self._client.remove_listener(self._session_watcher)
            except Exception as exc:
                log.exception(exc)
                raise

    def _watcher(self, event: Any) -> None:
        if event.type != "NONE":
            self._get_children(event)

    def _session_watcher(self, state: str) -> None:
        if state in (KazooState.LOST, KazooState.SUSPENDED):
            self._watch_established = False
        elif state == KazooState.CONNECTED and not self._watch_established and not self._stopped:
            self._client.handler.spawn(self._get_children)

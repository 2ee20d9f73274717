"""What every recipe needs from the client it is given: the client's own exception classes.

A recipe takes *any* kazoo-compatible client: a real ``kazoo.client.KazooClient`` or zablib's
simulated one (``zablib.coord.Ensemble().client()``). Both raise exceptions with the same names
and hierarchy, but they are different classes: ``kazoo.exceptions.NoNodeError`` is not
``zablib.coord.errors.NoNodeError``. A recipe therefore asks the client which module its
exceptions come from, once, and catches those::

    err = errors_of(client)
    try:
        client.delete(path)
    except err.NoNodeError:
        ...

Everything else a recipe uses is the same on both clients: the method names and signatures, the
state strings (``"CONNECTED"``, ``"SUSPENDED"``, ``"LOST"``), the watch events' ``type`` strings
(``"CREATED"``, ``"DELETED"``, ``"CHANGED"``, ``"CHILD"``), and the handler
(``client.handler.event_object()``, ``lock_object()``, ``sleep_func``, ``spawn``): on a real
client threads, on the simulated one greenlets on simulated time.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

import zablib.coord.errors as simulated_errors

__all__ = ["errors_of", "sequence_number"]


def errors_of(client: Any) -> ModuleType:
    """The module holding the exception classes ``client`` raises.

    Parameters
    ----------
    client : KazooClient-like
        A real ``kazoo.client.KazooClient`` (or a subclass) or zablib's simulated client.

    Returns
    -------
    module
        ``kazoo.exceptions`` for a real kazoo client, ``zablib.coord.errors`` otherwise.

    Raises
    ------
    TypeError
        If ``client`` does not look like a kazoo client (it has no ``create``/``get_children``).
    """
    for method in ("create", "get_children", "delete", "exists", "get", "set"):
        if not callable(getattr(client, method, None)):
            raise TypeError(f"a recipe needs a kazoo-compatible client; {type(client).__name__} "
                            f"has no {method}()")
    for klass in type(client).__mro__:
        if klass.__module__.split(".")[0] == "kazoo":
            return importlib.import_module("kazoo.exceptions")
    return simulated_errors


def sequence_number(name: str) -> int:
    """The counter ZooKeeper appended to a sequential node's name (its last ten digits).

    >>> sequence_number("lock-0000000042")
    42

    Raises
    ------
    ValueError
        If ``name`` does not end in ten digits.
    """
    tail = name[-10:]
    if len(name) < 10 or not tail.isdigit():
        raise ValueError(f"{name!r} is not a sequential node's name (it must end in ten digits)")
    return int(tail)

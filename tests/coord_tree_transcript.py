"""A script of client calls, and what a real ZooKeeper 3.8 ensemble answered to it.

``OPS`` is a list of calls by two kazoo clients (sessions "A" and "B"): writes, reads, failing
writes, multis, sessions closing, requests at the 1 MB limit, and a few one-time watches.
``tests/coord_tree_transcript.json`` holds the answers a fresh three-server ZooKeeper 3.8.0
ensemble (Debian's package) gave, normalised by :func:`normal` (times and session ids removed,
exceptions by class name, zxids kept). ``tests/test_coord_tree.py`` replays ``OPS`` on zablib's
data tree and compares.

Regenerate (needs ``apt-get install zookeeper`` and kazoo; takes a few seconds)::

    python tests/coord_tree_transcript.py
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RECORDING = HERE / "coord_tree_transcript.json"

JUTE_MAXBUFFER = 1048575


def fill(n: int) -> tuple[str, int]:
    """Data of ``n`` bytes, written as ("fill", n) in the script (b"x" * n when sent)."""
    return ("fill", n)


# Largest data of a create / set / one-create multi on path P: the packet is P + D + 47 / 20 / 65
# bytes (kazoo's encoding, open ACL) and may be at most jute.maxbuffer.
BIG_CREATE = JUTE_MAXBUFFER - 47 - len("/big")
BIG_SET = JUTE_MAXBUFFER - 20 - len("/big")
BIG_MULTI = JUTE_MAXBUFFER - 65 - len("/bigm")

# (op, session or None, args...). Writes: create(path, data, ephemeral, sequence),
# delete(path, version), set(path, data, version), multi([...]). Reads by session A: exists,
# get, children. Sessions: open, close. Watches (session A): watch_data(path) sets an exists
# watch, watch_children(path) a get_children watch; events are recorded in arrival order.
OPS: list[tuple] = [
    ("open", "A"),
    ("create", "A", "/p", b"x", False, False),
    ("exists", "A", "/p"),
    ("create", "A", "/p/a", b"", False, False),
    ("exists", "A", "/p"),
    ("delete", "A", "/p/a", -1),
    ("exists", "A", "/p"),
    ("create", "A", "/p/s-", b"", False, True),
    ("create", "A", "/p/s-", b"", True, True),
    ("create", "A", "/p/", b"", False, True),
    ("exists", "A", "/p"),
    ("set", "A", "/p", b"yy", -1),
    ("set", "A", "/p", b"zz", 0),
    ("set", "A", "/p", b"zz", 1),
    ("get", "A", "/p"),
    # paths the server refuses, in its order of checks
    ("create", "A", "/p/a\x01", b"", False, False),
    ("create", "A", "/nope/a\x01", b"", False, False),
    ("create", "A", "/p/\U0001f600", b"", False, False),
    ("create", "A", "/p/\ufff0", b"", False, False),
    ("create", "A", "/p/a\x00b", b"", False, False),
    ("create", "A", "/p/\x7f", b"", False, False),
    ("create", "A", "/p/\ud7ff", b"", False, False),
    ("create", "A", "/p/\uf900", b"", False, False),
    ("create", "A", "/p/.a", b"", False, False),
    ("create", "A", "/nope/x", b"", False, False),
    ("create", "A", "/", b"", False, False),
    ("create", "A", "/", b"", False, True),
    ("delete", "A", "/", -1),
    ("delete", "A", "/zookeeper", -1),
    ("delete", "A", "/zookeeper/quota", -1),
    ("delete", "A", "/zookeeper/config", -1),
    ("set", "A", "/zookeeper/config", b"", -1),
    ("create", "A", "/zookeeper/config/x", b"", False, False),
    ("create", "A", "/zookeeper/x", b"", False, False),
    ("delete", "A", "/zookeeper/x", -1),
    ("exists", "A", "/zookeeper"),
    ("set", "A", "/", b"root", -1),
    ("exists", "A", "/"),
    # versions and emptiness
    ("delete", "A", "/p", -5),
    ("set", "A", "/p", b"", -5),
    ("delete", "A", "/p", 99),
    ("delete", "A", "/p", -1),
    ("delete", "A", "/missing", -1),
    ("delete", "A", "/missing", 3),
    ("set", "A", "/missing", b"", 3),
    # ephemerals and data None
    ("create", "A", "/e", b"", True, False),
    ("create", "A", "/e/c", b"", False, False),
    ("create", "A", "/e", b"", False, False),
    ("create", "A", "/e/c", b"", False, True),
    ("exists", "A", "/e"),
    ("create", "A", "/n", None, False, False),
    ("get", "A", "/n"),
    ("set", "A", "/n", None, -1),
    ("exists", "A", "/a\x00"),
    ("get", "A", "/a\x01"),
    ("children", "A", "/p"),
    ("children", "A", "/missing"),
    # watches: fired by later writes
    ("watch_data", "A", "/w"),
    ("watch_children", "A", "/"),
    ("watch_children", "A", "/p"),
    # multis
    ("multi", "A", [("create", "/m1", b"", False, False), ("check", "/m1", 0), ("set", "/m1", b"1", -1),
                    ("create", "/m1/c", b"", False, False)]),
    ("multi", "A", [("create", "/m2", b"", False, False), ("delete", "/nope", -1),
                    ("create", "/m3", b"", False, False), ("check", "/p", 0)]),
    ("multi", "A", [("create", "/m4", b"", False, False), ("create", "/bad\x01", b"", False, False),
                    ("create", "/m5", b"", False, False)]),
    ("multi", "A", [("create", "/p/q-", b"", False, True), ("delete", "/p/\ud7ff", -1),
                    ("create", "/p/q-", b"", False, True), ("create", "/w", b"w", False, False)]),
    ("multi", "A", [("create", "/m6", b"", False, False), ("create", "/m6", b"", False, False)]),
    ("multi", "A", [("delete", "/m1/c", -1), ("delete", "/m1", 1)]),
    ("multi", "A", []),
    ("multi", "A", [("check", "/p", 1), ("check", "/missing", 0)]),
    ("multi", "A", [("check", "/p", 7)]),
    ("exists", "A", "/m1"),
    ("exists", "A", "/p"),
    ("watch_data", "A", "/w"),
    ("set", "A", "/w", b"w2", -1),
    ("watch_data", "A", "/w"),
    ("delete", "A", "/w", -1),
    # a delete and a re-create in one multi; exact versions; ZooKeeper's own subtree
    ("multi", "A", [("delete", "/p/.a", -1), ("create", "/p/.a", b"again", False, False)]),
    ("exists", "A", "/p/.a"),
    ("exists", "A", "/p"),
    ("set", "A", "/p/.a", b"", 0),
    ("delete", "A", "/p/.a", 1),
    ("create", "A", "/zookeeper/quota/x", b"", False, False),
    ("delete", "A", "/zookeeper/quota/x", -1),
    ("exists", "A", "/zookeeper/quota"),
    ("multi", "A", [("create", "/p/e-", b"", True, True), ("check", "/p", 0)]),
    ("multi", "A", [("create", "/p/e-", b"", True, True), ("check", "/p", 2)]),
    ("children", "A", "/p"),
    # one event per watch: a multi creating two children, a delete watched twice
    ("watch_children", "A", "/p"),
    ("multi", "A", [("create", "/p/w1", b"", False, False), ("create", "/p/w2", b"", False, False)]),
    ("watch_data", "A", "/p/w1"),
    ("watch_children", "A", "/p/w1"),
    ("delete", "A", "/p/w1", -1),
    # a second session and its ephemerals
    ("open", "B"),
    ("create", "B", "/k", b"", False, False),
    ("create", "B", "/k/e1", b"", True, False),
    ("create", "B", "/k/e2", b"", True, False),
    ("create", "B", "/k/e2/x", b"", False, False),
    ("exists", "A", "/k"),
    ("exists", "A", "/k/e1"),
    ("watch_children", "A", "/k"),
    ("watch_data", "A", "/k/e2"),
    ("close", "B"),
    ("exists", "A", "/k"),
    ("children", "A", "/k"),
    ("create", "A", "/k/s-", b"", False, True),
    ("exists", "A", "/"),
    # the 1 MB limit: one byte more and the server drops the connection
    ("create", "A", "/big", fill(BIG_CREATE), False, False),
    ("create", "A", "/big2", fill(BIG_CREATE + 1), False, False),
    ("set", "A", "/big", fill(BIG_SET), -1),
    ("set", "A", "/big", fill(BIG_SET + 1), -1),
    ("multi", "A", [("create", "/bigm", fill(BIG_MULTI), False, False)]),
    ("multi", "A", [("create", "/bigm2", fill(BIG_MULTI), False, False)]),
    ("exists", "A", "/big2"),
    ("exists", "A", "/big"),
    ("exists", "A", "/"),
]


def data_of(spec: Any) -> bytes | None:
    """The bytes a data spec stands for."""
    if isinstance(spec, tuple):
        return b"x" * spec[1]
    return spec


def normal(result: Any, owners: dict[int, str]) -> Any:
    """A result as JSON-able data that does not depend on time or session ids.

    A ZnodeStat becomes its 11 fields with ctime and mtime as null and ephemeralOwner as the
    session's name; an exception its class name; bytes their latin-1 text; lists elementwise
    (children lists sorted: a real server returns them in hash order).
    """
    if isinstance(result, BaseException):
        return {"error": type(result).__name__}
    if type(result).__name__ == "ZnodeStat":
        fields = list(result)
        fields[2] = fields[3] = None
        fields[7] = owners.get(fields[7], fields[7])
        return {"stat": fields}
    if isinstance(result, bytes):
        return {"bytes": result.decode("latin-1")} if len(result) < 100 else {"bytes_len": len(result)}
    if isinstance(result, tuple):
        return [normal(item, owners) for item in result]
    if isinstance(result, list):
        return [normal(item, owners) for item in result]
    return result


def call(client: Any, kind: str, args: list, watcher: Callable) -> Any:  # pragma: no cover
    """Make one call of the script on a kazoo client."""
    if kind == "create":
        path, data, ephemeral, sequence = args
        return client.create(path, data_of(data), ephemeral=ephemeral, sequence=sequence)
    if kind == "delete":
        return client.delete(args[0], version=args[1])
    if kind == "set":
        return client.set(args[0], data_of(args[1]), version=args[2])
    if kind == "exists":
        return client.exists(args[0])
    if kind == "get":
        return client.get(args[0])
    if kind == "children":
        return sorted(client.get_children(args[0]))
    if kind == "watch_data":
        client.exists(args[0], watch=watcher)
        return None
    if kind == "watch_children":
        client.get_children(args[0], watch=watcher)
        return None
    if kind == "multi":
        transaction = client.transaction()
        for sub in args[0]:
            if sub[0] == "create":
                transaction.create(sub[1], data_of(sub[2]), ephemeral=sub[3], sequence=sub[4])
            elif sub[0] == "delete":
                transaction.delete(sub[1], version=sub[2])
            elif sub[0] == "set":
                transaction.set_data(sub[1], data_of(sub[2]), version=sub[3])
            else:
                transaction.check(sub[1], sub[2])
        return transaction.commit()
    raise ValueError(f"unknown call {kind!r}")


def record() -> None:  # pragma: no cover - needs a real ZooKeeper
    """Run ``OPS`` on a fresh real ensemble and write the answers to ``RECORDING``."""
    import sys
    import threading
    import time

    sys.path.insert(0, str(HERE))
    from differential import drain_callbacks
    from kazoo.exceptions import KazooException
    from zookeeper import RealEnsemble

    events: list[list] = []
    lock = threading.Lock()

    def watcher(event: Any) -> None:
        with lock:
            events.append([event.type, event.path])

    def settle(open_clients: list[Any]) -> None:
        # Every open client's server has applied every write (sync), and kazoo has delivered
        # the watch events they fired: the events then come in a deterministic order.
        for client in open_clients:
            client.sync("/")
            drain_callbacks(client)

    with RealEnsemble(3) as ensemble:
        clients: dict[str, Any] = {}
        owners: dict[int, str] = {}
        answers = []
        for kind, who, *args in OPS:
            try:
                if kind == "open":
                    clients[who] = ensemble.client_factory()()
                    clients[who].start()
                    owners[clients[who].client_id[0]] = who
                    result = None
                elif kind == "close":
                    closing = clients.pop(who)
                    closing.stop()
                    closing.close()
                    settle(list(clients.values()))  # the close's deletions reach the others
                    result = None
                else:
                    result = call(clients[who], kind, args, watcher)
            except KazooException as error:
                result = error
                if type(error).__name__ == "ConnectionLoss":
                    # kazoo reconnects on its own (the session survives)
                    deadline = time.monotonic() + 30
                    while not clients[who].connected:
                        if time.monotonic() > deadline:
                            raise RuntimeError(f"client {who} did not reconnect within 30 s") from error
                        time.sleep(0.05)
            answers.append(normal(result, owners))
        settle(list(clients.values()))
        with lock:
            recorded_events = list(events)
        for client in clients.values():
            client.stop()
            client.close()
    RECORDING.write_text(json.dumps({"zookeeper": "3.8.0 (Debian 3.8.0-11), three servers",
                                     "answers": answers, "events": recorded_events},
                                    indent=1, ensure_ascii=True) + "\n")


if __name__ == "__main__":  # pragma: no cover
    record()

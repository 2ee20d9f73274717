"""Record what a client saw as a history the linearizability checker can judge.

``RecordingClient(client, history, process)`` wraps any kazoo-compatible client (zablib's
simulated one or a real ``kazoo.client.KazooClient``) and records each ``get``, ``exists``,
``set``, ``create``, ``delete`` and ``sync`` as one operation of a
:class:`zablib.linearizability.History`, in the vocabulary of
:class:`zablib.linearizability.KVModel`. The wrapper is transparent: each call returns what the
client returned and raises what it raised; every other attribute (``start``, ``stop``,
``handler``, ``get_children`` ...) is the client's own, unrecorded::

    history = History()
    zk = RecordingClient(ens.client(), history, "c1")
    zk.start()
    zk.set("/x", b"1")                 # ("set", "/x", b"1") -> "ok"
    zk.sync_get("/x")                  # ("get", "/x") -> b"1", called when the sync was
    check(history.operations(), KVModel({"/x": b"0"}))

How an outcome becomes an output:

* An answer, also when the client raises it: the value read (``get``), ``True``/``False``
  (``exists``), ``"ok"`` for a write that succeeded, and for a server's refusal the error's
  name without ``Error``: ``NoNodeError`` -> ``"NoNode"``, ``NodeExistsError`` ->
  ``"NodeExists"``, ``NotEmptyError`` -> ``"NotEmpty"``. The server said it, so it is what
  the operation returned.
* ``ConnectionLoss``, ``SessionExpiredError``, ``OperationTimeoutError`` and the handler's
  timeout (``client.handler.timeout_exception``) on a **write**: the outcome is *unknown*
  (:meth:`~zablib.linearizability.History.unknown`). The request may have reached the leader
  and be committed later, or never: the checker lets it take effect at any instant after its
  call, or not at all.
* The same on a **read** (``get``, ``exists``, ``sync``, ``sync_get``): *failed*
  (:meth:`~zablib.linearizability.History.fail`). A read changes nothing, so a read whose
  answer never came is no evidence either way and is dropped.
* ``ValueError``/``TypeError`` (kazoo's argument checks) and ``ConnectionClosedError`` /
  ``ZookeeperStoppedError`` (the client is stopped): nothing was sent, failed.
* Any other exception: unknown for a write, failed for a read (a write that might have been
  sent must never be dropped: a dropped write that did happen would make a correct service
  look wrong).

The retries are the program's: the wrapper records one operation per call and re-raises, so a
program that retries after ``ConnectionLoss`` records one unknown operation and then the retry
(unlike ``client.retry``, which would hide the loss). Only what the model can state is
recorded: unconditional ``set``/``delete`` (``version=-1``) and plain ``create`` (no
``ephemeral``: a session's end deletes it; no ``sequence``: the path is not known in advance);
the others raise ``ValueError``. The keys' parents must exist: the model has no tree.

Why reads need ``sync_get``: a ZooKeeper server answers a read from its own copy of the tree,
which may lag behind the leader. A plain ``get`` may return a value older than a write that
another client saw completed, which is not linearizable (the checker finds it). ``sync`` makes
the client's server catch up with the leader first; a ``get`` after it sees every write that
completed before the sync was called. The pair is one read whose call is the sync's call.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

from zablib.linearizability import History, Operation
from zablib.recipes.base import errors_of

__all__ = ["RecordingClient", "forge_stale_read", "random_workload", "refusal"]

# The client's own exceptions that mean "the answer never came" (besides the handler's timeout).
_LOST = ("ConnectionLoss", "SessionExpiredError", "OperationTimeoutError")
# The client refused the call before sending it.
_NOT_SENT = ("ConnectionClosedError", "ZookeeperStoppedError")


class RecordingClient:
    """A kazoo-compatible client that records its reads and writes in a history.

    Parameters
    ----------
    client : KazooClient-like
        The client to wrap (simulated or real kazoo).
    history : ~zablib.linearizability.History
        Where the operations go. Several wrappers, one per client, share one history; give
        it a clock that all of them read (the default counter for greenlets on the simulator,
        ``time.monotonic`` for threads on a real ZooKeeper).
    process : Hashable
        The name of this client in the history; one operation at a time per process.

    Attributes
    ----------
    client : KazooClient-like
        The wrapped client.
    history : ~zablib.linearizability.History
        The shared history.
    process : Hashable
        This client's name in it.
    errors : module
        Where the client's exception classes live (:func:`~zablib.recipes.base.errors_of`).
    lost : tuple of exception classes
        The client's exceptions that mean "the answer never came".
    not_sent : tuple of exception classes
        The exceptions raised before anything was sent.
    recorded : int
        How many operations this wrapper added to the history (answered or unknown; a failed
        call is dropped and not counted).
    """

    def __init__(self, client: Any, history: History, process: Hashable) -> None:
        if not isinstance(history, History):
            raise TypeError(f"history must be a zablib.linearizability.History, "
                            f"got {type(history).__name__}")
        self.errors = errors_of(client)
        self.client = client
        self.history = history
        self.process = process
        self.recorded = 0
        lost = tuple(getattr(self.errors, name) for name in _LOST)
        timeout = getattr(getattr(client, "handler", None), "timeout_exception", None)
        self.lost = lost + ((timeout,) if isinstance(timeout, type) else ())
        self.not_sent = (ValueError, TypeError) + tuple(
            getattr(self.errors, name) for name in _NOT_SENT if hasattr(self.errors, name))

    def __getattr__(self, name: str) -> Any:
        # Only reached for names this class does not define: the client's own, unrecorded.
        if name == "client":  # not set yet: __init__ failed
            raise AttributeError(name)
        return getattr(self.client, name)

    def __repr__(self) -> str:
        return f"RecordingClient({self.client!r}, process={self.process!r})"

    # -- the recorded calls ----------------------------------------------------------------------
    def get(self, path: str, watch: Callable | None = None) -> Any:
        """``client.get``, recorded as ``("get", path)`` -> the data, or ``"NoNode"``."""
        return self._record(("get", path), lambda: self.client.get(path, watch),
                            lambda answer: answer[0], write=False)

    def exists(self, path: str, watch: Callable | None = None) -> Any:
        """``client.exists``, recorded as ``("exists", path)`` -> True or False."""
        return self._record(("exists", path), lambda: self.client.exists(path, watch),
                            lambda stat: stat is not None, write=False)

    def set(self, path: str, value: bytes, version: int = -1) -> Any:
        """``client.set``, recorded as ``("set", path, value)`` -> ``"ok"`` or ``"NoNode"``."""
        _unconditional("set", version)
        return self._record(("set", path, value), lambda: self.client.set(path, value),
                            _ok, write=True)

    def create(self, path: str, value: bytes = b"", acl: list | None = None,
               ephemeral: bool = False, sequence: bool = False, makepath: bool = False,
               include_data: bool = False) -> Any:
        """``client.create``, recorded as ``("create", path, value)`` -> ``"ok"`` or
        ``"NodeExists"`` (``"NoNode"`` if the parent is missing, which the model rejects)."""
        if ephemeral or sequence:
            raise ValueError("RecordingClient records plain creates only: the model knows no "
                             "session end (ephemeral) and no generated names (sequence)")
        return self._record(
            ("create", path, value),
            lambda: self.client.create(path, value, acl=acl, makepath=makepath,
                                       include_data=include_data),
            _ok, write=True)

    def delete(self, path: str, version: int = -1, recursive: bool = False) -> Any:
        """``client.delete``, recorded as ``("delete", path)`` -> ``"ok"`` or ``"NoNode"``."""
        _unconditional("delete", version)
        if recursive:
            raise ValueError("RecordingClient records single deletes only (recursive=False): "
                             "the model has no children")
        return self._record(("delete", path), lambda: self.client.delete(path), _ok, write=True)

    def sync(self, path: str) -> Any:
        """``client.sync``, recorded as ``("sync", path)`` -> ``"ok"`` (it changes nothing)."""
        return self._record(("sync", path), lambda: self.client.sync(path), _ok, write=False)

    def sync_get(self, path: str, watch: Callable | None = None) -> Any:
        """``client.sync(path)`` then ``client.get(path, watch)``: one read, recorded as
        ``("get", path)`` called when the sync was called and returning the get's answer."""
        def both() -> Any:
            self.client.sync(path)
            return self.client.get(path, watch)

        return self._record(("get", path), both, lambda answer: answer[0], write=False)

    # -- how an outcome is recorded --------------------------------------------------------------
    def _record(self, input: tuple, call: Callable[[], Any], output: Callable[[Any], Any], *,
                write: bool) -> Any:
        op = self.history.invoke(self.process, input)
        try:
            answer = call()
        except BaseException as error:
            kind = self.classify(error)
            if kind == "not sent" or (kind != "answer" and not write):
                self.history.fail(op, error)
            elif kind == "answer":
                self.history.ok(op, refusal(error))
                self.recorded += 1
            else:
                self.history.unknown(op)
                self.recorded += 1
            raise
        self.history.ok(op, output(answer))
        self.recorded += 1
        return answer

    def classify(self, error: BaseException) -> str:
        """What ``error`` from the client says about the call that raised it.

        Returns
        -------
        str
            ``"not sent"`` (an argument check, or a stopped or closed client),
            ``"lost"`` (the answer never came: ConnectionLoss, SessionExpiredError,
            OperationTimeoutError, the handler's timeout), ``"answer"`` (any other
            ZookeeperError: the server refused, and said so) or ``"other"``.
        """
        # Order matters: kazoo's ConnectionClosedError is a SessionExpiredError, and every
        # lost answer is a ZookeeperError too.
        if isinstance(error, self.not_sent):
            return "not sent"
        if isinstance(error, self.lost):
            return "lost"
        if isinstance(error, self.errors.ZookeeperError):
            return "answer"
        return "other"


def refusal(error: BaseException) -> str:
    """A server's refusal in the model's words: the exception's class name without ``Error``.

    >>> from zablib.coord.errors import NoNodeError
    >>> refusal(NoNodeError())
    'NoNode'
    """
    name = type(error).__name__
    return name[:-len("Error")] if name.endswith("Error") else name


def _ok(_answer: Any) -> str:
    return "ok"


def _unconditional(verb: str, version: int) -> None:
    if version != -1:
        raise ValueError(f"RecordingClient records unconditional {verb}s only (version=-1), "
                         f"got version={version!r}: the model has no versions")


#: The default mix of ``random_workload``: relative weights of each call.
MIX = {"get": 4, "set": 4, "create": 1, "delete": 1}


def random_workload(client: RecordingClient, keys: Sequence[str], operations: int, *,
                    seed: int = 0, read: str = "sync_get", mix: Mapping[str, float] | None = None,
                    think: float = 0.0, pause: float = 0.05) -> None:
    """A client program that records ``operations`` random calls on ``keys``.

    Blocking kazoo style, so it runs as a greenlet on the simulator (``ens.spawn``) and as a
    thread on a real ZooKeeper. Each written value is unique (``b"<process>:<n>"``), so a read
    names the write it saw (and the checker's search stays small). A call that raises is part of
    the history (an answer, an unknown outcome, or dropped: see the module docstring) and the
    program goes on, after ``pause`` seconds if the answer was lost.

    Parameters
    ----------
    client : RecordingClient
        Whose calls to make and record.
    keys : sequence of str
        The paths to use; their parents must exist.
    operations : int
        Stop once ``client.recorded`` has grown by this many operations.
    seed : int
        Seed of the program's own ``random.Random``.
    read : str
        ``"sync_get"`` (linearizable reads) or ``"get"`` (plain reads, possibly stale).
    mix : mapping of str to float, optional
        Relative weights of ``get``, ``set``, ``create``, ``delete`` (default ``MIX``).
    think : float
        Seconds to wait between two calls.
    pause : float
        Seconds to wait after a call whose answer was lost.
    """
    if read not in ("get", "sync_get"):
        raise ValueError(f"read must be 'get' or 'sync_get', got {read!r}")
    if not keys:
        raise ValueError("random_workload needs at least one key")
    weights = dict(MIX if mix is None else mix)
    unknown = set(weights) - set(MIX)
    if unknown:
        raise ValueError(f"unknown call(s) in mix: {sorted(unknown)}; use {', '.join(MIX)}")
    rng = random.Random(seed)
    verbs, chances = list(weights), list(weights.values())
    sleep = client.handler.sleep_func
    target = client.recorded + operations
    n = 0
    while client.recorded < target:
        n += 1
        verb = rng.choices(verbs, chances)[0]
        path = rng.choice(keys)
        value = f"{client.process}:{n}".encode()
        try:
            if verb == "get":
                getattr(client, read)(path)
            elif verb == "set":
                client.set(path, value)
            elif verb == "create":
                client.create(path, value)
            else:
                client.delete(path)
        except Exception as error:
            kind = client.classify(error)
            if kind == "lost":
                sleep(pause)
            elif kind != "answer":
                raise
        if think:
            sleep(think)


def forge_stale_read(ops: Sequence[Operation], after: float = 0.0) -> list[Operation]:
    """A copy of a recorded history with one read's answer made stale, to see the checker bite.

    The read chosen is the first ``get`` (in ``ops``' order, past the fraction ``after`` of the
    gets) that began after two writes of its key (``set`` or ``create`` answered ok) one after
    the other; its answer becomes the value of the last write that had been overwritten before
    the read began: what a server one write behind would have answered.

    Raises
    ------
    ValueError
        If no read of ``ops`` follows two such writes.
    """
    done = [op for op in ops if not op.unknown]
    reads = [op for op in done if op.input[0] == "get"]
    for read in reads[int(len(reads) * after):]:
        writes = sorted((op for op in done if op.input[0] in ("set", "create")
                         and op.output == "ok" and op.input[1] == read.input[1]
                         and op.return_ < read.call), key=lambda op: op.call)
        for new in reversed(writes):
            old = [op for op in writes if op.return_ < new.call]
            if old and old[-1].input[2] != read.output:
                value = old[-1].input[2]
                return [dataclasses.replace(op, output=value) if op is read else op for op in ops]
    raise ValueError("no read of the history follows two writes of its key one after the other")

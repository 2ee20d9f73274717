"""The trusted kernel's door to a student's code: proxies that call into the sandboxed worker.

The grader runs a trusted notebook (:func:`zablib.grade.plan.trusted_notebook`): the pristine
notebook whose first cell calls :func:`start` and whose ``solution`` cells are replaced by
``solution(k, globals())``. :func:`start` launches the notebook's worker
(:mod:`zablib.grade.worker`) in its sandbox (:mod:`zablib.grade.sandbox`, from the environment
variable :data:`~zablib.grade.sandbox.ENV`) and sends it the plan the grader wrote: the pristine
setup cells and the student's solution cells, in notebook order. :func:`solution` has the worker
run the cells up to the k-th solution cell and binds, in the trusted kernel, each name the
pristine stub of that cell defines: a function becomes a proxy that calls the student's function
in the worker, plain data is copied.

What crosses from the worker is plain data only: None, bool, int, float, str, and lists, tuples,
dicts, sets and frozensets of them, named tuples and dataclasses rebuilt only as types the tests
themselves passed in, at most :data:`~zablib.grade.worker.REPLY_LIMIT` bytes a reply; the
student's exceptions come back as their built-in ancestor (``ValueError``, ``KeyError`` ...) or
:class:`SolutionError`. Nothing the worker does can reach this process otherwise: no hook, patch
or trace function of the student's ever runs here.

Timeouts are nbval's: when it interrupts the trusted kernel during a call, the worker is
interrupted too; if it does not answer within :data:`INTERRUPT_GRACE` seconds it is killed, and
every later call fails (as a kernel killed after a timeout failed every later cell). Each call is
one round trip through a pipe (about 0.04 ms on a quiet machine, plus the arguments' size); the
exercises' cluster trials make up to ~11 000 of them.
"""

from __future__ import annotations

import atexit
import builtins
import dataclasses
import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from types import MappingProxyType
from typing import Any

from zablib.grade.sandbox import ENV, PIDS_FILE, Sandbox
from zablib.grade.worker import REPLY_LIMIT, FrameReader, ProtocolError, write_frame

__all__ = [
    "INTERRUPT_GRACE",
    "Session",
    "SolutionError",
    "TrustedCodec",
    "WorkerGone",
    "solution",
    "start",
]

#: seconds an interrupted worker has to answer before it is killed
INTERRUPT_GRACE = 2.0
#: tuples and records numbered for ``ref`` (past this many, new ones are sent in full)
INTERN_LIMIT = 200_000
#: the student's exceptions that come back as themselves (their built-in ancestor)
PASSED_ON = frozenset({
    "ArithmeticError", "AssertionError", "AttributeError", "Exception", "IndexError", "KeyError",
    "LookupError", "MemoryError", "NameError", "NotImplementedError", "OverflowError",
    "RecursionError", "RuntimeError", "TypeError", "UnboundLocalError", "ValueError",
    "ZeroDivisionError",
})  # fmt: skip


class SolutionError(Exception):
    """The student's code failed in a way that is not one of the exceptions in ``PASSED_ON``."""


class WorkerGone(SolutionError):
    """The worker is gone (it exited, crashed, hit a limit, or was killed after a timeout)."""


_SCALARS = frozenset({type(None), bool, int, float, str})


class TrustedCodec:
    """The trusted half of the value format (see :mod:`zablib.grade.worker`).

    Tuples and records the tests pass are numbered the first time (``"r"``) and sent as
    ``{"ref": n}`` afterwards, both ways: a Raft log passed 11 000 times, and handed back, costs
    its new entries only. A ``ref`` from the worker names an object this side sent, so it is
    the tests' own object that comes back.
    """

    def __init__(self) -> None:
        self.types: dict[tuple[str, str], type] = {}  # record types the tests passed in
        self.init_fields: dict[type, list[str]] = {}
        self.refs: dict[int, int] = {}  # id(object sent) -> its number
        self.sent: list[Any] = []  # number -> object (kept alive, so that ids stay unique)

    def encode(self, value: Any) -> Any:
        kind = type(value)
        if value is None or kind is bool or kind is int or kind is float or kind is str:
            return value
        if kind is list:
            if _SCALARS.issuperset(map(type, value)):
                return value
            return [self.encode(v) for v in value]
        ref = self.refs.get(id(value))
        if ref is not None:
            return {"ref": ref}
        if kind is tuple:
            if _SCALARS.issuperset(map(type, value)):  # Raft's terms, members: no walk needed
                return self._intern(value, {"t": list(value)})
            return self._intern(value, {"t": [self.encode(v) for v in value]})
        if kind is dict:
            return {"d": [[self.encode(k), self.encode(v)] for k, v in value.items()]}
        if kind is set or kind is frozenset:
            return {"s" if kind is set else "f": [self.encode(v) for v in value]}
        if kind is MappingProxyType:  # a read-only view (Raft's matchIndex) stays read-only
            return {"m": [[self.encode(k), self.encode(v)] for k, v in value.items()]}
        if isinstance(value, tuple) and isinstance(getattr(kind, "_fields", None), tuple):
            self.types[(kind.__module__, kind.__qualname__)] = kind
            encoded = {"n": [kind.__module__, kind.__qualname__], "v": [self.encode(v) for v in value]}
            return self._intern(value, encoded)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            self.types[(kind.__module__, kind.__qualname__)] = kind
            fields = [[f, self.encode(getattr(value, f))] for f in self._fields(kind)]
            return self._intern(value, {"c": [kind.__module__, kind.__qualname__], "v": fields})
        for base in (bool, int, float, str):  # enums and other subclasses travel as their base
            if isinstance(value, base):
                return base(value)
        raise TypeError(f"a {kind.__qualname__} cannot be passed to the sandboxed solution")

    def _fields(self, kind: type) -> list[str]:
        if kind not in self.init_fields:
            self.init_fields[kind] = [f.name for f in dataclasses.fields(kind) if f.init]
        return self.init_fields[kind]

    def _intern(self, value: Any, encoded: dict) -> dict:
        """Number a hashable (so, unchanging) tuple or record, for ``ref`` later."""
        if len(self.sent) < INTERN_LIMIT:
            try:
                hash(value)
            except TypeError:
                return encoded
            encoded["r"] = len(self.sent)
            self.refs[id(value)] = len(self.sent)
            self.sent.append(value)
        return encoded

    def _hook(self, obj: dict) -> Any:
        if len(obj) == 1:
            ((tag, items),) = obj.items()
            if tag == "ref" and type(items) is int and 0 <= items < len(self.sent):
                return self.sent[items]
            if type(items) is list:
                if tag == "t":
                    return tuple(items)
                if tag == "s":
                    return set(items)
                if tag == "f":
                    return frozenset(items)
                if tag == "d" and all(type(p) is list and len(p) == 2 for p in items):
                    return {k: v for k, v in items}
        elif len(obj) == 2 and type(obj.get("v")) is list:
            tag = "n" if "n" in obj else "c"
            name = obj.get(tag)
            if type(name) is list and len(name) == 2 and all(type(n) is str for n in name):
                kind = self.types.get((name[0], name[1]))
                if tag == "n":
                    fields = getattr(kind, "_fields", None)
                    if kind is not None and isinstance(fields, tuple) and len(fields) == len(obj["v"]):
                        return kind._make(obj["v"])
                    return tuple(obj["v"])  # a named tuple of the student's own: a tuple
                pairs = obj["v"]
                if kind is not None and all(
                    type(p) is list and len(p) == 2 and type(p[0]) is str for p in pairs
                ):
                    if sorted(p[0] for p in pairs) == sorted(self._fields(kind)):
                        return kind(**{p[0]: p[1] for p in pairs})
                raise ValueError(f"a {'.'.join(name)} the tests never passed in")
        raise ValueError(f"not plain data: an object with keys {sorted(obj)[:5]}")

    def decode(self, payload: bytes) -> Any:
        """Plain data from a reply's bytes; ValueError if it is anything else."""
        try:
            return json.loads(payload.decode("ascii"), object_hook=self._hook)
        except (ValueError, TypeError, RecursionError) as exc:
            raise ValueError(f"the answer is not plain data ({exc})") from None


def _exception(error: Any) -> BaseException:
    """The exception to raise here for a worker's ``[type, message]``."""
    if not (type(error) is list and len(error) == 2 and all(type(e) is str for e in error)):
        return SolutionError("the sandboxed solution failed, and said nothing readable about it")
    name, message = error
    if name in PASSED_ON:
        return getattr(builtins, name)(message)
    return SolutionError(f"{name}: {message}" if message else name)


class Session:
    """One worker, from start to kill: the plan's cells run in it and calls go to it.

    Parameters
    ----------
    sandbox : ~zablib.grade.sandbox.Sandbox
        How to start the worker.
    plan : dict
        What :func:`zablib.grade.plan.trusted_notebook` planned: ``cells`` (each a dict
        with ``source`` and, for solution cells, ``names``), ``solutions`` (the index in
        ``cells`` of each solution cell), ``helpers`` (files to show the worker) and
        ``number`` (the notebook's number in the run).
    notes : Path, optional
        Where to note the worker's process ids for the grader
        (:data:`~zablib.grade.sandbox.PIDS_FILE`); default the working folder.
    """

    def __init__(self, sandbox: Sandbox, plan: dict, notes: Path | None = None) -> None:
        self.sandbox = sandbox
        self.plan = plan
        self.notes = Path.cwd() if notes is None else notes
        self.codec = TrustedCodec()
        self.proc: subprocess.Popen | None = None
        self.reader: FrameReader | None = None  # the worker's answers
        self.child: int | None = None  # the worker's process id (bwrap's child)
        self.status_fd: int | None = None  # bwrap's status pipe, kept open until the end
        self.folder: str | None = None
        self.sent = 0  # plan cells sent so far
        self.next_id = 0
        self.pending: list[int] = []  # ids of cell requests whose replies are unread
        self.gone: str | None = None  # why the worker is gone

    # -- the process ---------------------------------------------------------------------------

    def launch(self) -> None:
        """Start the worker."""
        helpers = [str(Path(h).resolve()) for h in self.plan.get("helpers", [])]
        number = int(self.plan.get("number", 0))
        if self.sandbox.kind == "none":
            self.folder = tempfile.mkdtemp(prefix="zablib-worker-")
            for helper in helpers:
                shutil.copy2(helper, self.folder)
            home, status = self.folder, None
        else:
            home, status = "/tmp", os.pipe()
        try:
            self.proc = subprocess.Popen(
                self.sandbox.command(helpers, None if status is None else status[1]),
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                env=self.sandbox.worker_env(number, home), cwd=self.folder,
                pass_fds=() if status is None else (status[1],), start_new_session=True,
            )  # fmt: skip
        finally:
            if status is not None:
                os.close(status[1])
        assert self.proc.stdout is not None
        self.reader = FrameReader(self.proc.stdout.fileno())
        if status is None:
            self.child = self.proc.pid
        else:
            self.status_fd = status[0]
            self.child = self._child_pid(status[0])
        atexit.register(self.close)
        pids = [p for p in (self.proc.pid, self.child) if p is not None]
        (self.notes / PIDS_FILE).write_text(json.dumps(pids), encoding="ascii")

    def _child_pid(self, fd: int) -> int | None:
        """bwrap's first status line names the worker's process id; None if it never comes."""
        data = b""
        deadline = time.monotonic() + 30
        while b"}" not in data and time.monotonic() < deadline:
            if not select.select([fd], [], [], max(deadline - time.monotonic(), 0))[0]:
                break
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            data += chunk
        try:
            pid = json.loads(data[: data.index(b"}") + 1])["child-pid"]
        except (ValueError, KeyError, TypeError):
            return None
        return pid if type(pid) is int and pid > 0 else None

    def close(self) -> None:
        """Kill the worker and everything it started; remove its folder (idempotent)."""
        if self.proc is not None:
            for pid in (self.child, self.proc.pid):
                try:
                    if pid == self.proc.pid:
                        os.killpg(pid, signal.SIGKILL)
                    elif pid is not None:
                        os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
            for pipe in (self.proc.stdin, self.proc.stdout):
                try:
                    pipe.close()  # type: ignore[union-attr]
                except OSError:
                    pass
        if self.status_fd is not None:
            os.close(self.status_fd)
            self.status_fd = None
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None
        if self.gone is None:
            self.gone = "the notebook is over"

    def _lost(self, why: str) -> WorkerGone:
        self.gone = why
        self.close()
        self.gone = why
        return WorkerGone(f"the sandboxed solution is gone: {why}")

    # -- requests ------------------------------------------------------------------------------

    def _send(self, header: str, body: bytes) -> int:
        """Send a request (``cell`` or ``call <name>``); its id."""
        if self.gone is not None:
            raise WorkerGone(f"the sandboxed solution is gone: {self.gone}")
        assert self.proc is not None and self.proc.stdin is not None
        self.next_id += 1
        op, _, rest = header.partition(" ")
        line = f"{op} {self.next_id} {rest}".strip().encode("ascii")
        try:
            write_frame(self.proc.stdin.fileno(), line + b"\n" + body)
        except OSError as exc:
            raise self._lost(f"it stopped reading ({exc.strerror})") from None
        return self.next_id

    def _reply(self, request_id: int) -> Any:
        """Read the reply to `request_id` (interrupting the worker if this kernel is)."""
        assert self.reader is not None
        try:
            payload = self.reader.read(REPLY_LIMIT)
        except KeyboardInterrupt:
            self._interrupt(request_id)
            raise
        except EOFError:
            raise self._lost(self._exit_reason()) from None
        except ProtocolError as exc:
            raise self._lost(f"it broke the protocol: {exc}") from None
        try:
            reply = self.codec.decode(payload)
        except ValueError as exc:  # the frame was whole, so the next one is still in step
            raise SolutionError(str(exc)) from None
        if type(reply) is not list or not reply or reply[0] != request_id:
            raise self._lost("it broke the protocol: an answer to a question not asked")
        return reply

    def _interrupt(self, request_id: int) -> None:
        """Interrupt the worker's current request; kill it unless it answers in time."""
        if self.child is not None:
            try:
                os.kill(self.child, signal.SIGINT)
            except (ProcessLookupError, PermissionError):
                pass
        try:
            assert self.reader is not None
            reply = self.codec.decode(self.reader.read(REPLY_LIMIT, time.monotonic() + INTERRUPT_GRACE))
            if type(reply) is list and reply and reply[0] == request_id:
                return
        except (TimeoutError, EOFError, ProtocolError, ValueError, KeyboardInterrupt):
            pass
        self._lost("it was interrupted and did not stop (killed)")

    def _exit_reason(self) -> str:
        assert self.proc is not None
        try:
            code = self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            return "it closed its pipe"
        if code < 0:
            return f"it was killed by signal {signal.Signals(-code).name}"
        return f"it exited (code {code}: a crash, os._exit, or a resource limit)"

    # -- what the trusted notebook calls ------------------------------------------------------

    def send_cells(self, upto: int) -> None:
        """Send the plan's cells up to index `upto` (inclusive) that were not sent yet."""
        cells = self.plan["cells"]
        while self.sent <= upto and self.sent < len(cells):
            cell = cells[self.sent]
            body = json.dumps({"source": cell["source"], "names": cell.get("names")}).encode("ascii")
            self.pending.append(self._send("cell", body))
            self.sent += 1

    def run_solution(self, k: int) -> tuple[list, list | None]:
        """Run the plan up to the `k`-th solution cell; its exports and error."""
        index = self.plan["solutions"][k]
        self.send_cells(index)
        reply: Any = None
        while self.pending:
            request_id = self.pending.pop(0)
            try:
                reply = self._reply(request_id)
            except SolutionError:
                if not self.pending:
                    raise
        if not (type(reply) is list and len(reply) == 3 and type(reply[2]) is list):
            raise self._lost("it broke the protocol: a cell's answer is malformed")
        return reply[2], reply[1]

    def call(self, name: str, args: tuple, kwargs: dict) -> Any:
        """Call the student's function `name` in the worker; its plain-data result.

        Raises
        ------
        Exception
            The student's exception, as its built-in ancestor or :class:`SolutionError`;
            :class:`WorkerGone` if the worker is (or goes) away.
        """
        encoded = json.dumps([self.codec.encode(list(args)), self.codec.encode(kwargs)])
        reply = self._reply(self._send(f"call {name}", encoded.encode("ascii")))
        if len(reply) != 3 or type(reply[1]) is not bool:
            raise self._lost("it broke the protocol: a call's answer is malformed")
        if reply[1]:
            return reply[2]
        raise _exception(reply[2])


def _proxy(session: Session, name: str) -> Any:
    def proxy(*args: Any, **kwargs: Any) -> Any:
        return session.call(name, args, kwargs)

    proxy.__name__ = proxy.__qualname__ = name
    proxy.__doc__ = f"The student's {name}, run in the sandbox; answers are plain data."
    return proxy


_session: Session | None = None


def start(plan_path: str) -> None:
    """Start this notebook's worker from the grader's plan (the trusted notebook's first cell).

    Parameters
    ----------
    plan_path : str
        The plan (JSON) the grader wrote next to the trusted notebook.
    """
    global _session
    if _session is not None:
        _session.close()
    plan = json.loads(Path(plan_path).read_text(encoding="ascii"))
    sandbox = Sandbox.from_json(os.environ[ENV])
    _session = Session(sandbox, plan, Path(plan_path).resolve().parent)
    _session.launch()
    first = plan["solutions"][0] if plan["solutions"] else len(plan["cells"])
    _session.send_cells(first - 1)  # the setup cells start while this kernel runs its own


def solution(k: int, namespace: dict) -> None:
    """Run the student's `k`-th solution cell in the worker and bind its names here.

    Each name the pristine stub of that cell defines is bound in `namespace`: a proxy if the
    student's value is callable, a copy if it is plain data; a name the student did not define
    is unbound.

    Parameters
    ----------
    k : int
        Which solution cell, counting from 0.
    namespace : dict
        The notebook's namespace (the trusted cell passes ``globals()``).

    Raises
    ------
    SolutionError
        If the student's cell raised (after binding what it defined), or its worker is gone.
    """
    if _session is None:
        raise SolutionError("the grader's sandbox was not started")
    names = _session.plan["cells"][_session.plan["solutions"][k]].get("names") or []
    for name in names:
        namespace.pop(name, None)
    exports, error = _session.run_solution(k)
    problems = []
    for item in exports:
        if not (type(item) is list and len(item) == 3 and item[0] in names):
            continue
        name, kind, value = item
        if kind == "fn":
            namespace[name] = _proxy(_session, name)
        elif kind == "value":
            namespace[name] = value
        elif kind == "opaque":
            problems.append(f"{name} is a {value}, which cannot leave the sandbox")
    if error is not None:
        raise _exception(error)
    if problems:
        raise SolutionError("; ".join(problems))

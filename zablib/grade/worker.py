"""The sandboxed side of grading: runs a student's solution cells and answers calls with plain data.

One worker per graded notebook, started by :mod:`zablib.grade.bridge` from the trusted kernel,
inside the sandbox of :mod:`zablib.grade.sandbox`, as::

    python -c "import runpy; runpy.run_path('<this file>', run_name='__zablib_grade_worker__')"

(by path, so that starting it does not import the grader's package). Before any student code runs
it limits itself (CPU time, memory, processes, file size), gives up root if it has it, and puts
``/dev/null`` on its standard streams; the two pipes it was started with become its protocol.
Then it runs, in a ``__main__`` namespace of its own (with IPython when a cell needs it), the
cells the trusted kernel sends (the pristine notebook's setup cells and the student's solution
cells, in notebook order) and calls the student's functions by name with the arguments the tests
pass.

Nothing this process says is trusted: once a student's cell has run, the student owns it (hooks,
patched modules, forged frames on the pipe are all possible here). The trusted side reads its
answers as plain data only (see :mod:`zablib.grade.bridge`), so whatever it says is at worst a
wrong answer.

Protocol
--------
Frames are a 4-byte big-endian length and that many bytes. A request is a header line, then
JSON: ``cell <id>\n{"source": str, "names": [str] | null}`` or ``call <id> <name>\n[args,
kwargs]`` (:class:`encoded <Codec>`). Replies are ASCII JSON arrays, never objects, so that the
only objects in a reply are the tags of encoded values:

* a cell: ``[id, error, exports]``: ``error`` null or ``[type, message]``; ``exports`` a list
  of ``[name, kind, value]`` for the names asked for, ``kind`` one of ``fn`` (callable),
  ``value`` (plain data, encoded), ``missing`` or ``opaque`` (``value``: its type's name);
* a call: ``[id, true, value]`` or ``[id, false, [type, message]]``.

Values are JSON with tags for what JSON lacks: ``{"t": [...]}`` a tuple, ``{"d": [[k, v],
...]}`` a dict (``{"m": ...}`` a read-only ``MappingProxyType``, from the tests only),
``{"s": [...]}`` / ``{"f": [...]}`` a set / frozenset, ``{"n": [module, qualname], "v": [...]}``
a named tuple and ``{"c": [module, qualname], "v": [[field, value], ...]}`` a dataclass
instance. This module has no import of its own beyond the standard library
(and IPython, once started).
"""

from __future__ import annotations

import builtins
import dataclasses
import importlib
import json
import os
import select
import sys
import time
import types
from types import MappingProxyType
from typing import Any

__all__ = [
    "CONFIG_ENV",
    "FRAME_HEADER",
    "REPLY_LIMIT",
    "REQUEST_LIMIT",
    "Codec",
    "ProtocolError",
    "main",
    "FrameReader",
    "write_frame",
]

#: environment variable holding the worker's JSON configuration (limits, user id)
CONFIG_ENV = "ZABLIB_GRADE_WORKER"
#: bytes of a frame's length prefix
FRAME_HEADER = 4
#: largest request the worker reads (the tests' arguments)
REQUEST_LIMIT = 256 * 2**20
#: largest reply the trusted side reads (a test's answers are small: 1 MB is plenty)
REPLY_LIMIT = 2**20
#: deepest value the worker sends back; deeper is not plain data a test needs
MAX_DEPTH = 64
#: characters of an error message sent back
MESSAGE_CAP = 2000


class ProtocolError(RuntimeError):
    """A frame that breaks the protocol: too long, cut short, or not what was expected."""


class FrameReader:
    """Frames from a pipe, read in large chunks (one system call per frame, usually).

    A frame cut short by an interrupt stays in the buffer and is finished by the next read.

    Parameters
    ----------
    fd : int
        The pipe's file descriptor (blocking).
    """

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buffer = bytearray()

    def _fill(self, n: int, deadline: float | None) -> None:
        while len(self.buffer) < n:
            if deadline is not None:
                wait = deadline - time.monotonic()
                if wait <= 0 or not select.select([self.fd], [], [], wait)[0]:
                    raise TimeoutError("no answer in time")
            chunk = os.read(self.fd, max(n - len(self.buffer), 1 << 16))
            if not chunk:
                raise EOFError("the other side closed the pipe")
            self.buffer += chunk

    def read(self, limit: int, deadline: float | None = None) -> bytes:
        """The next frame's payload.

        Parameters
        ----------
        limit : int
            Longest frame accepted, in bytes.
        deadline : float, optional
            ``time.monotonic()`` by which the whole frame must have come; default: wait.

        Returns
        -------
        bytes

        Raises
        ------
        EOFError
            If the pipe was closed before or inside the frame.
        ProtocolError
            If the frame announces more than `limit` bytes.
        TimeoutError
            If the deadline passed first.
        """
        self._fill(FRAME_HEADER, deadline)
        size = int.from_bytes(self.buffer[:FRAME_HEADER], "big")
        if size > limit:
            raise ProtocolError(f"a frame of {size} bytes (at most {limit} accepted)")
        self._fill(FRAME_HEADER + size, deadline)
        payload = bytes(self.buffer[FRAME_HEADER : FRAME_HEADER + size])
        del self.buffer[: FRAME_HEADER + size]
        return payload


def write_frame(fd: int, payload: bytes) -> None:
    """Write one frame (length prefix and payload) to a pipe.

    Parameters
    ----------
    fd : int
        The pipe's file descriptor (blocking).
    payload : bytes
        What to send.
    """
    data = len(payload).to_bytes(FRAME_HEADER, "big") + payload
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


# -- values -------------------------------------------------------------------------------------


def _error(exc: BaseException) -> list[str]:
    """``[type, message]`` of an exception: its first built-in ancestor's name, and its text."""
    name = "Exception"
    for klass in type(exc).__mro__:
        if getattr(klass, "__module__", None) == "builtins":
            name = klass.__name__
            break
    try:
        message = str(exc)
    except Exception:  # a student's exception whose __str__ fails
        message = ""
    return [name, message[:MESSAGE_CAP]]


class Codec:
    """The worker's half of the value format: the tests' arguments in, the student's values out.

    Tuples and records the trusted side numbered (``"r"``) are kept, so that ``{"ref": n}``
    means them in later requests, and so that handing one back costs a ``ref``.

    Parameters
    ----------
    resolve : callable
        ``resolve(module, qualname)``: the class of a named tuple or dataclass.
    """

    def __init__(self, resolve: Any) -> None:
        self.resolve = resolve
        self.received: dict[int, Any] = {}  # number -> object
        self.numbers: dict[int, int] = {}  # id(object received) -> number
        self.fields: dict[type, list[str]] = {}

    def _hook(self, obj: dict) -> Any:
        if "ref" in obj:
            return self.received[obj["ref"]]
        if "t" in obj:
            value: Any = tuple(obj["t"])
        elif "d" in obj:
            return {k: v for k, v in obj["d"]}
        elif "m" in obj:
            return MappingProxyType({k: v for k, v in obj["m"]})
        elif "s" in obj:
            return set(obj["s"])
        elif "f" in obj:
            return frozenset(obj["f"])
        elif "n" in obj:
            value = self.resolve(*obj["n"])._make(obj["v"])
        elif "c" in obj:
            value = self.resolve(*obj["c"])(**dict(obj["v"]))
        else:
            raise ProtocolError(f"unknown tag in {sorted(obj)}")
        if "r" in obj:
            self.received[obj["r"]] = value
            self.numbers[id(value)] = obj["r"]
        return value

    def decode(self, text: str | bytes) -> Any:
        """Rebuild the tests' arguments from their encoding.

        Parameters
        ----------
        text : str or bytes
            JSON with the module docstring's tags.

        Returns
        -------
        object
        """
        return json.loads(text, object_hook=self._hook)

    def encode(self, value: Any, depth: int = 0) -> Any:
        """What a student's value becomes on the wire.

        Parameters
        ----------
        value : object
            A student's function's return value, or a name a solution cell bound.
        depth : int, optional
            How deep in a value this is.

        Returns
        -------
        object
            JSON-ready data with the module docstring's tags.

        Raises
        ------
        TypeError
            If `value` holds anything but plain data.
        """
        if depth > MAX_DEPTH:
            raise TypeError(f"a value nested more than {MAX_DEPTH} deep")
        kind = type(value)
        if value is None or kind is bool or kind is int or kind is float or kind is str:
            return value
        if kind is list:
            return [self.encode(v, depth + 1) for v in value]
        number = self.numbers.get(id(value))
        if number is not None and self.received[number] is value:
            return {"ref": number}
        if kind is tuple:
            return {"t": [self.encode(v, depth + 1) for v in value]}
        if isinstance(value, tuple) and isinstance(getattr(kind, "_fields", None), tuple):
            items = [self.encode(v, depth + 1) for v in value]
            return {"n": [kind.__module__, kind.__qualname__], "v": items}
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            if kind not in self.fields:
                self.fields[kind] = [f.name for f in dataclasses.fields(value) if f.init]
            items = [[f, self.encode(getattr(value, f), depth + 1)] for f in self.fields[kind]]
            return {"c": [kind.__module__, kind.__qualname__], "v": items}
        if isinstance(value, dict | MappingProxyType):
            pairs = [[self.encode(k, depth + 1), self.encode(v, depth + 1)] for k, v in value.items()]
            return {"d": pairs}
        if isinstance(value, frozenset | set):
            tag = "f" if isinstance(value, frozenset) else "s"
            return {tag: [self.encode(v, depth + 1) for v in value]}
        for base in (bool, int, float, str, list, tuple):  # subclasses travel as their base
            if isinstance(value, base):
                return self.encode(base(value), depth + 1)
        if kind.__module__ == "numpy" and hasattr(value, "item"):
            return self.encode(value.item(), depth + 1)
        raise TypeError(
            f"a {kind.__qualname__} cannot leave the sandbox: only None, bool, int, float, str and "
            "lists, tuples, dicts and sets of them (named tuples and dataclasses included)"
        )


# -- the worker ---------------------------------------------------------------------------------


def _limit(config: dict) -> None:
    """Apply the resource limits, then give up root (before any student code runs)."""
    import resource

    names = {"cpu": "RLIMIT_CPU", "memory": "RLIMIT_AS", "processes": "RLIMIT_NPROC",
             "file_size": "RLIMIT_FSIZE", "open_files": "RLIMIT_NOFILE", "core": "RLIMIT_CORE"}  # fmt: skip
    for key, name in names.items():
        value = config.get("limits", {}).get(key)
        if value is None or not hasattr(resource, name):
            continue
        if key == "processes" and os.getuid() != 0:
            continue  # it would count all of the grader's own processes: only with a uid of our own
        limit = getattr(resource, name)
        hard = resource.getrlimit(limit)[1]
        value = int(value) if hard == resource.RLIM_INFINITY else min(int(value), hard)
        resource.setrlimit(limit, (value, value))
    uid = config.get("uid")
    if uid is not None and os.getuid() == 0:
        os.setgroups([])
        os.setgid(int(uid))
        os.setuid(int(uid))


class _Worker:
    """The notebook's namespace (a ``__main__`` module) and the cells and calls run in it.

    A cell that is plain Python is compiled and run as it is; IPython, which takes a third of a
    second to start, is started only for a cell that needs it (a magic, ``!ls``, top-level
    ``await``: it runs that cell in the same namespace) or when the student's code calls
    ``get_ipython()``.
    """

    def __init__(self) -> None:
        self.module = types.ModuleType("__main__")
        self.module.__dict__["__builtins__"] = builtins
        self.module.__dict__["get_ipython"] = self.ipython
        self.module.__dict__["display"] = _display
        sys.modules["__main__"] = self.module
        self.ns = self.module.__dict__
        self.types: dict[tuple[str, str], Any] = {}
        self.codec = Codec(self.resolve)
        self.shell: Any = None

    def ipython(self) -> Any:
        """The IPython shell of this namespace, started on first use."""
        if self.shell is None:
            from IPython.core.interactiveshell import InteractiveShell
            from traitlets.config import Config

            config = Config()
            config.HistoryManager.enabled = False
            config.InteractiveShell.colors = "NoColor"
            config.InteractiveShell.autocall = 0
            self.shell = InteractiveShell.instance(config=config, user_module=self.module)
        return self.shell

    def resolve(self, module: str, qualname: str) -> Any:
        key = (module, qualname)
        if key not in self.types:
            obj: Any = self.module if module == "__main__" else importlib.import_module(module)
            for part in qualname.split("."):
                obj = getattr(obj, part)
            self.types[key] = obj
        return self.types[key]

    def run(self, source: str) -> BaseException | None:
        """Run a cell; the exception it ended with, if any."""
        try:
            code = compile(source, "<cell>", "exec")
        except SyntaxError:
            code = None  # IPython syntax, or a real syntax error: IPython tells which
        except (ValueError, OverflowError) as exc:  # null bytes, lone surrogates...
            return exc
        if code is None:
            try:
                result = self.ipython().run_cell(source, store_history=True)
                return result.error_before_exec or result.error_in_exec
            except BaseException as exc:  # a shell the student took apart
                return exc
        try:
            exec(code, self.ns)
        except BaseException as exc:  # the student's exception (or exit) is the cell's result
            return exc
        return None

    def cell(self, request: dict) -> list:
        request.update(json.loads(request["body"]))
        failure = self.run(request["source"])
        exports = []
        for name in request.get("names") or ():
            value = self.ns.get(name, _MISSING)
            if value is _MISSING:
                exports.append([name, "missing", None])
            elif callable(value):
                exports.append([name, "fn", None])
            else:
                try:
                    exports.append([name, "value", self.codec.encode(value)])
                except Exception:
                    exports.append([name, "opaque", type(value).__qualname__])
        return [request["id"], None if failure is None else _error(failure), exports]

    def call(self, request: dict) -> list:
        try:
            function = self.ns[request["name"]]
        except KeyError:
            return [request["id"], False, ["NameError", f"name {request['name']!r} is not defined"]]
        try:
            args, kwargs = self.codec.decode(request["body"])
            value = self.codec.encode(function(*args, **dict(kwargs)))
        except BaseException as exc:  # the student's exception (or exit) is the answer
            return [request["id"], False, _error(exc)]
        return [request["id"], True, value]


def _display(*objs: Any, **kwargs: Any) -> None:
    """``display()`` outside IPython: outputs go nowhere in the sandbox anyway."""


_MISSING = object()


def main() -> None:
    """Run the worker: limit this process, then answer requests until the pipe closes."""
    config = json.loads(os.environ.pop(CONFIG_ENV, "{}"))
    requests, replies = FrameReader(os.dup(0)), os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    _limit(config)
    worker = _Worker()
    while True:
        try:
            header, _, body = requests.read(REQUEST_LIMIT).partition(b"\n")
            op, number, *name = header.decode("ascii").split()
            request = {"op": op, "id": int(number), "name": name[0] if name else "", "body": body}
        except KeyboardInterrupt:  # an interrupt that came late, between two requests
            continue
        except (EOFError, ProtocolError, ValueError):
            os._exit(0)
        cell = op == "cell"
        try:
            reply = worker.cell(request) if cell else worker.call(request)
        except BaseException as exc:  # the worker itself, taken apart by the student's code
            reply = [request["id"], _error(exc), []] if cell else [request["id"], False, _error(exc)]
        try:
            payload = json.dumps(reply).encode("ascii")
        except BaseException:  # e.g. an integer too long to print, or a patched json module
            failed = b'["Exception", "the answer could not be written"]'
            shape = b"[%d, %s, []]" if cell else b"[%d, false, %s]"
            payload = shape % (request["id"], failed)
        if len(payload) > REPLY_LIMIT:
            too_long = ValueError(f"an answer of {len(payload)} bytes (at most {REPLY_LIMIT})")
            payload = json.dumps([reply[0], False, _error(too_long)]).encode("ascii")
        try:
            write_frame(replies, payload)
        except OSError:
            os._exit(0)
        except KeyboardInterrupt:
            os._exit(1)  # half a frame was written: the trusted side will see it and give up


if __name__ == "__zablib_grade_worker__":
    sys.argv = ["zablib-grade-worker"]
    main()

"""Two repairs to nbval 0.11's kernel handling, installed in the grading subprocess only.

* ``RunningKernel.await_reply`` notices a dead kernel within 0.25 s (nbval 0.11 waits the whole
  cell timeout and 5 s more) and keeps the content of the kernel's ``execute_reply``, so that the
  plugin can check the kernel's own status of a cell.
* ``IPyNbFile.get_kernel_message`` stops reading a cell's output at its deadline (nbval 0.11
  reads until the kernel goes idle: forever if a cell that ignores interrupts keeps printing) and
  keeps at most :data:`OUTPUT_CAP` characters of printed text per cell.

The grader pins nbval to 0.11 (the ``grade`` extra) because these replace nbval methods.
pytest runs one item at a time in a process, so the state of "the cell now running" is one
:class:`CellWatch` per process, driven by :func:`start_cell` and :func:`end_cell`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from queue import Empty
from typing import Any

__all__ = [
    "OUTPUT_CAP",
    "CellWatch",
    "KernelDiedError",
    "end_cell",
    "install",
    "last_reply",
    "start_cell",
    "user_expression",
]

#: characters of printed output kept per cell (the rest is dropped, not compared)
OUTPUT_CAP = 8_000_000
#: seconds between two looks at whether the kernel is still alive
POLL = 0.25


class KernelDiedError(RuntimeError):
    """The notebook's kernel process is gone (os._exit, a crash, the OOM killer)."""


@dataclass
class CellWatch:
    """What the patched nbval knows about the cell now running.

    Attributes
    ----------
    deadline : float or None
        ``time.monotonic()`` after which no more output is read; None between cells.
    output : int
        Characters of printed output seen so far.
    reply : dict or None
        Content of the kernel's last ``execute_reply``.
    """

    deadline: float | None = None
    output: int = 0
    reply: dict | None = None


_watch = CellWatch()
_installed = False


def start_cell(deadline: float) -> None:
    """Begin watching a cell: forget the last reply and output, read output until `deadline`.

    Parameters
    ----------
    deadline : float
        ``time.monotonic()`` value after which the cell's output is no longer read.
    """
    _watch.deadline = deadline
    _watch.output = 0
    _watch.reply = None


def end_cell() -> None:
    """Stop the deadline of the cell that just ran (messages between cells are read as usual)."""
    _watch.deadline = None


def last_reply() -> dict:
    """The content of the kernel's last ``execute_reply`` in this cell, or ``{}`` if none."""
    return _watch.reply or {}


def user_expression(kernel: Any, expression: str, timeout: float) -> str | None:
    """Evaluate an expression in the kernel without running a cell, as its ``repr``.

    Parameters
    ----------
    kernel : nbval's RunningKernel
        The notebook's kernel (after :func:`install`).
    expression : str
        A Python expression.
    timeout : float
        Seconds to wait for the answer.

    Returns
    -------
    str or None
        The ``text/plain`` repr of the value, or None if the kernel did not answer in time or
        the expression raised.
    """
    msg_id = kernel.kc.execute(
        "", silent=True, store_history=False, user_expressions={"v": expression},
        allow_stdin=False, stop_on_error=False,
    )  # fmt: skip
    try:
        kernel.await_reply(msg_id, timeout=timeout)
    except Empty:
        return None
    value = last_reply().get("user_expressions", {}).get("v", {})
    return value.get("data", {}).get("text/plain") if value.get("status") == "ok" else None


def _await_reply(self: Any, msg_id: str, timeout: float | None = None) -> None:
    # as nbval's, but notices a dead kernel at once and keeps the reply's content
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        left = POLL if deadline is None else min(POLL, deadline - time.monotonic())
        try:
            msg = self.get_message(stream="shell", timeout=max(left, 0))
        except Empty:
            if not self.is_alive():
                try:
                    self.stop()
                except Exception:  # it is dead already
                    pass
                raise KernelDiedError("the kernel died (os._exit, a crash or out of memory)") from None
            if deadline is not None and time.monotonic() >= deadline:
                raise
            continue
        if msg["parent_header"].get("msg_id") == msg_id:
            if msg["content"]["status"] == "aborted":
                raise RuntimeError("Kernel aborted execution request")
            _watch.reply = msg["content"]
            return


def install() -> None:
    """Replace the two nbval methods (once per process; later calls do nothing)."""
    global _installed
    if _installed:
        return
    from nbval.kernel import RunningKernel
    from nbval.plugin import IPyNbFile

    original_get = IPyNbFile.get_kernel_message

    def get_kernel_message(self: Any, timeout: float | None = None, stream: str = "iopub") -> Any:
        if _watch.deadline is not None and time.monotonic() > _watch.deadline:
            raise Empty
        msg = original_get(self, timeout=timeout, stream=stream)
        if stream == "iopub" and msg.get("msg_type") == "stream":
            _watch.output += len(msg["content"].get("text", ""))
            if _watch.output > OUTPUT_CAP:
                msg["content"]["text"] = ""
        return msg

    RunningKernel.await_reply = _await_reply
    IPyNbFile.get_kernel_message = get_kernel_message
    _installed = True

"""Run trusted notebooks under pytest and nbval in subprocesses, and collect each cell's result.

A pytest process per batch of trusted notebooks (``pytest --nbval-lax`` with a per-cell timeout,
pytest-xdist for several workers, and the grader's plugin :mod:`zablib.grade.plugin`), in its own
session so that it can be killed with everything it spawned. Each notebook's kernel starts the
notebook's sandboxed worker (:mod:`zablib.grade.bridge`), described to it by the environment
variable :data:`~zablib.grade.sandbox.ENV`. The plugin writes one JSON line per cell to a pipe
that only the pytest process holds (no file a student process could reach); this module reads
it, validates each record, kills a run that stalls, and re-runs the notebooks a dead run did not
finish.

A notebook is a :class:`NotebookRun`: a path relative to the work folder, the number of its code
cells, and the records collected so far. The runner knows nothing about students, exercises or
points; :mod:`zablib.grade.grader` maps records back to test cells with :func:`cell_status`.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import pytest

from zablib.grade.sandbox import ENV, Sandbox, kill_leftovers

__all__ = ["PLUGIN", "STALL_GRACE", "NotebookRun", "Progress", "Runner", "cell_status", "valid_record"]

#: seconds without any new cell result after which a pytest run is considered stuck
STALL_GRACE = 120.0
#: characters of a cell record's message kept
MESSAGE_CAP = 4000
#: the pytest plugin loaded into every grading run (``-p``)
PLUGIN = "zablib.grade.plugin"


class Progress(Protocol):
    """What the runner needs of a progress bar (a ``tqdm`` bar fits)."""

    def update(self, n: int = 1) -> object:
        """Count `n` more notebooks as done."""


@dataclass
class NotebookRun:
    """One spliced notebook to run, and the results of its cells so far.

    Attributes
    ----------
    path : str
        The notebook, relative to the work folder (nbval's item ids start with it).
    code_cells : int
        How many code cells it has: it is finished when each has a record.
    label : str
        How messages name it, e.g. ``alice/01_replication.ipynb``.
    records : dict of int to dict
        Code cell index -> the plugin's JSON record of that cell (outcome, message).
    counted : bool
        Whether the progress bar has counted it.
    """

    path: str
    code_cells: int
    label: str
    records: dict[int, dict] = field(default_factory=dict)
    counted: bool = False

    def complete(self) -> bool:
        """Whether every code cell has a result."""
        return len(self.records) >= self.code_cells

    def status(self, code_index: int) -> str:
        """The gradebook status of one code cell; see :func:`cell_status`."""
        return cell_status(self.records.get(code_index))


def cell_status(record: dict | None) -> str:
    """Turn the plugin's record of a cell into a gradebook status.

    Parameters
    ----------
    record : dict or None
        A JSON line of the results file, or None if the cell never got one.

    Returns
    -------
    str
        ``passed`` (including a cell that passes after an earlier timeout), ``timeout``,
        ``failed``, or ``error`` when the machinery failed: no record, the kernel did not start,
        or the xdist worker crashed.
    """
    if record is None:
        return "error"
    message = record.get("message", "")
    if record["when"] == "setup":
        return "error"  # the kernel did not start: not the student's doing
    if "crashed while running" in message:
        return "error"
    if record["outcome"] == "passed":
        return "passed"
    if record.get("timeout") or "Timeout of" in message:
        return "timeout"
    return "failed"


class Runner:
    """Runs batches of trusted notebooks under pytest and collects per-cell records.

    Parameters
    ----------
    workdir : Path
        The work folder holding the notebooks; pytest runs there, with a log ``runNNNN.log``
        per run written next to them.
    workers : int
        Notebooks run in parallel (pytest-xdist ``--dist loadscope``).
    timeout : float
        Seconds each cell may run.
    progress : Progress
        Told each time a notebook is finished.
    sandbox : ~zablib.grade.sandbox.Sandbox
        Where the notebooks' workers run.
    """

    def __init__(
        self, workdir: Path, workers: int, timeout: float, progress: Progress, sandbox: Sandbox
    ) -> None:
        self.workdir = workdir
        self.workers = workers
        self.timeout = timeout
        self.progress = progress
        self.sandbox = sandbox
        self.runs = 0
        (workdir / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")

    def run(self, notebooks: list[NotebookRun], batch_size: int) -> None:
        """Run notebooks in batches, filling in their records.

        Parameters
        ----------
        notebooks : list of ~zablib.grade.runner.NotebookRun
            What to run, in order.
        batch_size : int
            Notebooks per pytest run. A run that dies or stalls is killed and its unfinished
            notebooks are run again (alone where that tells who brought it down); cells that
            never get a result keep no record (status ``error``).
        """
        for start in range(0, len(notebooks), batch_size):
            self._run_robustly(notebooks[start : start + batch_size])
        self.progress.update(sum(not n.counted for n in notebooks))  # those left with 'error' cells

    def _run_robustly(self, batch: list[NotebookRun]) -> None:
        """Run a batch; if the run dies or stalls, grade everyone it did not finish."""
        self._pytest(batch)
        unfinished = [n for n in batch if not n.complete()]
        if not unfinished or len(batch) == 1:
            return  # a notebook run alone keeps 'error' on the cells it did not finish
        print(
            f"zablib.grade: a pytest run died before finishing {_names(unfinished)}; "
            "grading those again",
            file=sys.stderr,
        )
        partial = [n for n in unfinished if n.records]
        untouched = [n for n in unfinished if not n.records]
        if min(self.workers, len(batch)) == 1:
            # one notebook at a time, in order: the one in progress brought the run down
            culprit = partial[:1] or untouched[:1]
            rest = [n for n in untouched if n not in culprit]
            if rest:
                self._run_robustly(rest)
            return
        for notebook in partial:  # several were in progress: find out which, one per run
            notebook.records.clear()
            self._pytest([notebook])
        if len(untouched) < len(batch):
            self._run_robustly(untouched)
        else:
            for notebook in untouched:
                self._pytest([notebook])

    def command(self, batch: list[NotebookRun], results_fd: int) -> list[str]:
        """The pytest command line that runs a batch and writes its cell records to a pipe.

        Parameters
        ----------
        batch : list of ~zablib.grade.runner.NotebookRun
            The notebooks, named relative to the work folder (pytest's working directory).
        results_fd : int
            The pipe's writing end, inherited by pytest.

        Returns
        -------
        list of str
        """
        workers = min(self.workers, len(batch))
        cmd = [
            sys.executable, "-m", "pytest", "-c", "pytest.ini", "--rootdir", ".",
            "-p", "no:cacheprovider", "-p", "nbval.plugin", "-p", PLUGIN,
            "--color=no", "-q", "--tb=short",
            "--nbval-lax", "--nbval-current-env", "--nbval-cell-timeout", str(self.timeout),
            "--zablib-grade-results-fd", str(results_fd),
        ]  # fmt: skip
        if workers > 1:
            cmd += ["-p", "xdist.plugin", "-n", str(workers), "--dist", "loadscope"]
        return cmd + [n.path for n in batch]

    def environment(self) -> dict[str, str]:
        """The environment of a pytest run: this one, minus what would change how cells run.

        Returns
        -------
        dict of str to str
            No pytest or coverage settings and no startup files of the instructor's; plugin
            autoloading off (a stray plugin could reorder or skip cells); this zablib first on
            ``PYTHONPATH``; the sandbox for the kernels' workers.
        """
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("PYTEST_", "COV_CORE_")) and k != "PYTHONSTARTUP"
        }
        env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
        root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        env["IPYTHONDIR"] = str(self.workdir / ".ipython")
        env[ENV] = self.sandbox.to_json()
        return env

    def _pytest(self, batch: list[NotebookRun]) -> None:
        self.runs += 1
        log = self.workdir / f"run{self.runs:04d}.log"
        by_path = {n.path: n for n in batch}
        reading, writing = os.pipe()
        try:
            with open(log, "wb") as out:
                proc = subprocess.Popen(
                    self.command(batch, writing), cwd=self.workdir, env=self.environment(),
                    stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                    start_new_session=True, pass_fds=(writing,),
                )  # fmt: skip
                os.close(writing)
                writing = -1
                try:
                    self._follow(proc, reading, by_path)
                finally:
                    _kill_group(proc)
        finally:
            os.close(reading)
            if writing >= 0:
                os.close(writing)
        for notebook in batch:  # the kernels' ends killed their workers; make sure of it
            kill_leftovers((self.workdir / notebook.path).parent)
        rc = proc.returncode
        if rc == pytest.ExitCode.USAGE_ERROR:
            tail = log.read_text(encoding="utf-8", errors="replace")[-3000:]
            raise RuntimeError(f"pytest could not run the notebooks (exit {rc}); log:\n{tail}")
        if rc == pytest.ExitCode.INTERNAL_ERROR and not any(n.records for n in batch):
            tail = log.read_text(encoding="utf-8", errors="replace")[-1500:]
            print(f"zablib.grade: pytest failed on {_names(batch)} (exit {rc}):\n{tail}", file=sys.stderr)
        for notebook in batch:
            self._count(notebook)

    def _follow(self, proc: subprocess.Popen, reading: int, by_path: dict[str, NotebookRun]) -> None:
        """Read records until pytest closes the pipe; give up on a run silent for too long."""
        buffer = b""
        last = time.monotonic()
        while True:
            if select.select([reading], [], [], 0.5)[0]:
                chunk = os.read(reading, 1 << 16)
                if not chunk:
                    break  # pytest is done (or dead)
                buffer += chunk
                lines = buffer.split(b"\n")
                buffer = lines.pop()
                for line in lines:
                    if self._record(line, by_path):
                        last = time.monotonic()
            elif time.monotonic() - last > self.timeout + STALL_GRACE:
                print(
                    f"zablib.grade: no result for {self.timeout + STALL_GRACE:.0f} s; "
                    f"killing the pytest run of {_names(list(by_path.values()))}",
                    file=sys.stderr,
                )
                return
            elif proc.poll() is not None and not select.select([reading], [], [], 0.5)[0]:
                return  # pytest is gone, and whatever it spawned holds the pipe open

    def _record(self, line: bytes, by_path: dict[str, NotebookRun]) -> bool:
        """File one JSON line of the plugin's; False (and nothing filed) if it is malformed."""
        rec = valid_record(line, by_path)
        if rec is None:
            return False
        notebook = by_path[rec["path"]]
        notebook.records[rec["index"]] = rec
        self._count(notebook)
        return True

    def _count(self, notebook: NotebookRun) -> None:
        if notebook.complete() and not notebook.counted:
            notebook.counted = True
            self.progress.update(1)


def valid_record(line: bytes, by_path: dict[str, NotebookRun]) -> dict | None:
    """A cell record of the plugin's, checked field by field.

    Parameters
    ----------
    line : bytes
        One JSON line.
    by_path : dict of str to NotebookRun
        The notebooks of the run.

    Returns
    -------
    dict or None
        ``path``, ``index`` (the cell's nbval number), ``when`` (``setup`` or ``call``),
        ``outcome`` (``passed``, ``failed`` or ``skipped``), ``timeout`` (whether nbval says the
        cell timed out) and ``message`` (a str, capped);
        None if the line is not such a record of a cell of one of these notebooks.
    """
    try:
        raw = json.loads(line)
        path, _, cell = raw["nodeid"].partition("::")
        index = int(cell.removeprefix("Cell "))
        when, outcome, message = raw["when"], raw["outcome"], raw.get("message", "")
        timeout = raw.get("timeout", False)
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    notebook = by_path.get(path)
    if notebook is None or not 0 <= index < notebook.code_cells or not cell.startswith("Cell "):
        return None
    if when not in ("setup", "call") or outcome not in ("passed", "failed", "skipped"):
        return None
    if not isinstance(message, str) or type(timeout) is not bool:
        return None
    return {
        "path": path, "index": index, "when": when, "outcome": outcome, "timeout": timeout,
        "message": message[-MESSAGE_CAP:],
    }  # fmt: skip


def _names(notebooks: list[NotebookRun]) -> str:
    return ", ".join(n.label for n in notebooks)


def _kill_group(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            if hasattr(os, "killpg"):
                os.killpg(proc.pid, signal.SIGKILL)
            else:  # pragma: no cover - Windows
                proc.kill()
        except ProcessLookupError:
            pass
    proc.wait()

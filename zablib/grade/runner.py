"""Run spliced notebooks under pytest and nbval in subprocesses, and collect each cell's result.

This is the one place where students' code starts: a pytest process per batch of notebooks
(``pytest --nbval-lax`` with a per-cell timeout, pytest-xdist for several workers, and the
grader's plugin :mod:`zablib.grade.plugin`), in its own session so that it can be killed with
everything it spawned. The plugin appends one JSON line per cell to a results file; this module
follows that file, kills a run that stalls, and re-runs the notebooks a dead run did not finish.

A notebook is a :class:`NotebookRun`: a path relative to the work folder, the number of its code
cells, and the records collected so far. The runner knows nothing about students, exercises or
points; :mod:`zablib.grade.grader` maps records back to test cells with :func:`cell_status`.

Where a sandbox plugs in (issue #12)
------------------------------------
Today the students' code runs with the grader's rights, in the kernels nbval starts from this
process's pytest run. A sandboxed grader (bubblewrap per notebook, a trusted kernel for the test
cells and an untrusted one for the solution cells) replaces :meth:`Runner.command` /
:meth:`Runner.environment` and the :class:`subprocess.Popen` call in one place here, and keeps the
contract: the results file of JSON lines and :class:`NotebookRun` records. Splicing, the
gradebook and the command line do not change.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import pytest

__all__ = ["PLUGIN", "STALL_GRACE", "NotebookRun", "Progress", "Runner", "cell_status"]

#: seconds without any new cell result after which a pytest run is considered stuck
STALL_GRACE = 120.0
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
    if "Timeout of" in message:
        return "timeout"
    return "failed"


class Runner:
    """Runs batches of spliced notebooks under pytest and collects per-cell records.

    Parameters
    ----------
    workdir : Path
        The work folder holding the notebooks; pytest runs there, with logs and results files
        ``runNNNN.log`` / ``runNNNN.jsonl`` written next to them.
    workers : int
        Notebooks run in parallel (pytest-xdist ``--dist loadscope``).
    timeout : float
        Seconds each cell may run.
    progress : Progress
        Told each time a notebook is finished.
    """

    def __init__(self, workdir: Path, workers: int, timeout: float, progress: Progress) -> None:
        self.workdir = workdir
        self.workers = workers
        self.timeout = timeout
        self.progress = progress
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

    def command(self, batch: list[NotebookRun], results: Path) -> list[str]:
        """The pytest command line that runs a batch and appends its cell records to `results`.

        Parameters
        ----------
        batch : list of ~zablib.grade.runner.NotebookRun
            The notebooks, named relative to the work folder (pytest's working directory).
        results : Path
            The JSON-lines file the plugin writes.

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
            "--zablib-grade-results", str(results),
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
            ``PYTHONPATH``.
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
        return env

    def _pytest(self, batch: list[NotebookRun]) -> None:
        self.runs += 1
        results = self.workdir / f"run{self.runs:04d}.jsonl"
        log = self.workdir / f"run{self.runs:04d}.log"
        results.touch()
        by_path = {n.path: n for n in batch}
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                self.command(batch, results), cwd=self.workdir, env=self.environment(),
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
            try:
                self._follow(proc, results, by_path)
            finally:
                _kill_group(proc)
        self._read(results, by_path, 0)
        rc = proc.returncode
        if rc == pytest.ExitCode.USAGE_ERROR or (
            rc == pytest.ExitCode.INTERNAL_ERROR and not any(n.records for n in batch)
        ):
            tail = log.read_text(encoding="utf-8", errors="replace")[-3000:]
            raise RuntimeError(f"pytest could not run the notebooks (exit {rc}); log:\n{tail}")
        for notebook in batch:
            self._count(notebook)

    def _follow(self, proc: subprocess.Popen, results: Path, by_path: dict[str, NotebookRun]) -> None:
        offset = 0
        last = time.monotonic()
        while proc.poll() is None:
            time.sleep(0.2)
            new_offset = self._read(results, by_path, offset)
            if new_offset != offset:
                offset, last = new_offset, time.monotonic()
            elif time.monotonic() - last > self.timeout + STALL_GRACE:
                print(
                    f"zablib.grade: no result for {self.timeout + STALL_GRACE:.0f} s; "
                    f"killing the pytest run of {_names(list(by_path.values()))}",
                    file=sys.stderr,
                )
                return

    def _read(self, results: Path, by_path: dict[str, NotebookRun], offset: int) -> int:
        with open(results, "rb") as f:
            f.seek(offset)
            data = f.read()
        end = data.rfind(b"\n") + 1
        for line in data[:end].splitlines():
            try:
                rec = json.loads(line)
                path, _, cell = rec["nodeid"].partition("::")
                notebook = by_path.get(path)
                index = int(cell.removeprefix("Cell "))
            except (ValueError, KeyError, AttributeError):
                continue
            if notebook is not None:
                notebook.records[index] = rec
                self._count(notebook)
        return offset + end

    def _count(self, notebook: NotebookRun) -> None:
        if notebook.complete() and not notebook.counted:
            notebook.counted = True
            self.progress.update(1)


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

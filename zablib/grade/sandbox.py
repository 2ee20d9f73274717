"""Where a student's code runs: a throw-away bubblewrap sandbox per graded notebook.

A :class:`Sandbox` says how to start the worker (:mod:`zablib.grade.worker`) of one notebook.
With bubblewrap (Debian's ``bubblewrap`` package, ``bwrap``) the worker gets:

* its own PID namespace, as its first process (it sees no other process, and everything it
  starts dies with it; bwrap's ``--die-with-parent`` ties it to the trusted kernel that started
  it), no network, its own IPC and host name;
* a root file system of its own: ``/usr`` and the Python installation, its libraries and zablib
  read-only, an empty private ``/tmp`` (size-limited) as work folder and home, and nothing else:
  no pristine notebooks, solutions, submissions, results or work folder of the grader;
* resource limits (CPU seconds, address space, processes, file size, open files) and, when the
  grader runs as root, a user id of its own instead of root (set by the worker itself before any
  student code runs).

Without bubblewrap (``Sandbox(kind="none")``, the command line's ``--no-sandbox``), the worker is
a plain process with the same limits, run with the grader's rights: the trusted kernel is still
out of the student's reach, but the file system and other processes are not. :func:`probe` tells
whether a sandbox can be made here, and why not.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from zablib.grade.worker import CONFIG_ENV

__all__ = [
    "ENV",
    "FIRST_UID",
    "PIDS_FILE",
    "Limits",
    "Sandbox",
    "SandboxUnavailable",
    "kill_leftovers",
    "probe",
    "python_paths",
]

#: environment variable through which the trusted kernel receives its :class:`Sandbox`
ENV = "ZABLIB_GRADE_SANDBOX"
#: the worker's own file, run by path inside the sandbox
WORKER = str(Path(__file__).resolve().with_name("worker.py"))
#: top-level folders of the host bound read-only (or re-created as the host's symlinks)
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
#: host files a Python program may need (dynamic linker cache, time zone, user names, fonts)
SYSTEM_FILES = ("/etc/ld.so.cache", "/etc/localtime", "/etc/passwd", "/etc/group",
                "/etc/nsswitch.conf", "/etc/fonts")  # fmt: skip
#: first user id given to workers when the grader is root; each notebook gets its own
FIRST_UID = 70000
#: where the trusted kernel notes its worker's process ids, next to the trusted notebook
PIDS_FILE = "sandbox-pids.json"


class SandboxUnavailable(RuntimeError):
    """No sandbox can be made on this machine (the message says why)."""


@dataclass(frozen=True)
class Limits:
    """Resource limits of a worker (``setrlimit``; None leaves a limit as it is).

    Attributes
    ----------
    cpu : int
        CPU seconds for the whole notebook.
    memory : int
        Bytes of address space.
    processes : int
        Processes and threads of the worker's user; applied only when the grader is root and
        each worker gets a user id of its own (otherwise it would count the grader's).
    file_size : int
        Bytes of the largest file it may write.
    open_files : int
        File descriptors.
    tmp_size : int
        Bytes of its private ``/tmp`` (bubblewrap only).
    """

    cpu: int | None = 600
    memory: int | None = 4 * 2**30
    processes: int | None = 32
    file_size: int | None = 64 * 2**20
    open_files: int | None = 256
    tmp_size: int = 256 * 2**20


def python_paths() -> list[str]:
    """The folders this Python and its libraries live in (bound read-only into the sandbox).

    Returns
    -------
    list of str
        ``sys.prefix``, ``sys.base_prefix``, ``sys.exec_prefix`` and the site-packages folders
        on ``sys.path``, resolved, plus the folder holding the ``zablib`` package; sorted,
        without duplicates. Other ``sys.path`` entries (the working folder, a project root
        holding exercises) are left out on purpose.
    """
    import site

    zablib_root = Path(__file__).resolve().parents[2]
    found = {sys.prefix, sys.base_prefix, sys.exec_prefix, *site.getsitepackages()}
    if site.ENABLE_USER_SITE and site.getusersitepackages():
        found.add(site.getusersitepackages())
    found.update(p for p in sys.path if p.rstrip("/").endswith(("site-packages", "dist-packages")))
    paths = {str(Path(p).resolve()) for p in found if p and Path(p).is_dir()}
    paths.add(str(zablib_root / "zablib"))
    return sorted(paths)


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


@dataclass(frozen=True)
class Sandbox:
    """How to start a worker, as the grader decided it; travels to the trusted kernel as JSON.

    Attributes
    ----------
    kind : str
        ``"bwrap"`` (bubblewrap) or ``"none"`` (a plain process: ``--no-sandbox``).
    bwrap : str
        The ``bwrap`` executable.
    python : str or None
        The interpreter the worker runs; ``None`` (the default) means ``sys.executable``, this
        one. :meth:`create` names it, so that the JSON a trusted kernel reads says which.
    binds : list of str
        Folders bound read-only at the same path (see :func:`python_paths`).
    secrets : list of str
        Folders the worker must not see (pristine, submissions, work folder, gradebook's
        folder); a bind that would contain one is dropped.
    pythonpath : str
        ``PYTHONPATH`` of the worker (the folder holding zablib).
    limits : Limits
    uid : bool
        Whether the worker gives up root for a user id of its own.
    """

    kind: str = "bwrap"
    bwrap: str = "bwrap"
    python: str | None = None
    binds: tuple[str, ...] = ()
    secrets: tuple[str, ...] = ()
    pythonpath: str = ""
    limits: Limits = field(default_factory=Limits)
    uid: bool = True

    @classmethod
    def create(cls, kind: str, secrets: list[str | os.PathLike], limits: Limits | None = None) -> Sandbox:
        """The sandbox of this machine's Python, hiding `secrets`.

        Parameters
        ----------
        kind : str
            ``"bwrap"`` or ``"none"``.
        secrets : list of path
            Folders and files the worker must not see.
        limits : Limits, optional

        Returns
        -------
        Sandbox
        """
        hidden = tuple(sorted({str(Path(s).resolve()) for s in secrets}))
        binds = tuple(p for p in python_paths() if not any(_within(s, p) for s in hidden))
        root = str(Path(__file__).resolve().parents[2])
        return cls(
            kind=kind, bwrap=shutil.which("bwrap") or "bwrap", python=sys.executable,
            binds=binds, secrets=hidden, pythonpath=root, limits=limits or Limits(),
            uid=os.geteuid() == 0,
        )  # fmt: skip

    def to_json(self) -> str:
        """This sandbox as JSON (for :data:`ENV`)."""
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Sandbox:
        """The sandbox :meth:`to_json` wrote."""
        data = json.loads(text)
        data["limits"] = Limits(**data["limits"])
        data["binds"], data["secrets"] = tuple(data["binds"]), tuple(data["secrets"])
        return cls(**data)

    def worker_env(self, number: int, home: str) -> dict[str, str]:
        """The worker's whole environment (nothing of the grader's is passed on).

        Parameters
        ----------
        number : int
            The notebook's number in this run (picks the worker's user id).
        home : str
            Its work folder and home.

        Returns
        -------
        dict of str to str
        """
        limits = dataclasses.asdict(self.limits)
        limits.pop("tmp_size")
        limits["core"] = 0
        config = {"limits": limits, "uid": FIRST_UID + number % 20000 if self.uid else None}
        if self.kind == "none":
            config["uid"] = None  # outside a sandbox the grader's files need the grader's rights
        return {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": home,
            "TMPDIR": home,
            "MPLBACKEND": "Agg",
            "MPLCONFIGDIR": f"{home}/.matplotlib",
            "IPYTHONDIR": f"{home}/.ipython",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONPATH": self.pythonpath,
            "LANG": "C.UTF-8",
            CONFIG_ENV: json.dumps(config),
        }

    def command(self, helpers: list[str], status_fd: int | None) -> list[str]:
        """The command that starts a worker.

        Parameters
        ----------
        helpers : list of str
            Files bound read-only into the worker's ``/tmp`` (the pristine folder's helpers).
        status_fd : int or None
            bubblewrap writes the worker's process id to this descriptor (``--json-status-fd``).

        Returns
        -------
        list of str
        """
        boot = f"import runpy; runpy.run_path({WORKER!r}, run_name='__zablib_grade_worker__')"
        run = [self.python or sys.executable, "-c", boot]
        if self.kind == "none":
            return run
        cmd = [
            # --as-pid-1: the worker is the namespace's first process, so that the trusted side can
            # interrupt it (bwrap's own pid 1 would not pass SIGINT on); when it ends, all end
            self.bwrap, "--die-with-parent", "--new-session", "--as-pid-1", "--unshare-pid", "--unshare-net",
            "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try", "--hostname", "sandbox",
        ]  # fmt: skip
        if os.geteuid() != 0:
            cmd.append("--unshare-user")
        for folder in SYSTEM_DIRS:
            if os.path.islink(folder):
                cmd += ["--symlink", os.readlink(folder), folder]
            elif os.path.isdir(folder):
                cmd += ["--ro-bind", folder, folder]
        for file in SYSTEM_FILES:
            cmd += ["--ro-bind-try", file, file]
        cmd += ["--proc", "/proc", "--dev", "/dev"]
        cmd += ["--size", str(self.limits.tmp_size), "--perms", "1777", "--tmpfs", "/tmp"]
        made = {"/", "/tmp", "/usr", "/proc", "/dev"}
        for path in self.binds:
            if any(_within(path, outer) for outer in ("/usr", *self.binds) if outer != path):
                continue  # bound already, with the folder holding it
            parents = list(Path(path).parents)[::-1][1:]
            for parent in map(str, parents):
                if parent not in made:
                    cmd += ["--perms", "0755", "--dir", parent]
                    made.add(parent)
            cmd += ["--ro-bind", path, path]
            made.add(path)
        for helper in helpers:
            cmd += ["--ro-bind", helper, f"/tmp/{Path(helper).name}"]
        if status_fd is not None:
            cmd += ["--json-status-fd", str(status_fd)]
        return cmd + ["--chdir", "/tmp", "--", *run]


def kill_leftovers(folder: Path, wait: float = 5.0) -> list[int]:
    """Kill the worker a trusted kernel started in `folder`, if it is still there.

    The kernel's end kills its worker (bubblewrap's ``--die-with-parent``; the worker is its
    sandbox's first process, so all in it go too). This is the grader making sure of it after
    each pytest run, whatever happened to the kernel.

    Parameters
    ----------
    folder : Path
        A trusted notebook's folder (where :data:`PIDS_FILE` was written).
    wait : float, optional
        Seconds to wait for them to be gone.

    Returns
    -------
    list of int
        The process ids that were still running a worker and were killed.
    """
    try:
        pids = json.loads((folder / PIDS_FILE).read_text(encoding="ascii"))
    except (OSError, ValueError):
        return []
    killed = []
    for pid in pids if isinstance(pids, list) else []:
        if type(pid) is not int or pid <= 1:
            continue
        try:  # a process id is only ours while it still runs our worker (ids are reused)
            if WORKER.encode() not in Path(f"/proc/{pid}/cmdline").read_bytes():
                continue
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
        except (OSError, ProcessLookupError):
            continue
    deadline = time.monotonic() + wait
    while killed and time.monotonic() < deadline:
        alive = []
        for pid in killed:
            try:
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if state != "Z":
                alive.append(pid)
        if not alive:
            break
        time.sleep(0.05)
    return killed


def probe(sandbox: Sandbox, timeout: float = 60) -> None:
    """Start a worker's sandbox once, to learn whether sandboxes can be made here.

    Parameters
    ----------
    sandbox : Sandbox
        A ``"bwrap"`` sandbox.
    timeout : float, optional
        Seconds to wait.

    Raises
    ------
    SandboxUnavailable
        If ``bwrap`` is not installed or cannot make the namespaces (a container without the
        rights to, a kernel without user namespaces...), with bwrap's own words.
    """
    if shutil.which(sandbox.bwrap) is None:
        raise SandboxUnavailable(
            "bubblewrap (bwrap) is not installed; on Debian or Ubuntu: apt-get install bubblewrap"
        )
    cmd = sandbox.command([], None)
    cmd[cmd.index("-c") + 1] = "import zablib, IPython; print('sandbox ok')"
    try:
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, env=sandbox.worker_env(0, "/tmp")
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SandboxUnavailable(f"bwrap could not be started: {exc}") from exc
    if done.returncode != 0 or "sandbox ok" not in done.stdout:
        said = (done.stderr.strip() or done.stdout.strip())[-800:]
        raise SandboxUnavailable(f"bwrap failed (exit {done.returncode}): {said}")

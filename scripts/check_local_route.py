"""Check the README's local route the way a student takes it, through JupyterLab's own server.

After ``bash scripts/venv.sh`` in a fresh clone::

    .venv/bin/python scripts/check_local_route.py [exercises/01_replication.ipynb]

starts ``.venv/bin/jupyter lab --no-browser`` (the ``jupyter`` beside the Python that runs this)
on a free loopback port (as the README's
``.venv/bin/jupyter lab exercises/01_replication.ipynb`` does, without the browser), checks that it
serves the JupyterLab page, reads the notebook through the contents API, opens a notebook session
(which starts the kernel the front end would use, in the notebook's folder), executes every code
cell over the kernel's websocket as the front end does (as root, e.g. in a container, with
``--allow-root``, which Jupyter asks for there) (going on after a cell that raises, as a
student running the last cell would), and prints what each cell did and the output of the last
one, the "check my work" table. It exits 1 if any of that fails or the last cell printed no table,
and stops the server either way.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import websocket  # websocket-client, which jupyter_server depends on

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``jupyter lab --no-browser`` from this Python's environment, on loopback with a fresh token."""

    def __init__(self, log: Path):
        self.port, self.token = free_port(), secrets.token_hex(16)
        self.log = log.open("w")
        self.process = subprocess.Popen(
            [str(Path(sys.executable).with_name("jupyter")), "lab", "--no-browser", f"--port={self.port}",
             "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={self.token}",
             f"--ServerApp.root_dir={ROOT}", *(["--allow-root"] if os.geteuid() == 0 else [])],
            stdout=self.log, stderr=subprocess.STDOUT, cwd=ROOT,
        )

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def request(self, path: str, method: str = "GET", body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url(path), data=data, method=method,
                                     headers={"Authorization": f"token {self.token}",
                                              "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as answer:
            text = answer.read().decode()
        return json.loads(text) if text and text.lstrip()[:1] in "{[" else text

    def wait(self, timeout: float = 120) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"jupyter lab exited with {self.process.returncode}; see {self.log.name}")
            try:
                return self.request("/api/status")
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.5)
        raise SystemExit(f"jupyter lab did not answer within {timeout:.0f} s; see {self.log.name}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


def execute(ws: websocket.WebSocket, session: str, code: str, timeout: float = 300) -> dict:
    """Run ``code`` in the kernel behind ``ws``: its status, error name and printed text."""
    msg_id = uuid.uuid4().hex
    ws.send(json.dumps({
        "header": {"msg_id": msg_id, "username": "student", "session": session,
                   "msg_type": "execute_request", "version": "5.3"},
        "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
        "content": {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                    "allow_stdin": False, "stop_on_error": False},
    }))
    result = {"status": None, "ename": None, "text": ""}
    idle = False
    deadline = time.monotonic() + timeout
    while not (idle and result["status"]):
        ws.settimeout(max(1.0, deadline - time.monotonic()))
        msg = json.loads(ws.recv())
        if msg.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        kind, content = msg["header"]["msg_type"], msg["content"]
        if kind == "stream":
            result["text"] += content["text"]
        elif kind == "error":
            result["ename"] = content["ename"]
        elif kind == "status" and content["execution_state"] == "idle":
            idle = True
        elif kind == "execute_reply":
            result["status"] = content["status"]
    return result


def main(notebook: str = "exercises/01_replication.ipynb") -> int:
    server = Server(Path("/tmp") / f"jupyter-lab-{uuid.uuid4().hex[:8]}.log")
    try:
        status = server.wait()
        print(f"jupyter lab is up on port {server.port} (started {status.get('started')})")
        page = server.request("/lab")
        assert "JupyterLab" in page or "jupyter-config-data" in page, "no JupyterLab page at /lab"
        print("GET /lab: the JupyterLab page is served")
        nb = server.request(f"/api/contents/{notebook}?content=1")["content"]
        cells = [c for c in nb["cells"] if c["cell_type"] == "code"]
        print(f"GET /api/contents/{notebook}: {len(nb['cells'])} cells, {len(cells)} code cells")
        sess = server.request("/api/sessions", "POST", {
            "path": notebook, "name": Path(notebook).name, "type": "notebook",
            "kernel": {"name": "python3"}})
        kernel = sess["kernel"]["id"]
        print(f"POST /api/sessions: kernel {kernel} ({sess['kernel']['name']})")
        ws = websocket.create_connection(
            server.url(f"/api/kernels/{kernel}/channels?token={server.token}").replace("http", "ws", 1),
            timeout=60)
        session = uuid.uuid4().hex
        last: dict = {}
        for k, cell in enumerate(cells):
            source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            last = execute(ws, session, source)
            tags = ",".join(cell.get("metadata", {}).get("tags", [])) or "-"
            said = f"{last['status']}" + (f" ({last['ename']})" if last["ename"] else "")
            print(f"  code cell {k:2d} [{tags}]: {said}")
        ws.close()
        server.request(f"/api/sessions/{sess['id']}", "DELETE")
        print("the last cell printed:")
        print("    " + last.get("text", "").rstrip().replace("\n", "\n    "))
        if last.get("status") != "ok" or "Checks of" not in last.get("text", ""):
            print("FAILED: the last cell did not print the check-my-work table")
            return 1
        print("ok: the server started, the notebook opened and ran through the server's kernel")
        return 0
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:2]))

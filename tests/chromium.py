"""Headless Chromium (Debian's ``chromium`` package) driven over the DevTools protocol.

No browser driver and no extra Python package: Chromium started with
``--remote-debugging-pipe`` reads DevTools commands as NUL-terminated JSON on file descriptor 3
and writes answers and events on descriptor 4. ``Browser`` owns the process and the pipe;
``Browser.tab()`` opens a page target and returns a ``Tab`` that navigates, evaluates
JavaScript, records console errors and takes screenshots.

The browser may reach only ``127.0.0.1``: every other host name resolves to nothing
(``--host-resolver-rules``), so a page that still loads something from a CDN logs a loud
``net::ERR_NAME_NOT_RESOLVED`` error instead of silently working on a connected machine.

Where Chromium is missing, ``missing_reason`` names the package to install (the browser test
skips with it, or fails under ``CI=true``, as tests/zookeeper.py does for ZooKeeper).
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import fcntl
import itertools
import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

INSTALL_HINT = "apt-get install chromium fonts-wqy-zenhei"
"""What to run (as root, Debian/Ubuntu) for the browser test: the browser, and a font for the
glossary's Chinese terms."""

BROWSER_NAMES = ("chromium", "chromium-browser")

PR_SET_PDEATHSIG = 1
"""Linux prctl option: the signal a child gets when its parent dies."""


def executable() -> str | None:
    """The Chromium binary on PATH, or None."""
    for name in BROWSER_NAMES:
        if found := shutil.which(name):
            return found
    return None


def has_chinese_font() -> bool:
    """Whether fontconfig knows a font with Chinese glyphs (else the glossary shows boxes)."""
    if shutil.which("fc-list") is None:
        return False
    listed = subprocess.run(["fc-list", ":lang=zh"], capture_output=True, text=True, check=False)
    return bool(listed.stdout.strip())


def missing_reason() -> str | None:
    """Say why the browser test cannot run here, or None when it can."""
    if executable() is None:
        return f"Chromium is not installed: run `{INSTALL_HINT}` as root (Debian/Ubuntu)"
    if not has_chinese_font():
        return (f"no font with Chinese glyphs (the glossary's terms would show as boxes): run "
                f"`{INSTALL_HINT}` as root (Debian/Ubuntu)")
    return None


class BrowserError(RuntimeError):
    """Chromium answered a command with an error, closed its pipe, or did not answer in time."""


class Browser:
    """One headless Chromium process, its DevTools pipe, and the events it has sent."""

    def __init__(self, width: int = 1280, height: int = 900) -> None:
        self.width, self.height = width, height
        self._profile = tempfile.TemporaryDirectory(prefix="chromium-")
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        # The child's ends, moved above 10 so that putting them on 3 and 4 cannot overwrite one
        # with the other.
        child_r = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD, 10)
        child_w = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD, 10)
        os.close(to_browser_r)
        os.close(from_browser_w)

        def wire_pipe() -> None:  # runs in the child: DevTools reads fd 3 and writes fd 4
            os.dup2(child_r, 3)
            os.dup2(child_w, 4)
            # A backstop: if pytest dies without close(), the kernel ends the browser too.
            with contextlib.suppress(OSError, AttributeError):
                ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)

        self.process = subprocess.Popen(
            [executable() or "chromium", "--headless=new", "--remote-debugging-pipe",
             f"--user-data-dir={self._profile.name}", f"--window-size={width},{height}",
             "--no-sandbox",  # root in a container has no user namespace to sandbox with
             "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
             "--no-default-browser-check", "--disable-background-networking",
             "--disable-component-update", "--disable-extensions", "--disable-sync",
             "--mute-audio", "--hide-scrollbars",
             "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
             "about:blank"],
            preexec_fn=wire_pipe, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            # Python opens files non-inheritable (PEP 446): only the dup2 copies on 3 and 4 pass.
            stderr=subprocess.DEVNULL, close_fds=False,
        )
        os.close(child_r)
        os.close(child_w)
        self._ids = itertools.count(1)
        self._buffer = b""
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, params: dict | None = None, session: str | None = None,
             timeout: float = 60.0) -> dict[str, Any]:
        """Send one command and wait for its answer, keeping the events that arrive meanwhile."""
        message: dict[str, Any] = {"id": next(self._ids), "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read(deadline)
            if reply.get("id") == message["id"]:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def _read(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError("Chromium did not answer in time")
            ready, _, _ = select.select([self._from_browser], [], [], left)
            if ready:
                chunk = os.read(self._from_browser, 1 << 20)
                if not chunk:
                    raise BrowserError("Chromium closed its DevTools pipe")
                self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(line)

    def pump(self, seconds: float) -> None:
        """Collect events for a while without sending anything."""
        deadline = time.monotonic() + seconds
        try:
            while time.monotonic() < deadline:
                self.events.append(self._read(deadline))
        except BrowserError:
            pass

    def tab(self) -> Tab:
        """Open a new page (about:blank) with console, log and page events switched on."""
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"]
        tab = Tab(self, target, session)
        for domain in ("Page", "Runtime", "Log"):
            tab.send(f"{domain}.enable")
        tab.send("Emulation.setDeviceMetricsOverride", {
            "width": self.width, "height": self.height, "deviceScaleFactor": 1, "mobile": False})
        return tab

    def close(self) -> None:
        """Stop the browser we started (by its process) and remove its profile."""
        try:
            self.send("Browser.close", timeout=5)
        except (BrowserError, OSError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for fd in (self._to_browser, self._from_browser):
            os.close(fd)
        self._profile.cleanup()


class Tab:
    """One page target of a ``Browser``: navigate, evaluate, list its errors, screenshot."""

    def __init__(self, browser: Browser, target: str, session: str) -> None:
        self.browser, self.target, self.session = browser, target, session

    def send(self, method: str, params: dict | None = None, timeout: float = 60.0) -> dict:
        """A DevTools command for this page."""
        return self.browser.send(method, params, self.session, timeout)

    def navigate(self, url: str, timeout: float = 30.0) -> None:
        """Open ``url`` and wait for its load event."""
        self.browser.events = [e for e in self.browser.events if e.get("sessionId") != self.session]
        self.send("Page.navigate", {"url": url})
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == "Page.loadEventFired" and e.get("sessionId") == self.session
                      for e in self.browser.events):
            if time.monotonic() > deadline:
                raise BrowserError(f"{url} did not finish loading in {timeout} s")
            self.browser.pump(0.1)

    def evaluate(self, expression: str, timeout: float = 30.0) -> Any:
        """The JSON value of a JavaScript expression (promises are awaited)."""
        result = self.send("Runtime.evaluate", {
            "expression": expression, "awaitPromise": True, "returnByValue": True,
            "timeout": timeout * 1000}, timeout=timeout + 5)
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression[:60]}...: {result['exceptionDetails']}")
        return result["result"].get("value")

    def errors(self) -> list[str]:
        """Every JavaScript error, console.error and failed load this page has logged so far."""
        found = []
        for event in self.browser.events:
            if event.get("sessionId") != self.session:
                continue
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                text = details.get("exception", {}).get("description") or details.get("text")
                found.append(f"{text} ({details.get('url', '')}:{details.get('lineNumber')})")
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                found.append(" ".join(str(a.get("value", a.get("description", "")))
                                      for a in params.get("args", [])))
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                entry = params["entry"]
                found.append(f"{entry.get('text')} {entry.get('url', '')}".strip())
        return found

    def screenshot(self, path: Path, full_page: bool = True, max_height: int = 12000) -> None:
        """Save the page as a PNG: all of it (up to ``max_height`` pixels tall), or only what
        the window shows (a tenth of the time on a long page)."""
        height = self.browser.height
        if full_page:
            metrics = self.send("Page.getLayoutMetrics")
            size = metrics.get("cssContentSize") or metrics["contentSize"]
            height = min(max(size["height"], 1), max_height)
        clip = {"x": 0, "y": 0, "width": self.browser.width, "height": height, "scale": 1}
        data = self.send("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True, "clip": clip})["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        """Close this page."""
        self.browser.send("Target.closeTarget", {"targetId": self.target})

"""A headless Debian chromium driven by Playwright, and `steerflow api` processes for the web view tests.

Playwright cannot download its own browsers here: it drives the system's chromium (`/usr/bin/chromium`,
`./run.sh` installs it), headless, with a fresh profile per browser. Every console error and page error
is collected, so a test can assert the page had none.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.builders.api_server import free_port

CHROMIUM = "/usr/bin/chromium"
AXE = Path(__file__).resolve().parents[2] / "web" / "node_modules" / "axe-core" / "axe.min.js"
DIST = Path(__file__).resolve().parents[2] / "src" / "steerflow" / "rest" / "ui" / "dist" / "index.html"
LAUNCH_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
START_TIMEOUT = 60.0  # seconds: importing the API under the shared machine's load took 30 s once


def browser_unavailable() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install playwright)"
    if shutil.which(CHROMIUM) is None:
        return f"no {CHROMIUM} (apt-get install chromium)"
    if not DIST.exists():
        return "the web view is not built (cd web && npm ci && npm run build)"
    return None


requires_browser = pytest.mark.skipif(browser_unavailable() is not None, reason=browser_unavailable() or "")


@dataclass
class Page:
    """One open tab and what its console said."""

    page: Any  # playwright.sync_api.Page
    errors: list[str] = field(default_factory=list)

    def view(self, expression: str) -> Any:
        """An expression over the page's `window.steerflowView` (its model and Cytoscape instance)."""
        return self.page.evaluate(f"() => {{ const v = window.steerflowView; return {expression}; }}")

    def wait_view(self, expression: str, timeout: float = 20.0) -> None:
        """Until the expression over `window.steerflowView` is true."""
        self.page.wait_for_function(
            f"() => {{ const v = window.steerflowView; return Boolean(v && ({expression})); }}",
            timeout=timeout * 1000,
        )

    def axe_violations(self) -> list[dict[str, Any]]:
        """axe-core's serious and critical violations on the page as it is now."""
        self.page.add_script_tag(path=str(AXE))
        found: list[dict[str, Any]] = self.page.evaluate(
            "async () => (await axe.run(document)).violations"
            ".filter(v => ['serious', 'critical'].includes(v.impact))"
            ".map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target)}))"
        )
        return found


@contextmanager
def browser() -> Iterator[Any]:
    """A headless chromium (playwright Browser), closed afterwards."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="steerflow-chromium-") as profile, sync_playwright() as play:
        context = play.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS,
            viewport={"width": 1400, "height": 900},
        )  # fmt: skip
        try:
            yield context
        finally:
            context.close()


def open_page(context: Any, url: str) -> Page:
    """A new tab on `url`, its console errors collected."""
    page = Page(context.new_page())
    page.page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
    page.page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.page.goto(url)
    return page


@dataclass
class UiServer:
    url: str
    log: Path


@contextmanager
def steerflow_api(workdir: Path, nb_url: str, token_file: Path | None = None) -> Iterator[UiServer]:
    """`steerflow api` (the CLI command: it gives the web view its trace) on a free port, stopped after."""
    port = free_port()
    argv = [sys.executable, "-m", "steerflow.cli", "api", "--nb", nb_url, "--port", str(port)]
    if token_file is not None:
        argv += ["--token-file", str(token_file)]
    log = workdir / "api-ui.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_answers(url, proc, log)
        yield UiServer(url, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _wait_answers(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            httpx.get(url + "/", timeout=1.0)
            return
        except httpx.HTTPError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"steerflow api did not start; log:\n{log.read_text()[-3000:]}") from None
            time.sleep(0.05)


def artefacts() -> Path:
    """Where the screenshots go: test-artifacts/ at the repository root (gitignored), kept after the run."""
    folder = Path(__file__).resolve().parents[2] / "test-artifacts"
    folder.mkdir(exist_ok=True)
    return folder

"""Every dashboard page opened in headless Chromium, as a reader sees it.

How: Debian's `chromium` is started headless with `--remote-debugging-port=0`; it writes the
port it chose to `DevToolsActivePort` in its profile folder, and the test speaks the Chrome
DevTools Protocol over that websocket (`websockets.sync.client`; one browser connection, one
flattened session per tab). The network is emulated offline, so a page that needs a CDN fails.
For each page the test

- fails on any console error, uncaught exception, failed load or non-file request,
- waits until every chart `<div class="plot">` holds a Plotly `.main-svg` with drawn traces,
- changes each filter (site, period) and checks the charts redraw without errors,
- writes a full-page screenshot to `out/screenshots/<page>.png` for a reviewer.

Skipped when Chromium is not installed (`.ci/run` installs it).
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from trscohort.dashboards import PAGES

try:  # `tests` is importable as a package only when the repository root is on sys.path
    from tests.dashboard_cases import BARE_DROP, published_site
except ModuleNotFoundError:
    from dashboard_cases import BARE_DROP, published_site

websockets_sync = pytest.importorskip("websockets.sync.client")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[1]
PAGE_FILES = ["index.html", *(p.file_name for p in PAGES)]

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium not installed")

# What a page reports about its charts (evaluated in the page).
CHART_STATE = """
(() => {
  const plots = [...document.querySelectorAll('div.plot')];
  const drawn = plots.filter(el => {
    const svg = el.querySelector('.main-svg');
    const box = svg ? svg.getBoundingClientRect() : null;
    const marks = el.querySelectorAll(
      '.trace, .bars path, .point, .funnellayer path, .column-cell, .scatterlayer path');
    return svg && box.width > 0 && box.height > 0 && el._fullData && el._fullData.length > 0
      && marks.length > 0;
  });
  return JSON.stringify({
    plots: plots.length,
    drawn: drawn.length,
    missing: plots.filter(el => !drawn.includes(el)).map(el => el.id),
    unavailable: document.querySelectorAll('.unavailable').length,
    plotly: typeof Plotly !== 'undefined',
    height: document.documentElement.scrollHeight,
    selects: [...document.querySelectorAll('.filters select')].map(
      s => ({id: s.id, values: [...s.options].map(o => o.value)})),
  });
})()
"""


class Chromium:
    """A headless Chromium driven over the DevTools protocol (one tab)."""

    def __init__(self, profile: Path):
        self.log = (profile / "chromium.log").open("w")
        self.process = subprocess.Popen(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                f"--user-data-dir={profile}",
                "--remote-debugging-port=0",
                "about:blank",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.is_file() and len(port_file.read_text().splitlines()) >= 2):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError(
                    f"chromium did not start: {(profile / 'chromium.log').read_text()}"
                )
            time.sleep(0.05)
        port, path = port_file.read_text().splitlines()[:2]
        self.ws = websockets_sync.connect(
            f"ws://127.0.0.1:{port}{path}", max_size=None, open_timeout=10
        ).__enter__()
        self.ids = itertools.count(1)
        self.events: list[dict] = []
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable", session=True)
        self.call(
            "Network.emulateNetworkConditions",
            {"offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
            session=True,
        )
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False},
            session=True,
        )

    def call(self, method: str, params: dict | None = None, *, session=False, timeout=30) -> dict:
        message = {"id": next(self.ids), "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self.session
        self.ws.send(json.dumps(message))
        deadline = time.monotonic() + timeout
        while True:
            reply = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if reply.get("id") == message["id"]:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            if "method" in reply:
                self.events.append(reply)

    def wait_for_event(self, method: str, timeout: float = 30) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            for event in self.events:
                if event["method"] == method:
                    return event
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(method)
            try:
                reply = json.loads(self.ws.recv(timeout=remaining))
            except TimeoutError:
                raise TimeoutError(method) from None
            if "method" in reply:
                self.events.append(reply)

    def evaluate(self, expression: str):
        result = self.call(
            "Runtime.evaluate", {"expression": expression, "returnByValue": True}, session=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"evaluate: {result['exceptionDetails']}")
        return result["result"].get("value")

    def open(self, url: str) -> None:
        self.events.clear()
        self.call("Page.navigate", {"url": url}, session=True)
        self.wait_for_event("Page.loadEventFired")

    def state(self, *, timeout: float = 15) -> dict:
        """The charts' state, once every chart has drawn (or the timeout passed)."""
        deadline = time.monotonic() + timeout
        while True:
            state = json.loads(self.evaluate(CHART_STATE))
            if state["drawn"] == state["plots"] or time.monotonic() > deadline:
                return state
            time.sleep(0.1)

    def errors(self) -> list[str]:
        """Console errors, exceptions, failed loads and network requests seen so far."""
        self.evaluate("0")  # drain events queued before now
        found = []
        for event in self.events:
            method, params = event["method"], event.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                args = " ".join(str(a.get("value", a.get("description"))) for a in params["args"])
                found.append(f"console.{params['type']}: {args}")
            elif method == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                found.append(
                    f"exception: {details.get('exception', {}).get('description', details['text'])}"
                )
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                found.append(f"log: {params['entry']['text']} {params['entry'].get('url', '')}")
            elif method == "Network.loadingFailed":
                found.append(f"load failed: {params.get('errorText')}")
            elif method == "Network.requestWillBeSent":
                url = params["request"]["url"]
                if not url.startswith(("file:", "data:", "about:")):
                    found.append(f"network request: {url}")
        return found

    def screenshot(self, path: Path, height: int) -> None:
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": 1280, "height": min(height, 8000), "deviceScaleFactor": 1, "mobile": False},
            session=True,
        )
        time.sleep(0.3)  # let responsive charts settle at the new size
        shot = self.call(
            "Page.captureScreenshot",
            {"format": "png", "captureBeyondViewport": True},
            session=True,
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False},
            session=True,
        )

    def close(self) -> None:
        if getattr(self, "ws", None) is not None:
            with contextlib.suppress(Exception):  # the browser may already be gone
                self.call("Browser.close", timeout=5)
            self.ws.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    chromium = Chromium(tmp_path_factory.mktemp("chromium-profile"))
    yield chromium
    chromium.close()


@pytest.fixture(scope="module")
def full_site(tmp_path_factory) -> Path:
    return published_site(tmp_path_factory.getbasetemp())[1]


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory) -> Path:
    """Screenshots go under pytest's tmp folder (tests never write into the repository)."""
    return tmp_path_factory.mktemp("screenshots")


@pytest.mark.parametrize("page", PAGE_FILES)
def test_page_renders_without_errors(browser, full_site, page, screenshots):
    browser.open((full_site / page).as_uri())
    state = browser.state()
    assert browser.errors() == []
    assert state["plotly"] or page == "index.html"
    assert state["drawn"] == state["plots"], f"charts not drawn: {state['missing']}"
    if page != "index.html":
        assert state["plots"] > 0
    # every filter value redraws every chart without an error
    for select in state["selects"]:
        for value in select["values"][1:3]:
            browser.evaluate(
                f"(() => {{ const s = document.getElementById({json.dumps(select['id'])});"
                f" s.value = {json.dumps(value)}; s.dispatchEvent(new Event('change')); }})()"
            )
            after = browser.state()
            assert browser.errors() == [], f"{select['id']}={value}"
            assert after["drawn"] + after["unavailable"] >= state["plots"], after["missing"]
        browser.evaluate(
            f"(() => {{ const s = document.getElementById({json.dumps(select['id'])});"
            f" s.value = ''; s.dispatchEvent(new Event('change')); }})()"
        )
    browser.screenshot(screenshots / page.replace(".html", ".png"), browser.state()["height"])
    assert (screenshots / page.replace(".html", ".png")).stat().st_size > 10_000


def test_missing_marts_show_a_panel_not_an_error(browser, tmp_path_factory):
    """A warehouse without the adverse-event and data-quality tables: panels, no errors."""
    _, site = published_site(
        tmp_path_factory.getbasetemp(), "bare", standins=False, patients=120, drop=BARE_DROP
    )
    for page in ("adverse_events.html", "safety_quality.html"):
        browser.open((site / page).as_uri())
        state = browser.state()
        assert browser.errors() == []
        assert state["unavailable"] > 0
        assert state["drawn"] == state["plots"]
        text = browser.evaluate("document.body.innerText")
        assert "Not available in this warehouse yet" in text

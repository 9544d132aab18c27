"""The HTML report in a real headless Chromium, driven over the DevTools protocol (CDP).

What it proves: the page loads with no console error, no uncaught exception and no network
request besides the report file itself; the plots are painted SVGs with real size; the verdict
is the first thing in the viewport. It saves `out/report-screenshot.png` for CI to keep.
A control page (one external image, one console.error) shows the detectors do fire.
In CI a missing Chromium is a failure, not a skip.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from chaosgate.processes import ManagedProcess, wait_until
from fixtures.pytest_plugin import missing_component
from reports.html import render_html
from reports.load import load_result
from reports.model import RunResult

pytestmark = pytest.mark.integration

CHROMIUM = os.environ.get("CHAOSGATE_CHROMIUM", "/usr/bin/chromium")
DEADLINE_S = 30.0  # for Chromium to start and for one page to load (usually < 2 s here)
ARTIFACTS = Path(__file__).resolve().parents[2] / "out"
RESULTS = {p.stem.removeprefix("result_"): p for p in Path(__file__).parent.glob("result*.json")}


class Cdp:
    """A minimal CDP client: numbered calls with replies, and every event kept for assertions."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.events: list[dict[str, Any]] = []
        self._replies: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._arrived = asyncio.Condition()
        self._next_id = 0
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for raw in self.socket:
            message = json.loads(raw)
            if "id" in message:
                self._replies.pop(message["id"]).set_result(message)
            else:
                async with self._arrived:
                    self.events.append(message)
                    self._arrived.notify_all()

    async def call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        self._next_id += 1
        reply: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._replies[self._next_id] = reply
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        await self.socket.send(json.dumps(message))
        answer = await asyncio.wait_for(reply, DEADLINE_S)
        assert "error" not in answer, f"{method}: {answer['error']}"
        return answer.get("result", {})  # type: ignore[no-any-return]

    async def wait_event(self, method: str, session: str, after: int) -> None:
        """Wait for `method` on `session` among the events that arrived after index `after`."""

        def seen() -> bool:
            return any(
                e["method"] == method and e.get("sessionId") == session for e in self.events[after:]
            )

        async with self._arrived:
            await asyncio.wait_for(self._arrived.wait_for(seen), DEADLINE_S)

    async def close(self) -> None:
        self._reader.cancel()


@dataclass
class PageLoad:
    url: str
    console_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    screenshot: bytes = b""


@pytest.fixture(scope="module")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A headless Chromium on 127.0.0.1; yields its browser DevTools WebSocket URL."""
    if not Path(CHROMIUM).exists():
        missing_component(f"Chromium not found at {CHROMIUM}: install the Debian chromium package")
    workdir = tmp_path_factory.mktemp("chromium")
    profile = workdir / "profile"
    argv = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
            f"--user-data-dir={profile}", "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0", "about:blank"]  # fmt: skip
    process = ManagedProcess("chromium", argv, workdir / "chromium.log").start()
    port_file = profile / "DevToolsActivePort"  # Chromium writes the port it chose (port 0)
    try:
        wait_until(lambda: len(port_file.read_text().splitlines()) >= 2, what="chromium DevTools",
                   timeout_s=DEADLINE_S, on_timeout=process.log_tail)  # fmt: skip
        port, path = port_file.read_text().splitlines()[:2]
        yield f"ws://127.0.0.1:{port}{path}"
    finally:
        process.stop(timeout_s=10)
        shutil.rmtree(workdir, ignore_errors=True)


_FACTS_JS = """JSON.stringify({
  verdict: document.querySelector('.banner .verdict')?.innerText ?? null,
  bannerTop: document.querySelector('.banner')?.getBoundingClientRect().top ?? null,
  bannerHeight: document.querySelector('.banner')?.getBoundingClientRect().height ?? null,
  kpiRows: document.querySelectorAll('table.kpis tbody tr').length,
  svgs: Array.from(document.querySelectorAll('.plot svg')).map(svg => {
    const box = svg.getBoundingClientRect();
    const drawn = svg.querySelector('g').getBBox();
    return {width: box.width, height: box.height, drawnWidth: drawn.width,
            drawnHeight: drawn.height, paths: svg.querySelectorAll('path').length};
  }),
  pageHeight: document.documentElement.scrollHeight,
})"""


def load_page(browser_url: str, page: Path, screenshot: Path | None = None) -> PageLoad:
    """Open `page` in a new tab; what it logged and fetched, facts about it, a screenshot."""
    load = asyncio.run(_load(browser_url, page.resolve().as_uri(), screenshot is not None))
    if screenshot is not None:
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        screenshot.write_bytes(load.screenshot)
    return load


async def _load(browser_url: str, url: str, want_screenshot: bool) -> PageLoad:
    async with connect(browser_url, max_size=None, open_timeout=DEADLINE_S) as socket:
        cdp = Cdp(socket)
        target = (await cdp.call("Target.createTarget", url="about:blank"))["targetId"]
        session = (await cdp.call("Target.attachToTarget", targetId=target, flatten=True))[
            "sessionId"
        ]
        for domain in ("Page", "Runtime", "Log", "Network"):
            await cdp.call(f"{domain}.enable", session)
        await cdp.call("Emulation.setDeviceMetricsOverride", session, width=1200, height=900,
                       deviceScaleFactor=1, mobile=False)  # fmt: skip
        before = len(cdp.events)
        await cdp.call("Page.navigate", session, url=url)
        await cdp.wait_event("Page.loadEventFired", session, after=before)
        facts = await cdp.call(
            "Runtime.evaluate", session, expression=_FACTS_JS, returnByValue=True
        )
        load = PageLoad(url=url, facts=json.loads(facts["result"]["value"]))
        if want_screenshot:
            shot = await cdp.call("Page.captureScreenshot", session, format="png", captureBeyondViewport=True,
                                  clip={"x": 0, "y": 0, "width": 1200, "height": load.facts["pageHeight"], "scale": 1})  # fmt: skip
            load.screenshot = base64.b64decode(shot["data"])
        await cdp.call("Target.closeTarget", targetId=target)
        await cdp.close()
    for event in cdp.events:
        if event.get("sessionId") != session:
            continue
        params = event.get("params", {})
        if event["method"] == "Runtime.consoleAPICalled" and params.get("type") in (
            "error",
            "assert",
        ):
            load.console_errors.append(
                " ".join(str(a.get("value", a.get("description"))) for a in params["args"])
            )
        elif event["method"] == "Log.entryAdded" and params["entry"]["level"] == "error":
            load.console_errors.append(f"{params['entry']['source']}: {params['entry']['text']}")
        elif event["method"] == "Runtime.exceptionThrown":
            load.console_errors.append(params["exceptionDetails"].get("text", "exception"))
        elif event["method"] == "Network.requestWillBeSent":
            load.requests.append(params["request"]["url"])
    return load


def _expected_plots(result: RunResult) -> int:
    count = 0
    for scenario in result.scenarios:
        count += bool(scenario.series or scenario.probes) + bool(scenario.series)
        count += bool(scenario.websocket and scenario.websocket.latency_histogram)
    return count


@pytest.mark.parametrize("kind", sorted(RESULTS))
def test_report_renders_offline_with_plots_and_verdict_first(
    chromium: str, tmp_path: Path, kind: str
) -> None:
    result = load_result(RESULTS[kind])
    report = tmp_path / "report.html"
    report.write_text(render_html(result), encoding="utf-8")
    # The failing fixture is the CI artifact; every result gets its own screenshot too.
    name = "report-screenshot.png" if kind == "fail" else f"report-screenshot-{kind}.png"
    screenshot = ARTIFACTS / name
    load = load_page(chromium, report, screenshot)
    assert load.console_errors == []
    assert load.requests == [load.url], "the report fetched something besides itself"
    facts = load.facts
    assert facts["verdict"] == result.status.upper()
    assert facts["bannerTop"] == 0
    assert facts["bannerHeight"] < 320, "the verdict must fit above the fold with room to spare"
    assert facts["kpiRows"] == sum(len(s.kpis) for s in result.scenarios)
    assert len(facts["svgs"]) == _expected_plots(result)
    for svg in facts["svgs"]:
        assert svg["width"] > 500
        assert svg["height"] > 150
        assert svg["drawnWidth"] > 100
        assert svg["drawnHeight"] > 100
        assert svg["paths"] > 10
    assert screenshot.stat().st_size > 50_000


def test_the_detectors_catch_a_fetch_and_a_console_error(chromium: str, tmp_path: Path) -> None:
    # Port 9 on loopback: nothing needs to answer, the request is what is counted.
    control = tmp_path / "control.html"
    control.write_text(
        '<html><body><img src="http://127.0.0.1:9/x.png"><script>console.error("boom")</script></body></html>'
    )
    load = load_page(chromium, control)
    assert "boom" in " ".join(load.console_errors)
    assert "http://127.0.0.1:9/x.png" in load.requests

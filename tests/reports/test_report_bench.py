"""Renderer cost on a long, wide run: prints figures (CPU seconds, bytes), checks only the
3 MB size goal, never a time. Run: .venv/bin/pytest tests/reports -m bench -s"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from reports.compare import compare_results
from reports.html import render_html
from reports.junit import render_junit
from reports.load import load_result
from reports.markdown import render_markdown
from reports.model import SLICES_PER_S, RunResult

pytestmark = pytest.mark.bench

ENDPOINTS, SECONDS = 8, 600
MAX_HTML_BYTES = 3 * 1024 * 1024


def _wide(result: RunResult) -> RunResult:
    """The generated failing run stretched to 8 endpoints x 10 minutes (real histograms reused)."""
    wide = result.model_copy(deep=True)
    scenario = wide.scenarios[0]
    source = [b for b in scenario.series if b.name == "GET /api/dashboard/performance"]
    scenario.series = [
        bucket.model_copy(update={"name": f"GET /api/endpoint-{e}", "slice": index})
        for e in range(ENDPOINTS)
        for index in range(SECONDS * SLICES_PER_S)  # as dense as a real run
        for bucket in [source[index % len(source)]]
    ]
    scenario.duration_s = SECONDS
    return wide


def _cpu(render: Callable[[], object]) -> tuple[float, object]:
    start = time.process_time()
    output = render()
    return time.process_time() - start, output


def test_renderers_on_a_long_wide_run(result_path: Callable[[str], Path]) -> None:
    wide = _wide(load_result(result_path("fail")))
    buckets = len(wide.scenarios[0].series)
    html_s, html = _cpu(lambda: render_html(wide))
    junit_s, _ = _cpu(lambda: render_junit(wide))
    md_s, _ = _cpu(lambda: render_markdown(wide))
    compare_s, _ = _cpu(lambda: compare_results(wide, wide, 0.1))
    size = len(str(html).encode())
    print(f"\nreports bench: {ENDPOINTS} endpoints x {SECONDS} s = {buckets} buckets")
    print(f"  html     {html_s:6.2f} s CPU  {size / 1024:8.0f} KB")
    print(f"  junit    {junit_s:6.2f} s CPU")
    print(f"  markdown {md_s:6.2f} s CPU")
    print(f"  compare  {compare_s:6.2f} s CPU")
    assert size < MAX_HTML_BYTES

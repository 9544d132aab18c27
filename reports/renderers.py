"""The one registry of report renderers: `chaosgate run` (and the pytest plugin, and replay)
writes every one of them into the run directory; `chaosgate report --format` renders any one.

A new renderer is one module with `render_x(result: RunResult) -> str` plus one `Renderer`
line in `RENDERERS`. A renderer that fails is a harness error (exit 4), never skipped: the
others are still written, then `RendererFailed` names every one that failed.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reports.model import RunResult


@dataclass(frozen=True)
class Renderer:
    format: str  # the name `chaosgate report --format` takes
    filename: str  # what a run writes in its directory (a folder for `files` renderers)
    target: str  # "module:function", imported when used (matplotlib takes a second to import)
    files: bool = False  # the function writes files itself: (result, directory) -> list[Path]
    after: str | None = None  # "module:function" given the rendered text (CI step summary)

    def _load(self, target: str) -> Callable[..., Any]:
        module, function = target.split(":")
        loaded: Callable[..., Any] = getattr(importlib.import_module(module), function)
        return loaded

    def render(self, result: RunResult) -> str:
        """The rendered text (a text renderer only)."""
        if self.files:
            raise TypeError(f"renderer {self.format} writes files, it returns no text")
        text: str = self._load(self.target)(result)
        return text

    def publish(self, text: str) -> Path | None:
        """Hand the rendered text on (`after`); where it went, if anywhere."""
        if self.after is None:
            return None
        where: Path | None = self._load(self.after)(text)
        return where

    def write_to(self, result: RunResult, path: Path) -> list[Path]:
        """Write to `path` (a folder for `files` renderers); the paths written."""
        if self.files:
            written: list[Path] = self._load(self.target)(result, path)
            return written
        text = self.render(result)
        path.write_text(text, encoding="utf-8")
        self.publish(text)
        return [path]

    def write(self, result: RunResult, run_dir: Path) -> list[Path]:
        return self.write_to(result, run_dir / self.filename)


def render_json(result: RunResult) -> str:
    return result.model_dump_json(indent=1) + "\n"


RENDERERS: tuple[Renderer, ...] = (
    Renderer("json", "result.json", "reports.renderers:render_json"),  # first: the record
    Renderer("html", "report.html", "reports.html:render_html"),
    Renderer("junit", "junit.xml", "reports.junit:render_junit"),
    Renderer(
        "markdown",
        "summary.md",
        "reports.markdown:render_markdown",
        after="reports.markdown:append_step_summary",  # a no-op outside GitHub Actions
    ),
    Renderer("hgrm", "hgrm", "reports.hgrm:write_hgrm_files", files=True),
    Renderer("console", "verdict.txt", "reports.console:render_console"),  # what `run` prints
)
TEXT_FORMATS = tuple(r.format for r in RENDERERS if not r.files)


def renderer(format_name: str) -> Renderer:
    return next(r for r in RENDERERS if r.format == format_name)


class RendererFailed(Exception):
    """One or more renderers raised: a chaosgate bug (exit 4), not a verdict. Not a
    `ChaosgateError` on purpose: the CLI's harness-error path saves the traceback."""

    def __init__(self, failures: dict[str, BaseException]) -> None:
        named = "; ".join(f"{name}: {type(e).__name__}: {e}" for name, e in failures.items())
        super().__init__(f"report renderer(s) failed: {named}")
        self.failures = failures


def write_reports(result: RunResult, run_dir: Path) -> list[Path]:
    """Every registered renderer into `run_dir`; raises `RendererFailed` after trying them all."""
    run_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    failures: dict[str, BaseException] = {}
    for entry in RENDERERS:
        try:
            written += entry.write(result, run_dir)
        except Exception as error:  # collected, raised below
            failures[entry.format] = error
    if failures:
        raise RendererFailed(failures) from next(iter(failures.values()))
    return written

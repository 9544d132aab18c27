"""`chaosgate report` (re-render a stored result in any format) and `chaosgate compare`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from chaosgate.errors import InputError
from reports.history.compare_cli import compare_against_history, history_against_options
from reports.load import load_result
from reports.renderers import TEXT_FORMATS, renderer


def _write(text: str, out: Path | None) -> None:
    if out is None:
        click.echo(text, nl=False)
        return
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    except OSError as error:
        raise InputError(f"{out}: cannot write: {error.strerror or error}") from None
    click.echo(f"wrote {out} ({out.stat().st_size / 1024:.0f} KB)", err=True)


@click.command()
@click.argument("result", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(TEXT_FORMATS), default="html", show_default=True)
@click.option(
    "--out", type=click.Path(path_type=Path, dir_okay=False), help="file to write (default: stdout)"
)
@click.option(
    "--hgrm",
    type=click.Path(path_type=Path, file_okay=False),
    help="also write .hgrm files per endpoint here",
)
def report(result: Path, fmt: str, out: Path | None, hgrm: Path | None) -> None:
    """Render RESULT.json as html, junit, markdown or json.

    Markdown is also appended to $GITHUB_STEP_SUMMARY when that is set. Exit 0 once
    rendered, whatever the run's verdict (the run itself exits with that); 2 for a bad file.
    """
    run = load_result(result)
    chosen = renderer(fmt)
    text = chosen.render(run)
    summary = chosen.publish(text)  # Markdown: appended to $GITHUB_STEP_SUMMARY when set
    if summary is not None:
        click.echo(f"appended summary to {summary}", err=True)
    _write(text, out)
    if hgrm is not None:
        for path in renderer("hgrm").write_to(run, hgrm):
            click.echo(f"wrote {path}", err=True)


@click.command()
@click.argument("base", type=click.Path(path_type=Path))
@click.argument("new", type=click.Path(path_type=Path), required=False)
@history_against_options
@click.option(
    "--tolerance",
    help="allowed worsening, e.g. 10% or 0.1 [default: 10%; capacity: the repeat spread]",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(("markdown", "html")),
    default="markdown",
    show_default=True,
)
@click.option(
    "--out", type=click.Path(path_type=Path, dir_okay=False), help="file to write (default: stdout)"
)
@click.option(
    "--allow-changed",
    is_flag=True,
    help="compare scenarios whose definitions differ (else exit 3)",
)
def compare(
    base: Path,
    new: Path | None,
    tolerance: str | None,
    fmt: str,
    out: Path | None,
    allow_changed: bool,
    **history: str | None,
) -> None:
    """Compare NEW.json against BASE.json per KPI and per endpoint p50/p95/p99.

    Exit 1 when anything got worse than the tolerance allows, a KPI that passed now fails, or a
    scenario, KPI or endpoint of BASE is missing from NEW; exit 3 when either run is INVALID or
    a scenario's definition differs between them (unless --allow-changed): no verdict.
    `compare --against history[:N] NEW` judges NEW against its stored runs (chaosgate history).

    Two capacity searches (their capacity.json, result.json or run directory): exit 1 when the
    knee dropped beyond both searches' resolution and the repeat spread (--tolerance; the rule
    is in reports/compare_capacity.py and printed with the table), 0 otherwise.
    """
    if history["against"] is not None or new is None:  # compare --against history[:N] NEW
        sys.exit(compare_against_history(base, new, out, fmt, **history))
    from reports.compare import Comparison, compare_results, parse_tolerance
    from reports.compare_capacity import REPEAT_SPREAD, capacity_record
    from reports.compare_render import render_comparison_html, render_comparison_markdown

    base_record, new_record = capacity_record(base), capacity_record(new)
    comparison: Comparison
    if base_record is not None or new_record is not None:
        from reports.compare_capacity import compare_capacity, load_record

        if base_record is None or new_record is None:
            plain = base if base_record is None else new
            raise InputError(f"{plain}: not a capacity search (no capacity.json beside it); "
                             "compare a capacity search with another one")  # fmt: skip
        spread = REPEAT_SPREAD if tolerance is None else parse_tolerance(tolerance)
        comparison = compare_capacity(load_record(base_record), load_record(new_record),
                                      base_record.parent.name, new_record.parent.name, spread,
                                      allow_changed)  # fmt: skip
    else:
        allowed = parse_tolerance("10%" if tolerance is None else tolerance)
        comparison = compare_results(load_result(base), load_result(new), allowed, allow_changed)
    render = render_comparison_html if fmt == "html" else render_comparison_markdown
    _write(render(comparison), out)
    if fmt == "markdown":
        from reports.markdown import append_step_summary

        append_step_summary(render(comparison))
    sys.exit(comparison.exit_code)

"""The search's report: `explore.json` (the record) and `explore.html` (rendered from it only).

The record: seed, budget and time spent, every schedule tried (and every confirm / shrink run),
coverage of the catalog (kind x target x overlap degree: cells exercised of those the space
holds), findings with their shrink path, verifying runs and scenario file, flaky failures (a failure
that did not repeat, or whose schedules all passed a verifying run).
"""

from __future__ import annotations

import html
import json
from collections import Counter
from pathlib import Path
from typing import Any

from scenarios.explore_run import Attempt, Search


def _attempt(a: Attempt) -> dict[str, Any]:
    return {"name": a.name, "role": a.role, "schedule": a.schedule.describe(),
            "faults": len(a.schedule.faults), "status": a.status, "broke": list(a.broke),
            "seconds": a.seconds, "invalid_reason": a.invalid_reason}  # fmt: skip


def coverage(search: Search) -> dict[str, Any]:
    """Cells of the explored schedules (not the confirm/shrink runs: those repeat them)."""
    cells: Counter[tuple[str, str, int]] = Counter()
    for _, schedule in search.explored:
        cells.update(schedule.cells())
    possible = search.space.all_cells()
    return {
        "cells_possible": len(possible),
        "cells_covered": len(set(cells) & possible),
        "kinds_covered": sorted({k for k, _, _ in cells}),
        "kinds_possible": sorted(search.space.kinds),
        "pairs_covered": len({(k, t) for k, t, _ in cells}),
        "pairs_possible": len(search.space.pairs()),
        "overlap_degrees": dict(sorted(Counter(d for _, _, d in cells.elements()).items())),
        "cells": [
            {"kind": k, "target": t, "overlap": d, "runs": n}
            for (k, t, d), n in sorted(cells.items())
        ],
        "not_drawn": list(search.space.skipped),
    }


def record(search: Search, command: str) -> dict[str, Any]:
    runs = search.attempts
    findings, flaky = [], []
    for f in search.findings:
        entry: dict[str, Any] = {
            "schedule_index": f.index,
            "schedule": f.schedule.describe(),
            "broke": list(f.first.broke),
            "confirm": _attempt(f.confirm),
            "verify": [_attempt(a) for a in f.verify],
        }
        if not f.found:
            flaky.append(entry)
            continue
        assert f.shrunk is not None
        assert f.verified is not None
        failed, verify_runs = f.reproduced
        entry |= {
            "minimal": f.verified.describe(),  # the written schedule: it failed every re-run
            "minimal_faults": len(f.verified.faults),
            "minimal_broke": list(f.minimal_broke),
            "shrunk_to": f.shrunk.minimal.describe(),
            "reproduced": {"failed": failed, "runs": verify_runs},
            "shrink_complete": f.shrunk.complete,
            "shrink_path": [{"change": t.change, "kept": t.kept} for t in f.shrunk.path],
            "scenario_file": str(f.scenario_file) if f.scenario_file else None,
        }
        findings.append(entry)
    return {
        "command": command,
        "seed": search.seed,
        "budget_s": search.budget_s,
        "recovery_s": search.space.recovery_s,  # the promise every fault was judged on
        "spent_s": round(search.spent_s, 1),
        "stopped_by": search.stopped_by,
        "schedules_tried": len(search.explored),
        "runs": len(runs),
        "runs_by_status": dict(Counter(a.status for a in runs)),
        "run_seconds_by_role": {
            role: round(sum(a.seconds for a in runs if a.role == role), 1)
            for role in ("explore", "confirm", "shrink", "verify")
        },
        "coverage": coverage(search),
        "findings": findings,
        "flaky": flaky,
        "attempts": [_attempt(a) for a in runs],
    }


def _table(head: list[str], rows: list[list[str]]) -> str:
    cells = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{cells}</tr>{body}</table>"


def render_html(data: dict[str, Any]) -> str:
    cov = data["coverage"]
    parts = [
        "<!doctype html><meta charset=utf-8><title>chaosgate explore</title><style>"
        "body{font:14px system-ui;margin:2em}table{border-collapse:collapse;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}.fail{color:#b00}</style>",
        f"<h1>explore: {len(data['findings'])} finding(s)</h1>",
        f"<p><code>{html.escape(data['command'])}</code><br>seed {data['seed']}, budget"
        f" {data['budget_s']:g} s, spent {data['spent_s']:g} s (stopped by {html.escape(data['stopped_by'])});"
        f" {data['schedules_tried']} schedule(s) tried, {data['runs']} run(s) {data['runs_by_status']}</p>",
        f"<h2>coverage</h2><p>{cov['cells_covered']} of {cov['cells_possible']} cells (kind x target x"
        f" overlap); {cov['pairs_covered']} of {cov['pairs_possible']} kind x target pairs; overlap degrees"
        f" {cov['overlap_degrees']}</p>",
        _table(
            ["kind", "target", "overlap", "runs"],
            [[c["kind"], c["target"], str(c["overlap"]), str(c["runs"])] for c in cov["cells"]],
        ),
    ]
    for number, f in enumerate(data["findings"], 1):
        parts.append(f"<h2 class=fail>finding {number}: {html.escape(f['minimal'])}</h2>")
        again = f"failed {f['reproduced']['failed']} of {f['reproduced']['runs']} verifying run(s)"
        if f["shrunk_to"] != f["minimal"]:
            again += f"; the shrink reached {f['shrunk_to']}, which did not fail every re-run"
        parts.append(f"<p>from schedule #{f['schedule_index']}: {html.escape(f['schedule'])}<br>{html.escape(again)}<br>broke: "
                     f"{html.escape('; '.join(f['minimal_broke']))}<br>scenario: <code>{html.escape(str(f['scenario_file']))}</code></p>")  # fmt: skip
        parts.append(
            _table(
                ["shrink step", "kept"],
                [[s["change"], "kept" if s["kept"] else "-"] for s in f["shrink_path"]],
            )
        )
    if data["flaky"]:
        parts.append("<h2>flaky (did not fail every re-run: not findings)</h2>")
        parts.append(
            _table(
                ["schedule", "broke first"],
                [[f["schedule"], "; ".join(f["broke"])] for f in data["flaky"]],
            )
        )
    parts.append("<h2>runs</h2>")
    parts.append(_table(["name", "role", "schedule", "status", "s", "why"],
                        [[a["name"], a["role"], a["schedule"], a["status"], f"{a['seconds']:g}",
                          "; ".join(a["broke"]) or (a["invalid_reason"] or "")] for a in data["attempts"]]))  # fmt: skip
    return "\n".join(parts) + "\n"


def write(run_dir: Path, data: dict[str, Any]) -> tuple[Path, Path]:
    run_dir.mkdir(parents=True, exist_ok=True)
    as_json, as_html = run_dir / "explore.json", run_dir / "explore.html"
    as_json.write_text(json.dumps(data, indent=2) + "\n")
    as_html.write_text(render_html(data))
    return as_json, as_html

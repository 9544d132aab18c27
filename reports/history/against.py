"""`chaosgate compare --against history[:N] NEW`: a new run judged against the last N stored
runs of the same scenario definition (same definition hash; INVALID runs are no baseline).

Per scenario, window, request name and percentile (p50/p95/p99) the new run's value is tested
against the stored runs' values from their HDR histograms (see `stats`). Many quantities are
tested at once, so the family-wise error is held with Bonferroni: a change is a regression when
its adjusted confidence 1 - m * (1 - confidence) reaches `--confidence` (default 0.95). A KPI
that passed in every stored run and fails now is a regression too. Exit codes as `compare`:
0 none, 1 a regression, 3 the new run is INVALID, 2 when no scenario has enough history.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from chaosgate.errors import EXIT_INVALID, EXIT_KPI_FAILED, EXIT_OK, InputError
from reports import hdr
from reports.history.record import definition_hash, window_histograms
from reports.history.stats import Judgement, bootstrap_log_sd, judge, percentile_ms
from reports.history.store import Store
from reports.model import RunResult

PERCENTILES = (50.0, 95.0, 99.0)
MIN_RUNS = 3
DEFAULT_RUNS = 10


@dataclass(frozen=True)
class Tested:
    scenario: str
    window: str
    request: str
    percentile: float
    judgement: Judgement
    adjusted: float = 0.0  # family-wise (Bonferroni) confidence
    regressed: bool = False


@dataclass(frozen=True)
class KpiFlip:
    scenario: str
    expression: str
    stored: int  # runs that passed it
    now: str


@dataclass
class HistoryComparison:
    new_run: str
    runs: int
    confidence: float
    tested: list[Tested] = field(default_factory=list)
    flips: list[KpiFlip] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    invalid: bool = False

    @property
    def regressions(self) -> list[Tested]:
        return [t for t in self.tested if t.regressed]

    @property
    def exit_code(self) -> int:
        if self.invalid:
            return EXIT_INVALID
        return EXIT_KPI_FAILED if self.regressions or self.flips else EXIT_OK


def parse_against(text: str) -> int:
    """ "history" -> DEFAULT_RUNS; "history:5" -> 5."""
    name, _, count = text.partition(":")
    if name != "history":
        raise InputError(f"--against {text!r}: expected history or history:N (e.g. history:5)")
    if not count:
        return DEFAULT_RUNS
    if not count.isdigit() or int(count) < MIN_RUNS:
        raise InputError(f"--against {text!r}: N must be a whole number >= {MIN_RUNS}")
    return int(count)


def compare_with_history(new: RunResult, store: Store, last: int, confidence: float = 0.95,
                         label: str | None = None) -> HistoryComparison:  # fmt: skip
    result = HistoryComparison(new.run.run_id, last, confidence, invalid=new.status == "invalid")
    if result.invalid:
        result.notes.append(f"new run {new.run.run_id} is INVALID: its numbers are not trustworthy")
    candidates: list[Tested] = []
    judged_any = False
    for scenario in new.scenarios:
        digest = definition_hash(scenario)
        run_ids = store.comparable_runs(digest, last, new.run.run_id, label)
        if len(run_ids) < MIN_RUNS:
            result.notes.append(f"{scenario.name}: {len(run_ids)} comparable stored run(s) "
                                f"(definition {digest}); {MIN_RUNS} needed: not judged")  # fmt: skip
            continue
        judged_any = True
        result.notes.append(f"{scenario.name}: against {len(run_ids)} stored run(s) of "
                            f"definition {digest}")  # fmt: skip
        stored: dict[tuple[str, str], dict[str, str]] = defaultdict(dict)
        for row in store.histograms(digest, run_ids):
            stored[(row.window, row.request)][row.run_id] = row.histogram
        order = {run_id: i for i, run_id in enumerate(run_ids)}  # newest first
        windows = window_histograms(scenario)
        whole = {w.request: w.histogram for w in windows if w.window == "whole"}
        for window in windows:
            history = stored.get((window.window, window.request), {})
            if len(history) < MIN_RUNS:
                continue
            if window.window != "whole" and whole.get(window.request) == window.histogram:
                continue  # a window that is the whole run (no faults): tested once, as whole
            runs = [hdr.decode(history[r]) for r in sorted(history, key=order.__getitem__)]
            now = hdr.decode(window.histogram)
            for p in PERCENTILES:
                values = [percentile_ms(h, p) for h in runs]
                new_ms = percentile_ms(now, p)
                if new_ms <= 0 or min(values) <= 0:
                    continue
                verdict = judge(values, new_ms, bootstrap_log_sd(now, p))
                candidates.append(Tested(scenario.name, window.window, window.request, p, verdict))
        result.flips += _flips(store, scenario.name, run_ids, new, scenario.name)
    if not judged_any and not result.invalid:
        raise InputError(
            f"compare --against history: no scenario of run {new.run.run_id} has {MIN_RUNS} "
            f"comparable stored runs in {store.where}",
            hint="store more runs (chaosgate history import DIR, or run the scenario again)",
        )
    tests = max(len(candidates), 1)
    for tested in candidates:
        adjusted = max(0.0, 1 - tests * (1 - tested.judgement.confidence))
        regressed = adjusted >= confidence and tested.judgement.relative > 0
        result.tested.append(
            Tested(
                tested.scenario,
                tested.window,
                tested.request,
                tested.percentile,
                tested.judgement,
                adjusted,
                regressed,
            )
        )
    return result


def _flips(
    store: Store, name: str, run_ids: list[str], new: RunResult, scenario: str
) -> list[KpiFlip]:
    points = [p for p in store.kpi_points(scenario=name) if p.run_id in set(run_ids)]
    passed: dict[str, int] = defaultdict(int)
    seen: dict[str, int] = defaultdict(int)
    for point in points:
        seen[point.expression] += 1
        passed[point.expression] += point.status == "pass"
    flips = []
    for s in new.scenarios:
        if s.name != scenario:
            continue
        for kpi in s.kpis:
            held = seen.get(kpi.expression, 0)
            if held >= MIN_RUNS and passed[kpi.expression] == held and kpi.status == "fail":
                flips.append(KpiFlip(scenario, kpi.expression, held, kpi.status))
    return flips


def render_markdown(comparison: HistoryComparison) -> str:
    lines = [f"# Run {comparison.new_run} against its history (last {comparison.runs} runs)", ""]
    lines += [f"- {note}" for note in comparison.notes]
    tests = len(comparison.tested)
    lines += [
        "",
        f"{tests} quantities tested; a regression needs a family-wise (Bonferroni over {tests}) "
        f"confidence of at least {comparison.confidence:.0%} that the new value is above the "
        "stored runs' spread (one-sided t prediction interval on log values).",
        "",
        "| scenario | window | quantity | stored runs, newest first (ms) | new (ms) | effect | sigmas | confidence | family-wise | verdict |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    shown = sorted(comparison.tested, key=lambda t: (not t.regressed, -t.judgement.confidence))
    for t in shown:
        j = t.judgement
        stored = " ".join(f"{v:.3g}" for v in j.history_ms)
        verdict = "**REGRESSION**" if t.regressed else "ok"
        lines.append(
            f"| {t.scenario} | {t.window} | p{t.percentile:g}({t.request}) | {stored} | "
            f"{j.new_ms:.3g} | {j.relative:+.1%} | {j.sigmas:+.1f} | {j.confidence:.4f} | "
            f"{t.adjusted:.4f} | {verdict} |"
        )
    for flip in comparison.flips:
        lines.append(f"\n**REGRESSION** {flip.scenario}: `{flip.expression}` passed in all "
                     f"{flip.stored} stored runs and fails now")  # fmt: skip
    count = len(comparison.regressions) + len(comparison.flips)
    lines += [
        "",
        f"**{count} regression(s)**" if count else "No regression beyond the stored runs' spread.",
    ]
    return "\n".join(lines) + "\n"

"""The KPI expression grammar: a tiny hand-written recursive-descent parser.

    kpi        := metric comparator quantity [ "during" window ]
    metric     := FUNCTION "(" argument ")"
    comparator := "<" | "<=" | ">" | ">=" | "=="
    quantity   := NUMBER [ unit ]           unit: us | ms | s | %
    window     := "baseline" | "whole" | "fault" | "recovery"
                | "fault:" NAME | "recovery:" NAME

Functions, their units and arguments are the registry's (`reports.kpi_functions.FUNCTIONS`):
    p50 p90 p95 p99 p999 avg max min (latency, ms)  argument: a request name, `*` (every HTTP
        request name, not `WS ...`) or a probe series (see below)
    error_rate (%)  count, rps (count)              argument: a request name or `*` (`*` takes
        in the WebSocket sends, "WS send")
    recovery, detect (s)                            argument: a fault name
    lost, duplicated, unacked (count), delivered (%) argument: `ws`
    amplification (count)                           argument: an edge, optionally ", REQUEST"
    returns (s, only `< Ns during recovery:FAULT`)  argument: a probe series (reports.kpi_cost)

Probe series: when the argument names no request but a numeric probe series (`ProbeSample.name`),
the latency functions aggregate the probe values in the window. `db_query` is such a series: the
probes time a `SELECT 1` through the Postgres proxy every sample (ms), i.e. the round trip the
SUT's own queries pay; `ready` (1/0) and `breaker.<dependency>` (0 closed, 1 half-open, 2 open)
are others, so `max(breaker.postgres) >= 2 during fault:pg-down` is a valid check.

A hand-written parser (rather than lark) because the grammar has one production and the caret
position for errors falls out of the scanner for free.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from chaosgate.errors import ExpressionError
from reports.kpi_functions import FUNCTIONS as REGISTRY
from reports.kpi_functions import KpiFunction, Unit
from reports.windows import fault_window, recovery_window

Comparator = Literal["<", "<=", ">", ">=", "=="]

# views of the registry for importers (recovery reads LATENCY); the parser reads REGISTRY itself
FUNCTIONS = frozenset(REGISTRY)
LATENCY = frozenset(n for n, e in REGISTRY.items() if e.argument == "probe-or-request")

# factor from a written unit to the canonical one
_CONVERT: dict[Unit, dict[str, float]] = {
    "ms": {"us": 0.001, "ms": 1.0, "s": 1000.0, "": 1.0},  # bare: the series' own unit
    "s": {"ms": 0.001, "s": 1.0},
    "%": {"%": 1.0},
    "count": {"": 1.0},
}
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NAME = re.compile(r"[A-Za-z0-9_.\-]+")


@dataclass(frozen=True)
class Kpi:
    """One parsed check. `threshold` is in `unit`; `window` is None for window-less functions."""

    text: str
    function: str
    argument: str
    comparator: Comparator
    threshold: float
    unit: Unit
    window: str | None

    @property
    def entry(self) -> KpiFunction:
        """The function's registry entry: unit, argument kind, measurement, evidence rule."""
        return REGISTRY[self.function]

    @property
    def is_windowed(self) -> bool:
        return self.entry.windowed


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, reason: str, at: int | None = None) -> ExpressionError:
        return ExpressionError(self.text, self.pos if at is None else at, reason)

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def match(self, pattern: re.Pattern[str]) -> str | None:
        self.skip_space()
        found = pattern.match(self.text, self.pos)
        if found is None:
            return None
        self.pos = found.end()
        return found.group()

    def literal(self, word: str) -> bool:
        self.skip_space()
        if self.text.startswith(word, self.pos):
            self.pos += len(word)
            return True
        return False

    def at_end(self) -> bool:
        self.skip_space()
        return self.pos >= len(self.text)


def parse_kpi(text: str) -> Kpi:
    """Parse one KPI expression; raise `ExpressionError` with a caret at the first problem."""
    scan = _Scanner(text)
    function, argument = _metric(scan)
    comparator = _comparator(scan)
    quantity_at = scan.pos
    threshold, unit = _quantity(scan, function)
    try:  # a form no evidence can ever show (e.g. `error_rate == 37%`) is refused here
        REGISTRY[function].needed(comparator, threshold)
    except ValueError as error:
        raise scan.fail(str(error), quantity_at) from None
    window = _window(scan, function)
    if not scan.at_end():
        raise scan.fail("unexpected text after the expression")
    return Kpi(text, function, argument, comparator, threshold, unit, window)


def _metric(scan: _Scanner) -> tuple[str, str]:
    start = scan.pos
    function = scan.match(_WORD)
    if function is None:
        raise scan.fail(f"expected a function, one of {', '.join(sorted(REGISTRY))}")
    if function not in REGISTRY:
        raise scan.fail(
            f"unknown function {function!r}; expected one of {', '.join(sorted(REGISTRY))}", start
        )
    if not scan.literal("("):
        raise scan.fail(f"expected '(' after {function}")
    open_at = scan.pos
    close = scan.text.find(")", open_at)
    if close < 0:
        raise scan.fail("missing ')'", len(scan.text))
    argument = scan.text[open_at:close].strip()
    if not argument:
        raise scan.fail(f"{function}() needs an argument", open_at)
    if "(" in argument:
        raise scan.fail("'(' inside an argument", open_at + scan.text[open_at:close].index("("))
    if REGISTRY[function].argument == "websocket" and argument != "ws":
        raise scan.fail(f"{function}() takes `ws`", open_at)
    scan.pos = close + 1
    return function, argument


def _comparator(scan: _Scanner) -> Comparator:
    symbols: tuple[Comparator, ...] = ("<=", ">=", "==", "<", ">")
    for symbol in symbols:
        if scan.literal(symbol):
            return symbol
    raise scan.fail("expected a comparator: <, <=, >, >= or ==")


def _quantity(scan: _Scanner, function: str) -> tuple[float, Unit]:
    number = scan.match(_NUMBER)
    if number is None:
        raise scan.fail("expected a number")
    unit_at = scan.pos
    word = _WORD.match(scan.text, scan.pos)
    written_text = "%" if scan.text.startswith("%", scan.pos) else (word.group() if word else "")
    canonical = REGISTRY[function].unit
    factors = _CONVERT[canonical]
    if written_text not in factors:
        expected = ", ".join(repr(u) for u in factors if u) or "no unit"
        if not written_text:
            raise scan.fail(f"{function} needs a unit: {expected}", unit_at)
        raise scan.fail(
            f"unit {written_text!r} does not fit {function}; expected {expected}", unit_at
        )
    scan.pos = unit_at + len(written_text)
    value = float(number) * factors[written_text]
    if canonical == "%" and value > 100:
        raise scan.fail("a percentage is at most 100", unit_at - len(number))
    return value, canonical


def _window(scan: _Scanner, function: str) -> str | None:
    if scan.at_end():
        return "whole" if REGISTRY[function].windowed else None
    at = scan.pos
    if scan.match(_WORD) != "during":
        raise scan.fail("expected 'during <window>' or the end", at)
    if not REGISTRY[function].windowed:
        raise scan.fail(f"{function} takes no window", at)
    scan.skip_space()
    at = scan.pos
    word = scan.match(_WORD)
    if word in ("baseline", "whole"):
        return word
    if word in ("fault", "recovery"):
        if not scan.literal(":"):
            return word
        name = scan.match(_NAME)
        if name is None:
            raise scan.fail(f"expected a fault name after '{word}:'")
        return fault_window(name) if word == "fault" else recovery_window(name)
    raise scan.fail("expected a window: baseline, whole, fault[:NAME] or recovery[:NAME]", at)

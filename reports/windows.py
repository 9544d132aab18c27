"""The window names, one contract: a KPI's `during` text, a phase's name and a verdict's window
are the same string, built and read only here.

    baseline | whole | fault | recovery | fault:<fault> | recovery:<fault>
"""

from __future__ import annotations

from typing import Literal

WindowKind = Literal["baseline", "whole", "fault", "recovery", "warmup"]
BASELINE = "baseline"
WHOLE = "whole"


def fault_window(fault: str) -> str:
    """The window while `fault` is on."""
    return f"fault:{fault}"


def recovery_window(fault: str) -> str:
    """The window after `fault` is removed."""
    return f"recovery:{fault}"


def window_kind(window: str) -> str:
    """`fault:pg-down` -> `fault`; `baseline` -> `baseline`."""
    return window.partition(":")[0]


def window_fault(window: str) -> str | None:
    """The fault a window names (`recovery:pg-down` -> `pg-down`); None for a window of all
    faults (`fault`, `recovery`) or none (`baseline`, `whole`)."""
    kind, colon, fault = window.partition(":")
    return fault if colon and kind in ("fault", "recovery") else None


def is_recovery_of_one(window: str | None) -> bool:
    return window is not None and window_kind(window) == "recovery" and bool(window_fault(window))

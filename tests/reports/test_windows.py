"""The window names, one contract (reports.windows): a KPI's `during`, a phase's name and a
verdict's window are the same string."""

from __future__ import annotations

import pytest

from reports.kpi_parse import parse_kpi
from reports.windows import (
    fault_window,
    is_recovery_of_one,
    recovery_window,
    window_fault,
    window_kind,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("fault", ["pg-down", "redis.flap_2"])
def test_a_kpi_names_the_window_its_phases_are_built_with(fault: str) -> None:
    assert parse_kpi(f"p95(*) < 1s during fault:{fault}").window == fault_window(fault)
    assert parse_kpi(f"p95(*) < 1s during recovery:{fault}").window == recovery_window(fault)
    assert window_fault(fault_window(fault)) == window_fault(recovery_window(fault)) == fault
    assert (window_kind(fault_window(fault)), window_kind(recovery_window(fault))) == ("fault", "recovery")  # fmt: skip


@pytest.mark.parametrize("window", ["baseline", "whole", "fault", "recovery"])
def test_windows_of_no_single_fault_name_none(window: str) -> None:
    assert window_fault(window) is None
    assert not is_recovery_of_one(window)
    assert is_recovery_of_one(recovery_window("x"))

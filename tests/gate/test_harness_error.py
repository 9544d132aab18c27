"""An unexpected exception inside a command is a harness error: exit 4, one line, a saved
traceback; never 1 (that means "a KPI failed") and never a raw traceback on the console."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from chaosgate import errors
from chaosgate.cli import main

pytestmark = pytest.mark.unit

RESULT = Path(__file__).parents[1] / "reports" / "result_pass.json"


def test_an_internal_error_exits_4_with_one_line_and_the_traceback_file(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import reports.compare

    def broken(*_args: object, **_kwargs: object) -> None:
        raise KeyError("rps")  # the kind of bug issue 15 item 7 saw mid-run

    monkeypatch.setattr(reports.compare, "compare_results", broken)
    with pytest.raises(SystemExit) as exited:
        main(["compare", str(RESULT), str(RESULT)])
    assert exited.value.code == errors.EXIT_HARNESS_ERROR == 4
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert "harness error" in err
    assert "KeyError: 'rps'" in err
    found = re.search(r"traceback saved to (\S+)$", err.strip())
    assert found, err
    saved = Path(found.group(1))
    try:
        text = saved.read_text()
        assert "Traceback (most recent call last)" in text
        assert "def broken" in text or "in broken" in text
    finally:
        saved.unlink()


def test_a_chaosgate_error_keeps_its_own_code_and_no_traceback_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["compare", str(RESULT), str(tmp_path / "absent.json")])
    assert exited.value.code == errors.EXIT_BAD_INPUT
    assert "traceback" not in capsys.readouterr().err

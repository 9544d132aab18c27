"""`chaosgate run --baseline`: a bad baseline is bad input, found before any stack starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaosgate.cli import main
from chaosgate.errors import EXIT_BAD_INPUT

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("content", "tolerance", "said"),
    [
        ("{not json", "10%", "base.json:1"),
        ('{"schema_version": "chaosgate.result/0"}', "10%", "chaosgate.result/0"),
        (None, "ten", "tolerance"),
    ],
)
def test_bad_baseline_or_tolerance_exits_2_before_running(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: str | None,
    tolerance: str,
    said: str,
) -> None:
    baseline = tmp_path / "base.json"
    source = Path("tests/reports").glob("result*.json")
    baseline.write_text(content if content is not None else next(iter(sorted(source))).read_text())
    with pytest.raises(SystemExit) as exited:
        main(["run", "baseline", "--check", "--baseline", str(baseline), "--tolerance", tolerance])
    assert exited.value.code == EXIT_BAD_INPUT
    error = capsys.readouterr().err
    assert said in error
    assert "Traceback" not in error

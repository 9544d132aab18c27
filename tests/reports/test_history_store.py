"""The results store in SQLite: migrations, refusals (nothing overwritten), import, the hook,
and regressions judged against stored runs. Postgres: test_history_postgres.py."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

import click
import pytest
import sqlalchemy as sa
from history_runs import KPI, synthetic_run

from chaosgate.cli import main
from chaosgate.errors import EXIT_BAD_INPUT, EXIT_KPI_FAILED, EXIT_OK, InputError
from reports.history.hook import history_options, remember
from reports.history.migrations import LATEST, MIGRATIONS
from reports.history.record import run_record
from reports.history.store import RUNS, open_store
from reports.renderers import render_json

pytestmark = pytest.mark.unit


def cli(args: list[str]) -> int:
    try:
        return int(main(args) or 0)
    except SystemExit as exited:
        return int(exited.code or 0)


def _write(directory: Path, index: int, **kwargs: object) -> Path:
    result = synthetic_run(index, **kwargs)  # type: ignore[arg-type]
    path = directory / result.run.run_id / "result.json"
    path.parent.mkdir(parents=True)
    path.write_text(render_json(result))
    return path


def test_runs_are_stored_once_and_listed_oldest_first(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "h.sqlite"))
    assert store.version() == LATEST
    for index in (2, 0, 1):
        assert store.append(run_record(synthetic_run(index), label="main"))
    assert not store.append(run_record(synthetic_run(1)))  # a stored run id is left as it is
    points = store.kpi_points()
    assert [p.run_id for p in points] == ["run-000-1", "run-001-1", "run-002-1"]
    assert {p.expression for p in points} == {KPI}
    assert all(p.samples == 1000 and p.status == "pass" for p in points)
    assert store.kpi_points(sut_version="1.2")[0].run_id == "run-002-1"
    assert store.kpi_points(label="nope") == []


def test_an_older_schema_is_migrated_and_keeps_its_runs(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    old = open_store(str(path), migrate_to=1)  # the first schema: no labels
    assert old.version() == 1
    with old.engine.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO runs VALUES ('r-old', 1.0, 'pass', '0.9', 'c', 'h', '0.1')")
        )
        conn.execute(
            sa.text("INSERT INTO scenario_runs VALUES ('r-old/0', 'r-old', 's', 'x', 'pass')")
        )
        conn.execute(sa.text("INSERT INTO kpi_values VALUES "
                             "('r-old/0', 0, 'error_rate < 1%', 'whole', '%', '<', 1, 0.5, 10, 'pass')"))  # fmt: skip
    new = open_store(str(path))
    assert new.version() == LATEST == 2
    [point] = new.kpi_points()
    assert (point.run_id, point.measured, point.label, point.sut_version) == (
        "r-old",
        0.5,
        None,
        "0.9",
    )
    assert new.append(run_record(synthetic_run(1), label="main"))  # the new column is writable


def _refused(path: Path, capsys: pytest.CaptureFixture[str], said: str) -> None:
    before = path.read_bytes()
    assert cli(["history", "--history", str(path)]) == EXIT_BAD_INPUT
    assert cli(["history", "--history", str(path), "import", str(path.parent / "none")]) in (2,)
    error = capsys.readouterr().err
    assert said in error
    assert "Traceback" not in error
    assert path.read_bytes() == before  # nothing overwritten


def test_a_garbage_file_is_refused_and_left_as_it_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "h.sqlite"
    path.write_bytes(bytes(range(256)) * 64)
    _refused(path, capsys, "not an SQLite database")


def test_a_damaged_store_is_refused_and_left_as_it_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "h.sqlite"
    store = open_store(str(path))
    for index in range(3):
        store.append(run_record(synthetic_run(index)))
    store.engine.dispose()
    data = bytearray(path.read_bytes())
    data[100:4096] = b"\xde\xad\xbe\xef" * ((4096 - 100) // 4)  # header kept, schema page garbage
    path.write_bytes(bytes(data))
    _refused(path, capsys, "history store")


def test_a_newer_store_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "h.sqlite"
    open_store(str(path)).engine.dispose()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE schema_version SET version = 99")
    conn.close()
    _refused(path, capsys, "schema version 99")


def test_another_database_is_not_taken_for_a_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "app.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE users (id INTEGER)")
    conn.close()
    _refused(path, capsys, "not a chaosgate history store")


def test_import_counts_imported_skipped_and_bad(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    artifacts = tmp_path / "ci"
    for index in range(3):
        _write(artifacts / "nested", index)
    (artifacts / "broken").mkdir()
    (artifacts / "broken" / "result.json").write_text("{not json")
    store = str(tmp_path / "h.sqlite")
    assert cli(["history", "--history", store, "import", str(artifacts)]) == EXIT_BAD_INPUT
    out = capsys.readouterr()
    assert "imported 3, skipped 0 (already stored), bad 1" in out.out
    assert "result.json:1" in out.err  # the bad file, named
    (artifacts / "broken" / "result.json").unlink()
    assert cli(["history", "--history", store, "import", str(artifacts)]) == EXIT_OK
    assert "imported 0, skipped 3 (already stored), bad 0" in capsys.readouterr().out


@click.command()
@history_options
@click.option("--index", type=int)
def _fake_run(index: int) -> None:
    remember(synthetic_run(index))


def test_remember_never_turns_a_verdict_into_a_harness_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"x" * 4096)
    # a store the user named: exit 2 with the reason and the run's own verdict
    with pytest.raises(InputError, match=r"run run-001-1 itself: PASS, exit 0"):
        _fake_run.main(["--history", str(garbage), "--index", "1"], standalone_mode=False)
    # the default store failing: a warning, the command goes on
    monkeypatch.delenv("CHAOSGATE_HISTORY", raising=False)
    monkeypatch.setattr("reports.history.store.default_location", lambda: str(garbage))
    _fake_run.main(["--index", "1"], standalone_mode=False)
    assert "warning: run not remembered" in capsys.readouterr().err
    assert garbage.read_bytes() == b"x" * 4096
    # CHAOSGATE_HISTORY and CHAOSGATE_LABEL
    good = tmp_path / "good.sqlite"
    monkeypatch.setenv("CHAOSGATE_HISTORY", str(good))
    monkeypatch.setenv("CHAOSGATE_LABEL", "release-1.4")
    _fake_run.main(["--index", "2"], standalone_mode=False)
    [point] = open_store(str(good)).kpi_points()
    assert (point.run_id, point.label) == ("run-002-1", "release-1.4")


def _store_healthy(tmp_path: Path, count: int) -> str:
    store = open_store(str(tmp_path / "h.sqlite"))
    for index in range(count):
        store.append(run_record(synthetic_run(index)))
    return str(tmp_path / "h.sqlite")


def test_a_planted_slowdown_is_a_regression_with_its_confidence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Synthetic histograms: 5 healthy stored runs (median 20 ms, 3% run-to-run jitter), then a
    run 30% slower everywhere."""
    store = _store_healthy(tmp_path, 5)
    slow = _write(tmp_path / "new", 100, slowdown=1.3)
    code = cli(["compare", "--against", "history:5", str(slow), "--history", store])
    out = capsys.readouterr().out
    assert code == EXIT_KPI_FAILED, out
    assert "against 5 stored run(s)" in out
    row = next(line for line in out.splitlines() if "| baseline | p95(GET /api/items)" in line)
    cells = [c.strip() for c in row.split("|")]
    effect, family = float(cells[6].rstrip("%")), float(cells[9])
    assert 20 < effect < 40
    assert family >= 0.95
    assert "REGRESSION" in row


@pytest.mark.parametrize("seed", [201, 202, 203])
def test_healthy_runs_are_no_regression(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], seed: int
) -> None:
    store = _store_healthy(tmp_path, 5)
    healthy = _write(tmp_path / "new", seed, seed=seed)
    code = cli(["compare", "--against", "history:5", str(healthy), "--history", store])
    out = capsys.readouterr().out
    assert code == EXIT_OK, out
    assert "No regression beyond the stored runs' spread" in out
    assert re.search(r"\d+ quantities tested", out)


def test_too_little_history_is_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = _store_healthy(tmp_path, 2)
    new = _write(tmp_path / "new", 50)
    assert (
        cli(["compare", "--against", "history:5", str(new), "--history", store]) == EXIT_BAD_INPUT
    )
    assert "3 comparable stored runs" in capsys.readouterr().err
    assert cli(["compare", "--against", "latest", str(new), "--history", store]) == EXIT_BAD_INPUT


def test_history_table_and_trend_page(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = _store_healthy(tmp_path, 4)
    page = tmp_path / "trend.html"
    assert cli(["history", "--history", store, "--kpi", KPI, "--html", str(page)]) == EXIT_OK
    out = capsys.readouterr().out
    assert "steady" in out
    assert "1.0, 1.1, 1.2, 1.3" in out
    html = page.read_text()
    assert html.count("<svg") == 1
    assert "1.3" in html
    assert cli(["history", "--history", store, "--scenario", "other"]) == EXIT_OK
    assert "no stored runs match" in capsys.readouterr().out
    with open_store(store).engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(RUNS)).scalar() == 4


def test_the_definition_hash_ignores_sut_overrides_only() -> None:
    from reports.history.record import definition_hash

    scenario = synthetic_run(1).scenarios[0]
    plain: dict[str, Any] = {
        "name": "s",
        "load": {"rps": 5},
        "stack": {"requires": [], "sut_overrides": {}},
    }
    weakened = {**plain, "stack": {"requires": [], "sut_overrides": {"postgres.slow_query_ms": 50}}}
    other_load = {**plain, "load": {"rps": 6}}

    def digest(definition: dict[str, Any]) -> str:
        return definition_hash(scenario.model_copy(update={"scenario": definition}))

    assert digest(plain) == digest(weakened)  # a weakened SUT is another SUT, same scenario
    assert digest(plain) != digest(other_load)


def test_a_failed_migration_step_leaves_the_store_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reports.history import store as store_module

    path = tmp_path / "old.sqlite"
    open_store(str(path), migrate_to=1).engine.dispose()

    def half_done(conn: sa.Connection) -> None:
        conn.execute(sa.text("ALTER TABLE runs ADD COLUMN label VARCHAR(200)"))
        conn.execute(sa.text("CREATE INDEX broken ON no_such_table (x)"))

    monkeypatch.setattr(store_module, "MIGRATIONS", (MIGRATIONS[0], half_done))
    with pytest.raises(InputError, match="migrate it to schema version 2"):
        open_store(str(path))
    monkeypatch.undo()
    with sqlite3.connect(path) as conn:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(runs)")]
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(1,)]
    conn.close()
    assert "label" not in columns  # the ALTER was rolled back with the failed step
    assert open_store(str(path)).version() == LATEST


def test_messages_never_show_a_store_password(capsys: pytest.CaptureFixture[str]) -> None:
    url = "postgresql://ci:s3cret@127.0.0.1:1/nothing"
    assert cli(["history", "--history", url]) == EXIT_BAD_INPUT
    error = capsys.readouterr().err
    assert "s3cret" not in error
    assert "ci:***@127.0.0.1:1/nothing" in error


def test_baseline_label_picks_the_runs_to_judge_against(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(tmp_path / "h.sqlite")
    store = open_store(path)
    for index in range(5):
        store.append(run_record(synthetic_run(index), label="main"))
    for index in range(10, 15):  # newer, and already slow: the last 5 runs of any label
        store.append(run_record(synthetic_run(index, slowdown=1.3), label="feature"))
    slow = _write(tmp_path / "new", 100, slowdown=1.3)
    against = ["compare", "--against", "history:5", str(slow), "--history", path]
    assert cli(against) == EXIT_OK
    assert cli([*against, "--baseline-label", "main"]) == EXIT_KPI_FAILED
    assert "**REGRESSION**" in capsys.readouterr().out

"""The same store in a real Postgres (a local server started like the stack's, by PID): the
`history` table it prints is the one the SQLite store prints for the same 10 runs, and
`compare --against history` judges alike."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from history_runs import synthetic_run

from chaosgate.cli import main
from chaosgate.errors import EXIT_BAD_INPUT, EXIT_KPI_FAILED
from chaosgate.processes import free_port
from fixtures.local.services import LocalService, start_postgres
from reports.history.migrations import LATEST
from reports.history.record import run_record
from reports.history.store import open_store
from reports.renderers import render_json

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def postgres() -> Iterator[LocalService]:
    workdir = Path(tempfile.mkdtemp(prefix="history-pg-"))
    service = start_postgres(workdir / "pg", free_port())
    try:
        yield service
    finally:
        service.process.stop(10)
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def pg_url(postgres: LocalService, request: pytest.FixtureRequest) -> str:
    """A fresh database per test."""
    name = "h_" + "".join(c if c.isalnum() else "_" for c in request.node.name.lower())[:40]
    admin = f"postgresql://postgres@{postgres.host}:{postgres.port}/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql://postgres@{postgres.host}:{postgres.port}/{name}"


def cli(args: list[str]) -> int:
    try:
        return int(main(args) or 0)
    except SystemExit as exited:
        return int(exited.code or 0)


def test_history_prints_the_same_table_from_sqlite_and_postgres(
    tmp_path: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    sqlite = str(tmp_path / "h.sqlite")
    for location in (sqlite, pg_url):
        store = open_store(location)
        assert store.version() == LATEST
        for index in range(10):
            assert store.append(run_record(synthetic_run(index, slowdown=1.0 + (index == 7))))
        assert not store.append(run_record(synthetic_run(3)))
        store.engine.dispose()
    tables = []
    for location in (sqlite, pg_url):
        assert cli(["history", "--history", location]) == 0
        text = capsys.readouterr().out
        tables.append(text.split("\n", 1)[1])  # below the title, which names the store
    assert tables[0] == tables[1]
    assert "1.0, 1.1, 1.2, 1.3" not in tables[0]  # the last four versions are shown
    assert "1.6, 1.7, 1.8, 1.9" in tables[0]
    assert "10" in tables[0]
    print(tables[0])


def test_postgres_store_judges_a_slowdown(
    tmp_path: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    store = open_store(pg_url)
    for index in range(5):
        store.append(run_record(synthetic_run(index)))
    store.engine.dispose()
    slow = tmp_path / "new.json"
    slow.write_text(render_json(synthetic_run(100, slowdown=1.3)))
    assert (
        cli(["compare", "--against", "history:5", str(slow), "--history", pg_url])
        == EXIT_KPI_FAILED
    )
    assert "REGRESSION" in capsys.readouterr().out


def test_a_newer_postgres_store_is_refused(pg_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    open_store(pg_url).engine.dispose()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("UPDATE schema_version SET version = 7")
    assert cli(["history", "--history", pg_url]) == EXIT_BAD_INPUT
    assert "schema version 7" in capsys.readouterr().err
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchone() == (7,)


def test_an_unreachable_postgres_is_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"
    assert cli(["history", "--history", url]) == EXIT_BAD_INPUT
    assert "cannot read it" in capsys.readouterr().err

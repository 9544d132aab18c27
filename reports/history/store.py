"""The results store: one SQL layer (SQLAlchemy Core) over an embedded SQLite file or a team's
Postgres (`postgresql://...`, driven by psycopg 3).

The schema is versioned: `schema_version` holds one row, `MIGRATIONS` are ordered steps, each
run in the transaction that bumps the version. A store that cannot be read, is not a chaosgate
store, or was written by a newer chaosgate is refused with `InputError` (exit 2) before
anything is written; a run is appended in one transaction, and a run id already stored is
left as it is (never overwritten).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from chaosgate.errors import InputError
from reports.history.migrations import LATEST, MIGRATIONS
from reports.history.record import RunRecord

ENV = "CHAOSGATE_HISTORY"
OFF = "off"  # CHAOSGATE_HISTORY=off: remember nothing


def default_location() -> str:
    """The embedded store under the XDG state dir chaosgate already uses (fixtures.listen_ports)."""
    return str(Path(platformdirs.user_state_dir("chaosgate")) / "history.sqlite")


def engine_url(location: str) -> str:
    """A path, `sqlite:///...`, or `postgresql://...` -> an SQLAlchemy URL (psycopg 3)."""
    for scheme in ("postgresql://", "postgres://"):
        if location.startswith(scheme):
            return "postgresql+psycopg://" + location[len(scheme) :]
    if "://" in location:
        return location
    return f"sqlite:///{Path(location).expanduser()}"


def _where(location: str) -> str:
    """The location for messages: a file as its path, a URL without its password."""
    url = engine_url(location)
    if url.startswith("sqlite:///"):
        return url[len("sqlite:///") :]
    return sa.engine.make_url(url).render_as_string(hide_password=True)


# the current schema, for reads and writes
_meta = sa.MetaData()
RUNS = sa.Table("runs", _meta, sa.Column("run_id", sa.String), sa.Column("started_at", sa.Float),
                sa.Column("status", sa.String), sa.Column("sut_version", sa.String),
                sa.Column("commit_sha", sa.String), sa.Column("hostname", sa.String),
                sa.Column("chaosgate_version", sa.String), sa.Column("label", sa.String))  # fmt: skip
SCENARIOS = sa.Table("scenario_runs", _meta, sa.Column("key", sa.String), sa.Column("run_id", sa.String),
                     sa.Column("name", sa.String), sa.Column("definition_hash", sa.String),
                     sa.Column("status", sa.String))  # fmt: skip
KPIS = sa.Table("kpi_values", _meta, sa.Column("scenario_key", sa.String), sa.Column("position", sa.Integer),
                sa.Column("expression", sa.Text), sa.Column("window", sa.String), sa.Column("unit", sa.String),
                sa.Column("comparator", sa.String), sa.Column("threshold", sa.Float),
                sa.Column("measured", sa.Float), sa.Column("samples", sa.Integer),
                sa.Column("status", sa.String))  # fmt: skip
HISTOGRAMS = sa.Table("window_histograms", _meta, sa.Column("scenario_key", sa.String),
                      sa.Column("window", sa.String), sa.Column("request", sa.Text),
                      sa.Column("count", sa.Integer), sa.Column("histogram", sa.Text))  # fmt: skip
VERSION = sa.Table("schema_version", _meta, sa.Column("version", sa.Integer))


@dataclass(frozen=True)
class KpiPoint:
    """One KPI of one stored run, for the history table and trend page."""

    scenario: str
    definition_hash: str
    expression: str
    unit: str
    run_id: str
    started_at: float
    sut_version: str | None
    label: str | None
    measured: float | None
    samples: int | None
    status: str
    threshold: float | None = None


@dataclass(frozen=True)
class StoredHistogram:
    run_id: str
    started_at: float
    window: str
    request: str
    histogram: str


class Store:
    def __init__(self, location: str, engine: Engine) -> None:
        self.location = location
        self.engine = engine

    @property
    def where(self) -> str:
        """The location for messages: a URL's password hidden."""
        return _where(self.location)

    @contextmanager
    def _refusing(self, doing: str) -> Iterator[None]:
        """Database errors become exit 2 naming the store."""
        try:
            yield
        except sa.exc.SQLAlchemyError as error:
            cause = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
            raise InputError(
                f"history store {_where(self.location)}: cannot {doing}: {cause}",
                hint="point --history or CHAOSGATE_HISTORY at another store; this one is left as it is",
            ) from None

    def version(self) -> int:
        with self._refusing("read it"), self.engine.connect() as conn:
            return _version(conn, self.location)

    def migrate(self, to: int = LATEST) -> int:
        """Bring the schema to `to` (one transaction per step); the version reached."""
        with self._refusing("read it"), self.engine.begin() as conn:
            current = _version(conn, self.location)
            if current > LATEST:
                raise InputError(
                    f"history store {_where(self.location)} has schema version {current}; this "
                    f"chaosgate reads up to {LATEST}",
                    hint="upgrade chaosgate (the store is left as it is)",
                )
        for step in range(current, to):
            with (
                self._refusing(f"migrate it to schema version {step + 1}"),
                self.engine.begin() as conn,
            ):
                MIGRATIONS[step](conn)
                if step == 0:
                    VERSION.create(conn)
                    conn.execute(VERSION.insert().values(version=1))
                else:
                    conn.execute(VERSION.update().values(version=step + 1))
        return max(current, to)

    def has_run(self, run_id: str) -> bool:
        with self._refusing("read it"), self.engine.connect() as conn:
            found = conn.execute(sa.select(RUNS.c.run_id).where(RUNS.c.run_id == run_id)).first()
            return found is not None

    def append(self, record: RunRecord) -> bool:
        """Store one run in one transaction; False (nothing written) when its id is stored."""
        with self._refusing("write to it"), self.engine.begin() as conn:
            if conn.execute(sa.select(RUNS.c.run_id).where(RUNS.c.run_id == record.run_id)).first():
                return False
            conn.execute(RUNS.insert().values(
                run_id=record.run_id, started_at=record.started_at, status=record.status,
                sut_version=record.sut_version, commit_sha=record.commit, hostname=record.hostname,
                chaosgate_version=record.chaosgate_version, label=record.label))  # fmt: skip
            for index, scenario in enumerate(record.scenarios):
                key = f"{record.run_id}/{index}"
                conn.execute(SCENARIOS.insert().values(
                    key=key, run_id=record.run_id, name=scenario.name,
                    definition_hash=scenario.definition_hash, status=scenario.status))  # fmt: skip
                if scenario.kpis:
                    conn.execute(KPIS.insert(), [
                        {"scenario_key": key, "position": i, "expression": k.expression,
                         "window": k.window, "unit": k.unit, "comparator": k.comparator,
                         "threshold": k.threshold, "measured": k.measured,
                         "samples": k.samples, "status": k.status}
                        for i, k in enumerate(scenario.kpis)])  # fmt: skip
                if scenario.histograms:
                    conn.execute(HISTOGRAMS.insert(), [
                        {"scenario_key": key, "window": h.window, "request": h.request,
                         "count": h.count, "histogram": h.histogram}
                        for h in scenario.histograms])  # fmt: skip
        return True

    def kpi_points(self, scenario: str | None = None, kpi: str | None = None,
                   sut_version: str | None = None, label: str | None = None) -> list[KpiPoint]:  # fmt: skip
        """Every stored KPI value matching the filters, oldest run first."""
        query = (
            sa.select(
                SCENARIOS.c.name,
                SCENARIOS.c.definition_hash,
                KPIS.c.expression,
                KPIS.c.unit,
                RUNS.c.run_id,
                RUNS.c.started_at,
                RUNS.c.sut_version,
                RUNS.c.label,
                KPIS.c.measured,
                KPIS.c.samples,
                KPIS.c.status,
                KPIS.c.threshold,
            )
            .select_from(
                KPIS.join(SCENARIOS, KPIS.c.scenario_key == SCENARIOS.c.key).join(
                    RUNS, SCENARIOS.c.run_id == RUNS.c.run_id
                )
            )
            .order_by(SCENARIOS.c.name, RUNS.c.started_at, RUNS.c.run_id, KPIS.c.position)
        )
        for column, value in ((SCENARIOS.c.name, scenario), (KPIS.c.expression, kpi),
                              (RUNS.c.sut_version, sut_version), (RUNS.c.label, label)):  # fmt: skip
            if value is not None:
                query = query.where(column == value)
        with self._refusing("read it"), self.engine.connect() as conn:
            return [KpiPoint(*row) for row in conn.execute(query)]

    def comparable_runs(self, definition_hash: str, last: int, exclude_run: str,
                        label: str | None = None) -> list[str]:  # fmt: skip
        """Run ids of the last `last` valid runs of this definition (newest first)."""
        query = (
            sa.select(RUNS.c.run_id)
            .select_from(SCENARIOS.join(RUNS, SCENARIOS.c.run_id == RUNS.c.run_id))
            .where(SCENARIOS.c.definition_hash == definition_hash)
            .where(SCENARIOS.c.status != "invalid")
            .where(RUNS.c.run_id != exclude_run)
            .order_by(RUNS.c.started_at.desc(), RUNS.c.run_id.desc())
            .limit(last)
        )
        if label is not None:
            query = query.where(RUNS.c.label == label)
        with self._refusing("read it"), self.engine.connect() as conn:
            return [row[0] for row in conn.execute(query)]

    def histograms(self, definition_hash: str, run_ids: Sequence[str]) -> list[StoredHistogram]:
        query = (
            sa.select(
                RUNS.c.run_id,
                RUNS.c.started_at,
                HISTOGRAMS.c.window,
                HISTOGRAMS.c.request,
                HISTOGRAMS.c.histogram,
            )
            .select_from(
                HISTOGRAMS.join(SCENARIOS, HISTOGRAMS.c.scenario_key == SCENARIOS.c.key).join(
                    RUNS, SCENARIOS.c.run_id == RUNS.c.run_id
                )
            )
            .where(SCENARIOS.c.definition_hash == definition_hash)
            .where(RUNS.c.run_id.in_(list(run_ids)))
        )
        with self._refusing("read it"), self.engine.connect() as conn:
            return [StoredHistogram(*row) for row in conn.execute(query)]


def _version(conn: Connection, location: str) -> int:
    tables = set(sa.inspect(conn).get_table_names())
    if "schema_version" not in tables:
        if tables:
            raise InputError(
                f"{_where(location)} is not a chaosgate history store (tables: "
                f"{', '.join(sorted(tables)[:5])}) and is left as it is"
            )
        return 0
    rows = conn.execute(sa.select(VERSION.c.version)).all()
    if len(rows) != 1 or not isinstance(rows[0][0], int):
        raise InputError(f"history store {_where(location)}: schema_version is damaged ({rows!r})")
    return int(rows[0][0])


def open_store(location: str, migrate_to: int = LATEST) -> Store:
    """Open (create when absent) and migrate the store at `location`; InputError if unusable."""
    url = engine_url(location)
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///") :])
        if path.exists() and not path.is_file():
            raise InputError(f"history store {path} is not a file")
        if path.is_file() and path.stat().st_size and not _looks_like_sqlite(path):
            raise InputError(
                f"history store {path} is not an SQLite database (corrupted or another file); "
                "left as it is",
                hint="point --history or CHAOSGATE_HISTORY at another store",
            )
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise InputError(f"history store {path}: cannot create its folder: {error}") from None
    try:
        # no pool: a command opens the store for a few statements; nothing stays connected
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    except (sa.exc.ArgumentError, ImportError) as error:
        raise InputError(
            f"history store {location!r}: not a usable database URL: {error}"
        ) from None
    if engine.dialect.name == "sqlite":
        _transactional_ddl(engine)
    store = Store(location, engine)
    store.migrate(migrate_to)
    return store


def _transactional_ddl(engine: Engine) -> None:
    """Python's sqlite3 commits before DDL on its own; SQLAlchemy's documented recipe hands
    transactions to SQLAlchemy, so a migration step (ALTER, CREATE INDEX, version bump) is all
    or nothing."""

    @sa.event.listens_for(engine, "connect")
    def _no_implicit_commit(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN")


def _looks_like_sqlite(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(16) == b"SQLite format 3\x00"


def configured_location(given: str | None) -> tuple[str | None, bool]:
    """(location, explicit): --history, else CHAOSGATE_HISTORY, else the default store;
    None when switched off. `explicit` says the user asked for this store."""
    if given is not None:
        return (None if given == OFF else given), True
    env = os.environ.get(ENV)
    if env:
        return (None if env == OFF else env), True
    return default_location(), False

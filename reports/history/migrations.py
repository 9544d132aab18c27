"""The store's schema as ordered migration steps: step i brings version i to i + 1, in the
transaction that records the new version (reports.history.store.Store.migrate). Never edit a
released step; add the next one."""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection


def _v1(conn: Connection) -> None:
    meta = sa.MetaData()
    sa.Table("runs", meta,
             sa.Column("run_id", sa.String(128), primary_key=True),
             sa.Column("started_at", sa.Float, nullable=False),
             sa.Column("status", sa.String(16), nullable=False),
             sa.Column("sut_version", sa.String(200)),
             sa.Column("commit_sha", sa.String(64)),
             sa.Column("hostname", sa.String(200), nullable=False),
             sa.Column("chaosgate_version", sa.String(64), nullable=False))  # fmt: skip
    sa.Table("scenario_runs", meta,
             sa.Column("key", sa.String(160), primary_key=True),  # run_id/index
             sa.Column("run_id", sa.String(128), sa.ForeignKey("runs.run_id"), nullable=False),
             sa.Column("name", sa.String(200), nullable=False),
             sa.Column("definition_hash", sa.String(64), nullable=False),
             sa.Column("status", sa.String(16), nullable=False))  # fmt: skip
    sa.Table("kpi_values", meta,
             sa.Column("scenario_key", sa.String(160), sa.ForeignKey("scenario_runs.key"), nullable=False),
             sa.Column("position", sa.Integer, nullable=False),
             sa.Column("expression", sa.Text, nullable=False),
             sa.Column("window", sa.String(200), nullable=False),
             sa.Column("unit", sa.String(16), nullable=False),
             sa.Column("comparator", sa.String(4), nullable=False),
             sa.Column("threshold", sa.Float, nullable=False),
             sa.Column("measured", sa.Float),
             sa.Column("samples", sa.Integer),
             sa.Column("status", sa.String(16), nullable=False))  # fmt: skip
    sa.Table("window_histograms", meta,
             sa.Column("scenario_key", sa.String(160), sa.ForeignKey("scenario_runs.key"), nullable=False),
             sa.Column("window", sa.String(200), nullable=False),
             sa.Column("request", sa.Text, nullable=False),
             sa.Column("count", sa.Integer, nullable=False),
             sa.Column("histogram", sa.Text, nullable=False))  # fmt: skip
    meta.create_all(conn)


def _v2(conn: Connection) -> None:
    """The branch label (`--label`, CHAOSGATE_LABEL) and lookups by definition."""
    conn.execute(sa.text("ALTER TABLE runs ADD COLUMN label VARCHAR(200)"))
    conn.execute(sa.text("CREATE INDEX ix_scenario_runs_hash ON scenario_runs (definition_hash)"))


MIGRATIONS: tuple[Callable[[Connection], None], ...] = (_v1, _v2)
LATEST = len(MIGRATIONS)

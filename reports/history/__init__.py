"""Every run remembered: a results store (SQLite by default, Postgres shared by URL), the
`chaosgate history` table and trend page, import of old result files, and regressions judged
against the stored runs (`chaosgate compare --against history[:N]`).

    record.py   a RunResult -> the rows the store keeps (definition hash, KPIs, window histograms)
    store.py    the SQL layer (SQLAlchemy Core), refusing what it cannot read; migrations.py its schema steps
    hook.py     `--history` / `--label` options and the one call each command makes
    cli.py      `chaosgate history` (table, --html) and `chaosgate history import DIR`
    trend.py    the HTML page with one trend plot per KPI
    against.py  a new run against its history (stats.py: the prediction interval); compare_cli.py its options
"""

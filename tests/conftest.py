"""Session-wide guard: the session fails if any process, temp dir or container it started remains."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]


@pytest.hookimpl(trylast=True)  # after the runner tore down session fixtures
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    from fixtures.leftovers import find_leftovers

    found = find_leftovers()
    if not found:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    lines = ["leftovers after the session (each one is a teardown bug):", *found]
    if reporter is not None:
        reporter.write_sep("=", "LEFTOVERS", red=True)
        for line in lines:
            reporter.write_line(line, red=True)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED

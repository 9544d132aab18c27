"""Containers tier: a real Docker engine and the locally built images (fixtures/images/build.sh).

In CI (`CI=true`) a missing engine or image FAILS the tests; elsewhere they are skipped with
the reason and the command that fixes it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chaosgate.settings import HarnessSettings, load_settings
from fixtures.pytest_plugin import missing_component
from fixtures.stack import Stack


def docker_or_fail(settings: HarnessSettings) -> None:
    from fixtures.backends import docker_problem

    problem = docker_problem(settings)
    if problem is None:
        return
    missing_component(f"containers tier: {problem}; run `bash fixtures/images/build.sh`")


@pytest.fixture(scope="session")
def container_settings() -> HarnessSettings:
    settings = load_settings(network="host")
    docker_or_fail(settings)
    return settings


@pytest.fixture(scope="session")
def container_stack(container_settings: HarnessSettings) -> Iterator[Stack]:
    """The full reference stack as containers on host networking, for the whole module set."""
    from fixtures.backends import open_stack

    with open_stack(container_settings, backend="containers") as stack:
        yield stack


@pytest.fixture
def cstack(container_stack: Stack) -> Iterator[Stack]:
    """The session's container stack, put back to clean after each test."""
    yield container_stack
    container_stack.toxiproxy.reset()
    for control in container_stack.controls.values():
        if control.is_paused():
            control.resume()
        if not control.is_running():
            control.restart()

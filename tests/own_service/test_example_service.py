"""The example service serves its routes, and a Postgres blackhole tells its two modes apart.

Measured directly (an open-model sender here, the proxy toxic through Toxiproxy's API), no
`chaosgate run`: the naive service hangs on its pooled connections and never recovers; the
resilient one fails fast while Postgres is gone and recovers within seconds of the heal.
"""

from __future__ import annotations

import httpx
import pytest
from example_outage import TIMEOUT_S, measure_outage
from example_support import ExampleStack

pytestmark = pytest.mark.integration


def test_the_service_serves_its_routes(example: ExampleStack) -> None:
    base = example.start(resilient=False)
    with httpx.Client(base_url=base, timeout=5) as client:
        health = client.get("/healthz")
        assert health.status_code == 200, health.text
        assert health.json()["status"] == "ok"
        assert health.json()["checks"]["postgres"]["response_time_ms"] >= 0
        assert client.get("/version").json() == {"version": "1.0.0", "mode": "naive"}
        assert [item["id"] for item in client.get("/items", params={"limit": 3}).json()] == [
            1,
            2,
            3,
        ]
        assert client.get("/items/7").json() == {"id": 7, "name": "item-7"}
        assert client.get("/items/999999").status_code == 404
        created = client.post("/items", json={"name": "made-here"})
        assert created.status_code == 201
        assert client.get(f"/items/{created.json()['id']}").json()["name"] == "made-here"
        routes = set(client.get("/openapi.json").json()["paths"])
        assert {"/items", "/items/{item_id}", "/healthz", "/version"} <= routes


def test_health_says_down_when_postgres_is_gone(example: ExampleStack) -> None:
    base = example.start(resilient=True)
    with httpx.Client(base_url=base, timeout=5) as client:
        assert client.get("/healthz").status_code == 200
        example.toxiproxy.set_enabled("postgres", False)
        health = client.get("/healthz")
        assert health.status_code == 503
        assert health.json()["status"] == "down"
        example.toxiproxy.set_enabled("postgres", True)


def test_naive_service_hangs_while_postgres_is_unreachable(example: ExampleStack) -> None:
    base = example.start(resilient=False)
    figures, _ = measure_outage(base, example.cut, example.heal, rps=20, at_s=3, for_s=6)
    print("naive:", figures.line())
    assert figures.baseline_errors == 0.0, figures.line()
    # no DB timeout: every request waits until the client gives up (TIMEOUT_S), none fails fast
    assert figures.fault_p95_s >= TIMEOUT_S * 0.95, figures.line()
    # (those sent in the last TIMEOUT_S before the heal are served after it)
    assert figures.fault_errors > 0.5, figures.line()
    assert figures.recovery_s is not None, figures.line()  # the heal closes the held connections


def test_resilient_service_fails_fast_and_recovers(example: ExampleStack) -> None:
    base = example.start(resilient=True)
    figures, _ = measure_outage(base, example.cut, example.heal, rps=20, at_s=3, for_s=6)
    print("resilient:", figures.line())
    assert figures.baseline_errors == 0.0, figures.line()
    assert figures.fault_errors > 0.9, figures.line()  # Postgres is gone: 503s, but at once
    # the 0.5 s DB timeout, then the open breaker answers at once (the scenario's KPI: < 1 s)
    assert figures.fault_p95_s < 1.0, figures.line()
    assert figures.recovery_s is not None, figures.line()
    assert figures.recovery_s < 5.0, figures.line()  # the breaker's 2 s open wait + slack


def test_a_proxy_down_does_not_tell_the_modes_apart(example: ExampleStack) -> None:
    """Why pg-down.yaml blackholes Postgres instead of `fault: down`: a disabled proxy cuts the
    connections and refuses new ones, so even the naive service fails fast and reconnects."""
    base = example.start(resilient=False)
    figures, _ = measure_outage(
        base,
        lambda: example.toxiproxy.set_enabled("postgres", False),
        lambda: example.toxiproxy.set_enabled("postgres", True),
        rps=20,
        at_s=3,
        for_s=6,
    )
    print("naive, proxy down:", figures.line())
    assert figures.fault_errors > 0.9, figures.line()
    assert figures.fault_p95_s < 1.0, figures.line()  # connection refused: it fails fast
    assert figures.recovery_s is not None, figures.line()
    assert figures.recovery_s < 5.0, figures.line()

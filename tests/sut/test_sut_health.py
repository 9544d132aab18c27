"""Health monitor: the saturation forecast (pure logic) and alerts on a real outage."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
import pytest

from fixtures.local.services import LocalService
from sut.api import create_app
from sut.config import SutSettings
from sut.health.trend import seconds_until_saturation

Eventually = Callable[[Callable[[], bool], float], Awaitable[float]]


@pytest.mark.unit
def test_rising_utilisation_predicts_the_time_to_saturation() -> None:
    points = [(float(t), 0.1 + 0.05 * t) for t in range(10)]  # 0.55 at t=9, +0.05/s
    assert seconds_until_saturation(points) == pytest.approx(9.0)


@pytest.mark.unit
@pytest.mark.parametrize(
    "points",
    [
        [(float(t), 0.4) for t in range(10)],  # flat
        [(float(t), 0.9 - 0.05 * t) for t in range(10)],  # falling
        [(0.0, 0.1), (1.0, 0.5)],  # too few points
        [(1.0, 0.1)] * 6,  # no time spread
    ],
    ids=["flat", "falling", "few-points", "same-time"],
)
def test_no_prediction_without_an_honest_rising_trend(points: list[tuple[float, float]]) -> None:
    assert seconds_until_saturation(points) is None


@pytest.mark.unit
def test_saturated_pool_predicts_zero() -> None:
    assert seconds_until_saturation([(float(t), 0.6 + 0.1 * t) for t in range(6)]) == 0.0


@pytest.mark.integration
async def test_outage_raises_an_alert_and_flips_sut_ready(
    sut_settings: SutSettings, pg: LocalService, eventually: Eventually
) -> None:
    app = create_app(sut_settings)
    async with app.router.lifespan_context(app):
        monitor = app.state.health_monitor
        registry = app.state.metrics.registry
        assert registry.get_sample_value("sut_ready") == 1.0
        pg.kill()
        await eventually(lambda: monitor.components["postgres"].status == "unhealthy", 10)
        assert registry.get_sample_value("sut_ready") == 0.0
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sut") as client:
            body = (await client.get("/api/health/dashboard")).json()
        assert body["status"] == "unhealthy"
        postgres = body["components"]["postgres"]
        assert postgres["error_message"]
        assert any(
            a["component"] == "postgres" and a["severity"] == "critical" for a in body["alerts"]
        )
        assert set(body["predictions"]) == {"postgres", "redis", "warehouse"}
        pg.restart()
        await eventually(lambda: monitor.components["postgres"].status == "healthy", 20)
        assert monitor.alerts[-1].severity == "info"
        assert registry.get_sample_value("sut_ready") == 1.0

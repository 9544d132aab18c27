"""Accessors for what the app's lifespan put on `app.state`."""

from __future__ import annotations

from fastapi import Request

from sut.config import SutSettings
from sut.connections import UnifiedConnectionManager
from sut.health import ComprehensiveHealthMonitor
from sut.metrics import SutMetrics


def settings(request: Request) -> SutSettings:
    value: SutSettings = request.app.state.settings
    return value


def connections(request: Request) -> UnifiedConnectionManager:
    value: UnifiedConnectionManager = request.app.state.connections
    return value


def monitor(request: Request) -> ComprehensiveHealthMonitor:
    value: ComprehensiveHealthMonitor = request.app.state.health_monitor
    return value


def metrics(request: Request) -> SutMetrics:
    value: SutMetrics = request.app.state.metrics
    return value

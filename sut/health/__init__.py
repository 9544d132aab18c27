"""Health monitoring of the backend's dependencies and the MCP replicas."""

from sut.health.monitor import Alert, ComponentStatus, ComprehensiveHealthMonitor

__all__ = ["Alert", "ComponentStatus", "ComprehensiveHealthMonitor"]

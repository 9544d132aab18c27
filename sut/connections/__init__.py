"""Every dependency connection of the backend, owned by one UnifiedConnectionManager."""

from sut.connections.manager import DEPENDENCIES, CheckResult, UnifiedConnectionManager

__all__ = ["DEPENDENCIES", "CheckResult", "UnifiedConnectionManager"]

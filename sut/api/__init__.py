"""The backend HTTP API."""

from sut.api.app import create_app

__all__ = ["create_app"]

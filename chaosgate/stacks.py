"""The stack backends by name: one list for the settings, every command's `--stack` and the
pytest option. Import-light on purpose (the pytest plugin loads it at start-up)."""

from __future__ import annotations

from typing import Literal, get_args

Backend = Literal["auto", "local", "containers", "external"]
STACKS: tuple[str, ...] = get_args(Backend)

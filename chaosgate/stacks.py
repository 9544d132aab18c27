"""The stack backends by name: the one list behind the settings' type, every command's
`--stack` and the pytest option. Import-light on purpose (the pytest plugin loads it at
start-up). Each name has its runner in `fixtures.backends.RUNNERS` (a test holds them equal)."""

from __future__ import annotations

from typing import Literal, get_args

StackName = Literal["local", "containers", "external"]
Backend = Literal["auto", StackName]  # `auto`: containers when Docker can run them, else local
STACKS: tuple[str, ...] = get_args(Backend)

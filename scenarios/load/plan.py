"""The load plan: what rate, which users, how the schedule is drawn. Validated before anything runs.

A bad value raises `ScenarioError` (an InputError, exit 2) naming the field, e.g.
`load plan: rate.0.hold_s: not a duration: 'soon' (expected e.g. 30s, 1m30s, 500ms, 2.5)`.
The shape (rates, durations, limits) is the kernel's (`chaosgate.loadplan`, read by the deploy
renderers too); this adds the users check, which needs the users package.
"""

from __future__ import annotations

from pydantic import ValidationInfo, field_validator

from chaosgate.loadplan import (
    MAX_DURATION_S,
    MAX_RPS,
    SEED_MAX,
    SEED_MIN,
    LocatedValueError,
    PlanShape,
    RateStep,
    parse_duration,
)
from scenarios.users import UnknownUser, class_name, resolve_user

__all__ = [
    "MAX_DURATION_S",
    "MAX_RPS",
    "SEED_MAX",
    "SEED_MIN",
    "LoadPlan",
    "LocatedValueError",
    "RateStep",
    "parse_duration",
]


class LoadPlan(PlanShape):
    """The load: users (shipped names, locustfile classes, request mixes), rate profile, limits."""

    @field_validator("users")
    @classmethod
    def _known_users(cls, users: list[str], info: ValidationInfo) -> list[str]:
        """Shipped names, or the user's locustfile classes and request mixes (paths made
        absolute: relative to the scenario file when the loader passes `base_dir`)."""
        base_dir = (info.context or {}).get("base_dir")
        resolved: list[str] = []
        classes: dict[str, int] = {}
        for index, entry in enumerate(users):
            try:
                user = resolve_user(entry, base_dir)
            except UnknownUser:
                raise
            except ValueError as error:  # a file's problem: point at its entry
                raise LocatedValueError(str(error), (index,)) from None
            name = class_name(user)
            if name in classes:
                raise LocatedValueError(
                    f"{entry!r} and {users[classes[name]]!r} are both Locust class {name!r} "
                    "(expected distinct class names or files)",
                    (index,),
                )
            classes[name] = index
            resolved.append(user)
        return resolved

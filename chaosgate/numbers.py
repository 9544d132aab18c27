"""Booleans are not numbers: pydantic reads `ramp_to_rps: true` as 1.0 (a run at 1 rps).

Every input model's base class calls `reject_bool_number` from a `field_validator("*",
mode="before")`, so a `true`/`false` where a number is expected is exit 2 at its line.
"""

from __future__ import annotations

import types
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationInfo


def _numeric(annotation: Any) -> bool:
    """int or float (possibly optional or annotated), and not also bool."""
    if annotation in (int, float):
        return True
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return _numeric(args[0])
    if origin in (Union, types.UnionType):
        return bool not in args and any(_numeric(arg) for arg in args)
    return False


def reject_bool_number(model: type[BaseModel], value: Any, info: ValidationInfo) -> Any:
    """`value` unchanged, or ValueError when it is a bool for a numeric field of `model`."""
    if isinstance(value, bool) and info.field_name is not None:
        field = model.model_fields.get(info.field_name)
        if field is not None and _numeric(field.annotation):
            raise ValueError(f"expected a number, got the boolean {str(value).lower()}")
    return value

"""Checking ApertureDB constraints before they reach the server, so a typo names its field at once."""

from __future__ import annotations

import json
from typing import Any

OPERATORS = {"==", "!=", "<", "<=", ">", ">=", "in", "not in"}


class ConstraintsError(ValueError):
    pass


def parse_constraints(value: Any) -> dict | None:
    """A constraints object from JSON text or an object; None when empty. Raises ConstraintsError."""
    if value in (None, "", {}):
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as error:
            raise ConstraintsError(f"not valid JSON: {error}") from None
    if not isinstance(value, dict):
        raise ConstraintsError('must be a JSON object such as {"split": ["==", "train"]}')
    check_constraints(value)
    return value or None


def check_constraints(constraints: dict, path: str = "") -> None:
    for key, condition in constraints.items():
        where = f"{path}{key}"
        if key in ("any", "all"):
            blocks = condition if isinstance(condition, list) else [condition]
            for block in blocks:
                if not isinstance(block, dict):
                    raise ConstraintsError(f"{where!r} must hold constraint objects")
                check_constraints(block, f"{where}.")
            continue
        if not isinstance(condition, list) or not condition or len(condition) % 2:
            raise ConstraintsError(f'{where!r} must be a list of operator, value pairs, e.g. [">=", 10]')
        for operator, operand in zip(condition[0::2], condition[1::2]):
            if operator not in OPERATORS:
                raise ConstraintsError(
                    f"{where!r}: unknown operator {operator!r}; use one of {', '.join(sorted(OPERATORS))}"
                )
            if operator in ("in", "not in") and not isinstance(operand, list):
                raise ConstraintsError(f"{where!r}: {operator!r} needs a list of values")

"""ApertureDB constraints as a storage's settings give them: checked before they reach the server, so that a
typo names its field at once, and combined with the conditions a sync adds.

Both of ApertureDB's forms are taken: the object form ``{"split": ["==", "train"], "any": [...]}`` and the
expression form the SDK writes, ``["all", ["$split", "==", "train"], ["$width", ">=", 100]]``.
"""

from __future__ import annotations

import json
from typing import Any

from aperturedb.Constraints import predicate

OPERATORS = {"==", "!=", "<", "<=", ">", ">=", "in", "not in"}
COMBINATORS = ("all", "any")
Constraints = dict | list


class ConstraintsError(ValueError):
    pass


def parse_constraints(value: Any) -> Constraints | None:
    """Constraints from JSON text, an object or an expression; None when empty. Raises ConstraintsError."""
    if value in (None, "", {}, []):
        return None
    value = _decoded(value)
    if isinstance(value, dict):
        check_constraints(value)
    elif isinstance(value, list):
        check_expression(value)
    else:
        raise ConstraintsError('must be a JSON object such as {"split": ["==", "train"]} '
                               'or an expression such as ["$split", "==", "train"]')
    return value or None


def check_constraints(constraints: dict, path: str = "") -> None:
    for key, condition in constraints.items():
        where = f"{path}{key}"
        if key in COMBINATORS:
            blocks = condition if isinstance(condition, list) else [condition]
            for index, block in enumerate(blocks):
                if isinstance(block, list):
                    check_expression(block, f"{where}[{index}]")
                elif isinstance(block, dict):
                    check_constraints(block, f"{where}.")
                else:
                    raise ConstraintsError(f"{where!r} must hold constraint objects or expressions")
            continue
        if not isinstance(condition, list) or not condition or len(condition) % 2:
            raise ConstraintsError(f'{where!r} must be a list of operator, value pairs, e.g. [">=", 10]')
        for operator, operand in zip(condition[0::2], condition[1::2]):
            _check_operator(operator, where)
            if operator in ("in", "not in") and not isinstance(operand, list):
                raise ConstraintsError(f"{where!r}: {operator!r} needs a list of values")


def check_expression(term: Any, where: str = "expression") -> None:
    if isinstance(term, dict):
        check_constraints(term, f"{where}.")
        return
    if not isinstance(term, list) or not term:
        raise ConstraintsError(f"{where}: an expression is a non-empty list")
    head = term[0]
    if head in COMBINATORS:
        if len(term) < 2:
            raise ConstraintsError(f"{where}: {head!r} needs at least one term")
        for index, part in enumerate(term[1:], 1):
            check_expression(part, f"{where}[{index}]")
        return
    if not (isinstance(head, str) and len(head) > 1 and head.startswith("$") and len(term) == 3):
        raise ConstraintsError(f'{where}: must be ["$property", operator, value], or start with "all" or "any"')
    _check_operator(term[1], where)
    if term[1] in ("in", "not in") and not (isinstance(term[2], dict) and isinstance(term[2].get("array"), list)):
        raise ConstraintsError(f'{where}: {term[1]!r} needs {{"array": [...]}}')


def _check_operator(operator: Any, where: str) -> None:
    if operator not in OPERATORS:
        raise ConstraintsError(f"{where!r}: unknown operator {operator!r}; use one of {', '.join(sorted(OPERATORS))}")


CONNECTED_TO_KEYS = {"class", "constraints", "connection_class", "direction"}
DIRECTIONS = ("in", "out", "any")


def parse_connected_to(value: Any) -> list[dict]:
    """The entities (datasets) images must be connected to, from JSON text, one object or a list of them (any
    one will do): ``{"class": "Dataset", "constraints": ..., "connection_class": ..., "direction": "in" | "out" |
    "any"}``, the last three optional. Raises ConstraintsError naming where a spec is wrong."""
    if value in (None, "", {}, []):
        return []
    value = _decoded(value)
    specs = []
    for index, spec in enumerate(value if isinstance(value, list) else [value]):
        where = f"[{index}]" if isinstance(value, list) else "it"
        if not isinstance(spec, dict):
            raise ConstraintsError(f'{where} must be an object such as {{"class": "Dataset", "constraints": ...}}')
        unknown = sorted(set(spec) - CONNECTED_TO_KEYS)
        if unknown:
            raise ConstraintsError(f"{where}: unknown key {unknown[0]!r}; use {', '.join(sorted(CONNECTED_TO_KEYS))}")
        for key in ("class", "connection_class"):
            if key in spec and (not isinstance(spec[key], str) or not spec[key]):
                raise ConstraintsError(f"{where}: {key!r} must be a class name")
        if "class" not in spec:
            raise ConstraintsError(f"{where}: 'class' names the entities, e.g. \"Dataset\"")
        if spec.get("direction", "any") not in DIRECTIONS:
            raise ConstraintsError(f"{where}: 'direction' must be one of {', '.join(DIRECTIONS)}")
        try:
            specs.append({**spec, "constraints": parse_constraints(spec.get("constraints"))})
        except ConstraintsError as error:
            raise ConstraintsError(f"{where}: constraints: {error}") from None
    return specs


def _decoded(value: Any) -> Any:
    """A setting as given: JSON text (a form's text field) decoded, anything else as it is."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError as error:
        raise ConstraintsError(f"not valid JSON: {error}") from None


def mentions(constraints: Constraints | None, key: str) -> bool:
    """Whether the constraints speak of ``key`` at their top level (an object's key, an expression's
    comparison or the comparisons of its outer ``all``)."""
    if isinstance(constraints, dict):
        return key in constraints
    if isinstance(constraints, list) and constraints:
        if constraints[0] == "all":
            return any(mentions(term, key) for term in constraints[1:])
        return constraints[0] == "$" + key
    return False


def with_conditions(constraints: Constraints | None, conditions: dict[str, list]) -> Constraints:
    """The constraints and, all holding too, ``conditions`` (key → ``[op, value]``), in the constraints' form.
    A condition replaces one on the same key of an object (the caller adds only keys the user's do not use)."""
    if isinstance(constraints, list):
        if not conditions:
            return constraints
        return ["all", constraints, *(predicate(key, op, value) for key, (op, value) in conditions.items())]
    return {**(constraints or {}), **conditions}

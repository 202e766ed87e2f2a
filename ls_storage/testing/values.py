"""Property values and constraints, as ApertureDB's query language defines them.

Property values are numbers, strings, booleans and dates (``{"_date": iso}`` on the wire). Constraints
map a key to one or more ``op, value`` pairs that must all hold; ``any`` / ``all`` blocks combine
nested constraint maps.
"""

from __future__ import annotations

import datetime
import operator
from typing import Any, Callable

from .errors import QueryError

OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "in": lambda value, options: value in options,
    "not in": lambda value, options: value not in options,
}
UNIQUEID_OPERATORS = {"==", "!=", "in", "not in"}
# System properties whose values are objects: they can be listed, but not compared or sorted by.
GEOMETRY_PROPERTIES = {"_coordinates", "_vertices", "_bounds"}


def parse_date(text: Any, where: str) -> datetime.datetime:
    if not isinstance(text, str):
        raise QueryError(f"{where}: _date must be a string")
    try:
        value = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            value = datetime.datetime.strptime(text, "%a %b %d %H:%M:%S %Z %Y")
        except ValueError:
            raise QueryError(f"{where}: invalid _date {text!r}") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.timezone.utc)
    return value


def to_stored(value: Any, where: str) -> Any:
    """A wire value as stored; refuses the types ApertureDB does not store as properties."""
    if isinstance(value, dict):
        if set(value) == {"_date"}:
            return parse_date(value["_date"], where)
        raise QueryError(f"{where}: objects are not a property type (only {{\"_date\": ...}})")
    if isinstance(value, (list, tuple)):
        raise QueryError(f"{where}: lists are not a property type")
    if value is None:
        raise QueryError(f"{where}: null is not a property value")
    return value


def to_wire(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        return {"_date": value.isoformat()}
    return value


def type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, datetime.datetime):
        return "datetime"
    return "string"


def _comparable(a: Any, b: Any) -> bool:
    return type_name(a) == type_name(b)


class Options:
    """The list of an ``in`` / ``not in`` condition; membership counts only values of the same type, and is
    a hash lookup, so that a list of thousands of ids costs no more per object than a single one."""

    __slots__ = ("values", "_by_type")

    def __init__(self, values: list):
        self.values = values
        self._by_type: dict[str, set] = {}
        for value in values:
            self._by_type.setdefault(type_name(value), set()).add(value)

    def __contains__(self, value: Any) -> bool:
        return value in self._by_type.get(type_name(value), ())


class Condition:
    """One key's ``[op, value, op, value, ...]`` list, compiled."""

    __slots__ = ("key", "checks")

    def __init__(self, key: str, spec: Any, where: str):
        if not isinstance(spec, list) or not spec or len(spec) % 2:
            raise QueryError(f"{where}: constraint on {key!r} must be a list of operator, value pairs")
        if key in GEOMETRY_PROPERTIES:
            raise QueryError(f"{where}: {key} cannot be constrained: its values are objects")
        self.key = key
        self.checks: list[tuple[str, Any]] = []
        for op, raw in zip(spec[0::2], spec[1::2]):
            if op not in OPERATORS:
                raise QueryError(f"{where}: unknown constraint operator {op!r} on {key!r}")
            if key == "_uniqueid" and op not in UNIQUEID_OPERATORS:
                raise QueryError(f"{where}: _uniqueid supports only ==, !=, in, not in (got {op!r})")
            if op in ("in", "not in"):
                if not isinstance(raw, list):
                    raise QueryError(f"{where}: {op!r} on {key!r} needs a list")
                value: Any = Options([to_stored(v, where) for v in raw])
            elif raw is None and op in ("==", "!="):
                value = None
            else:
                value = to_stored(raw, where)
            self.checks.append((op, value))

    def holds(self, value: Any) -> bool:
        for op, expected in self.checks:
            if value is None:
                # A missing property matches only the negative operators.
                if op in ("!=", "not in") and expected is not None:
                    continue
                if op == "==" and expected is None:
                    continue
                return False
            if expected is None:
                if op != "!=":
                    return False
                continue
            if op in ("in", "not in"):
                if not OPERATORS[op](value, expected):
                    return False
            elif not _comparable(value, expected):
                if op != "!=":
                    return False
            elif not OPERATORS[op](value, expected):
                return False
        return True

    def equality_values(self) -> list | None:
        """The values an index can look up directly (``==`` or ``in``), if this condition has them."""
        for op, expected in self.checks:
            if op == "==" and expected is not None:
                return [expected]
            if op == "in":
                return list(expected.values)
        return None

    def bounds(self) -> tuple[Any, bool, Any, bool] | None:
        """``(low, low_inclusive, high, high_inclusive)`` for an index range scan, if any."""
        low = high = None
        low_inc = high_inc = True
        for op, expected in self.checks:
            if op in (">", ">=") and expected is not None:
                low, low_inc = expected, op == ">="
            elif op in ("<", "<=") and expected is not None:
                high, high_inc = expected, op == "<="
        if low is None and high is None:
            return None
        if low is not None and high is not None and not _comparable(low, high):
            return None  # matches nothing; the scan finds that out without comparing across types
        return low, low_inc, high, high_inc


class Constraints:
    """A compiled constraints block: keys ANDed, with nested ``any`` (OR) and ``all`` (AND)."""

    __slots__ = ("conditions", "any_of", "all_of")

    def __init__(self, spec: Any, where: str):
        if not isinstance(spec, dict):
            raise QueryError(f"{where}: constraints must be an object")
        self.conditions: list[Condition] = []
        self.any_of: list[Constraints] = []
        self.all_of: list[Constraints] = []
        for key, value in spec.items():
            if key in ("any", "all"):
                blocks = value if isinstance(value, list) else [value]
                target = self.any_of if key == "any" else self.all_of
                for block in blocks:
                    if not isinstance(block, dict):
                        raise QueryError(f"{where}: {key!r} must hold constraint objects")
                    if key == "any" and not isinstance(value, list):
                        # {"any": {"a": [...], "b": [...]}}: any one key may hold.
                        target.extend(Constraints({k: v}, where) for k, v in block.items())
                    else:
                        target.append(Constraints(block, where))
            else:
                self.conditions.append(Condition(key, value, where))

    def matches(self, get: Callable[[str], Any]) -> bool:
        for condition in self.conditions:
            if not condition.holds(get(condition.key)):
                return False
        if self.any_of and not any(block.matches(get) for block in self.any_of):
            return False
        return all(block.matches(get) for block in self.all_of)

    def top_level(self, key: str) -> Condition | None:
        for condition in self.conditions:
            if condition.key == key:
                return condition
        return None

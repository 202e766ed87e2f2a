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


PLAIN_TYPES = (str, int, float, bool)  # what JSON decoding gives for every value but dates: stored as they are


def is_plain_equality(spec: Any) -> bool:
    """Whether one key's constraint is a single ``==`` of a plain value, as every conditional add's is."""
    return type(spec) is list and len(spec) == 2 and spec[0] == "==" and type(spec[1]) in PLAIN_TYPES


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


_TYPE_NAMES = {bool: "boolean", int: "number", float: "number", str: "string", datetime.datetime: "datetime"}


def type_name(value: Any) -> str:
    name = _TYPE_NAMES.get(type(value))
    if name is not None:
        return name
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, datetime.datetime):
        return "datetime"
    return "string"


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


def _check(op: str, expected: Any) -> Callable[[Any], bool]:
    """One ``op, value`` pair as a test of a record's value (None: the record lacks the property).

    A missing property matches only the negative operators; values of different types never compare
    (they are only ``!=``)."""
    if op in ("in", "not in"):
        wanted = op == "in"
        return lambda value: value is not None and (value in expected) == wanted or value is None and not wanted
    if expected is None:  # only == and != take null
        return (lambda value: value is None) if op == "==" else (lambda value: value is not None)
    kind = type_name(expected)
    if op == "==":
        return lambda value: value == expected and type_name(value) == kind
    if op == "!=":
        return lambda value: value is None or value != expected or type_name(value) != kind
    compare = OPERATORS[op]
    return lambda value: value is not None and type_name(value) == kind and compare(value, expected)


def _all_of(checks: list[Callable[[Any], bool]]) -> Callable[[Any], bool]:
    if len(checks) == 1:
        return checks[0]
    return lambda value: all(check(value) for check in checks)


class Condition:
    """One key's ``[op, value, op, value, ...]`` list, compiled into ``holds(value)``."""

    __slots__ = ("key", "system", "pairs", "holds")

    def __init__(self, key: str, spec: Any, where: str):
        if not isinstance(spec, list) or not spec or len(spec) % 2:
            raise QueryError(f"{where}: constraint on {key!r} must be a list of operator, value pairs")
        if key in GEOMETRY_PROPERTIES:
            raise QueryError(f"{where}: {key} cannot be constrained: its values are objects")
        self.key = key
        self.system = key.startswith("_")
        if is_plain_equality(spec):  # compiled without the general path's checks
            self.pairs = [("==", spec[1])]
            self.holds = _check("==", spec[1])
            return
        self.pairs = []
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
            self.pairs.append((op, value))
        self.holds: Callable[[Any], bool] = _all_of([_check(op, value) for op, value in self.pairs])

    def equality_values(self) -> list | None:
        """The values an index can look up directly (``==`` or ``in``), if this condition has them."""
        for op, expected in self.pairs:
            if op == "==" and expected is not None:
                return [expected]
            if op == "in":
                return list(expected.values)
        return None

    def bounds(self) -> tuple[Any, bool, Any, bool] | None:
        """``(low, low_inclusive, high, high_inclusive)`` for an index range scan, if any."""
        low = high = None
        low_inc = high_inc = True
        for op, expected in self.pairs:
            if op in (">", ">=") and expected is not None:
                low, low_inc = expected, op == ">="
            elif op in ("<", "<=") and expected is not None:
                high, high_inc = expected, op == "<="
        if low is None and high is None:
            return None
        if low is not None and high is not None and type_name(low) != type_name(high):
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

    def matches(self, record: Any, system_value: Callable[[Any, str], Any]) -> bool:
        """Whether a record (with ``props``) matches; ``system_value(record, key)`` reads keys starting with '_'."""
        for condition in self.conditions:
            value = system_value(record, condition.key) if condition.system else record.props.get(condition.key)
            if not condition.holds(value):
                return False
        if self.any_of and not any(block.matches(record, system_value) for block in self.any_of):
            return False
        return all(block.matches(record, system_value) for block in self.all_of)

    def top_level(self, key: str) -> Condition | None:
        for condition in self.conditions:
            if condition.key == key:
                return condition
        return None

"""Constraints, in both forms ApertureDB's query language takes, compiled into one predicate.

The object form maps a key to one or more ``op, value`` pairs that must all hold, with ``any`` / ``all``
blocks of nested constraint objects: ``{"n": [">=", 2, "<", 5], "any": [{"a": ["==", 1]}, ...]}``. The
expression form, which the SDK's ``Constraints``, ``predicate`` and ``to_expression`` write, is a list:
``["$key", op, literal]`` compares a property, ``["all", term, ...]`` / ``["any", term, ...]`` combine
terms to any depth; a literal string starting with ``$`` is escaped as ``$$``, dates are
``{"to_date": iso}`` and lists ``{"array": [...]}``. Either form may stand inside the other: an object
as a term of an expression, an expression in an object's ``any`` / ``all`` list. An expression is
translated into the object form (:func:`object_form`), so every fast path and index look-up that reads
the object form serves both.
"""

from __future__ import annotations

import operator
from typing import Any, Callable

from .errors import QueryError
from .values import PLAIN_TYPES, to_stored, type_name

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



def is_plain_equality(spec: Any) -> bool:
    """Whether one key's constraint is a single ``==`` of a plain value, as every conditional add's is."""
    return type(spec) is list and len(spec) == 2 and spec[0] == "==" and type(spec[1]) in PLAIN_TYPES



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
        spec = object_form(spec, where)
        if not isinstance(spec, dict):
            raise QueryError(f"{where}: constraints must be an object or an expression")
        self.conditions: list[Condition] = []
        self.any_of: list[Constraints] = []
        self.all_of: list[Constraints] = []
        for key, value in spec.items():
            if key in ("any", "all"):
                blocks = value if isinstance(value, list) else [value]
                target = self.any_of if key == "any" else self.all_of
                for block in blocks:
                    block = object_form(block, f"{where}: {key}")
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


COMBINATORS = ("all", "any")


def object_form(spec: Any, where: str) -> Any:
    """Constraints in the object form: an expression is translated, anything else returned as it is (and
    checked when compiled). ``where``: the parameter, for messages that name where an expression is wrong."""
    return _expression(spec, where) if type(spec) is list else spec


def _expression(term: Any, where: str) -> dict:
    if isinstance(term, dict):
        return term  # an object-form block standing as a term
    if not isinstance(term, list) or not term:
        raise QueryError(f"{where}: an expression term must be a non-empty list or a constraints object")
    head = term[0]
    if head in COMBINATORS:
        if len(term) < 2:
            raise QueryError(f"{where}: {head!r} needs at least one term")
        terms = [_expression(part, f"{where}[{index}]") for index, part in enumerate(term[1:], 1)]
        return _conjunction(terms) if head == "all" else {"any": terms}
    if isinstance(head, str) and head.startswith("$") and not head.startswith("$$"):
        key = head[1:]
        if len(term) != 3:
            raise QueryError(f"{where}: a comparison is [\"$property\", operator, value], got {len(term)} items")
        if not key or key in COMBINATORS:
            raise QueryError(f"{where}: {head!r} does not name a property")
        if term[1] not in OPERATORS:
            raise QueryError(f"{where}: unknown operator {term[1]!r}")
        return {key: [term[1], _literal(term[2], f"{where}[2]")]}
    raise QueryError(f"{where}: an expression starts with \"all\", \"any\" or a \"$property\", not {head!r}")


def _literal(value: Any, where: str) -> Any:
    """An expression's literal as the object form writes it."""
    if isinstance(value, str) and value.startswith("$"):
        if value.startswith("$$"):
            return value[1:]
        raise QueryError(f"{where}: comparing with another property ({value}) is not supported by the test server; "
                         "a string starting with $ is written $$")
    if isinstance(value, dict) and len(value) == 1:
        ((name, inner),) = value.items()
        if name == "to_date":
            return {"_date": inner}
        if name == "array":
            if not isinstance(inner, list):
                raise QueryError(f"{where}: array must hold a list")
            return [_literal(item, f"{where}.array[{index}]") for index, item in enumerate(inner)]
        if name == "_date":
            return value
    if isinstance(value, (dict, list)):
        raise QueryError(f"{where}: a literal is a number, string, boolean, null, {{\"to_date\": ...}} or "
                         f"{{\"array\": [...]}}, not {value!r}")
    return value


def _conjunction(terms: list[dict]) -> dict:
    """``all`` of object-form terms as one object, so that its comparisons stand at the top level where the
    index look-ups find them; pairs on one key join (they all must hold), anything else nests under ``all``."""
    merged: dict[str, Any] = {}
    nested: list[dict] = []
    for term in terms:
        for key, spec in term.items():
            if key in COMBINATORS or not isinstance(spec, list):
                nested.append({key: spec})
            elif key in merged:
                merged[key] = merged[key] + spec
            else:
                merged[key] = spec
    if nested:
        merged["all"] = nested
    return merged

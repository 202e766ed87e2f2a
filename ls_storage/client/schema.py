"""A source storage's settings checked against what ApertureDB holds (its ``GetSchema``), so that a misspelt
property or a comparison that can never match is refused at once, naming its setting, instead of syncing nothing.

Each setting is compared with the properties of the classes it applies to:

- ``constraints``, ``properties`` (the names: the caller leaves out ``*``) and ``property_defaults``: ``_Image``'s;
- ``pred_constraints``: ``_BoundingBox``'s and ``_Polygon``'s, together (a property either has);
- ``connected_to``: each spec's ``constraints``, its own class's (``Dataset``, ...).

Constraints are read in both of ApertureDB's forms, ``all``/``any`` nested to any depth, every value of an
``in``/``not in`` list, dates as ``{"_date": ...}`` (``{"to_date": ...}`` in an expression), and a ``"$other"``
value of an expression as the property it names.

Two problems are found:

- an *unknown* name: a property no object of the class has (yet), told with the closest names it has. System
  properties (``_uniqueid``, ``_label``, ``_create_txn``, ...) are never unknown. A caller may allow unknown
  names, for properties the images are still to get (a source storage's ``allow_unknown_properties``).
- a *type mismatch*: a known property compared with a value of another type, which matches no object (and
  every object through ``!=``/``not in``): a number property with anything but a number (true and false are
  not numbers), a text property with anything but text, a boolean with anything but true/false, a date with
  anything but a date. A property's default must be what task data holds for it: the same type, and text for a
  date (task data shows dates as ISO 8601 text). Values and properties of any other type are not checked.

Type names are compared case-insensitively (ApertureDB's schema says ``Number``, ``String``, ...), and
``date``, ``datetime`` and ``time`` all name dates. A property entry is ``[count, indexed, type]`` or, from
newer servers, an object ``{"count", "indexed", "type"}``: both are read.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Mapping

from .connection import run_query
from .constraints import COMBINATORS, Constraints

IMAGE, BOUNDING_BOX, POLYGON = "_Image", "_BoundingBox", "_Polygon"
NUMBER, STRING, BOOLEAN, DATE = "number", "string", "boolean", "date"
TYPE_NAMES = {"number": NUMBER, "string": STRING, "boolean": BOOLEAN, "bool": BOOLEAN,
              "date": DATE, "datetime": DATE, "time": DATE}
CHECKED_TYPES = {NUMBER, STRING, BOOLEAN, DATE}
TYPE_WORDS = {NUMBER: "a number", STRING: "text", BOOLEAN: "true/false", DATE: "a date"}
LIST_OPERATORS = ("in", "not in")
CLOSEST = 3  # close names told at most


@dataclass(frozen=True)
class Schema:
    """The entity classes ApertureDB holds objects of, each ``{property: type}``; a type as :data:`TYPE_NAMES`
    normalises it (``number``, ``string``, ``boolean``, ``date``), any other in lower case."""

    classes: Mapping[str, Mapping[str, str]]

    @classmethod
    def from_answer(cls, answer: dict | None) -> Schema:
        """From the ``GetSchema`` part of ApertureDB's answer (``entities`` null when it holds nothing)."""
        found = ((answer or {}).get("entities") or {}).get("classes") or {}
        return cls({name: {prop: _type_of(entry) for prop, entry in ((info or {}).get("properties") or {}).items()}
                    for name, info in found.items()})

    def types(self, classes: Iterable[str]) -> dict[str, set[str]]:
        """Every property objects of ``classes`` have, with its types (one per class that has it)."""
        found: dict[str, set[str]] = {}
        for name in classes:
            for prop, kind in (self.classes.get(name) or {}).items():
                found.setdefault(prop, set()).add(kind)
        return found

    def property_names(self, cls: str) -> tuple[str, ...]:
        """The user properties (not system ones) that objects of ``cls`` have, sorted."""
        return tuple(sorted(name for name in self.classes.get(cls) or {} if not name.startswith("_")))


def _type_of(entry: Any) -> str:
    """A property entry's type: ``[count, indexed, type]``, or ``{"count", "indexed", "type"}``."""
    if isinstance(entry, dict):
        kind = entry.get("type", "")
    else:
        kind = entry[2] if isinstance(entry, list) and len(entry) > 2 else ""
    kind = str(kind).lower()
    return TYPE_NAMES.get(kind, kind)


def read_schema(connector) -> Schema:
    answer, _ = run_query(connector, [{"GetSchema": {"type": "entities"}}])
    return Schema.from_answer(answer[0]["GetSchema"])


@dataclass(frozen=True)
class PropertyRef:
    """An expression's ``"$name"`` value: another property of the same object."""

    name: str


def compared(constraints: Constraints | None) -> Iterator[tuple[str, Any]]:
    """``(property, value)`` for every comparison of the constraints (checked ones: ``client.constraints``), in
    either form: each value of an ``in`` list on its own, a date as ``{"_date": ...}``, another property as a
    :class:`PropertyRef`."""
    if isinstance(constraints, dict):
        for key, condition in constraints.items():
            if key in COMBINATORS:
                for block in condition if isinstance(condition, list) else [condition]:
                    yield from compared(block)
            elif isinstance(condition, list):
                for operator, operand in zip(condition[0::2], condition[1::2]):
                    values = operand if operator in LIST_OPERATORS and isinstance(operand, list) else [operand]
                    yield from ((key, value) for value in values)
    elif isinstance(constraints, list) and constraints:
        head = constraints[0]
        if head in COMBINATORS:
            for term in constraints[1:]:
                yield from compared(term)
        elif isinstance(head, str) and head.startswith("$") and not head.startswith("$$") and len(constraints) == 3:
            yield from ((head[1:], value) for value in _literals(constraints[2]))


def _literals(value: Any) -> Iterator[Any]:
    """An expression's value as the object form writes it; each of an ``{"array": [...]}``."""
    if isinstance(value, dict) and len(value) == 1:
        ((name, inner),) = value.items()
        if name == "array" and isinstance(inner, list):
            for item in inner:
                yield from _literals(item)
            return
        if name == "to_date":
            yield {"_date": inner}
            return
    if isinstance(value, str) and value.startswith("$"):
        yield value[1:] if value.startswith("$$") else PropertyRef(value[1:])
        return
    yield value


def value_type(value: Any) -> str | None:
    """The type a value compares as: :data:`NUMBER`, :data:`STRING`, :data:`BOOLEAN`, :data:`DATE`; None for
    anything else."""
    if isinstance(value, bool):
        return BOOLEAN
    if isinstance(value, (int, float)):
        return NUMBER
    if isinstance(value, str):
        return STRING
    if isinstance(value, dict) and set(value) == {"_date"}:
        return DATE
    return None


@dataclass(frozen=True)
class Problem:
    """A setting that disagrees with the schema: ``field`` names the setting, ``unknown`` tells an unknown name
    (which a caller may allow) from a type mismatch (which it may not)."""

    field: str
    message: str
    unknown: bool


@dataclass(frozen=True)
class _Target:
    """What a setting is checked against: the properties of some classes, and how to speak of their objects."""

    field: str
    types: dict[str, set[str]]
    objects: str  # "image", "bounding box or polygon", "Dataset entity"
    present: bool  # ApertureDB holds objects of these classes
    absent_hint: str = ""  # said when it does not (the closest classes it holds)

    def unknown(self, name: str) -> Problem:
        message = f"{self.field}: no {self.objects} has a property {name!r}"
        if not self.present:
            message += f" (ApertureDB holds no {self.objects} yet{self.absent_hint})"
        elif close := difflib.get_close_matches(name, [p for p in self.types if not p.startswith("_")], CLOSEST):
            message += f"; closest: {', '.join(close)}"
        message += f". To name a property no {self.objects} has yet, turn on allow_unknown_properties"
        return Problem(self.field, message, unknown=True)

    def checked_types(self, name: str) -> set[str] | None:
        """The property's types when all are checked ones (None: unknown, or of a type not checked)."""
        types = self.types.get(name)
        return types if types and types <= CHECKED_TYPES else None


def constraint_problems(target: _Target, constraints: Constraints | None) -> list[Problem]:
    problems: list[Problem] = []
    told: set[str] = set()
    for name, value in compared(constraints):
        names = [name, value.name] if isinstance(value, PropertyRef) else [name]
        for prop in names:
            if prop not in told and not prop.startswith("_") and prop not in target.types:
                told.add(prop)
                problems.append(target.unknown(prop))
        mismatch = _mismatch(target, name, value)
        if mismatch and mismatch not in problems:
            problems.append(mismatch)
    return problems


def _mismatch(target: _Target, name: str, value: Any) -> Problem | None:
    types = target.checked_types(name)
    if types is None:
        return None
    if isinstance(value, PropertyRef):
        others = target.checked_types(value.name)
        if others is None or types & others:
            return None
        return Problem(target.field, f"{target.field}: {name!r} is {_words(types)} property but is compared with "
                                     f"{value.name!r}, {_words(others)} property; they never match", unknown=False)
    given = value_type(value)
    if given is None or given in types:
        return None
    message = f"{target.field}: {name!r} is {_words(types)} property but is compared with {TYPE_WORDS[given]} " \
              f"({_shown(value)}), which never matches"
    if types == {DATE} and given == STRING:
        message += f'; write a date as {{"_date": "{value}"}}'
    elif types == {NUMBER} and given == STRING and _is_number(value):
        message += "; write the number without quotes"
    return Problem(target.field, message, unknown=False)


def _words(types: set[str]) -> str:
    """``a number``, ``a text or date``: the property's type(s), as "... property" follows."""
    return "a " + " or ".join(sorted({NUMBER: "number", STRING: "text", BOOLEAN: "boolean", DATE: "date"}[t]
                                     for t in types))


def _shown(value: Any) -> str:
    return repr(value["_date"]) if isinstance(value, dict) else repr(value)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def default_problem(target: _Target, name: str, default: Any) -> Problem | None:
    """A default whose type is not what task data holds for the property (a date's is its ISO 8601 text)."""
    types = target.checked_types(name)
    given = value_type(default)
    if types is None or given is None or given in {STRING if t == DATE else t for t in types}:
        return None
    wanted = " or ".join(sorted("text (the date in ISO 8601, as task data shows it)" if t == DATE else TYPE_WORDS[t]
                                for t in types))
    return Problem(target.field, f"{target.field}: {name!r} is {_words(types)} property, so its default must be "
                                 f"{wanted}, not {TYPE_WORDS[given]} ({default!r})", unknown=False)


def source_problems(schema: Schema, *, constraints: Constraints | None = None,
                    region_constraints: Constraints | None = None, connected_to: Iterable[dict] = (),
                    properties: Iterable[str] = (), property_defaults: Mapping[str, Any] | None = None,
                    allow_unknown: bool = False) -> list[Problem]:
    """What in a source storage's settings disagrees with the schema, in the order of the settings; unknown
    names only when not ``allow_unknown``."""
    image = _Target("constraints", schema.types([IMAGE]), "image", IMAGE in schema.classes)
    regions = _Target("pred_constraints", schema.types([BOUNDING_BOX, POLYGON]), "bounding box or polygon",
                      BOUNDING_BOX in schema.classes or POLYGON in schema.classes)
    problems = constraint_problems(image, constraints) + constraint_problems(regions, region_constraints)
    for spec in connected_to:
        close = difflib.get_close_matches(spec["class"], list(schema.classes), CLOSEST)
        entities = _Target("connected_to", schema.types([spec["class"]]), f"{spec['class']} entity",
                           spec["class"] in schema.classes, f"; closest classes: {', '.join(close)}" if close else "")
        problems += constraint_problems(entities, spec.get("constraints"))
    listed = _Target("properties", image.types, image.objects, image.present)
    problems += [listed.unknown(name) for name in dict.fromkeys(properties)
                 if not name.startswith("_") and name not in listed.types]
    defaults = _Target("property_defaults", image.types, image.objects, image.present)
    for name, default in (property_defaults or {}).items():
        if name not in defaults.types:
            problems.append(defaults.unknown(name))
        elif problem := default_problem(defaults, name, default):
            problems.append(problem)
    return [problem for problem in problems if not (allow_unknown and problem.unknown)]


def grouped(problems: Iterable[Problem]) -> dict[str, list[str]]:
    """The problems' messages by setting, as a 400 names them."""
    found: dict[str, list[str]] = {}
    for problem in problems:
        found.setdefault(problem.field, []).append(problem.message)
    return found

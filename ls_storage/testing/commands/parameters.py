"""Reading and checking a command's parameters; each error names the parameter."""

from __future__ import annotations

from typing import Any

from ..errors import QueryError
from ..values import PLAIN_TYPES, to_stored
from .engine import only_keys

RESULT_KEYS = frozenset({"list", "all_properties", "count", "limit", "sort", "group_by_source", "uniqueids"})


# ---- parameter helpers ------------------------------------------------------------------------


def read_int(params: dict, key: str, where: str, default: int | None = None, minimum: int = 0) -> int | None:
    value = params.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise QueryError(f"{where}: {key} must be an integer >= {minimum}")
    return value


def read_bool(params: dict, key: str, where: str, default: bool = False) -> bool:
    value = params.get(key, default)
    if not isinstance(value, bool):
        raise QueryError(f"{where}: {key} must be true or false")
    return value


def read_string(params: dict, key: str, where: str) -> str:
    value = params.get(key)
    if not isinstance(value, str) or not value:
        raise QueryError(f"{where}: {key} must be a non-empty string")
    return value


def read_number(value: Any, where: str, what: str) -> float:
    if type(value) is not float and (isinstance(value, bool) or not isinstance(value, int)):
        raise QueryError(f"{where}: {what} must be a number")
    return value


def read_properties(params: dict, where: str, key: str = "properties") -> dict:
    raw = params.get(key, {})
    if not isinstance(raw, dict):
        raise QueryError(f"{where}: {key} must be an object")
    props = raw  # the query's own object, which nothing else keeps, unless a value must be converted
    for name, value in raw.items():
        if not name or name[0] == "_":  # JSON object keys are strings
            raise QueryError(
                f"{where}: property {name!r}: names starting with '_' are reserved for system properties"
            )
        if type(value) not in PLAIN_TYPES:  # plain values are stored as they are
            if props is raw:
                props = dict(raw)
            # The message names the property only when it is needed: a page of adds has thousands of properties.
            props[name] = to_stored(value, f"{where}: property {name!r}")
    return props


def read_results(params: dict, where: str) -> dict:
    """The ``results`` block of a Find, checked before any of its keys is read."""
    results = params.get("results", {})
    if not isinstance(results, dict):
        raise QueryError(f"{where}: results must be an object")
    only_keys(results, RESULT_KEYS, where, " in results")
    listed = results.get("list")
    if listed is not None and (not isinstance(listed, list) or not all(isinstance(name, str) for name in listed)):
        raise QueryError(f"{where}: results list must be a list of property names")
    return results


def read_remove_props(params: dict, where: str) -> list[str]:
    value = params.get("remove_props", [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise QueryError(f"{where}: remove_props must be a list of property names")
    return value


RECTANGLE_KEYS = {"x", "y", "width", "height"}
NUMBER_TYPES = {int, float}  # exact types: a boolean is not a number


def read_rectangle(value: Any, where: str) -> tuple[float, float, float, float]:
    if not isinstance(value, dict) or value.keys() != RECTANGLE_KEYS:
        raise QueryError(f"{where}: rectangle must be {{x, y, width, height}}")
    x, y, w, h = value["x"], value["y"], value["width"], value["height"]
    if not (type(x) in NUMBER_TYPES and type(y) in NUMBER_TYPES and type(w) in NUMBER_TYPES
            and type(h) in NUMBER_TYPES):
        for key, number in (("x", x), ("y", y), ("width", w), ("height", h)):
            read_number(number, where, f"rectangle {key}")
    if w < 0 or h < 0:
        raise QueryError(f"{where}: rectangle width and height must not be negative")
    return x, y, w, h


def read_polygons(value: Any, where: str) -> list:
    if not isinstance(value, list) or not value:
        raise QueryError(f"{where}: polygons must be a non-empty list of polygons")
    result = []
    for polygon in value:
        if not isinstance(polygon, list) or len(polygon) < 3:
            raise QueryError(f"{where}: each polygon needs at least 3 vertices")
        vertices = []
        for vertex in polygon:
            if not isinstance(vertex, list) or len(vertex) != 2:
                raise QueryError(f"{where}: each vertex must be [x, y]")
            vertices.append((read_number(vertex[0], where, "vertex x"), read_number(vertex[1], where, "vertex y")))
        result.append(vertices)
    return result


def read_label(params: dict, where: str) -> str | None:
    label = params.get("label")
    if label is not None and not isinstance(label, str):
        raise QueryError(f"{where}: label must be a string")
    return label

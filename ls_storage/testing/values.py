"""Property values as ApertureDB's query language defines them: numbers, strings, booleans and dates
(``{"_date": iso}`` on the wire)."""

from __future__ import annotations

import datetime
from typing import Any

from .errors import QueryError


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

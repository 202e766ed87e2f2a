"""ApertureDB's query language over the in-memory store: one handler per command.

A request is a JSON array of one-key commands plus a flat list of blobs. It runs as one atomic
transaction: the answer is an array with one object per command, or, when any command fails, the
single error object ``{"status": -1, "info": ..., "FailedCommand": ...}`` and nothing is applied.
Every command and parameter that is not supported is refused by name.
"""

from __future__ import annotations

import bisect
import heapq
import logging
import threading
from dataclasses import dataclass
from itertools import islice
from typing import Any, Callable, Collection, Iterable, Iterator, NamedTuple

from sortedcontainers import SortedList

from . import images
from .errors import NotUniqueError, QueryError
from .store import (
    BLOB, BOUNDING_BOX, BOX_TO_IMAGE, IMAGE, POLYGON, POLYGON_TO_IMAGE, Link, Obj, Store,
    format_uniqueid, parse_uniqueid, sort_key, system_value,
)
from .values import GEOMETRY_PROPERTIES, PLAIN_TYPES, Constraints, is_plain_equality, to_stored, to_wire, type_name

logger = logging.getLogger(__name__)
VERSION = "0.18.0-ls-storage-test"
MAX_REF = 100000
# Properties the SDK's image ingestion records and its utilities read; filled from the blob when
# the client leaves them out, so that every image knows its size.
IMAGE_WIDTH, IMAGE_HEIGHT = "adb_image_width", "adb_image_height"

FIND_COMMON = {"_ref", "unique", "constraints", "is_connected_to", "sort", "offset", "limit", "batch",
               "results", "uniqueids", "group_by_source"}
ADD_COMMON = {"_ref", "properties", "if_not_found", "connect"}
UPDATE_COMMON = {"ref", "constraints", "properties", "remove_props"}
DELETE_COMMON = {"ref", "constraints"}
RESULT_KEYS = frozenset({"list", "all_properties", "count", "limit", "sort", "group_by_source", "uniqueids"})
CONNECT_KEYS = frozenset({"ref", "class", "direction", "properties"})
CONNECTED_KEYS = frozenset({"ref", "connection_class", "direction", "constraints"})


class Transaction:
    """One running query: its store, its blobs, the records its ``_ref``s name, the blobs of its answer."""

    __slots__ = ("store", "blobs", "next_blob", "refs", "out_blobs")

    def __init__(self, store: Store, blobs: list[bytes]):
        self.store, self.blobs, self.next_blob = store, blobs, 0
        self.refs: dict[int, list[Obj | Link]] = {}
        self.out_blobs: list[bytes] = []

    def take_blob(self, where: str) -> bytes:
        if self.next_blob >= len(self.blobs):
            raise QueryError(f"{where}: needs a blob, but the query carries too few")
        blob = self.blobs[self.next_blob]
        self.next_blob += 1
        return blob

    def bind(self, params: dict, records: list, where: str) -> None:
        ref = params.get("_ref")
        if ref is None:
            return
        if type(ref) is not int or not 1 <= ref <= MAX_REF:  # the exact type: a boolean is not a reference
            raise QueryError(f"{where}: _ref must be an integer from 1 to {MAX_REF}")
        if ref in self.refs:
            raise QueryError(f"{where}: _ref {ref} is already used in this transaction")
        self.refs[ref] = records

    def lookup(self, ref: Any, where: str, name: str = "ref") -> list:
        records = self.refs.get(ref) if type(ref) is int else None
        if records is None:
            raise QueryError(f"{where}: {name} {ref!r}: reference does not exist")
        return records


class Command(NamedTuple):
    handler: Callable[[Transaction, dict, str], dict]
    allowed: frozenset


COMMANDS: dict[str, Command] = {}


def command(name: str, allowed: Iterable[str]):
    def register(handler):
        COMMANDS[name] = Command(handler, frozenset(allowed))
        return handler
    return register


class Engine:
    """Runs transactions against one store; thread-safe."""

    def __init__(self, store: Store | None = None):
        self.store = store or Store()
        self.lock = threading.RLock()

    def execute(self, query: Any, blobs: list[bytes], read_only: bool = False) -> tuple[Any, list[bytes]]:
        """Run one transaction, ``query`` as decoded from its JSON; ``read_only``: the user's role may only read
        (Find*, GetStatus, GetSchema)."""
        if not isinstance(query, list) or not query:
            return error_answer("a query must be a non-empty JSON array of commands"), []
        with self.lock:
            transaction = Transaction(self.store, list(blobs))
            answers = []
            index = -1
            try:
                with self.store.transaction():
                    for index, item in enumerate(query):
                        name, params = _command_of(item, index)
                        where = f"JSON Command {index} ({name})"
                        if read_only and not (name.startswith("Find") or name in ("GetStatus", "GetSchema")):
                            raise QueryError(f"{where}: permission denied: this user may only read")
                        handler, allowed = COMMANDS[name]
                        if not allowed.issuperset(params):
                            _refuse_unsupported(params, allowed, where)
                        answers.append({name: handler(transaction, params, where)})
                    if transaction.next_blob != len(transaction.blobs):
                        raise QueryError(
                            f"the query carries {len(transaction.blobs)} blobs but its commands use "
                            f"{transaction.next_blob}"
                        )
            except Exception as error:
                failed = query[index] if 0 <= index < len(query) else None
                if isinstance(error, QueryError):
                    return error_answer(str(error), error.status, failed), []
                # A bug of the test server: answer it (rolled back) rather than drop the connection, which
                # the SDK would retry and then report only as a lost connection.
                logger.exception("internal error of the test server in %s", failed)
                return error_answer(f"internal error of the test server: {error!r}", -1, failed), []
            return answers, transaction.out_blobs


def error_answer(info: str, status: int = -1, failed: Any = None) -> dict:
    answer: dict[str, Any] = {"status": status, "info": info}
    if failed is not None:
        answer["FailedCommand"] = failed
    return answer


def _only(given: dict, allowed: frozenset, where: str, inside: str = "") -> None:
    """Refuse by name a parameter the test server does not support (``inside``: the block it is in)."""
    if not allowed.issuperset(given):
        _refuse_unsupported(given, allowed, where, inside)


def _refuse_unsupported(given: dict, allowed: frozenset, where: str, inside: str = "") -> None:
    raise QueryError(f"{where}: unsupported parameter {sorted(set(given) - allowed)[0]!r}{inside}")


def _command_of(item: Any, index: int) -> tuple[str, dict]:
    if type(item) is not dict or len(item) != 1:
        raise QueryError(f"JSON Command {index}: each command must be an object with exactly one key")
    ((name, params),) = item.items()
    if name not in COMMANDS:
        raise QueryError(f"JSON Command {index}: unsupported command {name!r}")
    if type(params) is not dict:
        raise QueryError(f"JSON Command {index} ({name}): parameters must be an object")
    return name, params


# ---- parameter helpers ------------------------------------------------------------------------


def _int(params: dict, key: str, where: str, default: int | None = None, minimum: int = 0) -> int | None:
    value = params.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise QueryError(f"{where}: {key} must be an integer >= {minimum}")
    return value


def _bool(params: dict, key: str, where: str, default: bool = False) -> bool:
    value = params.get(key, default)
    if not isinstance(value, bool):
        raise QueryError(f"{where}: {key} must be true or false")
    return value


def _string(params: dict, key: str, where: str) -> str:
    value = params.get(key)
    if not isinstance(value, str) or not value:
        raise QueryError(f"{where}: {key} must be a non-empty string")
    return value


def _number(value: Any, where: str, what: str) -> float:
    if type(value) is not float and (isinstance(value, bool) or not isinstance(value, int)):
        raise QueryError(f"{where}: {what} must be a number")
    return value


def _properties(params: dict, where: str, key: str = "properties") -> dict:
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


def _results(params: dict, where: str) -> dict:
    """The ``results`` block of a Find, checked before any of its keys is read."""
    results = params.get("results", {})
    if not isinstance(results, dict):
        raise QueryError(f"{where}: results must be an object")
    _only(results, RESULT_KEYS, where, " in results")
    listed = results.get("list")
    if listed is not None and (not isinstance(listed, list) or not all(isinstance(name, str) for name in listed)):
        raise QueryError(f"{where}: results list must be a list of property names")
    return results


def _remove_props(params: dict, where: str) -> list[str]:
    value = params.get("remove_props", [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise QueryError(f"{where}: remove_props must be a list of property names")
    return value


RECTANGLE_KEYS = {"x", "y", "width", "height"}
NUMBER_TYPES = {int, float}  # exact types: a boolean is not a number


def _rectangle(value: Any, where: str) -> tuple[float, float, float, float]:
    if not isinstance(value, dict) or value.keys() != RECTANGLE_KEYS:
        raise QueryError(f"{where}: rectangle must be {{x, y, width, height}}")
    x, y, w, h = value["x"], value["y"], value["width"], value["height"]
    if not (type(x) in NUMBER_TYPES and type(y) in NUMBER_TYPES and type(w) in NUMBER_TYPES
            and type(h) in NUMBER_TYPES):
        for key, number in (("x", x), ("y", y), ("width", w), ("height", h)):
            _number(number, where, f"rectangle {key}")
    if w < 0 or h < 0:
        raise QueryError(f"{where}: rectangle width and height must not be negative")
    return x, y, w, h


def _polygons(value: Any, where: str) -> list:
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
            vertices.append((_number(vertex[0], where, "vertex x"), _number(vertex[1], where, "vertex y")))
        result.append(vertices)
    return result


def _label(params: dict, where: str) -> str | None:
    label = params.get("label")
    if label is not None and not isinstance(label, str):
        raise QueryError(f"{where}: label must be a string")
    return label


# ---- status and schema ------------------------------------------------------------------------


@command("GetStatus", set())
def get_status(tx: Transaction, params: dict, where: str) -> dict:
    return {"status": 0, "info": "OK", "system": "ApertureDB", "version": VERSION}


@command("GetSchema", {"ref", "type", "refresh"})
def get_schema(tx: Transaction, params: dict, where: str) -> dict:
    kind = params.get("type", "both")
    if kind not in ("entities", "connections", "both"):
        raise QueryError(f"{where}: type must be entities, connections or both")
    if "ref" in params:
        raise QueryError(f"{where}: GetSchema with ref is not supported by the test server")
    store = tx.store
    answer: dict[str, Any] = {"status": 0}
    if kind in ("entities", "both"):
        answer["entities"] = _schema_classes(store, store.by_class, store.members, store.objects, "entity", None)
    if kind in ("connections", "both"):
        answer["connections"] = _schema_classes(store, store.links_by_class, store.link_members, store.links,
                                                "connection", store)
    return answer


def _schema_classes(store: Store, class_names: Iterable[str], members: Callable[[str], SortedList], records: dict,
                    index_type: str, links_of: Store | None):
    classes = {}
    for cls in class_names:
        seqs = members(cls)
        if not seqs:
            continue
        props: dict[str, list] = {}
        for seq in seqs:
            for key, value in records[seq].props.items():
                entry = props.setdefault(key, [0, (index_type, cls, key) in store.indexes, type_name(value)])
                entry[0] += 1
        for index_type_, index_cls, key in store.indexes:
            if index_type_ == index_type and index_cls == cls and key not in props:
                props[key] = [0, True, "string"]
        info: dict[str, Any] = {"matched": len(seqs), "properties": props or None}
        if links_of is not None:
            sample = records[seqs[0]]
            info["src"] = store.objects[sample.src].cls
            info["dst"] = store.objects[sample.dst].cls
        classes[cls] = info
    if not classes:
        return None
    return {"returned": len(classes), "classes": classes}


@command("CreateIndex", {"index_type", "class", "property_key", "property_type"})
def create_index(tx: Transaction, params: dict, where: str) -> dict:
    index_type = params.get("index_type")
    if index_type not in ("entity", "connection"):
        raise QueryError(f"{where}: index_type must be entity or connection")
    created = tx.store.create_index(index_type, _string(params, "class", where), _string(params, "property_key", where))
    return {"status": 0} if created else {"status": 2, "info": "Index exists"}


@command("RemoveIndex", {"index_type", "class", "property_key"})
def remove_index(tx: Transaction, params: dict, where: str) -> dict:
    index_type = params.get("index_type")
    if index_type not in ("entity", "connection"):
        raise QueryError(f"{where}: index_type must be entity or connection")
    removed = tx.store.remove_index(index_type, _string(params, "class", where), _string(params, "property_key", where))
    return {"status": 0} if removed else {"status": 1, "info": "Index does not exist"}


# ---- adding -----------------------------------------------------------------------------------


# How an add command makes its object: ``make(tx, params, where, properties, blob)``.
Make = Callable[[Transaction, dict, str, dict, "bytes | None"], Obj]


def _add(tx: Transaction, params: dict, where: str, cls: str, make: Make, takes_blob: bool = False) -> dict:
    """A conditional add; ``make`` creates the object when nothing matches.

    A command that carries a blob (``takes_blob``) uses it up whether or not the object is added.
    """
    props = _properties(params, where)
    blob = tx.take_blob(where) if takes_blob else None
    condition = params.get("if_not_found")
    if condition is not None:
        existing = _existing(tx, condition, cls, where)
        if existing:
            if len(existing) > 1:
                raise NotUniqueError(f"{where}: if_not_found expecting 1 but got {len(existing)}")
            tx.bind(params, existing, where)
            return {"status": 2, "info": "Object Exists!"}
    obj = make(tx, params, where, props, blob)
    if "connect" in params:
        _connect(tx, params["connect"], obj, where)
    tx.bind(params, [obj], where)
    return {"status": 0}


def _existing(tx: Transaction, condition: Any, cls: str, where: str) -> list:
    if isinstance(condition, int) and not isinstance(condition, bool):
        return list(tx.lookup(condition, where, "if_not_found"))
    if not isinstance(condition, dict):
        raise QueryError(f"{where}: if_not_found must be constraints or a reference")
    return _lookup(tx, [cls], condition, where, "if_not_found")


def _connect(tx: Transaction, spec: Any, obj: Obj, where: str) -> None:
    """An add's ``connect``: connections between the new object and the referenced ones."""
    if not isinstance(spec, dict) or "ref" not in spec:
        raise QueryError(f"{where}: connect needs a ref")
    if not CONNECT_KEYS.issuperset(spec):
        _refuse_unsupported(spec, CONNECT_KEYS, where, " in connect")
    cls = spec.get("class", "AT:connection")
    direction = spec.get("direction", "in")
    if direction not in ("in", "out"):
        raise QueryError(f"{where}: connect direction must be in or out")
    props = _properties(spec, f"{where}: connect") if "properties" in spec else {}
    for other in tx.lookup(spec["ref"], where, "connect ref"):
        if isinstance(other, Link):
            raise QueryError(f"{where}: connect ref must hold objects, not connections")
        # "in": the connection comes into the new object from the referenced one.
        src, dst = (other, obj) if direction == "in" else (obj, other)
        tx.store.add_link(cls, src, dst, props)


@command("AddEntity", ADD_COMMON | {"class"})
def add_entity(tx: Transaction, params: dict, where: str) -> dict:
    cls = _string(params, "class", where)
    if cls.startswith("_"):
        raise QueryError(f"{where}: class names starting with '_' are reserved")
    return _add(tx, params, where, cls, _make_entity)


def _make_entity(tx: Transaction, params: dict, where: str, props: dict, blob: None) -> Obj:
    return tx.store.add_object(params["class"], props)


@command("AddImage", ADD_COMMON | {"format", "operations"})
def add_image(tx: Transaction, params: dict, where: str) -> dict:
    return _add(tx, params, where, IMAGE, _make_image, takes_blob=True)


def _make_image(tx: Transaction, params: dict, where: str, props: dict, blob: bytes) -> Obj:
    width, height, stored_format = images.inspect(blob, where)
    fmt = params.get("format")
    operations = params.get("operations")
    if operations is not None:
        images.validate_operations(operations, where)
    if operations or (fmt is not None and images.check_format(fmt, where) != stored_format):
        blob = images.transform(blob, operations, fmt or stored_format, where)
        width, height, _ = images.inspect(blob, where)
    props.setdefault(IMAGE_WIDTH, width)
    props.setdefault(IMAGE_HEIGHT, height)
    return tx.store.add_object(IMAGE, props, blob=blob)


@command("AddBlob", ADD_COMMON)
def add_blob(tx: Transaction, params: dict, where: str) -> dict:
    return _add(tx, params, where, BLOB, _make_blob, takes_blob=True)


def _make_blob(tx: Transaction, params: dict, where: str, props: dict, blob: bytes) -> Obj:
    return tx.store.add_object(BLOB, props, blob=blob)


def _single_image(tx: Transaction, params: dict, where: str) -> Obj:
    if "image_ref" not in params:
        raise QueryError(f"{where}: image_ref is required")
    found = tx.lookup(params["image_ref"], where, "image_ref")
    if len(found) != 1 or not isinstance(found[0], Obj) or found[0].cls != IMAGE:
        raise QueryError(f"{where}: image_ref must refer to exactly one image (got {len(found)} objects)")
    return found[0]


def _region_on_image(tx: Transaction, params: dict, where: str, props: dict, cls: str, link_class: str,
                     geometry: Any) -> Obj:
    """A bounding box or polygon on exactly one image, connected to it."""
    image = _single_image(tx, params, where)
    # Positionally: compiled for benchmarks, this is a C call, which cannot skip ``blob`` by naming the rest.
    region = tx.store.add_object(cls, props, None, geometry, _label(params, where))
    tx.store.add_link(link_class, region, image, {})
    return region


@command("AddBoundingBox", ADD_COMMON | {"image_ref", "rectangle", "label"})
def add_bounding_box(tx: Transaction, params: dict, where: str) -> dict:
    return _add(tx, params, where, BOUNDING_BOX, _make_bounding_box)


def _make_bounding_box(tx: Transaction, params: dict, where: str, props: dict, blob: None) -> Obj:
    return _region_on_image(tx, params, where, props, BOUNDING_BOX, BOX_TO_IMAGE,
                            _rectangle(params.get("rectangle"), where))


@command("AddPolygon", ADD_COMMON | {"image_ref", "polygons", "label"})
def add_polygon(tx: Transaction, params: dict, where: str) -> dict:
    return _add(tx, params, where, POLYGON, _make_polygon)


def _make_polygon(tx: Transaction, params: dict, where: str, props: dict, blob: None) -> Obj:
    return _region_on_image(tx, params, where, props, POLYGON, POLYGON_TO_IMAGE,
                            _polygons(params.get("polygons"), where))


@command("AddConnection", {"_ref", "class", "src", "dst", "properties", "if_not_found"})
def add_connection(tx: Transaction, params: dict, where: str) -> dict:
    cls = _string(params, "class", where)
    props = _properties(params, where)
    sources = tx.lookup(params.get("src"), where, "src")
    destinations = tx.lookup(params.get("dst"), where, "dst")
    if any(isinstance(r, Link) for r in sources + destinations):
        raise QueryError(f"{where}: src and dst must hold objects, not connections")
    condition = params.get("if_not_found")
    pairs = [(s, d) for s in sources for d in destinations]
    if condition is not None:
        constraints = Constraints(condition, f"{where}: if_not_found")
        existing = [
            tx.store.links[seq]
            for s, d in pairs
            for seq in tx.store.out_links.get(s.seq, ())
            if tx.store.links[seq].dst == d.seq and tx.store.links[seq].cls == cls
            and constraints.matches(tx.store.links[seq], system_value)
        ]
        if existing:
            tx.bind(params, existing, where)
            return {"status": 2, "info": "Object Exists!"}
    links = [tx.store.add_link(cls, s, d, props) for s, d in pairs]
    tx.bind(params, links, where)
    return {"status": 0}


# ---- finding ----------------------------------------------------------------------------------


@dataclass
class Selection:
    """What a Find matched, in answer order, with the source object each came from."""

    records: list
    sources: dict[int, list[int]] | None = None
    count: int | None = None


def _sort_spec(params: dict, results: dict, where: str) -> list[tuple[str, bool]]:
    raw = params.get("sort", results.get("sort"))
    if raw is None:
        return []
    items = raw if isinstance(raw, list) else [raw]
    spec = []
    for item in items:
        if isinstance(item, str):
            spec.append((item, False))
        elif isinstance(item, dict) and isinstance(item.get("key"), str) and set(item) <= {"key", "order"}:
            order = item.get("order", "ascending")
            if order not in ("ascending", "descending"):
                raise QueryError(f"{where}: sort order must be ascending or descending")
            spec.append((item["key"], order == "descending"))
        else:
            raise QueryError(f"{where}: sort must be a key, {{key, order}} or a list of those")
    for key, _ in spec:
        if key in GEOMETRY_PROPERTIES:
            raise QueryError(f"{where}: cannot sort by {key}: its values are objects")
    return spec


def _connected(tx: Transaction, spec: Any, where: str, link_class_default: str | None = None) -> dict[int, list[int]]:
    """Objects connected to the referenced ones, mapped to the reference objects they came from."""
    if not isinstance(spec, dict):
        raise QueryError(f"{where}: is_connected_to must be an object")
    for combinator in ("any", "all"):
        if combinator in spec:
            if set(spec) != {combinator} or not isinstance(spec[combinator], list) or not spec[combinator]:
                raise QueryError(f"{where}: is_connected_to {combinator!r} must be the only key, a non-empty list")
            parts = [_connected(tx, part, where, link_class_default) for part in spec[combinator]]
            merged: dict[int, list[int]] = {}
            keys = set(parts[0])
            for part in parts[1:]:
                keys = keys | set(part) if combinator == "any" else keys & set(part)
            for part in parts:
                for seq in keys & set(part):
                    merged.setdefault(seq, []).extend(part[seq])
            return merged
    _only(spec, CONNECTED_KEYS, where, " in is_connected_to")
    direction = spec.get("direction", "any")
    if direction not in ("in", "out", "any"):
        raise QueryError(f"{where}: is_connected_to direction must be in, out or any")
    link_class = spec.get("connection_class", link_class_default)
    link_constraints = Constraints(spec["constraints"], where) if "constraints" in spec else None
    found: dict[int, list[int]] = {}
    for source in tx.lookup(spec.get("ref"), where, "is_connected_to ref"):
        if isinstance(source, Link):
            raise QueryError(f"{where}: is_connected_to ref must hold objects")
        for link, other in tx.store.neighbours(source.seq, direction, link_class):
            if link_constraints is None or link_constraints.matches(link, system_value):
                found.setdefault(other, []).append(source.seq)
    return found


def _candidates(tx: Transaction, classes: list[str] | None, constraints: Constraints | None,
                sort: list[tuple[str, bool]]) -> tuple[Iterator[int], bool]:
    """Sequence numbers that may match, and whether they already come in the requested order.

    Uses the ``_uniqueid`` order of a class or a property index where one serves.
    """
    store = tx.store
    if constraints is not None:
        condition = constraints.top_level("_uniqueid")
        if condition is not None and condition.equality_values() is not None:
            seqs = sorted({s for s in map(parse_uniqueid, condition.equality_values()) if s in store.objects})
            return iter(seqs), not sort
        if classes is not None and len(classes) == 1:
            created = constraints.top_level("_create_txn")
            bounds = created.bounds() if created is not None else None
            if bounds is not None and isinstance(bounds[0], (int, float)):
                return _created_after(store, classes[0], bounds[0], inclusive=bounds[1]), not sort
            for condition in constraints.conditions:
                values = condition.equality_values()
                if values is not None:
                    found = store.index_lookup("entity", classes[0], condition.key, values)
                    if found is not None:
                        return iter(sorted(set(found))), not sort
            for condition in constraints.conditions:
                bounds = condition.bounds()
                if bounds is not None:
                    descending = bool(sort) and sort[0] == (condition.key, True)
                    ranged = store.index_range("entity", classes[0], condition.key, *bounds, reverse=descending)
                    if ranged is not None:
                        in_order = len(sort) == 1 and sort[0][0] == condition.key
                        return (ranged if in_order else iter(sorted(ranged))), in_order or not sort
    names = classes if classes is not None else [c for c in store.by_class if not c.startswith("_")]
    if len(sort) == 1 and names and len(names) == 1:
        key, descending = sort[0]
        if key == "_uniqueid":
            members = store.members(names[0])
            return (reversed(members) if descending else iter(members)), True
        ordered = store.index_order("entity", names[0], key, descending)
        if ordered is not None:
            return _with_missing_last(store, names[0], key, ordered), True
    merged = heapq.merge(*(store.members(name) for name in names))
    return merged, not sort


def _created_after(store: Store, cls: str, txn: float, inclusive: bool) -> Iterator[int]:
    """Members of ``cls`` created in a transaction after ``txn`` (or in it, when ``inclusive``): sequence
    numbers grow with transactions, so a binary search finds the first, as an index on ``_create_txn`` would."""
    members = store.members(cls)
    search = bisect.bisect_left if inclusive else bisect.bisect_right
    return members.islice(search(members, txn, key=lambda seq: store.objects[seq].txn))


def _window(store: Store, classes: list[str] | None, sort: list[tuple[str, bool]]):
    """Positional access to all objects of one class in the requested order, for unfiltered pages.

    Slicing the sorted class members or a sorted index costs time in the page, not in the store.
    """
    if classes is None or len(classes) != 1 or len(sort) > 1:
        return None
    members = store.members(classes[0])
    key, descending = sort[0] if sort else ("_uniqueid", False)
    if key == "_uniqueid":
        ordered = members
    else:
        index = store.indexes.get(("entity", classes[0], key))
        if index is None or len(index.entries) != len(members):
            return None
        ordered = index.entries

    def window(offset: int, limit: int | None) -> Iterator[int]:
        total = len(ordered)
        start = min(offset, total)
        stop = total if limit is None else min(total, start + limit)
        if descending:
            start, stop = max(0, total - stop), total - start
        for entry in ordered.islice(start, stop, reverse=descending):
            yield entry if ordered is members else entry[1]
    return window


def _with_missing_last(store: Store, cls: str, key: str, ordered: Iterator[int]) -> Iterator[int]:
    yield from ordered
    for seq in store.members(cls):
        if key not in store.objects[seq].props:
            yield seq


def _select(tx: Transaction, params: dict, results: dict, where: str, classes: list[str] | None,
            source: dict[int, list[int]] | None, within: set[int] | None = None) -> Selection:
    """What a Find matches: of ``classes``, connected to ``source`` and among ``within`` when given;
    ``results``: its checked ``results`` block."""
    store = tx.store
    named = _named_by_uniqueid(store, params.get("constraints")) if source is None and within is None else None
    constraints = None
    if named is None and "constraints" in params:
        constraints = Constraints(params["constraints"], f"{where}: constraints")
    sort = _sort_spec(params, results, where)
    limit = _int(params, "limit", where, _int(results, "limit", where))
    offset = _int(params, "offset", where, 0)
    want_count = _bool(results, "count", where)

    if source is None and constraints is None and named is None:
        window = _window(store, classes, sort)
        if window is not None and not want_count:
            return Selection([store.objects[seq] for seq in window(offset, limit)], None, None)
        if window is not None and set(params) == {"results"} and results == {"count": True}:
            # A bare count of a class: its size, without visiting every member.
            return Selection([], None, len(store.members(classes[0])))
    if named is not None:
        seqs, in_order = named, not sort
    elif source is not None or within is not None:
        candidates = set(source) if source is not None else set(within)
        if within is not None:
            candidates &= within
        seqs: Iterable[int] = sorted(candidates)
        in_order = not sort
    else:
        seqs, in_order = _candidates(tx, classes, constraints, sort)

    def matching() -> Iterator[Obj]:
        for seq in seqs:
            obj = store.objects.get(seq)
            if obj is None or (classes is not None and obj.cls not in classes):
                continue
            if constraints is None or constraints.matches(obj, system_value):
                yield obj

    count = None
    if in_order and not want_count:
        end = None if limit is None else offset + limit
        records = list(islice(matching(), offset, end))
    else:
        everything = _sorted(list(matching()), sort)
        count = len(everything)
        records = everything[offset:] if limit is None else everything[offset:offset + limit]
    return Selection(records, source, count)


def _named_by_uniqueid(store: Store, spec: Any) -> list[int] | None:
    """The object a constraints block of only ``_uniqueid == "..."`` names (a write's Find of its image), found
    without compiling the block; None for any other block."""
    if type(spec) is not dict or len(spec) != 1 or not is_plain_equality(spec.get("_uniqueid")):
        return None
    seq = parse_uniqueid(spec["_uniqueid"][1])
    return [seq] if seq in store.objects else []


def _lookup(tx: Transaction, classes: list[str] | None, spec: Any, where: str, block: str) -> list[Obj]:
    """What a Find with only these constraints matches (the look-up of conditional adds, updates and deletes):
    the same candidates, so that indexed properties answer without a scan, without a Find's other parameters.
    ``block``: the parameter the constraints are in, for messages."""
    indexed = _indexed_equal(tx.store, classes, spec)
    if indexed is not None and not indexed:
        return []  # the usual answer of a conditional add, found without compiling its constraints
    constraints = Constraints(spec, f"{where}: {block}")
    objects = tx.store.objects
    seqs = sorted(indexed) if indexed is not None else _candidates(tx, classes, constraints, [])[0]
    return [obj for obj in map(objects.get, seqs)
            if obj is not None and (classes is None or obj.cls in classes) and constraints.matches(obj, system_value)]


def _indexed_equal(store: Store, classes: list[str] | None, spec: Any) -> Collection[int] | None:
    """When every constraint is ``==`` a plain value of a user property (as those of conditional adds are),
    which no constraint compiler refuses: the records of the one class whose first indexed such property
    has that value. Otherwise None."""
    if classes is None or len(classes) != 1 or type(spec) is not dict:
        return None
    indexes = store.class_indexes("entity", classes[0])
    found = None
    for key, condition in spec.items():
        if key.startswith("_") or key in ("any", "all") or not is_plain_equality(condition):
            return None
        if found is None and key in indexes:
            found = indexes[key].equal(condition[1])
    return found


def _sorted(records: list, sort: list[tuple[str, bool]]) -> list:
    """Records in ``sort`` order; those without a sort key come last in either order."""
    for key, descending in reversed(sort):
        present = [r for r in records if system_value(r, key) is not None]
        missing = [r for r in records if system_value(r, key) is None]
        present.sort(key=lambda r: sort_key(system_value(r, key)), reverse=descending)
        records = present + missing
    return records


def _check_unique(params: dict, selection: Selection, where: str) -> None:
    if _bool(params, "unique", where) and len(selection.records) > 1:
        raise NotUniqueError(f"{where}: expecting 1 but got {len(selection.records)}")


def _listed(params: dict, results: dict, flags: dict[str, str], where: str) -> tuple[list[str], bool]:
    """What a Find lists of each record: names, and whether all of a record's properties come first.

    Read once per command, not once per record: a page lists thousands."""
    every = _bool(results, "all_properties", where)
    names: list[str] = ["_uniqueid"] if every else list(results.get("list", []))
    if _bool(params, "uniqueids", where) or _bool(results, "uniqueids", where):
        names.append("_uniqueid")
    names += [system_name for flag, system_name in flags.items() if _bool(params, flag, where)]
    return list(dict.fromkeys(names)), every


def _reader(name: str) -> Callable[[Obj | Link], Any]:
    """How a listed name is read from a record: chosen once per command, for the names every page lists."""
    if name == "_uniqueid":
        return lambda record: format_uniqueid(record.seq)
    if name == "_create_txn":
        return lambda record: record.txn
    if not name.startswith("_"):
        return lambda record: to_wire(record.props.get(name))
    return lambda record: to_wire(system_value(record, name))


def _describe(record: Obj | Link, readers: list[tuple[str, Callable]], every: bool) -> dict | None:
    if every:
        names = dict.fromkeys(sorted(record.props) + [name for name, _ in readers])
        return {name: to_wire(system_value(record, name)) for name in names}
    if not readers:
        return None
    return {name: read(record) for name, read in readers}


def _answer(tx: Transaction, params: dict, results: dict, where: str, selection: Selection, flags: dict[str, str],
            blob_of: Callable[[Obj], bytes] | None = None, key: str = "entities") -> dict:
    answer: dict[str, Any] = {"status": 0}
    records = selection.records
    batch = params.get("batch")
    if batch is not None:
        records, answer["batch"] = _batch(records, batch, where)
    tx.bind(params, records, where)
    names, every = _listed(params, results, flags, where)
    readers = [(name, _reader(name)) for name in names]
    described = [_describe(record, readers, every) for record in records]
    if blob_of is not None:
        answer["blobs_start"] = len(tx.out_blobs)
        for index, record in enumerate(records):
            if described[index] is not None:
                described[index]["_blob_index"] = len(tx.out_blobs)
            tx.out_blobs.append(blob_of(record))
    listed = any(d is not None for d in described)
    answer["returned"] = len(records) if (listed or blob_of is not None) else 0
    if listed:
        if _group_by_source(params, results, where) and selection.sources is not None:
            grouped: dict[int, list] = {}
            for record, description in zip(records, described):
                for source_seq in dict.fromkeys(selection.sources.get(record.seq, ())):
                    grouped.setdefault(source_seq, []).append(description)
            answer[key] = {format_uniqueid(source_seq): group for source_seq, group in grouped.items()}
        else:
            answer[key] = described
    if _bool(results, "count", where):
        answer["count"] = selection.count if selection.count is not None else len(selection.records)
    return answer


def _group_by_source(params: dict, results: dict, where: str) -> bool:
    return _bool(params, "group_by_source", where) or _bool(results, "group_by_source", where)


def _batch(records: list, spec: Any, where: str) -> tuple[list, dict]:
    if not isinstance(spec, dict) or not set(spec) <= {"batch_id", "batches", "batch_size"}:
        raise QueryError(f"{where}: batch must be {{batch_id, batches}} or {{batch_id, batch_size}}")
    total = len(records)
    if not spec:
        return [], {"total_elements": total}
    batch_id = _int(spec, "batch_id", where, 0)
    if "batches" in spec:
        batches = _int(spec, "batches", where, minimum=1)
        size = total // batches
    else:
        size = _int(spec, "batch_size", where, minimum=1)
        batches = max(1, -(-total // size))
    if batch_id >= batches:
        raise QueryError(f"{where}: batch_id {batch_id} is past the last batch ({batches - 1})")
    start = batch_id * size
    end = total if batch_id == batches - 1 else start + size
    return records[start:end], {"batch_id": batch_id, "batches": batches, "total_elements": total, "end": end}


def _find_objects(tx: Transaction, params: dict, where: str, classes: list[str] | None,
                  flags: dict[str, str], blob_of: Callable[[Obj], bytes] | None = None,
                  source: dict[int, list[int]] | None = None, within: set[int] | None = None) -> dict:
    if source is None and "is_connected_to" in params:
        source = _connected(tx, params["is_connected_to"], where)
    results = _results(params, where)
    if _group_by_source(params, results, where) and source is None:
        raise QueryError(f"{where}: group_by_source needs is_connected_to (or image_ref) with one ref")
    selection = _select(tx, params, results, where, classes, source, within)
    _check_unique(params, selection, where)
    return _answer(tx, params, results, where, selection, flags, blob_of)


@command("FindEntity", FIND_COMMON | {"with_class", "class"})
def find_entity(tx: Transaction, params: dict, where: str) -> dict:
    cls = params.get("with_class", params.get("class"))
    if cls is not None and not isinstance(cls, str):
        raise QueryError(f"{where}: with_class must be a string")
    return _find_objects(tx, params, where, [cls] if cls else None, {})


def _image_blob(params: dict, where: str) -> Callable[[Obj], bytes] | None:
    if not _bool(params, "blobs", where):
        return None
    as_format = params.get("as_format")
    if as_format is not None:
        images.check_format(as_format, where)
    operations = params.get("operations")
    if operations is not None:
        images.validate_operations(operations, where)
    return lambda image: images.transform(image.blob, operations, as_format, where)


@command("FindImage", FIND_COMMON | {"blobs", "as_format", "operations"})
def find_image(tx: Transaction, params: dict, where: str) -> dict:
    return _find_objects(tx, params, where, [IMAGE], {}, _image_blob(params, where))


@command("FindBlob", FIND_COMMON | {"blobs"})
def find_blob(tx: Transaction, params: dict, where: str) -> dict:
    blob_of = (lambda obj: obj.blob) if _bool(params, "blobs", where) else None
    return _find_objects(tx, params, where, [BLOB], {}, blob_of)


def _find_regions(tx: Transaction, params: dict, where: str, cls: str, link_class: str,
                  flags: dict[str, str]) -> dict:
    if "image_ref" in params and "is_connected_to" in params:
        raise QueryError(f"{where}: image_ref and is_connected_to cannot be used together")
    source = None
    if "image_ref" in params:
        source = _connected(tx, {"ref": params["image_ref"], "connection_class": link_class, "direction": "in"}, where)
    if "with_label" in params:
        constraints = params.get("constraints", {})
        if not isinstance(constraints, dict):
            raise QueryError(f"{where}: constraints: constraints must be an object")
        params = {**params, "constraints": {**constraints, "_label": ["==", params["with_label"]]}}
    in_rectangle = params.get("in_rectangle")
    # A filter of its own: the rectangle narrows what image_ref or is_connected_to found, never widens it.
    inside = None if in_rectangle is None else _inside(tx, cls, _rectangle(in_rectangle, f"{where}: in_rectangle"))
    blob_of = None
    if _bool(params, "blobs", where):
        blob_of = lambda region: _region_crop(tx, region, params.get("as_format"), where)  # noqa: E731
    return _find_objects(tx, params, where, [cls], flags, blob_of, source, inside)


def _inside(tx: Transaction, cls: str, rectangle: tuple) -> set[int]:
    x, y, w, h = rectangle
    inside = set()
    for seq in tx.store.members(cls):
        obj = tx.store.objects[seq]
        bounds = obj.geometry if cls == BOUNDING_BOX else tuple(system_value(obj, "_bounds").values())
        bx, by, bw, bh = bounds
        if bx >= x and by >= y and bx + bw <= x + w and by + bh <= y + h:
            inside.add(seq)
    return inside


def _region_crop(tx: Transaction, region: Obj, as_format: Any, where: str) -> bytes:
    link_class = BOX_TO_IMAGE if region.cls == BOUNDING_BOX else POLYGON_TO_IMAGE
    image = next((tx.store.objects[other] for _, other in tx.store.neighbours(region.seq, "out", link_class)), None)
    if image is None:
        # Deleting an image keeps its regions (ApertureDB documents no cascade), which leaves nothing to crop.
        raise QueryError(f"{where}: {region.cls} {format_uniqueid(region.seq)} has no image to crop its blob from")
    bounds = region.geometry if region.cls == BOUNDING_BOX else tuple(system_value(region, "_bounds").values())
    crop = {"type": "crop", **dict(zip(("x", "y", "width", "height"), (int(v) for v in bounds)))}
    return images.transform(image.blob, [crop], as_format, where)


REGION_FIND = FIND_COMMON | {"image_ref", "in_rectangle", "with_label", "blobs", "as_format", "labels", "areas"}


@command("FindBoundingBox", REGION_FIND | {"coordinates"})
def find_bounding_box(tx: Transaction, params: dict, where: str) -> dict:
    flags = {"coordinates": "_coordinates", "labels": "_label", "areas": "_area"}
    return _find_regions(tx, params, where, BOUNDING_BOX, BOX_TO_IMAGE, flags)


@command("FindPolygon", REGION_FIND | {"vertices", "bounds"})
def find_polygon(tx: Transaction, params: dict, where: str) -> dict:
    flags = {"vertices": "_vertices", "bounds": "_bounds", "labels": "_label", "areas": "_area"}
    return _find_regions(tx, params, where, POLYGON, POLYGON_TO_IMAGE, flags)


@command("FindConnection", {"_ref", "with_class", "class", "unique", "src", "dst", "constraints", "sort",
                            "offset", "limit", "batch", "results", "uniqueids"})
def find_connection(tx: Transaction, params: dict, where: str) -> dict:
    cls = params.get("with_class", params.get("class"))
    store = tx.store
    constraints = Constraints(params["constraints"], f"{where}: constraints") if "constraints" in params else None
    sources = {r.seq for r in tx.lookup(params["src"], where, "src")} if "src" in params else None
    destinations = {r.seq for r in tx.lookup(params["dst"], where, "dst")} if "dst" in params else None
    if sources is not None:
        seqs = sorted({s for src in sources for s in store.out_links.get(src, ())})
    elif destinations is not None:
        seqs = sorted({s for dst in destinations for s in store.in_links.get(dst, ())})
    elif cls is not None:
        seqs = list(store.link_members(cls))
    else:
        seqs = sorted(store.links)
    links = [
        link for link in (store.links[s] for s in seqs)
        if (cls is None or link.cls == cls)
        and (sources is None or link.src in sources)
        and (destinations is None or link.dst in destinations)
        and (constraints is None or constraints.matches(link, system_value))
    ]
    count = len(links)
    results = _results(params, where)
    links = _sorted(links, _sort_spec(params, results, where))
    offset = _int(params, "offset", where, 0)
    limit = _int(params, "limit", where, _int(results, "limit", where))
    links = links[offset:] if limit is None else links[offset:offset + limit]
    selection = Selection(links, None, count)
    _check_unique(params, selection, where)
    return _answer(tx, params, results, where, selection, {}, key="connections")


# ---- updating and deleting --------------------------------------------------------------------


def _targets(tx: Transaction, params: dict, where: str, classes: list[str] | None) -> list:
    if "ref" in params:
        records = tx.lookup(params["ref"], where)
        if classes is not None and any(not isinstance(r, Obj) or r.cls not in classes for r in records):
            raise QueryError(f"{where}: ref holds objects of another type")
        return list(records)
    if "constraints" not in params and "with_class" not in params:
        # Only DeleteEntity and UpdateEntity may take a whole class, and only when it is named.
        choosers = "ref or constraints" if classes else "ref, with_class or constraints"
        raise QueryError(f"{where}: needs {choosers}")
    if "constraints" in params:
        return _lookup(tx, classes, params["constraints"], where, "constraints")
    return _select(tx, {}, {}, where, classes, None).records


def _update(tx: Transaction, params: dict, where: str, classes: list[str] | None,
            geometry: Callable[[], Any] = lambda: None) -> dict:
    props = _properties(params, where)
    remove = _remove_props(params, where)
    new_geometry = geometry()
    label = _label(params, where)
    targets = _targets(tx, params, where, classes)
    for obj in targets:
        tx.store.update_object(obj, props, remove, new_geometry, label)
    return {"status": 0, "count": len(targets)}


def _delete(tx: Transaction, params: dict, where: str, classes: list[str] | None) -> dict:
    targets = _targets(tx, params, where, classes)
    for obj in targets:
        if obj.seq in tx.store.objects:
            tx.store.delete_object(obj)
    if "ref" in params:
        # A ref used by a Delete is no longer valid for later commands.
        tx.refs[params["ref"]] = []
    return {"status": 0, "count": len(targets)}


def _entity_class(params: dict, where: str) -> list[str] | None:
    cls = params.get("with_class")
    if cls is not None and not isinstance(cls, str):
        raise QueryError(f"{where}: with_class must be a string")
    return [cls] if cls else None


@command("UpdateEntity", UPDATE_COMMON | {"with_class"})
def update_entity(tx: Transaction, params: dict, where: str) -> dict:
    classes = _entity_class(params, where)
    if classes is None and "ref" not in params and "constraints" in params:
        classes = [c for c in tx.store.by_class if not c.startswith("_")]
    return _update(tx, params, where, classes)


@command("UpdateImage", UPDATE_COMMON | {"operations"})
def update_image(tx: Transaction, params: dict, where: str) -> dict:
    if "operations" in params:
        raise QueryError(f"{where}: operations in UpdateImage are not supported by the test server")
    return _update(tx, params, where, [IMAGE])


@command("UpdateBlob", UPDATE_COMMON)
def update_blob(tx: Transaction, params: dict, where: str) -> dict:
    return _update(tx, params, where, [BLOB])


@command("UpdateBoundingBox", UPDATE_COMMON | {"rectangle", "label"})
def update_bounding_box(tx: Transaction, params: dict, where: str) -> dict:
    rectangle = params.get("rectangle")
    return _update(tx, params, where, [BOUNDING_BOX],
                   lambda: None if rectangle is None else _rectangle(rectangle, where))


@command("UpdatePolygon", UPDATE_COMMON | {"polygons", "label"})
def update_polygon(tx: Transaction, params: dict, where: str) -> dict:
    polygons = params.get("polygons")
    return _update(tx, params, where, [POLYGON], lambda: None if polygons is None else _polygons(polygons, where))


@command("UpdateConnection", UPDATE_COMMON | {"with_class"})
def update_connection(tx: Transaction, params: dict, where: str) -> dict:
    props = _properties(params, where)
    remove = _remove_props(params, where)
    links = _link_targets(tx, params, where)
    for link in links:
        tx.store.update_link(link, props, remove)
    return {"status": 0, "count": len(links)}


def _link_targets(tx: Transaction, params: dict, where: str) -> list[Link]:
    if "ref" in params:
        records = tx.lookup(params["ref"], where)
        if any(not isinstance(r, Link) for r in records):
            raise QueryError(f"{where}: ref holds objects, not connections")
        return list(records)
    cls = params.get("with_class")
    if cls is None and "constraints" not in params:
        raise QueryError(f"{where}: needs ref, with_class or constraints")
    return find_connection_records(tx, cls, params.get("constraints"), where)


def find_connection_records(tx: Transaction, cls: str | None, constraints: Any, where: str) -> list[Link]:
    compiled = Constraints(constraints, f"{where}: constraints") if constraints is not None else None
    seqs = tx.store.link_members(cls) if cls is not None else sorted(tx.store.links)
    return [
        tx.store.links[seq] for seq in seqs
        if compiled is None or compiled.matches(tx.store.links[seq], system_value)
    ]


@command("DeleteEntity", DELETE_COMMON | {"with_class"})
def delete_entity(tx: Transaction, params: dict, where: str) -> dict:
    classes = _entity_class(params, where)
    if classes is None and "ref" not in params and "constraints" in params:
        classes = [c for c in tx.store.by_class if not c.startswith("_")]
    return _delete(tx, params, where, classes)


@command("DeleteImage", DELETE_COMMON)
def delete_image(tx: Transaction, params: dict, where: str) -> dict:
    return _delete(tx, params, where, [IMAGE])


@command("DeleteBlob", DELETE_COMMON)
def delete_blob(tx: Transaction, params: dict, where: str) -> dict:
    return _delete(tx, params, where, [BLOB])


@command("DeleteBoundingBox", DELETE_COMMON)
def delete_bounding_box(tx: Transaction, params: dict, where: str) -> dict:
    return _delete(tx, params, where, [BOUNDING_BOX])


@command("DeletePolygon", DELETE_COMMON)
def delete_polygon(tx: Transaction, params: dict, where: str) -> dict:
    return _delete(tx, params, where, [POLYGON])


@command("DeleteConnection", DELETE_COMMON | {"with_class"})
def delete_connection(tx: Transaction, params: dict, where: str) -> dict:
    links = _link_targets(tx, params, where)
    for link in links:
        if link.seq in tx.store.links:
            tx.store.delete_link(link)
    if "ref" in params:
        tx.refs[params["ref"]] = []
    return {"status": 0, "count": len(links)}

"""Status, schema and indexes."""

from __future__ import annotations

from typing import Any, Callable, Iterable

from sortedcontainers import SortedList

from ..errors import QueryError
from ..store import Store
from ..values import type_name
from .engine import Transaction, command
from .parameters import read_string

VERSION = "0.18.0-ls-storage-test"
# A property's type as ApertureDB's GetSchema names it: "String" and "Number" as its documentation shows them,
# "Boolean" and "DateTime" inferred (the SDK's Utils.summary pads type names to 8 characters, DateTime's length).
SCHEMA_TYPES = {"string": "String", "number": "Number", "boolean": "Boolean", "datetime": "DateTime"}


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
                entry = props.setdefault(key, [0, (index_type, cls, key) in store.indexes,
                                               SCHEMA_TYPES[type_name(value)]])
                entry[0] += 1
        for index_type_, index_cls, key in store.indexes:
            if index_type_ == index_type and index_cls == cls and key not in props:
                props[key] = [0, True, SCHEMA_TYPES["string"]]
        info: dict[str, Any] = {"matched": len(seqs), "properties": props or None}
        if links_of is not None:
            sample = records[seqs[0]]
            info["src"] = store.objects[sample.src].cls
            info["dst"] = store.objects[sample.dst].cls
        classes[cls] = info
    if not classes:
        return None
    return {"returned": len(classes), "classes": classes}


# ApertureDB's own indexes, which every server lists and none lets a client remove.
BUILTIN_INDEXES = (("entity", "_DescriptorSet", "_name"), ("entity", "_Descriptor", "_set_name"),
                   ("entity", "_Descriptor", "_create_txn"))
INDEX_KINDS = ("ordered",)
# The two forms of an index's name: the current one, and the older one that some clients still send.
INDEX_FORMS = ({"target", "class", "property", "kind"}, {"index_type", "class", "property_key", "property_type"})


def _index_name(params: dict, where: str) -> tuple[str, str, str]:
    """``(target, class, property)`` of an index command, in either form (not mixed)."""
    current = "target" in params or "property" in params or "kind" in params
    form = INDEX_FORMS[0] if current else INDEX_FORMS[1]
    if not form.issuperset(params):
        raise QueryError(f"{where}: unsupported parameter {sorted(set(params) - form)[0]!r}"
                         f"{' (target, class, property, kind and index_type, property_key are two forms: use one)' if current else ''}")
    target = params.get("target" if current else "index_type")
    if target not in ("entity", "connection"):
        raise QueryError(f"{where}: {'target' if current else 'index_type'} must be entity or connection")
    kind = params.get("kind", "ordered")
    if kind not in INDEX_KINDS:
        raise QueryError(f"{where}: index kind {kind!r} is not supported by the test server (only ordered)")
    return target, read_string(params, "class", where), read_string(params, "property" if current else "property_key", where)


@command("CreateIndex", INDEX_FORMS[0] | INDEX_FORMS[1])
def create_index(tx: Transaction, params: dict, where: str) -> dict:
    name = _index_name(params, where)
    if name in BUILTIN_INDEXES or not tx.store.create_index(*name):
        return {"status": 2, "info": "Index exists"}
    return {"status": 0}


@command("RemoveIndex", INDEX_FORMS[0] | INDEX_FORMS[1])
def remove_index(tx: Transaction, params: dict, where: str) -> dict:
    name = _index_name(params, where)
    if name in BUILTIN_INDEXES:
        raise QueryError(f"{where}: {name[1]}.{name[2]} is a built-in index and cannot be removed")
    return {"status": 0} if tx.store.remove_index(*name) else {"status": 1, "info": "Index does not exist"}


@command("GetIndexes", INDEX_FORMS[0])
def get_indexes(tx: Transaction, params: dict, where: str) -> dict:
    """Every index, grouped ``{target: {class: {property: [{"kind", "params"}]}}}``, narrowed by the given
    target, class, property and kind."""
    wanted = [params.get(key) for key in ("target", "class", "property")]
    for key in ("target", "class", "property", "kind"):
        if key in params and not isinstance(params[key], str):
            raise QueryError(f"{where}: {key} must be a string")
    grouped: dict[str, dict] = {}
    if params.get("kind", "ordered") in INDEX_KINDS:
        for name in sorted(set(BUILTIN_INDEXES) | set(tx.store.indexes)):
            if all(want is None or want == part for want, part in zip(wanted, name)):
                target, cls, prop = name
                grouped.setdefault(target, {}).setdefault(cls, {})[prop] = [{"kind": "ordered", "params": {}}]
    return {"status": 0, "indexes": grouped}

"""What adds, updates and deletes of every object family share: conditional adds, ``connect``, and the
objects an update or delete applies to."""

from __future__ import annotations

from typing import Any, Callable

from ..errors import NotUniqueError, QueryError
from ..store import Link, Obj
from .engine import Transaction, refuse_unsupported
from .finding import lookup, select
from .parameters import read_label, read_properties, read_remove_props

ADD_COMMON = {"_ref", "properties", "if_not_found", "connect"}
UPDATE_COMMON = {"ref", "constraints", "properties", "remove_props"}
DELETE_COMMON = {"ref", "constraints"}
CONNECT_KEYS = frozenset({"ref", "class", "direction", "properties"})


# ---- adding -----------------------------------------------------------------------------------


# How an add command makes its object: ``make(tx, params, where, properties, blob)``.
Make = Callable[[Transaction, dict, str, dict, "bytes | None"], Obj]


def conditional_add(tx: Transaction, params: dict, where: str, cls: str, make: Make, takes_blob: bool = False) -> dict:
    """A conditional add; ``make`` creates the object when nothing matches.

    A command that carries a blob (``takes_blob``) uses it up whether or not the object is added.
    """
    props = read_properties(params, where)
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
    if not isinstance(condition, (dict, list)):
        raise QueryError(f"{where}: if_not_found must be constraints (an object or an expression) or a reference")
    return lookup(tx, [cls], condition, where, "if_not_found")


def _connect(tx: Transaction, spec: Any, obj: Obj, where: str) -> None:
    """An add's ``connect``: connections between the new object and the referenced ones."""
    if not isinstance(spec, dict) or "ref" not in spec:
        raise QueryError(f"{where}: connect needs a ref")
    if not CONNECT_KEYS.issuperset(spec):
        refuse_unsupported(spec, CONNECT_KEYS, where, " in connect")
    cls = spec.get("class", "AT:connection")
    direction = spec.get("direction", "in")
    if direction not in ("in", "out"):
        raise QueryError(f"{where}: connect direction must be in or out")
    props = read_properties(spec, f"{where}: connect") if "properties" in spec else {}
    for other in tx.lookup(spec["ref"], where, "connect ref"):
        if isinstance(other, Link):
            raise QueryError(f"{where}: connect ref must hold objects, not connections")
        # "in": the connection comes into the new object from the referenced one.
        src, dst = (other, obj) if direction == "in" else (obj, other)
        tx.store.add_link(cls, src, dst, props)


# ---- updating and deleting --------------------------------------------------------------------


def target_objects(tx: Transaction, params: dict, where: str, classes: list[str] | None) -> list:
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
        return lookup(tx, classes, params["constraints"], where, "constraints")
    return select(tx, {}, {}, where, classes, None).records


def update_objects(tx: Transaction, params: dict, where: str, classes: list[str] | None,
            geometry: Callable[[], Any] = lambda: None) -> dict:
    props = read_properties(params, where)
    remove = read_remove_props(params, where)
    new_geometry = geometry()
    label = read_label(params, where)
    targets = target_objects(tx, params, where, classes)
    for obj in targets:
        tx.store.update_object(obj, props, remove, new_geometry, label)
    return {"status": 0, "count": len(targets)}


def delete_objects(tx: Transaction, params: dict, where: str, classes: list[str] | None) -> dict:
    targets = target_objects(tx, params, where, classes)
    for obj in targets:
        if obj.seq in tx.store.objects:
            tx.store.delete_object(obj)
    if "ref" in params:
        # A ref used by a Delete is no longer valid for later commands.
        tx.refs[params["ref"]] = []
    return {"status": 0, "count": len(targets)}

"""Entities: AddEntity, FindEntity, UpdateEntity, DeleteEntity."""

from __future__ import annotations

from ..errors import QueryError
from ..store import Obj
from .engine import Transaction, command
from .finding import FIND_COMMON, find_objects
from .parameters import read_string
from .writing import ADD_COMMON, DELETE_COMMON, UPDATE_COMMON, conditional_add, delete_objects, update_objects


@command("AddEntity", ADD_COMMON | {"class"})
def add_entity(tx: Transaction, params: dict, where: str) -> dict:
    cls = read_string(params, "class", where)
    if cls.startswith("_"):
        raise QueryError(f"{where}: class names starting with '_' are reserved")
    return conditional_add(tx, params, where, cls, _make_entity)


def _make_entity(tx: Transaction, params: dict, where: str, props: dict, blob: None) -> Obj:
    return tx.store.add_object(params["class"], props)


@command("FindEntity", FIND_COMMON | {"with_class", "class"})
def find_entity(tx: Transaction, params: dict, where: str) -> dict:
    cls = params.get("with_class", params.get("class"))
    if cls is not None and not isinstance(cls, str):
        raise QueryError(f"{where}: with_class must be a string")
    return find_objects(tx, params, where, [cls] if cls else None, {})


def _entity_classes(tx: Transaction, params: dict, where: str) -> list[str] | None:
    """The classes an UpdateEntity or DeleteEntity applies to: ``with_class``, or by constraints every entity
    class (not images, boxes and the other object types)."""
    cls = params.get("with_class")
    if cls is not None and not isinstance(cls, str):
        raise QueryError(f"{where}: with_class must be a string")
    if cls:
        return [cls]
    if "ref" not in params and "constraints" in params:
        return [c for c in tx.store.by_class if not c.startswith("_")]
    return None


@command("UpdateEntity", UPDATE_COMMON | {"with_class"})
def update_entity(tx: Transaction, params: dict, where: str) -> dict:
    return update_objects(tx, params, where, _entity_classes(tx, params, where))


@command("DeleteEntity", DELETE_COMMON | {"with_class"})
def delete_entity(tx: Transaction, params: dict, where: str) -> dict:
    return delete_objects(tx, params, where, _entity_classes(tx, params, where))

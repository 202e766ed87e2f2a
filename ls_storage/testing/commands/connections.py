"""Connections: AddConnection, FindConnection, UpdateConnection, DeleteConnection."""

from __future__ import annotations

from typing import Any

from ..constraints import Constraints
from ..errors import QueryError
from ..store import Link, system_value
from .engine import Transaction, command
from .finding import Selection, answer_find, check_unique, sort_spec, sorted_records
from .parameters import read_int, read_properties, read_remove_props, read_results, read_string
from .writing import DELETE_COMMON, UPDATE_COMMON


@command("AddConnection", {"_ref", "class", "src", "dst", "properties", "if_not_found"})
def add_connection(tx: Transaction, params: dict, where: str) -> dict:
    cls = read_string(params, "class", where)
    props = read_properties(params, where)
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
    results = read_results(params, where)
    links = sorted_records(links, sort_spec(params, results, where))
    offset = read_int(params, "offset", where, 0)
    limit = read_int(params, "limit", where, read_int(results, "limit", where))
    links = links[offset:] if limit is None else links[offset:offset + limit]
    selection = Selection(links, None, count)
    check_unique(params, selection, where)
    return answer_find(tx, params, results, where, selection, {}, key="connections")


@command("UpdateConnection", UPDATE_COMMON | {"with_class"})
def update_connection(tx: Transaction, params: dict, where: str) -> dict:
    props = read_properties(params, where)
    remove = read_remove_props(params, where)
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


@command("DeleteConnection", DELETE_COMMON | {"with_class"})
def delete_connection(tx: Transaction, params: dict, where: str) -> dict:
    links = _link_targets(tx, params, where)
    for link in links:
        if link.seq in tx.store.links:
            tx.store.delete_link(link)
    if "ref" in params:
        tx.refs[params["ref"]] = []
    return {"status": 0, "count": len(links)}

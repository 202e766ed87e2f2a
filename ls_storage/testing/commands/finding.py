"""What a Find matches and how it answers: candidates from class order and indexes, constraints,
``is_connected_to``, sorting, paging, batches and the listed properties."""

from __future__ import annotations

import bisect
import heapq
from dataclasses import dataclass
from itertools import islice
from typing import Any, Callable, Collection, Iterable, Iterator

from ..constraints import GEOMETRY_PROPERTIES, Constraints, is_plain_equality, object_form
from ..errors import NotUniqueError, QueryError
from ..store import Link, Obj, Store, format_uniqueid, parse_uniqueid, sort_key, system_value
from ..values import to_wire
from .engine import Transaction, only_keys
from .parameters import read_bool, read_int, read_results

FIND_COMMON = {"_ref", "unique", "constraints", "is_connected_to", "sort", "offset", "limit", "batch",
               "results", "uniqueids", "group_by_source"}
CONNECTED_KEYS = frozenset({"ref", "connection_class", "direction", "constraints"})


# ---- finding ----------------------------------------------------------------------------------


@dataclass
class Selection:
    """What a Find matched, in answer order, with the source object each came from."""

    records: list
    sources: dict[int, list[int]] | None = None
    count: int | None = None


def sort_spec(params: dict, results: dict, where: str) -> list[tuple[str, bool]]:
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


def connected(tx: Transaction, spec: Any, where: str, link_class_default: str | None = None) -> dict[int, list[int]]:
    """Objects connected to the referenced ones, mapped to the reference objects they came from."""
    if not isinstance(spec, dict):
        raise QueryError(f"{where}: is_connected_to must be an object")
    for combinator in ("any", "all"):
        if combinator in spec:
            if set(spec) != {combinator} or not isinstance(spec[combinator], list) or not spec[combinator]:
                raise QueryError(f"{where}: is_connected_to {combinator!r} must be the only key, a non-empty list")
            parts = [connected(tx, part, where, link_class_default) for part in spec[combinator]]
            merged: dict[int, list[int]] = {}
            keys = set(parts[0])
            for part in parts[1:]:
                keys = keys | set(part) if combinator == "any" else keys & set(part)
            for part in parts:
                for seq in keys & set(part):
                    merged.setdefault(seq, []).extend(part[seq])
            return merged
    only_keys(spec, CONNECTED_KEYS, where, " in is_connected_to")
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


def select(tx: Transaction, params: dict, results: dict, where: str, classes: list[str] | None,
            source: dict[int, list[int]] | None, within: set[int] | None = None) -> Selection:
    """What a Find matches: of ``classes``, connected to ``source`` and among ``within`` when given;
    ``results``: its checked ``results`` block."""
    store = tx.store
    spec = object_form(params["constraints"], f"{where}: constraints") if "constraints" in params else None
    named = _named_by_uniqueid(store, spec) if source is None and within is None else None
    constraints = None
    if named is None and spec is not None:
        constraints = Constraints(spec, f"{where}: constraints")
    sort = sort_spec(params, results, where)
    limit = read_int(params, "limit", where, read_int(results, "limit", where))
    offset = read_int(params, "offset", where, 0)
    want_count = read_bool(results, "count", where)

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
        everything = sorted_records(list(matching()), sort)
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


def lookup(tx: Transaction, classes: list[str] | None, spec: Any, where: str, block: str) -> list[Obj]:
    """What a Find with only these constraints matches (the look-up of conditional adds, updates and deletes):
    the same candidates, so that indexed properties answer without a scan, without a Find's other parameters.
    ``block``: the parameter the constraints are in, for messages."""
    spec = object_form(spec, f"{where}: {block}")
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


def sorted_records(records: list, sort: list[tuple[str, bool]]) -> list:
    """Records in ``sort`` order; those without a sort key come last in either order."""
    for key, descending in reversed(sort):
        present = [r for r in records if system_value(r, key) is not None]
        missing = [r for r in records if system_value(r, key) is None]
        present.sort(key=lambda r: sort_key(system_value(r, key)), reverse=descending)
        records = present + missing
    return records


def check_unique(params: dict, selection: Selection, where: str) -> None:
    if read_bool(params, "unique", where) and len(selection.records) > 1:
        raise NotUniqueError(f"{where}: expecting 1 but got {len(selection.records)}")


def _listed(params: dict, results: dict, flags: dict[str, str], where: str) -> tuple[list[str], bool]:
    """What a Find lists of each record: names, and whether all of a record's properties come first.

    Read once per command, not once per record: a page lists thousands."""
    every = read_bool(results, "all_properties", where)
    names: list[str] = ["_uniqueid"] if every else list(results.get("list", []))
    if read_bool(params, "uniqueids", where) or read_bool(results, "uniqueids", where):
        names.append("_uniqueid")
    names += [system_name for flag, system_name in flags.items() if read_bool(params, flag, where)]
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


def answer_find(tx: Transaction, params: dict, results: dict, where: str, selection: Selection, flags: dict[str, str],
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
    if read_bool(results, "count", where):
        answer["count"] = selection.count if selection.count is not None else len(selection.records)
    return answer


def _group_by_source(params: dict, results: dict, where: str) -> bool:
    return read_bool(params, "group_by_source", where) or read_bool(results, "group_by_source", where)


def _batch(records: list, spec: Any, where: str) -> tuple[list, dict]:
    if not isinstance(spec, dict) or not set(spec) <= {"batch_id", "batches", "batch_size"}:
        raise QueryError(f"{where}: batch must be {{batch_id, batches}} or {{batch_id, batch_size}}")
    total = len(records)
    if not spec:
        return [], {"total_elements": total}
    batch_id = read_int(spec, "batch_id", where, 0)
    if "batches" in spec:
        batches = read_int(spec, "batches", where, minimum=1)
        size = total // batches
    else:
        size = read_int(spec, "batch_size", where, minimum=1)
        batches = max(1, -(-total // size))
    if batch_id >= batches:
        raise QueryError(f"{where}: batch_id {batch_id} is past the last batch ({batches - 1})")
    start = batch_id * size
    end = total if batch_id == batches - 1 else start + size
    return records[start:end], {"batch_id": batch_id, "batches": batches, "total_elements": total, "end": end}


def find_objects(tx: Transaction, params: dict, where: str, classes: list[str] | None,
                  flags: dict[str, str], blob_of: Callable[[Obj], bytes] | None = None,
                  source: dict[int, list[int]] | None = None, within: set[int] | None = None) -> dict:
    if source is None and "is_connected_to" in params:
        source = connected(tx, params["is_connected_to"], where)
    results = read_results(params, where)
    if _group_by_source(params, results, where) and source is None:
        raise QueryError(f"{where}: group_by_source needs is_connected_to (or image_ref) with one ref")
    selection = select(tx, params, results, where, classes, source, within)
    check_unique(params, selection, where)
    return answer_find(tx, params, results, where, selection, flags, blob_of)

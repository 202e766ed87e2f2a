"""The in-memory store behind the test server: objects, connections, indexes and an undo journal.

Plain Python state and ApertureDB's data semantics, nothing of the wire protocol (like moto's
``models.py``). Objects of a class are kept in ``_uniqueid`` order and property indexes are sorted,
so that a sorted page costs time proportional to the page, not to the store.
"""

from __future__ import annotations

import datetime
import itertools
import math
from collections import defaultdict
from contextlib import contextmanager
from typing import Any, Callable, Collection, Iterable, Iterator

from sortedcontainers import SortedKeyList, SortedList

from .values import type_name

IMAGE, BLOB, BOUNDING_BOX, POLYGON = "_Image", "_Blob", "_BoundingBox", "_Polygon"
BOX_TO_IMAGE, POLYGON_TO_IMAGE = "_BoundingBoxToImage", "_PolygonToImage"
UNIQUEID_PREFIX = "0.0."

_TYPE_RANK = {"boolean": 0, "number": 1, "string": 2, "datetime": 3}
_RANK_OF_TYPE = {bool: 0, int: 1, float: 1, str: 2, datetime.datetime: 3}  # the same, by exact type, at once


def format_uniqueid(seq: int) -> str:
    # Zero-padded so that sorting the strings, as ApertureDB does, follows creation order.
    return f"{UNIQUEID_PREFIX}{seq:014d}"


def parse_uniqueid(text: Any) -> int | None:
    if isinstance(text, str) and text.startswith(UNIQUEID_PREFIX) and text[len(UNIQUEID_PREFIX):].isdigit():
        return int(text[len(UNIQUEID_PREFIX):])
    return None


def sort_key(value: Any) -> tuple:
    rank = _RANK_OF_TYPE.get(type(value))
    return (_TYPE_RANK[type_name(value)] if rank is None else rank, value)


class PropertyIndex:
    """An index of one property of one class: a hash of each value's records for equality, which conditional
    adds look up several times per transaction, and sorted entries for ranges and order.

    Adds reach the sorted entries only when they are next read, in one merge: a write transaction adds
    entries by the thousand, and most are never read in order."""

    __slots__ = ("_sorted", "_pending", "_equal")

    def __init__(self) -> None:
        self._sorted = SortedKeyList(key=lambda entry: entry[0])
        self._pending: list[tuple[tuple, int]] = []
        # A value's one record as its number, a set only from the second on: most indexed values are ids.
        self._equal: dict[tuple, int | set[int]] = {}

    @property
    def entries(self) -> SortedKeyList:
        """``((type rank, value, seq), seq)`` of every record: sorted by value, ties by sequence number."""
        if self._pending:
            self._sorted.update((key + (seq,), seq) for key, seq in self._pending)
            self._pending.clear()
        return self._sorted

    def add(self, value: Any, seq: int) -> None:
        key = sort_key(value)
        self._pending.append((key, seq))
        equal = self._equal.get(key)
        if equal is None:
            self._equal[key] = seq
        elif type(equal) is int:
            self._equal[key] = {equal, seq}
        else:
            equal.add(seq)

    def remove(self, value: Any, seq: int) -> None:
        key = sort_key(value)
        self.entries.remove((key + (seq,), seq))
        equal = self._equal[key]
        if type(equal) is int:
            del self._equal[key]
        else:
            equal.discard(seq)
            if not equal:
                del self._equal[key]

    def equal(self, value: Any) -> Collection[int]:
        """The records whose value equals ``value`` (of the same type: 1 is not true); not to be changed."""
        equal = self._equal.get(sort_key(value), ())
        return (equal,) if type(equal) is int else equal


class Obj:
    """An entity, image, blob, bounding box or polygon."""

    __slots__ = ("seq", "cls", "props", "blob", "geometry", "label", "txn")

    def __init__(self, seq: int, cls: str, props: dict, txn: int, blob: bytes | None = None,
                 geometry: Any = None, label: str | None = None):
        self.seq, self.cls, self.props, self.txn = seq, cls, props, txn
        self.blob, self.geometry, self.label = blob, geometry, label


class Link:
    """A connection between two objects."""

    __slots__ = ("seq", "cls", "src", "dst", "props", "txn")

    def __init__(self, seq: int, cls: str, src: int, dst: int, props: dict, txn: int):
        self.seq, self.cls, self.src, self.dst, self.props, self.txn = seq, cls, src, dst, props, txn


def _without(props: dict, remove: Iterable[str]) -> dict:
    """A copy of ``props`` without the keys in ``remove``."""
    if not remove:
        return dict(props)
    removed = set(remove)
    return {k: v for k, v in props.items() if k not in removed}


def polygon_bounds(polygons: list) -> dict:
    xs = [p[0] for polygon in polygons for p in polygon]
    ys = [p[1] for polygon in polygons for p in polygon]
    return {"x": min(xs), "y": min(ys), "width": max(xs) - min(xs), "height": max(ys) - min(ys)}


def polygon_area(polygons: list) -> float:
    area = 0.0
    for polygon in polygons:
        area += abs(sum(a[0] * b[1] - b[0] * a[1] for a, b in zip(polygon, polygon[1:] + polygon[:1]))) / 2
    return area


def system_value(record: Obj | Link, key: str) -> Any:
    """The value of a system property (``_uniqueid``, ``_label``, ...) or of a user property."""
    if key == "_uniqueid":
        return format_uniqueid(record.seq)
    if key == "_create_txn":
        return record.txn
    if isinstance(record, Link):
        if key == "_src":
            return format_uniqueid(record.src)
        if key == "_dst":
            return format_uniqueid(record.dst)
        return record.props.get(key)
    if key == "_label":
        return record.label
    if key == "_coordinates" and record.cls == BOUNDING_BOX:
        x, y, w, h = record.geometry
        return {"x": x, "y": y, "width": w, "height": h}
    if key == "_vertices" and record.cls == POLYGON:
        return [[list(point) for point in polygon] for polygon in record.geometry]
    if key == "_bounds" and record.cls == POLYGON:
        return polygon_bounds(record.geometry)
    if key == "_area":
        if record.cls == BOUNDING_BOX:
            return record.geometry[2] * record.geometry[3]
        if record.cls == POLYGON:
            return polygon_area(record.geometry)
    return record.props.get(key)


class Members:
    """The sequence numbers of one class's records, in order. A new record's number is the highest yet, so an
    add is appended and merged into the sorted list when that is next read: a write adds thousands."""

    __slots__ = ("_sorted", "_added", "add")

    def __init__(self) -> None:
        self._sorted = SortedList()
        self._added: list[int] = []
        self.add: Callable[[int], None] = self._added.append  # called for every record added: no Python frame

    def remove(self, seq: int) -> None:
        self.sorted.remove(seq)

    @property
    def sorted(self) -> SortedList:
        if self._added:
            self._sorted.update(self._added)
            self._added.clear()
        return self._sorted


NO_MEMBERS = SortedList()  # what a class without records reads; never changed


class _NoJournal(list):
    """The journal outside a transaction (seeding): nothing to undo, so nothing kept."""

    def append(self, undo: tuple) -> None:
        pass


NO_JOURNAL = _NoJournal()


def _members(by_class: dict[str, Members], cls: str) -> Members:
    """The members of ``cls``, made empty the first time (not with ``setdefault``, which would build one every time)."""
    members = by_class.get(cls)
    if members is None:
        members = by_class[cls] = Members()
    return members


class Store:
    """All data of one test server. Callers hold ``lock`` around a transaction."""

    def __init__(self) -> None:
        self.objects: dict[int, Obj] = {}
        self.links: dict[int, Link] = {}
        self.by_class: dict[str, Members] = {}
        self.links_by_class: dict[str, Members] = {}
        self.out_links: defaultdict[int, list[int]] = defaultdict(list)
        self.in_links: defaultdict[int, list[int]] = defaultdict(list)
        # (index_type, class, key) -> its index; and the same indexes by index_type, then class, so that adding or
        # updating a record visits only its class's indexed keys, not every property.
        self.indexes: dict[tuple[str, str, str], PropertyIndex] = {}
        self._class_indexes: dict[str, dict[str, dict[str, PropertyIndex]]] = {"entity": {}, "connection": {}}
        self._seq = itertools.count(1)
        self.txn = 0
        # What undoes each change of the running transaction: a Store method and its arguments, not a closure,
        # of which a write would make thousands.
        self._journal: list[tuple] = NO_JOURNAL

    def members(self, cls: str) -> SortedList:
        """The sequence numbers of the objects of ``cls``, in order."""
        members = self.by_class.get(cls)
        return NO_MEMBERS if members is None else members.sorted

    def link_members(self, cls: str) -> SortedList:
        """The sequence numbers of the connections of ``cls``, in order."""
        members = self.links_by_class.get(cls)
        return NO_MEMBERS if members is None else members.sorted

    # ---- transactions -------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Run a transaction: on any exception every change made inside it is undone."""
        self.txn += 1
        self._journal = []
        try:
            yield
        except BaseException:
            for undo, *args in reversed(self._journal):
                undo(self, *args)
            raise
        finally:
            self._journal = NO_JOURNAL

    # ---- objects ------------------------------------------------------------------------------

    def add_object(self, cls: str, props: dict, blob: bytes | None = None, geometry: Any = None,
                   label: str | None = None) -> Obj:
        """Add an object that keeps ``props`` as its own: the store replaces a record's properties, never
        changes them in place, so a caller only must not change them afterwards."""
        obj = Obj(next(self._seq), cls, props, self.txn, blob, geometry, label)
        self._insert_object(obj)
        self._journal.append((Store._remove_object, obj))
        return obj

    def _insert_object(self, obj: Obj) -> None:
        seq, cls = obj.seq, obj.cls
        self.objects[seq] = obj
        (self.by_class.get(cls) or _members(self.by_class, cls)).add(seq)
        keyed = self._class_indexes["entity"].get(cls)
        if keyed:
            _index(keyed, seq, obj.props, add=True)

    def _remove_object(self, obj: Obj) -> None:
        del self.objects[obj.seq]
        self.by_class[obj.cls].remove(obj.seq)
        _index(self.class_indexes("entity", obj.cls), obj.seq, obj.props, add=False)

    def update_object(self, obj: Obj, props: dict, remove: Iterable[str], geometry: Any = None,
                      label: str | None = None) -> None:
        old = (obj.props, obj.geometry, obj.label)
        new_props = _without(obj.props, remove)
        new_props.update(props)
        self._replace(obj, new_props, obj.geometry if geometry is None else geometry,
                      obj.label if label is None else label)
        self._journal.append((Store._replace, obj, *old))

    def _replace(self, obj: Obj, props: dict, geometry: Any, label: str | None) -> None:
        _reindex(self.class_indexes("entity", obj.cls), obj.seq, obj.props, props)
        obj.props, obj.geometry, obj.label = props, geometry, label

    def delete_object(self, obj: Obj) -> None:
        for link_seq in list(self.out_links.get(obj.seq, ())) + list(self.in_links.get(obj.seq, ())):
            if link_seq in self.links:
                self.delete_link(self.links[link_seq])
        self._remove_object(obj)
        self._journal.append((Store._insert_object, obj))

    # ---- connections --------------------------------------------------------------------------

    def add_link(self, cls: str, src: Obj, dst: Obj, props: dict) -> Link:
        """Add a connection that keeps ``props``, as ``add_object`` does."""
        link = Link(next(self._seq), cls, src.seq, dst.seq, props, self.txn)
        self._insert_link(link)
        self._journal.append((Store._remove_link, link))
        return link

    def _insert_link(self, link: Link) -> None:
        seq, cls = link.seq, link.cls
        self.links[seq] = link
        (self.links_by_class.get(cls) or _members(self.links_by_class, cls)).add(seq)
        self.out_links[link.src].append(seq)
        self.in_links[link.dst].append(seq)
        keyed = self._class_indexes["connection"].get(cls)
        if keyed:
            _index(keyed, seq, link.props, add=True)

    def _remove_link(self, link: Link) -> None:
        del self.links[link.seq]
        self.links_by_class[link.cls].remove(link.seq)
        self.out_links[link.src].remove(link.seq)
        self.in_links[link.dst].remove(link.seq)
        _index(self.class_indexes("connection", link.cls), link.seq, link.props, add=False)

    def update_link(self, link: Link, props: dict, remove: Iterable[str]) -> None:
        old = link.props
        new_props = _without(link.props, remove)
        new_props.update(props)
        self._replace_link_props(link, new_props)
        self._journal.append((Store._replace_link_props, link, old))

    def _replace_link_props(self, link: Link, props: dict) -> None:
        _reindex(self.class_indexes("connection", link.cls), link.seq, link.props, props)
        link.props = props

    def delete_link(self, link: Link) -> None:
        self._remove_link(link)
        self._journal.append((Store._insert_link, link))

    def neighbours(self, seq: int, direction: str, link_class: str | None) -> Iterator[tuple[Link, int]]:
        """Connections of an object and the object at their other end.

        ``out``: connections whose source is ``seq``; ``in``: whose destination is; ``any``: both.
        """
        if direction in ("out", "any"):
            for link_seq in self.out_links.get(seq, ()):
                link = self.links[link_seq]
                if link_class is None or link.cls == link_class:
                    yield link, link.dst
        if direction in ("in", "any"):
            for link_seq in self.in_links.get(seq, ()):
                link = self.links[link_seq]
                if link_class is None or link.cls == link_class:
                    yield link, link.src

    # ---- indexes ------------------------------------------------------------------------------

    def create_index(self, index_type: str, cls: str, key: str) -> bool:
        """Create an index; False when it already exists."""
        name = (index_type, cls, key)
        if name in self.indexes:
            return False
        index = PropertyIndex()
        records = self.objects if index_type == "entity" else self.links
        members = self.by_class if index_type == "entity" else self.links_by_class
        for seq in members[cls].sorted if cls in members else ():
            value = records[seq].props.get(key)
            if value is not None:
                index.add(value, seq)
        self._set_index(name, index)
        self._journal.append((Store._set_index, name, None))
        return True

    def remove_index(self, index_type: str, cls: str, key: str) -> bool:
        name = (index_type, cls, key)
        index = self.indexes.get(name)
        if index is None:
            return False
        self._set_index(name, None)
        self._journal.append((Store._set_index, name, index))
        return True

    def _set_index(self, name: tuple[str, str, str], index: PropertyIndex | None) -> None:
        """Add (or, with None, remove) an index under both of its keys."""
        index_type, cls, key = name
        keyed = self._class_indexes[index_type].setdefault(cls, {})
        if index is None:
            del self.indexes[name], keyed[key]
        else:
            self.indexes[name] = keyed[key] = index

    def class_indexes(self, index_type: str, cls: str) -> dict[str, PropertyIndex]:
        """The indexes of a class's properties, by property name."""
        return self._class_indexes[index_type].get(cls, {})

    def index_lookup(self, index_type: str, cls: str, key: str, values: list) -> list[int] | None:
        index = self.indexes.get((index_type, cls, key))
        if index is None:
            return None
        found: list[int] = []
        for value in values:
            found.extend(index.equal(value))
        return found

    def index_range(self, index_type: str, cls: str, key: str, low: Any, low_inclusive: bool,
                    high: Any, high_inclusive: bool, reverse: bool = False) -> Iterator[int] | None:
        index = self.indexes.get((index_type, cls, key))
        if index is None:
            return None
        typed = low if low is not None else high
        rank = _TYPE_RANK[type_name(typed)]
        low_key = (rank, low, -1 if low_inclusive else math.inf) if low is not None else (rank,)
        high_key = (rank, high, math.inf if high_inclusive else -1) if high is not None else (rank + 1,)
        return (entry[1] for entry in index.entries.irange_key(low_key, high_key, inclusive=(True, False),
                                                               reverse=reverse))

    def index_order(self, index_type: str, cls: str, key: str, reverse: bool) -> Iterator[int] | None:
        """Every record of ``cls`` that has ``key``, in that key's order; None without an index."""
        index = self.indexes.get((index_type, cls, key))
        if index is None:
            return None
        entries = reversed(index.entries) if reverse else iter(index.entries)
        return (entry[1] for entry in entries)


def _index(keyed: dict[str, PropertyIndex], seq: int, props: dict, add: bool) -> None:
    """Add (or remove) a record's entries in its class's indexes ``keyed``."""
    for key, index in keyed.items():
        value = props.get(key)
        if value is not None:
            if add:
                index.add(value, seq)
            else:
                index.remove(value, seq)


def _reindex(keyed: dict[str, PropertyIndex], seq: int, old: dict, new: dict) -> None:
    """Index entries of the properties an update changed; an update that rewrites the same values, as a
    conditional add followed by its update does, leaves the indexes alone."""
    for key, index in keyed.items():
        before, after = old.get(key), new.get(key)
        if type(before) is type(after) and before == after:
            continue
        if before is not None:
            index.remove(before, seq)
        if after is not None:
            index.add(after, seq)

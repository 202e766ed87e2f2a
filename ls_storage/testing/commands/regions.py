"""Bounding boxes and polygons, each on one image: Add, Find, Update and Delete of each."""

from __future__ import annotations

from typing import Any

from .. import images
from ..errors import QueryError
from ..store import BOUNDING_BOX, BOX_TO_IMAGE, IMAGE, POLYGON, POLYGON_TO_IMAGE, Obj, format_uniqueid, system_value
from .engine import Transaction, command
from .finding import FIND_COMMON, connected, find_objects
from .parameters import read_bool, read_label, read_polygons, read_rectangle
from .writing import ADD_COMMON, DELETE_COMMON, UPDATE_COMMON, conditional_add, delete_objects, update_objects


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
    region = tx.store.add_object(cls, props, None, geometry, read_label(params, where))
    tx.store.add_link(link_class, region, image, {})
    return region


@command("AddBoundingBox", ADD_COMMON | {"image_ref", "rectangle", "label"})
def add_bounding_box(tx: Transaction, params: dict, where: str) -> dict:
    return conditional_add(tx, params, where, BOUNDING_BOX, _make_bounding_box)


def _make_bounding_box(tx: Transaction, params: dict, where: str, props: dict, blob: None) -> Obj:
    return _region_on_image(tx, params, where, props, BOUNDING_BOX, BOX_TO_IMAGE,
                            read_rectangle(params.get("rectangle"), where))


@command("AddPolygon", ADD_COMMON | {"image_ref", "polygons", "label"})
def add_polygon(tx: Transaction, params: dict, where: str) -> dict:
    return conditional_add(tx, params, where, POLYGON, _make_polygon)


def _make_polygon(tx: Transaction, params: dict, where: str, props: dict, blob: None) -> Obj:
    return _region_on_image(tx, params, where, props, POLYGON, POLYGON_TO_IMAGE,
                            read_polygons(params.get("polygons"), where))


def _find_regions(tx: Transaction, params: dict, where: str, cls: str, link_class: str,
                  flags: dict[str, str]) -> dict:
    if "image_ref" in params and "is_connected_to" in params:
        raise QueryError(f"{where}: image_ref and is_connected_to cannot be used together")
    source = None
    if "image_ref" in params:
        source = connected(tx, {"ref": params["image_ref"], "connection_class": link_class, "direction": "in"}, where)
    if "with_label" in params:
        # Added to the constraints, which may constrain _label too: both must hold.
        label = {"_label": ["==", params["with_label"]]}
        params = {**params, "constraints": ["all", params["constraints"], label] if "constraints" in params else label}
    in_rectangle = params.get("in_rectangle")
    # A filter of its own: the rectangle narrows what image_ref or is_connected_to found, never widens it.
    inside = None if in_rectangle is None else _inside(tx, cls, read_rectangle(in_rectangle, f"{where}: in_rectangle"))
    blob_of = None
    if read_bool(params, "blobs", where):
        blob_of = lambda region: _region_crop(tx, region, params.get("as_format"), where)  # noqa: E731
    return find_objects(tx, params, where, [cls], flags, blob_of, source, inside)


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


@command("UpdateBoundingBox", UPDATE_COMMON | {"rectangle", "label"})
def update_bounding_box(tx: Transaction, params: dict, where: str) -> dict:
    rectangle = params.get("rectangle")
    return update_objects(tx, params, where, [BOUNDING_BOX],
                   lambda: None if rectangle is None else read_rectangle(rectangle, where))


@command("UpdatePolygon", UPDATE_COMMON | {"polygons", "label"})
def update_polygon(tx: Transaction, params: dict, where: str) -> dict:
    polygons = params.get("polygons")
    return update_objects(tx, params, where, [POLYGON], lambda: None if polygons is None else read_polygons(polygons, where))


@command("DeleteBoundingBox", DELETE_COMMON)
def delete_bounding_box(tx: Transaction, params: dict, where: str) -> dict:
    return delete_objects(tx, params, where, [BOUNDING_BOX])


@command("DeletePolygon", DELETE_COMMON)
def delete_polygon(tx: Transaction, params: dict, where: str) -> dict:
    return delete_objects(tx, params, where, [POLYGON])

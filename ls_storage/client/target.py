"""Writing Label Studio annotations into ApertureDB: one atomic, idempotent transaction per annotation.

Data model, compatible with ApertureData's own integration:

- one ``LS_annotation`` entity per annotation (``LS_id`` = the annotation id), connected from its image
  by ``LS_annotation_image``;
- each region an ApertureDB object (BoundingBox, Polygon, Blob mask, or ``LS_region`` entity) with
  ``LS_id`` (the region id) and ``LS_annotation_id``, connected from the annotation by
  ``LS_annotation_region``; boxes and polygons also belong to the image, as any ApertureDB region.

The transaction never reads before it writes: conditional adds (``if_not_found``) bind the existing
objects or make new ones, updates set their final state, and regions no longer in the annotation are
deleted, so re-saving updates in place and concurrent saves of one annotation end in its final state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from ls_storage.conversion.annotations import BOX, MASK, POLYGON, REGION, AnnotationObjects, RegionObject

from .connection import ApertureDBError, QueryFailed, run_query

ANNOTATION_CLASS = "LS_annotation"
REGION_CLASS = "LS_region"
IMAGE_LINK = "LS_annotation_image"
REGION_LINK = "LS_annotation_region"
PROBE_CLASS = "LS_storage_probe"
# (Find, Delete command, class) of each region kind, and the indexes that keep conditional adds fast.
REGION_COMMANDS = {
    BOX: ("FindBoundingBox", "DeleteBoundingBox", "_BoundingBox"),
    POLYGON: ("FindPolygon", "DeletePolygon", "_Polygon"),
    MASK: ("FindBlob", "DeleteBlob", "_Blob"),
    REGION: ("FindEntity", "DeleteEntity", REGION_CLASS),
}
INDEXES = [(ANNOTATION_CLASS, "LS_id"), (ANNOTATION_CLASS, "LS_task_id")] + [
    (cls, key) for _, _, cls in REGION_COMMANDS.values() for key in ("LS_id", "LS_annotation_id")
]


def ensure_indexes(connector) -> None:
    query = [{"CreateIndex": {"index_type": "entity", "class": cls, "property_key": key}} for cls, key in INDEXES]
    run_query(connector, query)  # status 2 (already there) is not an error


def _region_scope(find: str, annotation_ref: int, ref: int, keep: list[str]) -> dict:
    params: dict = {"_ref": ref, "is_connected_to": {"ref": annotation_ref, "connection_class": REGION_LINK,
                                                     "direction": "out"}}
    if find == "FindEntity":
        params["with_class"] = REGION_CLASS
    if keep:
        params["constraints"] = {"LS_id": ["not in", keep]}
    return {find: params}


def write_annotation_query(image_uniqueid: str, annotation_id: int, properties: dict, objects: AnnotationObjects,
                           value_properties: Iterable[str] = ()) -> tuple[list, list[bytes]]:
    """The transaction that leaves exactly this annotation in ApertureDB.

    ``properties``: the annotation entity's metadata (``LS_*``); ``value_properties``: every property
    name a value tag of the project can write, so that values removed in Label Studio are removed too.
    """
    entity_properties = {**properties, **objects.properties, "LS_id": annotation_id}
    managed = set(value_properties) | {"LS_values", "LS_other_results"}
    query: list = [
        {"FindImage": {"_ref": 1, "constraints": {"_uniqueid": ["==", image_uniqueid]}, "unique": True,
                       "results": {"count": True}}},
        {"AddEntity": {"_ref": 2, "class": ANNOTATION_CLASS, "properties": entity_properties,
                       "if_not_found": {"LS_id": ["==", annotation_id]}}},
        {"UpdateEntity": {"ref": 2, "properties": entity_properties,
                          "remove_props": sorted(managed - set(entity_properties))}},
        {"AddConnection": {"class": IMAGE_LINK, "src": 1, "dst": 2, "if_not_found": {}}},
    ]
    blobs: list[bytes] = []
    next_ref = 3
    for kind, (find, delete, _) in REGION_COMMANDS.items():
        # Masks cannot be updated in place (a blob's bytes are fixed): they are always written anew.
        keep = [] if kind == MASK else [r.region_id for r in objects.regions if r.kind == kind]
        query.append(_region_scope(find, 2, next_ref, keep))
        query.append({delete: {"ref": next_ref}})
        next_ref += 1
    for region in objects.regions:
        commands, blob = _region_commands(region, annotation_id, next_ref, managed)
        query.extend(commands)
        blobs.extend(blob)
        next_ref += 1
    return query, blobs


def _region_commands(region: RegionObject, annotation_id: int, ref: int, managed: set) -> tuple[list, list[bytes]]:
    properties = {**region.properties, "LS_annotation_id": annotation_id}
    existing = {"LS_id": ["==", region.region_id], "LS_annotation_id": ["==", annotation_id]}
    remove = sorted(managed - set(properties))
    label = {"label": region.label} if region.label is not None else {}
    if region.kind == BOX:
        rectangle = dict(zip(("x", "y", "width", "height"), region.rectangle))
        commands = [
            {"AddBoundingBox": {"_ref": ref, "image_ref": 1, "rectangle": rectangle, "properties": properties,
                                "if_not_found": existing, **label}},
            {"UpdateBoundingBox": {"ref": ref, "rectangle": rectangle, "properties": properties,
                                   "remove_props": remove, **label}},
        ]
    elif region.kind == POLYGON:
        polygons = [[list(vertex) for vertex in polygon] for polygon in region.polygons]
        commands = [
            {"AddPolygon": {"_ref": ref, "image_ref": 1, "polygons": polygons, "properties": properties,
                            "if_not_found": existing, **label}},
            {"UpdatePolygon": {"ref": ref, "polygons": polygons, "properties": properties, "remove_props": remove,
                               **label}},
        ]
    elif region.kind == MASK:
        if region.label is not None:
            properties["label"] = region.label
        return [{"AddBlob": {"_ref": ref, "properties": properties}},
                {"AddConnection": {"class": REGION_LINK, "src": 2, "dst": ref}}], [region.mask_png]
    else:
        if region.label is not None:
            properties["label"] = region.label
        commands = [
            {"AddEntity": {"_ref": ref, "class": REGION_CLASS, "properties": properties, "if_not_found": existing}},
            {"UpdateEntity": {"ref": ref, "properties": properties, "remove_props": remove}},
        ]
    commands.append({"AddConnection": {"class": REGION_LINK, "src": 2, "dst": ref, "if_not_found": {}}})
    return commands, []


def write_annotation(connector, image_uniqueid: str, annotation_id: int, properties: dict, objects: AnnotationObjects,
                     value_properties: Iterable[str] = ()) -> None:
    query, blobs = write_annotation_query(image_uniqueid, annotation_id, properties, objects, value_properties)
    run_query(connector, query, blobs)


def delete_annotation(connector, annotation_id: int) -> None:
    """Remove the annotation entity and every region connected to it."""
    query: list = [{"FindEntity": {"_ref": 1, "with_class": ANNOTATION_CLASS,
                                   "constraints": {"LS_id": ["==", annotation_id]}}}]
    for ref, (find, delete, _) in enumerate(REGION_COMMANDS.values(), start=2):
        query.append(_region_scope(find, 1, ref, []))
        query.append({delete: {"ref": ref}})
    query.append({"DeleteEntity": {"ref": 1}})
    run_query(connector, query)


def probe_write(connector) -> None:
    """Prove the account may write: add an entity and delete it again (one transaction)."""
    try:
        run_query(connector, [{"AddEntity": {"_ref": 1, "class": PROBE_CLASS, "properties": {"probe": True}}},
                              {"DeleteEntity": {"ref": 1}}])
    except QueryFailed as error:
        raise ApertureDBError(f"This ApertureDB user cannot write, which a target storage needs: {error}",
                              "username") from None


# ---- reading annotations back (a source storage's "import annotations") -------------------------


@dataclass
class StoredAnnotation:
    """An ``LS_annotation`` entity (its properties) and its regions, as read from ApertureDB."""

    properties: dict
    objects: AnnotationObjects


_READ_REGIONS = [(BOX, "FindBoundingBox", {"coordinates": True, "labels": True}),
                 (POLYGON, "FindPolygon", {"vertices": True, "labels": True}),
                 (MASK, "FindBlob", {}),
                 (REGION, "FindEntity", {"with_class": REGION_CLASS})]


def read_annotations_commands(image_ref: int, annotation_ref: int) -> list:
    """Commands finding the annotations of the images in ``image_ref`` and their regions, grouped."""
    commands = [{"FindEntity": {
        "_ref": annotation_ref, "with_class": ANNOTATION_CLASS, "group_by_source": True,
        "is_connected_to": {"ref": image_ref, "connection_class": IMAGE_LINK, "direction": "out"},
        "results": {"all_properties": True},
    }}]
    for _, find, extra in _READ_REGIONS:
        commands.append({find: {"is_connected_to": {"ref": annotation_ref, "connection_class": REGION_LINK,
                                                    "direction": "out"},
                                "group_by_source": True, "results": {"all_properties": True}, **extra}})
    return commands


def parse_annotations(answers: list[dict]) -> dict[str, list[StoredAnnotation]]:
    """The answers to :func:`read_annotations_commands`, as annotations per image ``_uniqueid``."""
    regions: dict[str, list[RegionObject]] = {}
    for (kind, find, _), answer in zip(_READ_REGIONS, answers[1:]):
        for annotation_uniqueid, entities in (answer[find].get("entities") or {}).items():
            regions.setdefault(annotation_uniqueid, []).extend(_region_of(kind, entity) for entity in entities)
    by_image: dict[str, list[StoredAnnotation]] = {}
    for image_uniqueid, entities in (answers[0]["FindEntity"].get("entities") or {}).items():
        for entity in entities:
            properties = {k: v for k, v in entity.items() if not k.startswith("_")}
            objects = AnnotationObjects(properties, regions.get(entity["_uniqueid"], []))
            by_image.setdefault(image_uniqueid, []).append(StoredAnnotation(properties, objects))
    return by_image


def _region_of(kind: str, entity: dict) -> RegionObject:
    properties = {k: v for k, v in entity.items() if not k.startswith("_")}
    rectangle = polygons = None
    if kind == BOX:
        c = entity["_coordinates"]
        rectangle = (c["x"], c["y"], c["width"], c["height"])
    elif kind == POLYGON:
        polygons = [[tuple(vertex) for vertex in polygon] for polygon in entity["_vertices"]]
    return RegionObject(kind=kind, region_id=str(properties.get("LS_id")), label=entity.get("_label"),
                        properties=properties, rectangle=rectangle, polygons=polygons)

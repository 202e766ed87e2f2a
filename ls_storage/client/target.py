"""Writing Label Studio annotations into ApertureDB: each annotation whole, in one atomic, idempotent transaction.

Data model, compatible with ApertureData's own integration:

- one ``LS_annotation`` entity per annotation (``LS_id`` = the annotation id), connected from its image
  by ``LS_annotation_image``;
- each region an ApertureDB object (BoundingBox, Polygon, Blob mask, or ``LS_region`` entity) with
  ``LS_id`` (the region id) and ``LS_annotation_id``, connected from the annotation by
  ``LS_annotation_region``; boxes and polygons also belong to the image, as any ApertureDB region.

A write first asks which of its annotations ApertureDB already holds (one indexed Find). One it does not
hold is added: conditional adds (``if_not_found``) with every property, connected as they are made
(7 commands for an annotation of 5 boxes). One it holds is rewritten in place: conditional adds bind the
existing objects or make new ones that carry only their ids, updates set their final state (so each
property crosses the network once), and regions no longer in the annotation are deleted (by
``LS_annotation_id``, which every region we write carries; 17 commands for 5 boxes). If another writer
added an annotation between the question and the write, the conditional adds change nothing of it and
the annotation is rewritten in place, so concurrent saves of one annotation end in its final state.

``LS_label_version`` (a target storage's *label version*, when it has one) is written on the annotation and
on each of its regions, and removed from them when the storage has none.

``LS_revision`` counts the writes of an annotation: 1 when :func:`write_annotations` adds it, one more each
time a later call of it rewrites it (an annotator's re-save, the automatic export after an update, a
target *Sync*), whichever writer and however many write at once. ApertureDB has no increment, and a
revision computed by the client from one it read is lost when another writer commits in between; so the
increment is a compare-and-set. The look-up that says which annotations are stored also reads their
revisions; the write of a stored annotation carries ``UpdateEntity`` of ``LS_revision`` to read + 1
constrained on ``LS_id`` and on ``LS_revision == read``, which ApertureDB evaluates inside the write's
transaction: it matches (count 1) only if no other write committed since the read. The rest of the
transaction rewrites the annotation whole either way (the rewrite is idempotent and the transaction
atomic, so the annotation is never a mix of two versions); a write whose compare-and-set matched
nothing (count 0), or whose conditional add found the annotation added meanwhile, reads the revision
again and is sent again, until it counts. Each call so adds exactly one to the revision of each of its
annotations, and the last transaction to touch an annotation is always one that counted. Not counted:
the re-sends of a write that lost the race (they are the same write). Counted twice: a write whose
transaction committed but whose answer was lost with the connection and that the caller sends again
(a Sync then writes it anew). An annotation written before revisions existed carries none: its next
write sets it to 1 without a condition (two such first writes at once count once).

Image properties (a target's ``image_properties``, ``{from_name: property}``): the decision of the task's
latest annotation (:func:`image_values`) goes onto the image in the same transaction (``UpdateImage`` of the
image the write finds first, ``remove_props`` for what is cleared), so it has the annotation's atomicity and
re-sends. Which annotation decides is the caller's (Label Studio's) business; every write of an annotation
of the task carries that decision, whichever annotation it writes, and so does the removal of one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from ls_storage.conversion.annotations import (
    BOX,
    MASK,
    POLYGON,
    REGION,
    VALUE_TYPES,
    AnnotationObjects,
    RegionObject,
)

from .connection import ApertureDBError, QueryFailed, run_query

ANNOTATION_CLASS = "LS_annotation"
REGION_CLASS = "LS_region"
IMAGE_LINK = "LS_annotation_image"
REGION_LINK = "LS_annotation_region"
PROBE_CLASS = "LS_storage_probe"
ALREADY_THERE = 2  # the status of a conditional add that found its object
REVISION, LABEL_VERSION = "LS_revision", "LS_label_version"
# Control tags whose image-level value a target can write onto the image (its ``image_properties``).
IMAGE_PROPERTY_TYPES = frozenset({"choices", "number", "rating", "textarea"})
MAX_ATTEMPTS = 100  # sends of one write that lost the race to other writers before giving up
# (Delete command, class) of each region kind, and the indexes that keep conditional adds and deletes fast.
REGION_COMMANDS = {
    BOX: ("DeleteBoundingBox", "_BoundingBox"),
    POLYGON: ("DeletePolygon", "_Polygon"),
    MASK: ("DeleteBlob", "_Blob"),
    REGION: ("DeleteEntity", REGION_CLASS),
}
INDEXES = [(ANNOTATION_CLASS, "LS_id"), (ANNOTATION_CLASS, "LS_task_id")] + [
    (cls, key) for _, cls in REGION_COMMANDS.values() for key in ("LS_id", "LS_annotation_id")
]


def ensure_indexes(connector) -> None:
    query = [{"CreateIndex": {"index_type": "entity", "class": cls, "property_key": key}} for cls, key in INDEXES]
    run_query(connector, query)  # status 2 (already there) is not an error


def _region_deletes(annotation_id: int, keep: Iterable[tuple[str, str]] = ()) -> list:
    """Delete commands for the regions of an annotation, of every kind, but the ``(kind, region id)`` in ``keep``.

    Masks cannot be updated in place (a blob's bytes are fixed): they are always deleted and written anew."""
    commands = []
    for kind, (delete, cls) in REGION_COMMANDS.items():
        constraints: dict = {"LS_annotation_id": ["==", annotation_id]}
        kept = [] if kind == MASK else [region_id for region_kind, region_id in keep if region_kind == kind]
        if kept:
            constraints["LS_id"] = ["not in", kept]
        commands.append({delete: {"with_class": cls, "constraints": constraints} if cls == REGION_CLASS
                         else {"constraints": constraints}})
    return commands


@dataclass
class AnnotationWrite:
    """An annotation as it goes to ApertureDB: its image, its entity's metadata (``LS_*``) and its objects."""

    annotation_id: int
    image_uniqueid: str
    properties: dict
    objects: AnnotationObjects
    label_version: str = ""  # LS_label_version of the annotation and its regions; none when empty
    image_properties: dict[str, Any] | None = None  # {property: value, None: removed} of its image


def image_values(results: list[dict] | None, mapping: dict[str, str]) -> dict[str, Any]:
    """``{property: value}`` for each ``{from_name: property}`` of ``mapping``, from one annotation's image-level
    results (a value not tied to a region); None (removed) when it has none, or when ``results`` is None (no
    annotation decides). One choice is its text, several are joined with ", " in Label Studio's order; a text
    area's lines are joined with line breaks; numbers and ratings stay numbers."""
    values: dict[str, Any] = dict.fromkeys(mapping.values())
    results = results or []
    region_ids = {str(result["id"]) for result in results
                  if result.get("type") not in VALUE_TYPES and result.get("id") is not None}
    for result in results:
        kind = result.get("type")
        if result.get("from_name") in mapping and kind in IMAGE_PROPERTY_TYPES and str(result.get("id")) \
                not in region_ids:
            values[mapping[result["from_name"]]] = _image_value(kind, (result.get("value") or {}).get(VALUE_TYPES[kind]))
    return values


def _image_value(kind: str, value: Any) -> Any:
    if kind in ("number", "rating"):
        return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        return None
    text = (", " if kind == "choices" else "\n").join(str(part) for part in value)
    return text or None


def image_update(values: dict[str, Any] | None, image: dict) -> list:
    """The ``UpdateImage`` leaving ``values`` on the image (``image``: its ``ref`` or ``constraints``); none when
    there are no values."""
    if not values:
        return []
    update = {**image, "properties": {key: value for key, value in values.items() if value is not None},
              "remove_props": sorted(key for key, value in values.items() if value is None)}
    return [{"UpdateImage": {key: value for key, value in update.items() if value != {} and value != []}}]


NOT_STORED = object()  # the revision of an annotation ApertureDB does not hold


def write_annotation_query(annotation: AnnotationWrite, value_properties: Iterable[str] = (),
                           first_ref: int = 1, revision=None) -> tuple[list, list[bytes]]:
    """The commands that leave exactly this annotation in ApertureDB, with refs from ``first_ref`` on.

    ``value_properties``: every property name a value tag of the project can write, so that values
    removed in Label Studio are removed too. ``revision``: the ``LS_revision`` ApertureDB holds (None: the
    annotation has none), or :data:`NOT_STORED` (it is only added, with revision 1, which takes fewer
    commands). The third command of a stored annotation's write is the compare-and-set of its revision.
    """
    image_ref, annotation_ref = first_ref, first_ref + 1
    annotation_id, objects = annotation.annotation_id, annotation.objects
    labelled = {LABEL_VERSION: annotation.label_version} if annotation.label_version else {}
    entity_properties = {**annotation.properties, **objects.properties, **labelled, "LS_id": annotation_id}
    managed = set(value_properties) | {"LS_values", "LS_other_results", LABEL_VERSION}
    stored = revision is not NOT_STORED
    find_image = {"FindImage": {"_ref": image_ref, "constraints": {"_uniqueid": ["==", annotation.image_uniqueid]},
                                "unique": True, "results": {"count": True}}}
    add = {"_ref": annotation_ref, "class": ANNOTATION_CLASS, "if_not_found": {"LS_id": ["==", annotation_id]},
           "connect": {"ref": image_ref, "class": IMAGE_LINK, "direction": "in"}}
    if stored:
        query: list = [
            find_image,
            {"AddEntity": {**add, "properties": {"LS_id": annotation_id}}},
            _revision_update(annotation_id, annotation_ref, revision),
            {"UpdateEntity": {"ref": annotation_ref, "properties": entity_properties,
                              "remove_props": sorted(managed - set(entity_properties))}},
        ]
        query += _region_deletes(annotation_id, [(region.kind, region.region_id) for region in objects.regions])
    else:
        query = [find_image, {"AddEntity": {**add, "properties": {**entity_properties, REVISION: 1}}}]
    blobs: list[bytes] = []
    for ref, region in enumerate(objects.regions, start=annotation_ref + 1):
        command, blob = _region_command(region, annotation_id, (image_ref, annotation_ref, ref), managed, stored,
                                        labelled)
        query.extend(command)
        blobs.extend(blob)
    query += image_update(annotation.image_properties, {"ref": image_ref})
    return query, blobs


def _revision_update(annotation_id: int, annotation_ref: int, revision: int | None) -> dict:
    """The compare-and-set of a stored annotation's ``LS_revision`` (see the module's docstring)."""
    if revision is None:  # written before revisions: its first revision, unconditionally
        return {"UpdateEntity": {"ref": annotation_ref, "properties": {REVISION: 1}}}
    return {"UpdateEntity": {"with_class": ANNOTATION_CLASS, "properties": {REVISION: revision + 1},
                             "constraints": {"LS_id": ["==", annotation_id], REVISION: ["==", revision]}}}


def _region_command(region: RegionObject, annotation_id: int, refs: tuple[int, int, int], managed: set,
                    stored: bool, labelled: dict) -> tuple[list, list[bytes]]:
    """The commands that leave one region as it is now; ``refs``: its image's, its annotation's and its own;
    ``stored``: whether its annotation is in ApertureDB already (False: the region is only added);
    ``labelled``: the label version it carries, if any."""
    image_ref, annotation_ref, ref = refs
    properties = {**region.properties, **labelled, "LS_annotation_id": annotation_id}
    identity = {"LS_id": region.region_id, "LS_annotation_id": annotation_id}
    label = {"label": region.label} if region.label is not None else {}
    if region.kind == BOX:
        add_name, update_name, made = "AddBoundingBox", "UpdateBoundingBox", {"image_ref": image_ref}
        shape: dict = {"rectangle": dict(zip(("x", "y", "width", "height"), region.rectangle))}
    elif region.kind == POLYGON:
        add_name, update_name, made = "AddPolygon", "UpdatePolygon", {"image_ref": image_ref}
        shape = {"polygons": [[list(vertex) for vertex in polygon] for polygon in region.polygons]}
    else:  # a blob or an entity has no label of its own: it is a property
        properties.update(label)
        label, shape = {}, {}
        # A blob is never updated (its bytes are fixed): a stored annotation's masks are deleted and added anew.
        add_name, update_name, made = ("AddBlob", None, {}) if region.kind == MASK else \
            ("AddEntity", "UpdateEntity", {"class": REGION_CLASS})
    add = {"_ref": ref, **made, **shape, "if_not_found": {key: ["==", value] for key, value in identity.items()},
           "connect": {"ref": annotation_ref, "class": REGION_LINK, "direction": "in"}}
    blobs = [region.mask_png] if region.kind == MASK else []
    if not stored or update_name is None:
        return [{add_name: {**add, "properties": properties, **label}}], blobs
    return [
        {add_name: {**add, "properties": identity}},
        {update_name: {"ref": ref, **shape, "properties": properties, "remove_props": sorted(managed - set(properties)),
                       **label}},
    ], blobs


def stored_revisions(connector, annotation_ids: list[int]) -> dict[int, int | None]:
    """The annotations ApertureDB holds, with their ``LS_revision`` (None: none), in an indexed look-up."""
    answer, _ = run_query(connector, [{"FindEntity": {
        "with_class": ANNOTATION_CLASS, "constraints": {"LS_id": ["in", annotation_ids]},
        "results": {"list": ["LS_id", REVISION]},
    }}])
    return {entity["LS_id"]: entity.get(REVISION) for entity in answer[0]["FindEntity"].get("entities") or []}


def write_annotations(connector, annotations: list[AnnotationWrite], value_properties: Iterable[str] = ()) -> None:
    """Write annotations in one transaction: each whole, one after the other, or, on any error, none; each
    annotation's ``LS_revision`` one more (1 if new).

    One annotation per transaction is what an annotator's save sends; a Sync sends several, which
    saves ApertureDB a round trip per annotation. Annotations another writer wrote since
    :func:`stored_revisions` answered are sent again, with the revisions read anew, until each counted."""
    pending = annotations
    for _ in range(MAX_ATTEMPTS):
        revisions = stored_revisions(connector, [annotation.annotation_id for annotation in pending])
        answers = _write(connector, pending, value_properties, revisions)
        pending = [annotation for annotation, answer in zip(pending, answers)
                   if not _counted(answer, revisions.get(annotation.annotation_id, NOT_STORED))]
        if not pending:
            return
    raise ApertureDBError(f"annotations {[a.annotation_id for a in pending]}: other writers kept changing them; "
                          f"gave up after {MAX_ATTEMPTS} attempts")


def _counted(answer: list, revision) -> bool:
    """Whether a write (the answers to :func:`write_annotation_query`'s commands) added one to the revision."""
    if revision is NOT_STORED:
        return answer[1]["AddEntity"].get("status") != ALREADY_THERE  # added, not found added meanwhile
    return answer[2]["UpdateEntity"].get("count") == 1


def _write(connector, annotations: list[AnnotationWrite], value_properties: Iterable[str],
           revisions: dict[int, int | None]) -> list[list]:
    """One transaction writing ``annotations`` (those in ``revisions`` in place); the answers of each."""
    query: list = []
    blobs: list[bytes] = []
    spans = []
    first_ref = 1
    for annotation in annotations:
        commands, annotation_blobs = write_annotation_query(
            annotation, value_properties, first_ref, revisions.get(annotation.annotation_id, NOT_STORED))
        spans.append((len(query), len(query) + len(commands)))
        query += commands
        blobs += annotation_blobs
        first_ref += 2 + len(annotation.objects.regions)  # the refs it used: its image, itself, its regions
    answer, _ = run_query(connector, query, blobs)
    return [answer[start:end] for start, end in spans]


def delete_annotation(connector, annotation_id: int, image: tuple[str, dict] | None = None) -> None:
    """Remove the annotation entity and every region of it; ``image``: ``(_uniqueid, values)`` its image is left
    with, in the same transaction."""
    run_query(connector, _region_deletes(annotation_id) + [
        {"DeleteEntity": {"with_class": ANNOTATION_CLASS, "constraints": {"LS_id": ["==", annotation_id]}}}]
        + _image_by_id(image))


def write_image_properties(connector, image: tuple[str, dict]) -> None:
    """Leave the image ``(_uniqueid, values)`` with those values (a removal that does not delete the annotation)."""
    if commands := _image_by_id(image):
        run_query(connector, commands)


def _image_by_id(image: tuple[str, dict] | None) -> list:
    return [] if image is None else image_update(image[1], {"constraints": {"_uniqueid": ["==", image[0]]}})


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


def read_annotations_commands(image_ref: int, annotation_ref: int, label_version: str | None = None) -> list:
    """Commands finding the annotations of the images in ``image_ref`` and their regions, grouped;
    ``label_version``: only the annotations of this ``LS_label_version``."""
    find: dict = {
        "_ref": annotation_ref, "with_class": ANNOTATION_CLASS, "group_by_source": True,
        "is_connected_to": {"ref": image_ref, "connection_class": IMAGE_LINK, "direction": "out"},
        "results": {"all_properties": True},
    }
    if label_version is not None:
        find["constraints"] = {LABEL_VERSION: ["==", label_version]}
    commands = [{"FindEntity": find}]
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

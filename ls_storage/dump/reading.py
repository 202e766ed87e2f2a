"""What a dump reads: images page by page in ``_uniqueid`` order, with their Label Studio annotations' boxes and
polygons (and, if asked, the boxes and polygons ApertureDB held before Label Studio), as plain shapes in pixels.

Pages come from the source storage's own reader (:func:`ls_storage.client.source.iter_image_pages`), the next one
read while the current one is written, so memory holds two pages whatever the image count. ApertureDB does the
selecting: the images by their constraints and the entities they are connected to (``connected_to``, as a source
storage takes it), the annotations by project and label version, so that a dump of one project reads neither the
annotations of the others nor their regions. Cancelled annotations are left out here.

Regions a target storage writes that are neither boxes nor polygons (brush masks, keypoints, ellipses) are not
dumped: they are counted in ``info.counts.regions_skipped`` by Label Studio type.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterator

from ls_storage.client.constraints import Constraints
from ls_storage.client.source import (PAGE_SIZE, ImageSelection, image_property_names, iter_image_pages, read_ahead,
                                      task_value)
from ls_storage.client.target import StoredAnnotation
from ls_storage.conversion.annotations import BOX, POLYGON

LABEL_STUDIO, APERTUREDB = "label_studio", "aperturedb"


@dataclass(frozen=True)
class DumpSelection:
    """Which images and annotations a dump takes."""

    constraints: Constraints | None = None  # on the images
    connected_to: tuple[dict, ...] = ()  # only images connected to an entity one of these selects (parse_connected_to)
    project_id: int | None = None  # only annotations with this LS_project_id (ApertureDB selects them)
    label_version: str | None = None  # only annotations of this LS_label_version (ApertureDB selects them)
    include_source_regions: bool = False  # also boxes and polygons not written by Label Studio
    annotated_only: bool = False  # only images with a selected annotation (or a source region, when included)
    properties: tuple[str, ...] | None = None  # image properties to keep; None: every one
    file_name_property: str = "name"  # the image property naming its file; the _uniqueid when missing
    limit: int | None = None

    def describe(self) -> dict:
        """The selection as the dump's ``info`` records it."""
        return {"constraints": self.constraints, "connected_to": list(self.connected_to),
                "project_id": self.project_id, "label_version": self.label_version,
                "include_source_regions": self.include_source_regions, "annotated_only": self.annotated_only,
                "limit": self.limit}

    def image_selection(self, properties: tuple[str, ...] = ()) -> ImageSelection:
        """What the source storage's reader is asked for: these images with these properties, and the annotations
        (and source regions, when included) of each."""
        return ImageSelection(
            constraints=self.constraints, connected_to=self.connected_to, properties=properties,
            with_regions=self.include_source_regions, with_annotations=True,
            annotations_label_version=self.label_version, limit=self.limit,
            annotation_conditions=None if self.project_id is None else {"LS_project_id": ["==", self.project_id]})


@dataclass
class Annotator:
    """Who made an annotation and when."""

    annotation_id: int | None
    project_id: int | None
    user: str | None
    created_at: str | None
    updated_at: str | None
    label_version: str | None = None


@dataclass
class Shape:
    """A box (``rectangle`` x, y, width, height, unrotated, and ``rotation`` degrees clockwise around its top-left
    corner) or a polygon (``rings`` of points), in pixels; ``annotator`` is None for a source region."""

    kind: str
    label: str | None
    labels: list[str]
    annotator: Annotator | None
    rectangle: tuple[float, float, float, float] | None = None
    rotation: float = 0.0
    rings: list[list[tuple[float, float]]] | None = None
    score: float | None = None

    @property
    def source(self) -> str:
        return APERTUREDB if self.annotator is None else LABEL_STUDIO


@dataclass
class DumpedImage:
    uniqueid: str
    file_name: str
    width: float
    height: float
    properties: dict
    annotators: list[Annotator] = field(default_factory=list)
    shapes: list[Shape] = field(default_factory=list)


@dataclass
class Tally:
    """What a dump left out, for its ``info``."""

    images_skipped: int = 0  # no usable size
    regions_skipped: Counter = field(default_factory=Counter)  # by Label Studio type (brush, keypoint, ...)


def read_images(connector, selection: DumpSelection, tally: Tally, page_size: int = PAGE_SIZE
                ) -> Iterator[DumpedImage]:
    properties = selection.properties if selection.properties is not None else image_property_names(connector)
    wanted = tuple(sorted({*properties, selection.file_name_property}))
    pages = iter_image_pages(connector, selection.image_selection(wanted), page_size)
    for page in read_ahead(pages):
        for record in page:
            if record.error is not None:
                tally.images_skipped += 1
                continue
            name = record.properties.get(selection.file_name_property)
            image = DumpedImage(
                uniqueid=record.uniqueid, file_name=name if isinstance(name, str) and name else record.uniqueid,
                width=record.width, height=record.height,
                properties={key: task_value(value) for key, value in record.properties.items()
                            if key in properties and value is not None})
            for annotation in record.annotations:
                if annotation.properties.get("LS_was_cancelled") is not True:
                    image.annotators.append(_annotator(annotation))
                    image.shapes.extend(_annotation_shapes(annotation, image.annotators[-1], tally))
            image.shapes.extend(_source_boxes(record.boxes) + _source_polygons(record.polygons))
            if selection.annotated_only and not image.annotators and not image.shapes:
                continue
            yield image


def _annotator(annotation: StoredAnnotation) -> Annotator:
    p = annotation.properties
    version = p.get("LS_label_version")
    return Annotator(annotation_id=p.get("LS_id"), project_id=p.get("LS_project_id"), user=p.get("LS_completed_by"),
                     created_at=task_value(p.get("LS_created_at")), updated_at=task_value(p.get("LS_updated_at")),
                     label_version=None if version is None else str(version))


def _labels(region_properties: dict, label: str | None) -> list[str]:
    try:
        labels = json.loads(region_properties.get("LS_labels") or "null")
    except ValueError:
        labels = None
    return labels if isinstance(labels, list) else ([label] if label is not None else [])


def _annotation_shapes(annotation: StoredAnnotation, annotator: Annotator, tally: Tally) -> list[Shape]:
    shapes = []
    for region in annotation.objects.regions:
        labels = _labels(region.properties, region.label)
        if region.kind == BOX:
            shapes.append(Shape(BOX, region.label, labels, annotator, rectangle=tuple(region.rectangle),
                                rotation=float(region.properties.get("rotation") or 0.0)))
        elif region.kind == POLYGON:
            shapes.append(Shape(POLYGON, region.label, labels, annotator, rings=region.polygons))
        else:
            tally.regions_skipped[str(region.properties.get("LS_type") or region.kind)] += 1
    return shapes


def _score(region: dict) -> float | None:
    score = region.get("score")
    return float(score) if isinstance(score, (int, float)) and not isinstance(score, bool) else None


def _source_boxes(boxes: list[dict]) -> list[Shape]:
    shapes = []
    for box in boxes:
        c = box["_coordinates"]
        label = box.get("_label")
        shapes.append(Shape(BOX, label, [label] if label is not None else [], None,
                            rectangle=(c["x"], c["y"], c["width"], c["height"]),
                            rotation=float(box.get("rotation") or 0.0), score=_score(box)))
    return shapes


def _source_polygons(polygons: list[dict]) -> list[Shape]:
    return [Shape(POLYGON, p.get("_label"), [p["_label"]] if p.get("_label") is not None else [], None,
                  rings=[[tuple(point) for point in ring] for ring in p["_vertices"]], score=_score(p))
            for p in polygons]

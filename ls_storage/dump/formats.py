"""The two dump formats, written image by image as the images arrive.

- ``coco``: COCO detection JSON. ``images``, then ``annotations`` (kept in a temporary file while the images are
  written, so that one pass over ApertureDB suffices), then ``categories`` (the labels in the order first seen,
  ids from 1, or the ones given), then ``info``.
- ``media-items``: ``media`` (one entry per image with its properties and ``metadata_items``), then ``info``; see
  ``media_items.schema.json``.

``info`` comes last because it holds the counts. Memory holds the labels seen, never the images.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
from datetime import datetime, timezone
from typing import Iterable, TextIO

from ls_storage.conversion.annotations import BOX

from .reading import DumpedImage, DumpSelection, Shape, Tally

MEDIA_ITEMS_FORMAT = "ls_storage.media-items"
MEDIA_ITEMS_VERSION = 1


def _info(selection: DumpSelection, tally: Tally, counts: dict) -> dict:
    return {"created_at": datetime.now(timezone.utc).isoformat(), "selection": selection.describe(),
            "counts": {**counts, "images_skipped": tally.images_skipped,
                       "regions_skipped": dict(sorted(tally.regions_skipped.items()))}}


class _JsonList:
    """Writes the elements of a JSON list one at a time."""

    def __init__(self, out: TextIO):
        self.out, self.count = out, 0

    def add(self, element) -> None:
        self.out.write(("," if self.count else "") + "\n" + json.dumps(element, separators=(",", ":")))
        self.count += 1


def box_corners(shape: Shape) -> list[tuple[float, float]]:
    """The four corners of a box, rotated clockwise around its top-left corner (y points down)."""
    x, y, w, h = shape.rectangle
    theta = math.radians(shape.rotation)
    cos, sin = math.cos(theta), math.sin(theta)
    return [(x + dx * cos - dy * sin, y + dx * sin + dy * cos) for dx, dy in ((0, 0), (w, 0), (w, h), (0, h))]


def _envelope(points: list[tuple[float, float]]) -> list[float]:
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)]


def _polygon_area(ring: list[tuple[float, float]]) -> float:
    return abs(sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(ring, ring[1:] + ring[:1]))) / 2


def _flat(ring: list[tuple[float, float]]) -> list[float]:
    return [coordinate for point in ring for coordinate in point]


def _who(shape: Shape) -> dict:
    a = shape.annotator
    attributes: dict = {"source": shape.source, "labels": shape.labels}
    if a is not None:
        attributes.update(annotation_id=a.annotation_id, project_id=a.project_id, completed_by=a.user,
                          created_at=a.created_at, updated_at=a.updated_at, label_version=a.label_version)
    if shape.score is not None:
        attributes["score"] = shape.score
    return attributes


def coco_annotation(shape: Shape) -> dict:
    """A shape as a COCO annotation (without ids): an unrotated box as its ``bbox`` with no segmentation; a rotated
    box as the ``bbox`` enclosing it and its four corners as the segmentation; a polygon as its rings, the ``bbox``
    enclosing them. ``attributes`` keeps the rotation, all labels and who made it when."""
    attributes = _who(shape)
    if shape.kind == BOX:
        x, y, w, h = shape.rectangle
        attributes["rotation"] = shape.rotation
        if shape.rotation % 360 == 0:
            return {"bbox": [x, y, w, h], "segmentation": [], "area": w * h, "iscrowd": 0, "attributes": attributes}
        corners = box_corners(shape)
        return {"bbox": _envelope(corners), "segmentation": [_flat(corners)], "area": w * h, "iscrowd": 0,
                "attributes": attributes}
    points = [point for ring in shape.rings for point in ring]
    return {"bbox": _envelope(points), "segmentation": [_flat(ring) for ring in shape.rings],
            "area": sum(_polygon_area(ring) for ring in shape.rings), "iscrowd": 0, "attributes": attributes}


def write_coco(images: Iterable[DumpedImage], out: TextIO, selection: DumpSelection, tally: Tally,
               categories: list[str] | None = None) -> dict:
    """Writes the COCO JSON; returns its ``info``. With ``categories`` the ids follow that list and shapes of
    other labels are left out (counted); otherwise every label seen is a category. Unlabelled shapes are left out."""
    category_ids = {name: index for index, name in enumerate(categories or [], start=1)}
    left_out = {"unlabelled": 0, "other_label": 0}
    out.write('{"images":[')
    image_list = _JsonList(out)
    with tempfile.TemporaryFile("w+", encoding="utf-8") as spool:
        annotation_list = _JsonList(spool)
        for image in images:
            image_list.add({"id": image_list.count + 1, "file_name": image.file_name, "width": image.width,
                            "height": image.height, "aperturedb_uniqueid": image.uniqueid})
            for shape in image.shapes:
                if shape.label is None:
                    left_out["unlabelled"] += 1
                    continue
                if shape.label not in category_ids:
                    if categories is not None:
                        left_out["other_label"] += 1
                        continue
                    category_ids[shape.label] = len(category_ids) + 1
                annotation_list.add({"id": annotation_list.count + 1, "image_id": image_list.count,
                                     "category_id": category_ids[shape.label], **coco_annotation(shape)})
        out.write('\n],"annotations":[')
        spool.seek(0)
        shutil.copyfileobj(spool, out)
    out.write('\n],"categories":')
    out.write(json.dumps([{"id": i, "name": name, "supercategory": ""} for name, i in category_ids.items()]))
    info = _info(selection, tally, {"images": image_list.count, "annotations": annotation_list.count,
                                    "categories": len(category_ids), "shapes_left_out": left_out})
    out.write(',"info":' + json.dumps(info) + "}\n")
    return info


def media_items(shape: Shape) -> list[dict]:
    """A shape as media-items metadata items: a box as one ``object_label``, a polygon as one ``polygon`` per ring."""
    common = {"label": shape.label, "labels": shape.labels, "source": shape.source,
              "annotation_id": shape.annotator.annotation_id if shape.annotator else None}
    if shape.score is not None:
        common["score"] = shape.score
    if shape.kind == BOX:
        x, y, w, h = shape.rectangle
        return [{"type": "object_label", **common, "bbox": {"x": x, "y": y, "width": w, "height": h},
                 "rotation": shape.rotation}]
    return [{"type": "polygon", **common, "points": [list(point) for point in ring]} for ring in shape.rings]


def write_media_items(images: Iterable[DumpedImage], out: TextIO, selection: DumpSelection, tally: Tally) -> dict:
    """Writes the media-items JSON; returns its ``info``."""
    counts = {"media": 0, "object_label": 0, "polygon": 0, "user_tag": 0}
    out.write('{"format":' + json.dumps(MEDIA_ITEMS_FORMAT) + ',"version":' + str(MEDIA_ITEMS_VERSION) + ',"media":[')
    media = _JsonList(out)
    for image in images:
        items = [{"type": "user_tag", "user": a.user, "created_at": a.created_at, "updated_at": a.updated_at,
                  "annotation_id": a.annotation_id, "project_id": a.project_id, "label_version": a.label_version}
                 for a in image.annotators]
        for shape in image.shapes:
            items.extend(media_items(shape))
        for item in items:
            counts[item["type"]] += 1
        media.add({"media_id": image.uniqueid, "file_name": image.file_name, "width": image.width,
                   "height": image.height, "properties": image.properties, "metadata_items": items})
    counts["media"] = media.count
    info = _info(selection, tally, counts)
    out.write('\n],"info":' + json.dumps(info) + "}\n")
    return info

"""Reading images, their properties, boxes and polygons from ApertureDB, a page at a time.

Pages follow ``_uniqueid`` order (``sort`` + ``limit`` + ``offset``), never an unsorted offset, so a
sync sees every image once. Each page is one transaction: the images, then the boxes and polygons
of exactly those images, grouped by image.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Iterator

from PIL import Image, UnidentifiedImageError

from .connection import run_query
from .target import StoredAnnotation, parse_annotations, read_annotations_commands

PAGE_SIZE = 1000
WIDTH, HEIGHT = "adb_image_width", "adb_image_height"
REGION_PROPERTIES = ["rotation", "score", "model_version", "LS_annotation_id"]
CONTENT_TYPES = [
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"GIF8", "image/gif"),
    (b"BM", "image/bmp"),
]


@dataclass
class ImageRecord:
    uniqueid: str
    width: float | None
    height: float | None
    properties: dict
    boxes: list[dict] = field(default_factory=list)
    polygons: list[dict] = field(default_factory=list)
    error: str | None = None  # why this image cannot become a task
    annotations: list[StoredAnnotation] = field(default_factory=list)


@dataclass(frozen=True)
class ImageSelection:
    """Which images a source storage takes, and what comes with them."""

    constraints: dict | None = None
    properties: tuple[str, ...] = ()
    with_regions: bool = True
    region_constraints: dict | None = None
    limit: int | None = None
    with_annotations: bool = False  # Label Studio annotations stored in ApertureDB (LS_annotation)


def _page_query(selection: ImageSelection, offset: int, size: int) -> list:
    find_image: dict = {
        "_ref": 1,
        "sort": "_uniqueid",
        "offset": offset,
        "limit": size,
        "results": {"list": sorted({"_uniqueid", WIDTH, HEIGHT, *selection.properties})},
    }
    if selection.constraints:
        find_image["constraints"] = selection.constraints
    query: list = [{"FindImage": find_image}]
    if selection.with_regions:
        common = {"image_ref": 1, "group_by_source": True, "labels": True, "uniqueids": True,
                  "results": {"list": REGION_PROPERTIES}}
        if selection.region_constraints:
            common["constraints"] = selection.region_constraints
        query.append({"FindBoundingBox": {**common, "coordinates": True}})
        query.append({"FindPolygon": {**common, "vertices": True}})
    if selection.with_annotations:
        query.extend(read_annotations_commands(image_ref=1, annotation_ref=2))
    return query


def iter_image_pages(connector, selection: ImageSelection, page_size: int = PAGE_SIZE) -> Iterator[list[ImageRecord]]:
    offset = 0
    while selection.limit is None or offset < selection.limit:
        size = page_size if selection.limit is None else min(page_size, selection.limit - offset)
        answer, _ = run_query(connector, _page_query(selection, offset, size))
        entities = answer[0]["FindImage"].get("entities") or []
        if not entities:
            return
        records = [
            ImageRecord(
                uniqueid=entity["_uniqueid"],
                width=entity.get(WIDTH),
                height=entity.get(HEIGHT),
                properties={name: entity.get(name) for name in selection.properties},
            )
            for entity in entities
        ]
        if selection.with_regions:
            boxes = answer[1]["FindBoundingBox"].get("entities") or {}
            polygons = answer[2]["FindPolygon"].get("entities") or {}
            for record in records:
                record.boxes = _predicted(boxes.get(record.uniqueid, []))
                record.polygons = _predicted(polygons.get(record.uniqueid, []))
        if selection.with_annotations:
            stored = parse_annotations(answer[3 if selection.with_regions else 1:])
            for record in records:
                record.annotations = stored.get(record.uniqueid, [])
        _fill_missing_sizes(connector, [r for r in records if not (_is_size(r.width) and _is_size(r.height))])
        yield records
        if len(entities) < size:
            return
        offset += len(entities)


def _predicted(regions: list[dict]) -> list[dict]:
    """Regions that are not annotations written back by a target storage (those carry LS_annotation_id)."""
    return [region for region in regions if region.get("LS_annotation_id") is None]


def _is_size(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0


def _fill_missing_sizes(connector, records: list[ImageRecord]) -> None:
    """Images stored without a usable ``adb_image_width``/``height``: read the size from the image itself."""
    for record in records:
        blob, _ = fetch_image(connector, record.uniqueid)
        try:
            with Image.open(io.BytesIO(blob)) as image:
                record.width, record.height = image.width, image.height
        except (UnidentifiedImageError, OSError):
            record.error = "its size is not recorded and the image cannot be decoded to read it"


def fetch_image(connector, uniqueid: str) -> tuple[bytes, str]:
    """The stored bytes of one image and their content type; ``KeyError`` when there is no such image."""
    answer, blobs = run_query(connector, [{"FindImage": {"constraints": {"_uniqueid": ["==", uniqueid]},
                                                         "blobs": True}}])
    if not blobs:
        raise KeyError(uniqueid)
    return blobs[0], content_type(blobs[0])


def content_type(blob: bytes) -> str:
    for magic, mime in CONTENT_TYPES:
        if blob.startswith(magic):
            return mime
    if blob[:4] == b"RIFF" and blob[8:12] == b"WEBP":
        return "image/webp"
    return "application/octet-stream"


def check_selection(connector, selection: ImageSelection) -> None:
    """Ask ApertureDB for one matching image, so that it judges the constraints as it will in a sync."""
    query = _page_query(ImageSelection(selection.constraints, (), selection.with_regions,
                                       selection.region_constraints, 1, selection.with_annotations), 0, 1)
    run_query(connector, query)

"""Filling a test server's store: from a folder of images (with COCO annotations), or synthetic.

Seeding writes straight into the store, as a bulk load would, so that large stores load quickly. The
COCO reading (``read_coco_folder``) is shared with ``sdk_loading``, which loads a folder over the SDK.
"""

from __future__ import annotations

import io
import json
import logging
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from PIL import Image

from . import images
from .commands.media import IMAGE_HEIGHT, IMAGE_WIDTH
from .store import BOUNDING_BOX, BOX_TO_IMAGE, IMAGE, POLYGON, POLYGON_TO_IMAGE, Store

logger = logging.getLogger(__name__)
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff"}
SYNTHETIC_LABELS = ("cat", "dog", "car", "person", "bicycle")


def _add_image(store: Store, blob: bytes, props: dict, where: str):
    width, height, _ = images.inspect(blob, where)
    props = {IMAGE_WIDTH: width, IMAGE_HEIGHT: height, **props}
    return store.add_object(IMAGE, props, blob=blob)


def _add_box(store: Store, image, rectangle: tuple, label: str | None, props: dict | None = None) -> None:
    box = store.add_object(BOUNDING_BOX, props or {}, geometry=rectangle, label=label)
    store.add_link(BOX_TO_IMAGE, box, image, {})


@dataclass(frozen=True)
class CocoRegion:
    """One COCO annotation of an image: its id, category name, ``bbox`` and polygon ``segmentation``."""

    annotation_id: int | None
    label: str | None
    box: tuple[float, float, float, float] | None
    polygons: list[list[tuple[float, float]]] | None


def read_coco_folder(folder: Path) -> Iterator[tuple[Path, dict, list[CocoRegion]]]:
    """Each image of ``folder`` (in name order) with its properties and regions from a COCO JSON file there.

    The properties are the COCO image entry's plain values (its ``id``, ``file_name``, ...); RLE
    segmentations are skipped with a warning, only polygon segmentations are read.
    """
    coco = _coco_of(folder)
    by_name = {entry["file_name"]: entry for entry in coco.get("images", [])}
    categories = {c["id"]: c["name"] for c in coco.get("categories", [])}
    annotations: dict = {}
    for annotation in coco.get("annotations", []):
        annotations.setdefault(annotation["image_id"], []).append(annotation)
    skipped = 0
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        entry = by_name.get(path.name, {"file_name": path.name})
        props = {k: v for k, v in entry.items() if isinstance(v, (str, int, float, bool)) and not k.startswith("_")}
        regions = []
        for annotation in annotations.get(entry.get("id"), []):
            box = tuple(float(v) for v in annotation["bbox"]) if "bbox" in annotation else None
            segmentation = annotation.get("segmentation")
            polygons = None
            if isinstance(segmentation, list) and segmentation:
                polygons = [[(float(p[i]), float(p[i + 1])) for i in range(0, len(p) - 1, 2)] for p in segmentation]
            elif segmentation:
                skipped += 1
            regions.append(CocoRegion(annotation.get("id"), categories.get(annotation.get("category_id")), box,
                                      polygons))
        yield path, props, regions
    if skipped:
        logger.warning("skipped %d RLE segmentations: only polygon segmentations are loaded", skipped)


def seed_folder(store: Store, folder: Path) -> int:
    """Load every image of ``folder``; a COCO JSON file there adds properties, boxes and polygons."""
    loaded = 0
    for path, props, regions in read_coco_folder(folder):
        image = _add_image(store, path.read_bytes(), props, str(path))
        for region in regions:
            if region.box is not None:
                _add_box(store, image, region.box, region.label)
            if region.polygons:
                polygon = store.add_object(POLYGON, {}, geometry=region.polygons, label=region.label)
                store.add_link(POLYGON_TO_IMAGE, polygon, image, {})
        loaded += 1
    return loaded


def coco_datasets(folder: Path) -> dict[str, list]:
    """The datasets of a folder's COCO file: its top-level ``datasets``, ``[{"name", "image_ids"}]`` — not part of
    COCO; how the demo says which images belong to which dataset — as ``{name: [COCO image id, ...]}``."""
    return {entry["name"]: list(entry.get("image_ids", [])) for entry in _coco_of(folder).get("datasets", [])}


def _coco_of(folder: Path) -> dict:
    for path in sorted(folder.glob("*.json")):
        data = json.loads(path.read_text())
        if isinstance(data, dict) and "images" in data:
            return data
    return {}


def synthetic_image(index: int, width: int, height: int) -> bytes:
    """A small PNG whose colour follows from ``index``, so every image's bytes differ."""
    colour = ((index * 67) % 256, (index * 151) % 256, (index * 29 + index // 65536) % 256)
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, "PNG", compress_level=1)
    return out.getvalue()


def seed_synthetic(store: Store, count: int, boxes: int, random_seed: int = 0) -> None:
    """``count`` images of varied sizes with ``boxes`` labelled boxes each, the same for a given seed.

    Images carry ``name`` (indexed), ``number`` and ``split`` properties.
    """
    rng = random.Random(random_seed)
    store.create_index("entity", IMAGE, "number")
    for index in range(count):
        width, height = rng.randrange(48, 160), rng.randrange(32, 120)
        props = {"name": f"synthetic_{index:07d}.png", "number": index,
                 "split": "val" if index % 10 == 0 else "train"}
        image = store.add_object(
            IMAGE, {IMAGE_WIDTH: width, IMAGE_HEIGHT: height, **props}, blob=synthetic_image(index, width, height)
        )
        for _ in range(boxes):
            w, h = rng.uniform(2, width / 2), rng.uniform(2, height / 2)
            x, y = rng.uniform(0, width - w), rng.uniform(0, height - h)
            rectangle = (round(x, 2), round(y, 2), round(w, 2), round(h, 2))
            _add_box(store, image, rectangle, rng.choice(SYNTHETIC_LABELS))

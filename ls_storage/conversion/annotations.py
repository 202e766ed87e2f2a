"""Label Studio annotation results ⇄ ApertureDB objects. Pure functions, no I/O.

A region (results sharing one ``id``) becomes one ApertureDB object:

| Label Studio | ApertureDB |
|---|---|
| ``rectanglelabels`` / ``rectangle`` | BoundingBox: the unrotated rectangle in float pixels, ``rotation`` degrees clockwise around its top-left corner (Label Studio's own convention, applied in pixel space) |
| ``polygonlabels`` / ``polygon`` | Polygon, vertices in float pixels |
| ``brushlabels`` / ``brush`` | Blob: a PNG mask (0 or 255) the size of the image, and Label Studio's RLE in ``LS_rle`` |
| ``keypointlabels`` / ``ellipselabels`` (and unlabelled ones) | Entity ``LS_region`` with the geometry in pixel properties |

The region's labels are all kept (``LS_labels``, a JSON list; ``_label`` holds the first). Values of
``choices``, ``textarea``, ``number``, ``rating`` (and other value-only tags) on a region become
properties of the region; those with no region become properties of the annotation. They are named
after the control's ``from_name``: choices and texts as JSON lists, numbers as numbers. Anything else
(relations, ...) is kept verbatim in ``LS_other_results`` so that nothing is lost.
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
from label_studio_sdk.converter.brush import decode_rle
from PIL import Image

BOX, POLYGON, MASK, REGION = "bounding_box", "polygon", "mask", "region"
# Properties this module manages on regions and annotations; a value tag named like one is prefixed.
RESERVED = {"LS_id", "LS_type", "LS_from_name", "LS_to_name", "LS_labels", "LS_rle", "LS_values",
            "LS_other_results", "rotation", "x", "y", "width", "height", "radius_x", "radius_y", "score"}


class ConversionError(ValueError):
    """A result that cannot be stored as it is (missing geometry, unknown image size, ...)."""


@dataclass
class RegionObject:
    """One region, as the ApertureDB object that stores it."""

    kind: str
    region_id: str
    label: str | None
    properties: dict
    rectangle: tuple[float, float, float, float] | None = None
    polygons: list[list[tuple[float, float]]] | None = None
    mask_png: bytes | None = None


@dataclass
class AnnotationObjects:
    """Everything of one annotation's results: the annotation entity's properties and its regions."""

    properties: dict
    regions: list[RegionObject] = field(default_factory=list)


def _percent_to_pixels(value: float, size: float) -> float:
    return value * size / 100.0


def _pixels_to_percent(value: float, size: float) -> float:
    return value * 100.0 / size


def _labels_of(value: dict, result_type: str) -> list[str]:
    labels = value.get(result_type) if result_type.endswith("labels") else None
    return list(labels) if isinstance(labels, list) else []


# ---- one pair of functions per region kind ----------------------------------------------------


def _box_to_object(value: dict, width: float, height: float) -> dict:
    rectangle = (
        _percent_to_pixels(value["x"], width), _percent_to_pixels(value["y"], height),
        _percent_to_pixels(value["width"], width), _percent_to_pixels(value["height"], height),
    )
    return {"kind": BOX, "rectangle": rectangle, "properties": {"rotation": float(value.get("rotation") or 0.0)}}


def _box_from_object(region: RegionObject, width: float, height: float) -> dict:
    x, y, w, h = region.rectangle
    return {"x": _pixels_to_percent(x, width), "y": _pixels_to_percent(y, height),
            "width": _pixels_to_percent(w, width), "height": _pixels_to_percent(h, height),
            "rotation": float(region.properties.get("rotation") or 0.0)}


def _polygon_to_object(value: dict, width: float, height: float) -> dict:
    points = value.get("points") or []
    if len(points) < 3:
        raise ConversionError("a polygon needs at least 3 points")
    vertices = [(_percent_to_pixels(x, width), _percent_to_pixels(y, height)) for x, y in points]
    properties = {} if value.get("closed", True) else {"closed": False}
    return {"kind": POLYGON, "polygons": [vertices], "properties": properties}


def _polygon_from_object(region: RegionObject, width: float, height: float) -> dict:
    value = {"points": [[_pixels_to_percent(x, width), _pixels_to_percent(y, height)] for x, y in region.polygons[0]]}
    value["closed"] = region.properties.get("closed", True) is not False
    return value


def _mask_to_object(value: dict, width: float, height: float) -> dict:
    if value.get("format") != "rle" or not isinstance(value.get("rle"), list):
        raise ConversionError("a brush region must carry Label Studio's RLE")
    width_px, height_px = int(round(width)), int(round(height))
    pixels = decode_rle(value["rle"])
    if pixels.size != width_px * height_px * 4:
        raise ConversionError(f"the brush mask has {pixels.size // 4} pixels, the image {width_px}x{height_px}")
    alpha = pixels.reshape(height_px, width_px, 4)[:, :, 3]
    out = io.BytesIO()
    Image.fromarray(np.where(alpha > 0, 255, 0).astype(np.uint8), "L").save(out, "PNG")
    return {"kind": MASK, "mask_png": out.getvalue(), "properties": {"LS_rle": json.dumps(value["rle"])}}


def _mask_from_object(region: RegionObject, width: float, height: float) -> dict:
    return {"format": "rle", "rle": json.loads(region.properties["LS_rle"])}


def _keypoint_to_object(value: dict, width: float, height: float) -> dict:
    properties = {"x": _percent_to_pixels(value["x"], width), "y": _percent_to_pixels(value["y"], height)}
    if "width" in value:
        properties["width"] = float(value["width"])
    return {"kind": REGION, "properties": properties}


def _keypoint_from_object(region: RegionObject, width: float, height: float) -> dict:
    value = {"x": _pixels_to_percent(region.properties["x"], width), "y": _pixels_to_percent(region.properties["y"], height)}
    if "width" in region.properties:
        value["width"] = region.properties["width"]
    return value


def _ellipse_to_object(value: dict, width: float, height: float) -> dict:
    return {"kind": REGION, "properties": {
        "x": _percent_to_pixels(value["x"], width), "y": _percent_to_pixels(value["y"], height),
        "radius_x": _percent_to_pixels(value["radiusX"], width), "radius_y": _percent_to_pixels(value["radiusY"], height),
        "rotation": float(value.get("rotation") or 0.0),
    }}


def _ellipse_from_object(region: RegionObject, width: float, height: float) -> dict:
    p = region.properties
    return {"x": _pixels_to_percent(p["x"], width), "y": _pixels_to_percent(p["y"], height),
            "radiusX": _pixels_to_percent(p["radius_x"], width), "radiusY": _pixels_to_percent(p["radius_y"], height),
            "rotation": float(p.get("rotation") or 0.0)}


Converter = tuple[Callable[[dict, float, float], dict], Callable[[RegionObject, float, float], dict]]
REGION_TYPES: dict[str, Converter] = {
    "rectangle": (_box_to_object, _box_from_object),
    "polygon": (_polygon_to_object, _polygon_from_object),
    "brush": (_mask_to_object, _mask_from_object),
    "keypoint": (_keypoint_to_object, _keypoint_from_object),
    "ellipse": (_ellipse_to_object, _ellipse_from_object),
}
# Tags whose value is one field; on a region or on the whole image.
VALUE_TYPES = {"choices": "choices", "textarea": "text", "number": "number", "rating": "rating",
               "taxonomy": "taxonomy", "datetime": "datetime"}


def _region_type(result_type: str) -> str | None:
    base = result_type[: -len("labels")] if result_type.endswith("labels") else result_type
    return base if base in REGION_TYPES else None


def _value_property(from_name: str) -> str:
    return from_name if from_name not in RESERVED and not from_name.startswith("_") else f"LS_value_{from_name}"


def value_property_names(parsed_config: dict) -> set[str]:
    """Every property a value tag of this label config can write (Label Studio's parsed config)."""
    return {_value_property(name) for name, tag in parsed_config.items() if tag.get("type", "").lower() in VALUE_TYPES}


def _store_value(value: Any, result_type: str) -> Any:
    """A tag's value as an ApertureDB property: numbers stay numbers, dates text, the rest JSON text."""
    if result_type in ("number", "rating", "datetime"):
        return value
    return json.dumps(value)


def _load_value(raw: Any, result_type: str) -> Any:
    if raw is None or result_type in ("number", "rating", "datetime"):
        return raw
    return json.loads(raw)


def _put_values(target: dict, results: list[dict]) -> None:
    """Value-tag results as properties of ``target``, with ``LS_values`` recording how to rebuild them."""
    described = {}
    for result in results:
        key = VALUE_TYPES[result["type"]]
        described[result["from_name"]] = {"type": result["type"], "to_name": result["to_name"],
                                          "property": _value_property(result["from_name"])}
        stored = _store_value(result["value"].get(key), result["type"])
        if stored is not None:  # ApertureDB stores no nulls; a missing property reads back as None
            target[_value_property(result["from_name"])] = stored
    if described:
        target["LS_values"] = json.dumps(described, sort_keys=True)


def _get_values(properties: dict, region_id: str | None) -> list[dict]:
    described = json.loads(properties.get("LS_values") or "{}")
    results = []
    for from_name, info in sorted(described.items()):
        raw = properties.get(info["property"])
        result = {"from_name": from_name, "to_name": info["to_name"], "type": info["type"],
                  "value": {VALUE_TYPES[info["type"]]: _load_value(raw, info["type"])}}
        if region_id is not None:
            result["id"] = region_id
        results.append(result)
    return results


def results_to_objects(results: list[dict], width: float | None, height: float | None) -> AnnotationObjects:
    """Split one annotation's results into the annotation entity's properties and its region objects.

    ``width``/``height``: the original image size in pixels; each result's ``original_width`` /
    ``original_height`` wins when present.
    """
    by_region: dict[str, list[dict]] = {}
    image_values, others = [], []
    for result in results:
        result_type = result.get("type", "")
        if _region_type(result_type) is not None:
            by_region.setdefault(str(result.get("id")), []).append(result)
    for result in results:
        result_type = result.get("type", "")
        if _region_type(result_type) is not None:
            continue
        if result_type in VALUE_TYPES and str(result.get("id")) in by_region:
            by_region[str(result["id"])].append(result)
        elif result_type in VALUE_TYPES:
            image_values.append(result)
        else:
            others.append(result)
    objects = AnnotationObjects(properties={})
    _put_values(objects.properties, image_values)
    if others:
        objects.properties["LS_other_results"] = json.dumps(others, sort_keys=True)
    for region_id, group in by_region.items():
        objects.regions.append(_region_object(region_id, group, width, height))
    return objects


def _region_object(region_id: str, group: list[dict], width: float | None, height: float | None) -> RegionObject:
    (shape, *extra_shapes) = [r for r in group if _region_type(r["type"]) is not None]
    if extra_shapes:
        raise ConversionError(f"region {region_id} has {len(extra_shapes) + 1} shapes; Label Studio gives one")
    width = shape.get("original_width") or width
    height = shape.get("original_height") or height
    if not width or not height:
        raise ConversionError(f"region {region_id}: the image size is unknown")
    region_type = _region_type(shape["type"])
    converted = REGION_TYPES[region_type][0](shape["value"], width, height)
    labels = _labels_of(shape["value"], shape["type"])
    properties = {
        "LS_id": region_id, "LS_type": shape["type"], "LS_from_name": shape["from_name"],
        "LS_to_name": shape["to_name"], "LS_labels": json.dumps(labels), **converted["properties"],
    }
    if isinstance(shape.get("score"), (int, float)):
        properties["score"] = float(shape["score"])
    _put_values(properties, [r for r in group if r is not shape])
    return RegionObject(kind=converted["kind"], region_id=region_id, label=labels[0] if labels else None,
                        properties=properties, rectangle=converted.get("rectangle"),
                        polygons=converted.get("polygons"), mask_png=converted.get("mask_png"))


def objects_to_results(objects: AnnotationObjects, width: float, height: float) -> list[dict]:
    """The inverse of :func:`results_to_objects`: Label Studio results from the stored objects."""
    results = []
    for region in objects.regions:
        p = region.properties
        result_type = p["LS_type"]
        value = REGION_TYPES[_region_type(result_type)][1](region, width, height)
        if result_type.endswith("labels"):
            value[result_type] = json.loads(p.get("LS_labels") or "[]")
        result = {"id": region.region_id, "from_name": p["LS_from_name"], "to_name": p["LS_to_name"],
                  "type": result_type, "value": value, "original_width": width, "original_height": height,
                  "image_rotation": 0}
        if "score" in p:
            result["score"] = p["score"]
        results.append(result)
        results.extend(_get_values(p, region.region_id))
    results.extend(_get_values(objects.properties, None))
    results.extend(json.loads(objects.properties.get("LS_other_results") or "[]"))
    return results


def stored_results(objects: AnnotationObjects, width: float, height: float) -> list[dict]:
    """Results of an annotation read back from ApertureDB.

    From its region objects; from the full annotation JSON (``LS_data``) when the regions were not
    written by this plugin (ApertureData's own integration stores regions without ``LS_type``).
    """
    try:
        return objects_to_results(objects, width, height)
    except (KeyError, ValueError, TypeError):
        try:
            data = json.loads(objects.properties.get("LS_data") or "null")
        except ValueError:
            data = None
        if isinstance(data, dict) and isinstance(data.get("result"), list):
            return data["result"]
        raise ConversionError("the stored annotation has neither regions written by ls_storage nor LS_data") from None

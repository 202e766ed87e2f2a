"""ApertureDB bounding boxes and polygons → Label Studio predictions. Pure functions.

Label Studio keeps region geometry in percent of the original image; ApertureDB in float pixels. A
rotated box is the unrotated rectangle plus ``rotation`` degrees around its top-left corner in
both systems, so converting its corner and size converts it exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

# Box and polygon properties that carry what Label Studio predictions have.
ROTATION, SCORE, MODEL_VERSION = "rotation", "score", "model_version"
DEFAULT_MODEL_VERSION = "aperturedb"


class LabelConfigError(ValueError):
    """The project's labeling config cannot hold what the storage needs."""


@dataclass(frozen=True)
class PredictionProperties:
    """The box and polygon properties a prediction takes its model version and score from."""

    version: str = MODEL_VERSION
    score: str = SCORE


@dataclass(frozen=True)
class ControlTag:
    """A labels control of the project (``RectangleLabels``, ``PolygonLabels``) and the image it labels."""

    from_name: str
    to_name: str
    result_type: str  # "rectanglelabels" / "polygonlabels"
    labels: frozenset[str]


@dataclass(frozen=True)
class ImageTargets:
    """Where ApertureDB data goes in one project: the task data key of the image, and its controls."""

    data_key: str
    image_name: str
    rectangles: ControlTag | None
    polygons: ControlTag | None


def image_targets(parsed_config: dict) -> ImageTargets:
    """Read the targets from Label Studio's parsed label config (``core.label_config.parse_config``)."""
    controls = {"RectangleLabels": None, "PolygonLabels": None}
    image_inputs: dict[str, str] = {}
    for name, tag in parsed_config.items():
        for to_name, source in zip(tag.get("to_name", []), tag.get("inputs", [])):
            if source.get("type") == "Image":
                image_inputs.setdefault(to_name, source["value"])
        if tag.get("type") in controls and controls[tag["type"]] is None:
            images = [i for i in tag.get("inputs", []) if i.get("type") == "Image"]
            if images:
                controls[tag["type"]] = (name, tag["to_name"][0], images[0]["value"], frozenset(tag.get("labels", [])))
    chosen = controls["RectangleLabels"] or controls["PolygonLabels"]
    if chosen is not None:
        image_name, data_key = chosen[1], chosen[2]
    elif image_inputs:
        image_name, data_key = next(iter(image_inputs.items()))
    else:
        raise LabelConfigError("The project's labeling config has no <Image> tag to show ApertureDB images in.")

    def tag_for(kind: str, result_type: str) -> ControlTag | None:
        found = controls[kind]
        if found is None or found[1] != image_name:
            return None
        return ControlTag(found[0], image_name, result_type, found[3])

    return ImageTargets(data_key, image_name, tag_for("RectangleLabels", "rectanglelabels"),
                        tag_for("PolygonLabels", "polygonlabels"))


def _percent(value: float, whole: float) -> float:
    return value * 100.0 / whole


def box_result(box: dict, width: float, height: float, tag: ControlTag, region_id: str,
               score_property: str = SCORE) -> dict:
    """A ``rectanglelabels`` result from a FindBoundingBox entity (``_coordinates``, ``_label``, properties)."""
    rectangle = box["_coordinates"]
    value: dict[str, Any] = {
        "x": _percent(rectangle["x"], width),
        "y": _percent(rectangle["y"], height),
        "width": _percent(rectangle["width"], width),
        "height": _percent(rectangle["height"], height),
        "rotation": float(box.get(ROTATION) or 0.0),
        "rectanglelabels": [box["_label"]],
    }
    return _result(region_id, tag, value, width, height, box.get(score_property))


def polygon_results(polygon: dict, width: float, height: float, tag: ControlTag, region_id: str,
                    score_property: str = SCORE) -> list[dict]:
    """One ``polygonlabels`` result per ring of a FindPolygon entity (``_vertices``, ``_label``)."""
    results = []
    for index, ring in enumerate(polygon["_vertices"]):
        value = {
            "points": [[_percent(x, width), _percent(y, height)] for x, y in ring],
            "closed": True,
            "polygonlabels": [polygon["_label"]],
        }
        suffix = "" if index == 0 else f"-{index}"
        results.append(_result(region_id + suffix, tag, value, width, height, polygon.get(score_property)))
    return results


def _result(region_id: str, tag: ControlTag, value: dict, width: float, height: float, score: Any) -> dict:
    result = {
        "id": region_id,
        "from_name": tag.from_name,
        "to_name": tag.to_name,
        "type": tag.result_type,
        "value": value,
        "original_width": width,
        "original_height": height,
        "image_rotation": 0,
    }
    if isinstance(score, (int, float)) and not isinstance(score, bool):
        result["score"] = float(score)
    return result


@dataclass
class Conversion:
    predictions: list[dict]
    skipped_labels: dict[str, int]


def image_predictions(boxes: Iterable[dict], polygons: Iterable[dict], width: float, height: float,
                      targets: ImageTargets, names: PredictionProperties = PredictionProperties()) -> Conversion:
    """The predictions of one image: one per model version, regions whose label the config lacks skipped.

    ``names``: the region properties holding the model version and the score.

    Region ids derive from the ApertureDB ``_uniqueid`` so that re-syncs give the same ids.
    """
    by_version: dict[str, list[dict]] = {}
    skipped: dict[str, int] = {}

    def keep(region: dict, tag: ControlTag | None) -> bool:
        label = region.get("_label")
        if tag is None or label is None or (tag.labels and label not in tag.labels):
            skipped[str(label)] = skipped.get(str(label), 0) + 1
            return False
        return True

    for box in boxes:
        if keep(box, targets.rectangles):
            by_version.setdefault(_version(box, names.version), []).append(
                box_result(box, width, height, targets.rectangles, _region_id(box), names.score))
    for polygon in polygons:
        if keep(polygon, targets.polygons):
            by_version.setdefault(_version(polygon, names.version), []).extend(
                polygon_results(polygon, width, height, targets.polygons, _region_id(polygon), names.score))
    predictions = []
    for version, results in by_version.items():
        scores = [r["score"] for r in results if "score" in r]
        prediction = {"model_version": version, "result": results}
        if scores:
            prediction["score"] = sum(scores) / len(scores)
        predictions.append(prediction)
    return Conversion(predictions, skipped)


def _version(region: dict, name: str = MODEL_VERSION) -> str:
    version = region.get(name)
    return str(version) if version not in (None, "") else DEFAULT_MODEL_VERSION


def _region_id(region: dict) -> str:
    return "adb-" + region["_uniqueid"].replace(".", "-")

"""Label Studio results → ApertureDB objects → Label Studio results is the identity (within 1e-6 percent)."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from label_studio_sdk.converter.brush import mask2rle
from ls_storage.conversion.annotations import (
    BOX, MASK, POLYGON, REGION, ConversionError, objects_to_results, results_to_objects,
)
from PIL import Image

LABELS = st.lists(st.sampled_from(["cat", "dog", "car", "person", "a,b", "ünï"]), min_size=0, max_size=3, unique=True)
PERCENT = st.floats(min_value=0, max_value=100, allow_nan=False)
SIZE = st.integers(min_value=1, max_value=5000)
region_ids = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-", min_size=1, max_size=12)


@st.composite
def region_results(draw, region_id: str, width: int, height: int) -> list[dict]:
    kind = draw(st.sampled_from(["rectangle", "polygon", "keypoint", "ellipse"]))
    labelled = draw(st.booleans())
    labels = draw(LABELS)
    if kind == "rectangle":
        value = {"x": draw(PERCENT), "y": draw(PERCENT), "width": draw(PERCENT), "height": draw(PERCENT),
                 "rotation": draw(st.floats(min_value=0, max_value=360, allow_nan=False))}
    elif kind == "polygon":
        value = {"points": draw(st.lists(st.lists(PERCENT, min_size=2, max_size=2), min_size=3, max_size=12)),
                 "closed": draw(st.booleans())}
    elif kind == "keypoint":
        value = {"x": draw(PERCENT), "y": draw(PERCENT), "width": draw(st.floats(0.1, 20))}
    else:
        value = {"x": draw(PERCENT), "y": draw(PERCENT), "radiusX": draw(PERCENT), "radiusY": draw(PERCENT),
                 "rotation": draw(st.floats(min_value=0, max_value=360, allow_nan=False))}
    result_type = kind + "labels" if labelled else kind
    if labelled:
        value[result_type] = labels
    shape = {"id": region_id, "from_name": f"{kind}_tag", "to_name": "image", "type": result_type, "value": value,
             "original_width": width, "original_height": height, "image_rotation": 0}
    results = [shape]
    if draw(st.booleans()):
        results.append({"id": region_id, "from_name": "region_choice", "to_name": "image", "type": "choices",
                        "value": {"choices": draw(LABELS)}})
    if draw(st.booleans()):
        results.append({"id": region_id, "from_name": "region_note", "to_name": "image", "type": "textarea",
                        "value": {"text": draw(st.lists(st.text(max_size=20), max_size=2))}})
    return results


@st.composite
def annotations(draw):
    width, height = draw(SIZE), draw(SIZE)
    results = []
    for region_id in draw(st.lists(region_ids, max_size=5, unique=True)):
        results.extend(draw(region_results(region_id, width, height)))
    if draw(st.booleans()):
        results.append({"from_name": "quality", "to_name": "image", "type": "rating", "value": {"rating": draw(st.integers(1, 5))}})
    if draw(st.booleans()):
        results.append({"from_name": "count", "to_name": "image", "type": "number",
                        "value": {"number": draw(st.floats(-1e6, 1e6, allow_nan=False))}})
    if draw(st.booleans()):
        results.append({"from_name": "scene", "to_name": "image", "type": "choices", "value": {"choices": draw(LABELS)}})
    return width, height, results


def assert_close(expected, actual, path="result"):
    if isinstance(expected, float) or isinstance(actual, float):
        assert actual == pytest.approx(expected, abs=1e-6), path
    elif isinstance(expected, dict):
        assert set(expected) == set(actual), path
        for key in expected:
            assert_close(expected[key], actual[key], f"{path}.{key}")
    elif isinstance(expected, list):
        assert len(expected) == len(actual), path
        for index, (e, a) in enumerate(zip(expected, actual)):
            assert_close(e, a, f"{path}[{index}]")
    else:
        assert expected == actual, path


def by_key(results):
    return sorted(results, key=lambda r: (str(r.get("id")), r["from_name"], r["type"]))


@settings(max_examples=300, deadline=None)
@given(annotations())
def test_results_survive_the_round_trip_through_aperturedb_objects(annotation):
    width, height, results = annotation

    objects = results_to_objects(results, width, height)
    back = objects_to_results(objects, width, height)

    assert_close(by_key(results), by_key(back))


@settings(max_examples=200, deadline=None)
@given(SIZE, SIZE, PERCENT, PERCENT, PERCENT, PERCENT, st.floats(0, 360, allow_nan=False))
def test_boxes_are_stored_in_float_pixels_with_their_rotation(width, height, x, y, w, h, rotation):
    result = {"id": "r", "from_name": "box", "to_name": "image", "type": "rectanglelabels",
              "value": {"x": x, "y": y, "width": w, "height": h, "rotation": rotation, "rectanglelabels": ["cat", "dog"]},
              "original_width": width, "original_height": height}

    (region,) = results_to_objects([result], None, None).regions

    assert region.kind == BOX and region.label == "cat"
    assert region.rectangle == pytest.approx((x * width / 100, y * height / 100, w * width / 100, h * height / 100))
    assert region.properties["rotation"] == rotation
    assert json.loads(region.properties["LS_labels"]) == ["cat", "dog"]


def test_each_region_kind_becomes_its_aperturedb_object():
    results = [
        {"id": "p", "from_name": "poly", "to_name": "image", "type": "polygonlabels",
         "value": {"points": [[0, 0], [50, 0], [50, 50]], "polygonlabels": ["cat"]}},
        {"id": "k", "from_name": "kp", "to_name": "image", "type": "keypointlabels",
         "value": {"x": 10, "y": 20, "width": 1, "keypointlabels": ["nose"]}},
        {"id": "e", "from_name": "el", "to_name": "image", "type": "ellipselabels",
         "value": {"x": 50, "y": 50, "radiusX": 10, "radiusY": 5, "rotation": 0, "ellipselabels": ["eye"]}},
    ]

    regions = {r.region_id: r for r in results_to_objects(results, 200, 100).regions}

    assert regions["p"].kind == POLYGON and regions["p"].polygons == [[(0, 0), (100, 0), (100, 50)]]
    assert regions["k"].kind == REGION and (regions["k"].properties["x"], regions["k"].properties["y"]) == (20, 20)
    assert regions["e"].kind == REGION and regions["e"].properties["radius_x"] == 20
    assert regions["e"].properties["radius_y"] == 5


def test_brush_masks_are_stored_as_png_masks_and_come_back_as_the_same_rle():
    mask = np.zeros((30, 40), dtype=np.uint8)
    mask[5:15, 10:30] = 255
    rle = mask2rle(mask)
    result = {"id": "b", "from_name": "brush", "to_name": "image", "type": "brushlabels",
              "value": {"format": "rle", "rle": rle, "brushlabels": ["road"]}, "original_width": 40, "original_height": 30}

    objects = results_to_objects([result], None, None)
    (region,) = objects.regions
    stored = np.array(Image.open(io.BytesIO(region.mask_png)))

    assert region.kind == MASK and region.label == "road"
    assert (stored == mask).all()
    (back,) = objects_to_results(objects, 40, 30)
    assert back["value"] == result["value"]


def test_a_region_without_a_known_image_size_is_refused_by_name():
    result = {"id": "r", "from_name": "box", "to_name": "image", "type": "rectangle",
              "value": {"x": 1, "y": 1, "width": 1, "height": 1}}

    with pytest.raises(ConversionError, match="region r: the image size is unknown"):
        results_to_objects([result], None, None)


def test_other_results_are_kept_verbatim():
    relation = {"from_id": "a", "to_id": "b", "type": "relation", "direction": "right", "labels": ["near"]}

    objects = results_to_objects([relation], 10, 10)

    assert objects_to_results(objects, 10, 10) == [relation]

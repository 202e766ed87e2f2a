"""Bounding boxes and polygons: on an image, found by image, label and rectangle, updated, deleted."""

from __future__ import annotations

import pytest


@pytest.fixture
def image(adb, run, make_image):
    """Adds an image of this run (100 x 80) and returns a query prefix that finds it as ref 1."""
    adb.one({"AddImage": {"properties": {"run": run, "name": "main"}}}, [make_image(100, 80)])
    return {"FindImage": {"_ref": 1, "constraints": {"run": ["==", run], "name": ["==", "main"]}}}


BOXES = [
    ({"x": 10, "y": 10, "width": 20, "height": 10}, "cat"),
    ({"x": 50, "y": 40, "width": 30, "height": 30}, "dog"),
    ({"x": 5.5, "y": 60.25, "width": 10, "height": 5}, "cat"),
]


def _add_boxes(adb, image, run, boxes=BOXES):
    adb.run([image] + [
        {"AddBoundingBox": {"image_ref": 1, "rectangle": rectangle, "label": label, "properties": {"run": run, "n": n}}}
        for n, (rectangle, label) in enumerate(boxes)
    ])


def _boxes(adb, run, **params):
    constraints = {"run": ["==", run], **params.pop("constraints", {})}
    return adb.entities("FindBoundingBox", {"constraints": constraints, "coordinates": True, "labels": True,
                                            "results": {"list": ["n"]}, "sort": "n", **params})


def test_boxes_come_back_with_coordinates_and_labels(adb, image, run):
    _add_boxes(adb, image, run)
    assert _boxes(adb, run) == [
        {"n": n, "_coordinates": rectangle, "_label": label} for n, (rectangle, label) in enumerate(BOXES)
    ]


def test_add_bounding_box_answers_status_only(adb, image, run):
    answer, _ = adb.query([image, {"AddBoundingBox": {"image_ref": 1, "rectangle": BOXES[0][0]}}])
    assert answer[1] == {"AddBoundingBox": {"status": 0}}


def test_find_boxes_of_an_image_by_image_ref(adb, image, run, make_image):
    _add_boxes(adb, image, run)
    adb.run([
        {"AddImage": {"_ref": 2, "properties": {"run": run, "name": "other"}}},
        {"AddBoundingBox": {"image_ref": 2, "rectangle": {"x": 0, "y": 0, "width": 1, "height": 1},
                            "properties": {"run": run, "n": 99}}},
    ], [make_image(10, 10)])
    answers, _ = adb.run([image, {"FindBoundingBox": {"image_ref": 1, "results": {"list": ["n"]}, "sort": "n"}}])
    assert [e["n"] for e in answers[1]["entities"]] == [0, 1, 2]


def test_labels_and_coordinates_are_listable_system_properties(adb, image, run):
    _add_boxes(adb, image, run)
    found = adb.entities("FindBoundingBox", {"constraints": {"run": ["==", run], "n": ["==", 1]},
                                             "results": {"list": ["_label", "_coordinates", "missing"]}})
    assert found == [{"_label": "dog", "_coordinates": BOXES[1][0], "missing": None}]


def test_areas_adds_the_area_of_boxes_and_polygons(adb, image, run):
    adb.run([
        image,
        {"AddBoundingBox": {"image_ref": 1, "rectangle": {"x": 1, "y": 1, "width": 4, "height": 2.5},
                            "properties": {"run": run}}},
        {"AddPolygon": {"image_ref": 1, "polygons": [[[0, 0], [10, 0], [10, 10], [0, 10]]],
                        "properties": {"run": run}}},
    ])
    boxes = adb.entities("FindBoundingBox", {"constraints": {"run": ["==", run]}, "areas": True})
    polygons = adb.entities("FindPolygon", {"constraints": {"run": ["==", run]}, "areas": True})
    assert boxes == [{"_area": 10}] and polygons == [{"_area": 100}]


def test_with_label_filters_by_label(adb, image, run):
    _add_boxes(adb, image, run)
    assert [e["n"] for e in _boxes(adb, run, with_label="cat")] == [0, 2]
    assert [e["n"] for e in _boxes(adb, run, constraints={"_label": ["==", "dog"]})] == [1]


def test_in_rectangle_keeps_boxes_fully_inside(adb, image, run):
    _add_boxes(adb, image, run)
    inside = _boxes(adb, run, in_rectangle={"x": 0, "y": 0, "width": 50, "height": 60})
    assert [e["n"] for e in inside] == [0]
    inside = _boxes(adb, run, in_rectangle={"x": 0, "y": 0, "width": 100, "height": 80}, with_label="cat")
    assert [e["n"] for e in inside] == [0, 2]


def test_in_rectangle_with_image_ref_keeps_only_that_images_boxes(adb, image, run, make_image):
    adb.run([{"AddImage": {"_ref": 2, "properties": {"run": run, "name": "other"}}},
            {"AddBoundingBox": {"image_ref": 2, "rectangle": {"x": 1, "y": 1, "width": 2, "height": 2},
                                "properties": {"run": run}}}], [make_image(10, 10)])
    answers, _ = adb.run([image, {"FindBoundingBox": {"image_ref": 1, "results": {"count": True},
                                                      "in_rectangle": {"x": 0, "y": 0, "width": 10, "height": 10}}}])
    assert answers[1]["count"] == 0


def test_in_rectangle_with_is_connected_to_keeps_only_connected_boxes(adb, image, run, entity_class):
    _add_boxes(adb, image, run)
    adb.run([
        {"AddEntity": {"_ref": 1, "class": entity_class}},
        {"FindBoundingBox": {"_ref": 2, "constraints": {"run": ["==", run], "n": ["==", 2]}}},
        {"AddConnection": {"class": f"{entity_class}_marks", "src": 1, "dst": 2}},
    ])
    answers, _ = adb.run([
        {"FindEntity": {"_ref": 1, "with_class": entity_class}},
        {"FindBoundingBox": {"is_connected_to": {"ref": 1}, "results": {"list": ["n"]},
                             "in_rectangle": {"x": 0, "y": 0, "width": 100, "height": 80}}},
    ])
    assert answers[1]["entities"] == [{"n": 2}]


def test_box_blob_is_the_crop_of_its_image(adb, image, run, decode):
    _add_boxes(adb, image, run)
    found, blobs = adb.run([{"FindBoundingBox": {"constraints": {"run": ["==", run]}, "blobs": True, "sort": "n",
                                                 "results": {"list": ["n"]}}}])
    assert [e["_blob_index"] for e in found[0]["entities"]] == [0, 1, 2]
    assert [decode(blob).size for blob in blobs] == [(20, 10), (30, 30), (10, 5)]


def test_update_bounding_box_changes_rectangle_label_and_properties(adb, image, run):
    _add_boxes(adb, image, run)
    answer = adb.one({"UpdateBoundingBox": {"constraints": {"run": ["==", run], "n": ["==", 0]},
                                            "rectangle": {"x": 1, "y": 2, "width": 3, "height": 4},
                                            "label": "fox", "properties": {"checked": True}}})
    assert answer == {"status": 0, "count": 1}
    found = adb.entities("FindBoundingBox", {"constraints": {"run": ["==", run], "n": ["==", 0]}, "coordinates": True,
                                             "labels": True, "results": {"list": ["checked"]}})
    assert found == [{"checked": True, "_coordinates": {"x": 1, "y": 2, "width": 3, "height": 4}, "_label": "fox"}]


def test_delete_bounding_box_keeps_the_image(adb, image, run):
    _add_boxes(adb, image, run)
    assert adb.one({"DeleteBoundingBox": {"constraints": {"run": ["==", run], "_label": ["==", "cat"]}}})["count"] == 2
    assert [e["n"] for e in _boxes(adb, run)] == [1]
    answers, _ = adb.run([image, {"FindBoundingBox": {"image_ref": 1, "results": {"count": True}}}])
    assert answers[0]["returned"] == 0 and answers[1]["count"] == 1


def test_boxes_group_by_their_image(adb, run, make_image):
    adb.run([
        {"AddImage": {"_ref": 1, "properties": {"run": run, "name": "one"}}},
        {"AddImage": {"_ref": 2, "properties": {"run": run, "name": "two"}}},
        {"AddBoundingBox": {"image_ref": 1, "rectangle": {"x": 0, "y": 0, "width": 1, "height": 1},
                            "properties": {"n": 1}}},
        {"AddBoundingBox": {"image_ref": 2, "rectangle": {"x": 0, "y": 0, "width": 1, "height": 1},
                            "properties": {"n": 2}}},
        {"AddBoundingBox": {"image_ref": 2, "rectangle": {"x": 1, "y": 1, "width": 1, "height": 1},
                            "properties": {"n": 3}}},
    ], [make_image(4, 4), make_image(4, 4)])
    answers, _ = adb.run([
        {"FindImage": {"_ref": 1, "constraints": {"run": ["==", run]}, "sort": "name",
                       "results": {"list": ["name", "_uniqueid"]}}},
        {"FindBoundingBox": {"image_ref": 1, "group_by_source": True, "results": {"list": ["n"]}}},
    ])
    ids = {e["name"]: e["_uniqueid"] for e in answers[0]["entities"]}
    grouped = answers[1]["entities"]
    assert set(grouped) == set(ids.values())
    assert grouped[ids["one"]] == [{"n": 1}]
    assert sorted(e["n"] for e in grouped[ids["two"]]) == [2, 3]


def test_image_ref_with_several_images_is_refused_for_add(adb, run, make_image):
    adb.run([{"AddImage": {"properties": {"run": run}}}, {"AddImage": {"properties": {"run": run}}}],
            [make_image(4, 4)] * 2)
    adb.fail([
        {"FindImage": {"_ref": 1, "constraints": {"run": ["==", run]}}},
        {"AddBoundingBox": {"image_ref": 1, "rectangle": {"x": 0, "y": 0, "width": 1, "height": 1}}},
    ])


def test_image_ref_and_is_connected_to_together_are_refused(adb, image, run):
    adb.fail([image, {"FindBoundingBox": {"image_ref": 1, "is_connected_to": {"ref": 1}, "results": {"count": True}}}])


# ---- polygons -----------------------------------------------------------------------------------

TRIANGLE = [[10, 10], [40, 10], [25, 30]]
SQUARES = [[[50, 50], [60, 50], [60, 60], [50, 60]], [[70, 20], [80, 20], [80, 25], [70, 25]]]


def _add_polygons(adb, image, run):
    adb.run([
        image,
        {"AddPolygon": {"image_ref": 1, "polygons": [TRIANGLE], "label": "roof", "properties": {"run": run, "n": 0}}},
        {"AddPolygon": {"image_ref": 1, "polygons": SQUARES, "label": "window", "properties": {"run": run, "n": 1}}},
    ])


def test_polygons_come_back_as_vertices_and_bounds(adb, image, run):
    _add_polygons(adb, image, run)
    found = adb.entities("FindPolygon", {"constraints": {"run": ["==", run]}, "vertices": True, "bounds": True,
                                         "labels": True, "sort": "n", "results": {"list": ["n"]}})
    assert found == [
        {"n": 0, "_vertices": [TRIANGLE], "_bounds": {"x": 10, "y": 10, "width": 30, "height": 20}, "_label": "roof"},
        {"n": 1, "_vertices": SQUARES, "_bounds": {"x": 50, "y": 20, "width": 30, "height": 40}, "_label": "window"},
    ]


def test_find_polygons_of_an_image_with_label(adb, image, run):
    _add_polygons(adb, image, run)
    answers, _ = adb.run([image, {"FindPolygon": {"image_ref": 1, "with_label": "window", "results": {"list": ["n"]}}}])
    assert answers[1]["entities"] == [{"n": 1}]


def test_polygon_in_rectangle_uses_its_bounds(adb, image, run):
    _add_polygons(adb, image, run)
    found = adb.entities("FindPolygon", {"constraints": {"run": ["==", run]}, "results": {"list": ["n"]},
                                         "in_rectangle": {"x": 0, "y": 0, "width": 45, "height": 45}})
    assert found == [{"n": 0}]


def test_polygon_blob_is_the_crop_of_its_bounds(adb, image, run, decode):
    _add_polygons(adb, image, run)
    _, blobs = adb.run([{"FindPolygon": {"constraints": {"run": ["==", run]}, "blobs": True, "sort": "n"}}])
    assert [decode(blob).size for blob in blobs] == [(30, 20), (30, 40)]


def test_update_polygon_replaces_vertices_and_label(adb, image, run):
    _add_polygons(adb, image, run)
    new = [[[0, 0], [5, 0], [5, 5]]]
    assert adb.one({"UpdatePolygon": {"constraints": {"run": ["==", run], "n": ["==", 0]}, "polygons": new,
                                      "label": "tri"}})["count"] == 1
    found = adb.entities("FindPolygon", {"constraints": {"run": ["==", run], "n": ["==", 0]}, "vertices": True,
                                         "labels": True})
    assert found == [{"_vertices": new, "_label": "tri"}]


def test_delete_polygon(adb, image, run):
    _add_polygons(adb, image, run)
    assert adb.one({"DeletePolygon": {"constraints": {"run": ["==", run], "_label": ["==", "roof"]}}})["count"] == 1
    found = adb.entities("FindPolygon", {"constraints": {"run": ["==", run]}, "results": {"list": ["n"]}})
    assert found == [{"n": 1}]


@pytest.mark.parametrize("polygons", [[], [[[0, 0], [1, 1]]], [[[0, 0], [1, 1], [2]]], "square"])
def test_malformed_polygons_are_refused(adb, image, polygons):
    adb.fail([image, {"AddPolygon": {"image_ref": 1, "polygons": polygons}}])


@pytest.mark.parametrize("rectangle", [{"x": 0, "y": 0, "width": 1}, {"x": 0, "y": 0, "width": -1, "height": 1},
                                       None])
def test_malformed_rectangles_are_refused(adb, image, rectangle):
    adb.fail([image, {"AddBoundingBox": {"image_ref": 1, "rectangle": rectangle}}])


def test_deleting_an_image_keeps_its_boxes_whose_blobs_are_then_refused(test_server_adb, run, make_image):
    test_server_adb.run([
        {"AddImage": {"_ref": 1, "properties": {"run": run}}},
        {"AddBoundingBox": {"image_ref": 1, "rectangle": {"x": 0, "y": 0, "width": 2, "height": 2},
                            "properties": {"run": run}}},
        {"DeleteImage": {"ref": 1}},
    ], [make_image(4, 4)])
    found = test_server_adb.entities("FindBoundingBox", {"constraints": {"run": ["==", run]}, "coordinates": True})
    assert found == [{"_coordinates": {"x": 0, "y": 0, "width": 2, "height": 2}}]
    error = test_server_adb.fail([{"FindBoundingBox": {"constraints": {"run": ["==", run]}, "blobs": True}}])
    assert "no image" in error["info"]
    assert test_server_adb.one({"GetStatus": {}})["status"] == 0

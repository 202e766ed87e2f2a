"""Images: blobs in and out, formats, operations, properties."""

from __future__ import annotations

import pytest


def _find_images(adb, run, **params):
    return adb.run([{"FindImage": {"constraints": {"run": ["==", run]}, **params}}])


def test_image_blob_comes_back_byte_exact(adb, run, make_image):
    png, jpg = make_image(40, 30, "PNG"), make_image(20, 10, "JPEG")
    answer, _ = adb.query([
        {"AddImage": {"properties": {"run": run, "name": "p"}}},
        {"AddImage": {"properties": {"run": run, "name": "j"}, "format": "jpg"}},
    ], [png, jpg])
    assert answer == [{"AddImage": {"status": 0}}, {"AddImage": {"status": 0}}]
    [found], blobs = _find_images(adb, run, blobs=True, sort="name", results={"list": ["name"]})
    assert found["returned"] == 2 and found["blobs_start"] == 0
    assert [(e["name"], e["_blob_index"]) for e in found["entities"]] == [("j", 0), ("p", 1)]
    assert blobs == [jpg, png]


def test_blobs_of_several_finds_are_indexed_in_command_order(adb, run, make_image):
    first, second = make_image(8, 8, colour=(1, 1, 1)), make_image(9, 9, colour=(2, 2, 2))
    adb.run([{"AddImage": {"properties": {"run": run, "n": 1}}}, {"AddImage": {"properties": {"run": run, "n": 2}}}],
            [first, second])
    answers, blobs = adb.run([
        {"FindImage": {"constraints": {"run": ["==", run], "n": ["==", 2]}, "blobs": True, "results": {"list": ["n"]}}},
        {"FindImage": {"constraints": {"run": ["==", run], "n": ["==", 1]}, "blobs": True, "results": {"list": ["n"]}}},
    ])
    assert answers[0]["blobs_start"] == 0 and answers[1]["blobs_start"] == 1
    assert answers[1]["entities"] == [{"n": 1, "_blob_index": 1}]
    assert blobs == [second, first]


def test_find_image_without_blobs_returns_no_blobs(adb, run, make_image):
    adb.one({"AddImage": {"properties": {"run": run}}}, [make_image(5, 5)])
    [found], blobs = _find_images(adb, run, blobs=False, results={"list": ["run"]})
    assert blobs == [] and "blobs_start" not in found and found["entities"] == [{"run": run}]


def test_find_image_with_blobs_and_no_list_counts_returned(adb, run, make_image):
    adb.one({"AddImage": {"properties": {"run": run}}}, [make_image(5, 5)])
    [found], blobs = _find_images(adb, run, blobs=True)
    assert found == {"status": 0, "blobs_start": 0, "returned": 1} and len(blobs) == 1


@pytest.mark.parametrize("stored, as_format, pil_format", [
    ("PNG", "jpg", "JPEG"),
    ("JPEG", "png", "PNG"),
    ("PNG", "png", "PNG"),
])
def test_as_format_reencodes_the_image(adb, run, make_image, decode, stored, as_format, pil_format):
    adb.one({"AddImage": {"properties": {"run": run}}}, [make_image(32, 24, stored)])
    _, [blob] = _find_images(adb, run, blobs=True, as_format=as_format)
    image = decode(blob)
    assert image.format == pil_format and image.size == (32, 24)


@pytest.mark.parametrize("operation, size", [
    ({"type": "resize", "width": 16, "height": 12}, (16, 12)),
    ({"type": "resize", "width": 20}, (20, 15)),
    ({"type": "resize", "height": 6}, (8, 6)),
    ({"type": "resize", "scale": 0.5}, (20, 15)),
    ({"type": "crop", "x": 5, "y": 4, "width": 10, "height": 7}, (10, 7)),
    ({"type": "rotate", "angle": 90, "resize": True}, (30, 40)),
    ({"type": "flip", "code": 1}, (40, 30)),
    ({"type": "threshold", "value": 100}, (40, 30)),
])
def test_find_image_operations_change_the_returned_image(adb, run, make_image, decode, operation, size):
    adb.one({"AddImage": {"properties": {"run": run}}}, [make_image(40, 30)])
    _, [blob] = _find_images(adb, run, blobs=True, operations=[operation])
    assert decode(blob).size == size


def test_crop_keeps_the_pixels_of_the_region(adb, run, make_image, decode):
    adb.one({"AddImage": {"properties": {"run": run}}}, [make_image(40, 30, colour=(10, 200, 30))])
    _, [corner] = _find_images(adb, run, blobs=True,
                               operations=[{"type": "crop", "x": 0, "y": 0, "width": 2, "height": 2}])
    _, [inside] = _find_images(adb, run, blobs=True,
                               operations=[{"type": "crop", "x": 10, "y": 10, "width": 2, "height": 2}])
    assert decode(corner).convert("RGB").getpixel((0, 0)) == (1, 2, 3)
    assert decode(inside).convert("RGB").getpixel((0, 0)) == (10, 200, 30)


def test_operations_apply_in_order_then_as_format(adb, run, make_image, decode):
    adb.one({"AddImage": {"properties": {"run": run}}}, [make_image(40, 30)])
    _, [blob] = _find_images(adb, run, blobs=True, as_format="jpg", operations=[
        {"type": "crop", "x": 0, "y": 0, "width": 20, "height": 30},
        {"type": "resize", "width": 10, "height": 10},
    ])
    image = decode(blob)
    assert image.format == "JPEG" and image.size == (10, 10)


def test_add_image_operations_change_the_stored_image(test_server_adb, run, make_image, decode):
    resize = {"type": "resize", "width": 10, "height": 5}
    test_server_adb.one({"AddImage": {"properties": {"run": run}, "operations": [resize]}}, [make_image(40, 30)])
    [found], [blob] = _find_images(test_server_adb, run, blobs=True,
                                   results={"list": ["adb_image_width", "adb_image_height"]})
    assert decode(blob).size == (10, 5)
    assert found["entities"][0]["adb_image_width"] == 10 and found["entities"][0]["adb_image_height"] == 5


def test_image_size_is_recorded_from_the_blob(test_server_adb, run, make_image):
    test_server_adb.run([
        {"AddImage": {"properties": {"run": run, "name": "wide"}}},
        {"AddImage": {"properties": {"run": run, "name": "tall"}, "format": "jpg"}},
    ], [make_image(64, 16), make_image(7, 33, "JPEG")])
    [found], _ = _find_images(test_server_adb, run, sort="name",
                              results={"list": ["name", "adb_image_width", "adb_image_height"]})
    assert found["entities"] == [
        {"name": "tall", "adb_image_width": 7, "adb_image_height": 33},
        {"name": "wide", "adb_image_width": 64, "adb_image_height": 16},
    ]


def test_image_size_given_by_the_client_is_kept(test_server_adb, run, make_image):
    test_server_adb.one({"AddImage": {"properties": {"run": run, "adb_image_width": 999, "adb_image_height": 1}}},
                        [make_image(5, 5)])
    [found], _ = _find_images(test_server_adb, run, results={"list": ["adb_image_width", "adb_image_height"]})
    assert found["entities"] == [{"adb_image_width": 999, "adb_image_height": 1}]


def test_update_image_changes_properties_and_keeps_the_blob(adb, run, make_image):
    blob = make_image(12, 12)
    adb.one({"AddImage": {"properties": {"run": run, "label": "old", "extra": 1}}}, [blob])
    answer = adb.one({"UpdateImage": {"constraints": {"run": ["==", run]}, "properties": {"label": "new"},
                                      "remove_props": ["extra"]}})
    assert answer == {"status": 0, "count": 1}
    [found], blobs = _find_images(adb, run, blobs=True, results={"list": ["label", "extra"]})
    assert found["entities"] == [{"label": "new", "extra": None, "_blob_index": 0}] and blobs == [blob]


def test_update_image_by_ref(adb, run, make_image):
    adb.run([{"AddImage": {"properties": {"run": run, "n": n}}} for n in range(3)], [make_image(4, 4)] * 3)
    answers, _ = adb.run([
        {"FindImage": {"_ref": 1, "constraints": {"run": ["==", run], "n": [">=", 1]}}},
        {"UpdateImage": {"ref": 1, "properties": {"big": True}}},
    ])
    assert answers[1]["count"] == 2
    [found], _ = _find_images(adb, run, sort="n", results={"list": ["big"]})
    assert found["entities"] == [{"big": None}, {"big": True}, {"big": True}]


def test_delete_image_removes_it(adb, run, make_image):
    adb.run([{"AddImage": {"properties": {"run": run, "n": n}}} for n in range(3)], [make_image(4, 4)] * 3)
    assert adb.one({"DeleteImage": {"constraints": {"run": ["==", run], "n": ["!=", 1]}}}) == {"status": 0, "count": 2}
    [found], _ = _find_images(adb, run, results={"list": ["n"]})
    assert found["entities"] == [{"n": 1}]


def test_find_image_by_class_name_as_entity(adb, run, make_image):
    adb.one({"AddImage": {"properties": {"run": run}}}, [make_image(4, 4)])
    found = adb.entities("FindEntity", {"with_class": "_Image", "constraints": {"run": ["==", run]},
                                        "results": {"list": ["run"]}})
    assert found == [{"run": run}]


def test_image_if_not_found_consumes_its_blob_without_adding(adb, run, make_image):
    add = {"AddImage": {"properties": {"run": run, "name": "once"}, "if_not_found": {"run": ["==", run]}}}
    adb.one(add, [make_image(4, 4)])
    answer, _ = adb.query([add, {"AddImage": {"properties": {"run": run, "name": "second"}}}],
                          [make_image(4, 4), make_image(6, 6)])
    assert answer == [{"AddImage": {"status": 2, "info": "Object Exists!"}}, {"AddImage": {"status": 0}}]
    [found], _ = _find_images(adb, run, sort="name", results={"list": ["name"]})
    assert found["entities"] == [{"name": "once"}, {"name": "second"}]


def test_blob_that_is_not_an_image_is_refused(adb, run):
    adb.fail([{"AddImage": {"properties": {"run": run}}}], [b"not an image"])


def test_add_image_without_its_blob_is_refused(adb, run):
    adb.fail([{"AddImage": {"properties": {"run": run}}}])


@pytest.mark.parametrize("params", [
    {"operations": [{"type": "blur", "sigma": 2}]},
    {"operations": [{"type": "resize", "width": 4, "fast": True}]},
    {"as_format": "gif"},
])
def test_unsupported_operation_or_format_is_refused(adb, run, make_image, params):
    adb.one({"AddImage": {"properties": {"run": run}}}, [make_image(8, 8)])
    adb.fail([{"FindImage": {"constraints": {"run": ["==", run]}, "blobs": True, **params}}])
    assert adb.one({"GetStatus": {}})["status"] == 0


def test_crop_outside_the_image_is_refused(test_server_adb, run, make_image):
    test_server_adb.one({"AddImage": {"properties": {"run": run}}}, [make_image(8, 8)])
    test_server_adb.fail([{"FindImage": {"constraints": {"run": ["==", run]}, "blobs": True,
                                         "operations": [{"type": "crop", "x": 4, "y": 4, "width": 8, "height": 8}]}}])

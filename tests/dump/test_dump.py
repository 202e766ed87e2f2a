"""``python -m ls_storage.dump``: the dataset equals what was annotated, in COCO and media-items, over TCP and REST."""

from __future__ import annotations

import json
import math

import jsonschema
import numpy as np
from label_studio_sdk.converter.brush import mask2rle
from pycocotools.coco import COCO

from dumping import CREATED, HEIGHT, KEYPOINT, SCHEMA, UPDATED, WIDTH, annotate, box, options, pixels, run, same_time
from ls_storage.dump import main


def test_media_items_equal_what_was_annotated(aperturedb, annotated):
    dump = run(aperturedb, "--format", "media-items", "--constraints", json.dumps(annotated["images"].constraints),
               "--project-id", "7")

    jsonschema.validate(dump, SCHEMA, format_checker=jsonschema.FormatChecker())
    by_id = {media["media_id"]: media for media in dump["media"]}
    assert [m["media_id"] for m in dump["media"]] == sorted(by_id)  # _uniqueid order
    assert set(by_id) == {annotated["first"], annotated["second"], annotated["third"]}
    first = by_id[annotated["first"]]
    assert (first["file_name"], first["width"], first["height"]) == ("a.png", WIDTH, HEIGHT)
    assert first["properties"]["name"] == "a.png" and first["properties"]["ls_test"] == annotated["images"].tag
    items = first["metadata_items"]
    (tag,) = [i for i in items if i["type"] == "user_tag"]
    assert (tag["user"], tag["annotation_id"], tag["project_id"], tag["label_version"]) == \
        ("ann@example.com", 101, 7, "v2")
    assert same_time(tag["created_at"], CREATED) and same_time(tag["updated_at"], UPDATED)
    boxes = {(i["label"], tuple(i["labels"])): i for i in items if i["type"] == "object_label"}
    assert set(boxes) == {("cat", ("cat", "dog")), ("cat", ("cat",))}
    for (label, labels), expected, rotation in [(("cat", ("cat", "dog")), pixels(10, 20, 30, 40), 33.5),
                                                (("cat", ("cat",)), pixels(1.5, 2.25, 10.125, 20.0625), 0.0)]:
        got = boxes[label, labels]
        assert got["rotation"] == rotation and got["source"] == "label_studio" and got["annotation_id"] == 101
        assert all(abs(a - b) <= 1e-6 for a, b in zip([got["bbox"][k] for k in ("x", "y", "width", "height")],
                                                      expected))
    (outline,) = [i for i in items if i["type"] == "polygon"]
    assert outline["label"] == "dog"
    expected = [(x * WIDTH / 100, y * HEIGHT / 100) for x, y in [[0, 0], [50, 0], [50, 50], [10, 40]]]
    assert all(abs(a - b) <= 1e-6 for p, q in zip(outline["points"], expected) for a, b in zip(p, q))
    # project 8's annotation, the cancelled one and the boxes ApertureDB had before are not taken
    assert by_id[annotated["second"]]["metadata_items"] == [] and by_id[annotated["third"]]["metadata_items"] == []
    assert dump["info"]["counts"] == {"media": 3, "object_label": 2, "polygon": 1, "user_tag": 1,
                                      "images_skipped": 0, "regions_skipped": {"keypointlabels": 1}}
    assert dump["info"]["selection"]["project_id"] == 7


def test_coco_equals_what_was_annotated_and_loads_in_pycocotools(aperturedb, annotated, tmp_path):
    path = tmp_path / "coco.json"
    args = options(aperturedb, "--constraints", json.dumps(annotated["images"].constraints), "--output", str(path),
                   "--project-id", "7", "--annotated-only")
    assert main(args) == 0
    assert not (tmp_path / "coco.json.partial").exists()

    coco = COCO(str(path))
    assert [image["aperturedb_uniqueid"] for image in coco.dataset["images"]] == [annotated["first"]]
    image = coco.dataset["images"][0]
    assert (image["file_name"], image["width"], image["height"]) == ("a.png", WIDTH, HEIGHT)
    categories = {c["name"]: c["id"] for c in coco.loadCats(coco.getCatIds())}
    assert set(categories) == {"cat", "dog"}
    annotations = coco.loadAnns(coco.getAnnIds(imgIds=[image["id"]]))
    assert len(annotations) == 3 and all(a["iscrowd"] == 0 for a in annotations)
    for annotation in annotations:
        a = annotation["attributes"]
        assert (a["annotation_id"], a["completed_by"], a["source"]) == (101, "ann@example.com", "label_studio")
        assert same_time(a["created_at"], CREATED) and same_time(a["updated_at"], UPDATED)
    plain = next(a for a in annotations if a["attributes"]["labels"] == ["cat"])
    assert all(abs(a - b) <= 1e-6 for a, b in zip(plain["bbox"], pixels(1.5, 2.25, 10.125, 20.0625)))
    assert plain["segmentation"] == [] and plain["category_id"] == categories["cat"]
    assert math.isclose(plain["area"], plain["bbox"][2] * plain["bbox"][3])

    rotated = next(a for a in annotations if a["attributes"]["labels"] == ["cat", "dog"])
    x, y, w, h = pixels(10, 20, 30, 40)
    theta = math.radians(33.5)
    corners = [(x + dx * math.cos(theta) - dy * math.sin(theta), y + dx * math.sin(theta) + dy * math.cos(theta))
               for dx, dy in ((0, 0), (w, 0), (w, h), (0, h))]
    got = rotated["segmentation"][0]
    assert all(abs(a - b) <= 1e-6 for a, b in zip(got, [c for corner in corners for c in corner]))
    xs, ys = [c[0] for c in corners], [c[1] for c in corners]
    assert all(abs(a - b) <= 1e-6 for a, b in zip(rotated["bbox"], [min(xs), min(ys), max(xs) - min(xs),
                                                                    max(ys) - min(ys)]))
    assert rotated["attributes"]["rotation"] == 33.5 and math.isclose(rotated["area"], w * h)
    assert coco.annToMask(rotated).sum() > 0

    outline = next(a for a in annotations if a["category_id"] == categories["dog"])
    points = [(px * WIDTH / 100, py * HEIGHT / 100) for px, py in [[0, 0], [50, 0], [50, 50], [10, 40]]]
    assert outline["segmentation"] == [[c for point in points for c in point]]
    assert outline["bbox"] == [0, 0, 100, 50]
    assert math.isclose(outline["area"], 100 * 50 - 2 * 500)  # the box less two cut-off triangles of 500 px²
    assert coco.annToMask(outline).sum() > 0
    assert json.loads(path.read_text())["info"]["counts"]["annotations"] == 3


def test_label_version_source_regions_and_fixed_categories(aperturedb, annotated):
    constraints = json.dumps(annotated["images"].constraints)
    v1 = run(aperturedb, "--format", "media-items", "--constraints", constraints, "--label-version", "v1",
             "--annotated-only")
    assert [m["media_id"] for m in v1["media"]] == [annotated["second"]]
    assert [i["annotation_id"] for i in v1["media"][0]["metadata_items"]] == [102, 102]

    with_source = run(aperturedb, "--format", "media-items", "--constraints", constraints, "--project-id", "8",
                      "--include-source-regions")
    jsonschema.validate(with_source, SCHEMA)
    source = [i for m in with_source["media"] for i in m["metadata_items"] if i.get("source") == "aperturedb"]
    assert sorted((i["label"], tuple(i["bbox"].values()), i["annotation_id"]) for i in source) == \
        [("car", (1, 2, 3, 4), None), ("car", (5, 6, 7, 8), None)]  # the boxes Label Studio wrote are not among them

    coco = run(aperturedb, "--constraints", constraints, "--include-source-regions", "--categories", "car,dog")
    assert coco["categories"] == [{"id": 1, "name": "car", "supercategory": ""},
                                  {"id": 2, "name": "dog", "supercategory": ""}]
    assert sorted(a["category_id"] for a in coco["annotations"]) == [1, 1, 2, 2]  # two car boxes, a dog box, a polygon
    assert coco["info"]["counts"]["shapes_left_out"] == {"unlabelled": 0, "other_label": 2}


def test_images_stream_page_by_page_in_uniqueid_order(aperturedb, aperturedb_images):
    uniqueids = [aperturedb_images.add(f"{i}.png", 20 + i, 10 + i) for i in range(5)]
    for number, uniqueid in enumerate(uniqueids, start=1):
        annotate(aperturedb_images.connector, number, uniqueid, [box(f"r{number}", 10, 10, 50, 50)])

    dump = run(aperturedb, "--constraints", json.dumps(aperturedb_images.constraints), "--page-size", "2",
               "--properties", "name", "--file-name-property", "none")
    assert [i["aperturedb_uniqueid"] for i in dump["images"]] == sorted(uniqueids)
    assert [i["file_name"] for i in dump["images"]] == sorted(uniqueids)  # no such property: the _uniqueid
    assert [i["id"] for i in dump["images"]] == [1, 2, 3, 4, 5]
    assert sorted(a["image_id"] for a in dump["annotations"]) == [1, 2, 3, 4, 5]
    assert [a["id"] for a in dump["annotations"]] == [1, 2, 3, 4, 5]


def test_masks_keypoints_and_ellipses_are_counted_not_dumped(aperturedb, aperturedb_images):
    """A target writes brush masks as blobs and keypoints and ellipses as LS_region entities: neither format has
    them; the dump reads past them and counts them by Label Studio type, beside the box of the same annotation."""
    mask = np.zeros((HEIGHT, WIDTH), dtype=np.uint8)
    mask[10:20, 30:60] = 255
    brush = {"id": "m1", "from_name": "brush", "to_name": "photo", "type": "brushlabels",
             "value": {"format": "rle", "rle": mask2rle(mask), "brushlabels": ["road"]}}
    ellipse = {"id": "e1", "from_name": "eye", "to_name": "photo", "type": "ellipselabels",
               "value": {"x": 50, "y": 50, "radiusX": 10, "radiusY": 5, "rotation": 0, "ellipselabels": ["eye"]}}
    image = aperturedb_images.add("m.png", WIDTH, HEIGHT)
    annotate(aperturedb_images.connector, 1, image, [brush, ellipse, KEYPOINT, box("b", 10, 10, 20, 20)])
    constraints = json.dumps(aperturedb_images.constraints)

    skipped = {"brushlabels": 1, "ellipselabels": 1, "keypointlabels": 1}
    media = run(aperturedb, "--format", "media-items", "--constraints", constraints)
    jsonschema.validate(media, SCHEMA)
    assert [i["type"] for i in media["media"][0]["metadata_items"]] == ["user_tag", "object_label"]
    assert media["info"]["counts"]["regions_skipped"] == skipped
    coco = run(aperturedb, "--constraints", constraints)
    assert [a["attributes"]["labels"] for a in coco["annotations"]] == [["cat"]]
    assert coco["info"]["counts"]["regions_skipped"] == skipped

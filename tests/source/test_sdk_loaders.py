"""Data loaded the way ApertureDB's guide loads it — the SDK's CSV loaders through ParallelLoader — syncs into
a project with exact predictions, and loading it again adds nothing."""

from __future__ import annotations

import json
import uuid

import pytest
from aperturedb.Utils import Utils
from PIL import Image
from tasks.models import Prediction

from ls_storage.testing.sdk_loading import load_coco_folder
from storage_api import create_storage, sync, tasks_of

pytestmark = pytest.mark.django_db

COCO = {
    "images": [{"id": 1, "file_name": "cat.png", "width": 200, "height": 100, "date_captured": "2024-03-01 12:30:00"},
               {"id": 2, "file_name": "dog.png", "width": 80, "height": 40, "license": 3}],
    "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}],
    "annotations": [
        {"id": 10, "image_id": 1, "category_id": 1, "bbox": [10.7, 20.2, 30.5, 40.9],
         "segmentation": [[10.5, 5.5, 100.25, 5.5, 100.25, 50.75]]},
        {"id": 11, "image_id": 2, "category_id": 2, "bbox": [8.6, 4.4, 40.2, 20.7]},
        {"id": 12, "image_id": 2, "category_id": 1, "segmentation": [[0, 0, 40, 0, 40, 20]]},
    ],
}


def write_coco_set(folder):
    folder.mkdir()
    for entry in COCO["images"]:
        image = Image.new("RGB", (entry["width"], entry["height"]), (entry["id"] * 40, 90, 160))
        image.save(folder / entry["file_name"])
    (folder / "coco.json").write_text(json.dumps(COCO))
    return folder


def test_coco_set_loaded_twice_by_the_sdk_loaders_syncs_once_with_exact_predictions(business_client, project,
                                                                                   aperturedb, tmp_path):
    folder, dataset = write_coco_set(tmp_path / "coco"), f"t{uuid.uuid4().hex[:12]}"
    connector = aperturedb.connector()
    tagged = {"dataset": ["==", dataset]}
    utils = Utils(connector)

    def counts():
        return (utils.count_images(tagged), utils.count_bboxes(tagged), utils.count_entities("_Polygon", tagged))

    first = load_coco_folder(connector, folder, tmp_path / "csv", dataset)
    second = load_coco_folder(connector, folder, tmp_path / "csv", dataset)

    assert {kind: (n.rows, n.added, n.existed) for kind, n in first.items()} == {
        "images": (2, 2, 0), "boxes": (2, 2, 0), "polygons": (2, 2, 0)}
    assert {kind: (n.rows, n.added, n.existed) for kind, n in second.items()} == {
        "images": (2, 0, 2), "boxes": (2, 0, 2), "polygons": (2, 0, 2)}
    assert counts() == (2, 2, 2)
    (cat,) = connector.query([{"FindImage": {"constraints": {**tagged, "id": ["==", 1]},
                                             "results": {"list": ["coco_image", "date_captured", "license"]}}}])[
        0][0]["FindImage"]["entities"]
    # a value only some images have is left unset on the others, not loaded as NaN
    assert cat == {"coco_image": f"{dataset}:1", "date_captured": "2024-03-01 12:30:00", "license": None}

    storage = create_storage(business_client, aperturedb, project["id"], constraints=tagged,
                             properties=["file_name", "id"])
    synced = sync(business_client, storage["id"])

    assert synced["status"] == "completed" and synced["last_sync_count"] == 2, synced
    results = {}
    for task in tasks_of(business_client, project["id"]):
        (prediction,) = Prediction.objects.filter(task_id=task["id"])
        results[task["data"]["file_name"]] = sorted(
            ((r["type"], r["value"]) for r in prediction.result), key=lambda typed: typed[0])
    # BBoxDataCSV stores int() of each coordinate: cat's box is (10, 20, 30, 40) of 200x100, dog's (8, 4, 40, 20)
    # of 80x40; polygons keep their float vertices.
    assert results == {
        "cat.png": [("polygonlabels", {"points": [[5.25, 5.5], [50.125, 5.5], [50.125, 50.75]],
                                       "polygonlabels": ["cat"], "closed": True}),
                    ("rectanglelabels", {"x": 5.0, "y": 20.0, "width": 15.0, "height": 40.0, "rotation": 0.0,
                                         "rectanglelabels": ["cat"]})],
        "dog.png": [("polygonlabels", {"points": [[0.0, 0.0], [50.0, 0.0], [50.0, 50.0]], "polygonlabels": ["cat"],
                                       "closed": True}),
                    ("rectanglelabels", {"x": 10.0, "y": 10.0, "width": 50.0, "height": 50.0, "rotation": 0.0,
                                         "rectanglelabels": ["dog"]})],
    }
    assert counts() == (2, 2, 2)

"""Sync of an ApertureDB source storage: images become tasks, boxes and polygons predictions."""

from __future__ import annotations

import pytest
from tasks.models import Prediction, Task

from storage_api import create_storage, sync, tasks_of

pytestmark = pytest.mark.django_db


def test_sync_makes_one_task_per_matching_image_with_exact_predictions(business_client, project, aperturedb, images):
    cat = images.add("cat.png", 200, 100, boxes=[((10, 20, 30.5, 40), "cat", {"score": 0.9, "model_version": "yolo"})],
                     polygons=[([[0, 0], [50, 0], [50, 25]], "dog")], split="train", difficulty=3)
    dog = images.add("dog.png", 64, 48, boxes=[((1.5, 2.25, 3, 4), "dog", {"rotation": 30.0})], split="val")
    images.add("other.png", 10, 10, split="test")
    storage = create_storage(business_client, aperturedb, project["id"],
                             constraints={**images.constraints, "split": ["in", ["train", "val"]]},
                             properties=["name", "split", "difficulty"])

    synced = sync(business_client, storage["id"])

    assert synced["status"] == "completed", synced
    assert synced["last_sync_count"] == 2
    tasks = {task["data"]["name"]: task for task in tasks_of(business_client, project["id"])}
    assert set(tasks) == {"cat.png", "dog.png"}
    cat_task = Task.objects.get(id=tasks["cat.png"]["id"])
    assert cat_task.data == {"img": f"aperturedb://{storage['id']}/{cat}", "name": "cat.png", "split": "train",
                             "difficulty": 3}
    predictions = {p.model_version: p for p in Prediction.objects.filter(task=cat_task)}
    assert set(predictions) == {"yolo", "aperturedb"}
    box = predictions["yolo"].result[0]
    assert box["from_name"] == "box" and box["to_name"] == "photo" and box["type"] == "rectanglelabels"
    assert box["value"] == {"x": 5.0, "y": 20.0, "width": 15.25, "height": 40.0, "rotation": 0.0,
                            "rectanglelabels": ["cat"]}
    assert (box["original_width"], box["original_height"]) == (200, 100)
    assert predictions["yolo"].score == pytest.approx(0.9)
    polygon = predictions["aperturedb"].result[0]
    assert polygon["from_name"] == "outline" and polygon["type"] == "polygonlabels"
    assert polygon["value"]["points"] == [[0.0, 0.0], [25.0, 0.0], [25.0, 25.0]]
    dog_box = Prediction.objects.get(task_id=tasks["dog.png"]["id"]).result[0]["value"]
    assert dog_box["x"] == pytest.approx(1.5 * 100 / 64, abs=1e-12)
    assert dog_box["y"] == pytest.approx(2.25 * 100 / 48, abs=1e-12)
    assert dog_box["rotation"] == 30.0

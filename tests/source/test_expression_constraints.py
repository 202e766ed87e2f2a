"""Constraints in the expression form the SDK and ApertureDB's documentation write, as a source storage's
settings: they select the images and predictions the object form would, and re-syncs still read only
what is new."""

from __future__ import annotations

import pytest
from aperturedb.Constraints import to_expression
from tasks.models import Prediction, Task

from storage_api import create_storage, sync

pytestmark = pytest.mark.django_db


def test_expression_constraints_select_images_and_predictions(business_client, project, aperturedb, images):
    kept = images.add("a.png", 40, 40, boxes=[((1, 1, 5, 5), "cat", {"score": 0.9}), ((2, 2, 5, 5), "dog", {"score": 0.1})],
                      split="train")
    images.add("b.png", 40, 40, split="test")
    constraints = to_expression({**images.constraints, "split": ["in", ["train", "val"]]})
    assert isinstance(constraints, list)
    storage = create_storage(business_client, aperturedb, project["id"], constraints=constraints,
                             pred_constraints='["$score", ">=", 0.5]')

    synced = sync(business_client, storage["id"])

    assert synced["status"] == "completed" and synced["last_sync_count"] == 1, synced
    (task,) = Task.objects.filter(project_id=project["id"])
    assert task.data["img"] == f"aperturedb://{storage['id']}/{kept}"
    (prediction,) = Prediction.objects.filter(task=task)
    assert [r["value"]["rectanglelabels"] for r in prediction.result] == [["cat"]]


def test_a_resync_with_expression_constraints_reads_only_what_is_new(business_client, project, aperturedb, images):
    images.add("1.png", 20, 20, split="train")
    storage = create_storage(business_client, aperturedb, project["id"],
                             constraints=["all", to_expression(images.constraints), ["$split", "==", "train"]],
                             properties=["name"])
    assert sync(business_client, storage["id"])["meta"]["read_everything"] is True
    images.add("2.png", 20, 20, split="train")
    images.add("3.png", 20, 20, split="test")

    synced = sync(business_client, storage["id"])

    assert synced["meta"]["read_everything"] is False
    assert synced["last_sync_count"] == 1 and synced["meta"]["tasks_existed"] == 1
    assert sorted(t.data["name"] for t in Task.objects.filter(project_id=project["id"])) == ["1.png", "2.png"]

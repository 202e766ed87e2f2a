"""Sync of an ApertureDB source storage: images become tasks, boxes and polygons predictions."""

from __future__ import annotations

import pytest
from tasks.models import Prediction, Task

from storage_api import create_project, create_storage, sync, tasks_of, update_storage

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


def test_resync_creates_no_duplicates_and_only_new_images_make_tasks(business_client, project, aperturedb, images):
    images.add("a.png", 20, 20, boxes=[((1, 1, 5, 5), "cat", {})])
    storage = create_storage(business_client, aperturedb, project["id"], constraints=images.constraints)
    assert sync(business_client, storage["id"])["last_sync_count"] == 1
    images.add("b.png", 20, 20)

    second = sync(business_client, storage["id"])
    third = sync(business_client, storage["id"])

    assert second["last_sync_count"] == 1 and second["meta"]["tasks_existed"] == 1
    assert third["last_sync_count"] == 0 and third["meta"]["tasks_existed"] == 2
    assert Task.objects.filter(project_id=project["id"]).count() == 2
    assert Prediction.objects.filter(project_id=project["id"]).count() == 1


def test_resync_replaces_predictions_of_images_whose_boxes_changed(business_client, project, aperturedb, images):
    uniqueid = images.add("a.png", 100, 100, boxes=[((10, 10, 10, 10), "cat", {})])
    storage = create_storage(business_client, aperturedb, project["id"], constraints=images.constraints)
    sync(business_client, storage["id"])
    images.query([{"FindImage": {"_ref": 1, "constraints": {"_uniqueid": ["==", uniqueid]}}},
                  {"FindBoundingBox": {"_ref": 2, "image_ref": 1}},
                  {"UpdateBoundingBox": {"ref": 2, "rectangle": {"x": 50, "y": 60, "width": 20, "height": 10},
                                         "label": "dog"}},
                  {"AddBoundingBox": {"image_ref": 1, "rectangle": {"x": 0, "y": 0, "width": 1, "height": 1},
                                      "label": "cat"}}])

    synced = sync(business_client, storage["id"])

    assert synced["meta"]["tasks_updated"] == 1
    task = Task.objects.get(project_id=project["id"])
    (prediction,) = Prediction.objects.filter(task=task)
    values = sorted((r["value"]["x"], r["value"]["rectanglelabels"][0]) for r in prediction.result)
    assert values == [(0.0, "cat"), (50.0, "dog")]
    assert task.total_predictions == 1


def test_unknown_labels_are_skipped_and_counted_without_failing_sync(business_client, project, aperturedb, images):
    images.add("a.png", 10, 10, boxes=[((1, 1, 2, 2), "cat", {}), ((1, 1, 2, 2), "zebra", {}),
                                       ((2, 2, 2, 2), "zebra", {})])
    storage = create_storage(business_client, aperturedb, project["id"], constraints=images.constraints)

    synced = sync(business_client, storage["id"])

    assert synced["status"] == "completed"
    assert synced["meta"]["regions_skipped"] == 2 and synced["meta"]["skipped_labels"] == {"zebra": 2}
    (prediction,) = Prediction.objects.filter(project_id=project["id"])
    assert [r["value"]["rectanglelabels"] for r in prediction.result] == [["cat"]]


def test_pred_constraints_and_predictions_off_choose_what_becomes_predictions(business_client, project, aperturedb,
                                                                              images):
    images.add("a.png", 10, 10, boxes=[((1, 1, 2, 2), "cat", {"score": 0.2}), ((1, 1, 2, 2), "dog", {"score": 0.8})])
    storage = create_storage(business_client, aperturedb, project["id"], constraints=images.constraints,
                             pred_constraints='{"score": [">=", 0.5]}')
    sync(business_client, storage["id"])
    (prediction,) = Prediction.objects.filter(project_id=project["id"])
    assert [r["value"]["rectanglelabels"] for r in prediction.result] == [["dog"]]

    other = create_storage(business_client, aperturedb, project["id"], constraints=images.constraints,
                           predictions=False)
    sync(business_client, other["id"])
    assert Prediction.objects.filter(project_id=project["id"]).count() == 1


def test_vanished_images_lose_only_unannotated_tasks_and_only_when_allowed(business_client, project, aperturedb,
                                                                           images):
    keep, annotated, gone = (images.add(name, 10, 10) for name in ("keep.png", "annotated.png", "gone.png"))
    storage = create_storage(business_client, aperturedb, project["id"], constraints=images.constraints)
    sync(business_client, storage["id"])
    uri = f"aperturedb://{storage['id']}/{{}}".format
    annotated_task = Task.objects.get(project_id=project["id"], data__img=uri(annotated))
    response = business_client.post(f"/api/tasks/{annotated_task.id}/annotations/", data={"result": []},
                                    content_type="application/json")
    assert response.status_code == 201, response.content
    images.query([{"DeleteImage": {"constraints": {"_uniqueid": ["in", [annotated, gone]]}}}])

    kept = sync(business_client, storage["id"])
    assert kept["meta"]["tasks_missing_kept"] == 2 and kept["meta"]["tasks_removed"] == 0
    assert Task.objects.filter(project_id=project["id"]).count() == 3

    update_storage(business_client, storage["id"], remove_missing_tasks=True)
    removed = sync(business_client, storage["id"])

    assert removed["meta"]["tasks_removed"] == 1 and removed["meta"]["tasks_missing_kept"] == 1
    assert sorted(Task.objects.filter(project_id=project["id"]).values_list("data__img", flat=True)) == sorted(
        [uri(annotated), uri(keep)])


def test_limit_caps_the_number_of_images_in_a_stable_order(business_client, project, aperturedb, images):
    added = [images.add(f"{i}.png", 10, 10) for i in range(5)]
    storage = create_storage(business_client, aperturedb, project["id"], constraints=images.constraints, limit=3)

    sync(business_client, storage["id"])

    keys = sorted(Task.objects.filter(project_id=project["id"]).values_list("data__img", flat=True))
    assert keys == sorted(f"aperturedb://{storage['id']}/{u}" for u in sorted(added)[:3])


def test_sync_of_a_project_without_an_image_tag_fails_with_a_readable_reason(business_client, aperturedb, images):
    text_project = create_project(business_client, "text", '<View><Text name="t" value="$text"/></View>')
    images.add("a.png", 10, 10)
    storage = create_storage(business_client, aperturedb, text_project["id"], constraints=images.constraints)

    synced = sync(business_client, storage["id"])

    assert synced["status"] == "failed"
    assert "no <Image> tag" in synced["traceback"]


def test_image_size_comes_from_the_image_when_aperturedb_has_no_recorded_size(business_client, project, aperturedb,
                                                                               images):
    uniqueid = images.add("a.png", 80, 40, boxes=[((8, 4, 40, 20), "cat", {})])
    images.query([{"UpdateImage": {"constraints": {"_uniqueid": ["==", uniqueid]},
                                   "remove_props": ["adb_image_width", "adb_image_height"]}}])
    storage = create_storage(business_client, aperturedb, project["id"], constraints=images.constraints)

    sync(business_client, storage["id"])

    (result,) = Prediction.objects.get(project_id=project["id"]).result
    assert (result["original_width"], result["original_height"]) == (80, 40)
    assert result["value"]["x"] == 10.0 and result["value"]["width"] == 50.0


def test_an_image_that_cannot_be_read_is_skipped_and_reported_while_others_sync(business_client, project, aperturedb,
                                                                                images, monkeypatch):
    from ls_storage.client import source

    unreadable = images.add("broken.png", 10, 10)
    images.add("fine.png", 10, 10)
    images.query([{"UpdateImage": {"constraints": {"_uniqueid": ["==", unreadable]},
                                   "remove_props": ["adb_image_width", "adb_image_height"]}}])
    # An image format ApertureDB stores but Pillow cannot decode, as a real server may hold.
    real_open = source.Image.open
    broken_blob = images.blobs[unreadable]

    def open_image(stream, *args, **kwargs):
        if stream.getvalue() == broken_blob:
            raise source.UnidentifiedImageError("unknown format")
        return real_open(stream, *args, **kwargs)

    monkeypatch.setattr(source.Image, "open", open_image)
    storage = create_storage(business_client, aperturedb, project["id"], constraints=images.constraints)

    synced = sync(business_client, storage["id"])

    assert synced["status"] == "completed_with_errors"
    assert synced["last_sync_count"] == 1 and synced["meta"]["tasks_failed_validation"] == 1
    assert unreadable in synced["traceback"] and "cannot be decoded" in synced["traceback"]


def test_sync_reports_progress_counts_while_in_progress(business_client, project, aperturedb, images, settings,
                                                        monkeypatch):
    from ls_storage.aperturedb import sync as sync_module
    from ls_storage.aperturedb.models import ApertureDBImportStorage

    settings.STORAGE_IN_PROGRESS_TIMER = 0
    for index in range(5):
        images.add(f"{index}.png", 10, 10)
    storage = create_storage(business_client, aperturedb, project["id"], constraints=images.constraints)
    seen = []
    real_pages, real_sync_page = sync_module.iter_image_pages, sync_module._sync_page

    def pages_of_two(connector, selection):
        yield from real_pages(connector, selection, page_size=2)

    def recording_sync_page(*args):
        state = ApertureDBImportStorage.objects.get(id=storage["id"])
        seen.append((state.status, state.last_sync_count, state.meta.get("tasks_created")))
        real_sync_page(*args)

    monkeypatch.setattr(sync_module, "iter_image_pages", pages_of_two)
    monkeypatch.setattr(sync_module, "_sync_page", recording_sync_page)

    synced = sync(business_client, storage["id"])

    assert seen == [("in_progress", None, None), ("in_progress", 2, 2), ("in_progress", 4, 4)]
    assert synced["status"] == "completed" and synced["last_sync_count"] == 5

"""Annotations written back to ApertureDB automatically, exactly, in place, and deleted when allowed."""

from __future__ import annotations

import json

import pytest
from tasks.models import Task

from storage_api import connection_key, create_project, create_storage
from target_api import box, create_target, polygon, stored_annotation, sync, synced_tasks

pytestmark = pytest.mark.django_db


def annotate(client, task_id: int, result: list, capture, **fields) -> dict:
    with capture(execute=True):
        response = client.post(f"/api/tasks/{task_id}/annotations/", data={"result": result, **fields},
                               content_type="application/json")
    assert response.status_code == 201, response.content
    return response.json()


def test_a_submitted_annotation_is_written_with_every_region_and_value(
        business_client, project, aperturedb, aperturedb_images, django_capture_on_commit_callbacks):
    (task_id,) = synced_tasks(business_client, aperturedb, aperturedb_images, project["id"])
    create_target(business_client, aperturedb, project["id"])
    result = [
        box("b1", 10, 20, 30, 40, labels=("cat", "dog"), rotation=33.5),
        {"id": "b1", "from_name": "note", "to_name": "photo", "type": "textarea", "value": {"text": ["fluffy"]}},
        polygon("p1", [[0, 0], [50, 0], [50, 50]]),
        {"from_name": "scene", "to_name": "photo", "type": "choices", "value": {"choices": ["indoor"]}},
        {"from_name": "count", "to_name": "photo", "type": "number", "value": {"number": 3}},
        {"from_name": "quality", "to_name": "photo", "type": "rating", "value": {"rating": 4}},
    ]

    annotation = annotate(business_client, task_id, result, django_capture_on_commit_callbacks, lead_time=12.5)

    stored = stored_annotation(aperturedb.connector(), annotation["id"])
    entity = stored["entity"]
    assert entity["LS_task_id"] == task_id and entity["LS_project_id"] == project["id"]
    assert entity["LS_completed_by"] == "business@pytest.net" and entity["LS_lead_time"] == 12.5
    assert entity["LS_was_cancelled"] is False and entity["LS_ground_truth"] is False
    assert entity["LS_created_at"]["_date"] and entity["LS_updated_at"]["_date"]
    assert json.loads(entity["scene"]) == ["indoor"] and entity["count"] == 3 and entity["quality"] == 4
    assert stored["data"]["result"] == result
    cat = stored["boxes"]["b1"]
    assert cat["_coordinates"] == {"x": 20.0, "y": 20.0, "width": 60.0, "height": 40.0}
    assert cat["rotation"] == 33.5 and cat["_label"] == "cat" and json.loads(cat["LS_labels"]) == ["cat", "dog"]
    assert json.loads(cat["note"]) == ["fluffy"]
    assert stored["polygons"]["p1"]["_vertices"] == [[[0.0, 0.0], [100.0, 0.0], [100.0, 50.0]]]
    assert len(stored["images"]) == 1


def test_a_target_given_only_a_connection_key_writes_submitted_annotations(
        business_client, project, aperturedb, aperturedb_images, django_capture_on_commit_callbacks):
    (task_id,) = synced_tasks(business_client, aperturedb, aperturedb_images, project["id"])
    created = business_client.post("/api/storages/export/aperturedb", content_type="application/json",
                                   data={"project": project["id"], "connection_key": connection_key(aperturedb)})
    assert created.status_code == 201, created.content
    assert (created.json()["hostname"], created.json()["port"]) == (aperturedb.host, aperturedb.port)

    annotation = annotate(business_client, task_id, [box("b1", 10, 20, 30, 40)], django_capture_on_commit_callbacks)

    assert set(stored_annotation(aperturedb.connector(), annotation["id"])["boxes"]) == {"b1"}


def test_resaving_updates_in_place_and_removes_dropped_regions(
        business_client, project, aperturedb, aperturedb_images, django_capture_on_commit_callbacks):
    (task_id,) = synced_tasks(business_client, aperturedb, aperturedb_images, project["id"])
    create_target(business_client, aperturedb, project["id"])
    annotation = annotate(business_client, task_id, [box("b1", 10, 10, 10, 10), polygon("p1", [[0, 0], [5, 0], [5, 5]]),
                                                     {"from_name": "scene", "to_name": "photo", "type": "choices",
                                                      "value": {"choices": ["indoor"]}}],
                          django_capture_on_commit_callbacks)
    connector = aperturedb.connector()
    before = stored_annotation(connector, annotation["id"])

    with django_capture_on_commit_callbacks(execute=True):
        response = business_client.patch(f"/api/annotations/{annotation['id']}/",
                                         data={"result": [box("b1", 50, 50, 10, 10, labels=("dog",))]},
                                         content_type="application/json")
    assert response.status_code == 200, response.content

    after = stored_annotation(connector, annotation["id"])
    assert after["entity"]["_uniqueid"] == before["entity"]["_uniqueid"]
    assert after["boxes"]["b1"]["_uniqueid"] == before["boxes"]["b1"]["_uniqueid"]
    assert after["boxes"]["b1"]["_coordinates"]["x"] == 100.0 and after["boxes"]["b1"]["_label"] == "dog"
    assert after["polygons"] == {} and "scene" not in after["entity"]


def test_deleted_annotations_are_removed_only_when_the_target_allows_it(
        business_client, project, aperturedb, aperturedb_images, django_capture_on_commit_callbacks):
    first, second = synced_tasks(business_client, aperturedb, aperturedb_images, project["id"], count=2)
    target = create_target(business_client, aperturedb, project["id"], can_delete_objects=False)
    kept = annotate(business_client, first, [box("b", 1, 1, 1, 1)], django_capture_on_commit_callbacks)
    connector = aperturedb.connector()

    with django_capture_on_commit_callbacks(execute=True):
        assert business_client.delete(f"/api/annotations/{kept['id']}/").status_code == 204
    assert stored_annotation(connector, kept["id"]) is not None

    allowed = business_client.patch(f"/api/storages/export/aperturedb/{target['id']}",
                                    data={"can_delete_objects": True}, content_type="application/json")
    assert allowed.status_code == 200 and allowed.json()["can_delete_objects"] is True, allowed.content
    removed = annotate(business_client, second, [box("b", 1, 1, 1, 1), polygon("p", [[0, 0], [1, 0], [1, 1]])],
                       django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        assert business_client.delete(f"/api/annotations/{removed['id']}/").status_code == 204

    assert stored_annotation(connector, removed["id"]) is None
    answer, _ = connector.query([{"FindBoundingBox": {"constraints": {"LS_annotation_id": ["==", removed["id"]]},
                                                      "results": {"count": True}}}])
    assert answer[0]["FindBoundingBox"]["count"] == 0


@pytest.mark.parametrize("batch, per_transaction", [(500, 20), (2, 1), (3, 2)],
                         ids=["one batch", "batches written while the next is prepared", "two per transaction"])
def test_sync_exports_every_annotation_of_the_project(business_client, project, aperturedb, aperturedb_images,
                                                      django_capture_on_commit_callbacks, monkeypatch, batch,
                                                      per_transaction):
    from ls_storage.aperturedb import models

    monkeypatch.setattr(models, "EXPORT_BATCH", batch)
    monkeypatch.setattr(models, "ANNOTATIONS_PER_TRANSACTION", per_transaction)
    task_ids = synced_tasks(business_client, aperturedb, aperturedb_images, project["id"], count=3)
    annotations = [annotate(business_client, t, [box("b", i, i, 5, 5)], django_capture_on_commit_callbacks)
                   for i, t in enumerate(task_ids)]
    target = create_target(business_client, aperturedb, project["id"])  # syncs on creation

    synced = business_client.get(f"/api/storages/export/aperturedb/{target['id']}").json()

    assert synced["status"] == "completed" and synced["last_sync_count"] == 3
    assert sorted(models.ApertureDBExportStorageLink.objects.filter(storage_id=target["id"])
                  .values_list("annotation_id", flat=True)) == sorted(a["id"] for a in annotations)
    connector = aperturedb.connector()
    for index, annotation in enumerate(annotations):
        assert stored_annotation(connector, annotation["id"])["boxes"]["b"]["_coordinates"]["x"] == index * 2


def test_sync_reports_annotations_it_could_not_write(business_client, project, aperturedb, aperturedb_images,
                                                     django_capture_on_commit_callbacks):
    (task_id,) = synced_tasks(business_client, aperturedb, aperturedb_images, project["id"])
    annotate(business_client, task_id, [box("b", 1, 1, 1, 1)], django_capture_on_commit_callbacks)
    imported = business_client.post(f"/api/projects/{project['id']}/import", data=[{"img": "http://example.com/a.png"}],
                                    content_type="application/json")
    assert imported.status_code == 201, imported.content
    foreign_task = Task.objects.get(project_id=project["id"], data__img="http://example.com/a.png")
    annotate(business_client, foreign_task.id, [box("b", 1, 1, 1, 1)], django_capture_on_commit_callbacks)

    target = create_target(business_client, aperturedb, project["id"])
    synced = business_client.get(f"/api/storages/export/aperturedb/{target['id']}").json()

    assert synced["status"] == "completed_with_errors" and synced["last_sync_count"] == 1
    assert f"task {foreign_task.id} has no image in the ApertureDB" in synced["traceback"]


def test_an_annotation_apertureDB_refuses_holds_back_none_written_in_the_same_transaction(
        business_client, project, aperturedb, aperturedb_images, django_capture_on_commit_callbacks):
    from ls_storage.aperturedb.models import ApertureDBImportStorageLink

    task_ids = synced_tasks(business_client, aperturedb, aperturedb_images, project["id"], count=3)
    annotations = [annotate(business_client, t, [box("b", i, i, 5, 5)], django_capture_on_commit_callbacks)
                   for i, t in enumerate(task_ids)]
    gone = ApertureDBImportStorageLink.objects.get(task_id=task_ids[1]).key
    aperturedb_images.query([{"DeleteImage": {"constraints": {"_uniqueid": ["==", gone]}}}])

    target = create_target(business_client, aperturedb, project["id"])  # syncs on creation: one transaction of 3
    synced = business_client.get(f"/api/storages/export/aperturedb/{target['id']}").json()

    assert synced["status"] == "completed_with_errors" and synced["last_sync_count"] == 2
    assert f"annotation {annotations[1]['id']}: ApertureDB refused" in synced["traceback"]
    assert all(f"annotation {annotations[i]['id']}:" not in synced["traceback"] for i in (0, 2))
    connector = aperturedb.connector()
    assert stored_annotation(connector, annotations[1]["id"]) is None
    for index in (0, 2):
        assert stored_annotation(connector, annotations[index]["id"])["boxes"]["b"]["_coordinates"]["x"] == index * 2


def test_keypoints_ellipses_and_masks_are_stored_and_masks_read_back_as_masks(
        business_client, aperturedb, aperturedb_images, django_capture_on_commit_callbacks):
    import io

    import numpy as np
    from label_studio_sdk.converter.brush import mask2rle
    from PIL import Image

    config = """<View><Image name="photo" value="$img"/>
      <KeyPointLabels name="kp" toName="photo"><Label value="nose"/></KeyPointLabels>
      <EllipseLabels name="el" toName="photo"><Label value="eye"/></EllipseLabels>
      <BrushLabels name="brush" toName="photo"><Label value="road"/></BrushLabels></View>"""
    project = create_project(business_client, "shapes", config)
    (task_id,) = synced_tasks(business_client, aperturedb, aperturedb_images, project["id"], size=(40, 30))
    create_target(business_client, aperturedb, project["id"])
    mask = np.zeros((30, 40), dtype=np.uint8)
    mask[3:9, 4:20] = 255
    size = {"original_width": 40, "original_height": 30}
    result = [
        {"id": "k", "from_name": "kp", "to_name": "photo", "type": "keypointlabels", **size,
         "value": {"x": 50, "y": 50, "width": 1.5, "keypointlabels": ["nose"]}},
        {"id": "e", "from_name": "el", "to_name": "photo", "type": "ellipselabels", **size,
         "value": {"x": 25, "y": 10, "radiusX": 10, "radiusY": 20, "rotation": 15, "ellipselabels": ["eye"]}},
        {"id": "m", "from_name": "brush", "to_name": "photo", "type": "brushlabels", **size,
         "value": {"format": "rle", "rle": mask2rle(mask), "brushlabels": ["road"]}},
    ]

    annotation = annotate(business_client, task_id, result, django_capture_on_commit_callbacks)

    connector = aperturedb.connector()
    stored = stored_annotation(connector, annotation["id"])
    assert (stored["regions"]["k"]["x"], stored["regions"]["k"]["y"], stored["regions"]["k"]["label"]) == (20, 15, "nose")
    assert (stored["regions"]["e"]["radius_x"], stored["regions"]["e"]["radius_y"]) == (4, 6)
    answer, blobs = connector.query([
        {"FindEntity": {"_ref": 1, "with_class": "LS_annotation", "constraints": {"LS_id": ["==", annotation["id"]]}}},
        {"FindBlob": {"is_connected_to": {"ref": 1, "connection_class": "LS_annotation_region"}, "blobs": True,
                      "results": {"list": ["LS_id", "label"]}}},
    ])
    assert answer[1]["FindBlob"]["entities"][0]["label"] == "road"
    assert (np.array(Image.open(io.BytesIO(blobs[0]))) == mask).all()


def test_resync_of_the_source_does_not_turn_exported_annotation_regions_into_predictions(
        business_client, project, aperturedb, aperturedb_images, django_capture_on_commit_callbacks):
    from tasks.models import Prediction

    aperturedb_images.add("a.png", 200, 100, boxes=[((10, 10, 20, 20), "cat", {})])
    storage = create_storage(business_client, aperturedb, project["id"], constraints=aperturedb_images.constraints)
    sync(business_client, storage["id"])
    (task_id,) = Task.objects.filter(project_id=project["id"]).values_list("id", flat=True)
    create_target(business_client, aperturedb, project["id"])
    annotate(business_client, task_id, [box("mine", 50, 50, 10, 10), polygon("p", [[0, 0], [9, 0], [9, 9]])],
             django_capture_on_commit_callbacks)

    resynced = sync(business_client, storage["id"])

    assert resynced["meta"]["tasks_updated"] == 0
    (prediction,) = Prediction.objects.filter(task_id=task_id)
    assert [r["value"]["x"] for r in prediction.result] == [5.0]

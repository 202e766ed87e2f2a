"""Label Studio → ApertureDB → Label Studio: a new project on the same images starts with the earlier work."""

from __future__ import annotations

import pytest
from projects.models import Project
from tasks.models import Annotation, Task

from storage_api import create_project, create_storage
from target_api import box, create_target, polygon, sync, synced_tasks

pytestmark = pytest.mark.django_db


def close(expected, actual):
    if isinstance(expected, float) or isinstance(actual, float):
        return actual == pytest.approx(expected, abs=1e-6)
    if isinstance(expected, dict):
        return set(expected) == set(actual) and all(close(expected[k], actual[k]) for k in expected)
    if isinstance(expected, list):
        return len(expected) == len(actual) and all(close(e, a) for e, a in zip(expected, actual))
    return expected == actual


def by_key(results):
    return sorted(results, key=lambda r: (str(r.get("id")), r["from_name"]))


def test_a_new_project_on_the_same_images_starts_with_the_earlier_annotations(
        business_client, project, aperturedb, aperturedb_images, django_capture_on_commit_callbacks):
    (task_id,) = synced_tasks(business_client, aperturedb, aperturedb_images, project["id"])
    create_target(business_client, aperturedb, project["id"])
    result = [
        box("b1", 12.5, 20.25, 30, 40, labels=("cat", "dog"), rotation=45.0),
        {"id": "b1", "from_name": "note", "to_name": "photo", "type": "textarea", "value": {"text": ["striped"]}},
        polygon("p1", [[1.5, 2.5], [50, 0], [33.3, 66.6]]),
        {"from_name": "scene", "to_name": "photo", "type": "choices", "value": {"choices": ["outdoor"]}},
        {"from_name": "quality", "to_name": "photo", "type": "rating", "value": {"rating": 5}},
    ]
    with django_capture_on_commit_callbacks(execute=True):
        response = business_client.post(f"/api/tasks/{task_id}/annotations/",
                                        data={"result": result, "lead_time": 7.0, "ground_truth": True},
                                        content_type="application/json")
    assert response.status_code == 201, response.content

    second = create_project(business_client, "again", project["label_config"])
    storage = create_storage(business_client, aperturedb, second["id"], constraints=aperturedb_images.constraints,
                             import_annotations=True, predictions=False)
    synced = sync(business_client, storage["id"])
    resynced = sync(business_client, storage["id"])

    assert synced["meta"]["annotations_imported"] == 1 and resynced["meta"]["annotations_imported"] == 0
    (task,) = Task.objects.filter(project_id=second["id"])
    (imported,) = Annotation.objects.filter(task=task)
    assert imported.completed_by.email == "business@pytest.net" and imported.ground_truth is True
    assert imported.lead_time == 7.0
    assert close(by_key(result), by_key([{k: v for k, v in r.items() if k not in ("original_width",
                                                                                 "original_height", "image_rotation")}
                                         if r["type"] in ("textarea", "choices", "rating") else r
                                         for r in imported.result]))
    task.refresh_from_db()
    assert task.total_annotations == 1 and task.is_labeled


def test_annotations_written_by_another_integration_come_back_from_their_json(
        business_client, project, aperturedb, aperturedb_images):
    import json

    image = aperturedb_images.add("legacy.png", 100, 100)
    legacy_result = [box("r", 1, 2, 3, 4)]
    aperturedb_images.query([
        {"FindImage": {"_ref": 1, "constraints": {"_uniqueid": ["==", image]}}},
        {"AddEntity": {"_ref": 2, "class": "LS_annotation", "properties": {
            "LS_id": 987654321, "LS_project_id": -1, "LS_completed_by": "someone@elsewhere.org",
            "LS_data": json.dumps({"id": 987654321, "result": legacy_result})}}},
        {"AddConnection": {"class": "LS_annotation_image", "src": 1, "dst": 2}},
        {"AddBoundingBox": {"_ref": 3, "image_ref": 1, "rectangle": {"x": 1, "y": 2, "width": 3, "height": 4},
                            "label": "cat", "properties": {"LS_id": "r"}}},
        {"AddConnection": {"class": "LS_annotation_region", "src": 2, "dst": 3}},
    ])
    storage = create_storage(business_client, aperturedb, project["id"], constraints=aperturedb_images.constraints,
                             import_annotations=True)

    sync(business_client, storage["id"])

    (imported,) = Annotation.objects.filter(project_id=project["id"])
    assert imported.result == legacy_result
    assert imported.completed_by_id == Project.objects.get(id=project["id"]).created_by_id  # unknown user

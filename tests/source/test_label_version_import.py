"""A source storage's label version filter on imported annotations, and the region properties predictions take their
model version and score from."""

from __future__ import annotations

import random

import pytest
from ls_storage.aperturedb.models import ApertureDBImportStorage
from ls_storage.client.target import AnnotationWrite, write_annotations
from ls_storage.conversion.annotations import results_to_objects
from tasks.models import Annotation, Prediction

from storage_api import create_storage, storage_body, sync, update_storage

pytestmark = pytest.mark.django_db


def written_box(annotation_id: int, image: str, x: float, label_version: str) -> AnnotationWrite:
    result = [{"id": "b", "from_name": "box", "to_name": "photo", "type": "rectanglelabels", "original_width": 100,
               "original_height": 100, "image_rotation": 0,
               "value": {"x": x, "y": 1, "width": 5, "height": 5, "rotation": 0, "rectanglelabels": ["cat"]}}]
    return AnnotationWrite(annotation_id, image, {"LS_project_id": -1}, results_to_objects(result, None, None),
                           label_version)


def test_only_annotations_of_the_label_version_are_imported(business_client, project, aperturedb, images):
    image = images.add("versions.png", 100, 100)
    first = 70_000_000 + random.randrange(10**6) * 10
    write_annotations(aperturedb.connector(), [written_box(first, image, 10, "1.0"),
                                               written_box(first + 1, image, 20, "2.0"),
                                               written_box(first + 2, image, 30, "")])
    storage = create_storage(business_client, aperturedb, project["id"], constraints=images.constraints,
                             import_annotations=True, annotations_label_version="2.0", predictions=False)

    synced = sync(business_client, storage["id"])

    assert synced["meta"]["annotations_imported"] == 1, synced
    (imported,) = Annotation.objects.filter(project_id=project["id"])
    assert imported.result[0]["value"]["x"] == pytest.approx(20)


def test_without_a_label_version_every_annotation_is_imported(business_client, project, aperturedb, images):
    image = images.add("all.png", 100, 100)
    first = 80_000_000 + random.randrange(10**6) * 10
    write_annotations(aperturedb.connector(), [written_box(first, image, 10, "1.0"),
                                               written_box(first + 1, image, 20, "")])
    storage = create_storage(business_client, aperturedb, project["id"], constraints=images.constraints,
                             import_annotations=True, predictions=False)

    assert sync(business_client, storage["id"])["meta"]["annotations_imported"] == 2


def test_predictions_take_model_version_and_score_from_the_named_properties(business_client, project, aperturedb,
                                                                           images):
    images.add("named.png", 100, 100, boxes=[((1, 1, 5, 5), "cat", {"model": "detr", "confidence": 0.75,
                                                                     "model_version": "yolo", "score": 0.1})])
    storage = create_storage(business_client, aperturedb, project["id"], constraints=images.constraints,
                             version_property="model", score_property="confidence")
    assert (storage["version_property"], storage["score_property"]) == ("model", "confidence")

    sync(business_client, storage["id"])
    (prediction,) = Prediction.objects.filter(project_id=project["id"])
    assert prediction.model_version == "detr" and prediction.score == pytest.approx(0.75)
    assert prediction.result[0]["score"] == pytest.approx(0.75)

    # Back to the defaults (empty fields): the settings changed, so the next sync reads everything again.
    storage = update_storage(business_client, storage["id"], version_property="", score_property=None)
    assert (storage["version_property"], storage["score_property"]) == ("model_version", "score")
    sync(business_client, storage["id"])
    (prediction,) = Prediction.objects.filter(project_id=project["id"])
    assert prediction.model_version == "yolo" and prediction.score == pytest.approx(0.1)


@pytest.mark.parametrize("field, value, words", [
    ("annotations_label_version", "x" * 65, "no more than 64"),
    ("annotations_label_version", "1.0\x1b[0m", "control characters"),
    ("version_property", "_label", "system properties"),
    ("score_property", "conf\nidence", "control characters"),
    ("score_property", "s" * 256, "no more than 255"),
])
def test_bad_version_and_property_settings_are_refused_naming_the_field(business_client, project,
                                                                       aperturedb_test_server, field, value, words):
    body = storage_body(aperturedb_test_server, project["id"], **{field: value})

    response = business_client.post("/api/storages/aperturedb/", data=body, content_type="application/json")

    assert response.status_code == 400, response.content
    assert field in str(response.json()) and words in str(response.json()), response.json()
    assert not ApertureDBImportStorage.objects.exists()

"""Label versions and revisions: ``LS_label_version`` on every annotation and region a target writes, ``LS_revision``
counting the writes of each annotation (its exactness under concurrent writers: test_reliability.py)."""

from __future__ import annotations

import random

import numpy as np
import pytest
from label_studio_sdk.converter.brush import mask2rle
from ls_storage.aperturedb.models import ApertureDBExportStorage
from ls_storage.client.target import AnnotationWrite, write_annotations
from ls_storage.conversion.annotations import results_to_objects
from ls_storage.testing.fixtures import TaggedImages

from target_api import box, create_target, polygon, stored_annotation, synced_tasks

pytestmark = pytest.mark.django_db


def test_the_label_version_is_on_the_annotation_and_its_regions_and_each_write_adds_a_revision(
        business_client, project, aperturedb, aperturedb_images, django_capture_on_commit_callbacks):
    (task_id,) = synced_tasks(business_client, aperturedb, aperturedb_images, project["id"])
    target = create_target(business_client, aperturedb, project["id"], label_version="2.0.0")
    assert target["label_version"] == "2.0.0"
    connector = aperturedb.connector()

    def stored():
        found = stored_annotation(connector, annotation_id)
        regions = [*found["boxes"].values(), *found["polygons"].values()]
        return found["entity"]["LS_revision"], {found["entity"].get("LS_label_version")} | \
            {region.get("LS_label_version") for region in regions}, len(regions)

    with django_capture_on_commit_callbacks(execute=True):
        created = business_client.post(f"/api/tasks/{task_id}/annotations/", content_type="application/json",
                                       data={"result": [box("b1", 10, 10, 10, 10)]})
    annotation_id = created.json()["id"]
    assert stored() == (1, {"2.0.0"}, 1)  # the submit

    with django_capture_on_commit_callbacks(execute=True):
        updated = business_client.patch(f"/api/annotations/{annotation_id}/", content_type="application/json",
                                        data={"result": [box("b1", 20, 20, 10, 10),
                                                         polygon("p1", [[0, 0], [5, 0], [5, 5]])]})
    assert updated.status_code == 200, updated.content
    assert stored() == (2, {"2.0.0"}, 2)  # the automatic export of the update

    synced = business_client.post(f"/api/storages/export/aperturedb/{target['id']}/sync")
    assert synced.status_code == 200, synced.content
    assert stored() == (2, {"2.0.0"}, 2)  # a target Sync: unchanged since its export, not written again

    changed = business_client.patch(f"/api/storages/export/aperturedb/{target['id']}", data={"label_version": ""},
                                    content_type="application/json")
    assert changed.status_code == 200, changed.content
    business_client.post(f"/api/storages/export/aperturedb/{target['id']}/sync")
    # No label version any more: the next Sync writes every annotation, removing it from them and their regions.
    assert stored() == (3, {None}, 2)


def test_masks_and_other_regions_carry_the_label_version_too(aperturedb):
    image = TaggedImages(aperturedb).add("shapes.png", 40, 30)
    annotation_id = 60_000_000 + random.randrange(10**6)
    mask = np.zeros((30, 40), dtype=np.uint8)
    mask[3:9, 4:20] = 255
    size = {"original_width": 40, "original_height": 30, "to_name": "photo"}
    result = [{"id": "k", "from_name": "kp", "type": "keypointlabels", **size,
               "value": {"x": 50, "y": 50, "width": 1.5, "keypointlabels": ["nose"]}},
              {"id": "m", "from_name": "brush", "type": "brushlabels", **size,
               "value": {"format": "rle", "rle": mask2rle(mask), "brushlabels": ["road"]}}]
    connector = aperturedb.connector()

    write_annotations(connector, [AnnotationWrite(annotation_id, image, {}, results_to_objects(result, None, None),
                                                  label_version="v7")])

    answer, _ = connector.query([
        {"FindEntity": {"_ref": 1, "with_class": "LS_annotation", "constraints": {"LS_id": ["==", annotation_id]},
                        "results": {"list": ["LS_label_version", "LS_revision"]}}},
        {"FindBlob": {"is_connected_to": {"ref": 1, "connection_class": "LS_annotation_region"},
                      "results": {"list": ["LS_id", "LS_label_version"]}}},
        {"FindEntity": {"with_class": "LS_region",
                        "is_connected_to": {"ref": 1, "connection_class": "LS_annotation_region"},
                        "results": {"list": ["LS_id", "LS_label_version"]}}},
    ])
    assert answer[0]["FindEntity"]["entities"] == [{"LS_label_version": "v7", "LS_revision": 1}]
    assert answer[1]["FindBlob"]["entities"] == [{"LS_id": "m", "LS_label_version": "v7"}]
    assert answer[2]["FindEntity"]["entities"] == [{"LS_id": "k", "LS_label_version": "v7"}]


@pytest.mark.parametrize("value, words", [("v" * 65, "no more than 64"), ("2.0\n.0", "control characters"),
                                          ("2.0\t", None), (["2.0"], "valid string")])
def test_a_bad_label_version_is_refused_naming_the_field_and_nothing_is_saved(
        business_client, project, aperturedb_test_server, value, words):
    from storage_api import storage_body

    body = storage_body(aperturedb_test_server, project["id"], label_version=value)
    response = business_client.post("/api/storages/export/aperturedb", data=body, content_type="application/json")

    if words is None:  # spaces around are trimmed: a tab at the end is not a control character inside
        assert response.status_code == 201 and response.json()["label_version"] == "2.0", response.content
        return
    assert response.status_code == 400, response.content
    assert "label_version" in str(response.json()) and words in str(response.json())
    assert not ApertureDBExportStorage.objects.exists()


def test_a_target_without_a_label_version_writes_none(business_client, project, aperturedb, aperturedb_images,
                                                      django_capture_on_commit_callbacks):
    (task_id,) = synced_tasks(business_client, aperturedb, aperturedb_images, project["id"])
    assert create_target(business_client, aperturedb, project["id"], label_version=None)["label_version"] == ""
    with django_capture_on_commit_callbacks(execute=True):
        created = business_client.post(f"/api/tasks/{task_id}/annotations/", content_type="application/json",
                                       data={"result": [box("b1", 10, 10, 10, 10)]})

    found = stored_annotation(aperturedb.connector(), created.json()["id"])
    assert "LS_label_version" not in found["entity"] and "LS_label_version" not in found["boxes"]["b1"]
    assert found["entity"]["LS_revision"] == 1



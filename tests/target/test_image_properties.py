"""Decisions back onto the image (issue #20, item 4): a target's ``image_properties`` writes the image-level value
of a task's latest annotation onto its image in ApertureDB, in the annotation's own transaction."""

from __future__ import annotations

import pytest
from ls_storage.aperturedb.models import ApertureDBExportStorage

from storage_api import storage_body

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("value, words", [
    (["scene"], "JSON object"),
    ("not json", "JSON object"),
    ({"scene": ""}, "non-empty"),
    ({"scene": 3}, "non-empty"),
    ({"scene": "_split"}, "starting with '_'"),
    ({"scene": "spl\nit"}, "control characters"),
    ({"scene": "x" * 256}, "at most 255"),
    ({"scene": "split", "note": "split"}, "split is given twice"),
    ({"box": "split"}, "box: the label config has no Choices"),
    ({"nothing": "split"}, "nothing: the label config has no Choices"),
])
def test_bad_image_properties_are_a_400_naming_the_field_and_nothing_is_saved(
        business_client, project, aperturedb_test_server, value, words):
    body = storage_body(aperturedb_test_server, project["id"], image_properties=value)
    response = business_client.post("/api/storages/export/aperturedb", data=body, content_type="application/json")

    assert response.status_code == 400, response.content
    assert "image_properties" in str(response.json()) and words in str(response.json()), response.json()
    assert not ApertureDBExportStorage.objects.exists()


def test_image_properties_are_stored_from_an_object_or_its_json_text_and_checked_on_update(
        business_client, project, aperturedb_test_server):
    mapping = {"scene": "split", "count": "objects", "quality": "quality", "note": "caption"}
    body = storage_body(aperturedb_test_server, project["id"], image_properties=mapping)
    created = business_client.post("/api/storages/export/aperturedb", data=body, content_type="application/json")
    assert created.status_code == 201, created.content
    assert created.json()["image_properties"] == mapping

    url = f"/api/storages/export/aperturedb/{created.json()['id']}"
    as_text = business_client.patch(url, data={"image_properties": '{"scene": "split"}'},
                                    content_type="application/json")
    assert as_text.status_code == 200 and as_text.json()["image_properties"] == {"scene": "split"}, as_text.content
    refused = business_client.patch(url, data={"image_properties": {"box": "split"}}, content_type="application/json")
    assert refused.status_code == 400 and "image_properties" in str(refused.json()), refused.content
    assert ApertureDBExportStorage.objects.get().image_properties == {"scene": "split"}
    cleared = business_client.patch(url, data={"image_properties": None}, content_type="application/json")
    assert cleared.status_code == 200 and cleared.json()["image_properties"] == {}, cleared.content

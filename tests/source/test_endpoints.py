"""The storage's other endpoints, and secrets kept out of logs."""

from __future__ import annotations

import logging

import pytest
from ls_storage.aperturedb.models import ApertureDBImportStorage
from ls_storage.testing.fixtures import TaggedImages, running_server
from tasks.models import Task

from storage_api import connection_key, create_storage, storage_body, sync

pytestmark = pytest.mark.django_db
SECRET = "S3cret-do-not-log-7f2b9"


def test_files_endpoint_previews_the_matching_images(business_client, project, aperturedb, images):
    added = sorted(images.add(f"{i}.png", 10, 10) for i in range(3))
    body = storage_body(aperturedb, project["id"], constraints=images.constraints)

    response = business_client.post("/api/storages/aperturedb/files", data=body, content_type="application/json")

    assert response.status_code == 200, response.content
    assert [f["key"] for f in response.json()["files"]] == added


def test_deleting_the_storage_keeps_its_tasks(business_client, project, aperturedb, images):
    images.add("a.png", 10, 10)
    storage = create_storage(business_client, aperturedb, project["id"], constraints=images.constraints)
    sync(business_client, storage["id"])

    response = business_client.delete(f"/api/storages/aperturedb/{storage['id']}")

    assert response.status_code == 204
    assert not ApertureDBImportStorage.objects.filter(id=storage["id"]).exists()
    assert Task.objects.filter(project_id=project["id"]).count() == 1


def test_password_and_connection_key_never_reach_a_log_or_a_response(business_client, project, caplog, transport):
    caplog.set_level(logging.DEBUG)
    with running_server(password=SECRET, rest=transport == "rest") as address:
        images = TaggedImages(address)
        images.add("a.png", 10, 10)
        good = storage_body(address, project["id"], constraints=images.constraints)
        bad = {**good, "password": SECRET + "-wrong"}
        keys = [connection_key(address, password=password) for password in (SECRET + "-wrong", SECRET)]
        responses = [
            business_client.post("/api/storages/aperturedb/validate", data=bad, content_type="application/json"),
            business_client.post("/api/storages/aperturedb/", data=bad, content_type="application/json"),
            business_client.post("/api/storages/aperturedb/validate", data={**good, "connection_key": keys[0]},
                                 content_type="application/json"),
            business_client.post("/api/storages/aperturedb/validate", data={**good, "connection_key": keys[1][:-4]},
                                 content_type="application/json"),  # cut short: cannot be read
            business_client.post("/api/storages/aperturedb/", data={**good, "connection_key": keys[1]},
                                 content_type="application/json"),
            created := business_client.post("/api/storages/aperturedb/", data=good, content_type="application/json"),
            business_client.post(f"/api/storages/aperturedb/{created.json()['id']}/sync"),
            business_client.get(f"/api/storages/aperturedb/?project={project['id']}"),
        ]
        address.server.stop()  # a failing sync logs its error
        failed = business_client.post(f"/api/storages/aperturedb/{created.json()['id']}/sync")

    assert [r.status_code for r in responses] == [400, 400, 400, 400, 201, 201, 200, 200]
    for secret in (SECRET, *keys):
        for response in responses + [failed]:
            assert secret not in response.content.decode()
        assert caplog.records and secret not in caplog.text
    stored = ApertureDBImportStorage.objects.get(id=created.json()["id"])
    assert SECRET not in (stored.traceback or "") and SECRET not in str(stored.meta)


def test_a_storage_logging_in_with_an_api_token_syncs(business_client, project, aperturedb_test_server):
    token = aperturedb_test_server.server.accounts.add_token()
    images = TaggedImages(aperturedb_test_server)
    images.add("a.png", 10, 10)

    storage = create_storage(business_client, aperturedb_test_server, project["id"], constraints=images.constraints,
                             username="", password="", token=token)

    assert sync(business_client, storage["id"])["last_sync_count"] == 1

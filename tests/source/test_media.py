"""Images reach the labeling UI through Label Studio's own resolver, streamed from ApertureDB."""

from __future__ import annotations

import base64
from types import SimpleNamespace

import pytest
from core.current_request import CurrentContext
from django.utils import timezone
from organizations.models import OrganizationMember
from tasks.models import Task

from ls_storage.aperturedb.models import ApertureDBImportStorage

from storage_api import create_storage, sync

pytestmark = pytest.mark.django_db


def resolve_url(task_id: int, uri: str) -> str:
    return f"/tasks/{task_id}/resolve/?fileuri={base64.urlsafe_b64encode(uri.encode()).decode()}"


@pytest.fixture
def synced(business_client, project, aperturedb, images):
    uniqueid = images.add("a.png", 40, 30)
    storage = create_storage(business_client, aperturedb, project["id"], constraints=images.constraints)
    sync(business_client, storage["id"])
    task = Task.objects.get(project_id=project["id"])
    return storage, task, uniqueid


def test_served_bytes_equal_the_stored_blob(business_client, images, synced):
    storage, task, uniqueid = synced

    response = business_client.get(resolve_url(task.id, task.data["img"]))

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == images.blobs[uniqueid]
    assert response["Content-Type"] == "image/png"
    assert int(response["Content-Length"]) == len(images.blobs[uniqueid])


def test_range_requests_answer_206_with_the_requested_bytes(business_client, images, synced):
    storage, task, uniqueid = synced
    blob = images.blobs[uniqueid]

    response = business_client.get(resolve_url(task.id, task.data["img"]), HTTP_RANGE="bytes=10-19")

    assert response.status_code == 206
    assert b"".join(response.streaming_content) == blob[10:20]
    assert response["Content-Range"] == f"bytes 10-19/{len(blob)}"


def test_task_api_points_the_image_at_label_studio_resolver_not_a_public_url(business_client, synced):
    storage, task, uniqueid = synced

    data = business_client.get(f"/api/tasks/{task.id}").json()["data"]

    assert data["img"].endswith(resolve_url(task.id, task.data["img"]))


def test_images_outside_the_storage_tasks_are_not_found(business_client, project, aperturedb, images, synced):
    storage, task, uniqueid = synced
    stranger = images.add("not-synced.png", 10, 10)

    other_image = business_client.get(resolve_url(task.id, f"aperturedb://{storage['id']}/{stranger}"))
    other_storage = business_client.get(resolve_url(task.id, f"aperturedb://{storage['id'] + 1000}/{uniqueid}"))

    assert other_image.status_code == 404
    assert other_storage.status_code == 404


def test_a_user_without_access_to_the_project_cannot_fetch_the_image(annotator_client, synced):
    storage, task, uniqueid = synced

    response = annotator_client.get(resolve_url(task.id, task.data["img"]))

    assert response.status_code in (403, 404)


def test_only_linked_images_go_only_to_active_members_of_the_organization(business_client, images, synced):
    storage, task, uniqueid = synced
    stranger = images.add("not-synced.png", 10, 10)
    model = ApertureDBImportStorage.objects.get(id=storage["id"])

    def may_resolve(image: str) -> bool:
        CurrentContext.set_request(SimpleNamespace(user=business_client.user))  # a new request each time
        try:
            return model.can_resolve_url(f"aperturedb://{storage['id']}/{image}")
        finally:
            CurrentContext.clear()

    assert may_resolve(uniqueid)
    assert not may_resolve(stranger)
    OrganizationMember.objects.filter(user=business_client.user).update(deleted_at=timezone.now())
    assert not may_resolve(uniqueid)
    assert model.can_resolve_url(task.data["img"])  # outside a request (syncs, exports)

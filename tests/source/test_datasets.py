"""A source storage that takes the images of chosen datasets (``connected_to``), through Label Studio's API: they
become tasks, an older image newly added to a chosen dataset is new to a re-sync, and a bad setting is a 400."""

from __future__ import annotations

import pytest
from tasks.models import Task

from ls_storage.aperturedb.models import ApertureDBImportStorage
from storage_api import create_storage, storage_body, sync

pytestmark = pytest.mark.django_db


def _in_dataset(images, dataset_class: str, name: str, uniqueids) -> None:
    query = [{"FindEntity": {"_ref": 1, "with_class": dataset_class, "constraints": {"name": ["==", name]}}}]
    for ref, uniqueid in enumerate(uniqueids, 2):
        query += [{"FindImage": {"_ref": ref, "constraints": {"_uniqueid": ["==", uniqueid]}}},
                  {"AddConnection": {"class": "DatasetImage", "src": 1, "dst": ref}}]
    images.query(query)


def _names(project_id: int) -> list[str]:
    return sorted(task.data["name"] for task in Task.objects.filter(project_id=project_id))


def test_the_images_of_a_chosen_dataset_become_tasks_and_newly_added_ones_are_new(business_client, project,
                                                                                   aperturedb, images):
    cls = f"Dataset_{images.tag}"
    images.query([{"AddEntity": {"class": cls, "properties": {"name": name}}} for name in ("a", "b")])
    one, two, three = (images.add(f"{n}.png", 8, 8) for n in (1, 2, 3))
    _in_dataset(images, cls, "a", [one, two])
    _in_dataset(images, cls, "b", [three])
    storage = create_storage(business_client, aperturedb, project["id"], constraints=images.constraints,
                             properties=["name"], connected_to={"class": cls, "constraints": ["$name", "==", "a"],
                                                                "connection_class": "DatasetImage"})

    first = sync(business_client, storage["id"])
    assert first["last_sync_count"] == 2 and _names(project["id"]) == ["1.png", "2.png"]

    _in_dataset(images, cls, "a", [three])  # an older image joins the dataset
    second = sync(business_client, storage["id"])

    assert second["meta"]["read_everything"] is False, second["meta"]
    assert second["last_sync_count"] == 1 and second["meta"]["tasks_existed"] == 2
    assert _names(project["id"]) == ["1.png", "2.png", "3.png"]
    third = sync(business_client, storage["id"])
    assert third["meta"]["read_everything"] is False and third["last_sync_count"] == 0


def test_a_malformed_connected_to_is_a_400_naming_it_and_nothing_is_saved(business_client, project, aperturedb):
    body = storage_body(aperturedb, project["id"], connected_to={"class": "Dataset", "direction": "sideways"})
    response = business_client.post("/api/storages/aperturedb/", data=body, content_type="application/json")
    assert response.status_code == 400 and "connected_to" in response.content.decode(), response.content
    assert "direction" in response.content.decode()
    assert not ApertureDBImportStorage.objects.filter(project_id=project["id"]).exists()

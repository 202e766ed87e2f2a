"""Image properties into task data with their types: numbers stay numbers, booleans booleans, dates become
ISO 8601 text; ``properties: ["*"]`` takes every property the images have."""

from __future__ import annotations

import datetime

import pytest
from tasks.models import Task

from storage_api import create_storage, sync

pytestmark = pytest.mark.django_db


def _data(project_id: int) -> dict[str, dict]:
    return {task.data["name"]: task.data for task in Task.objects.filter(project_id=project_id)}


def test_every_property_with_its_type_when_properties_is_a_star(business_client, project, aperturedb, images):
    images.add("a.png", 30, 20, count=3, ratio=0.25, good=True, camera="left",
               taken={"_date": "2024-05-01T10:30:00+00:00"})
    images.add("b.png", 30, 20, count=7, good=False)
    storage = create_storage(business_client, aperturedb, project["id"], constraints=images.constraints,
                             properties="*")

    assert sync(business_client, storage["id"])["last_sync_count"] == 2

    tasks = _data(project["id"])
    a, b = tasks["a.png"], tasks["b.png"]
    assert (a["count"], a["ratio"], a["good"], a["camera"]) == (3, 0.25, True, "left")
    assert type(a["count"]) is int and type(a["good"]) is bool and type(a["ratio"]) is float
    assert datetime.datetime.fromisoformat(a["taken"]) == datetime.datetime(2024, 5, 1, 10, 30,
                                                                            tzinfo=datetime.timezone.utc)
    assert (b["count"], b["good"]) == (7, False)
    assert "camera" not in b and "taken" not in b  # b has neither: no column value
    assert a["ls_test"] == images.tag and (a["adb_image_width"], a["adb_image_height"]) == (30, 20)
    assert not any(name.startswith("_") for name in a)


def test_the_properties_become_the_data_managers_data_columns(business_client, project, aperturedb, images):
    """Label Studio lists a project's data columns from its summary, which a bulk sync must keep up to date."""
    images.add("a.png", 10, 10, count=1, camera="left")
    images.add("b.png", 10, 10, count=2)
    storage = create_storage(business_client, aperturedb, project["id"], constraints=images.constraints,
                             properties="*")
    sync(business_client, storage["id"])
    columns = business_client.get(f"/api/dm/columns/?project={project['id']}").json()["columns"]
    data_columns = {column["id"] for column in columns if column.get("parent") == "data"}
    assert {"count", "camera", "name", "ls_test"} <= data_columns


def test_a_listed_date_property_becomes_iso_text(business_client, project, aperturedb, images):
    images.add("a.png", 10, 10, taken={"_date": "2023-01-02T03:04:05+00:00"})
    storage = create_storage(business_client, aperturedb, project["id"], constraints=images.constraints,
                             properties=["name", "taken"])
    sync(business_client, storage["id"])
    taken = _data(project["id"])["a.png"]["taken"]
    assert isinstance(taken, str)
    assert datetime.datetime.fromisoformat(taken) == datetime.datetime(2023, 1, 2, 3, 4, 5,
                                                                       tzinfo=datetime.timezone.utc)


def test_an_image_without_a_property_takes_its_default(business_client, project, aperturedb, images):
    images.add("a.png", 10, 10, camera="left", count=2)
    images.add("b.png", 10, 10)
    storage = create_storage(business_client, aperturedb, project["id"], constraints=images.constraints,
                             properties="*", property_defaults='{"camera": "unknown", "count": 0}')
    assert storage["property_defaults"] == {"camera": "unknown", "count": 0}
    sync(business_client, storage["id"])
    tasks = _data(project["id"])
    assert (tasks["a.png"]["camera"], tasks["a.png"]["count"]) == ("left", 2)
    assert (tasks["b.png"]["camera"], tasks["b.png"]["count"]) == ("unknown", 0)


@pytest.mark.parametrize("defaults, words", [
    ("[1]", "give an object"),
    ({"_uniqueid": "x"}, "not an image property name"),
    ({"camera": None}, "must be a number, text or true/false"),
    ("{camera: 1}", "not valid JSON"),
])
def test_bad_property_defaults_are_a_400_naming_the_field(business_client, project, aperturedb, defaults, words):
    from ls_storage.aperturedb.models import ApertureDBImportStorage
    from storage_api import storage_body

    response = business_client.post("/api/storages/aperturedb/", content_type="application/json",
                                    data=storage_body(aperturedb, project["id"], property_defaults=defaults))
    assert response.status_code == 400 and "property_defaults" in response.content.decode(), response.content
    assert words in response.content.decode()
    assert not ApertureDBImportStorage.objects.filter(project_id=project["id"]).exists()

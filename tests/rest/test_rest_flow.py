"""The source storage through a real Label Studio server on PostgreSQL, with Redis and an RQ worker."""

from __future__ import annotations

import base64
import time

import pytest

from services import label_studio, postgres, redis, rq_worker
from storage_api import storage_body

LABEL_CONFIG = """<View><Image name="image" value="$image"/>
<RectangleLabels name="label" toName="image"><Label value="cat"/><Label value="dog"/><Label value="a\\b &quot;é&quot;"/></RectangleLabels></View>"""


@pytest.fixture(scope="module")
def production(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("label-studio")
    with postgres() as database, redis() as redis_url:
        environment = {**database, "LS_STORAGE_REDIS_URL": redis_url}
        with label_studio(environment, data_dir) as client, rq_worker(environment, data_dir):
            yield client


def wait_for_sync(client, storage_id: int, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        storage = client.call("GET", f"/api/storages/aperturedb/{storage_id}")
        if storage["status"] in ("completed", "completed_with_errors", "failed"):
            return storage
        time.sleep(0.3)
    raise AssertionError(f"sync did not finish: {storage}")


def test_rest_sync_on_postgres_runs_in_an_rq_worker(production, aperturedb, aperturedb_images):
    images = aperturedb_images
    first = images.add("a.png", 200, 100, boxes=[((20, 10, 50, 25), "cat", {})])
    # What a sync copies into PostgreSQL verbatim: backslashes, quotes, tabs, newlines and non-ASCII.
    model_version = 'yolo\\v8\t"é"\nrun 2'
    second = images.add("b.png", 100, 100, boxes=[((1, 2, 3, 4), 'a\\b "é"', {"model_version": model_version,
                                                                             "score": 0.75})])
    project = production.call("POST", "/api/projects/", {"title": "REST", "label_config": LABEL_CONFIG})
    storage = production.call("POST", "/api/storages/aperturedb/",
                              storage_body(aperturedb, project["id"], constraints=images.constraints))

    started = time.monotonic()
    answer = production.call("POST", f"/api/storages/aperturedb/{storage['id']}/sync")
    answered_in = time.monotonic() - started
    synced = wait_for_sync(production, storage["id"])

    assert answer["status"] in ("queued", "in_progress", "completed") and answer["last_sync_job"], answer
    assert answered_in < 5
    assert synced["status"] == "completed" and synced["last_sync_count"] == 2, synced
    tasks = production.call("GET", f"/api/tasks/?project={project['id']}&fields=all")["tasks"]
    by_image = {task["storage_filename"]: task for task in tasks}  # the Data Manager's storage column
    assert len(by_image) == 2 and first in by_image
    task = by_image[first]
    prediction = task["predictions"][0]["result"][0]["value"]
    assert prediction["x"] == 10.0 and prediction["y"] == 10.0 and prediction["width"] == 25.0
    copied = by_image[second]["predictions"]
    assert [(p["model_version"], p["score"]) for p in copied] == [(model_version, 0.75)]
    assert copied[0]["result"][0]["value"]["rectanglelabels"] == ['a\\b "é"']
    raw = production.call("GET", f"/tasks/{task['id']}/resolve/?fileuri="
                          + base64.urlsafe_b64encode(f"aperturedb://{storage['id']}/{first}".encode()).decode())
    assert raw == images.blobs[first]

    production.call("POST", f"/api/storages/aperturedb/{storage['id']}/sync")
    again = wait_for_sync(production, storage["id"])
    assert again["last_sync_count"] == 0 and again["meta"]["tasks_existed"] == 2
    assert production.call("GET", f"/api/projects/{project['id']}/")["task_number"] == 2

    # The sync takes task ids from PostgreSQL's sequence: what is created next, the ordinary way, fits after.
    assert sorted(t["inner_id"] for t in tasks) == [1, 2] and all(t["created_at"] for t in tasks)
    production.call("POST", f"/api/projects/{project['id']}/import", [{"image": "https://example.com/c.png"}])
    ids = [t["id"] for t in production.call("GET", f"/api/tasks/?project={project['id']}")["tasks"]]
    assert len(set(ids)) == 3 and max(ids) not in {t["id"] for t in tasks}


def test_rest_annotations_reach_aperturedb_through_the_worker(production, aperturedb, aperturedb_images):
    from target_api import box

    images = aperturedb_images
    image = images.add("c.png", 200, 100)
    project = production.call("POST", "/api/projects/", {"title": "REST export", "label_config": LABEL_CONFIG})
    source = production.call("POST", "/api/storages/aperturedb/",
                             storage_body(aperturedb, project["id"], constraints=images.constraints))
    production.call("POST", f"/api/storages/aperturedb/{source['id']}/sync")
    wait_for_sync(production, source["id"])
    target = production.call("POST", "/api/storages/export/aperturedb",
                             storage_body(aperturedb, project["id"], can_delete_objects=True))
    (task,) = production.call("GET", f"/api/tasks/?project={project['id']}")["tasks"]
    result = [{**box("r1", 10, 20, 30, 40), "from_name": "label", "to_name": "image"}]

    started = time.monotonic()
    annotation = production.call("POST", f"/api/tasks/{task['id']}/annotations/", {"result": result})
    submit_seconds = time.monotonic() - started
    connector = aperturedb.connector()
    stored = wait_until_stored(connector, annotation["id"], present=True)

    assert submit_seconds < 5
    assert stored["boxes"]["r1"]["_coordinates"] == {"x": 20.0, "y": 20.0, "width": 60.0, "height": 40.0}
    assert stored["images"] == [image]
    production.call("DELETE", f"/api/annotations/{annotation['id']}/")
    wait_until_stored(connector, annotation["id"], present=False)
    storage = production.call("GET", f"/api/storages/export/aperturedb/{target['id']}")
    assert not storage["meta"].get("export_failures")


def wait_until_stored(connector, annotation_id: int, present: bool, timeout: float = 60):
    from target_api import stored_annotation

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stored = stored_annotation(connector, annotation_id)
        if (stored is not None) == present:
            return stored
        time.sleep(0.3)
    raise AssertionError(f"annotation {annotation_id} {'never reached' if present else 'stayed in'} ApertureDB")

"""The scheduler's pass in process, on Label Studio's own test fixtures and without Redis: runs inline, on a clock
the test moves (``run_due(now=...)``), so that minutes are minutes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from tasks.models import Task

from ls_storage.aperturedb.models import ApertureDBExportStorage, ApertureDBImportStorage
from ls_storage.aperturedb.scheduling import MAX_INTERVAL, run_due
from storage_api import create_project, create_storage, storage_body, update_storage

pytestmark = pytest.mark.django_db

LABEL_CONFIG = """<View><Image name="photo" value="$img"/>
<RectangleLabels name="box" toName="photo"><Label value="cat"/></RectangleLabels></View>"""
MINUTE = timedelta(minutes=1)


@pytest.fixture
def project(business_client):
    return create_project(business_client, "Scheduled", LABEL_CONFIG)


def actions(runs) -> dict:
    return {(type(run.storage).__name__, run.storage.id): run.action for run in runs}


def test_intervals_are_whole_minutes_up_to_a_year(business_client, project, aperturedb, aperturedb_images):
    for bad in (-1, 1.5, "often", MAX_INTERVAL + 1, None):
        body = storage_body(aperturedb, project["id"], constraints=aperturedb_images.constraints, sync_interval=bad)
        response = business_client.post("/api/storages/aperturedb/", data=body, content_type="application/json")
        assert response.status_code == 400, (bad, response.content)
        assert response.json()["validation_errors"]["sync_interval"][0].startswith("sync_interval: a whole number")
        body = storage_body(aperturedb, project["id"], export_interval=bad)
        response = business_client.post("/api/storages/export/aperturedb", data=body, content_type="application/json")
        assert response.status_code == 400, (bad, response.content)
        assert "export_interval" in response.json()["validation_errors"]
    assert not ApertureDBImportStorage.objects.exists() and not ApertureDBExportStorage.objects.exists()
    storage = create_storage(business_client, aperturedb, project["id"], sync_interval=2.0)
    assert storage["sync_interval"] == 2 and storage["meta"]["next_sync_at"] is None
    assert update_storage(business_client, storage["id"], sync_interval=MAX_INTERVAL)["sync_interval"] == MAX_INTERVAL
    response = business_client.patch(f"/api/storages/aperturedb/{storage['id']}", data={"next_sync_at": None},
                                      content_type="application/json")
    assert response.status_code == 200  # read-only: ignored


def test_due_syncs_and_exports_run_inline_once_per_interval(business_client, project, aperturedb, aperturedb_images):
    aperturedb_images.add("a.png", 20, 10, boxes=[((1, 1, 5, 5), "cat", {})])
    source = create_storage(business_client, aperturedb, project["id"], constraints=aperturedb_images.constraints,
                            sync_interval=1)
    off = create_storage(business_client, aperturedb, project["id"], constraints=aperturedb_images.constraints)
    response = business_client.post("/api/storages/export/aperturedb", content_type="application/json",
                                     data=storage_body(aperturedb, project["id"], export_interval=2))
    assert response.status_code == 201, response.content
    target = response.json()
    start = timezone.now()

    # First seen: scheduled one interval on, nothing run; the API shows when.
    assert actions(run_due(now=start)) == {("ApertureDBImportStorage", source["id"]): "scheduled",
                                           ("ApertureDBExportStorage", target["id"]): "scheduled"}
    shown = business_client.get(f"/api/storages/aperturedb/{source['id']}").json()
    assert shown["meta"]["next_sync_at"] == (start + MINUTE).isoformat() == shown["next_sync_at"].replace("Z", "+00:00")
    assert business_client.get(f"/api/storages/aperturedb/{off['id']}").json()["meta"]["next_sync_at"] is None
    assert run_due(now=start + 30 * MINUTE / 60) == []

    # Due: the sync runs in this process, within the pass.
    assert actions(run_due(now=start + MINUTE)) == {("ApertureDBImportStorage", source["id"]): "started"}
    synced = ApertureDBImportStorage.objects.get(id=source["id"])
    assert synced.status == "completed" and synced.last_sync_count == 1, synced.traceback
    assert Task.objects.filter(project_id=project["id"]).count() == 1
    assert synced.next_sync_at == start + 2 * MINUTE  # on the schedule, not from the moment it ran
    assert actions(run_due(now=start + 2 * MINUTE)) == {("ApertureDBImportStorage", source["id"]): "started",
                                                        ("ApertureDBExportStorage", target["id"]): "started"}
    exported = ApertureDBExportStorage.objects.get(id=target["id"])
    assert exported.status == "completed" and exported.next_sync_at == start + 4 * MINUTE

    # Down for an hour: one run each, the next an interval from now, not a burst of the missed ones.
    later = start + 60 * MINUTE
    assert len(run_due(now=later)) == 2
    assert ApertureDBImportStorage.objects.get(id=source["id"]).next_sync_at == later + MINUTE
    assert ApertureDBExportStorage.objects.get(id=target["id"]).next_sync_at == later + 2 * MINUTE
    assert run_due(now=later + MINUTE / 2) == []

    # A storage still syncing is not started again; the run is skipped and the schedule moves on.
    ApertureDBImportStorage.objects.filter(id=source["id"]).update(
        status="in_progress", meta={"time_in_progress": str(timezone.now()), "time_last_ping": str(timezone.now())})
    assert actions(run_due(now=later + MINUTE)) == {("ApertureDBImportStorage", source["id"]): "skipped"}
    busy = ApertureDBImportStorage.objects.get(id=source["id"])
    assert busy.status == "in_progress" and busy.next_sync_at == later + 2 * MINUTE

    # Interval 0: never runs, and shows no next run.
    update_storage(business_client, source["id"], sync_interval=0)
    assert actions(run_due(now=later + 100 * MINUTE)) == {("ApertureDBExportStorage", target["id"]): "started"}
    assert ApertureDBImportStorage.objects.get(id=source["id"]).next_sync_at is None
    assert ApertureDBImportStorage.objects.get(id=off["id"]).status == "initialized"


def test_a_changed_interval_is_scheduled_afresh(business_client, project, aperturedb):
    storage = create_storage(business_client, aperturedb, project["id"], sync_interval=600)
    run_due()
    far = ApertureDBImportStorage.objects.get(id=storage["id"]).next_sync_at
    assert far > timezone.now() + 500 * MINUTE
    update_storage(business_client, storage["id"], sync_interval=5)
    assert ApertureDBImportStorage.objects.get(id=storage["id"]).next_sync_at is None
    call_command("run_storage_scheduler", "--once")
    soon = ApertureDBImportStorage.objects.get(id=storage["id"]).next_sync_at
    assert timezone.now() + 4 * MINUTE < soon <= timezone.now() + 5 * MINUTE

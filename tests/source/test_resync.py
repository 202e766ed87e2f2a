"""Re-syncs read only what ApertureDB created since the last sync, and read everything when that cannot tell."""

from __future__ import annotations

import pytest
from tasks.models import Prediction, Task

from storage_api import create_storage, sync, update_storage

pytestmark = pytest.mark.django_db

BOX = ((10, 10, 10, 10), "cat", {})


def _move_box(images, uniqueid: str, x: float) -> None:
    """An edit in place: ApertureDB keeps no stamp of it."""
    images.query([{"FindImage": {"_ref": 1, "constraints": {"_uniqueid": ["==", uniqueid]}}},
                  {"FindBoundingBox": {"_ref": 2, "image_ref": 1}},
                  {"UpdateBoundingBox": {"ref": 2, "rectangle": {"x": x, "y": 10, "width": 10, "height": 10}}}])


def _box_x(project_id: int, uniqueid: str, storage_id: int) -> float:
    task = Task.objects.get(project_id=project_id, data__img=f"aperturedb://{storage_id}/{uniqueid}")
    (prediction,) = Prediction.objects.filter(task=task)
    return prediction.result[0]["value"]["x"]


def test_a_resync_reads_only_new_images_and_images_with_new_boxes(business_client, project, aperturedb, images):
    first, second = images.add("1.png", 100, 100, boxes=[BOX]), images.add("2.png", 100, 100, boxes=[BOX])
    storage = create_storage(business_client, aperturedb, project["id"], constraints=images.constraints)
    assert sync(business_client, storage["id"])["meta"]["read_everything"] is True
    _move_box(images, first, 50)  # not seen: no image or region was created
    images.query([{"FindImage": {"_ref": 1, "constraints": {"_uniqueid": ["==", second]}}},
                  {"AddBoundingBox": {"image_ref": 1, "rectangle": {"x": 70, "y": 0, "width": 5, "height": 5},
                                      "label": "dog"}}])
    third = images.add("3.png", 100, 100, boxes=[BOX])

    synced = sync(business_client, storage["id"])

    assert synced["meta"]["read_everything"] is False
    assert (synced["last_sync_count"], synced["meta"]["tasks_updated"], synced["meta"]["tasks_existed"]) == (1, 1, 2)
    assert _box_x(project["id"], first, storage["id"]) == 10.0
    (prediction,) = Prediction.objects.filter(task__data__img=f"aperturedb://{storage['id']}/{second}")
    assert sorted(r["value"]["rectanglelabels"][0] for r in prediction.result) == ["cat", "dog"]
    assert _box_x(project["id"], third, storage["id"]) == 10.0
    assert Task.objects.filter(project_id=project["id"]).count() == 3

    nothing = sync(business_client, storage["id"])
    assert nothing["meta"]["read_everything"] is False and nothing["last_sync_count"] == 0
    assert (nothing["meta"]["tasks_updated"], nothing["meta"]["tasks_existed"]) == (0, 3)


def test_recheck_images_reads_everything_and_notices_edits_in_place(business_client, project, aperturedb, images):
    uniqueid = images.add("1.png", 100, 100, boxes=[BOX])
    storage = create_storage(business_client, aperturedb, project["id"], constraints=images.constraints)
    sync(business_client, storage["id"])
    _move_box(images, uniqueid, 50)
    update_storage(business_client, storage["id"], recheck_images=True)

    synced = sync(business_client, storage["id"])

    assert synced["meta"]["read_everything"] is True and synced["meta"]["tasks_updated"] == 1
    assert _box_x(project["id"], uniqueid, storage["id"]) == 50.0


def test_regions_written_by_a_target_storage_do_not_make_their_image_read_again(business_client, project,
                                                                                 aperturedb, images):
    uniqueid = images.add("1.png", 100, 100, boxes=[BOX])
    storage = create_storage(business_client, aperturedb, project["id"], constraints=images.constraints)
    sync(business_client, storage["id"])
    images.query([{"FindImage": {"_ref": 1, "constraints": {"_uniqueid": ["==", uniqueid]}}},
                  {"AddBoundingBox": {"image_ref": 1, "rectangle": {"x": 1, "y": 1, "width": 5, "height": 5},
                                      "label": "dog", "properties": {"LS_annotation_id": 12345}}}])

    synced = sync(business_client, storage["id"])

    assert synced["meta"]["read_everything"] is False
    assert (synced["meta"]["tasks_updated"], synced["meta"]["tasks_existed"]) == (0, 1)


@pytest.mark.parametrize("change", ["image deleted", "image stops matching", "task deleted", "constraints",
                                    "label config", "limit"])
def test_whatever_counts_or_settings_cannot_explain_makes_the_sync_read_everything(business_client, project,
                                                                                   aperturedb, images, change):
    kept, other = images.add("kept.png", 100, 100, boxes=[BOX], split="a"), images.add("other.png", 100, 100, split="a")
    storage = create_storage(business_client, aperturedb, project["id"], constraints=images.constraints,
                             remove_missing_tasks=True)
    sync(business_client, storage["id"])
    _move_box(images, kept, 50)
    expected_tasks = 2
    if change == "image deleted":
        images.query([{"DeleteImage": {"constraints": {"_uniqueid": ["==", other]}}}])
        expected_tasks = 1
    elif change == "image stops matching":
        update_storage(business_client, storage["id"])  # nothing changes in the settings themselves
        images.query([{"UpdateImage": {"constraints": {"_uniqueid": ["==", other]},
                                       "remove_props": ["ls_test"]}}])
        expected_tasks = 1
    elif change == "task deleted":
        Task.objects.filter(project_id=project["id"], data__img=f"aperturedb://{storage['id']}/{other}").delete()
    elif change == "constraints":
        update_storage(business_client, storage["id"], constraints={**images.constraints, "split": ["==", "a"]})
    elif change == "label config":
        response = business_client.patch(f"/api/projects/{project['id']}", content_type="application/json", data={
            "label_config": project["label_config"].replace('<Label value="dog"/>', '<Label value="bird"/>', 1)})
        assert response.status_code == 200, response.content
    elif change == "limit":
        update_storage(business_client, storage["id"], limit=5)
        assert sync(business_client, storage["id"])["meta"]["read_everything"] is True
        _move_box(images, kept, 60)

    synced = sync(business_client, storage["id"])

    assert synced["meta"]["read_everything"] is True
    assert Task.objects.filter(project_id=project["id"]).count() == expected_tasks
    assert _box_x(project["id"], kept, storage["id"]) == (60.0 if change == "limit" else 50.0)


def test_images_that_gained_boxes_are_read_again_in_chunks(business_client, project, aperturedb, images, monkeypatch):
    monkeypatch.setattr("ls_storage.aperturedb.sync.PAGE_SIZE", 2)
    added = [images.add(f"{i}.png", 100, 100) for i in range(5)]
    storage = create_storage(business_client, aperturedb, project["id"], constraints=images.constraints)
    sync(business_client, storage["id"])
    images.query([command for ref, uniqueid in enumerate(added, start=1) for command in (
        {"FindImage": {"_ref": ref, "constraints": {"_uniqueid": ["==", uniqueid]}}},
        {"AddBoundingBox": {"image_ref": ref, "rectangle": {"x": 10, "y": 10, "width": 10, "height": 10},
                            "label": "cat"}})])

    synced = sync(business_client, storage["id"])

    assert synced["meta"]["read_everything"] is False and synced["meta"]["tasks_updated"] == 5
    assert [_box_x(project["id"], uniqueid, storage["id"]) for uniqueid in added] == [10.0] * 5


def test_overlap_is_arranged_when_tasks_are_added_and_a_sync_that_adds_none_leaves_it(
        business_client, project, aperturedb, images, monkeypatch):
    """Label Studio arranges the overlap cohort after tasks are added; a sync that changes no task spares it the
    work (on Redis, a job that would hold up the worker's next sync)."""
    from projects.models import Project

    Project.objects.filter(id=project["id"]).update(maximum_annotations=2, overlap_cohort_percentage=50)
    for name in ("1.png", "2.png", "3.png", "4.png"):
        images.add(name, 100, 100, boxes=[BOX])
    storage = create_storage(business_client, aperturedb, project["id"], constraints=images.constraints)
    sync(business_client, storage["id"])
    assert sorted(Task.objects.filter(project_id=project["id"]).values_list("overlap", flat=True)) == [1, 1, 2, 2]

    arranged = []
    update = Project.update_tasks_states
    monkeypatch.setattr(Project, "update_tasks_states", lambda self, *a, **k: arranged.append(k) or update(self, *a, **k))
    assert sync(business_client, storage["id"])["last_sync_count"] == 0
    assert arranged == []
    images.add("5.png", 100, 100, boxes=[BOX])
    assert sync(business_client, storage["id"])["last_sync_count"] == 1
    assert [k["tasks_number_changed"] for k in arranged] == [True]


def test_a_sync_reads_its_pages_on_the_connector_it_is_logged_in_with(business_client, project,
                                                                       aperturedb_test_server):
    from ls_storage.testing.fixtures import TaggedImages

    images = TaggedImages(aperturedb_test_server)
    images.add("1.png", 100, 100, boxes=[BOX])
    storage = create_storage(business_client, aperturedb_test_server, project["id"], constraints=images.constraints)
    sync(business_client, storage["id"])
    images.add("2.png", 100, 100, boxes=[BOX])
    accounts = aperturedb_test_server.server.accounts
    logins = accounts.sessions_opened

    synced = sync(business_client, storage["id"])  # pages read in a thread of their own

    assert synced["last_sync_count"] == 1 and synced["meta"]["read_everything"] is False
    # One login: Label Studio's sync endpoint checks the connection on a connector of its own first.
    assert accounts.sessions_opened == logins + 1

"""Export only what changed (issue #22, item 5): a target Sync after a complete one writes the annotations created,
updated or deleted since, and a Sync overlapping automatic exports neither loses their pending state nor writes an
older version over theirs (issue #21).

Each annotation's ``LS_revision`` in ApertureDB counts its writes, so a test sees exactly which ones a Sync wrote.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.apps import apps
from ls_storage.aperturedb import models
from ls_storage.aperturedb.export import annotations_pending, export_annotation
from ls_storage.aperturedb.models import ApertureDBExportStorage, ApertureDBExportStorageLink
from ls_storage.client.connection import QueryFailed
from ls_storage.testing.fixtures import TaggedImages
from tasks.models import Annotation

from target_api import box, create_target, stored_annotation, synced_tasks

pytestmark = pytest.mark.django_db


@pytest.fixture
def transport() -> str:
    """What a Sync writes is decided before any transport: TCP alone (tests/target covers REST's writes)."""
    return "tcp"


class Target:
    """A project of ``count`` synced tasks with an annotation each, exported automatically to a target that deletes
    too (created through the API: Label Studio's Sync on creation is the complete one)."""

    def __init__(self, client, address, project_id: int, capture, count: int = 4, **fields):
        self.client, self.address, self.capture = client, address, capture
        self.tasks = synced_tasks(client, address, TaggedImages(address), project_id, count=count)
        self.id = create_target(client, address, project_id, can_delete_objects=True, **fields)["id"]
        self.annotations = [self.annotate(task_id, [box("b", 1 + n, 1, 5, 5)]) for n, task_id in enumerate(self.tasks)]
        self.url = f"/api/storages/export/aperturedb/{self.id}"

    def annotate(self, task_id: int, result: list) -> int:
        with self.capture(execute=True):
            response = self.client.post(f"/api/tasks/{task_id}/annotations/", data={"result": result},
                                        content_type="application/json")
        assert response.status_code == 201, response.content
        return response.json()["id"]

    def update(self, annotation_id: int, result: list) -> None:
        with self.capture(execute=True):
            response = self.client.patch(f"/api/annotations/{annotation_id}/", data={"result": result},
                                         content_type="application/json")
        assert response.status_code == 200, response.content

    def delete(self, annotation_id: int) -> None:
        with self.capture(execute=True):
            assert self.client.delete(f"/api/annotations/{annotation_id}/").status_code == 204

    def change(self, **fields) -> dict:
        response = self.client.patch(self.url, data=fields, content_type="application/json")
        assert response.status_code == 200, response.content
        return response.json()

    def sync(self) -> dict:
        response = self.client.post(f"{self.url}/sync")
        assert response.status_code == 200, response.content
        return self.client.get(self.url).json()

    def revisions(self) -> dict[int, int | None]:
        """Each annotation's LS_revision in ApertureDB (None: not there)."""
        connector = self.address.connector()
        return {annotation_id: (stored or {}).get("entity", {}).get("LS_revision")
                for annotation_id in self.annotations
                for stored in [stored_annotation(connector, annotation_id)]}

    def storage(self) -> ApertureDBExportStorage:
        return ApertureDBExportStorage.objects.get(id=self.id)


@pytest.fixture
def target(business_client, project, aperturedb_test_server, django_capture_on_commit_callbacks):
    made = Target(business_client, aperturedb_test_server, project["id"], django_capture_on_commit_callbacks)
    assert made.storage().meta["wrote_everything"] is True  # the Sync on creation
    assert made.revisions() == dict.fromkeys(made.annotations, 1)
    return made


def test_a_sync_after_a_complete_one_writes_only_what_changed_and_the_deletions_left(target, aperturedb_test_server):
    unchanged = target.sync()
    assert unchanged["status"] == "completed" and unchanged["last_sync_count"] == 0, unchanged
    assert unchanged["meta"]["wrote_everything"] is False and unchanged["meta"]["export_pending"] is False
    assert target.revisions() == dict.fromkeys(target.annotations, 1)

    first, second, third, fourth = target.annotations
    target.update(first, [box("b", 30, 30, 5, 5)])  # exported automatically: nothing left for the Sync
    aperturedb_test_server.server.stop()
    target.update(second, [box("b", 40, 40, 5, 5), box("c", 50, 50, 5, 5)])
    target.delete(third)
    added = target.annotate(target.tasks[2], [box("new", 9, 9, 5, 5)])
    aperturedb_test_server.server.start()
    assert target.storage().pending_deletions == [third]
    assert target.client.get(target.url).json()["meta"]["export_pending"] is True

    synced = target.sync()

    assert synced["status"] == "completed" and synced["last_sync_count"] == 2, synced  # the update and the new one
    assert synced["meta"]["export_pending"] is False and synced["pending_deletions"] == []
    target.annotations.append(added)
    assert target.revisions() == {first: 2, second: 2, third: None, fourth: 1, added: 1}
    stored = stored_annotation(aperturedb_test_server.connector(), second)
    assert set(stored["boxes"]) == {"b", "c"}


def test_full_export_writes_every_annotation_once_and_turns_itself_off(target):
    assert target.change(full_export=True)["full_export"] is True

    synced = target.sync()

    assert synced["last_sync_count"] == 4 and synced["meta"]["wrote_everything"] is True, synced
    assert synced["full_export"] is False
    assert target.revisions() == dict.fromkeys(target.annotations, 2)
    assert target.sync()["last_sync_count"] == 0
    assert target.revisions() == dict.fromkeys(target.annotations, 2)


NEW_CONFIG = """
<View>
  <Image name="photo" value="$img"/>
  <RectangleLabels name="box" toName="photo"><Label value="cat"/><Label value="dog"/></RectangleLabels>
  <Choices name="weather" toName="photo"><Choice value="sunny"/><Choice value="rainy"/></Choices>
</View>
"""


@pytest.mark.parametrize("change, everything", [
    ({"label_version": "3.0.0"}, True),
    ({"image_properties": {"scene": "scene"}}, True),
    ({"title": "renamed storage", "can_delete_objects": False, "export_interval": 60}, False),
])
def test_settings_every_annotation_carries_make_the_next_sync_write_everything(target, change, everything):
    target.change(**change)

    synced = target.sync()

    assert synced["meta"]["wrote_everything"] is everything, synced
    assert synced["last_sync_count"] == (4 if everything else 0)
    assert target.revisions() == dict.fromkeys(target.annotations, 2 if everything else 1)


@pytest.mark.parametrize("project_change, everything", [
    ({"title": "Renamed project"}, True),  # LS_project_title
    ({"label_config": NEW_CONFIG}, True),  # another value control: its property on every annotation
    ({"description": "only described"}, False),
])
def test_project_changes_every_annotation_carries_make_the_next_sync_write_everything(target, project, project_change,
                                                                                     everything):
    response = target.client.patch(f"/api/projects/{project['id']}/", data=project_change,
                                   content_type="application/json")
    assert response.status_code == 200, response.content

    synced = target.sync()

    assert synced["meta"]["wrote_everything"] is everything and synced["last_sync_count"] == (4 if everything else 0)


def test_a_sync_that_stops_part_way_leaves_exactly_the_rest_to_the_next(target, aperturedb_test_server, monkeypatch):
    target.change(label_version="2.0.0")  # the next Sync writes every annotation
    # One writer, two annotations a transaction: the writes go in annotation order.
    monkeypatch.setattr(ApertureDBExportStorage, "max_workers", 1)
    monkeypatch.setattr(models, "ANNOTATIONS_PER_TRANSACTION", 2)
    write = ApertureDBExportStorage.write

    def stop_at_the_third(self, items, value_properties):
        if target.annotations[2] in {item.annotation_id for item in items}:
            aperturedb_test_server.server.stop()
        return write(self, items, value_properties)

    monkeypatch.setattr(ApertureDBExportStorage, "write", stop_at_the_third)
    stopped = target.sync()
    monkeypatch.setattr(ApertureDBExportStorage, "write", write)
    aperturedb_test_server.server.start()

    assert stopped["status"] == "completed_with_errors" and stopped["last_sync_count"] == 2, stopped
    assert stopped["meta"]["export_pending"] is True
    first, second, third, fourth = target.annotations
    assert target.revisions() == {first: 2, second: 2, third: 1, fourth: 1}

    resumed = target.sync()

    assert resumed["status"] == "completed" and resumed["last_sync_count"] == 2, resumed
    assert resumed["meta"]["wrote_everything"] is False and resumed["meta"]["export_pending"] is False
    assert target.revisions() == dict.fromkeys(target.annotations, 2)
    connector = aperturedb_test_server.connector()
    assert {stored_annotation(connector, a)["entity"].get("LS_label_version") for a in target.annotations} == {"2.0.0"}


def test_an_update_saved_with_a_clock_behind_the_last_version_is_still_written(target, aperturedb_test_server):
    first = target.annotations[0]
    earlier = Annotation.objects.get(id=first).updated_at - timedelta(hours=1)
    # Another web server, whose clock is an hour behind, saved this version (no signal: no automatic export).
    Annotation.objects.filter(id=first).update(result=[box("late", 60, 60, 5, 5)], updated_at=earlier)

    synced = target.sync()

    assert synced["last_sync_count"] == 1, synced
    assert set(stored_annotation(aperturedb_test_server.connector(), first)["boxes"]) == {"late"}


def when_the_sync_prepares(monkeypatch, overlap) -> None:
    """``overlap()`` runs once, when the Sync has read its first batch of annotations and before it prepares and
    writes them: what happens then in Label Studio is newer than what the Sync writes."""
    prepare_many = ApertureDBExportStorage.prepare_many
    pending = [overlap]

    def overlapped(self, annotations):
        if pending:
            pending.pop()()
        return prepare_many(self, annotations)

    monkeypatch.setattr(ApertureDBExportStorage, "prepare_many", overlapped)


def test_a_sync_that_wrote_an_older_version_after_the_newer_export_writes_the_newer_again(
        target, monkeypatch, aperturedb_test_server):
    first = target.annotations[0]
    newer = [box("v2", 70, 70, 5, 5), box("v2b", 80, 80, 5, 5)]

    def update_and_export():  # an update whose automatic export ends before the Sync writes the version it read
        annotation = Annotation.objects.get(id=first)
        annotation.result = newer
        annotation.save(update_fields=["result", "updated_at"])
        export_annotation(target.id, first)
        assert set(stored_annotation(aperturedb_test_server.connector(), first)["boxes"]) == {"v2", "v2b"}

    target.change(full_export=True)
    when_the_sync_prepares(monkeypatch, update_and_export)
    synced = target.sync()

    assert synced["status"] == "completed", synced
    stored = stored_annotation(aperturedb_test_server.connector(), first)
    assert stored["data"]["result"] == newer and set(stored["boxes"]) == {"v2", "v2b"}
    assert synced["meta"]["export_pending"] is False
    assert not annotations_pending(target.storage()).exists()


def test_an_annotation_deleted_while_the_sync_wrote_it_is_not_left_in_aperturedb(
        target, monkeypatch, aperturedb_test_server):
    first = target.annotations[0]

    def delete():  # a deletion whose removal from ApertureDB ran before the Sync's write
        Annotation.objects.filter(id=first).delete()
        target.storage().delete_annotation_by_id(first)

    target.change(full_export=True)
    when_the_sync_prepares(monkeypatch, delete)
    synced = target.sync()

    assert synced["status"] == "completed" and synced["last_sync_count"] == 3, synced
    assert stored_annotation(aperturedb_test_server.connector(), first) is None


def test_a_sync_while_an_automatic_export_fails_keeps_it_pending_and_counted(target, monkeypatch,
                                                                          aperturedb_test_server):
    first, second = target.annotations[:2]
    write = ApertureDBExportStorage.write
    refused: set[int] = set()

    def refusing(self, items, value_properties):
        if refused & {item.annotation_id for item in items}:
            raise QueryFailed("refused by the test")
        return write(self, items, value_properties)

    monkeypatch.setattr(ApertureDBExportStorage, "write", refusing)

    def failing_export():  # an update whose automatic export fails while the Sync runs
        refused.add(second)
        annotation = Annotation.objects.get(id=second)
        annotation.result = [box("late", 90, 90, 5, 5)]
        annotation.save(update_fields=["result", "updated_at"])
        export_annotation(target.id, second)
        refused.clear()

    refused.add(first)
    target.update(first, [box("b", 11, 11, 5, 5)])  # its export fails: the Sync writes it
    refused.clear()
    when_the_sync_prepares(monkeypatch, failing_export)
    synced = target.sync()

    # Label Studio saved the Sync's status from the meta it read before the export failed.
    assert synced["status"] == "completed" and synced["last_sync_count"] == 1, synced
    assert synced["meta"]["export_pending"] is True and synced["meta"]["export_failures"] == 1, synced["meta"]
    assert f"export of annotation {second} failed" in synced["meta"]["last_export_error"]
    assert target.storage().meta["export_pending"] is True

    again = target.sync()

    assert again["last_sync_count"] == 1 and again["meta"]["export_pending"] is False, again
    assert set(stored_annotation(aperturedb_test_server.connector(), second)["boxes"]) == {"late"}


def test_the_migration_takes_links_written_after_the_last_update_as_holding_that_version(target):
    from importlib import import_module

    migration = import_module("ls_storage.aperturedb.migrations.0012_incremental_export")
    first, second = target.annotations[:2]
    links = ApertureDBExportStorageLink.objects.filter(storage_id=target.id)
    links.update(annotation_updated_at=None)
    # Before the migration, a link updated before its annotation's last update said: to be written again.
    stale = Annotation.objects.get(id=second).updated_at - timedelta(seconds=1)
    links.filter(annotation_id=second).update(updated_at=stale)

    migration.versions_of_written_links(apps, None)

    versions = dict(links.values_list("annotation_id", "annotation_updated_at"))
    assert versions[first] == Annotation.objects.get(id=first).updated_at and versions[second] is None
    assert list(annotations_pending(target.storage()).values_list("id", flat=True)) == [second]

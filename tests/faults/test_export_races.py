"""Exports of one annotation that overlap: the one that read an older version may end last.

Two workers export a submit and the update that follows it; ApertureDB must end with the last version whichever
write lands last, and an annotation deleted while its export was writing must not stay behind. Here the overlap is
made exact: the annotation changes (or goes) in the database while an export writes the version it read.
"""

from __future__ import annotations

import pytest
from ls_storage.aperturedb.export import export_annotation
from ls_storage.aperturedb.models import ApertureDBExportStorage
from ls_storage.testing.fixtures import TaggedImages
from tasks.models import Annotation

from storage_api import create_project
from target_api import box, create_target, stored_annotation, synced_tasks

pytestmark = pytest.mark.django_db
LABEL_CONFIG = """<View><Image name="photo" value="$img"/>
<RectangleLabels name="box" toName="photo"><Label value="cat"/><Label value="dog"/></RectangleLabels></View>"""


@pytest.fixture
def exported(business_client, aperturedb_test_server, monkeypatch, django_capture_on_commit_callbacks):
    """A task's annotation, exported; (target storage, annotation id)."""
    monkeypatch.setenv("LS_STORAGE_EXPORT_THREADS", "0")
    project = create_project(business_client, "Overlapping exports", LABEL_CONFIG)
    (task_id,) = synced_tasks(business_client, aperturedb_test_server, TaggedImages(aperturedb_test_server),
                              project["id"])
    target = create_target(business_client, aperturedb_test_server, project["id"], can_delete_objects=True)
    with django_capture_on_commit_callbacks(execute=True):
        response = business_client.post(f"/api/tasks/{task_id}/annotations/", data={"result": [box("v1", 1, 1, 5, 5)]},
                                        content_type="application/json")
    assert response.status_code == 201, response.content
    return ApertureDBExportStorage.objects.get(id=target["id"]), response.json()["id"]


def while_writing(monkeypatch, change) -> None:
    """``change()`` commits in the database while the next export writes, before its write reaches ApertureDB."""
    write = ApertureDBExportStorage.write
    pending = [change]

    def overlapped(self, items, value_properties):
        if pending:
            pending.pop()()
        return write(self, items, value_properties)

    monkeypatch.setattr(ApertureDBExportStorage, "write", overlapped)


def test_an_export_that_wrote_an_older_version_last_writes_the_last_one_again(exported, monkeypatch,
                                                                                aperturedb_test_server):
    storage, annotation_id = exported
    annotation = Annotation.objects.get(id=annotation_id)
    newer = [box("v2", 10, 10, 5, 5), box("v2b", 20, 20, 5, 5)]

    def update():  # an update whose own export ended before this one's write
        annotation.result = newer
        annotation.save(update_fields=["result", "updated_at"])

    while_writing(monkeypatch, update)
    export_annotation(storage.id, annotation_id)

    stored = stored_annotation(aperturedb_test_server.connector(), annotation_id)
    assert stored["data"]["result"] == newer and set(stored["boxes"]) == {"v2", "v2b"}
    assert not ApertureDBExportStorage.objects.get(id=storage.id).meta.get("export_failures")


def test_an_annotation_deleted_while_its_export_wrote_is_not_left_in_aperturedb(exported, monkeypatch,
                                                                                 aperturedb_test_server):
    storage, annotation_id = exported
    connector = aperturedb_test_server.connector()
    assert stored_annotation(connector, annotation_id) is not None

    def delete():  # a deletion whose removal from ApertureDB ran before this export's write
        Annotation.objects.filter(id=annotation_id).delete()
        ApertureDBExportStorage.objects.get(id=storage.id).delete_annotation_by_id(annotation_id)

    while_writing(monkeypatch, delete)
    export_annotation(storage.id, annotation_id)

    assert stored_annotation(connector, annotation_id) is None

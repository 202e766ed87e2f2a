"""Writing back never gets in the annotator's way, survives ApertureDB outages and concurrent saves."""

from __future__ import annotations

import random
import threading

import pytest
from ls_storage.aperturedb.models import ApertureDBExportStorage
from ls_storage.client import target
from ls_storage.client.target import AnnotationWrite, write_annotations
from ls_storage.conversion.annotations import results_to_objects
from ls_storage.testing.fixtures import TaggedImages

from storage_api import storage_body
from target_api import box, create_target, polygon, stored_annotation, sync, synced_tasks

pytestmark = pytest.mark.django_db


def submit(client, task_id: int, result: list, capture) -> int:
    with capture(execute=True):
        response = client.post(f"/api/tasks/{task_id}/annotations/", data={"result": result},
                               content_type="application/json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def test_check_connection_proves_the_target_is_writable(business_client, project, aperturedb_test_server):
    aperturedb_test_server.server.accounts.add_user("reader", "reader-password", read_only=True)
    reader = storage_body(aperturedb_test_server, project["id"], username="reader", password="reader-password")

    refused = business_client.post("/api/storages/export/aperturedb/validate", data=reader,
                                   content_type="application/json")
    as_source = business_client.post("/api/storages/aperturedb/validate", data=reader, content_type="application/json")
    writer = business_client.post("/api/storages/export/aperturedb/validate",
                                  data=storage_body(aperturedb_test_server, project["id"]),
                                  content_type="application/json")

    assert refused.status_code == 400 and "cannot write" in refused.content.decode()
    assert "username" in refused.json().get("validation_errors", refused.json())
    assert as_source.status_code == 200 and writer.status_code == 200
    answer, _ = aperturedb_test_server.connector().query([{"FindEntity": {"with_class": "LS_storage_probe",
                                                                          "results": {"count": True}}}])
    assert answer[0]["FindEntity"]["count"] == 0


def test_submits_succeed_while_aperturedb_is_down_and_reach_it_after_restart(
        business_client, project, aperturedb_test_server, django_capture_on_commit_callbacks):
    images = TaggedImages(aperturedb_test_server)
    task_ids = synced_tasks(business_client, aperturedb_test_server, images, project["id"], count=4)
    target = create_target(business_client, aperturedb_test_server, project["id"])
    server = aperturedb_test_server.server

    server.stop()
    offline = [submit(business_client, t, [box("b", 1, 1, 5, 5)], django_capture_on_commit_callbacks)
               for t in task_ids[:3]]
    storage = ApertureDBExportStorage.objects.get(id=target["id"])
    assert storage.meta["export_failures"] == 3 and storage.meta["export_pending"] is True
    assert "export of annotation" in storage.meta["last_export_error"]

    server.start()
    online = submit(business_client, task_ids[3], [box("b", 2, 2, 5, 5)], django_capture_on_commit_callbacks)

    connector = aperturedb_test_server.connector()
    for annotation_id in offline + [online]:
        assert stored_annotation(connector, annotation_id) is not None, annotation_id
    assert ApertureDBExportStorage.objects.get(id=target["id"]).meta["export_pending"] is False


def test_a_sync_writes_what_failed_while_aperturedb_was_down(business_client, project, aperturedb_test_server,
                                                            django_capture_on_commit_callbacks):
    images = TaggedImages(aperturedb_test_server)
    task_ids = synced_tasks(business_client, aperturedb_test_server, images, project["id"], count=2)
    target = create_target(business_client, aperturedb_test_server, project["id"])
    aperturedb_test_server.server.stop()
    offline = [submit(business_client, t, [box("b", 1, 1, 5, 5)], django_capture_on_commit_callbacks) for t in task_ids]
    aperturedb_test_server.server.start()

    response = business_client.post(f"/api/storages/export/aperturedb/{target['id']}/sync")

    assert response.status_code == 200, response.content
    connector = aperturedb_test_server.connector()
    assert all(stored_annotation(connector, a) is not None for a in offline)
    synced = ApertureDBExportStorage.objects.get(id=target["id"])
    assert synced.status == "completed" and synced.last_sync_count == 2 and synced.meta["export_pending"] is False


def version(number: int) -> list[dict]:
    """One of several complete versions of an annotation: its boxes and polygons say which."""
    rng = random.Random(number)
    boxes = [box(f"b{i}", number, i, 5, 5) for i in range(rng.randint(1, 4))]
    polygons = [polygon(f"p{i}", [[number, 0], [number + 1, 0], [number, 1]]) for i in range(rng.randint(0, 3))]
    return boxes + polygons


def test_sixteen_threads_saving_the_same_annotations_leave_each_in_one_complete_version(aperturedb):
    images = TaggedImages(aperturedb)
    image = images.add("shared.png", 200, 100)
    annotation_ids = [10_000_000 + random.randrange(10**6) * 10 + i for i in range(4)]

    def save_many(thread: int, connector, rng: random.Random) -> None:
        for step in range(6):
            # One annotation per transaction, as a save sends, or two, as a Sync sends several.
            group = [annotation_ids[(thread + step + k) % len(annotation_ids)] for k in range(1 + step % 2)]
            write_annotations(connector, [written(rng.randrange(1, 50), annotation_id, image)
                                          for annotation_id in group])

    assert in_threads(aperturedb, 16, save_many) == []
    connector = aperturedb.connector()
    for annotation_id in annotation_ids:
        stored = stored_annotation(connector, annotation_id)  # asserts a single entity
        assert stored is not None, annotation_id
        assert_holds_version(connector, annotation_id, stored["entity"]["LS_version"])


def in_threads(aperturedb, count: int, work) -> list[Exception]:
    """``work(thread, connector, rng)`` in ``count`` threads started together, each with its own connector and
    random numbers; the errors they raised."""
    errors = []
    start = threading.Barrier(count)

    def run(thread: int) -> None:
        connector = aperturedb.connector()
        start.wait()
        try:
            work(thread, connector, random.Random(thread))
        except Exception as error:  # noqa: BLE001 - reported to the test
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def assert_holds_version(connector, annotation_id: int, number: int) -> None:
    """ApertureDB holds exactly :func:`version` ``number`` of the annotation: no region of another, no duplicate."""
    stored = stored_annotation(connector, annotation_id)
    assert stored["entity"]["LS_version"] == number
    expected = version(number)
    assert sorted(stored["boxes"]) == sorted(r["id"] for r in expected if r["type"] == "rectanglelabels")
    assert sorted(stored["polygons"]) == sorted(r["id"] for r in expected if r["type"] == "polygonlabels")
    assert all(b["_coordinates"]["x"] == number * 2 for b in stored["boxes"].values())
    assert all(p["_vertices"][0][0][0] == number * 2 for p in stored["polygons"].values())
    answer, _ = connector.query([{"FindBoundingBox": {"constraints": {"LS_annotation_id": ["==", annotation_id]},
                                                      "results": {"count": True}}}])
    assert answer[0]["FindBoundingBox"]["count"] == len(stored["boxes"])  # no orphaned duplicates


def written(number: int, annotation_id: int, image: str) -> AnnotationWrite:
    return AnnotationWrite(annotation_id, image, {"LS_version": number}, results_to_objects(version(number), None, None))


def test_an_annotation_added_by_another_writer_after_the_look_up_is_rewritten_in_place(aperturedb, monkeypatch):
    image = TaggedImages(aperturedb).add("raced.png", 200, 100)
    annotation_id = 20_000_000 + random.randrange(10**6)
    connector = aperturedb.connector()
    # The other writer's version has regions the new one lacks, so that a mix of the two would show.
    old, new = next((a, b) for a in range(1, 50) for b in range(1, 50)
                    if {r["id"] for r in version(a)} > {r["id"] for r in version(b)})
    write_annotations(connector, [written(old, annotation_id, image)])
    # The first look-up answered before the other writer's transaction: the annotation seemed new.
    looked_up = first_look_up_answers(monkeypatch, {})

    write_annotations(connector, [written(new, annotation_id, image)])

    assert_holds_version(connector, annotation_id, new)
    assert len(looked_up) == 2  # sent again once, with the revision read
    assert stored_annotation(connector, annotation_id)["entity"]["LS_revision"] == 2


def first_look_up_answers(monkeypatch, revisions: dict) -> list:
    """The first look-up of stored annotations answers ``revisions``, the later ones ApertureDB; the look-ups made."""
    looked_up = []
    look_up = target.stored_revisions
    monkeypatch.setattr(target, "stored_revisions", lambda connector, ids: look_up(connector, ids)
                        if looked_up.append(ids) or len(looked_up) > 1 else revisions)
    return looked_up


def test_a_new_annotation_is_only_added_and_a_stored_one_rewritten_in_place(aperturedb):
    image = TaggedImages(aperturedb).add("commands.png", 200, 100)
    annotation_id = 30_000_000 + random.randrange(10**6)
    connector = aperturedb.connector()
    sent = []
    query = connector.query
    connector.query = lambda commands, blobs=(): sent.append(len(commands)) or query(commands, blobs)
    five_boxes = AnnotationWrite(annotation_id, image, {"LS_version": 1},
                                 results_to_objects([box(f"b{i}", i, i, 5, 5) for i in range(5)], None, None))

    write_annotations(connector, [five_boxes])
    write_annotations(connector, [five_boxes])

    # The look-up, then: its image, the annotation and one add per box; then the same with an update each,
    # the compare-and-set of its revision and one delete per region kind.
    assert sent == [1, 7, 1, 18]
    assert len(stored_annotation(connector, annotation_id)["boxes"]) == 5


def test_a_deletion_missed_while_aperturedb_was_down_happens_on_the_next_sync(
        business_client, project, aperturedb_test_server, django_capture_on_commit_callbacks):
    images = TaggedImages(aperturedb_test_server)
    (task_id,) = synced_tasks(business_client, aperturedb_test_server, images, project["id"])
    target = create_target(business_client, aperturedb_test_server, project["id"], can_delete_objects=True)
    annotation_id = submit(business_client, task_id, [box("b", 1, 1, 5, 5)], django_capture_on_commit_callbacks)

    aperturedb_test_server.server.stop()
    with django_capture_on_commit_callbacks(execute=True):
        assert business_client.delete(f"/api/annotations/{annotation_id}/").status_code == 204
    assert ApertureDBExportStorage.objects.get(id=target["id"]).pending_deletions == [annotation_id]
    aperturedb_test_server.server.start()

    assert business_client.post(f"/api/storages/export/aperturedb/{target['id']}/sync").status_code == 200

    assert stored_annotation(aperturedb_test_server.connector(), annotation_id) is None
    assert ApertureDBExportStorage.objects.get(id=target["id"]).pending_deletions == []


WRITERS, WRITES = 16, 5


def test_sixteen_concurrent_writers_count_every_write_of_an_annotation_exactly_once(aperturedb, monkeypatch):
    """``LS_revision`` counts the calls of ``write_annotations`` that wrote the annotation: 16 threads writing one
    annotation 5 times each leave revision 80 however their transactions interleave, and the annotation whole in
    the version of one of them. Writes that lost a race (the annotation added, or its revision changed, since
    their look-up) were sent again, and counted once."""
    image = TaggedImages(aperturedb).add("revised.png", 200, 100)
    annotation_id = 40_000_000 + random.randrange(10**6)
    sends = []
    send = target._write
    monkeypatch.setattr(target, "_write", lambda *args: sends.append(len(args[1])) or send(*args))

    def save_many(thread: int, connector, rng: random.Random) -> None:
        for _ in range(WRITES):
            write_annotations(connector, [written(rng.randrange(1, 50), annotation_id, image)])

    assert in_threads(aperturedb, WRITERS, save_many) == []
    connector = aperturedb.connector()
    stored = stored_annotation(connector, annotation_id)
    assert stored["entity"]["LS_revision"] == WRITERS * WRITES
    assert_holds_version(connector, annotation_id, stored["entity"]["LS_version"])
    assert len(sends) > WRITERS * WRITES  # races happened, and the writes that lost them were sent again


def test_a_write_whose_revision_changed_since_its_look_up_is_sent_again_and_counted_once(aperturedb, monkeypatch):
    image = TaggedImages(aperturedb).add("stale.png", 200, 100)
    annotation_id = 50_000_000 + random.randrange(10**6)
    connector = aperturedb.connector()
    write_annotations(connector, [written(1, annotation_id, image)])
    write_annotations(connector, [written(2, annotation_id, image)])
    # The look-up answered before another writer's transaction: it read revision 1, ApertureDB holds 2.
    looked_up = first_look_up_answers(monkeypatch, {annotation_id: 1})

    write_annotations(connector, [written(3, annotation_id, image)])

    assert len(looked_up) == 2
    assert stored_annotation(connector, annotation_id)["entity"]["LS_revision"] == 3
    assert_holds_version(connector, annotation_id, 3)

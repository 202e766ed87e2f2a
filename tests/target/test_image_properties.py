"""Decisions back onto the image (issue #20, item 4): a target's ``image_properties`` writes the image-level value
of a task's latest annotation onto its image in ApertureDB, in the annotation's own transaction."""

from __future__ import annotations

import pytest
from ls_storage.aperturedb.models import ApertureDBExportStorage

from storage_api import storage_body

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("value, words", [
    (["scene"], "JSON object"),
    ("not json", "JSON object"),
    ({"scene": ""}, "non-empty"),
    ({"scene": 3}, "non-empty"),
    ({"scene": "_split"}, "starting with '_'"),
    ({"scene": "spl\nit"}, "control characters"),
    ({"scene": "x" * 256}, "at most 255"),
    ({"scene": "split", "note": "split"}, "split is given twice"),
    ({"box": "split"}, "box: the label config has no Choices"),
    ({"nothing": "split"}, "nothing: the label config has no Choices"),
])
def test_bad_image_properties_are_a_400_naming_the_field_and_nothing_is_saved(
        business_client, project, aperturedb_test_server, value, words):
    body = storage_body(aperturedb_test_server, project["id"], image_properties=value)
    response = business_client.post("/api/storages/export/aperturedb", data=body, content_type="application/json")

    assert response.status_code == 400, response.content
    assert "image_properties" in str(response.json()) and words in str(response.json()), response.json()
    assert not ApertureDBExportStorage.objects.exists()


def test_image_properties_are_stored_from_an_object_or_its_json_text_and_checked_on_update(
        business_client, project, aperturedb_test_server):
    mapping = {"scene": "split", "count": "objects", "quality": "quality", "note": "caption"}
    body = storage_body(aperturedb_test_server, project["id"], image_properties=mapping)
    created = business_client.post("/api/storages/export/aperturedb", data=body, content_type="application/json")
    assert created.status_code == 201, created.content
    assert created.json()["image_properties"] == mapping

    url = f"/api/storages/export/aperturedb/{created.json()['id']}"
    as_text = business_client.patch(url, data={"image_properties": '{"scene": "split"}'},
                                    content_type="application/json")
    assert as_text.status_code == 200 and as_text.json()["image_properties"] == {"scene": "split"}, as_text.content
    refused = business_client.patch(url, data={"image_properties": {"box": "split"}}, content_type="application/json")
    assert refused.status_code == 400 and "image_properties" in str(refused.json()), refused.content
    assert ApertureDBExportStorage.objects.get().image_properties == {"scene": "split"}
    cleared = business_client.patch(url, data={"image_properties": None}, content_type="application/json")
    assert cleared.status_code == 200 and cleared.json()["image_properties"] == {}, cleared.content


CONFIG = """
<View>
  <Image name="photo" value="$img"/>
  <RectangleLabels name="box" toName="photo"><Label value="cat"/></RectangleLabels>
  <Choices name="split" toName="photo"><Choice value="train"/><Choice value="dev"/><Choice value="test"/></Choices>
  <Choices name="tags" toName="photo" choice="multiple"><Choice value="blurry"/><Choice value="dark"/></Choices>
  <Number name="count" toName="photo"/>
  <Rating name="quality" toName="photo"/>
  <TextArea name="caption" toName="photo"/>
</View>
"""
MAPPING = {"split": "split", "tags": "tags", "count": "objects", "quality": "quality", "caption": "caption"}
DECIDED = set(MAPPING.values())


def value(from_name: str, kind: str, content) -> dict:
    key = {"choices": "choices", "number": "number", "rating": "rating", "textarea": "text"}[kind]
    return {"id": f"v-{from_name}", "from_name": from_name, "to_name": "photo", "type": kind, "value": {key: content}}


def split(choice: str) -> dict:
    return value("split", "choices", [choice])


def image_of(task_id: int) -> str:
    from tasks.models import Task

    return Task.objects.get(id=task_id).data["img"].rsplit("/", 1)[1]


def image_properties(address, uniqueid: str) -> dict:
    answer, _ = address.connector().query([{"FindImage": {"constraints": {"_uniqueid": ["==", uniqueid]},
                                                          "results": {"all_properties": True}}}])
    (image,) = answer[0]["FindImage"]["entities"]
    return {key: image[key] for key in DECIDED if key in image}


@pytest.fixture
def decided(business_client, aperturedb, aperturedb_images, django_capture_on_commit_callbacks):
    """A project of three synced images with a target writing MAPPING; ``annotate`` / ``update`` / ``delete``
    go through the REST API with their automatic exports run."""
    from storage_api import create_project
    from target_api import create_target, synced_tasks

    project = create_project(business_client, "Decisions", CONFIG)
    tasks = synced_tasks(business_client, aperturedb, aperturedb_images, project["id"], count=3)

    class Decided:
        target = create_target(business_client, aperturedb, project["id"], image_properties=MAPPING,
                               can_delete_objects=True)

        def __init__(self):
            self.project, self.tasks, self.address, self.images = project, tasks, aperturedb, aperturedb_images

        def annotate(self, task_id: int, *results, **fields) -> int:
            with django_capture_on_commit_callbacks(execute=True):
                response = business_client.post(f"/api/tasks/{task_id}/annotations/", content_type="application/json",
                                                data={"result": list(results), **fields})
            assert response.status_code == 201, response.content
            return response.json()["id"]

        def update(self, annotation_id: int, *results) -> None:
            with django_capture_on_commit_callbacks(execute=True):
                response = business_client.patch(f"/api/annotations/{annotation_id}/", content_type="application/json",
                                                 data={"result": list(results)})
            assert response.status_code == 200, response.content

        def delete(self, annotation_id: int) -> None:
            with django_capture_on_commit_callbacks(execute=True):
                response = business_client.delete(f"/api/annotations/{annotation_id}/")
            assert response.status_code == 204, response.content

        def on_image(self, task_id: int) -> dict:
            return image_properties(self.address, image_of(task_id))

    return Decided()


def test_a_split_chosen_in_label_studio_selects_the_images_in_apertured_b_and_a_new_source_storage(
        business_client, decided):
    from storage_api import create_project, create_storage, sync, tasks_of

    for task_id, choice in zip(decided.tasks, ("train", "dev", "train")):
        decided.annotate(task_id, split(choice))

    train = sorted(image_of(task_id) for task_id in (decided.tasks[0], decided.tasks[2]))
    assert [decided.on_image(task_id) for task_id in decided.tasks] == \
        [{"split": "train"}, {"split": "dev"}, {"split": "train"}]
    answer, _ = decided.address.connector().query([{"FindImage": {
        "constraints": {**decided.images.constraints, "split": ["==", "train"]}, "uniqueids": True}}])
    assert sorted(image["_uniqueid"] for image in answer[0]["FindImage"]["entities"]) == train

    other = create_project(business_client, "Train split", CONFIG)
    source = create_storage(business_client, decided.address, other["id"],
                            constraints={**decided.images.constraints, "split": ["==", "train"]})
    sync(business_client, source["id"])
    assert sorted(image_of(task["id"]) for task in tasks_of(business_client, other["id"])) == train


def test_the_latest_annotation_decides_updates_change_it_clearing_and_deleting_remove_it(decided):
    task_id = decided.tasks[0]
    first = decided.annotate(task_id, split("train"), value("tags", "choices", ["blurry", "dark"]),
                             value("count", "number", 3), value("quality", "rating", 4),
                             value("caption", "textarea", ["a cat", "on a mat"]),
                             {"id": "b1", "from_name": "box", "to_name": "photo", "type": "rectanglelabels",
                              "original_width": 200, "original_height": 100, "image_rotation": 0,
                              "value": {"x": 1, "y": 1, "width": 5, "height": 5, "rotation": 0,
                                        "rectanglelabels": ["cat"]}})
    assert decided.on_image(task_id) == {"split": "train", "tags": "blurry, dark", "objects": 3, "quality": 4,
                                         "caption": "a cat\non a mat"}

    decided.update(first, split("dev"), value("count", "number", 2.5))  # cleared values are removed
    assert decided.on_image(task_id) == {"split": "dev", "objects": 2.5}

    second = decided.annotate(task_id, split("test"))
    assert decided.on_image(task_id) == {"split": "test"}
    decided.annotate(task_id, split("train"), was_cancelled=True)  # a skipped task decides nothing
    assert decided.on_image(task_id) == {"split": "test"}

    decided.delete(second)  # the previous annotation decides again
    assert decided.on_image(task_id) == {"split": "dev", "objects": 2.5}
    decided.update(first, value("count", "number", 1))  # the choice cleared
    assert decided.on_image(task_id) == {"objects": 1}
    decided.delete(first)  # only the cancelled one left: nothing decides
    assert decided.on_image(task_id) == {}
    assert decided.on_image(decided.tasks[1]) == {}  # other images untouched


def test_a_target_sync_reapplies_the_decisions_and_a_target_that_keeps_annotations_hands_over_too(
        business_client, decided):
    older = decided.annotate(decided.tasks[0], split("train"))
    newer = decided.annotate(decided.tasks[0], split("dev"))
    decided.annotate(decided.tasks[1], value("quality", "rating", 5))
    decided.address.connector().query([{"UpdateImage": {"constraints": decided.images.constraints,
                                                        "remove_props": sorted(DECIDED)}}])
    assert decided.on_image(decided.tasks[0]) == {}

    # Nothing changed in Label Studio: only a Sync that writes every annotation sees what ApertureDB lost.
    full = business_client.patch(f"/api/storages/export/aperturedb/{decided.target['id']}",
                                 data={"full_export": True}, content_type="application/json")
    assert full.status_code == 200, full.content
    synced = business_client.post(f"/api/storages/export/aperturedb/{decided.target['id']}/sync")
    assert synced.status_code == 200, synced.content
    assert [decided.on_image(task_id) for task_id in decided.tasks] == [{"split": "dev"}, {"quality": 5}, {}]

    kept = business_client.patch(f"/api/storages/export/aperturedb/{decided.target['id']}",
                                 data={"can_delete_objects": False}, content_type="application/json")
    assert kept.status_code == 200, kept.content
    decided.delete(newer)
    assert decided.on_image(decided.tasks[0]) == {"split": "train"}
    from target_api import stored_annotation

    assert stored_annotation(decided.address.connector(), newer) is not None  # the annotation itself stays
    decided.delete(older)
    assert decided.on_image(decided.tasks[0]) == {}

"""What a dump selects, and that ApertureDB does the selecting: images by the datasets they belong to
(``--connected-to``, as a source storage's ``connected_to``), annotations by project and label version in the
query itself, so that a dump of one project reads neither the others' annotations nor their regions."""

from __future__ import annotations

import io
import json

import pytest

from dumping import HEIGHT, WIDTH, annotate, box, run
from ls_storage.client.target import ANNOTATION_CLASS, REGION_LINK
from ls_storage.dump import DumpSelection, dump
from ls_storage.testing.sdk_loading import DATASET_CLASS, DATASET_LINK


@pytest.fixture
def datasets(aperturedb_images):
    """Images 1.png to 5.png tagged for this test; Dataset entities "{tag}/batch-1" (images 1 to 3) and
    "{tag}/batch-2" (4 and 5), each connected to its images by DatasetImage, as the demo's SDK loading makes them."""
    images = aperturedb_images
    members = {"batch-1": {"1.png", "2.png", "3.png"}, "batch-2": {"4.png", "5.png"}}
    uniqueids = {name: images.add(name, WIDTH, HEIGHT) for name in sorted(members["batch-1"] | members["batch-2"])}
    query: list = []
    for batch, names in members.items():
        dataset_ref = len(query) + 1
        query.append({"AddEntity": {"_ref": dataset_ref, "class": DATASET_CLASS,
                                    "properties": {"name": f"{images.tag}/{batch}"}}})
        for name in sorted(names):
            query += [{"FindImage": {"_ref": len(query) + 1, "constraints": {"_uniqueid": ["==", uniqueids[name]]}}},
                      {"AddConnection": {"class": DATASET_LINK, "src": dataset_ref, "dst": len(query) + 1}}]
    images.query(query)
    return {"images": images, "tag": images.tag, "members": members, "uniqueids": uniqueids}


def dataset(tag: str, name: str, **more) -> dict:
    return {"class": DATASET_CLASS, "constraints": {"name": ["==", f"{tag}/{name}"]}, **more}


def dumped_names(aperturedb, tag: str, connected_to, *more) -> set[str]:
    out = run(aperturedb, "--format", "media-items", "--constraints", json.dumps({"ls_test": ["==", tag]}),
              "--connected-to", json.dumps(connected_to), *more)
    assert out["info"]["selection"]["connected_to"] == (connected_to if isinstance(connected_to, list)
                                                        else [connected_to])
    return {media["file_name"] for media in out["media"]}


def test_connected_to_dumps_exactly_the_images_of_the_chosen_datasets(aperturedb, datasets):
    tag, members = datasets["tag"], datasets["members"]
    one, two = members["batch-1"], members["batch-2"]
    assert one and two and not one & two
    by_link = dataset(tag, "batch-1", connection_class=DATASET_LINK, direction="out")
    assert dumped_names(aperturedb, tag, by_link) == one
    as_expression = {"class": DATASET_CLASS, "constraints": ["$name", "==", f"{tag}/batch-2"]}  # any direction
    assert dumped_names(aperturedb, tag, as_expression) == two
    assert dumped_names(aperturedb, tag, [by_link, as_expression]) == one | two  # any one of them
    assert dumped_names(aperturedb, tag, {**by_link, "direction": "in"}) == set()  # images are the destinations
    assert dumped_names(aperturedb, tag, dataset(tag, "batch-3")) == set()
    assert dumped_names(aperturedb, tag, by_link, "--page-size", "1") == one  # every page narrowed


def test_connected_to_project_and_annotated_only_together(aperturedb, datasets):
    """Of batch-1, only its images with an annotation of project 7 (not one of project 8, nor one in batch-2)."""
    connector, uniqueids = datasets["images"].connector, datasets["uniqueids"]
    for annotation_id, name, project in ((1, "1.png", 7), (2, "2.png", 8), (3, "4.png", 7)):
        annotate(connector, annotation_id, uniqueids[name], [box(f"r{annotation_id}", 10, 10, 20, 20)],
                 project_id=project)
    tag = datasets["tag"]
    assert dumped_names(aperturedb, tag, dataset(tag, "batch-1"), "--project-id", "7", "--annotated-only") == {"1.png"}


class Recording:
    """A connector that keeps each query it sends and the answer it got."""

    def __init__(self, connector):
        self.connector, self.sent = connector, []

    def query(self, query, blobs=()):
        answer, out = self.connector.query(query, list(blobs))
        self.sent.append((query, answer))
        return answer, out

    def close(self):
        self.connector.close()


def annotations_asked_and_read(aperturedb, selection: DumpSelection) -> tuple[list, list, set]:
    """Dumps with a recording connector: the constraints of each Find of annotations sent, the ids of the
    annotations ApertureDB answered with, and the region ids of the boxes it answered with for them."""
    recording = Recording(aperturedb.connector())
    try:
        dump(recording, selection, io.StringIO(), "media-items")
    finally:
        recording.close()
    asked, annotations, boxes = [], [], set()
    for query, answer in recording.sent:
        for command, result in zip(query, answer):
            (name, params), (_, found) = next(iter(command.items())), next(iter(result.items()))
            grouped = found.get("entities") or {}  # by image, or by annotation
            if name == "FindEntity" and params.get("with_class") == ANNOTATION_CLASS:
                asked.append(params.get("constraints"))
                annotations += [entity["LS_id"] for group in grouped.values() for entity in group]
            elif name == "FindBoundingBox" and params.get("is_connected_to", {}).get("connection_class") == REGION_LINK:
                boxes |= {entity["LS_id"] for group in grouped.values() for entity in group}
    return asked, sorted(annotations), boxes


def test_project_id_and_label_version_are_asked_of_aperturedb(aperturedb, annotated):
    """Annotation 101 (project 7, v2; boxes b1, b2), 102 (project 8, v1; b3), 103 (project 7, cancelled; b4)."""
    constraints = annotated["images"].constraints
    everything = annotations_asked_and_read(aperturedb, DumpSelection(constraints=constraints))
    assert everything == ([None], [101, 102, 103], {"b1", "b2", "b3", "b4"})

    project = annotations_asked_and_read(aperturedb, DumpSelection(constraints=constraints, project_id=7))
    assert project == ([{"LS_project_id": ["==", 7]}], [101, 103], {"b1", "b2", "b4"})  # nothing of project 8

    version = annotations_asked_and_read(aperturedb, DumpSelection(constraints=constraints, label_version="v1"))
    assert version == ([{"LS_label_version": ["==", "v1"]}], [102], {"b3"})

    both = annotations_asked_and_read(aperturedb, DumpSelection(constraints=constraints, project_id=7,
                                                                 label_version="v1"))
    assert both == ([{"LS_label_version": ["==", "v1"], "LS_project_id": ["==", 7]}], [], set())

"""The SDK's own helpers (``aperturedb.Utils.Utils``) work unchanged against the test server.

They empty the whole database, so they run on a test server of their own, never on a real ApertureDB; each
over the binary protocol (``Connector``) and over REST (``ConnectorRest``).
"""

from __future__ import annotations

import json

import pytest
from aperturedb.Utils import Utils

BUILT_IN_INDEXES = [("_Descriptor", "_create_txn"), ("_Descriptor", "_set_name"), ("_DescriptorSet", "_name")]


@pytest.fixture(params=["aperturedb_test_server", "aperturedb_rest_test_server"], ids=["tcp", "rest"])
def utils(request):
    """``Utils`` over a fresh test server, reached by either protocol."""
    utils = Utils(request.getfixturevalue(request.param).connector())
    assert (type(utils.client).__name__ == "ConnectorRest") == (request.param == "aperturedb_rest_test_server")
    return utils


def fill(utils, make_image) -> None:
    answer, _ = utils.execute([
        {"AddImage": {"_ref": 1, "properties": {"name": "a", "split": "train"}}},
        {"AddBoundingBox": {"image_ref": 1, "rectangle": {"x": 1, "y": 1, "width": 2, "height": 2}, "label": "cat"}},
        {"AddBoundingBox": {"image_ref": 1, "rectangle": {"x": 2, "y": 1, "width": 3, "height": 2}, "label": "dog"}},
        {"AddImage": {"_ref": 2, "properties": {"name": "b", "split": "train"}}},
        {"AddPolygon": {"image_ref": 2, "polygons": [[[0, 0], [5, 0], [5, 5]]], "label": "cat"}},
        {"AddImage": {"properties": {"name": "c", "split": "val"}}},
        {"AddEntity": {"class": "Person", "properties": {"name": "ann", "age": 31}}},
        {"AddEntity": {"class": "Person", "properties": {"name": "bob", "age": 25}}},
    ], [make_image(10, 10), make_image(10, 10), make_image(12, 8)])


def indexes(utils, **filters) -> list[tuple[str, str]]:
    found = utils.get_indexes(**filters)
    assert all(i["target"] == "entity" and i["kind"] == "ordered" and i["params"] == {} for i in found), found
    return [(i["class"], i["property"]) for i in found]


def test_counts_with_and_without_constraints(utils, make_image):
    fill(utils, make_image)

    assert utils.count_images() == 3 and utils.count_images({"split": ["==", "train"]}) == 2
    assert utils.count_bboxes() == 2 and utils.count_bboxes({"_label": ["==", "cat"]}) == 1
    assert utils.count_entities("Person") == 2 and utils.count_entities("Person", {"age": [">=", 30]}) == 1
    assert utils.count_entities("_Polygon") == 1
    assert utils.count_entities("_BoundingBox", {"_label": ["==", "dog"]}) == 1
    assert utils.count_entities("Nobody") == 0


def test_indexes_are_created_once_listed_and_removed_but_for_the_built_in_ones(utils, make_image):
    fill(utils, make_image)

    assert utils.create_entity_index("Person", "name") and utils.create_entity_index("Person", "name")
    assert utils.create_entity_index("_Image", "split")

    assert indexes(utils) == sorted([("Person", "name"), ("_Image", "split")] + BUILT_IN_INDEXES)
    assert indexes(utils, target="entity", class_name="Person") == [("Person", "name")]
    assert utils.get_indexed_props("Person") == ["name"] and utils.get_indexed_props("_Image") == ["split"]
    assert utils.get_indexed_props("Nobody") == [] and utils.get_indexed_props("Person", "connections") == []
    assert utils.remove_all_indexes()
    assert indexes(utils) == BUILT_IN_INDEXES and utils.get_indexed_props("Person") == []


def test_summary_prints_the_schema_figures(utils, make_image, capsys):
    fill(utils, make_image)
    utils.create_entity_index("Person", "name")

    utils.summary()

    lines = [line.rstrip() for line in capsys.readouterr().out.splitlines()]
    version = json.loads(utils.status())[0]["GetStatus"]["version"]
    assert lines[1:5] == ["Database: localhost", f"Version: {version}", "Status:  0", "Info:    OK"]
    assert "Total entities types:    4" in lines and "Total connections types: 2" in lines
    assert lines[-3:-1] == ["Total nodes: 8", "Total edges: 3"]
    person = lines.index("Person")
    assert lines[person + 1:person + 4] == ["  Total elements: 2", "I   String   | name  |         2 (100%)",
                                           "    Number   | age   |         2 (100%)"]
    boxes = lines.index("_BoundingBoxToImage")
    assert lines[boxes + 1:boxes + 3] == ["  _BoundingBox ====> _Image", "  Total elements: 2"]


def test_remove_all_objects_leaves_an_empty_database(utils, make_image, capsys):
    fill(utils, make_image)
    utils.create_entity_index("Person", "name")

    assert utils.remove_all_objects()

    assert (utils.count_images(), utils.count_bboxes(), utils.count_entities("Person")) == (0, 0, 0)
    assert utils.get_schema() == {"status": 0, "entities": None, "connections": None}
    utils.summary()
    assert "Total nodes: 0\nTotal edges: 0" in capsys.readouterr().out

"""A query is one atomic transaction: a failing command answers one error object and applies nothing."""

from __future__ import annotations

import pytest


def _count(adb, cls):
    return adb.one({"FindEntity": {"with_class": cls, "results": {"count": True}}})["count"]


def test_failed_command_rolls_back_whole_transaction(adb, entity_class, run, make_image):
    answer, blobs = adb.query([
        {"AddEntity": {"_ref": 1, "class": entity_class, "properties": {"n": 1}}},
        {"AddImage": {"_ref": 2, "properties": {"run": run}}},
        {"AddBoundingBox": {"image_ref": 2, "rectangle": {"x": 0, "y": 0, "width": 1, "height": 1},
                            "properties": {"run": run}}},
        {"AddConnection": {"class": f"link_{run}", "src": 1, "dst": 2}},
        {"FindEntity": {"with_class": entity_class, "results": {"list": ["n"]}}},
        {"AddEntity": {"class": entity_class, "properties": {"_bad": 1}}},
    ], [make_image(4, 4)])
    assert isinstance(answer, dict) and answer["status"] == -1 and answer["info"], answer
    assert blobs == []
    assert _count(adb, entity_class) == 0
    assert adb.one({"FindImage": {"constraints": {"run": ["==", run]}, "results": {"count": True}}})["count"] == 0
    assert adb.one({"FindBoundingBox": {"constraints": {"run": ["==", run]}, "results": {"count": True}}})["count"] == 0
    schema = adb.one({"GetSchema": {}})
    assert entity_class not in ((schema.get("entities") or {}).get("classes") or {})
    assert f"link_{run}" not in ((schema.get("connections") or {}).get("classes") or {})


def test_failed_transaction_undoes_updates_and_deletes(adb, entity_class, run):
    adb.run([
        {"AddEntity": {"_ref": 1, "class": entity_class, "properties": {"name": "kept", "v": 1}}},
        {"AddEntity": {"_ref": 2, "class": entity_class, "properties": {"name": "other", "v": 2}}},
        {"AddConnection": {"class": f"link_{run}", "src": 1, "dst": 2, "properties": {"w": 1}}},
    ])
    adb.fail([
        {"UpdateEntity": {"with_class": entity_class, "properties": {"v": 100, "new": True}, "remove_props": ["name"]}},
        {"UpdateConnection": {"with_class": f"link_{run}", "properties": {"w": 5}}},
        {"DeleteEntity": {"with_class": entity_class, "constraints": {"v": ["==", 2]}}},
        {"FindEntity": {"with_class": entity_class, "constraints": {"v": [">", 1, "bad"]}}},
    ])
    found = adb.entities("FindEntity", {"with_class": entity_class, "sort": "v",
                                        "results": {"list": ["name", "v", "new"]}})
    assert found == [{"name": "kept", "v": 1, "new": None}, {"name": "other", "v": 2, "new": None}]
    links = adb.one({"FindConnection": {"with_class": f"link_{run}", "results": {"list": ["w"]}}})
    assert links["connections"] == [{"w": 1}]


def test_failed_transaction_undoes_index_changes(test_server_adb, entity_class):
    test_server_adb.one({"AddEntity": {"class": entity_class, "properties": {"a": 1, "b": 2}}})
    test_server_adb.one({"CreateIndex": {"index_type": "entity", "class": entity_class, "property_key": "a"}})
    test_server_adb.fail([
        {"RemoveIndex": {"index_type": "entity", "class": entity_class, "property_key": "a"}},
        {"CreateIndex": {"index_type": "entity", "class": entity_class, "property_key": "b"}},
        {"NoSuchCommand": {}},
    ])
    props = test_server_adb.one({"GetSchema": {}})["entities"]["classes"][entity_class]["properties"]
    assert props["a"][1] is True and props["b"][1] is False
    found = test_server_adb.entities("FindEntity", {"with_class": entity_class, "constraints": {"a": ["==", 1]},
                                                    "results": {"list": ["b"]}})
    assert found == [{"b": 2}]


def test_failed_transaction_answers_no_blobs(adb, run, make_image):
    adb.one({"AddImage": {"properties": {"run": run}}}, [make_image(4, 4)])
    adb.fail([
        {"FindImage": {"constraints": {"run": ["==", run]}, "blobs": True}},
        {"FindEntity": {"_ref": 1}},
        {"FindEntity": {"is_connected_to": {"ref": 5}}},
    ])


def test_error_names_the_failed_command(test_server_adb, entity_class):
    failing = {"FindEntity": {"with_class": entity_class, "constraints": {"n": ["~", 1]}}}
    error = test_server_adb.fail([{"GetStatus": {}}, failing])
    assert error["FailedCommand"] == failing and "JSON Command 1" in error["info"]


def test_not_unique_rolls_back_and_answers_status_3(adb, entity_class):
    adb.run([{"AddEntity": {"class": entity_class, "properties": {"n": 1}}} for _ in range(2)])
    answer, _ = adb.query([
        {"AddEntity": {"class": entity_class, "properties": {"n": 2}}},
        {"FindEntity": {"with_class": entity_class, "constraints": {"n": ["==", 1]}, "unique": True,
                        "results": {"count": True}}},
    ])
    assert isinstance(answer, dict) and answer["status"] == 3
    assert _count(adb, entity_class) == 2


def test_if_not_found_status_2_does_not_fail_the_transaction(adb, entity_class):
    adb.one({"AddEntity": {"class": entity_class, "properties": {"k": "x"}}})
    answer, _ = adb.query([
        {"AddEntity": {"class": entity_class, "properties": {"k": "x"}, "if_not_found": {"k": ["==", "x"]}}},
        {"AddEntity": {"class": entity_class, "properties": {"k": "y"}}},
    ])
    assert answer == [{"AddEntity": {"status": 2, "info": "Object Exists!"}}, {"AddEntity": {"status": 0}}]
    assert _count(adb, entity_class) == 2


def test_later_commands_see_earlier_changes_of_the_same_transaction(adb, entity_class):
    answers, _ = adb.run([
        {"AddEntity": {"class": entity_class, "properties": {"n": 1}}},
        {"UpdateEntity": {"with_class": entity_class, "properties": {"n": 2}}},
        {"FindEntity": {"with_class": entity_class, "results": {"list": ["n"]}}},
        {"DeleteEntity": {"with_class": entity_class}},
        {"FindEntity": {"with_class": entity_class, "results": {"count": True}}},
    ])
    assert answers[2]["entities"] == [{"n": 2}] and answers[3]["count"] == 1 and answers[4]["count"] == 0


@pytest.mark.parametrize("query, named", [
    ([{"FindEverything": {}}], "FindEverything"),
    ([{"AddVideo": {"properties": {}}}], "AddVideo"),
    ([{"FindEntity": {"with_class": "X", "results": {"count": True}, "fuzzy": True}}], "fuzzy"),
    ([{"AddEntity": {"class": "X", "colour": "red"}}], "colour"),
    ([{"FindImage": {"blobs": True, "urls": True}}], "urls"),
    ([{"FindEntity": {"with_class": "X", "results": {"sum": "n"}}}], "sum"),
    ([{"FindEntity": {"is_connected_to": {"ref": 1, "hops": 2}}}], "hops"),
    ([{"AddEntity": {"_ref": 1, "class": "X"}}, {"AddEntity": {"class": "X", "connect": {"ref": 1, "weight": 1}}}],
     "weight"),
    ([{"FindEntity": {"with_class": "X", "constraints": {"_uniqueid": [">", "0.0.0"]}}}], "_uniqueid"),
    ([{"AddEntity": {"class": "X", "properties": {"_secret": 1}}}], "_secret"),
    ([{"GetSchema": {"ref": 1}}], "ref"),
    ([{"UpdateImage": {"constraints": {"n": ["==", 1]}, "operations": [{"type": "resize", "scale": 2}]}}],
     "operations"),
    ([{"FindEntity": {"with_class": "X", "group_by_source": True}}], "group_by_source"),
    ([{"FindImage": {"blobs": True, "operations": [{"type": "blur", "sigma": 2}]}}], "blur"),
    ([{"FindImage": {"blobs": True, "operations": [{"type": "resize", "width": 4, "fast": True}]}}], "fast"),
    ([{"FindImage": {"blobs": True, "as_format": "gif"}}], "gif"),
])
def test_unsupported_command_or_parameter_is_refused_by_name(test_server_adb, query, named):
    error = test_server_adb.fail(query)
    assert named in error["info"]


@pytest.mark.parametrize("query", [
    [{"FindEntity": {"_ref": 1}}, {"FindEntity": {"_ref": 1}}],
    [{"UpdateEntity": {"ref": 3, "properties": {"a": 1}}}],
    [{"FindEntity": {"_ref": 0}}],
    [{"FindEntity": {"_ref": 100001}}],
    [{"FindEntity": {"_ref": "1"}}],
])
def test_bad_refs_fail_the_transaction(adb, query):
    adb.fail(query)


def test_blob_count_must_match_the_commands(test_server_adb, run, make_image):
    test_server_adb.fail([{"AddImage": {"properties": {"run": run}}}], [make_image(4, 4), make_image(4, 4)])
    test_server_adb.fail([{"AddBlob": {"properties": {"run": run}}}] * 2, [b"one"])
    images = test_server_adb.one({"FindImage": {"constraints": {"run": ["==", run]}, "results": {"count": True}}})
    assert images["count"] == 0


@pytest.mark.parametrize("query", [
    [],
    [{}],
    [{"GetStatus": {}, "GetSchema": {}}],
    [{"GetStatus": []}],
    [["GetStatus"]],
    {"GetStatus": {}},
])
def test_malformed_queries_are_refused(adb, query):
    adb.fail(query)


@pytest.mark.parametrize("command", [
    {"UpdateImage": {"properties": {"touched": True}}},
    {"DeleteImage": {}},
    {"DeleteBlob": {}},
    {"DeleteBoundingBox": {}},
    {"UpdatePolygon": {"label": "x"}},
    {"UpdateEntity": {"properties": {"touched": True}}},
    {"DeleteEntity": {}},
    {"DeleteConnection": {}},
])
def test_update_and_delete_need_something_to_choose_their_objects(test_server_adb, run, make_image, command):
    test_server_adb.one({"AddImage": {"properties": {"run": run}}}, [make_image(4, 4)])
    test_server_adb.fail([command])
    images = test_server_adb.one({"FindImage": {"constraints": {"run": ["==", run]}, "results": {"count": True}}})
    assert images["count"] == 1


# Inputs that once broke the test server's connection instead of answering an error.
@pytest.mark.parametrize("query", [
    [{"FindBoundingBox": {"with_label": "cat", "constraints": "cat", "results": {"count": True}}}],
    [{"FindEntity": {"with_class": "X", "results": ["count"]}}],
    [{"FindConnection": {"with_class": "X", "results": "count"}}],
    [{"AddImage": {"_ref": 1}},
     {"AddBoundingBox": {"image_ref": 1, "rectangle": {"x": 0, "y": 0, "width": 1, "height": 1}}},
     {"AddBoundingBox": {"image_ref": 1, "rectangle": {"x": 0, "y": 0, "width": 2, "height": 1}}},
     {"FindBoundingBox": {"image_ref": 1, "sort": "_coordinates", "coordinates": True}}],
    [{"AddImage": {"_ref": 1}},
     {"AddBoundingBox": {"image_ref": 1, "rectangle": {"x": 0, "y": 0, "width": 1, "height": 1}}},
     {"FindBoundingBox": {"image_ref": 1, "constraints": {"_coordinates": [">", "a"]}}}],
])
def test_malformed_parameters_are_answered_as_errors_on_a_live_connection(test_server_adb, make_image, query):
    blobs = [make_image(4, 4)] if "AddImage" in query[0] else []
    test_server_adb.fail(query, blobs)
    assert test_server_adb.one({"GetStatus": {}})["status"] == 0


def test_range_mixing_types_on_an_indexed_property_matches_nothing(test_server_adb, entity_class):
    test_server_adb.run([{"AddEntity": {"class": entity_class, "properties": {"n": n}}} for n in range(3)])
    test_server_adb.one({"CreateIndex": {"index_type": "entity", "class": entity_class, "property_key": "n"}})
    answer = test_server_adb.one({"FindEntity": {"with_class": entity_class, "constraints": {"n": [">", 0, "<", "z"]},
                                                 "results": {"count": True}}})
    assert answer["count"] == 0


def test_internal_error_is_answered_as_an_error_on_a_live_connection(test_server_adb, monkeypatch):
    from ls_storage.testing.commands import engine as commands

    def broken(tx, params, where):
        raise RuntimeError("boom")

    monkeypatch.setitem(commands.COMMANDS, "GetStatus", commands.Command(broken, frozenset()))
    error = test_server_adb.fail([{"GetStatus": {}}])
    assert "boom" in error["info"]
    monkeypatch.undo()
    assert test_server_adb.one({"GetStatus": {}})["status"] == 0


def test_a_rolled_back_delete_keeps_a_class_in_creation_order(test_server_adb, entity_class):
    adb = test_server_adb
    adb.run([{"AddEntity": {"class": entity_class, "properties": {"n": n}}} for n in range(4)])
    adb.fail([{"DeleteEntity": {"with_class": entity_class, "constraints": {"n": ["<", 2]}}}, {"NoSuchCommand": {}}])
    adb.run([{"AddEntity": {"class": entity_class, "properties": {"n": 4}}}])
    listed = adb.entities("FindEntity", {"with_class": entity_class, "results": {"list": ["n"]}})
    assert listed == [{"n": n} for n in range(5)]
    page = adb.entities("FindEntity", {"with_class": entity_class, "offset": 1, "limit": 2, "results": {"list": ["n"]}})
    assert page == [{"n": 1}, {"n": 2}]

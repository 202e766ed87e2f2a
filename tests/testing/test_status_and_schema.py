"""GetStatus, GetSchema, CreateIndex and RemoveIndex."""

from __future__ import annotations

import pytest


def test_get_status_reports_an_aperturedb(adb):
    answer = adb.one({"GetStatus": {}})
    assert answer["status"] == 0 and answer["info"] == "OK" and answer["system"] == "ApertureDB"
    assert isinstance(answer["version"], str)


def test_schema_lists_a_class_with_its_property_counts_and_types(adb, entity_class):
    adb.run([
        {"AddEntity": {"class": entity_class, "properties": {"name": "a", "age": 3, "ok": True}}},
        {"AddEntity": {"class": entity_class, "properties": {"name": "b", "when": {"_date": "2020-01-02T03:04:05Z"}}}},
    ])
    schema = adb.one({"GetSchema": {"type": "entities"}})
    assert "connections" not in schema
    info = schema["entities"]["classes"][entity_class]
    assert info["matched"] == 2
    props = info["properties"]
    assert props["name"][:2] == [2, False] and props["name"][2].lower() == "string"
    assert props["age"][:2] == [1, False] and props["age"][2].lower() == "number"
    assert props["ok"][:2] == [1, False] and props["ok"][2].lower() == "boolean"
    assert props["when"][:2] == [1, False]


def test_schema_of_a_class_without_properties_has_null_properties(adb, entity_class):
    adb.one({"AddEntity": {"class": entity_class}})
    info = adb.one({"GetSchema": {}})["entities"]["classes"][entity_class]
    assert info == {"matched": 1, "properties": None}


def test_schema_lists_connection_classes_with_their_ends(adb, entity_class, run):
    connection_class = f"knows_{run}"
    adb.run([
        {"AddEntity": {"_ref": 1, "class": entity_class}},
        {"AddEntity": {"_ref": 2, "class": entity_class}},
        {"AddConnection": {"class": connection_class, "src": 1, "dst": 2, "properties": {"since": 2001}}},
    ])
    schema = adb.one({"GetSchema": {"type": "connections"}})
    assert "entities" not in schema
    info = schema["connections"]["classes"][connection_class]
    assert info["matched"] == 1 and info["src"] == entity_class and info["dst"] == entity_class
    assert info["properties"]["since"][:2] == [1, False]


def test_schema_of_an_empty_database_is_null():
    from ls_storage.testing.fixtures import running_server

    with running_server(tls=False) as address:
        schema, _ = address.connector().query([{"GetSchema": {}}])
    assert schema == [{"GetSchema": {"status": 0, "entities": None, "connections": None}}]


def test_create_index_marks_the_property_indexed_and_remove_index_unmarks_it(adb, entity_class):
    adb.one({"AddEntity": {"class": entity_class, "properties": {"name": "a"}}})
    adb.one({"CreateIndex": {"index_type": "entity", "class": entity_class, "property_key": "name"}})
    assert adb.one({"GetSchema": {}})["entities"]["classes"][entity_class]["properties"]["name"][:2] == [1, True]
    adb.one({"RemoveIndex": {"index_type": "entity", "class": entity_class, "property_key": "name"}})
    assert adb.one({"GetSchema": {}})["entities"]["classes"][entity_class]["properties"]["name"][:2] == [1, False]


def test_creating_an_existing_index_answers_status_2(test_server_adb, entity_class):
    index = {"index_type": "entity", "class": entity_class, "property_key": "name", "property_type": "string"}
    assert test_server_adb.one({"CreateIndex": index}) == {"status": 0}
    answer, _ = test_server_adb.query([{"CreateIndex": index}])
    assert answer[0]["CreateIndex"]["status"] == 2


def test_removing_a_missing_index_answers_status_1(test_server_adb, entity_class):
    index = {"index_type": "entity", "class": entity_class, "property_key": "x"}
    answer, _ = test_server_adb.query([{"RemoveIndex": index}])
    assert answer[0]["RemoveIndex"]["status"] == 1


def test_indexed_finds_match_unindexed_finds(adb, entity_class):
    adb.run([{"AddEntity": {"class": entity_class, "properties": {"n": n % 7, "tag": f"t{n % 3}"}}}
            for n in range(40)] + [{"AddEntity": {"class": entity_class, "properties": {"tag": "none"}}}])
    finds = [
        {"constraints": {"n": ["==", 3]}},
        {"constraints": {"n": ["in", [1, 5]]}},
        {"constraints": {"n": [">=", 2, "<", 5]}},
        {"constraints": {"n": [">", 4]}, "sort": {"key": "n", "order": "descending"}},
        {"constraints": {"n": ["<=", 1]}, "sort": "tag"},
        {"sort": {"key": "n", "order": "descending"}, "limit": 9, "offset": 3},
        {"sort": "n", "offset": 38},
    ]

    def run_all():
        return [
            adb.entities("FindEntity", {"with_class": entity_class, "results": {"list": ["n", "tag", "_uniqueid"]},
                                        **find})
            for find in finds
        ]

    unindexed = run_all()
    adb.one({"CreateIndex": {"index_type": "entity", "class": entity_class, "property_key": "n"}})
    indexed = run_all()
    for find, before, after in zip(finds, unindexed, indexed):
        if "sort" in find:
            key = find["sort"] if isinstance(find["sort"], str) else find["sort"]["key"]
            # objects with equal sort keys may come in any order
            assert [e[key] for e in after] == [e[key] for e in before], find
            if "limit" not in find and "offset" not in find:
                assert sorted(e["_uniqueid"] for e in after) == sorted(e["_uniqueid"] for e in before), find
        else:
            assert after == before, find


@pytest.mark.parametrize("bad", [{"index_type": "image"}, {"class": ""}])
def test_create_index_refuses_bad_parameters(adb, entity_class, bad):
    params = {"index_type": "entity", "class": entity_class, "property_key": "name", **bad}
    adb.fail([{"CreateIndex": params}])


def test_indexed_finds_follow_updates_that_change_keep_retype_or_remove_the_value(adb, entity_class):
    adb.run([{"AddEntity": {"class": entity_class, "properties": {"n": n, "name": f"e{n}"}}} for n in range(6)])
    adb.one({"CreateIndex": {"index_type": "entity", "class": entity_class, "property_key": "n"}})
    updates = [({"n": 10}, []), ({"n": 1}, []), ({"n": 2.0}, []), ({}, ["n"]), ({"n": "4"}, []), ({"n": 5, "x": 1}, [])]
    adb.run([{"UpdateEntity": {"with_class": entity_class, "constraints": {"name": ["==", f"e{n}"]},
                               "properties": properties, "remove_props": remove}}
             for n, (properties, remove) in enumerate(updates)])

    def names(constraints):
        found = adb.entities("FindEntity", {"with_class": entity_class, "constraints": constraints,
                                            "results": {"list": ["name"]}})
        return sorted(entity["name"] for entity in found)

    assert names({"n": ["==", 10]}) == ["e0"]
    assert names({"n": ["==", 1]}) == ["e1"]
    assert names({"n": [">=", 0]}) == ["e0", "e1", "e2", "e5"]
    assert names({"n": ["==", "4"]}) == ["e4"]
    assert names({"n": ["in", [3, 4, 5]]}) == ["e5"]


def _indexes(client, **filters) -> set[tuple]:
    grouped = client.one({"GetIndexes": filters})["indexes"] or {}
    return {(target, cls, prop, definition["kind"])
            for target, classes in grouped.items() for cls, props in classes.items()
            for prop, definitions in props.items() for definition in definitions}


def test_indexes_in_the_current_form_are_listed_by_get_indexes_and_agree_with_the_schema(adb, entity_class):
    adb.one({"AddEntity": {"class": entity_class, "properties": {"name": "a", "n": 1}}})
    index = {"target": "entity", "class": entity_class, "property": "name", "kind": "ordered"}
    assert adb.one({"CreateIndex": index}) == {"status": 0}
    answer, _ = adb.query([{"CreateIndex": index}])
    assert answer[0]["CreateIndex"]["status"] == 2
    adb.one({"CreateIndex": {"index_type": "entity", "class": entity_class, "property_key": "n"}})
    assert _indexes(adb, **{"class": entity_class}) == {("entity", entity_class, "name", "ordered"),
                                                       ("entity", entity_class, "n", "ordered")}
    assert _indexes(adb, **{"class": entity_class, "property": "n"}) == {("entity", entity_class, "n", "ordered")}
    assert _indexes(adb, target="connection", **{"class": entity_class}) == set()
    schema = adb.one({"GetSchema": {}})["entities"]["classes"][entity_class]["properties"]
    assert schema["name"][1] is True and schema["n"][1] is True
    adb.one({"RemoveIndex": index})
    assert _indexes(adb, **{"class": entity_class}) == {("entity", entity_class, "n", "ordered")}
    assert adb.one({"GetSchema": {}})["entities"]["classes"][entity_class]["properties"]["name"][1] is False


def test_built_in_indexes_are_listed_and_cannot_be_removed(test_server_adb):
    builtin = ("entity", "_Descriptor", "_set_name", "ordered")
    assert builtin in _indexes(test_server_adb)
    error = test_server_adb.fail([{"RemoveIndex": dict(zip(("target", "class", "property", "kind"), builtin))}])
    assert "built-in" in error["info"]


@pytest.mark.parametrize("params, named", [
    ({"target": "entity", "class": "C", "property_key": "p"}, "property_key"),
    ({"target": "entity", "class": "C", "property": "p", "kind": "hash"}, "kind 'hash'"),
    ({"target": "image", "class": "C", "property": "p"}, "target must be"),
    ({"target": "entity", "class": "C", "property": "p", "params": {}}, "params"),
])
def test_index_commands_refuse_mixed_forms_and_unsupported_kinds(test_server_adb, params, named):
    error = test_server_adb.fail([{"CreateIndex": params}])
    assert named in error["info"], error["info"]

"""Entities and the parameters every command shares: results, sort, paging, refs, uniqueness.

These tests run against any ApertureDB (``adb``): each works in its own entity class.
"""

from __future__ import annotations

import pytest


def _add_people(adb, cls, people):
    adb.run([{"AddEntity": {"class": cls, "properties": props}} for props in people])


PEOPLE = [
    {"name": "ann", "age": 31, "member": True},
    {"name": "bob", "age": 25, "member": False},
    {"name": "cy", "age": 47},
    {"name": "dee", "age": 25, "member": True},
]


def test_add_entity_answers_status_only(adb, entity_class):
    answer, _ = adb.query([{"AddEntity": {"class": entity_class, "properties": {"name": "x"}}}])
    assert answer == [{"AddEntity": {"status": 0}}]


def test_find_entity_returns_listed_properties_with_missing_ones_as_null(adb, entity_class):
    _add_people(adb, entity_class, PEOPLE)
    found = adb.entities("FindEntity", {"with_class": entity_class, "results": {"list": ["name", "member"]},
                                        "sort": "name"})
    assert found == [
        {"name": "ann", "member": True}, {"name": "bob", "member": False},
        {"name": "cy", "member": None}, {"name": "dee", "member": True},
    ]


def test_property_types_round_trip(adb, entity_class):
    props = {"text": "héllo ✓", "integer": -7, "real": 2.5, "flag": False,
             "when": {"_date": "2019-06-04T18:59:32+00:00"}}
    adb.one({"AddEntity": {"class": entity_class, "properties": props}})
    [found] = adb.entities("FindEntity", {"with_class": entity_class, "results": {"all_properties": True}})
    assert found.pop("_uniqueid")
    assert found == props


def test_all_properties_returns_user_properties_and_uniqueid(adb, entity_class):
    _add_people(adb, entity_class, PEOPLE[:1])
    [found] = adb.entities("FindEntity", {"with_class": entity_class, "results": {"all_properties": True}})
    assert set(found) == {"name", "age", "member", "_uniqueid"}
    assert isinstance(found["_uniqueid"], str) and found["_uniqueid"]


def test_count_counts_every_match_beside_limit(adb, entity_class):
    _add_people(adb, entity_class, PEOPLE)
    answer = adb.one({"FindEntity": {"with_class": entity_class, "limit": 1,
                                     "results": {"count": True, "list": ["name"]}}})
    assert answer["count"] == 4 and answer["returned"] == 1 and len(answer["entities"]) == 1


def test_count_alone_returns_no_entities(adb, entity_class):
    _add_people(adb, entity_class, PEOPLE)
    answer = adb.one({"FindEntity": {"with_class": entity_class, "results": {"count": True}}})
    assert answer == {"status": 0, "count": 4, "returned": 0}


def test_find_without_matches_returns_nothing(adb, entity_class):
    answer = adb.one({"FindEntity": {"with_class": entity_class, "results": {"list": ["name"]}}})
    assert answer["returned"] == 0 and not answer.get("entities")


@pytest.mark.parametrize("sort, key, values", [
    ("name", "name", ["ann", "bob", "cy", "dee"]),
    ({"key": "name", "order": "descending"}, "name", ["dee", "cy", "bob", "ann"]),
    ({"key": "age", "order": "ascending"}, "age", [25, 25, 31, 47]),
    ({"key": "age"}, "age", [25, 25, 31, 47]),
    ({"key": "age", "order": "descending"}, "age", [47, 31, 25, 25]),
])
def test_sort_orders_by_a_key(adb, entity_class, sort, key, values):
    _add_people(adb, entity_class, PEOPLE)
    found = adb.entities("FindEntity", {"with_class": entity_class, "sort": sort, "results": {"list": [key]}})
    assert [e[key] for e in found] == values


def test_sort_by_several_keys(adb, entity_class):
    _add_people(adb, entity_class, PEOPLE)
    found = adb.entities("FindEntity", {
        "with_class": entity_class, "results": {"list": ["name"]},
        "sort": [{"key": "age", "order": "descending"}, {"key": "name", "order": "descending"}],
    })
    assert [e["name"] for e in found] == ["cy", "ann", "dee", "bob"]


def test_sort_puts_objects_missing_the_key_last(test_server_adb, entity_class):
    _add_people(test_server_adb, entity_class, PEOPLE)
    for order, expected in (("ascending", ["bob", "ann", "dee", "cy"]), ("descending", ["ann", "dee", "bob", "cy"])):
        found = test_server_adb.entities("FindEntity", {"with_class": entity_class, "results": {"list": ["name"]},
                                                        "sort": [{"key": "member", "order": order}, {"key": "name"}]})
        assert [e["name"] for e in found] == expected


@pytest.mark.parametrize("offset, limit, names", [
    (0, 2, ["ann", "bob"]),
    (1, 2, ["bob", "cy"]),
    (3, 5, ["dee"]),
    (4, 1, []),
    (2, None, ["cy", "dee"]),
])
def test_limit_and_offset_page_through_sorted_results(adb, entity_class, offset, limit, names):
    _add_people(adb, entity_class, PEOPLE)
    params = {"with_class": entity_class, "sort": "name", "offset": offset, "results": {"list": ["name"]}}
    if limit is not None:
        params["limit"] = limit
    assert [e["name"] for e in adb.entities("FindEntity", params)] == names


def test_limit_inside_results_is_accepted(adb, entity_class):
    _add_people(adb, entity_class, PEOPLE)
    found = adb.entities("FindEntity", {"with_class": entity_class,
                                        "results": {"list": ["name"], "limit": 3, "sort": "name"}})
    assert [e["name"] for e in found] == ["ann", "bob", "cy"]


def test_uniqueids_adds_a_distinct_uniqueid_to_each_entity(adb, entity_class):
    _add_people(adb, entity_class, PEOPLE)
    found = adb.entities("FindEntity", {"with_class": entity_class, "uniqueids": True})
    assert len(found) == 4 and len({e["_uniqueid"] for e in found}) == 4


def test_uniqueid_constraint_finds_by_equality_and_membership(adb, entity_class):
    _add_people(adb, entity_class, PEOPLE)
    found = adb.entities("FindEntity", {"with_class": entity_class, "sort": "name",
                                        "results": {"list": ["name", "_uniqueid"]}})
    ids = {e["name"]: e["_uniqueid"] for e in found}
    [bob] = adb.entities("FindEntity", {"with_class": entity_class, "constraints": {"_uniqueid": ["==", ids["bob"]]},
                                        "results": {"list": ["name"]}})
    assert bob == {"name": "bob"}
    some = adb.entities("FindEntity", {"with_class": entity_class, "sort": "name", "results": {"list": ["name"]},
                                       "constraints": {"_uniqueid": ["in", [ids["ann"], ids["dee"]]]}})
    assert [e["name"] for e in some] == ["ann", "dee"]


def test_uniqueid_constraint_refuses_ordering_operators(adb, entity_class):
    _add_people(adb, entity_class, PEOPLE[:1])
    adb.fail([{"FindEntity": {"with_class": entity_class, "constraints": {"_uniqueid": [">", "0.0.0"]},
                              "results": {"count": True}}}])


def test_batch_splits_results_and_reports_totals(adb, entity_class):
    _add_people(adb, entity_class, PEOPLE + [{"name": "eve", "age": 60}])
    names = []
    for batch_id in range(2):
        answer = adb.one({"FindEntity": {"with_class": entity_class, "sort": "name", "results": {"list": ["name"]},
                                         "batch": {"batches": 2, "batch_id": batch_id}}})
        assert answer["batch"]["batch_id"] == batch_id and answer["batch"]["total_elements"] == 5
        names.append([e["name"] for e in answer["entities"]])
    # floor(5 / 2) in each batch, the remainder in the last one
    assert names == [["ann", "bob"], ["cy", "dee", "eve"]]


def test_batch_by_size_ends_at_the_last_element(adb, entity_class):
    _add_people(adb, entity_class, PEOPLE)
    answer = adb.one({"FindEntity": {"with_class": entity_class, "sort": "name", "results": {"list": ["name"]},
                                     "batch": {"batch_size": 3, "batch_id": 1}}})
    assert [e["name"] for e in answer["entities"]] == ["dee"]
    assert answer["batch"]["end"] >= answer["batch"]["total_elements"] == 4


def test_empty_batch_returns_only_the_total(adb, entity_class):
    _add_people(adb, entity_class, PEOPLE)
    answer = adb.one({"FindEntity": {"with_class": entity_class, "batch": {}, "results": {"list": ["name"]}}})
    assert answer["batch"]["total_elements"] == 4 and not answer.get("entities")


def test_unique_with_several_matches_answers_status_3(adb, entity_class):
    _add_people(adb, entity_class, PEOPLE)
    answer, _ = adb.query([{"FindEntity": {"with_class": entity_class, "unique": True,
                                           "constraints": {"age": ["==", 25]}, "results": {"list": ["name"]}}}])
    assert isinstance(answer, dict) and answer["status"] == 3, answer


def test_unique_with_one_match_returns_it(adb, entity_class):
    _add_people(adb, entity_class, PEOPLE)
    found = adb.entities("FindEntity", {"with_class": entity_class, "unique": True,
                                        "constraints": {"age": ["==", 47]}, "results": {"list": ["name"]}})
    assert found == [{"name": "cy"}]


def test_if_not_found_adds_once_then_answers_object_exists(adb, entity_class):
    add = {"AddEntity": {"class": entity_class, "properties": {"name": "solo", "age": 1},
                         "if_not_found": {"name": ["==", "solo"]}}}
    assert adb.query([add])[0] == [{"AddEntity": {"status": 0}}]
    answer, _ = adb.query([add])
    assert answer == [{"AddEntity": {"status": 2, "info": "Object Exists!"}}]
    assert adb.one({"FindEntity": {"with_class": entity_class, "results": {"count": True}}})["count"] == 1


def test_if_not_found_binds_the_existing_object_to_its_ref(adb, entity_class):
    _add_people(adb, entity_class, PEOPLE[:1])
    answers, _ = adb.query([
        {"AddEntity": {"_ref": 1, "class": entity_class, "properties": {"name": "ann"},
                       "if_not_found": {"name": ["==", "ann"]}}},
        {"UpdateEntity": {"ref": 1, "properties": {"seen": True}}},
    ])
    assert answers == [{"AddEntity": {"status": 2, "info": "Object Exists!"}},
                       {"UpdateEntity": {"status": 0, "count": 1}}]
    [ann] = adb.entities("FindEntity", {"with_class": entity_class, "results": {"list": ["seen"]}})
    assert ann == {"seen": True}


def test_update_entity_sets_and_removes_properties(adb, entity_class):
    _add_people(adb, entity_class, PEOPLE)
    answer = adb.one({"UpdateEntity": {"with_class": entity_class, "constraints": {"age": ["==", 25]},
                                       "properties": {"age": 26, "note": "older"}, "remove_props": ["member"]}})
    assert answer == {"status": 0, "count": 2}
    found = adb.entities("FindEntity", {"with_class": entity_class, "sort": "name",
                                        "results": {"list": ["name", "age", "note", "member"]}})
    assert found == [
        {"name": "ann", "age": 31, "note": None, "member": True},
        {"name": "bob", "age": 26, "note": "older", "member": None},
        {"name": "cy", "age": 47, "note": None, "member": None},
        {"name": "dee", "age": 26, "note": "older", "member": None},
    ]


def test_update_entity_by_ref_changes_only_the_referenced_objects(adb, entity_class):
    _add_people(adb, entity_class, PEOPLE)
    answers, _ = adb.run([
        {"FindEntity": {"_ref": 1, "with_class": entity_class, "constraints": {"name": ["==", "cy"]}}},
        {"UpdateEntity": {"ref": 1, "properties": {"age": 48}}},
    ])
    assert answers[0]["returned"] == 0 and answers[1]["count"] == 1
    found = adb.entities("FindEntity", {"with_class": entity_class, "sort": "name", "results": {"list": ["age"]}})
    assert [e["age"] for e in found] == [31, 25, 48, 25]


def test_update_without_matches_counts_zero(adb, entity_class):
    _add_people(adb, entity_class, PEOPLE)
    answer = adb.one({"UpdateEntity": {"with_class": entity_class, "constraints": {"age": ["==", 99]},
                                       "properties": {"x": 1}}})
    assert answer == {"status": 0, "count": 0}


def test_delete_entity_by_constraints_and_by_class(adb, entity_class):
    _add_people(adb, entity_class, PEOPLE)
    assert adb.one({"DeleteEntity": {"with_class": entity_class, "constraints": {"age": ["<", 30]}}})["count"] == 2
    remaining = adb.entities("FindEntity", {"with_class": entity_class, "sort": "name", "results": {"list": ["name"]}})
    assert [e["name"] for e in remaining] == ["ann", "cy"]
    assert adb.one({"DeleteEntity": {"with_class": entity_class}})["count"] == 2
    assert adb.one({"FindEntity": {"with_class": entity_class, "results": {"count": True}}})["count"] == 0


def test_delete_entity_by_ref(adb, entity_class):
    _add_people(adb, entity_class, PEOPLE)
    answers, _ = adb.run([
        {"FindEntity": {"_ref": 7, "with_class": entity_class, "constraints": {"member": ["==", True]}}},
        {"DeleteEntity": {"ref": 7}},
    ])
    assert answers[1]["count"] == 2
    remaining = adb.entities("FindEntity", {"with_class": entity_class, "sort": "name", "results": {"list": ["name"]}})
    assert [e["name"] for e in remaining] == ["bob", "cy"]


def test_ref_names_a_result_for_later_commands_of_the_transaction(adb, entity_class):
    answers, _ = adb.run([
        {"AddEntity": {"_ref": 1, "class": entity_class, "properties": {"name": "first"}}},
        {"FindEntity": {"_ref": 2, "with_class": entity_class, "constraints": {"name": ["==", "first"]},
                        "results": {"list": ["name"]}}},
        {"UpdateEntity": {"ref": 2, "properties": {"touched": 1}}},
        {"FindEntity": {"with_class": entity_class, "results": {"list": ["touched"]}}},
    ])
    assert answers[1]["entities"] == [{"name": "first"}]
    assert answers[2]["count"] == 1
    assert answers[3]["entities"] == [{"touched": 1}]


def test_find_with_ref_only_returns_nothing(adb, entity_class):
    _add_people(adb, entity_class, PEOPLE)
    answer = adb.one({"FindEntity": {"_ref": 1, "with_class": entity_class}})
    assert answer == {"status": 0, "returned": 0}


def test_class_in_find_entity_is_accepted_for_with_class(adb, entity_class):
    _add_people(adb, entity_class, PEOPLE)
    answer = adb.one({"FindEntity": {"class": entity_class, "results": {"count": True}}})
    assert answer["count"] == 4


def test_user_property_names_starting_with_underscore_are_refused(adb, entity_class):
    adb.fail([{"AddEntity": {"class": entity_class, "properties": {"_secret": 1}}}])


def test_if_not_found_matching_several_answers_status_3_and_adds_nothing(test_server_adb, entity_class):
    _add_people(test_server_adb, entity_class, PEOPLE)
    answer, _ = test_server_adb.query([{"AddEntity": {"class": entity_class, "properties": {"name": "new"},
                                                      "if_not_found": {"age": ["==", 25]}}}])
    assert isinstance(answer, dict) and answer["status"] == 3
    assert test_server_adb.one({"FindEntity": {"with_class": entity_class, "results": {"count": True}}})["count"] == 4


def test_if_not_found_with_a_ref_adds_only_when_that_find_was_empty(adb, entity_class):
    query = [
        {"FindEntity": {"_ref": 1, "with_class": entity_class, "constraints": {"name": ["==", "once"]}}},
        {"AddEntity": {"class": entity_class, "properties": {"name": "once"}, "if_not_found": 1}},
    ]
    assert adb.query(query)[0][1] == {"AddEntity": {"status": 0}}
    assert adb.query(query)[0][1] == {"AddEntity": {"status": 2, "info": "Object Exists!"}}
    assert adb.one({"FindEntity": {"with_class": entity_class, "results": {"count": True}}})["count"] == 1


def test_create_txn_is_shared_by_the_objects_of_one_transaction(adb, entity_class):
    adb.run([{"AddEntity": {"class": entity_class, "properties": {"n": n}}} for n in range(2)])
    adb.one({"AddEntity": {"class": entity_class, "properties": {"n": 2}}})
    found = adb.entities("FindEntity", {"with_class": entity_class, "sort": "n", "results": {"list": ["_create_txn"]}})
    first, second, third = (e["_create_txn"] for e in found)
    assert first == second != third

"""Connections: added, found, updated, deleted, and followed by ``is_connected_to`` and ``connect``."""

from __future__ import annotations

import pytest


@pytest.fixture
def graph(adb, entity_class, run):
    """people a, b, c, d: a -knows-> b, a -knows-> c, c -knows-> d, d -likes-> a."""
    knows, likes = f"knows_{run}", f"likes_{run}"
    adb.run([{"AddEntity": {"_ref": n + 1, "class": entity_class, "properties": {"name": name}}}
            for n, name in enumerate("abcd")] + [
        {"AddConnection": {"class": knows, "src": 1, "dst": 2, "properties": {"since": 2001, "close": True}}},
        {"AddConnection": {"class": knows, "src": 1, "dst": 3, "properties": {"since": 1999, "close": False}}},
        {"AddConnection": {"class": knows, "src": 3, "dst": 4, "properties": {"since": 2010}}},
        {"AddConnection": {"class": likes, "src": 4, "dst": 1}},
    ])
    return {"cls": entity_class, "knows": knows, "likes": likes}


def _person(graph, name, ref=1):
    return {"FindEntity": {"_ref": ref, "with_class": graph["cls"], "constraints": {"name": ["==", name]}}}


def _neighbours(adb, graph, name, **link):
    answers, _ = adb.run([_person(graph, name), {"FindEntity": {
        "with_class": graph["cls"], "is_connected_to": {"ref": 1, **link}, "results": {"list": ["name"]},
    }}])
    return sorted(e["name"] for e in answers[1].get("entities", []))


@pytest.mark.parametrize("name, link, names", [
    ("a", {"direction": "out"}, ["b", "c"]),
    ("a", {"direction": "in"}, ["d"]),
    ("a", {"direction": "any"}, ["b", "c", "d"]),
    ("a", {}, ["b", "c", "d"]),
    ("a", {"direction": "any", "connection_class": "knows"}, ["b", "c"]),
    ("c", {"direction": "in", "connection_class": "knows"}, ["a"]),
    ("b", {"direction": "out"}, []),
    ("a", {"direction": "out", "constraints": {"since": [">", 2000]}}, ["b"]),
])
def test_is_connected_to_follows_direction_and_class(adb, graph, name, link, names):
    if "connection_class" in link:
        link = {**link, "connection_class": graph[link["connection_class"]]}
    assert _neighbours(adb, graph, name, **link) == names


def test_is_connected_to_any_and_all_of_several_refs(adb, graph):
    answers, _ = adb.run([
        _person(graph, "a", 1), _person(graph, "d", 2),
        {"FindEntity": {"with_class": graph["cls"], "results": {"list": ["name"]}, "sort": "name",
                        "is_connected_to": {"any": [{"ref": 1, "direction": "out"}, {"ref": 2, "direction": "in"}]}}},
        {"FindEntity": {"with_class": graph["cls"], "results": {"list": ["name"]}, "sort": "name",
                        "is_connected_to": {"all": [{"ref": 1}, {"ref": 2}]}}},
    ])
    assert [e["name"] for e in answers[2]["entities"]] == ["b", "c"]
    assert [e["name"] for e in answers[3]["entities"]] == ["c"]


def test_group_by_source_keys_results_by_the_connected_object(adb, graph):
    answers, _ = adb.run([
        {"FindEntity": {"_ref": 1, "with_class": graph["cls"], "constraints": {"name": ["in", ["a", "c"]]},
                        "results": {"list": ["name", "_uniqueid"]}}},
        {"FindEntity": {"with_class": graph["cls"], "group_by_source": True, "results": {"list": ["name"]},
                        "is_connected_to": {"ref": 1, "direction": "out", "connection_class": graph["knows"]}}},
    ])
    ids = {e["name"]: e["_uniqueid"] for e in answers[0]["entities"]}
    grouped = answers[1]["entities"]
    assert sorted(e["name"] for e in grouped[ids["a"]]) == ["b", "c"]
    assert grouped[ids["c"]] == [{"name": "d"}]


def test_find_connection_by_class_lists_properties_and_ends(adb, graph):
    answers, _ = adb.run([
        {"FindEntity": {"with_class": graph["cls"], "results": {"list": ["name", "_uniqueid"]}}},
        {"FindConnection": {"with_class": graph["knows"], "sort": "since",
                            "results": {"list": ["since", "close", "_src", "_dst"], "count": True}}},
    ])
    ids = {e["name"]: e["_uniqueid"] for e in answers[0]["entities"]}
    found = answers[1]
    assert found["count"] == 3 and found["returned"] == 3
    assert found["connections"] == [
        {"since": 1999, "close": False, "_src": ids["a"], "_dst": ids["c"]},
        {"since": 2001, "close": True, "_src": ids["a"], "_dst": ids["b"]},
        {"since": 2010, "close": None, "_src": ids["c"], "_dst": ids["d"]},
    ]


def test_find_connection_by_src_and_dst(adb, graph):
    answers, _ = adb.run([
        _person(graph, "a", 1), _person(graph, "c", 2),
        {"FindConnection": {"src": 1, "results": {"list": ["since"]}, "sort": "since"}},
        {"FindConnection": {"dst": 2, "results": {"list": ["since"]}}},
        {"FindConnection": {"src": 1, "dst": 2, "results": {"list": ["since"]}}},
        {"FindConnection": {"src": 2, "dst": 1, "results": {"count": True}}},
    ])
    assert [c["since"] for c in answers[2]["connections"]] == [1999, 2001]
    assert answers[3]["connections"] == [{"since": 1999}]
    assert answers[4]["connections"] == [{"since": 1999}]
    assert answers[5]["count"] == 0


def test_find_connection_constraints_sort_limit_and_offset(adb, graph):
    found = adb.one({"FindConnection": {"with_class": graph["knows"], "constraints": {"since": [">=", 2000]},
                                        "sort": {"key": "since", "order": "descending"}, "limit": 1, "offset": 1,
                                        "results": {"list": ["since"]}}})
    assert found["connections"] == [{"since": 2001}]


def test_find_connection_sorts_like_find_entity(test_server_adb, entity_class, run):
    link = f"rated_{run}"
    test_server_adb.run([
        {"AddEntity": {"_ref": 1, "class": entity_class}},
        {"AddEntity": {"_ref": 2, "class": entity_class}},
        {"AddConnection": {"class": link, "src": 1, "dst": 2, "properties": {"close": True}}},
        {"AddConnection": {"class": link, "src": 1, "dst": 2}},
        {"AddConnection": {"class": link, "src": 1, "dst": 2, "properties": {"close": False}}},
    ])
    for order, expected in (("ascending", [False, True, None]), ("descending", [True, False, None])):
        found = test_server_adb.one({"FindConnection": {"with_class": link, "results": {"list": ["close"]},
                                                        "sort": {"key": "close", "order": order}}})
        assert [c["close"] for c in found["connections"]] == expected


def test_find_connection_uniqueids_and_unique(adb, graph):
    found = adb.one({"FindConnection": {"with_class": graph["likes"], "uniqueids": True, "unique": True}})
    assert len(found["connections"]) == 1 and found["connections"][0]["_uniqueid"]
    answer, _ = adb.query([{"FindConnection": {"with_class": graph["knows"], "unique": True,
                                               "results": {"count": True}}}])
    assert isinstance(answer, dict) and answer["status"] == 3


def test_update_connection_sets_and_removes_properties(adb, graph):
    answer = adb.one({"UpdateConnection": {"with_class": graph["knows"], "constraints": {"since": ["<", 2005]},
                                           "properties": {"checked": True}, "remove_props": ["close"]}})
    assert answer == {"status": 0, "count": 2}
    found = adb.one({"FindConnection": {"with_class": graph["knows"], "sort": "since",
                                        "results": {"list": ["since", "close", "checked"]}}})
    assert found["connections"] == [
        {"since": 1999, "close": None, "checked": True},
        {"since": 2001, "close": None, "checked": True},
        {"since": 2010, "close": None, "checked": None},
    ]


def test_update_connection_by_ref(adb, graph):
    answers, _ = adb.run([
        _person(graph, "c", 1),
        {"FindConnection": {"_ref": 2, "src": 1}},
        {"UpdateConnection": {"ref": 2, "properties": {"since": 2011}}},
    ])
    assert answers[2]["count"] == 1
    found = adb.one({"FindConnection": {"with_class": graph["knows"], "constraints": {"since": [">", 2010]},
                                        "results": {"count": True}}})
    assert found["count"] == 1


def test_delete_connection_keeps_its_ends(adb, graph):
    assert adb.one({"DeleteConnection": {"with_class": graph["likes"]}}) == {"status": 0, "count": 1}
    assert _neighbours(adb, graph, "a", direction="in") == []
    assert adb.one({"FindEntity": {"with_class": graph["cls"], "results": {"count": True}}})["count"] == 4


def test_delete_connection_by_constraints(adb, graph):
    assert adb.one({"DeleteConnection": {"with_class": graph["knows"], "constraints": {"close": ["==", False]}}}) \
        == {"status": 0, "count": 1}
    assert _neighbours(adb, graph, "a", direction="out") == ["b"]


def test_deleting_an_entity_deletes_its_connections(adb, graph):
    adb.run([_person(graph, "c"), {"DeleteEntity": {"ref": 1}}])
    found = adb.one({"FindConnection": {"with_class": graph["knows"], "results": {"list": ["since"]}}})
    assert found["connections"] == [{"since": 2001}]


def test_connect_links_a_new_object_in_either_direction(adb, entity_class, run):
    link = f"owns_{run}"
    adb.run([
        {"AddEntity": {"_ref": 1, "class": entity_class, "properties": {"name": "owner"}}},
        {"AddEntity": {"class": entity_class, "properties": {"name": "thing"},
                       "connect": {"ref": 1, "class": link, "direction": "in", "properties": {"p": 1}}}},
        {"AddEntity": {"class": entity_class, "properties": {"name": "boss"},
                       "connect": {"ref": 1, "class": link, "direction": "out"}}},
    ])
    answers, _ = adb.run([
        {"FindEntity": {"_ref": 1, "with_class": entity_class, "constraints": {"name": ["==", "owner"]}}},
        {"FindEntity": {"with_class": entity_class, "results": {"list": ["name"]},
                        "is_connected_to": {"ref": 1, "direction": "out", "connection_class": link}}},
        {"FindEntity": {"with_class": entity_class, "results": {"list": ["name"]},
                        "is_connected_to": {"ref": 1, "direction": "in", "connection_class": link}}},
        {"FindConnection": {"with_class": link, "src": 1, "results": {"list": ["p"]}}},
    ])
    assert answers[1]["entities"] == [{"name": "thing"}]
    assert answers[2]["entities"] == [{"name": "boss"}]
    assert answers[3]["connections"] == [{"p": 1}]


def test_connect_comes_from_the_referenced_object_by_default(test_server_adb, entity_class, run):
    link = f"default_{run}"
    test_server_adb.run([
        {"AddEntity": {"_ref": 1, "class": entity_class, "properties": {"name": "parent"}}},
        {"AddEntity": {"class": entity_class, "properties": {"name": "child"}, "connect": {"ref": 1, "class": link}}},
    ])
    answers, _ = test_server_adb.run([
        {"FindEntity": {"_ref": 1, "with_class": entity_class, "constraints": {"name": ["==", "parent"]}}},
        {"FindEntity": {"with_class": entity_class, "results": {"list": ["name"]},
                        "is_connected_to": {"ref": 1, "direction": "out", "connection_class": link}}},
    ])
    assert answers[1]["entities"] == [{"name": "child"}]


def test_add_connection_connects_every_pair_of_src_and_dst(adb, entity_class, run):
    link = f"pairs_{run}"
    adb.run([{"AddEntity": {"class": entity_class, "properties": {"side": side, "n": n}}}
            for side in ("left", "right") for n in range(2)])
    adb.run([
        {"FindEntity": {"_ref": 1, "with_class": entity_class, "constraints": {"side": ["==", "left"]}}},
        {"FindEntity": {"_ref": 2, "with_class": entity_class, "constraints": {"side": ["==", "right"]}}},
        {"AddConnection": {"class": link, "src": 1, "dst": 2}},
    ])
    assert adb.one({"FindConnection": {"with_class": link, "results": {"count": True}}})["count"] == 4


def test_add_connection_if_not_found_adds_once(adb, graph):
    query = [_person(graph, "b", 1), _person(graph, "c", 2),
             {"AddConnection": {"class": graph["knows"], "src": 1, "dst": 2, "properties": {"since": 2020},
                                "if_not_found": {"since": ["==", 2020]}}}]
    assert adb.query(query)[0][2] == {"AddConnection": {"status": 0}}
    assert adb.query(query)[0][2] == {"AddConnection": {"status": 2, "info": "Object Exists!"}}
    found = adb.one({"FindConnection": {"with_class": graph["knows"], "constraints": {"since": ["==", 2020]},
                                        "results": {"count": True}}})
    assert found["count"] == 1


def test_add_connection_needs_existing_refs(adb, graph):
    adb.fail([_person(graph, "a", 1), {"AddConnection": {"class": graph["knows"], "src": 1, "dst": 9}}])

"""``constraints``: every operator, ranges, dates, ``any`` / ``all``, and missing properties."""

from __future__ import annotations

import pytest

ITEMS = [
    {"key": "a", "n": 1, "colour": "red", "day": {"_date": "2021-01-01T00:00:00+00:00"}},
    {"key": "b", "n": 2, "colour": "green", "day": {"_date": "2021-06-15T12:00:00+00:00"}},
    {"key": "c", "n": 3, "colour": "blue", "day": {"_date": "2022-01-01T00:00:00+00:00"}},
    {"key": "d", "n": 4, "colour": "red"},
    {"key": "e", "n": 5},
    {"key": "f", "colour": "blue"},
]


@pytest.fixture
def items(adb, entity_class):
    adb.run([{"AddEntity": {"class": entity_class, "properties": item}} for item in ITEMS])
    return entity_class


def _keys(adb, cls, constraints):
    found = adb.entities("FindEntity", {"with_class": cls, "constraints": constraints, "results": {"list": ["key"]}})
    return sorted(e["key"] for e in found)


@pytest.mark.parametrize("constraints, keys", [
    ({"n": ["==", 3]}, ["c"]),
    ({"n": ["!=", 3]}, ["a", "b", "d", "e", "f"]),
    ({"n": ["<", 3]}, ["a", "b"]),
    ({"n": ["<=", 3]}, ["a", "b", "c"]),
    ({"n": [">", 3]}, ["d", "e"]),
    ({"n": [">=", 3]}, ["c", "d", "e"]),
    ({"colour": ["in", ["red", "blue"]]}, ["a", "c", "d", "f"]),
    ({"colour": ["not in", ["red", "blue"]]}, ["b", "e"]),
    ({"colour": ["in", []]}, []),
    ({"colour": ["==", "red"]}, ["a", "d"]),
    ({"colour": [">", "p"]}, ["a", "d"]),
    ({"n": [">=", 2, "<", 5]}, ["b", "c", "d"]),
    ({"n": [">", 1, "<=", 4, "!=", 3]}, ["b", "d"]),
    ({"n": [">=", 2], "colour": ["==", "red"]}, ["d"]),
    ({"n": ["==", 99]}, []),
    ({"colour": ["!=", None]}, ["a", "b", "c", "d", "f"]),
])
def test_operator_selects_matching_objects(adb, items, constraints, keys):
    assert _keys(adb, items, constraints) == keys


@pytest.mark.parametrize("constraints, keys", [
    ({"day": ["==", {"_date": "2021-06-15T12:00:00+00:00"}]}, ["b"]),
    ({"day": [">=", {"_date": "2021-06-01T00:00:00Z"}]}, ["b", "c"]),
    ({"day": ["<", {"_date": "2021-06-15T14:00:00+02:00"}]}, ["a"]),
    ({"day": [">", {"_date": "2020-12-31T00:00:00Z"}, "<", {"_date": "2021-12-31T00:00:00Z"}]}, ["a", "b"]),
])
def test_date_values_compare_as_points_in_time(adb, items, constraints, keys):
    assert _keys(adb, items, constraints) == keys


def test_dates_come_back_as_date_objects(adb, items):
    [found] = adb.entities("FindEntity", {"with_class": items, "constraints": {"key": ["==", "b"]},
                                          "results": {"list": ["day"]}})
    assert set(found["day"]) == {"_date"} and found["day"]["_date"].startswith("2021-06-15T12:00:00")


@pytest.mark.parametrize("constraints, keys", [
    ({"any": {"n": ["==", 1], "colour": ["==", "blue"]}}, ["a", "c", "f"]),
    ({"any": [{"n": ["==", 1]}, {"n": ["==", 5]}]}, ["a", "e"]),
    ({"all": {"n": [">", 1], "colour": ["==", "red"]}}, ["d"]),
    ({"all": [{"n": [">", 1]}, {"n": ["<", 4]}]}, ["b", "c"]),
    ({"colour": ["==", "red"], "any": {"n": ["==", 1], "key": ["==", "d"]}}, ["a", "d"]),
    ({"any": {"n": [">=", 2, "<", 4], "key": ["==", "f"]}}, ["b", "c", "f"]),
    ({"any": [{"all": {"n": [">", 3], "colour": ["==", "red"]}}, {"key": ["==", "a"]}]}, ["a", "d"]),
])
def test_any_and_all_combine_conditions(adb, items, constraints, keys):
    assert _keys(adb, items, constraints) == keys


def test_constraints_filter_updates_and_deletes(adb, items):
    assert adb.one({"UpdateEntity": {"with_class": items, "constraints": {"n": [">=", 4]},
                                     "properties": {"big": True}}})["count"] == 2
    assert _keys(adb, items, {"big": ["==", True]}) == ["d", "e"]
    assert adb.one({"DeleteEntity": {"with_class": items, "constraints": {"colour": ["in", ["blue"]]}}})["count"] == 2
    assert _keys(adb, items, {"key": ["!=", ""]}) == ["a", "b", "d", "e"]


@pytest.mark.parametrize("constraints", [
    {"n": ["~=", 1]},
    {"n": ["==", 1, ">"]},
    {"n": "==1"},
    {"n": ["in", 1]},
])
def test_malformed_constraints_fail_the_query(adb, items, constraints):
    adb.fail([{"FindEntity": {"with_class": items, "constraints": constraints, "results": {"count": True}}}])


def test_create_txn_ranges_find_what_later_transactions_added(adb, run, make_image):
    """What an incremental sync relies on: ``_create_txn`` grows with transactions, and a range on it finds
    exactly the images and boxes added after a given transaction, whatever else it is combined with."""
    def add(name):
        adb.run([{"AddImage": {"_ref": 1, "properties": {"run": run, "name": name}}},
                 {"AddBoundingBox": {"image_ref": 1, "rectangle": {"x": 0, "y": 0, "width": 2, "height": 2},
                                     "label": name, "properties": {"run": run}}}], [make_image(4, 4)])

    def created(command, constraints):
        found = adb.entities(command, {"constraints": {"run": ["==", run], **constraints},
                                       "results": {"list": ["_create_txn"]}, "uniqueids": True})
        return {entity["_uniqueid"]: entity["_create_txn"] for entity in found}

    add("first")
    (first_txn,) = created("FindImage", {}).values()
    add("second")
    add("third")
    images = created("FindImage", {})
    boxes = created("FindBoundingBox", {})

    assert len(images) == 3 and len(set(images.values())) == 3
    assert min(images.values()) == first_txn
    later = created("FindImage", {"_create_txn": [">", first_txn]})
    assert set(later) == {uid for uid, txn in images.items() if txn > first_txn} and len(later) == 2
    assert len(created("FindBoundingBox", {"_create_txn": [">", first_txn]})) == 2
    assert sorted(boxes.values()) == sorted(images.values())  # a box shares its image's transaction
    assert created("FindImage", {"_create_txn": [">", max(images.values())]}) == {}
    names = adb.entities("FindImage", {"constraints": {"run": ["==", run], "_create_txn": [">=", first_txn],
                                                       "name": ["!=", "second"]}, "results": {"list": ["name"]}})
    assert sorted(e["name"] for e in names) == ["first", "third"]


def test_a_bare_count_equals_the_count_of_a_constraint_matching_everything(adb, run, make_image):
    adb.run([{"AddImage": {"properties": {"run": run}}}], [make_image(4, 4)])
    for command in ("FindImage", "FindBoundingBox", "FindPolygon"):
        bare, constrained = adb.run([
            {command: {"results": {"count": True}}},
            {command: {"constraints": {"_uniqueid": ["!=", "no such id"]}, "results": {"count": True}}},
        ])[0]
        assert bare["count"] == constrained["count"] and bare["returned"] == constrained["returned"] == 0
    assert adb.one({"FindImage": {"results": {"count": True}}})["count"] >= 1

"""Constraints as expressions, the form the SDK writes: the same answers as the object form, wherever
constraints are taken, and errors that say where a malformed expression is wrong."""

from __future__ import annotations

import pytest
from aperturedb.Constraints import Constraints as SDKConstraints
from aperturedb.Constraints import predicate, to_expression
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from test_constraints import ITEMS, _keys

DATES = ["2021-01-01T00:00:00+00:00", "2021-06-15T12:00:00+00:00", "2021-09-01T00:00:00+00:00"]
OPERATORS = ["==", "!=", "<", "<=", ">", ">=", "in", "not in"]


@pytest.fixture
def items(adb, entity_class):
    adb.run([{"AddEntity": {"class": entity_class, "properties": item}} for item in ITEMS])
    return entity_class


# ---- generated: an expression and the object form it means, built side by side ---------------------------

VALUES = {
    "n": st.one_of(st.integers(0, 6), st.floats(0, 6, allow_nan=False)),
    "colour": st.sampled_from(["red", "green", "blue", "p", "$red"]),
    "key": st.sampled_from(list("abcdefg")),
    "day": st.sampled_from(DATES),
    "absent": st.integers(0, 3),
}


@st.composite
def comparisons(draw):
    """``(expression, object form)`` of one comparison, sometimes of a value of another type or null."""
    key = draw(st.sampled_from(sorted(VALUES)))
    op = draw(st.sampled_from(OPERATORS))
    source = draw(st.sampled_from([key] * 4 + ["n", "colour"]))  # the values of another key: another type
    if op in ("in", "not in"):
        options = draw(st.lists(VALUES[source], max_size=3))
        return (["$" + key, op, {"array": [_literal(source, v) for v in options]}],
                {key: [op, [_plain(source, v) for v in options]]})
    if op in ("==", "!=") and draw(st.integers(0, 9)) == 0:
        return ["$" + key, op, None], {key: [op, None]}
    value = draw(VALUES[source])
    return ["$" + key, op, _literal(source, value)], {key: [op, _plain(source, value)]}


def _literal(source, value):
    if source == "day":
        return {"to_date": value}
    return "$" + value if isinstance(value, str) and value.startswith("$") else value


def _plain(source, value):
    return {"_date": value} if source == "day" else value


def _combined(children):
    return st.tuples(st.sampled_from(["all", "any"]), st.lists(children, min_size=1, max_size=3)).map(
        lambda pair: ([pair[0]] + [expression for expression, _ in pair[1]],
                      {pair[0]: [block for _, block in pair[1]]}))


expressions = st.recursive(comparisons(), _combined, max_leaves=8)


@settings(max_examples=250, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(pair=expressions)
def test_both_forms_give_identical_answers(adb, items, pair):
    expression, object_form = pair
    assert _keys(adb, items, expression) == _keys(adb, items, object_form), (expression, object_form)


# ---- what the SDK writes ----------------------------------------------------------------------------------

@pytest.mark.parametrize("constraints, keys", [
    ({"n": ["==", 3]}, ["c"]),
    ({"n": [">=", 2, "<", 5]}, ["b", "c", "d"]),
    ({"colour": ["in", ["red", "blue"]]}, ["a", "c", "d", "f"]),
    ({"colour": ["not in", ["red", "blue"]]}, ["b", "e"]),
    ({"day": [">=", {"_date": "2021-06-01T00:00:00Z"}]}, ["b", "c"]),
    ({"n": [">=", 2], "colour": ["==", "red"]}, ["d"]),
    ({"any": {"n": [">=", 2, "<", 4], "key": ["==", "f"]}}, ["b", "c", "f"]),
    ({"colour": ["!=", None]}, ["a", "b", "c", "d", "f"]),
])
def test_the_sdks_to_expression_selects_what_the_object_form_selects(adb, items, constraints, keys):
    expression = to_expression(constraints)
    assert isinstance(expression, list)
    assert _keys(adb, items, expression) == _keys(adb, items, constraints) == keys


def test_the_sdks_constraints_mapper_is_understood(adb, items):
    anded = SDKConstraints().greaterequal("n", 2).less("n", 5).is_in("colour", ["red", "green"])
    assert _keys(adb, items, anded.constraints) == ["b", "d"]
    from aperturedb.Constraints import Conjunction
    ored = SDKConstraints(Conjunction.OR).equal("key", "a").equal("key", "f")
    assert _keys(adb, items, ored.constraints) == ["a", "f"]


def test_a_dollar_string_literal_is_escaped(adb, entity_class):
    adb.run([{"AddEntity": {"class": entity_class, "properties": {"key": "x", "price": "$5"}}},
             {"AddEntity": {"class": entity_class, "properties": {"key": "y", "price": "5"}}}])
    assert _keys(adb, entity_class, predicate("price", "==", "$5")) == ["x"]


def test_forms_mix_where_they_nest(adb, items):
    expression_holding_an_object = ["any", {"n": ["==", 1]}, ["$key", "==", "f"]]
    assert _keys(adb, items, expression_holding_an_object) == ["a", "f"]
    object_holding_an_expression = {"colour": ["==", "red"], "any": [["$n", "==", 1], ["$n", "==", 4]]}
    assert _keys(adb, items, object_holding_an_expression) == ["a", "d"]


# ---- every place constraints are taken --------------------------------------------------------------------

def test_updates_and_deletes_take_expressions(adb, items):
    assert adb.one({"UpdateEntity": {"with_class": items, "constraints": ["$n", ">=", 4],
                                     "properties": {"big": True}}})["count"] == 2
    assert _keys(adb, items, ["$big", "==", True]) == ["d", "e"]
    assert adb.one({"DeleteEntity": {"with_class": items,
                                     "constraints": ["any", ["$key", "==", "a"], ["$key", "==", "b"]]}})["count"] == 2
    assert _keys(adb, items, ["$key", "!=", ""]) == ["c", "d", "e", "f"]


def test_if_not_found_takes_an_expression(adb, entity_class):
    add = {"AddEntity": {"class": entity_class, "properties": {"image_id": 1000},
                         "if_not_found": predicate("image_id", "==", 1000)}}
    assert adb.one(add)["status"] == 0
    answer, _ = adb.query([add])
    assert answer[0]["AddEntity"]["status"] == 2
    assert len(adb.entities("FindEntity", {"with_class": entity_class, "results": {"list": ["image_id"]}})) == 1


def test_is_connected_to_and_its_connection_constraints_take_expressions(adb, entity_class, run):
    adb.run([
        {"AddEntity": {"_ref": 1, "class": entity_class, "properties": {"role": "hub", "run": run}}},
        {"AddEntity": {"_ref": 2, "class": entity_class, "properties": {"role": "leaf", "n": 1}}},
        {"AddEntity": {"_ref": 3, "class": entity_class, "properties": {"role": "leaf", "n": 2}}},
        {"AddConnection": {"class": f"{entity_class}_link", "src": 1, "dst": 2, "properties": {"weight": 1}}},
        {"AddConnection": {"class": f"{entity_class}_link", "src": 1, "dst": 3, "properties": {"weight": 5}}},
    ])
    answers, _ = adb.run([
        {"FindEntity": {"_ref": 1, "with_class": entity_class, "constraints": ["all", ["$role", "==", "hub"],
                                                                               ["$run", "==", run]]}},
        {"FindEntity": {"with_class": entity_class, "constraints": ["$n", ">", 0], "results": {"list": ["n"]},
                        "is_connected_to": {"ref": 1, "direction": "out", "constraints": ["$weight", ">", 2]}}},
    ])
    assert [entity["n"] for entity in answers[1]["entities"]] == [2]


def test_connection_finds_take_expressions(adb, entity_class):
    link_class = f"{entity_class}_link"
    adb.run([
        {"AddEntity": {"_ref": 1, "class": entity_class}},
        {"AddEntity": {"_ref": 2, "class": entity_class}},
        {"AddConnection": {"class": link_class, "src": 1, "dst": 2, "properties": {"weight": 1}}},
        {"AddConnection": {"class": link_class, "src": 2, "dst": 1, "properties": {"weight": 7}}},
    ])
    found = adb.one({"FindConnection": {"with_class": link_class, "constraints": ["$weight", ">=", 5],
                                        "results": {"list": ["weight"]}}})
    assert [link["weight"] for link in found["connections"]] == [7]


def test_with_label_adds_to_a_label_constraint(adb, run, make_image):
    """``with_label`` and a ``_label`` constraint must both hold (it used to replace the constraint)."""
    boxes = [{"AddBoundingBox": {"image_ref": 1, "rectangle": {"x": 0, "y": 0, "width": 2, "height": 2}, "label": label,
                                 "properties": {"run": run}}} for label in ("cat", "dog")]
    adb.run([{"AddImage": {"_ref": 1, "properties": {"run": run}}}, *boxes], [make_image(4, 4)])

    def count(constraints):
        return adb.one({"FindBoundingBox": {"with_label": "cat", "constraints": constraints,
                                            "results": {"count": True}}})["count"]
    assert count(["$run", "==", run]) == 1
    assert count({"run": ["==", run], "_label": ["==", "dog"]}) == 0


# ---- malformed expressions ---------------------------------------------------------------------------------

@pytest.mark.parametrize("constraints, where", [
    (["$n", "~=", 1], "unknown operator '~='"),
    (["$n", "=="], "constraints: a comparison"),
    (["all"], "'all' needs at least one term"),
    (["all", ["$n", "==", 1], ["nope", "==", 1]], "constraints[2]: an expression starts with"),
    (["any", ["all", ["$n", "==", 1], ["$n", "like", 1]]], "constraints[1][2]: unknown operator 'like'"),
    (["$n", "in", [1, 2]], "constraints[2]: a literal"),
    (["$n", "==", "$key"], "comparing with another property"),
    (["$n", "==", {"json": {"a": 1}}], "constraints[2]: a literal"),
    (["$", "==", 1], "does not name a property"),
    ([], "non-empty"),
])
def test_a_malformed_expression_fails_naming_where(adb, items, constraints, where):
    error = adb.fail([{"FindEntity": {"with_class": items, "constraints": constraints, "results": {"count": True}}}])
    assert where in error["info"], error["info"]

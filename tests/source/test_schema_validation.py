"""Check Connection and saves compare a source storage's constraints, prediction constraints, datasets, properties
and property defaults with what ApertureDB holds (``GetSchema``): an unknown property is a 400 naming its setting
and the closest names, a number compared with text (or the reverse) is a 400, nothing is saved on either, and
``allow_unknown_properties`` lets names no image has yet through (not type mismatches)."""

from __future__ import annotations

import pytest
from aperturedb.Constraints import to_expression
from hypothesis import given, settings
from hypothesis import strategies as st
from ls_storage.aperturedb.models import ApertureDBImportStorage
from ls_storage.client.schema import (
    BOOLEAN,
    DATE,
    NUMBER,
    STRING,
    PropertyRef,
    Schema,
    compared,
    source_problems,
    value_type,
)

from storage_api import storage_body, sync

pytestmark = pytest.mark.django_db
SOURCES = "/api/storages/aperturedb/"


@pytest.fixture
def held(images):
    """Images with text, number, boolean and date properties, one with a scored box; a dataset entity."""
    box = ((1, 1, 4, 4), "cat", {"score": 0.9})
    images.add("a.png", 16, 12, boxes=[box], split="train", spit="x", width_px=16, reviewed=True,
               taken={"_date": "2024-05-01T10:30:00+00:00"})
    images.add("b.png", 16, 12, split="val", width_px=16)
    images.query([{"AddEntity": {"class": "Dataset", "properties": {"name": f"batch-{images.tag}"}}}])
    return images


def post(client, url: str, body: dict):
    return client.post(url, data=body, content_type="application/json")


def refused(client, address, project_id: int, **fields) -> dict:
    """The 400 that both Check Connection and create answer, each saving nothing: ``{field: [messages]}``."""
    body = storage_body(address, project_id, **fields)
    before = list(ApertureDBImportStorage.objects.values_list("id", flat=True))
    answers = [post(client, SOURCES + "validate", body), post(client, SOURCES, body)]
    for answer in answers:
        assert answer.status_code == 400, answer.content
    assert list(ApertureDBImportStorage.objects.values_list("id", flat=True)) == before
    details = [answer.json().get("validation_errors", answer.json()) for answer in answers]
    assert details[0] == details[1]
    return details[0]


def accepted(client, address, project_id: int, **fields) -> dict:
    body = storage_body(address, project_id, **fields)
    assert post(client, SOURCES + "validate", body).status_code == 200
    created = post(client, SOURCES, body)
    assert created.status_code == 201, created.content
    return created.json()


def only_message(detail: dict, field: str) -> str:
    assert list(detail) == [field], detail
    assert len(detail[field]) == 1, detail
    return detail[field][0]


@pytest.mark.parametrize("constraints", [
    {"splt": ["==", "train"]},
    ["all", ["$splt", "==", "train"], ["$width_px", ">=", 8]],
    {"any": [{"split": ["==", "val"]}, {"splt": ["in", ["train", "test"]]}]},
    ["any", ["$name", "==", "a.png"], ["all", ["$splt", "not in", {"array": ["test"]}]]],
], ids=["object", "expression", "object nested", "expression nested"])
def test_an_unknown_property_in_constraints_is_refused_with_the_closest_names(
        business_client, project, aperturedb, held, constraints):
    if isinstance(constraints, dict):
        constraints = {**constraints, "ls_test": ["==", held.tag]}
    detail = refused(business_client, aperturedb, project["id"], constraints=constraints)

    message = only_message(detail, "constraints")
    assert message.startswith("constraints: no image has a property 'splt'; closest: split, spit")
    assert "allow_unknown_properties" in message


def test_an_unknown_property_in_prediction_constraints_is_compared_with_the_boxes_and_polygons(
        business_client, project, aperturedb, held):
    detail = refused(business_client, aperturedb, project["id"], constraints=held.constraints,
                     pred_constraints=["all", ["$scor", ">=", 0.5], ["$_label", "==", "cat"]])

    assert only_message(detail, "pred_constraints").startswith(
        "pred_constraints: no bounding box or polygon has a property 'scor'; closest: score")


def test_an_image_property_is_not_a_box_property(business_client, project, aperturedb, held):
    detail = refused(business_client, aperturedb, project["id"], constraints=held.constraints,
                     pred_constraints={"split": ["==", "train"]})

    assert "no bounding box or polygon has a property 'split'" in only_message(detail, "pred_constraints")


def test_prediction_constraints_are_not_checked_when_predictions_are_off(business_client, project, aperturedb, held):
    accepted(business_client, aperturedb, project["id"], constraints=held.constraints, predictions=False,
             pred_constraints={"scor": [">=", 0.5]})


def test_an_unknown_property_to_copy_into_tasks_is_refused(business_client, project, aperturedb, held):
    detail = refused(business_client, aperturedb, project["id"], constraints=held.constraints,
                     properties="name, splt, *")

    assert only_message(detail, "properties").startswith("properties: no image has a property 'splt'; closest: split")


def test_an_unknown_property_default_is_refused(business_client, project, aperturedb, held):
    detail = refused(business_client, aperturedb, project["id"], constraints=held.constraints,
                     properties=["split"], property_defaults={"splt": "none"})

    assert only_message(detail, "property_defaults").startswith(
        "property_defaults: no image has a property 'splt'; closest: split")


@pytest.mark.parametrize("default, words", [
    ("wide", "'width_px' is a number property, so its default must be a number, not text"),
    (True, "'width_px' is a number property, so its default must be a number, not true/false"),
])
def test_a_default_of_another_type_than_its_property_is_refused(business_client, project, aperturedb, held,
                                                                  default, words):
    detail = refused(business_client, aperturedb, project["id"], constraints=held.constraints,
                     property_defaults={"width_px": default})

    assert words in only_message(detail, "property_defaults")


def test_defaults_of_each_type_are_accepted_a_dates_as_its_text(business_client, project, aperturedb, held):
    accepted(business_client, aperturedb, project["id"], constraints=held.constraints,
             properties=["split", "width_px", "reviewed", "taken"],
             property_defaults={"split": "none", "width_px": 0, "reviewed": False, "taken": "1970-01-01T00:00:00Z"})


@pytest.mark.parametrize("constraints, words", [
    ({"width_px": [">=", "640"]}, "'width_px' is a number property but is compared with text ('640')"),
    (["$width_px", "in", {"array": [8, "16"]}], "'width_px' is a number property but is compared with text ('16')"),
    ({"split": ["==", 3]}, "'split' is a text property but is compared with a number (3)"),
    (["$split", "!=", 3.5], "'split' is a text property but is compared with a number (3.5)"),
    ({"reviewed": ["==", 1]}, "'reviewed' is a boolean property but is compared with a number (1)"),
    ({"width_px": ["==", True]}, "'width_px' is a number property but is compared with true/false (True)"),
    ({"taken": [">", "2024-01-01"]}, "'taken' is a date property but is compared with text ('2024-01-01')"),
    (["$split", "==", "$width_px"], "'split' is a text property but is compared with 'width_px', a number property"),
], ids=["number with text", "number in a list with text", "text with a number", "expression: text with a number",
        "boolean with a number", "number with a boolean", "date with text", "text with a number property"])
def test_a_property_compared_with_a_value_of_another_type_is_refused(business_client, project, aperturedb, held,
                                                                       constraints, words):
    constraints = ["all", ["$ls_test", "==", held.tag], constraints] if isinstance(constraints, list) \
        else {**constraints, "ls_test": ["==", held.tag]}
    detail = refused(business_client, aperturedb, project["id"], constraints=constraints)

    assert words in only_message(detail, "constraints")


def test_a_type_mismatch_in_prediction_constraints_is_refused(business_client, project, aperturedb, held):
    detail = refused(business_client, aperturedb, project["id"], constraints=held.constraints,
                     pred_constraints={"score": [">=", "0.5"]})

    message = only_message(detail, "pred_constraints")
    assert "'score' is a number property but is compared with text ('0.5')" in message
    assert "write the number without quotes" in message


def test_a_dataset_property_is_checked_against_its_class(business_client, project, aperturedb, held):
    detail = refused(business_client, aperturedb, project["id"], constraints=held.constraints,
                     connected_to={"class": "Dataset", "constraints": {"nme": ["==", f"batch-{held.tag}"]}})

    assert only_message(detail, "connected_to").startswith(
        "connected_to: no Dataset entity has a property 'nme'; closest: name")


def test_every_problem_is_told_under_its_own_field(business_client, project, aperturedb, held):
    detail = refused(business_client, aperturedb, project["id"],
                     constraints={"ls_test": ["==", held.tag], "splt": ["==", "a"], "width_px": ["<", "9"]},
                     pred_constraints={"scor": [">", 0.1]}, properties=["nme"], property_defaults={"width_px": "?"})

    assert sorted(detail) == ["constraints", "pred_constraints", "properties", "property_defaults"]
    assert len(detail["constraints"]) == 2


def test_valid_settings_are_saved(business_client, project, aperturedb, held):
    created = accepted(
        business_client, aperturedb, project["id"],
        constraints=["all", ["$ls_test", "==", held.tag], ["$split", "in", {"array": ["train", "val"]}],
                     ["$width_px", ">=", 8], ["$_uniqueid", "!=", "0.0.0"]],
        pred_constraints={"score": [">=", 0.5], "_label": ["==", "cat"]},
        connected_to={"class": "Dataset", "constraints": {"name": ["==", f"batch-{held.tag}"]}},
        properties="*", property_defaults={"spit": "none"})

    assert created["allow_unknown_properties"] is False
    assert ApertureDBImportStorage.objects.filter(id=created["id"]).exists()


def test_allow_unknown_properties_lets_unknown_names_through(business_client, project, aperturedb, held):
    created = accepted(business_client, aperturedb, project["id"], allow_unknown_properties=True,
                       constraints={"ls_test": ["==", held.tag], "later": ["==", "yes"]},
                       pred_constraints={"later": [">", 1]}, properties=["name", "later"],
                       property_defaults={"later": "no"},
                       connected_to={"class": "Dataset", "constraints": {"later": ["==", 1]}})

    assert created["allow_unknown_properties"] is True


def test_allow_unknown_properties_does_not_let_type_mismatches_through(business_client, project, aperturedb, held):
    detail = refused(business_client, aperturedb, project["id"], allow_unknown_properties=True,
                     constraints={"ls_test": ["==", held.tag], "later": ["==", "yes"], "width_px": ["==", "16"]})

    assert "'width_px' is a number property" in only_message(detail, "constraints")


def test_on_an_empty_aperturedb_a_property_is_refused_until_allowed(business_client, project,
                                                                     aperturedb_test_server):
    detail = refused(business_client, aperturedb_test_server, project["id"], constraints={"split": ["==", "train"]},
                     properties=["split"])

    assert detail["constraints"] == [
        "constraints: no image has a property 'split' (ApertureDB holds no image yet). To name a property no image "
        "has yet, turn on allow_unknown_properties"]
    assert detail["properties"][0].startswith("properties: no image has a property 'split'")
    accepted(business_client, aperturedb_test_server, project["id"], constraints={"split": ["==", "train"]},
             properties=["split"], allow_unknown_properties=True)


def test_a_property_the_images_get_later_is_synced_once_they_have_it(business_client, project, aperturedb, images):
    images.add("a.png", 8, 8)
    storage = accepted(business_client, aperturedb, project["id"], allow_unknown_properties=True,
                       constraints={"ls_test": ["==", images.tag], "later": ["==", "yes"]}, properties=["later"])
    assert sync(business_client, storage["id"])["last_sync_count"] == 0

    images.add("b.png", 8, 8, later="yes")

    assert sync(business_client, storage["id"])["last_sync_count"] == 1  # a Sync does not check the names again


def test_an_update_to_an_unknown_property_is_refused_and_keeps_the_stored_settings(business_client, project,
                                                                                    aperturedb, held):
    storage = accepted(business_client, aperturedb, project["id"], constraints=held.constraints, properties=["split"])

    answer = business_client.patch(f"{SOURCES}{storage['id']}", data={"properties": ["splt"]},
                                   content_type="application/json")

    assert answer.status_code == 400
    assert "properties: no image has a property 'splt'" in str(answer.json())
    assert ApertureDBImportStorage.objects.get(id=storage["id"]).properties == ["split"]


def test_an_update_can_turn_on_allow_unknown_properties(business_client, project, aperturedb, held):
    storage = accepted(business_client, aperturedb, project["id"], constraints=held.constraints)

    refused_update = business_client.patch(f"{SOURCES}{storage['id']}", data={"properties": ["later"]},
                                           content_type="application/json")
    allowed_update = business_client.patch(f"{SOURCES}{storage['id']}",
                                           data={"properties": ["later"], "allow_unknown_properties": True},
                                           content_type="application/json")

    assert refused_update.status_code == 400 and allowed_update.status_code == 200, allowed_update.content
    assert ApertureDBImportStorage.objects.get(id=storage["id"]).properties == ["later"]


# ---- the pure parts: reading constraints, and the problems found against a schema ----------------------------

NAMES = st.sampled_from(["split", "width", "score", "taken", "ok", "name"])
VALUES = st.one_of(st.integers(-5, 5), st.floats(-5, 5, allow_nan=False), st.booleans(),
                   st.text("ab$", max_size=3), st.builds(lambda day: {"_date": f"2024-01-0{day}T00:00:00Z"},
                                                         st.integers(1, 9)))
OPERATORS = st.sampled_from(["==", "!=", "<", "<=", ">", ">="])


def _condition():
    pair = st.tuples(OPERATORS, VALUES).map(list)
    listed = st.tuples(st.sampled_from(["in", "not in"]), st.lists(VALUES, min_size=1, max_size=3)).map(list)
    return st.one_of(pair, listed, st.tuples(pair, pair).map(lambda pairs: pairs[0] + pairs[1]))


OBJECTS = st.recursive(
    st.dictionaries(NAMES, _condition(), min_size=1, max_size=3),
    lambda inner: st.builds(lambda base, key, block: {**base, key: block},
                            st.dictionaries(NAMES, _condition(), max_size=2), st.sampled_from(["all", "any"]), inner),
    max_leaves=4)


def _key(pair):
    return repr(pair)


@settings(max_examples=200, deadline=None)
@given(OBJECTS)
def test_both_forms_of_the_same_constraints_compare_the_same_properties_with_the_same_values(constraints):
    expression = to_expression(constraints)  # as the SDK writes the object form as an expression

    assert sorted(compared(constraints), key=_key) == sorted(compared(expression), key=_key)


@settings(max_examples=200, deadline=None)
@given(OBJECTS, st.data())
def test_only_the_names_a_schema_lacks_are_unknown_and_only_other_types_mismatch(constraints, data):
    pairs = list(compared(constraints))
    names = sorted({name for name, _ in pairs})
    missing = data.draw(st.sets(st.sampled_from(names)))
    types = {name: data.draw(st.sampled_from([NUMBER, STRING, BOOLEAN, DATE, "blob"])) for name in names}
    schema = Schema({"_Image": {name: kind for name, kind in types.items() if name not in missing}})

    problems = source_problems(schema, constraints=constraints)

    unknown = [problem for problem in problems if problem.unknown]
    assert [problem.message.split("'")[1] for problem in unknown] == sorted(missing, key=[n for n, _ in pairs].index)
    mismatched = {problem.message.split("'")[1] for problem in problems if not problem.unknown}
    assert mismatched == {name for name, value in pairs if name not in missing and types[name] != "blob"
                          and value_type(value) not in (None, types[name])}
    assert source_problems(schema, constraints=constraints, allow_unknown=True) == \
        [problem for problem in problems if not problem.unknown]


@given(st.booleans())
def test_true_and_false_are_not_numbers(value):
    assert value_type(value) == BOOLEAN


def test_a_schema_answer_in_either_entry_form_and_any_case_of_type_names():
    schema = Schema.from_answer({"entities": {"classes": {
        "_Image": {"matched": 2, "properties": {"a": [2, False, "Number"], "b": {"count": 1, "type": "STRING"},
                                                "c": [1, True, "DateTime"], "d": [1, False, "boolean"],
                                                "_uniqueid": [2, True, "String"]}},
        "Empty": {"matched": 1, "properties": None}}}})

    assert schema.classes == {"_Image": {"a": NUMBER, "b": STRING, "c": DATE, "d": BOOLEAN, "_uniqueid": STRING},
                              "Empty": {}}
    assert schema.property_names("_Image") == ("a", "b", "c", "d")
    assert Schema.from_answer({"status": 0, "entities": None}).classes == {}


def test_an_expression_value_naming_another_property_is_a_property_reference():
    assert list(compared(["$a", "==", "$b"])) == [("a", PropertyRef("b"))]
    assert list(compared(["$a", "==", "$$b"])) == [("a", "$b")]  # escaped: the text "$b"

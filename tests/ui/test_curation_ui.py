"""Issue #20: the curation settings through Label Studio's own UI, proved in a real browser.

One user's journey in headless Chromium against ``label-studio start`` with the plugin and an ApertureDB test
server. The images are seeded through the SDK with typed properties (text, numbers, a boolean, a date), in two
``Dataset`` entities. Only the project is created through the REST API; the storages are added through the Cloud
Storage settings form (bad values first: each is refused with a visible error and nothing is saved), the tasks
are filtered in the Data Manager's filter menu and labeled in the labeling UI, and ApertureDB is read back with
the SDK.

What stock Label Studio 1.23 does with the typed columns (``test_5``), on its default SQLite database:

- It types a data column from the label config only, so every property column is ``Unknown`` and its header
  shows ``str``; the filter menu then offers text operators only (contains, not contains, regex, equal, not
  equal, is empty).
- Text: ``equal`` is equality. Booleans: ``equal`` with ``true``/``false`` (JSON's spelling) selects them; the
  header's type menu has no boolean type.
- Numbers: as text, ``equal 7`` matches nothing (the text "7" is not the number 7) and ``contains 2`` matches the
  digits of the number's text (12). But the column header's type menu (String, Number, Image, Audio, Video, Text,
  Time) turns a column into a Number column for that tab (kept in the view's ``columnsDisplayType``), and its filter
  then offers number operators (=, ≠, <, >, ≤, ≥, is between, not between, is empty) that select by value. It is
  a choice the user makes per column and tab; Label Studio does not take it from the data.
- Dates (ISO 8601 text in task data): the type menu has no date type (``Time`` is a number of seconds), so a date
  is filtered as text, e.g. ``regex ^2024-05-0[12]`` for the first two days of May.

The steps are separate tests that share one page and run in file order; each one fails (never skips) when an
earlier step did not leave what it needs.
"""

from __future__ import annotations

import json
import re
import time
from datetime import datetime
from pathlib import Path

import pytest

from test_storage_ui import definition, error_dialog, fill_connection, open_storage_form, storage_page

PROJECT_TITLE = "ApertureDB curation"
SOURCE_TITLE = "Dataset batch-1"
TARGET_TITLE = "Splits back to ApertureDB"
LABEL_CONFIG = """<View>
  <Image name="image" value="$image"/>
  <Choices name="split" toName="image" choice="single">
    <Choice value="train"/><Choice value="dev"/><Choice value="test"/>
  </Choices>
</View>"""
CHOSEN, OTHER = "batch-1", "batch-2"
IMAGES = {  # name -> (dataset, properties): text, numbers, a boolean and a date; c.png has no weather
    "a.png": (CHOSEN, {"camera": "cam-north", "frames": 3, "temperature": 21.5, "outdoor": True, "weather": "sunny",
                       "captured": "2024-05-01T08:30:00+00:00"}),
    "b.png": (CHOSEN, {"camera": "cam-south", "frames": 7, "temperature": -2.0, "outdoor": False, "weather": "rain",
                       "captured": "2024-05-02T09:30:00+00:00"}),
    "c.png": (CHOSEN, {"camera": "cam-north", "frames": 12, "temperature": 9.25, "outdoor": True,
                       "captured": "2024-05-03T10:30:00+00:00"}),
    "d.png": (OTHER, {"camera": "cam-north", "frames": 9, "temperature": 15.0, "outdoor": True, "weather": "cloudy",
                      "captured": "2024-05-01T11:30:00+00:00"}),
    "e.png": (OTHER, {"camera": "cam-south", "frames": 20, "temperature": -7.5, "outdoor": False, "weather": "rain",
                      "captured": "2024-05-04T12:30:00+00:00"}),
}
DATE = "captured"
DEFAULTS = {"weather": "unknown"}
TEXT_OPERATORS = ["contains", "not contains", "regex", "equal", "not equal", "is empty"]
NUMBER_OPERATORS = ["=", "≠", "<", ">", "≤", "≥", "is between", "not between", "is empty"]
DISPLAY_TYPES = ["String", "Number", "Image", "Audio", "Video", "Text", "Time"]
LABELED = "b.png"  # the image whose task is labeled "train"


@pytest.fixture(scope="module")
def seeded(adb_server, label_studio_server):
    """The images and their two datasets, added through the SDK before any storage exists; then the project."""
    from ls_storage.testing.fixtures import TaggedImages

    images = TaggedImages(adb_server)
    uniqueids = {name: images.add(name, 64, 48, **{key: {"_date": value} if key == DATE else value
                                                   for key, value in properties.items()})
                 for name, (_, properties) in IMAGES.items()}
    datasets = {dataset: f"{images.tag}/{dataset}" for dataset in (CHOSEN, OTHER)}
    query = [{"AddEntity": {"_ref": ref, "class": "Dataset", "properties": {"name": name}}}
             for ref, name in enumerate(datasets.values(), 1)]
    for ref, (name, (dataset, _)) in enumerate(IMAGES.items(), 3):
        query += [{"FindImage": {"_ref": ref, "constraints": {"_uniqueid": ["==", uniqueids[name]]}}},
                  {"AddConnection": {"class": "DatasetImage", "src": 1 if dataset == CHOSEN else 2, "dst": ref}}]
    images.query(query)
    project = label_studio_server.call("POST", "/api/projects/", {"title": PROJECT_TITLE, "label_config": LABEL_CONFIG})
    return {"uniqueids": uniqueids, "datasets": datasets, "project": project["id"],
            "ca_pem": Path(adb_server.ca_cert).read_text()}


def connected_to(seeded) -> list[dict]:
    return [{"class": "Dataset", "constraints": {"name": ["==", seeded["datasets"][CHOSEN]]},
             "connection_class": "DatasetImage", "direction": "out"}]


def saved(label_studio_server, seeded, kind: str) -> list[dict]:
    """The project's storages of ``kind`` (``aperturedb`` or ``export/aperturedb``), through the API."""
    return label_studio_server.call("GET", f"/api/storages/{kind}?project={seeded['project']}")


def task_count(label_studio_server, seeded) -> int:
    return label_studio_server.call("GET", f"/api/projects/{seeded['project']}/")["task_number"]


def press(page, modal, button: str, url: str, method: str):
    """Click a form button and return the response of the request it sends."""
    with page.expect_response(lambda r: url in r.url and r.request.method == method) as info:
        modal.get_by_role("button", name=button).click()
    return info.value


def assert_refused(page, modal, response, field: str, words: list[str], shot):
    """A 400 naming ``field`` alone, shown in Label Studio's error dialog and inline in the form."""
    from playwright.sync_api import expect

    assert response.status == 400, response.text()[:1000]
    assert set(response.json()["validation_errors"]) == {field}, response.json()
    dialog = error_dialog(page)
    expect(dialog).to_be_visible()
    for word in words:
        expect(dialog).to_contain_text(word)
    shot()
    dialog.get_by_role("button", name="Close modal").click()
    expect(dialog).to_have_count(0)
    inline = modal.locator(".lsf-inline-error")
    for word in words:
        expect(inline).to_contain_text(word)


# ------------------------------------------------------------------------------------------- Data Manager


def task_rows(page):
    return page.get_by_test_id("table-row")


def shown_tasks(page, names: dict[int, str], count: int) -> set[str]:
    """The names (``names``: task id -> image name) of the images of the rows the Data Manager shows, once it shows
    ``count`` of them all."""
    from playwright.sync_api import expect

    expect(page.get_by_text(re.compile(r"^Tasks: \d+ / \d+$"))).to_have_text(f"Tasks: {count} / {len(names)}")
    expect(task_rows(page)).to_have_count(count)
    labels = task_rows(page).locator("input[aria-label^='Select Task']").evaluate_all(
        "boxes => boxes.map(box => box.getAttribute('aria-label'))")
    return {names[int(label.split()[-1])] for label in labels}


def display_as(page, column: str, kind: str) -> list[str]:
    """Choose a data column's display type in its header's type menu; returns the types the menu offers."""
    from playwright.sync_api import expect

    header = page.locator(f'[data-id="tasks:data.{column}"]')
    header.locator(".lsf-table-head__column-extra").click()
    items = page.locator(".lsf-dropdown.lsf-visible .lsf-menu-dm__item")
    expect(items.first).to_be_visible()
    kinds = [text.split("\n")[-1] for text in items.all_inner_texts()]
    with page.expect_request(lambda r: r.method == "PATCH" and "/api/dm/views/" in r.url and
                             json.loads(r.post_data)["data"]["columnsDisplayType"].get(f"tasks:data.{column}") == kind):
        items.filter(has_text=kind).click()
    return kinds


def _sends_filter(request, column: str, operator: str, value: str) -> bool:
    if request.method != "PATCH" or "/api/dm/views/" not in request.url or not request.post_data:
        return False
    for item in json.loads(request.post_data)["data"]["filters"]["items"]:
        sent = item["value"]
        sent = [sent.get("min"), sent.get("max")] if isinstance(sent, dict) else [sent]
        if item["filter"] == f"filter:tasks:data.{column}" and item["operator"] == operator and \
                str(sent[-1]) == value:
            return True
    return False


def filter_by(page, column: str, operator: str, *values: str, sent: str):
    """Add a filter line through the Data Manager's filter menu: the column, the operator (as the menu names it),
    the value(s); returns the line and the operators the menu offered. ``sent``: the operator's name in the request
    the Data Manager sends once the last value is typed."""
    panel = page.locator(".lsf-filters")
    if not panel.is_visible():
        page.get_by_role("button", name="Filters").click()
    page.get_by_role("button", name=re.compile(r"^Add (Another )?Filter$")).click()
    line = panel.locator(".lsf-filterLine").last
    line.locator("[data-testid^=select-trigger-filter]").click()
    page.get_by_test_id("select-search-field").fill(column)
    page.get_by_test_id(f"select-option-filter:tasks:data.{column}").click()
    line.locator(".lsf-operation [data-testid^=select-trigger]").click()
    operators = page.get_by_role("option").all_inner_texts()
    page.get_by_role("option", name=operator, exact=True).click()
    inputs = line.locator(".lsf-value input")
    for index, value in enumerate(values[:-1]):
        inputs.nth(index).fill(value)
    with page.expect_request(lambda r: _sends_filter(r, column, sent, values[-1])):
        inputs.nth(len(values) - 1).fill(values[-1])
    return line, operators


def remove_filter(page, line, names: dict[int, str]):
    line.locator(".lsf-filterLine__remove button").click()
    shown_tasks(page, names, len(names))


# ---------------------------------------------------------------------------------------------- steps


def test_1_log_in(journey, seeded, logged_in):  # the project first, then its list
    from playwright.sync_api import expect

    expect(logged_in.get_by_text(PROJECT_TITLE).first).to_be_visible()  # the projects page
    journey["logged_in"] = True


def test_2_bad_source_settings_are_refused_and_nothing_is_saved(journey, page, adb_server, label_studio_server,
                                                                 seeded, screenshot):
    """Datasets (connected_to) that are not JSON or not the shape, a system property name, a default that is no
    plain value: each a 400 naming its field, shown in the form, and no storage and no task."""
    (_,) = journey.needs("logged_in")
    page.goto(storage_page(label_studio_server, seeded["project"]))
    modal = open_storage_form(page, "Source")
    fill_connection(modal, adb_server, seeded, SOURCE_TITLE)
    good = {"Datasets (JSON)": json.dumps(connected_to(seeded)), "Image Properties Copied to Tasks": "*",
            "Property Defaults (JSON)": json.dumps(DEFAULTS)}
    for label, value in good.items():
        modal.get_by_label(label, exact=True).fill(value)

    cases = [  # (field label, bad value, the field the 400 names, words the visible error must contain)
        ("Datasets (JSON)", '[{"class": "Dataset", ', "connected_to", ["connected_to", "not valid JSON"]),
        ("Datasets (JSON)", '{"class": "Dataset", "direction": "sideways"}', "connected_to",
         ["connected_to", "'direction' must be one of"]),
        ("Datasets (JSON)", '[{"constraints": {"name": ["==", "batch-1"]}}]', "connected_to",
         ["connected_to", "[0]: 'class' names the entities"]),
        ("Image Properties Copied to Tasks", "camera, _uniqueid", "properties",
         ["properties", "names starting with '_' are ApertureDB system properties"]),
        ("Property Defaults (JSON)", '{"weather": ["sunny"]}', "property_defaults",
         ["property_defaults", "must be a number, text or true/false"]),
    ]
    for number, (label, bad, field, words) in enumerate(cases, 1):
        modal.get_by_label(label, exact=True).fill(bad)
        response = press(page, modal, "Add storage", "/api/storages/aperturedb", "POST")
        assert_refused(page, modal, response, field, words, lambda: screenshot(f"curation-source-refused-{number}"))
        assert saved(label_studio_server, seeded, "aperturedb") == [], label  # nothing saved
        assert task_count(label_studio_server, seeded) == 0
        modal.get_by_label(label, exact=True).fill(good[label])
    journey["source_form"] = modal


def test_3_add_the_source_storage_and_sync_one_dataset(journey, page, label_studio_server, seeded, screenshot):
    """Saved as typed (properties ["*"], connected_to parsed, the defaults); a Sync makes exactly the chosen
    dataset's images tasks, with typed data: numbers as numbers, booleans as booleans, the date as ISO 8601 text."""
    from playwright.sync_api import expect

    (modal,) = journey.needs("source_form")
    screenshot("curation-source-form")
    response = press(page, modal, "Add storage", "/api/storages/aperturedb", "POST")
    assert response.status == 201, response.text()[:1000]
    expect(modal).to_have_count(0)
    (storage,) = saved(label_studio_server, seeded, "aperturedb")  # what the server kept
    assert storage["id"] == response.json()["id"] and storage["title"] == SOURCE_TITLE
    assert storage["properties"] == ["*"], storage
    assert storage["connected_to"] == connected_to(seeded), storage
    assert storage["property_defaults"] == DEFAULTS, storage

    card = page.locator(".lsf-card").filter(has_text=SOURCE_TITLE)
    with page.expect_response(lambda r: r.url.endswith(f"/api/storages/aperturedb/{storage['id']}/sync")) as info:
        card.get_by_role("button", name="Sync Storage").click()
    assert info.value.status == 200, info.value.text()[:1000]
    page.reload()
    card = page.locator(".lsf-card").filter(has_text=SOURCE_TITLE)
    expect(definition(card, "Status")).to_have_text("Completed")
    chosen = sorted(name for name, (dataset, _) in IMAGES.items() if dataset == CHOSEN)
    expect(definition(card, "Tasks")).to_have_text(re.compile(rf"^\s*{len(chosen)}\s*\(\s*{len(chosen)} new\)"))
    screenshot("curation-source-synced")

    tasks = label_studio_server.call("GET", f"/api/tasks/?project={seeded['project']}&fields=all")["tasks"]
    assert sorted(task["data"]["name"] for task in tasks) == chosen  # batch-2's images are not tasks
    for task in tasks:
        data = task["data"]
        properties = {**DEFAULTS, **IMAGES[data["name"]][1]}
        for key, value in properties.items():
            if key == DATE:
                assert isinstance(data[key], str) and datetime.fromisoformat(data[key]) == \
                    datetime.fromisoformat(value), (key, data)
            else:
                assert data[key] == value and type(data[key]) is type(value), (key, data)
    assert next(t for t in tasks if t["data"]["name"] == "c.png")["data"]["weather"] == DEFAULTS["weather"]
    journey["source"] = storage
    journey["task_names"] = {task["id"]: task["data"]["name"] for task in tasks}


def open_edit_form(page, title: str):
    """The Edit form of the storage card titled ``title``."""
    from playwright.sync_api import expect

    card = page.locator(".lsf-card").filter(has_text=title)
    card.get_by_role("button", name="Storage options").click()
    page.locator(".lsf-main-menu__item:visible", has_text="Edit").click()
    modal = page.locator(".lsf-modal-ls").filter(has=page.locator("form"))
    expect(modal.get_by_label("Storage Title", exact=True)).to_have_value(title)
    return modal


def test_4_the_edit_form_shows_the_saved_settings_and_saves_them_unchanged(journey, page, label_studio_server,
                                                                           seeded, screenshot):
    """The form's text inputs show the JSON settings as JSON text (``*_text`` fields), not "[object Object]", and
    saving the form unchanged keeps every setting."""
    (storage,) = journey.needs("source")
    page.goto(storage_page(label_studio_server, seeded["project"]))
    modal = open_edit_form(page, SOURCE_TITLE)
    screenshot("curation-source-edit")
    shown = {label: modal.get_by_label(label, exact=True).input_value()
             for label in ("Datasets (JSON)", "Image Properties Copied to Tasks", "Property Defaults (JSON)")}
    assert shown["Image Properties Copied to Tasks"] == "*", shown
    for label, value in (("Datasets (JSON)", connected_to(seeded)), ("Property Defaults (JSON)", DEFAULTS)):
        assert json.loads(shown[label]) == value, shown
    response = press(page, modal, "Save", f"/api/storages/aperturedb/{storage['id']}", "PATCH")
    assert response.status == 200, response.text()[:1000]
    (kept,) = saved(label_studio_server, seeded, "aperturedb")
    assert (kept["properties"], kept["connected_to"], kept["property_defaults"]) == \
        (["*"], connected_to(seeded), DEFAULTS), kept


def test_5_data_manager_columns_and_the_filter_menu(journey, page, label_studio_server, seeded, screenshot):
    """The properties are columns; the filter menu selects by text and boolean equality, by number ranges once the
    column is shown as a Number, and a date by its text. The rows are counted against what was seeded (only the
    chosen dataset's images are tasks: d.png and e.png, which would match several filters, are not rows)."""
    from playwright.sync_api import expect

    (task_names,) = journey.needs("task_names")
    columns = {c["id"]: c["type"] for c in label_studio_server.call(
        "GET", f"/api/dm/columns/?project={seeded['project']}")["columns"] if c.get("parent") == "data"}
    properties = sorted({key for _, values in IMAGES.values() for key in values} | set(DEFAULTS))
    assert {columns[name] for name in properties} == {"Unknown"}, columns  # stock Label Studio's type for them

    page.goto(f"{label_studio_server.url}/projects/{seeded['project']}/data")
    assert shown_tasks(page, task_names, len(task_names)) == set(task_names.values())
    for name in properties:
        header = page.locator(f'[data-id="tasks:data.{name}"]')
        expect(header).to_contain_text(name)
        expect(header.locator(".lsf-table-head__column-extra")).to_have_text("str")
    screenshot("curation-data-manager")

    # Text: equality.
    line, operators = filter_by(page, "camera", "equal", "cam-north", sent="equal")
    assert operators == TEXT_OPERATORS
    assert shown_tasks(page, task_names, 2) == {"a.png", "c.png"}
    screenshot("curation-filter-text-equal")
    remove_filter(page, line, task_names)

    # Booleans: a text column too; equality with JSON's spelling selects them.
    for value, expected in (("true", {"a.png", "c.png"}), ("false", {"b.png"})):
        line, operators = filter_by(page, "outdoor", "equal", value, sent="equal")
        assert operators == TEXT_OPERATORS
        assert shown_tasks(page, task_names, len(expected)) == expected, value
        remove_filter(page, line, task_names)

    # Numbers as text (how a column starts): text operators only; "equal 7" is no match for the number 7.
    line, operators = filter_by(page, "frames", "equal", "7", sent="equal")
    assert operators == TEXT_OPERATORS
    assert shown_tasks(page, task_names, 0) == set()
    remove_filter(page, line, task_names)
    line, _ = filter_by(page, "frames", "contains", "2", sent="contains")
    assert shown_tasks(page, task_names, 1) == {"c.png"}  # the "2" of 12
    remove_filter(page, line, task_names)

    # Dates: no date type to choose; filtered as ISO 8601 text.
    line, operators = filter_by(page, DATE, "regex", "^2024-05-0[12]", sent="regex")
    assert operators == TEXT_OPERATORS
    assert shown_tasks(page, task_names, 2) == {"a.png", "b.png"}
    remove_filter(page, line, task_names)

    # Numbers shown as Number (the header's type menu): number operators, ranges by value.
    assert display_as(page, "frames", "Number") == DISPLAY_TYPES  # no boolean or date type among them
    expect(page.locator('[data-id="tasks:data.frames"] .lsf-table-head__column-extra')).to_have_text("num")
    line, operators = filter_by(page, "frames", "is between", "5", "15", sent="in")
    assert operators == NUMBER_OPERATORS
    assert shown_tasks(page, task_names, 2) == {"b.png", "c.png"}  # 7 and 12, not 3 (nor d.png's 9: not a task)
    screenshot("curation-filter-number-range")
    remove_filter(page, line, task_names)
    display_as(page, "temperature", "Number")
    line, operators = filter_by(page, "temperature", "<", "0", sent="less")
    assert operators == NUMBER_OPERATORS
    assert shown_tasks(page, task_names, 1) == {"b.png"}  # -2.0
    remove_filter(page, line, task_names)
    journey["data_manager"] = True


def test_6_target_storage_with_image_properties(journey, page, adb_server, label_studio_server, seeded, screenshot):
    """A bad image_properties (not JSON; a control the label config does not have) is a 400 naming the field,
    shown in the form, and saves nothing; ``{"split": "split"}`` is saved."""
    from playwright.sync_api import expect

    journey.needs("source")
    page.goto(storage_page(label_studio_server, seeded["project"]))
    modal = open_storage_form(page, "Target")
    fill_connection(modal, adb_server, seeded, TARGET_TITLE)
    field = modal.get_by_label("Image Properties (JSON)", exact=True)
    cases = [  # (bad value, words the visible error must contain)
        ('{"split": "split"', ['image_properties: give a JSON object {"from_name": "property"}']),
        ('{"splits": "split"}', ["image_properties: splits: the label config has no Choices, Number, Rating or "
                                 "TextArea of this name"]),
    ]
    for number, (bad, words) in enumerate(cases, 1):
        field.fill(bad)
        response = press(page, modal, "Add storage", "/api/storages/export/aperturedb", "POST")
        assert_refused(page, modal, response, "image_properties", words,
                       lambda: screenshot(f"curation-target-refused-{number}"))
        assert saved(label_studio_server, seeded, "export/aperturedb") == []  # nothing saved

    field.fill(json.dumps({"split": "split"}))
    screenshot("curation-target-form")
    response = press(page, modal, "Add storage", "/api/storages/export/aperturedb", "POST")
    assert response.status == 201, response.text()[:1000]
    expect(modal).to_have_count(0)
    (target,) = saved(label_studio_server, seeded, "export/aperturedb")
    assert target["image_properties"] == {"split": "split"}, target

    modal = open_edit_form(page, TARGET_TITLE)  # shown as JSON text, and saved unchanged
    assert json.loads(modal.get_by_label("Image Properties (JSON)", exact=True).input_value()) == {"split": "split"}
    response = press(page, modal, "Save", f"/api/storages/export/aperturedb/{target['id']}", "PATCH")
    assert response.status == 200, response.text()[:1000]
    (target,) = saved(label_studio_server, seeded, "export/aperturedb")
    assert target["image_properties"] == {"split": "split"}, target
    journey["target"] = target


def test_7_a_split_chosen_in_the_labeling_ui_becomes_the_image_property(journey, page, label_studio_server, seeded,
                                                                        connector, screenshot):
    from playwright.sync_api import expect

    task_names, _ = journey.needs("task_names", "target")
    (task_id,) = [task for task, name in task_names.items() if name == LABELED]
    page.goto(f"{label_studio_server.url}/projects/{seeded['project']}/data")
    task_rows(page).filter(has=page.get_by_label(f"Select Task {task_id}", exact=True)).click()
    choice = page.get_by_label(re.compile(r"^train"))
    expect(choice).to_have_count(1)
    choice.check()
    with page.expect_response(lambda r: f"/api/tasks/{task_id}/annotations" in r.url
                              and r.request.method == "POST") as info:
        page.get_by_test_id("bottombar-submit-button").click()
    assert info.value.status == 201, info.value.text()[:1000]
    (result,) = info.value.json()["result"]
    assert (result["from_name"], result["value"]) == ("split", {"choices": ["train"]}), result
    expect(page.get_by_text("Annotation saved successfully", exact=True)).to_be_visible()
    screenshot("curation-labeled-train")

    uniqueid = seeded["uniqueids"][LABELED]
    deadline, found = time.monotonic() + 30, None
    while time.monotonic() < deadline:
        answer, _ = connector.query([{"FindImage": {"constraints": {"split": ["==", "train"]},
                                                    "results": {"list": ["_uniqueid", "name", "split"]}}}])
        found = answer[0]["FindImage"].get("entities") or []
        if found:
            break
        time.sleep(0.25)
    assert [(image["_uniqueid"], image["name"]) for image in found] == [(uniqueid, LABELED)], found
    answer, _ = connector.query([{"FindImage": {"constraints": {"_uniqueid": ["==", uniqueid]},
                                                "results": {"list": ["split", "camera"]}}}])
    assert answer[0]["FindImage"]["entities"] == [{"split": "train", "camera": IMAGES[LABELED][1]["camera"]}]

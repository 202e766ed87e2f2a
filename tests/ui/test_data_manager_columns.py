"""Issue #20: typed image properties in Label Studio's Data Manager, in a real browser.

A source storage with ``properties: ["*"]`` copies every image property into task data with its type. The Data
Manager shows each as a column and filters by it. Stock Label Studio 1.23 types a data column from the label
config only: one the config does not name is ``Unknown`` (``data_manager/functions.py``, ``get_all_columns``), and
its filters are the string ones. So a number column is filtered by equality of its text; a number range on it
is not offered by the UI, though Label Studio's own filter API applies one when it is asked with the Number type.
"""

from __future__ import annotations

import pytest

from storage_api import storage_body

LABEL_CONFIG = """<View><Image name="image" value="$image"/>
<RectangleLabels name="label" toName="image"><Label value="cat"/></RectangleLabels></View>"""
IMAGES = {  # name -> properties
    "a.png": {"count": 3, "temperature": 21.5, "camera": "cam-north", "good": True},
    "b.png": {"count": 7, "temperature": -2.0, "camera": "cam-south", "good": False},
    "c.png": {"count": 12, "temperature": 9.25, "camera": "cam-north", "good": True},
}


@pytest.fixture(scope="module")
def project(adb_server, label_studio_server):
    from ls_storage.testing.fixtures import TaggedImages

    images = TaggedImages(adb_server)
    for name, properties in IMAGES.items():
        images.add(name, 40, 30, **properties)
    project = label_studio_server.call("POST", "/api/projects/", {"title": "Typed columns", "label_config": LABEL_CONFIG})
    storage = label_studio_server.call("POST", "/api/storages/aperturedb/", storage_body(
        adb_server, project["id"], constraints=images.constraints, properties=["*"]))
    synced = label_studio_server.call("POST", f"/api/storages/aperturedb/{storage['id']}/sync")
    assert synced["status"] == "completed", synced
    return project["id"]


def _view_tasks(label_studio_server, project_id: int, item: dict) -> set[str]:
    view = label_studio_server.call("POST", "/api/dm/views/", {"project": project_id, "data": {
        "filters": {"conjunction": "and", "items": [item]}}})
    try:
        tasks = label_studio_server.call("GET", f"/api/tasks/?view={view['id']}&project={project_id}&fields=all")
    finally:  # the Data Manager would open this filtered tab for the browser test
        label_studio_server.call("DELETE", f"/api/dm/views/{view['id']}/")
    return {task["data"]["name"] for task in tasks["tasks"]}


def test_columns_of_every_property_and_how_stock_label_studio_types_them(label_studio_server, project):
    columns = {c["id"]: c for c in label_studio_server.call("GET", f"/api/dm/columns/?project={project}")["columns"]
               if c.get("parent") == "data"}
    assert {"count", "temperature", "camera", "good", "name", "image"} <= set(columns)
    assert columns["image"]["type"] == "Image"
    assert {columns[key]["type"] for key in ("count", "temperature", "camera", "good")} == {"Unknown"}


def test_filters_by_text_and_by_a_number_range_through_the_filter_api(label_studio_server, project):
    assert _view_tasks(label_studio_server, project, {"filter": "filter:tasks:data.camera", "operator": "equal",
                                                     "type": "String", "value": "cam-north"}) == {"a.png", "c.png"}
    assert _view_tasks(label_studio_server, project, {"filter": "filter:tasks:data.count", "operator": "greater",
                                                     "type": "Number", "value": 5}) == {"b.png", "c.png"}


def test_the_data_manager_shows_a_column_of_each_property(page, label_studio_server, project, screenshot):
    from playwright.sync_api import expect

    page.goto(f"{label_studio_server.url}/user/login/")
    page.locator("#email").fill("admin@example.com")
    page.locator("#password").fill("admin12345")
    page.locator("button[type=submit]").click()
    page.wait_for_url(lambda url: "/user/login" not in url)
    page.goto(f"{label_studio_server.url}/projects/{project}/data")
    for header in ("count", "temperature", "camera", "good"):
        expect(page.get_by_text(header, exact=True).first).to_be_visible()
    screenshot("data-manager-typed-columns")
    expect(page.get_by_text("cam-south", exact=True)).to_be_visible()

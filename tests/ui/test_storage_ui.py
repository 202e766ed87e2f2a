"""Issue #5: the ApertureDB storage works in Label Studio's own UI, proved in a real browser.

One user's journey, step by step, in headless Chromium against ``label-studio start`` with the plugin and an
ApertureDB test server seeded with three images (boxes and a polygon). Only the project is created through
the REST API; every storage action goes through the Cloud Storage settings page, labeling through the Data
Manager and the labeling UI. ApertureDB is read back with the SDK to prove what the UI did.

The steps are separate tests that share one page and run in file order; each one fails (never skips) when
an earlier step did not leave what it needs.
"""

from __future__ import annotations

import base64
import json
import re
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from services import free_port
from storage_api import connection_key
from target_api import stored_annotation


PROJECT_TITLE = "ApertureDB UI"
SOURCE_TITLE = "ApertureDB images"
TARGET_TITLE = "ApertureDB annotations"
LABEL_CONFIG = """<View>
  <Image name="image" value="$image"/>
  <RectangleLabels name="label" toName="image"><Label value="cat"/><Label value="dog"/></RectangleLabels>
  <PolygonLabels name="outline" toName="image"><Label value="cat"/><Label value="dog"/></PolygonLabels>
</View>"""
# name -> (width, height, boxes, polygons); "b.png" is the one opened in the labeling UI.
IMAGES = {
    "a.png": (400, 300, [((20, 10, 100, 80), "cat", {})], []),
    "b.png": (300, 300, [((10, 10, 50, 50), "dog", {}), ((100, 100, 60, 60), "cat", {})],
              [([[150, 20], [250, 30], [200, 120]], "dog")]),
    "c.png": (320, 240, [((30, 30, 80, 60), "dog", {}), ((200, 100, 60, 80), "cat", {})], []),
}
SOURCE_FIELDS = {  # label -> how the field looks before the user touches it
    "Storage Title": "", "Connection Key": "password", "ApertureDB Host": "", "Port": "", "Use REST API": False,
    "User": "", "Password": "password", "API Token": "password", "Use TLS": True,
    "Verify certificate and host name": True, "CA Certificate (PEM)": "",
    "Image Constraints (JSON)": "", "Datasets (JSON)": "", "Image Properties Copied to Tasks": "",
    "Property Defaults (JSON)": "", "Allow properties no image has yet": False,
    "Import boxes and polygons as predictions": True, "Box and Polygon Constraints (JSON)": "",
    "Maximum number of images (0 = all)": "0", "Remove unannotated tasks whose image is gone": False,
    "Import the Label Studio annotations stored in ApertureDB into new tasks": False,
    "Model Version Property": "", "Score Property": "", "Sync every N minutes (0 = only on demand)": "0",
}
CAN_DELETE = "Delete from ApertureDB when an annotation is deleted in Label Studio"

journey: dict = {}  # what each step leaves for the next ones


def needs(*keys):
    missing = [key for key in keys if key not in journey]
    if missing:
        pytest.fail(f"an earlier step did not complete (missing {missing})")
    return [journey[key] for key in keys]


@pytest.fixture(scope="module")
def seeded(adb_server, label_studio_server):
    from ls_storage.testing.fixtures import TaggedImages

    images = TaggedImages(adb_server)
    uniqueids = {name: images.add(name, w, h, boxes=boxes, polygons=polygons)
                 for name, (w, h, boxes, polygons) in IMAGES.items()}
    project = label_studio_server.call("POST", "/api/projects/", {"title": PROJECT_TITLE, "label_config": LABEL_CONFIG})
    return {"images": images, "uniqueids": uniqueids, "project": project["id"],
            "ca_pem": Path(adb_server.ca_cert).read_text()}


@pytest.fixture(scope="module")
def connector(adb_server):
    return adb_server.connector()


def storage_page(label_studio_server, project_id: int) -> str:
    return f"{label_studio_server.url}/projects/{project_id}/settings/storage"


def open_storage_form(page, kind: str):
    """Click "Add Source/Target Storage" and choose ApertureDB; returns the modal."""
    from playwright.sync_api import expect

    # While the list loads the page shows disabled buttons, then either these or an empty state's.
    page.locator(f'button[aria-label="Add {kind} Storage"]:enabled:visible').click()
    modal = page.locator(".lsf-modal-ls").filter(has_text=f"Connect {kind} Storage")
    expect(modal).to_be_visible()
    modal.locator("[data-testid^=select-trigger-storage_type]").click()
    options = page.get_by_role("option")
    expect(options.filter(has_text="ApertureDB")).to_have_count(1)
    journey.setdefault("storage_types", {})[kind] = options.all_inner_texts()
    options.filter(has_text="ApertureDB").click()
    expect(modal.get_by_label("ApertureDB Host", exact=True)).to_be_visible()
    return modal


def fill_connection(modal, adb_server, seeded, title: str):
    modal.get_by_label("Storage Title", exact=True).fill(title)
    modal.get_by_label("ApertureDB Host", exact=True).fill(adb_server.host)
    modal.get_by_label("Port", exact=True).fill(str(adb_server.port))
    modal.get_by_label("User", exact=True).fill(adb_server.username)
    modal.get_by_label("Password", exact=True).fill(adb_server.password)
    modal.get_by_label("API Token", exact=True).fill("")
    modal.get_by_label("CA Certificate (PEM)", exact=True).fill(seeded["ca_pem"])  # pasted PEM text


def check_connection(page, modal, expected_status: int):
    with page.expect_response(lambda r: r.url.split("?")[0].endswith("/validate") and r.request.method == "POST") as info:
        modal.get_by_role("button", name="Test storage connection").click()
    response = info.value
    assert response.status == expected_status, f"Check Connection answered {response.status}: {response.text()[:1000]}"
    return response


def error_dialog(page):
    """Label Studio's global error dialog (over the storage form, which has the same message inline)."""
    return page.locator(".lsf-modal-ls").filter(has=page.locator(".lsf-error-message")).filter(
        has_not=page.locator("form"))


def definition(card, term: str):
    return card.locator("dt", has_text=term).locator("xpath=following-sibling::dd[1]")


def wait_for_adb(connector, annotation_id: int, condition, what: str, timeout: float = 30):
    deadline = time.monotonic() + timeout
    stored = None
    while time.monotonic() < deadline:
        stored = stored_annotation(connector, annotation_id)
        if condition(stored):
            return stored
        time.sleep(0.25)
    raise AssertionError(f"ApertureDB never showed {what} for annotation {annotation_id}; last read: {stored}")


def pixels(value: dict, width: int, height: int) -> dict:
    return {"x": value["x"] * width / 100, "y": value["y"] * height / 100,
            "width": value["width"] * width / 100, "height": value["height"] * height / 100}


def assert_box(stored_box: dict, expected: dict):
    for key, number in expected.items():
        assert abs(stored_box["_coordinates"][key] - number) <= 1.0, (key, stored_box["_coordinates"], expected)


# ---------------------------------------------------------------------------------------------- steps


def test_1_log_in_through_the_login_page(page, label_studio_server, seeded, screenshot):
    from playwright.sync_api import expect

    page.goto(f"{label_studio_server.url}/user/login/")
    page.locator("#email").fill("admin@example.com")
    page.locator("#password").fill("admin12345")
    page.get_by_role("button", name="Log In").click()
    page.wait_for_url(lambda url: "/user/login" not in url)

    expect(page.get_by_text(PROJECT_TITLE).first).to_be_visible()
    screenshot("logged-in")
    journey["logged_in"] = True


def test_2_source_storage_form_shows_aperturedb_fields(page, label_studio_server, seeded, screenshot):
    from playwright.sync_api import expect

    needs("logged_in")
    page.goto(storage_page(label_studio_server, seeded["project"]))
    modal = open_storage_form(page, "Source")

    assert "ApertureDB" in journey["storage_types"]["Source"]
    assert modal.get_by_label("Bucket Name").count() == 0  # the S3 form is gone
    for label, default in SOURCE_FIELDS.items():
        field = modal.get_by_label(label, exact=True)
        expect(field).to_have_count(1)
        if isinstance(default, bool):
            assert field.is_checked() is default, label
        elif default == "password":
            expect(field).to_have_attribute("type", "password")  # masked
        else:
            expect(field).to_have_value(default)
    for placeholder in ('{"split": ["==", "train"], "width": [">=", 640]}', "aperturedb.example.com",
                        "55555 (REST: 443)"):
        expect(modal.get_by_placeholder(placeholder)).to_be_visible()

    modal.locator("label", has_text="Image Constraints (JSON)").locator(".lsf-label-ls__tooltip").hover()
    expect(page.get_by_text("Optional FindImage constraints choosing the images")).to_be_visible()
    screenshot("storage-form")
    journey["source_form"] = modal


def test_3_check_connection_reports_success_and_readable_errors(page, adb_server, seeded, screenshot):
    from playwright.sync_api import expect

    (modal,) = needs("source_form")
    fill_connection(modal, adb_server, seeded, SOURCE_TITLE)
    constraints = modal.get_by_label("Image Constraints (JSON)", exact=True)
    constraints.fill(json.dumps(seeded["images"].constraints))
    screenshot("storage-form-filled")

    # The settings a user pastes (the CA as PEM text) connect.
    check_connection(page, modal, 200)
    expect(modal.get_by_text("Successfully connected!")).to_be_visible()
    expect(error_dialog(page)).to_have_count(0)

    # Each wrong setting fails with a visible message naming the problem.
    nothing_listens = free_port()

    cases = [  # (what to change, words the visible error must contain, screenshot)
        ("wrong password", lambda: modal.get_by_label("Password", exact=True).fill("not-the-password"),
         ["refused the login"], "check-connection-error"),
        ("unreachable host", lambda: (modal.get_by_label("Password", exact=True).fill(adb_server.password),
                                      modal.get_by_label("Port", exact=True).fill(str(nothing_listens))),
         ["Cannot reach ApertureDB", f"{adb_server.host}:{nothing_listens}"], "check-connection-unreachable"),
        ("bad constraints", lambda: (modal.get_by_label("Port", exact=True).fill(str(adb_server.port)),
                                     constraints.fill("{split: x")),
         ["constraints", "not valid JSON"], "check-connection-bad-constraints"),
    ]
    for problem, change, words, shot in cases:
        change()
        check_connection(page, modal, 400)
        dialog = error_dialog(page)
        expect(dialog, problem).to_be_visible()
        for word in words:
            expect(dialog, problem).to_contain_text(word)
        expect(modal.get_by_text("Connection failed"), problem).to_be_visible()
        screenshot(shot)
        dialog.get_by_role("button", name="Close modal").click()
        expect(dialog).to_have_count(0)
        inline = modal.locator(".lsf-inline-error")  # the same message stays in the form
        expect(inline, problem).to_be_visible()
        for word in words:
            expect(inline, problem).to_contain_text(word)

    # Put right again, it connects again.
    constraints.fill(json.dumps(seeded["images"].constraints))
    check_connection(page, modal, 200)
    expect(modal.get_by_text("Successfully connected!")).to_be_visible()
    expect(modal.locator(".lsf-inline-error")).to_have_count(0)
    expect(error_dialog(page)).to_have_count(0)
    screenshot("check-connection-success")
    journey["source_checked"] = True


def test_4_add_and_sync_the_source_storage(page, label_studio_server, seeded, screenshot):
    from playwright.sync_api import expect

    modal, _ = needs("source_form", "source_checked")
    with page.expect_response(lambda r: "/api/storages/aperturedb" in r.url and r.request.method == "POST") as info:
        modal.get_by_role("button", name="Add storage").click()
    assert info.value.status == 201, info.value.text()[:1000]
    storage = info.value.json()
    assert storage["type"] == "aperturedb" and storage["constraints"] == seeded["images"].constraints
    assert "password" not in storage and "token" not in storage  # secrets never come back
    expect(modal).to_have_count(0)

    card = page.locator(".lsf-card").filter(has_text=SOURCE_TITLE)
    expect(definition(card, "Type")).to_have_text("ApertureDB")
    expect(definition(card, "Status")).to_have_text("Initialized")
    with page.expect_response(lambda r: r.url.endswith(f"/api/storages/aperturedb/{storage['id']}/sync")) as info:
        card.get_by_role("button", name="Sync Storage").click()
    assert info.value.status == 200, info.value.text()[:1000]
    expect(definition(card, "Status")).to_have_text("Completed")

    page.reload()  # what the server kept, not what the click returned
    card = page.locator(".lsf-card").filter(has_text=SOURCE_TITLE)
    expect(definition(card, "Status")).to_have_text("Completed")
    expect(definition(card, "Tasks")).to_have_text(re.compile(rf"^\s*{len(IMAGES)}\s*\(\s*{len(IMAGES)} new\)"))
    expect(definition(card, "Last Sync")).not_to_have_text("Not synced yet")
    card.scroll_into_view_if_needed()
    screenshot("synced-card")
    journey["source"] = storage


def test_5_add_a_target_storage_that_may_delete(page, adb_server, seeded, screenshot):
    """With nothing but a connection key for the connection: the key fills host, port, TLS, CA and login."""
    from playwright.sync_api import expect

    needs("source")
    modal = open_storage_form(page, "Target")
    assert "ApertureDB" in journey["storage_types"]["Target"]
    modal.get_by_label("Storage Title", exact=True).fill(TARGET_TITLE)
    modal.get_by_label("Connection Key", exact=True).fill(connection_key(adb_server))
    toggle = modal.get_by_label(CAN_DELETE, exact=True)
    assert not toggle.is_checked()  # off unless the user turns it on
    toggle.check()
    expect(toggle).to_be_checked()
    check_connection(page, modal, 200)
    expect(modal.get_by_text("Successfully connected!")).to_be_visible()
    screenshot("target-form")

    with page.expect_response(lambda r: "/api/storages/export/aperturedb" in r.url and r.request.method == "POST") as info:
        modal.get_by_role("button", name="Add storage").click()
    assert info.value.status == 201, info.value.text()[:1000]
    target = info.value.json()
    assert target["type"] == "aperturedb" and target["can_delete_objects"] is True, target
    assert (target["hostname"], target["port"], target["use_ssl"], target["use_rest"]) == \
        (adb_server.host, adb_server.port, True, False), target
    assert "connection_key" not in target and "password" not in target
    expect(modal).to_have_count(0)
    card = page.locator(".lsf-card").filter(has_text=TARGET_TITLE)
    expect(definition(card, "Type")).to_have_text("ApertureDB")
    expect(definition(card, "Annotations")).to_be_visible()
    screenshot("storages")
    journey["target"] = target


def test_6_data_manager_and_labeling_show_images_and_predictions(page, label_studio_server, seeded, screenshot):
    from playwright.sync_api import expect

    (source,) = needs("source")
    page.goto(f"{label_studio_server.url}/projects/{seeded['project']}/data")
    rows = page.get_by_test_id("table-row")
    expect(rows).to_have_count(len(IMAGES))
    expect(page.locator('span[title="Total tasks in the project"]')).to_have_text(str(len(IMAGES)))
    thumbnails = page.locator("[data-testid=table-row] img")
    expect(thumbnails).to_have_count(len(IMAGES))
    page.wait_for_function("n => [...document.querySelectorAll('[data-testid=table-row] img')]"
                           ".filter(i => i.complete && i.naturalWidth > 0).length === n", arg=len(IMAGES))
    task_of = {}  # image uniqueid -> task id, read from the thumbnails' resolver URLs
    for src in thumbnails.evaluate_all("images => images.map(i => i.getAttribute('src'))"):
        match = re.fullmatch(r"/tasks/(\d+)/resolve/\?fileuri=([A-Za-z0-9_=-]+)", src)
        assert match, f"thumbnail not served through Label Studio's resolver: {src}"
        uri = base64.urlsafe_b64decode(match.group(2)).decode()
        prefix = f"aperturedb://{source['id']}/"
        assert uri.startswith(prefix), uri
        task_of[uri[len(prefix):]] = int(match.group(1))
    assert set(task_of) == set(seeded["uniqueids"].values())
    screenshot("data-manager")

    image_id = seeded["uniqueids"]["b.png"]
    task_id = task_of[image_id]
    resolved = []
    page.on("response", lambda r: resolved.append(r) if "/resolve/" in r.url else None)
    rows.filter(has=page.get_by_label(f"Select Task {task_id}", exact=True)).click()
    image = page.locator(".lsf-image img")
    expect(image).to_have_count(1)
    page.wait_for_function("() => { const i = document.querySelector('.lsf-image img');"
                           " return i && i.complete && i.naturalWidth > 0 }")
    natural = image.evaluate("i => [i.naturalWidth, i.naturalHeight]")
    assert natural == [300, 300], natural  # the real image, decoded
    src = image.get_attribute("src")
    assert src.startswith("blob:" + label_studio_server.url) or f"/tasks/{task_id}/resolve/" in src, src
    ours = [r for r in resolved if urlparse(r.url).path == f"/tasks/{task_id}/resolve/"]
    assert ours, [r.url for r in resolved]
    assert all(r.status == 200 and r.headers.get("content-type", "").startswith("image/") for r in ours), \
        [(r.status, r.headers) for r in ours]
    uri = base64.urlsafe_b64decode(parse_qs(urlparse(ours[0].url).query)["fileuri"][0]).decode()
    assert uri == f"aperturedb://{source['id']}/{image_id}"
    sources = page.evaluate("() => [...document.querySelectorAll('img, source, video, audio')].map(e => e.src)")
    assert not [s for s in sources if s and not s.startswith((label_studio_server.url, "blob:" + label_studio_server.url))
                ], sources  # never aperturedb:// nor an external URL

    regions = page.get_by_role("treeitem")
    expect(regions).to_have_count(3)  # b.png's two boxes and one polygon, pre-filled from the prediction
    expect(page.locator("[role=treeitem].lsf-tree__node_type_rectangleregion")).to_have_count(2)
    expect(page.locator("[role=treeitem].lsf-tree__node_type_polygonregion")).to_have_count(1)
    labels = [text.split()[-1] for text in regions.all_inner_texts()]
    assert sorted(labels) == ["cat", "dog", "dog"], labels
    expect(page.locator(".lsf-annotation-button__name", has_text="aperturedb")).to_be_visible()  # the prediction
    screenshot("labeling-with-predictions")
    journey["task"] = {"id": task_id, "image": image_id}


def test_7_annotations_reach_aperturedb_and_follow_updates_and_deletion(page, connector, screenshot):
    from playwright.sync_api import expect

    task, _ = needs("task", "target")
    rectangle_labels = page.locator(".lsf-labels").first
    regions = page.get_by_role("treeitem")
    stage = page.locator(".konvajs-content").bounding_box()

    # Draw a "cat" box in b.png's empty lower-left quarter and submit.
    rectangle_labels.locator(".lsf-label", has_text="cat").click()
    x0, y0 = stage["x"] + stage["width"] * 0.1, stage["y"] + stage["height"] * 0.6
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move(x0 + 40, y0 + 40, steps=4)
    page.mouse.move(x0 + stage["width"] * 0.3, y0 + stage["height"] * 0.3, steps=4)
    page.mouse.up()
    expect(regions).to_have_count(4)
    with page.expect_response(lambda r: f"/api/tasks/{task['id']}/annotations" in r.url
                              and r.request.method == "POST") as info:
        page.get_by_test_id("bottombar-submit-button").click()
    assert info.value.status == 201, info.value.text()[:1000]
    annotation = info.value.json()
    (drawn,) = [r for r in annotation["result"] if not r["id"].startswith("adb-")]
    assert drawn["type"] == "rectanglelabels" and drawn["value"]["rectanglelabels"] == ["cat"], drawn
    expect(page.get_by_text("Annotation saved successfully", exact=True)).to_be_visible()

    stored = wait_for_adb(connector, annotation["id"], lambda s: s is not None and drawn["id"] in s["boxes"],
                          "the submitted annotation")
    box = stored["boxes"][drawn["id"]]
    assert box["_label"] == "cat"
    assert_box(box, pixels(drawn["value"], 300, 300))
    assert stored["images"] == [task["image"]]
    assert len(stored["boxes"]) == 3 and len(stored["polygons"]) == 1  # with the two predicted boxes and polygon
    screenshot("annotation-submitted")

    # Relabel the drawn box to "dog", move it, and update.
    drawn_item = regions.nth(3)
    expect(drawn_item).to_contain_text("cat")
    drawn_item.click()
    rectangle_labels.locator(".lsf-label", has_text="dog").click()
    expect(drawn_item).to_contain_text("dog")
    value = drawn["value"]
    cx = stage["x"] + stage["width"] * (value["x"] + value["width"] / 2) / 100
    cy = stage["y"] + stage["height"] * (value["y"] + value["height"] / 2) / 100
    page.mouse.move(cx, cy)
    page.mouse.down()
    page.mouse.move(cx + 30, cy + 10, steps=4)
    page.mouse.move(cx + 100, cy + 30, steps=4)
    page.mouse.up()
    with page.expect_response(lambda r: f"/api/annotations/{annotation['id']}" in r.url
                              and r.request.method == "PATCH") as info:
        page.get_by_test_id("bottombar-update-button").click()
    assert info.value.status == 200, info.value.text()[:1000]
    (changed,) = [r for r in info.value.json()["result"] if r["id"] == drawn["id"]]
    assert changed["value"]["rectanglelabels"] == ["dog"] and changed["value"]["x"] > value["x"] + 5, changed

    stored = wait_for_adb(connector, annotation["id"],
                          lambda s: s is not None and s["boxes"].get(drawn["id"], {}).get("_label") == "dog",
                          "the updated label")
    box = stored["boxes"][drawn["id"]]
    assert_box(box, pixels(changed["value"], 300, 300))
    assert box["_coordinates"]["x"] > pixels(value, 300, 300)["x"] + 15  # it moved right
    assert json.loads(box["LS_labels"]) == ["dog"]
    expect(page.get_by_text("Annotation updated successfully", exact=True)).to_be_visible()
    expect(regions).to_have_count(4)  # the task reloaded after the update
    expect(regions.nth(3)).to_contain_text("dog")
    page.wait_for_function("() => document.querySelector('.lsf-image img')?.naturalWidth > 0")
    screenshot("annotation-updated")

    # Delete the annotation from its menu; the target may delete, so ApertureDB forgets it.
    page.locator(".lsf-annotation-button_selected .lsf-annotation-button__trigger").click()
    page.get_by_text("Delete Annotation", exact=True).click()
    confirm = page.locator(".lsf-modal-ls").filter(has_text="Delete annotation?")
    with page.expect_response(lambda r: f"/api/annotations/{annotation['id']}" in r.url
                              and r.request.method == "DELETE") as info:
        confirm.get_by_role("button", name="Delete").click()
    assert info.value.status == 204, info.value.text()[:1000]
    wait_for_adb(connector, annotation["id"], lambda s: s is None, "the deletion")
    expect(page.locator(".lsf-annotation-button_submitted")).to_have_count(0)
    screenshot("annotation-deleted")

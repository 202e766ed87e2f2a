"""Issue #22, item 6: a revisit of a labeled task loads its image from the browser's cache, in real Chromium.

The project, its ApertureDB source storage and an annotation are made through the REST API; the browser opens the
task's labeling page, leaves for the project list, and opens it again. The first visit fetches the image through
Label Studio's resolver (ApertureDB asked once); on the second, Chromium reports every resolver answer as served
from its cache (DevTools protocol) with nothing transferred (Resource Timing), and ApertureDB is not asked again.

Label Studio's service worker (``sw.js``) passes resolver requests on with ``fetch``, which reads Chromium's HTTP
cache: the answers come from it only as they do not vary by the session cookie, which Label Studio re-signs on every
request (``ImageCacheKeyMiddleware``). Playwright turns the HTTP cache off in a context with request routing, so
this module's page blocks outside requests (Label Studio's analytics) through the DevTools protocol instead of the
conftest page's route.
"""

from __future__ import annotations

import re

import pytest

from storage_api import storage_body

WIDTH, HEIGHT = 300, 200
LABEL_CONFIG = """<View><Image name="image" value="$image"/>
<RectangleLabels name="label" toName="image"><Label value="cat"/></RectangleLabels></View>"""


@pytest.fixture(scope="module")
def page(browser):
    """A page whose context keeps Chromium's HTTP cache on (no routes), with its network events recorded."""
    context = browser.new_context(viewport={"width": 1400, "height": 1100})
    context.set_default_timeout(20_000)
    page = context.new_page()
    devtools = context.new_cdp_session(page)
    devtools.send("Network.enable")
    devtools.send("Network.setBlockedURLs", {"urls": ["https://*"]})  # Label Studio is served over http here
    page.network_events = []
    for event in ("Network.responseReceived", "Network.requestServedFromCache", "Network.requestWillBeSent"):
        devtools.on(event, lambda params, event=event: page.network_events.append((event, params)))
    try:
        yield page
    finally:
        context.close()


@pytest.fixture(scope="module")
def labeled_task(adb_server, label_studio_server):
    """A task of an ApertureDB source storage, with an annotation; and a count of ApertureDB's reads of its image."""
    from ls_storage.testing.fixtures import TaggedImages

    images = TaggedImages(adb_server)
    uniqueid = images.add("cached.png", WIDTH, HEIGHT)
    client = label_studio_server
    project = client.call("POST", "/api/projects/", {"title": "Media cache", "label_config": LABEL_CONFIG})
    body = storage_body(adb_server, project["id"], constraints=images.constraints)
    storage = client.call("POST", "/api/storages/aperturedb/", {**body, "predictions": False})
    client.call("POST", f"/api/storages/aperturedb/{storage['id']}/sync")
    (task,) = client.call("GET", f"/api/tasks/?project={project['id']}")["tasks"]
    client.call("POST", f"/api/tasks/{task['id']}/annotations/", {"result": [{
        "id": "r1", "from_name": "label", "to_name": "image", "type": "rectanglelabels",
        "original_width": WIDTH, "original_height": HEIGHT,
        "value": {"x": 10, "y": 10, "width": 30, "height": 30, "rotation": 0, "rectanglelabels": ["cat"]}}]})

    reads = []

    def reads_the_image(query) -> bool:  # a trigger that never fires: it only counts
        if any(command.get("FindImage", {}).get("constraints", {}).get("_uniqueid") == ["==", uniqueid]
               for command in query if isinstance(command, dict)):
            reads.append(query)
        return False

    adb_server.server.when_query(reads_the_image, lambda: None)
    return {"project": project["id"], "task": task["id"], "reads": reads}


def resolver_events(page, task_id: int) -> dict[str, list]:
    """The DevTools network events of this task's resolver requests, by event name."""
    path = re.compile(rf"^https?://[^/]+/tasks/{task_id}/resolve/\?")
    requests = {params["requestId"] for event, params in page.network_events
                if event == "Network.requestWillBeSent" and path.match(params["request"]["url"])}
    found: dict[str, list] = {}
    for event, params in page.network_events:
        if params.get("requestId") in requests:
            found.setdefault(event, []).append(params)
    return found


def open_labeling(page, url: str) -> None:
    page.goto(url)
    page.wait_for_function("() => { const i = document.querySelector('.lsf-image img');"
                           " return i && i.complete && i.naturalWidth > 0 }")
    assert page.locator(".lsf-image img").evaluate("i => [i.naturalWidth, i.naturalHeight]") == [WIDTH, HEIGHT]


def test_a_revisit_loads_the_image_from_the_browser_cache(logged_in, label_studio_server, labeled_task, screenshot):
    page = logged_in
    task_id = labeled_task["task"]
    url = f"{label_studio_server.url}/projects/{labeled_task['project']}/data?task={task_id}"

    page.network_events.clear()
    open_labeling(page, url)
    first = resolver_events(page, task_id)
    answers = [params["response"] for params in first.get("Network.responseReceived", [])]
    fetched = [answer for answer in answers if answer["status"] == 200 and not answer.get("fromDiskCache")]
    assert fetched, answers  # the first load came from Label Studio (a later one of the visit may be cached)
    assert fetched[0]["headers"]["Cache-Control"].startswith("private, max-age="), fetched[0]["headers"]
    assert "cookie" not in fetched[0]["headers"].get("Vary", "").lower(), fetched[0]["headers"]
    reads_after_first = len(labeled_task["reads"])
    assert reads_after_first >= 1  # the first visit asked ApertureDB
    screenshot("media-cache-first-visit")

    page.goto(f"{label_studio_server.url}/projects/")
    page.wait_for_load_state("networkidle")
    page.network_events.clear()
    open_labeling(page, url)
    second = resolver_events(page, task_id)

    assert second.get("Network.requestWillBeSent"), "the revisit did not load the image"
    answers = [params["response"] for params in second.get("Network.responseReceived", [])]
    served_from_cache = {params["requestId"] for params in second.get("Network.requestServedFromCache", [])}
    for params in second.get("Network.responseReceived", []):
        assert params["requestId"] in served_from_cache or params["response"].get("fromDiskCache"), params["response"]
    assert all(answer["status"] == 200 for answer in answers), answers  # a 304 would have been a revalidation
    transferred = page.evaluate(
        "task => performance.getEntriesByType('resource')"
        ".filter(e => e.name.includes(`/tasks/${task}/resolve/`)).map(e => e.transferSize)", task_id)
    assert transferred and all(size == 0 for size in transferred), transferred
    assert len(labeled_task["reads"]) == reads_after_first  # ApertureDB was not asked again
    screenshot("media-cache-revisit")

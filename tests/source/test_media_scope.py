"""Media scope (issue #21, item 5): Label Studio's resolver never serves an image of an ApertureDB storage to
anyone who may not see it, answers ``Range`` as RFC 9110 says and HEAD as GET without a body; and (item 1) an
ApertureDB that hangs is a 504 within the timeout, one that is down a 502.

What may be resolved, as Label Studio's resolver does for its own storages: through a task's (or the project's)
resolver, any image one of the project's ApertureDB storages synced into a task of the project, not only that
task's own (Label Studio resolves any key of a project's bucket through any task of it, and whoever may open one
task of an open-source project may open all), and only for active members of the project's organization. Any
other URI — another storage's, another project's or organization's, not synced, traversing, encoded, in another
scheme — names no image: 404.
"""

from __future__ import annotations

import base64
import time
import types

import pytest
from django.test import Client
from django.utils import timezone
from organizations.models import OrganizationMember
from tasks.models import Task

from ls_storage.aperturedb.api import ProjectResolveAPI, TaskResolveAPI
from ls_storage.client import connection

from storage_api import create_project, create_storage, sync

pytestmark = pytest.mark.django_db

TIMEOUT = 1.0  # APERTUREDB_CONNECT_TIMEOUT and APERTUREDB_QUERY_TIMEOUT in the hang tests
SLACK = 2.0  # the SDK's retry sleeps and a loaded machine; far below a second wait of the timeout


@pytest.fixture
def transport(request):
    """TCP unless a test asks for both transports: the scope does not depend on the transport."""
    return getattr(request, "param", "tcp")


def _routes_to_our_resolver() -> bool:
    from django.urls import resolve

    return all(getattr(resolve(path).func, "view_class", None) is view
               for path, view in (("/tasks/1/resolve/", TaskResolveAPI), ("/projects/1/resolve/", ProjectResolveAPI)))


def test_the_root_urlconf_routes_the_resolver_to_these_views(settings):
    from django.urls import clear_url_caches

    settings.ROOT_URLCONF = "ls_storage.urls"
    clear_url_caches()
    assert _routes_to_our_resolver()


def encoded(uri: str) -> str:
    return base64.urlsafe_b64encode(uri.encode("utf-8", "surrogatepass")).decode()


def resolve(client, task_id: int, uri: str | None = None, *, raw: str | None = None, method: str = "get",
            **headers):
    """The resolver's answer for ``uri`` (base64-encoded, as Label Studio's frontend sends it) or a ``raw`` fileuri
    parameter as it is."""
    fileuri = raw if raw is not None else encoded(uri)
    return getattr(client, method)(f"/tasks/{task_id}/resolve/", {"fileuri": fileuri}, **headers)


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


@pytest.fixture
def world(business_client, annotator_client, project, aperturedb, images):
    """Project A (two images, one storage), project B of the same organization (another storage) and project C of
    another organization (annotator_client's), all synced from the same ApertureDB."""

    def storage_of(client, project_id, *names):
        constraints = dict(images.constraints, name=["in", list(names)])
        storage = create_storage(client, aperturedb, project_id, constraints=constraints)
        sync(client, storage["id"])
        return storage

    a1, a2, b, c = (images.add(name, 40, 30) for name in ("a1.png", "a2.png", "b.png", "c.png"))
    stranger = images.add("not-synced.png", 20, 10)
    storage_a = storage_of(business_client, project["id"], "a1.png", "a2.png")
    project_b = create_project(business_client, "Project B", project["label_config"])
    storage_b = storage_of(business_client, project_b["id"], "b.png")
    project_c = create_project(annotator_client, "Project C", project["label_config"])
    storage_c = storage_of(annotator_client, project_c["id"], "c.png")

    def task_of(storage):
        return {task.data["img"]: task for task in Task.objects.filter(project_id=storage["project"])}

    tasks_a, (task_b,), (task_c,) = task_of(storage_a), task_of(storage_b).values(), task_of(storage_c).values()
    return types.SimpleNamespace(
        images=images, project_a=project, project_b=project_b, project_c=project_c,
        storage_a=storage_a, storage_b=storage_b, storage_c=storage_c,
        uri_a1=f"aperturedb://{storage_a['id']}/{a1}", uri_a2=f"aperturedb://{storage_a['id']}/{a2}",
        uri_b=task_b.data["img"], uri_c=task_c.data["img"], a1=a1, stranger=stranger,
        task_a1=tasks_a[f"aperturedb://{storage_a['id']}/{a1}"], task_a2=tasks_a[f"aperturedb://{storage_a['id']}/{a2}"],
        task_b=task_b, task_c=task_c, blob_a1=images.blobs[a1],
    )


def test_members_of_the_organization_get_the_project_images(business_client, world):
    own = resolve(business_client, world.task_a1.id, world.uri_a1)
    other_task = resolve(business_client, world.task_a2.id, world.uri_a1)  # as Label Studio's own storages allow
    by_project = business_client.get(f"/projects/{world.project_a['id']}/resolve/", {"fileuri": encoded(world.uri_a1)})

    for response in (own, other_task, by_project):
        assert response.status_code == 200, response
        assert body(response) == world.blob_a1 and response["Content-Type"] == "image/png"


def test_no_one_else_gets_an_image(business_client, annotator_client, world):
    """Each refused request: its status, and never the image's bytes."""
    anonymous = Client()
    refused = {
        "another project's storage, through this project's task": (
            resolve(business_client, world.task_a1.id, world.uri_b), 404),
        "this project's image, through another project's task": (
            resolve(business_client, world.task_b.id, world.uri_a1), 404),
        "another organization's image, through this organization's task": (
            resolve(business_client, world.task_a1.id, world.uri_c), 404),
        # Open-source Label Studio lets any signed-in user past its own check; the storage finds no image for them.
        "another organization's user, through the image's task": (
            resolve(annotator_client, world.task_a1.id, world.uri_a1), 404),
        "another organization's user, through the project resolver": (
            annotator_client.get(f"/projects/{world.project_a['id']}/resolve/", {"fileuri": encoded(world.uri_a1)}),
            404),
        "another organization's user, through their own task": (
            resolve(annotator_client, world.task_c.id, world.uri_a1), 404),
        "an image of the storage's ApertureDB it did not sync": (
            resolve(business_client, world.task_a1.id, f"aperturedb://{world.storage_a['id']}/{world.stranger}"), 404),
        "a task that does not exist": (resolve(business_client, 10 ** 9, world.uri_a1), 404),
        "no fileuri": (business_client.get(f"/tasks/{world.task_a1.id}/resolve/"), 400),
    }
    for name, (response, status) in refused.items():
        assert response.status_code == status, (name, response)
        assert world.blob_a1 not in body(response), name

    for request in (lambda: resolve(anonymous, world.task_a1.id, world.uri_a1),
                    lambda: anonymous.get(f"/projects/{world.project_a['id']}/resolve/",
                                          {"fileuri": encoded(world.uri_a1)}),
                    lambda: resolve(anonymous, world.task_a1.id, world.uri_a1, method="head")):
        response = request()
        assert response.status_code in (401, 403) and world.blob_a1 not in body(response), response

    a2 = world.uri_a2.rsplit("/", 1)[1]
    world.images.query([{"DeleteImage": {"constraints": {"_uniqueid": ["==", a2]}}}])
    gone = resolve(business_client, world.task_a2.id, world.uri_a2)
    assert gone.status_code == 404 and b"no longer in ApertureDB" in body(gone), gone  # synced, then deleted there

    OrganizationMember.objects.filter(user=business_client.user).update(deleted_at=timezone.now())
    removed = resolve(business_client, world.task_a1.id, world.uri_a1)
    assert removed.status_code in (403, 404) and world.blob_a1 not in body(removed)  # Label Studio's 403 first


def forged_uris(world) -> dict[str, str]:
    sid, uid = world.storage_a["id"], world.a1
    every_byte_encoded = "".join(f"%{byte:02X}" for byte in uid.encode())
    return {
        "parent segment before the id": f"aperturedb://{sid}/../{sid}/{uid}",
        "parent segment after the id": f"aperturedb://{sid}/{uid}/..",
        "current segment": f"aperturedb://{sid}/./{uid}",
        "encoded parent segment": f"aperturedb://{sid}/%2e%2e/{uid}",
        "encoded slash": f"aperturedb://{sid}%2F{uid}",
        "percent-encoded id": f"aperturedb://{sid}/{every_byte_encoded}",
        "id with a NUL": f"aperturedb://{sid}/{uid}\x00",
        "id with an encoded NUL": f"aperturedb://{sid}/{uid}%00",
        "id with a trailing space": f"aperturedb://{sid}/{uid} ",
        "id with a line break": f"aperturedb://{sid}/{uid}\n",
        "id with a right-to-left override": f"aperturedb://{sid}/\u202e{uid}",
        "id with a zero-width space": f"aperturedb://{sid}/{uid}\u200b",
        "id with a lone surrogate": f"aperturedb://{sid}/{uid}\ud800",
        "id in full-width characters": f"aperturedb://{sid}/" + "".join(
            chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in uid),
        "huge id": f"aperturedb://{sid}/" + "9" * 100_000,
        "double slash": f"aperturedb://{sid}//{uid}",
        "triple slash": f"aperturedb:///{sid}/{uid}",
        "storage id with a leading zero": f"aperturedb://0{sid}/{uid}",
        "storage id with a sign": f"aperturedb://+{sid}/{uid}",
        "storage id as a decimal": f"aperturedb://{sid}.0/{uid}",
        "storage id in Arabic-Indic digits": f"aperturedb://{''.join(chr(0x660 + int(d)) for d in str(sid))}/{uid}",
        "storage id in superscript digits": f"aperturedb://{''.join('⁰¹²³⁴⁵⁶⁷⁸⁹'[int(d)] for d in str(sid))}/{uid}",
        "huge storage id": f"aperturedb://{'9' * 5000}/{uid}",
        "scheme in capitals": f"APERTUREDB://{sid}/{uid}",
        "one slash": f"aperturedb:/{sid}/{uid}",
        "no slash": f"aperturedb:{sid}/{uid}",
        "no id": f"aperturedb://{sid}/",
        "no storage": "aperturedb://",
        "s3": f"s3://bucket/{uid}",
        "file": "file:///etc/passwd",
        "cloud metadata": "http://169.254.169.254/latest/meta-data/",
        "gs": f"gs://bucket/{uid}",
        "empty": "",
        "a JSON list": f'["aperturedb://{sid}/{uid}"]',
    }


def test_forged_traversing_and_encoded_uris_name_no_image(business_client, world):
    for name, uri in forged_uris(world).items():
        response = resolve(business_client, world.task_a1.id, uri)
        assert response.status_code == 404, (name, response)
        assert world.blob_a1 not in body(response), name


def test_fileuri_parameters_that_are_not_base64(business_client, world):
    """Label Studio falls back to URL-decoding a fileuri that is not base64: the plain URI of an image the user may
    see resolves (Label Studio's backward compatibility), anything else is not found."""
    plain = resolve(business_client, world.task_a1.id, raw=world.uri_a1.replace("://", "%3A%2F%2F"))
    assert plain.status_code == 200 and body(plain) == world.blob_a1

    for raw in ("not base64 !!", "%2e%2e%2f%2e%2e%2fetc%2fpasswd", "../../../../etc/passwd",
                base64.urlsafe_b64encode(b"\xff\xfe\x00aperturedb").decode(), "====", "%00", "%ZZ",
                f"aperturedb%3A%2F%2F{world.storage_a['id']}%2F..%2F{world.a1}"):
        response = resolve(business_client, world.task_a1.id, raw=raw)
        assert response.status_code == 404, (raw, response)


def range_cases(n: int) -> dict[str, tuple[int, bytes | None, str | None]]:
    """Range header → (status, body as a slice of the image or None for the whole, Content-Range)."""
    whole = (200, None, None)
    return {
        "bytes=999999999-": (416, b"", f"bytes */{n}"),
        f"bytes={n}-": (416, b"", f"bytes */{n}"),
        "bytes=-0": (416, b"", f"bytes */{n}"),
        "bytes=99999999999999999999999999-": (416, b"", f"bytes */{n}"),
        "bytes=" + "9" * 400 + "-": (416, b"", f"bytes */{n}"),
        "bytes=" + "9" * 5000 + "-": (416, b"", f"bytes */{n}"),
        "bytes=999999999-,9999999999-": (416, b"", f"bytes */{n}"),
        "bytes=5-2": whole,  # an invalid byte-range-spec is ignored (RFC 9110, 14.1.1)
        "bytes=0-1,5-6": whole,  # several ranges: the whole image
        "bytes=0-1,999999999-": whole,
        "bytes=abc-def": whole,
        "bytes=1-x": whole,
        "bytes=-": whole,
        "bytes=--5": whole,
        "bytes=": whole,
        "bytes": whole,
        "items=0-5": whole,
        "bytes=१-२": whole,  # digits, but not ASCII ones
        "bytes=0-99999999999999999999999999": (206, b"0:", f"bytes 0-{n - 1}/{n}"),
        "bytes=-99999999": (206, b"0:", f"bytes 0-{n - 1}/{n}"),
        "bytes=10-19": (206, b"10:20", f"bytes 10-19/{n}"),
        "bytes=0-0": (206, b"0:1", f"bytes 0-0/{n}"),
        "bytes=-5": (206, f"{n - 5}:".encode(), f"bytes {n - 5}-{n - 1}/{n}"),
        f"bytes={n - 1}-": (206, f"{n - 1}:".encode(), f"bytes {n - 1}-{n - 1}/{n}"),
        "bytes=0-": (206, b"0:", f"bytes 0-{n - 1}/{n}"),
        "BYTES=10-19": (206, b"10:20", f"bytes 10-19/{n}"),
    }


def _sliced(blob: bytes, spec: bytes | None) -> bytes:
    if spec is None:
        return blob
    if spec == b"":
        return b""
    start, _, end = spec.decode().partition(":")
    return blob[int(start):int(end) if end else None]


def test_range_headers_are_answered_as_http_says(business_client, world):
    blob = world.blob_a1
    for header, (status, part, content_range) in range_cases(len(blob)).items():
        response = resolve(business_client, world.task_a1.id, world.uri_a1, HTTP_RANGE=header)
        label = header[:40]
        assert response.status_code == status, (label, response.status_code, body(response)[:200])
        assert body(response) == _sliced(blob, part), label
        assert response.get("Content-Range") == content_range, (label, response.get("Content-Range"))
        if status == 416:
            assert response["Cache-Control"] == "no-store", label
        else:
            assert int(response["Content-Length"]) == len(_sliced(blob, part)), label


def test_head_answers_as_get_without_a_body(business_client, annotator_client, world):
    for headers in ({}, {"HTTP_RANGE": "bytes=10-19"}, {"HTTP_RANGE": "bytes=999999999-"}):
        got = resolve(business_client, world.task_a1.id, world.uri_a1, **headers)
        body(got)
        head = resolve(business_client, world.task_a1.id, world.uri_a1, method="head", **headers)
        assert head.status_code == got.status_code, headers
        assert body(head) == b"", headers
        for name in ("Content-Type", "Content-Length", "Content-Range", "Accept-Ranges", "ETag", "Cache-Control"):
            assert head.get(name) == got.get(name), (headers, name)

    assert resolve(annotator_client, world.task_a1.id, world.uri_a1, method="head").status_code == 404
    assert resolve(business_client, world.task_a1.id, world.uri_b, method="head").status_code == 404
    head = business_client.head(f"/projects/{world.project_a['id']}/resolve/", {"fileuri": encoded(world.uri_a1)})
    assert head.status_code == 200 and int(head["Content-Length"]) == len(world.blob_a1) and body(head) == b""


@pytest.fixture
def short_timeouts(monkeypatch):
    monkeypatch.setenv(connection.CONNECT_TIMEOUT_VARIABLE, str(TIMEOUT))
    monkeypatch.setenv(connection.QUERY_TIMEOUT_VARIABLE, str(TIMEOUT))


@pytest.fixture
def synced_task(short_timeouts, business_client, project, aperturedb_test_server):
    from ls_storage.testing.fixtures import TaggedImages

    images = TaggedImages(aperturedb_test_server)
    uniqueid = images.add("a.png", 40, 30)
    storage = create_storage(business_client, aperturedb_test_server, project["id"], constraints=images.constraints)
    sync(business_client, storage["id"])
    task = Task.objects.get(project_id=project["id"])
    return task, images.blobs[uniqueid]


def timed(call):
    """The response, its body and the seconds they took."""
    start = time.monotonic()
    response = call()
    content = body(response)
    return response, content, time.monotonic() - start


@pytest.mark.parametrize("transport", ["tcp", "rest"], indirect=True)
def test_a_hung_aperturedb_is_a_gateway_timeout_within_the_timeout(business_client, aperturedb_test_server,
                                                                   synced_task):
    task, blob = synced_task
    assert resolve(business_client, task.id, task.data["img"]).status_code == 200  # a connection is open
    aperturedb_test_server.server.stall_after(0)
    try:
        answers = [timed(lambda: resolve(business_client, task.id, task.data["img"])),
                   timed(lambda: resolve(business_client, task.id, task.data["img"]))]  # the second connects anew
    finally:
        aperturedb_test_server.server.resume()

    for answer, content, took in answers:
        assert answer.status_code == 504, answer
        assert took <= TIMEOUT + SLACK, took
        assert answer["Cache-Control"] == "no-store" and b"did not answer in time" in content
    assert b"".join(resolve(business_client, task.id, task.data["img"]).streaming_content) == blob  # once it answers


@pytest.mark.parametrize("transport", ["tcp", "rest"], indirect=True)
def test_an_aperturedb_that_is_down_is_a_bad_gateway(business_client, aperturedb_test_server, synced_task):
    task, blob = synced_task
    aperturedb_test_server.server.stop()

    response, content, seconds = timed(lambda: resolve(business_client, task.id, task.data["img"]))

    assert response.status_code == 502 and seconds <= TIMEOUT + SLACK, (response, seconds)
    assert blob not in content and b"could not be reached" in content and response["Cache-Control"] == "no-store"
    aperturedb_test_server.server.restart()
    assert b"".join(resolve(business_client, task.id, task.data["img"]).streaming_content) == blob

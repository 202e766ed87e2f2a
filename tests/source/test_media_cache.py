"""Media served like files (issue #22, item 6): the resolver's answers for ApertureDB images carry a strong
``ETag`` and ``Cache-Control: private, max-age=LS_STORAGE_MEDIA_MAX_AGE, immutable`` (``private, no-cache`` at 0),
and do not vary by cookie; a matching ``If-None-Match`` is a 304 without asking ApertureDB, but only where the same image would be a 200 (the
media scope of test_media_scope.py: elsewhere it is a 404 as before); ``If-Range`` is honoured; error answers are
``no-store`` and carry no ``ETag``.
"""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.utils import timezone
from organizations.models import OrganizationMember

import test_media_scope
from test_media_scope import body, encoded, resolve

world = test_media_scope.world  # the fixture: projects, storages and images in and out of scope

# The scope does not depend on the transport (test_media_scope.py runs both where it matters).
pytestmark = [pytest.mark.django_db, pytest.mark.parametrize("transport", ["tcp"])]

STRONG_TAG = re.compile(r'"[0-9a-f]{32}"')


def cache_control(settings) -> str:
    lifetime = settings.LS_STORAGE_MEDIA_MAX_AGE
    return f"private, max-age={lifetime}, immutable" if lifetime else "private, no-cache"


def stoppable_server(address):
    """The test server behind ``address``, to stop; a real ApertureDB is not stopped by tests."""
    if getattr(address, "server", None) is None:
        pytest.skip("stops ApertureDB: needs the test server")
    return address.server


def assert_uncached_error(response, status, label=None):
    assert response.status_code == status, (label, response)
    assert response["Cache-Control"] == "no-store" and not response.has_header("ETag"), (label, response.headers)


def test_images_carry_a_strong_tag_and_a_lifetime(settings, business_client, world):
    whole = resolve(business_client, world.task_a1.id, world.uri_a1)
    part = resolve(business_client, world.task_a1.id, world.uri_a1, HTTP_RANGE="bytes=10-19")
    head = resolve(business_client, world.task_a1.id, world.uri_a1, method="head")
    by_project = business_client.get(f"/projects/{world.project_a['id']}/resolve/", {"fileuri": encoded(world.uri_a1)})
    other_image = resolve(business_client, world.task_a1.id, world.uri_a2)

    assert whole.status_code == 200 and body(whole) == world.blob_a1
    assert part.status_code == 206 and body(part) == world.blob_a1[10:20]
    etag = whole["ETag"]
    assert STRONG_TAG.fullmatch(etag), etag
    for response in (whole, part, head, by_project):
        assert response["ETag"] == etag and response["Cache-Control"] == cache_control(settings), response.headers
        # Label Studio re-signs its session cookie on every request: an answer varying by it would never be reused.
        assert "cookie" not in response.get("Vary", "").lower(), response.headers
    assert STRONG_TAG.fullmatch(other_image["ETag"]) and other_image["ETag"] != etag

    assert settings.LS_STORAGE_MEDIA_MAX_AGE == settings.RESOLVER_PROXY_CACHE_TIMEOUT  # Label Studio's own lifetime
    settings.LS_STORAGE_MEDIA_MAX_AGE = 60
    assert resolve(business_client, world.task_a1.id, world.uri_a1)["Cache-Control"] == "private, max-age=60, immutable"
    settings.LS_STORAGE_MEDIA_MAX_AGE = 0  # kept, but asked for every time: the 304 checks access again
    assert resolve(business_client, world.task_a1.id, world.uri_a1)["Cache-Control"] == "private, no-cache"


def test_a_matching_if_none_match_is_a_304_without_asking_aperturedb(settings, business_client, aperturedb, world):
    task, uri, blob = world.task_a1, world.uri_a1, world.blob_a1
    etag = resolve(business_client, task.id, uri)["ETag"]
    server = stoppable_server(aperturedb)
    server.stop()  # a request that reached ApertureDB now fails: 502
    try:
        matching = {
            "its tag": etag,
            "its tag, weak": f"W/{etag}",
            "any": "*",
            "a list with its tag": f'"0123", W/"abc", {etag}',
        }
        for label, if_none_match in matching.items():
            for method, headers in (("get", {}), ("head", {}), ("get", {"HTTP_RANGE": "bytes=0-9"})):
                response = resolve(business_client, task.id, uri, method=method, HTTP_IF_NONE_MATCH=if_none_match,
                                   **headers)
                assert response.status_code == 304, (label, method, headers, response)
                assert body(response) == b"" and response["ETag"] == etag, (label, method, headers)
                assert response["Cache-Control"] == cache_control(settings), (label, method, headers)
                assert "cookie" not in response.get("Vary", "").lower(), (label, method, headers)

        asked = resolve(business_client, task.id, uri, HTTP_IF_NONE_MATCH='"another", W/"tag"')
        assert_uncached_error(asked, 502, "another tag: ApertureDB is asked, and is down")
        assert b"could not be reached" in body(asked)
    finally:
        server.restart()

    another = resolve(business_client, task.id, uri, HTTP_IF_NONE_MATCH='"another"')
    assert another.status_code == 200 and body(another) == blob and another["ETag"] == etag


def test_no_304_outside_the_media_scope(business_client, annotator_client, world):
    """The tag of an image, sent where that image is not to be had: the same 404 (401/403) as without it."""
    etag = resolve(business_client, world.task_a1.id, world.uri_a1)["ETag"]
    storage_b, storage_c = world.storage_b["id"], world.storage_c["id"]
    for if_none_match in (etag, "*"):
        refused = {
            "through another project's task": resolve(business_client, world.task_b.id, world.uri_a1,
                                                      HTTP_IF_NONE_MATCH=if_none_match),
            "as another storage's image": resolve(business_client, world.task_a1.id,
                                                  f"aperturedb://{storage_b}/{world.a1}",
                                                  HTTP_IF_NONE_MATCH=if_none_match),
            "as another organization's storage's image": resolve(annotator_client, world.task_c.id,
                                                                 f"aperturedb://{storage_c}/{world.a1}",
                                                                 HTTP_IF_NONE_MATCH=if_none_match),
            "another project's resolver": business_client.get(
                f"/projects/{world.project_b['id']}/resolve/", {"fileuri": encoded(world.uri_a1)},
                HTTP_IF_NONE_MATCH=if_none_match),
            "another organization's user": resolve(annotator_client, world.task_a1.id, world.uri_a1,
                                                   HTTP_IF_NONE_MATCH=if_none_match),
            "another organization's user, through the project resolver": annotator_client.get(
                f"/projects/{world.project_a['id']}/resolve/", {"fileuri": encoded(world.uri_a1)},
                HTTP_IF_NONE_MATCH=if_none_match),
            "an image the storage did not sync": resolve(
                business_client, world.task_a1.id, f"aperturedb://{world.storage_a['id']}/{world.stranger}",
                HTTP_IF_NONE_MATCH=if_none_match),
            "a task that does not exist": resolve(business_client, 10 ** 9, world.uri_a1,
                                                  HTTP_IF_NONE_MATCH=if_none_match),
        }
        for label, response in refused.items():
            assert_uncached_error(response, 404, (if_none_match, label))

        anonymous = resolve(Client(), world.task_a1.id, world.uri_a1, HTTP_IF_NONE_MATCH=if_none_match)
        assert anonymous.status_code in (401, 403) and not anonymous.has_header("ETag"), anonymous

    OrganizationMember.objects.filter(user=business_client.user).update(deleted_at=timezone.now())
    removed = resolve(business_client, world.task_a1.id, world.uri_a1, HTTP_IF_NONE_MATCH=etag)
    assert removed.status_code in (403, 404) and not removed.has_header("ETag"), removed
    assert removed["Cache-Control"] == "no-store"


def test_if_range_gets_the_range_only_for_this_image_s_tag(business_client, world):
    etag = resolve(business_client, world.task_a1.id, world.uri_a1)["ETag"]
    cases = {
        etag: 206,
        '"0123456789abcdef0123456789abcdef"': 200,
        f"W/{etag}": 200,  # If-Range takes strong comparison only (RFC 9110, 13.1.5)
        "Wed, 21 Oct 2015 07:28:00 GMT": 200,  # a date: these answers carry no Last-Modified to compare it with
    }
    for if_range, status in cases.items():
        response = resolve(business_client, world.task_a1.id, world.uri_a1, HTTP_RANGE="bytes=10-19",
                           HTTP_IF_RANGE=if_range)
        assert response.status_code == status, (if_range, response)
        assert body(response) == (world.blob_a1[10:20] if status == 206 else world.blob_a1), if_range
        assert response["ETag"] == etag and response.get("Content-Range") == (
            f"bytes 10-19/{len(world.blob_a1)}" if status == 206 else None), if_range


def test_error_answers_are_not_cached_and_carry_no_tag(business_client, aperturedb, world):
    task, uri = world.task_a1, world.uri_a1
    assert_uncached_error(resolve(business_client, task.id, uri, HTTP_RANGE="bytes=999999-"), 416, "unsatisfiable")
    assert_uncached_error(resolve(business_client, task.id, uri, method="head", HTTP_RANGE="bytes=999999-"), 416,
                          "unsatisfiable, HEAD")
    server = stoppable_server(aperturedb)
    server.stop()
    try:
        assert_uncached_error(resolve(business_client, task.id, uri), 502, "ApertureDB down")
    finally:
        server.restart()
    world.images.query([{"DeleteImage": {"constraints": {"_uniqueid": ["==", world.a1]}}}])
    assert_uncached_error(resolve(business_client, task.id, uri), 404, "gone from ApertureDB")

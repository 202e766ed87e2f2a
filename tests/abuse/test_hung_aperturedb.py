"""Check Connection, create and PATCH against an ApertureDB that accepts connections and never answers (issue #21,
item 1): a 400 naming hostname within APERTUREDB_CONNECT_TIMEOUT, nothing saved."""

from __future__ import annotations

import time

import pytest
from hostile_inputs import MODELS, URLS, names
from ls_storage.client import connection
from ls_storage.testing.fixtures import running_server

from storage_api import storage_body

pytestmark = pytest.mark.django_db

TIMEOUT, SLACK = 1.0, 2.0


@pytest.fixture
def hung(monkeypatch):
    monkeypatch.setenv(connection.CONNECT_TIMEOUT_VARIABLE, str(TIMEOUT))
    monkeypatch.setenv(connection.QUERY_TIMEOUT_VARIABLE, str(TIMEOUT))
    with running_server() as address:
        yield address
        address.server.resume()


@pytest.mark.parametrize("kind", sorted(URLS))
def test_a_hung_aperturedb_is_a_400_naming_hostname_within_the_timeout(world, hung, kind):
    client = world.client
    stored = client.post(URLS[kind], data=storage_body(hung, world.project_id), content_type="application/json")
    assert stored.status_code == 201, stored.content
    row = MODELS[kind].objects.get(id=stored.json()["id"]).__dict__.copy()
    count = MODELS[kind].objects.count()
    hung.server.stall_after(0)

    requests = {
        "Check Connection": lambda: client.post(URLS[kind] + "/validate", data=storage_body(hung, world.project_id),
                                                content_type="application/json"),
        "Check Connection of the stored one": lambda: client.post(
            URLS[kind] + "/validate", data={"id": stored.json()["id"], "title": "checked"},
            content_type="application/json"),
        "create": lambda: client.post(URLS[kind], data=storage_body(hung, world.project_id),
                                      content_type="application/json"),
        "PATCH": lambda: client.patch(f"{URLS[kind]}/{stored.json()['id']}", data={"title": "changed"},
                                      content_type="application/json"),
    }
    for name, request in requests.items():
        start = time.monotonic()
        response = request()
        seconds = time.monotonic() - start
        assert response.status_code == 400 and names(response, ("hostname",)), (name, response.content[:300])
        assert "did not answer within" in response.content.decode(), name
        assert seconds <= TIMEOUT + SLACK, (name, seconds)

    assert MODELS[kind].objects.count() == count
    after = MODELS[kind].objects.get(id=stored.json()["id"]).__dict__
    assert {k: v for k, v in after.items() if k != "_state"} == {k: v for k, v in row.items() if k != "_state"}

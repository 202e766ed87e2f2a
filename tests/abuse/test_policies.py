"""What the storages' API takes besides single bad values: a stored secret goes only to the host it was given for,
Check Connection saves nothing, a create never reads another storage, read-only fields sent back are ignored, and
every field a client sends is one the storage has."""

from __future__ import annotations

import pytest
from hostile_inputs import MODELS, URLS, names

pytestmark = pytest.mark.django_db


def row(kind: str, storage_id: int) -> dict:
    storage = MODELS[kind].objects.get(id=storage_id)
    return {f.name: getattr(storage, f.name) for f in storage._meta.concrete_fields}


@pytest.mark.parametrize("kind", sorted(URLS))
def test_a_stored_secret_goes_only_to_the_host_it_was_given_for(world, kind):
    """Someone who may edit a storage but not read its password cannot have it sent to a host of theirs."""
    stored_id, before = world.stored[kind], row(kind, world.stored[kind])
    elsewhere = {"hostname": "127.0.0.1", "password": "", "token": ""}

    checked = world.client.post(URLS[kind] + "/validate", data={"id": stored_id, **elsewhere},
                                content_type="application/json")
    patched = world.client.patch(f"{URLS[kind]}/{stored_id}", data=elsewhere, content_type="application/json")

    for response in (checked, patched):
        assert response.status_code == 400 and names(response, ("password",)), response.content
        assert "password or a token" in response.content.decode()
    assert row(kind, stored_id) == before
    # The same host keeps the stored secret: the Edit form sends the password field empty.
    same_host = world.client.post(URLS[kind] + "/validate", data={"id": stored_id, "password": "", "title": "x"},
                                  content_type="application/json")
    assert same_host.status_code == 200, same_host.content


@pytest.mark.parametrize("kind", sorted(URLS))
def test_check_connection_saves_nothing(world, kind):
    stored_id, before = world.stored[kind], row(kind, world.stored[kind])

    response = world.client.post(URLS[kind] + "/validate", data={"id": stored_id, "title": "changed by a check"},
                                 content_type="application/json")

    assert response.status_code == 200, response.content
    assert row(kind, stored_id) == before


@pytest.mark.parametrize("kind", sorted(URLS))
def test_a_create_never_takes_another_storage_s_settings(world, kind):
    body = dict(world.valid[kind], id=world.stored[kind], password="", token="")

    response = world.client.post(URLS[kind], data=body, content_type="application/json")

    assert response.status_code == 400 and names(response, ("password",)), response.content
    assert MODELS[kind].objects.count() == 1


@pytest.mark.parametrize("kind", sorted(URLS))
def test_read_only_fields_sent_back_are_ignored(world, kind):
    stored_id, before = world.stored[kind], row(kind, world.stored[kind])
    shown = world.client.get(f"{URLS[kind]}/{stored_id}").json()
    sent_back = {name: shown[name] for name in ("id", "type", "created_at") if name in shown}

    response = world.client.patch(f"{URLS[kind]}/{stored_id}", data={**sent_back, "id": 999999},
                                  content_type="application/json")

    assert response.status_code == 200, response.content
    assert response.json()["id"] == stored_id and row(kind, stored_id) == before

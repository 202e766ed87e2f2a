"""Storages made from a connection key alone, the key winning over fields, and REST-only connection errors."""

from __future__ import annotations

import http.server
import threading

import pytest
from ls_storage.aperturedb.models import ApertureDBExportStorage, ApertureDBImportStorage
from ls_storage.client.connection import settings_from_key
from ls_storage.testing.fixtures import TaggedImages, running_server
from tasks.models import Task

from storage_api import connection_key, storage_body, sync

pytestmark = pytest.mark.django_db
SOURCES, TARGETS = "/api/storages/aperturedb/", "/api/storages/export/aperturedb"
SECRET = "S3cret-in-a-key-4c1d"


def post(client, url: str, body: dict):
    return client.post(url, data=body, content_type="application/json")


def errors(response) -> dict:
    assert response.status_code == 400, response.content
    body = response.json()
    return body.get("validation_errors", body)


def test_a_storage_given_only_a_connection_key_syncs_its_images_into_tasks(business_client, project,
                                                                          aperturedb_test_server):
    """Over TCP a key with a user and password; over REST one with an API token."""
    address = aperturedb_test_server
    token = address.server.accounts.add_token() if address.use_rest else None
    images = TaggedImages(address)
    uniqueids = {images.add(f"{i}.png", 20, 10) for i in range(3)}
    body = {"project": project["id"], "title": "from a key", "connection_key": connection_key(address, token),
            "constraints": images.constraints}

    assert post(business_client, SOURCES + "validate", body).status_code == 200
    created = post(business_client, SOURCES, body)

    assert created.status_code == 201, created.content
    shown = created.json()
    assert {name: shown[name] for name in ("hostname", "port", "use_rest", "use_ssl", "verify_hostname", "ca_cert")} \
        == {"hostname": address.host, "port": address.port, "use_rest": address.use_rest, "use_ssl": True,
            "verify_hostname": True, "ca_cert": open(address.ca_cert).read()}
    assert not {"connection_key", "password", "token"} & set(shown)
    stored = ApertureDBImportStorage.objects.get(id=shown["id"])
    assert (stored.username, stored.password, stored.token) == \
        (("", "", token) if token else (address.username, address.password, ""))
    assert sync(business_client, shown["id"])["last_sync_count"] == 3
    assert {task.data["img"].rsplit("/", 1)[1] for task in Task.objects.filter(project_id=project["id"])} == uniqueids


def test_the_key_wins_over_connection_fields_given_with_it_and_replaces_them_on_update(business_client, project):
    with running_server(rest=True) as rest, running_server() as tcp:
        images = TaggedImages(rest)
        images.add("a.png", 10, 10)
        # allow_unknown_properties: the image, and so its tag property, is on the first server only.
        body = storage_body(tcp, project["id"], hostname="ignored.invalid", port=1, password="wrong",
                            connection_key=connection_key(rest), constraints=images.constraints,
                            allow_unknown_properties=True)

        created = post(business_client, SOURCES, body)
        assert created.status_code == 201, created.content
        assert (created.json()["hostname"], created.json()["port"], created.json()["use_rest"]) == \
            (rest.host, rest.port, True)

        # A new key on update: the storage now reaches the other server, over TCP.
        updated = business_client.patch(f"{SOURCES}{created.json()['id']}", content_type="application/json",
                                        data={"connection_key": connection_key(tcp)})
        assert updated.status_code == 200, updated.content
        stored = ApertureDBImportStorage.objects.get(id=created.json()["id"])
        assert (stored.port, stored.use_rest, stored.password) == (tcp.port, False, tcp.password)


@pytest.mark.parametrize("url, model", [(SOURCES, ApertureDBImportStorage), (TARGETS, ApertureDBExportStorage)])
def test_a_key_that_cannot_be_read_is_refused_naming_connection_key(business_client, project, url, model):
    body = {"project": project["id"], "title": "bad key", "connection_key": "bm90IGEga2V5"}  # base64 of "not a key"

    for response in (post(business_client, url.rstrip("/") + "/validate", body), post(business_client, url, body)):
        assert list(errors(response)) == ["connection_key"]
        assert "cannot be read" in str(errors(response)["connection_key"])
    assert not model.objects.exists()


def test_a_key_whose_login_is_refused_names_the_password_and_the_key(business_client, project,
                                                                     aperturedb_test_server):
    body = {"project": project["id"], "title": "old key",
            "connection_key": connection_key(aperturedb_test_server, password="changed-since")}

    found = errors(post(business_client, SOURCES + "validate", body))

    assert set(found) == {"password", "connection_key"}
    assert "refused the login" in str(found["password"]) and "refused the login" in str(found["connection_key"])


def test_a_rest_storage_pointed_at_another_web_server_names_the_port(business_client, project):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        body = {"project": project["id"], "title": "web", "hostname": "127.0.0.1", "port": server.server_port,
                "use_rest": True, "use_ssl": False, "username": "admin", "password": "admin"}
        found = errors(post(business_client, SOURCES + "validate", body))
    finally:
        server.shutdown()
        server.server_close()
        thread.join()

    assert list(found) == ["port"] and "answered HTTP 501" in str(found["port"]), found


class TestPortWhenNotGiven:
    """No port: the transport's default; a stored default follows a change of transport, another port stays."""

    @pytest.fixture
    def checked(self, monkeypatch) -> list:
        """The settings each Check Connection would have used (nothing is listening on the default ports)."""
        seen = []
        monkeypatch.setattr(ApertureDBImportStorage, "validate_settings",
                            lambda storage: seen.append(storage.connection_settings()))
        return seen

    @pytest.mark.parametrize("use_rest, use_ssl, port", [(False, True, 55555), (True, True, 443), (True, False, 80)])
    def test_a_new_storage_gets_the_default_port_of_its_transport(self, business_client, project, checked, use_rest,
                                                                  use_ssl, port):
        body = {"project": project["id"], "hostname": "db.example.com", "username": "admin", "password": "admin",
                "use_rest": use_rest, "use_ssl": use_ssl}

        for given in ({}, {"port": None}):
            created = post(business_client, SOURCES, {**body, **given})
            assert created.status_code == 201, created.content
            assert created.json()["port"] == port and checked[-1].port == port

    def test_a_default_port_follows_the_transport_and_a_chosen_one_stays(self, business_client, project, checked):
        body = {"project": project["id"], "hostname": "db.example.com", "username": "admin", "password": "admin"}
        default = post(business_client, SOURCES, body).json()
        chosen = post(business_client, SOURCES, {**body, "port": 6000}).json()

        for storage, port in ((default, 443), (chosen, 6000)):
            updated = business_client.patch(f"{SOURCES}{storage['id']}", data={"use_rest": True},
                                            content_type="application/json")
            assert updated.status_code == 200, updated.content
            assert updated.json()["port"] == port and ApertureDBImportStorage.objects.get(id=storage["id"]).port == port


def test_the_key_and_its_secrets_are_neither_stored_nor_shown(business_client, project):
    with running_server(password=SECRET) as address:
        key = connection_key(address)
        created = post(business_client, SOURCES, {"project": project["id"], "title": "key", "connection_key": key})
        listed = business_client.get(f"{SOURCES}?project={project['id']}")

    assert created.status_code == 201, created.content
    for response in (created, listed):
        assert key not in response.content.decode() and SECRET not in response.content.decode()
    stored = ApertureDBImportStorage.objects.get(id=created.json()["id"])
    assert key not in str([getattr(stored, f.name) for f in stored._meta.concrete_fields])
    assert settings_from_key(key) == stored.connection_settings()

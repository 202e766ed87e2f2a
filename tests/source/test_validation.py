"""Check Connection, create and update answer 400 naming the field, and save nothing, for each bad setting."""

from __future__ import annotations

import json
import socket

import pytest
from ls_storage.aperturedb.models import ApertureDBExportStorage, ApertureDBImportStorage
from ls_storage.client import connection
from ls_storage.testing.certificates import ensure_certificates
from ls_storage.testing.fixtures import TaggedImages

from storage_api import storage_body
from transports import other_port

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def short_answer_timeout(monkeypatch):
    # A REST storage given the TCP port waits this long for an answer that never comes.
    monkeypatch.setenv(connection.CONNECT_TIMEOUT_VARIABLE, "2")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bad_settings(address, tmp_path):
    other_ca = ensure_certificates(tmp_path).ca.read_text()
    return {
        "unreachable host": ({"port": free_port()}, "hostname", "Cannot reach"),
        "unknown host": ({"hostname": "no-such-host.invalid"}, "hostname", "Cannot resolve"),
        "the other transport's port": ({"port": other_port(address)}, "port", "check the port"),
        "TLS against a plain server": ({"use_ssl": not address.use_ssl}, "use_ssl", "TLS"),
        "CA that did not sign the server": ({"ca_cert": other_ca}, "ca_cert", "could not be verified"),
        "CA that is not PEM": ({"ca_cert": "not a certificate"}, "ca_cert", "PEM"),
        "wrong password": ({"password": "wrong-password"}, "password", "refused the login"),
        "no password or token": ({"password": "", "token": ""}, "password", "password or a token"),
        "constraints not JSON": ({"constraints": "{split: train"}, "constraints", "not valid JSON"),
        "constraints not an object": ({"constraints": "3"}, "constraints", "JSON object"),
        "constraints a malformed expression": ({"constraints": '["all", ["$split", "~=", "train"]]'}, "constraints",
                                               "unknown operator"),
        "constraints with an unknown operator": ({"constraints": {"split": ["~=", "train"]}}, "constraints", "unknown operator"),
        "bad prediction constraints": ({"pred_constraints": {"score": [">"]}}, "pred_constraints", "pairs"),
    }


CASES = ["unreachable host", "unknown host", "the other transport's port", "TLS against a plain server",
         "CA that did not sign the server", "CA that is not PEM", "wrong password", "no password or token",
         "constraints not JSON", "constraints not an object", "constraints a malformed expression",
         "constraints with an unknown operator", "bad prediction constraints"]


def assert_names_field(response, field: str, words: str) -> None:
    assert response.status_code == 400, response.content
    body = response.json()
    detail = body.get("validation_errors", body)
    text = str(detail)
    assert field in text and words in text, body


ENDPOINTS = {"source": ("/api/storages/aperturedb/", ApertureDBImportStorage),
             "target": ("/api/storages/export/aperturedb", ApertureDBExportStorage)}


# A target storage has no constraints; every connection case applies to both kinds.
KIND_CASES = [("source", case) for case in CASES] + [("target", case) for case in CASES if "constraints" not in case]


@pytest.mark.parametrize("kind, case", KIND_CASES)
def test_create_and_validate_refuse_bad_settings_naming_the_field(business_client, project, aperturedb_test_server,
                                                                    tmp_path, case, kind):
    changes, field, words = bad_settings(aperturedb_test_server, tmp_path)[case]
    body = storage_body(aperturedb_test_server, project["id"], **changes)
    url, model = ENDPOINTS[kind]

    validated = business_client.post(url.rstrip("/") + "/validate", data=body, content_type="application/json")
    created = business_client.post(url, data=body, content_type="application/json")

    assert_names_field(validated, field, words)
    assert_names_field(created, field, words)
    assert not model.objects.exists()


def test_update_with_a_bad_setting_is_refused_and_keeps_the_stored_one(business_client, project,
                                                                       aperturedb_test_server):
    created = business_client.post("/api/storages/aperturedb/", data=storage_body(aperturedb_test_server, project["id"]),
                                   content_type="application/json")
    assert created.status_code == 201, created.content
    storage_id = created.json()["id"]

    response = business_client.patch(f"/api/storages/aperturedb/{storage_id}", data={"password": "wrong"},
                                     content_type="application/json")

    assert_names_field(response, "password", "refused the login")
    assert ApertureDBImportStorage.objects.get(id=storage_id).password == aperturedb_test_server.password


def test_secrets_are_never_returned(business_client, project, aperturedb_test_server):
    created = business_client.post("/api/storages/aperturedb/", data=storage_body(aperturedb_test_server, project["id"]),
                                   content_type="application/json").json()
    listed = business_client.get(f"/api/storages/aperturedb/?project={project['id']}").json()
    detail = business_client.get(f"/api/storages/aperturedb/{created['id']}").json()

    for body in (created, listed[0], detail):
        assert "password" not in body and "token" not in body
        assert body["hostname"] == aperturedb_test_server.host and body["type"] == "aperturedb"


def test_constraints_given_as_a_string_are_stored_as_an_object(business_client, project, aperturedb_test_server):
    TaggedImages(aperturedb_test_server).add("a", 4, 4, split="train")  # an image with the properties named
    body = storage_body(aperturedb_test_server, project["id"], constraints='{"split": ["==", "train"]}',
                        properties="name, split")

    created = business_client.post("/api/storages/aperturedb/", data=body, content_type="application/json")

    assert created.status_code == 201, created.content
    storage = ApertureDBImportStorage.objects.get(id=created.json()["id"])
    assert storage.constraints == {"split": ["==", "train"]} and storage.properties == ["name", "split"]


def test_the_form_reads_and_writes_json_settings_as_text_and_the_api_keeps_objects(business_client, project,
                                                                                   aperturedb_test_server):
    """The Cloud Storage form shows each field in a text input: it gets ``<setting>_text`` (JSON text) and sends
    it back on save; the API's own fields stay objects, and win when both are given."""
    TaggedImages(aperturedb_test_server).add("a", 4, 4, split="train", camera="north")
    url = "/api/storages/aperturedb/"
    constraints = ["all", ["$split", "==", "train"], ["$camera", "!=", "south"]]
    body = storage_body(aperturedb_test_server, project["id"], constraints_text=json.dumps(constraints),
                        property_defaults_text='{"camera": "unknown"}', pred_constraints_text="")
    created = business_client.post(url, data=body, content_type="application/json")
    assert created.status_code == 201, created.content
    shown = created.json()
    assert shown["constraints"] == constraints and json.loads(shown["constraints_text"]) == constraints
    assert shown["property_defaults"] == {"camera": "unknown"} and shown["pred_constraints_text"] == ""
    assert shown["connected_to"] is None and shown["connected_to_text"] == ""

    storage_id = shown["id"]
    bad = business_client.patch(f"{url}{storage_id}", data={"constraints_text": "[object Object]"},
                                content_type="application/json")
    assert_names_field(bad, "constraints", "not valid JSON")
    assert ApertureDBImportStorage.objects.get(id=storage_id).constraints == constraints  # kept
    both = business_client.patch(f"{url}{storage_id}", content_type="application/json",
                                 data={"constraints": {"split": ["==", "train"]}, "constraints_text": "{}"})
    assert both.status_code == 200, both.content
    assert ApertureDBImportStorage.objects.get(id=storage_id).constraints == {"split": ["==", "train"]}
    cleared = business_client.patch(f"{url}{storage_id}", data={"constraints_text": ""},
                                    content_type="application/json")
    assert cleared.status_code == 200 and cleared.json()["constraints"] is None, cleared.content


def test_storage_type_is_listed_with_its_form(business_client):
    types = business_client.get("/api/storages/types").json()
    export_types = business_client.get("/api/storages/export/types").json()
    form = business_client.get("/api/storages/aperturedb/form").json()

    assert {"name": "aperturedb", "title": "ApertureDB"} in types
    assert {"name": "aperturedb", "title": "ApertureDB"} in export_types
    fields = {f["name"]: f for row in form for f in row.get("fields", [])}
    assert fields["password"]["type"] == "password" and fields["token"]["type"] == "password"
    assert fields["connection_key"]["type"] == "password" and fields["use_rest"]["type"] == "toggle"
    assert fields["use_rest"]["value"] is False and "constraints_text" in fields
    # Every field of both forms is one the API takes (the JSON settings as their text twins).
    from ls_storage.aperturedb.serializers import ApertureDBExportStorageSerializer, ApertureDBImportStorageSerializer

    export_form = business_client.get("/api/storages/export/aperturedb/form").json()
    for layout, serializer in ((form, ApertureDBImportStorageSerializer()), (export_form,
                                                                         ApertureDBExportStorageSerializer())):
        names = {f["name"] for row in layout for f in row.get("fields", [])}
        writable = {name for name, field in serializer.fields.items() if not field.read_only}
        assert names <= writable, names - writable
    # Left empty, host and port are not sent: the key gives them, or the port is the transport's default.
    assert fields["port"].get("value") is None and fields["port"]["allowEmpty"] is False
    assert not fields["hostname"].get("required") and fields["hostname"]["allowEmpty"] is False


def test_a_ca_certificate_pasted_into_a_one_line_field_still_verifies_the_server(business_client, project,
                                                                                 aperturedb_test_server):
    # Label Studio's storage form has no multi-line field: the PEM's line breaks arrive as spaces.
    one_line = open(aperturedb_test_server.ca_cert).read().replace("\n", " ")
    body = storage_body(aperturedb_test_server, project["id"], ca_cert=one_line)

    response = business_client.post("/api/storages/aperturedb/validate", data=body, content_type="application/json")

    assert response.status_code == 200, response.content

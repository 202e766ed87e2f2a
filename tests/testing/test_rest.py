"""ApertureDB's REST protocol: the real SDK's ``ConnectorRest`` over HTTPS (and plain HTTP), and what the
test server answers to HTTP requests that are not queries."""

from __future__ import annotations

import base64
import dataclasses
import http.client
import json
import ssl

import pytest
import requests
from aperturedb.ConnectorRest import ConnectorRest

from ls_storage.testing import rest
from ls_storage.testing.fixtures import address_from_environment, running_server

STATUS = [{"GetStatus": {}}]


def _status_ok(connector) -> None:
    answer, _ = connector.query(STATUS)
    assert answer[0]["GetStatus"]["status"] == 0, answer


def _add(connector, cls, n):
    return connector.query([{"AddEntity": {"class": cls, "properties": {"n": n}}}])[0]


def _numbers(connector, cls):
    answer, _ = connector.query([{"FindEntity": {"with_class": cls, "sort": "n", "results": {"list": ["n"]}}}])
    return [e["n"] for e in answer[0]["FindEntity"].get("entities", [])]


def _tcp(address):
    """The same test server's binary protocol port."""
    return dataclasses.replace(address, port=address.server.port, use_rest=False)


# ---- the SDK's ConnectorRest ----------------------------------------------------------------------


def test_sdk_logs_in_with_password_over_https_verifying_the_ca_and_hostname(aperturedb_rest_test_server):
    address = aperturedb_rest_test_server
    assert address.use_rest and address.port == address.server.rest_port != address.server.port
    connector = address.connector()
    assert isinstance(connector, ConnectorRest)
    assert connector.url == f"https://localhost:{address.port}/api/"
    assert connector.config.verify_hostname and connector.config.ca_cert == address.server.ca_cert
    _status_ok(connector)
    assert connector.shared_data.session.session_token.startswith("adbs_")


def test_sdk_logs_in_with_an_api_token():
    token = "adbp_" + "r" * 36
    with running_server(rest=True, tokens=(token,)) as address:
        connector = address.connector(password="", token=token)
        _status_ok(connector)
        assert connector.shared_data.session.session_token.startswith("adbs_")


def test_wrong_password_is_refused(aperturedb_rest_test_server):
    with pytest.raises(Exception, match="Authentication failed: wrong username or password"):
        aperturedb_rest_test_server.connector(password="wrong").query(STATUS)


def test_images_in_and_out_are_byte_exact(aperturedb_rest_test_server, make_image, run):
    connector = aperturedb_rest_test_server.connector()
    images = [make_image(40, 30, "PNG"), make_image(17, 61, "JPEG", colour=(10, 200, 40))]
    answer, blobs = connector.query([{"AddImage": {"properties": {"run": run, "n": n}}} for n in range(2)], images)
    assert answer == [{"AddImage": {"status": 0}}] * 2 and blobs == []

    answer, blobs = connector.query([{"FindImage": {"constraints": {"run": ["==", run]}, "sort": "n", "blobs": True,
                                                    "results": {"list": ["n", "adb_image_width"]}}}])
    assert answer[0]["FindImage"]["entities"] == [
        {"n": 0, "adb_image_width": 40, "_blob_index": 0}, {"n": 1, "adb_image_width": 17, "_blob_index": 1}]
    assert blobs == images


def test_binary_blobs_that_look_like_multipart_survive_the_form(aperturedb_rest_test_server, run):
    connector = aperturedb_rest_test_server.connector()
    payloads = [b"", b"\r\n--\r\n\r\n", b"\x00\xff" * 5000 + b"\r\n--boundary--\r\n", bytes(range(256)) * 64]
    answer, _ = connector.query([{"AddBlob": {"properties": {"run": run, "n": n}}} for n in range(4)], payloads)
    assert answer == [{"AddBlob": {"status": 0}}] * 4
    _, blobs = connector.query([{"FindBlob": {"constraints": {"run": ["==", run]}, "sort": "n", "blobs": True}}])
    assert blobs == payloads


def test_a_failed_transaction_answers_its_single_error_object_and_applies_nothing(aperturedb_rest_test_server,
                                                                                  entity_class):
    connector = aperturedb_rest_test_server.connector()
    answer, blobs = connector.query([{"AddEntity": {"class": entity_class}},
                                     {"FindEntity": {"with_class": entity_class, "hulls": True}}])
    assert isinstance(answer, dict) and answer["status"] == -1 and "hulls" in answer["info"], answer
    assert blobs == []
    assert _numbers(connector, entity_class) == []


def test_an_expired_session_is_refreshed_by_the_sdk_and_only_the_new_bearer_token_is_good(
        aperturedb_rest_test_server, entity_class):
    address = aperturedb_rest_test_server
    connector = address.connector()
    _status_ok(connector)
    expired = connector.shared_data.session.session_token
    address.server.expire_sessions()
    queries = address.server.queries_answered

    assert _add(connector, entity_class, 1) == [{"AddEntity": {"status": 0}}]
    assert address.server.queries_answered - queries == 3  # the rejected query, the RefreshToken, the retried one
    renewed = connector.shared_data.session.session_token
    assert renewed != expired and _numbers(connector, entity_class) == [1]
    connection = _https_connection(address)
    answers = [json.loads(_post(connection, rest_form(STATUS), {"Authorization": f"Bearer {token}"})[1])["json"]
               for token in (expired, renewed)]
    assert answers[0] == {"status": -1, "info": "Not Authenticated!"} and answers[1][0]["GetStatus"]["status"] == 0


def test_a_query_without_a_session_is_not_authenticated(aperturedb_rest_test_server):
    answer, _ = aperturedb_rest_test_server.connector(authenticate=False).query(STATUS)
    assert answer == {"status": -1, "info": "Not Authenticated!"}


def test_a_read_only_user_may_find_but_not_write(aperturedb_rest_test_server, entity_class):
    aperturedb_rest_test_server.server.accounts.add_user("reader", "secret-reader", read_only=True)
    reader = aperturedb_rest_test_server.connector(user="reader", password="secret-reader")
    found, _ = reader.query([{"FindEntity": {"with_class": entity_class, "results": {"count": True}}}])
    refused, _ = reader.query([{"AddEntity": {"class": entity_class}}])
    assert found[0]["FindEntity"]["status"] == 0
    assert refused["status"] == -1 and "permission denied" in refused["info"]


def test_fail_next_queries_fails_exactly_that_many_and_spares_the_login(aperturedb_rest_test_server, entity_class):
    aperturedb_rest_test_server.server.fail_next_queries(2)
    connector = aperturedb_rest_test_server.connector()
    for n in (1, 2):
        answer = _add(connector, entity_class, n)
        assert isinstance(answer, dict) and answer["status"] == -1 and "Injected failure" in answer["info"]
    assert _add(connector, entity_class, 3) == [{"AddEntity": {"status": 0}}]
    assert _numbers(connector, entity_class) == [3]


def test_refuse_logins_refuses_a_new_connector(aperturedb_rest_test_server):
    aperturedb_rest_test_server.server.refuse_logins()
    with pytest.raises(Exception, match="Authentication refused"):
        aperturedb_rest_test_server.connector().query(STATUS)


def test_restart_keeps_data_port_and_sessions(aperturedb_rest_test_server, entity_class):
    server = aperturedb_rest_test_server.server
    connector = aperturedb_rest_test_server.connector()
    _add(connector, entity_class, 1)
    session, port = connector.shared_data.session.session_token, server.rest_port

    server.stop()
    with pytest.raises(Exception, match="Could not query ApertureDB"):
        aperturedb_rest_test_server.connector().query(STATUS)
    server.start()

    assert server.rest_port == port
    assert _numbers(connector, entity_class) == [1]
    assert connector.shared_data.session.session_token == session


def test_drop_connections_closes_rest_connections_and_the_next_query_succeeds(aperturedb_rest_test_server,
                                                                               entity_class):
    server = aperturedb_rest_test_server.server
    connection = _https_connection(aperturedb_rest_test_server)
    assert _post(connection, rest_form(STATUS))[0] == 200
    connector = aperturedb_rest_test_server.connector()
    _add(connector, entity_class, 1)

    server.drop_connections()

    with pytest.raises((http.client.HTTPException, OSError)):
        _post(connection, rest_form(STATUS))
    assert _add(connector, entity_class, 2) == [{"AddEntity": {"status": 0}}]
    assert _numbers(connector, entity_class) == [1, 2]


def test_plain_http_without_tls(entity_class):
    with running_server(tls=False, rest=True) as address:
        connector = address.connector()
        assert connector.url == f"http://127.0.0.1:{address.port}/api/" and address.server.ca_cert is None
        assert _add(connector, entity_class, 1) == [{"AddEntity": {"status": 0}}]
        assert _numbers(connector, entity_class) == [1]


def test_rest_and_tcp_share_one_store_and_one_set_of_sessions(aperturedb_rest_test_server, entity_class):
    over_rest, over_tcp = aperturedb_rest_test_server.connector(), _tcp(aperturedb_rest_test_server).connector()
    _add(over_rest, entity_class, 1)
    _add(over_tcp, entity_class, 2)
    assert _numbers(over_rest, entity_class) == _numbers(over_tcp, entity_class) == [1, 2]

    # a session opened over TCP is good over REST
    headers = {"Authorization": f"Bearer {over_tcp.shared_data.session.session_token}"}
    status, body = _post(_https_connection(aperturedb_rest_test_server), rest_form(STATUS), headers)
    assert status == 200 and json.loads(body)["json"][0]["GetStatus"]["status"] == 0


# ---- the HTTP exchange ----------------------------------------------------------------------------


def rest_form(query, blobs=(), parts=None) -> tuple[bytes, str]:
    """A multipart/form-data body as requests builds it for ConnectorRest, and its Content-Type."""
    files = parts if parts is not None else [("query", (None, json.dumps(query)))] + [("blobs", b) for b in blobs]
    prepared = requests.Request("POST", "http://unused/api/", files=files).prepare()
    return prepared.body, prepared.headers["Content-Type"]


def _https_connection(address) -> http.client.HTTPConnection:
    if not address.use_ssl:
        return http.client.HTTPConnection(address.host, address.port, timeout=10)
    context = ssl.create_default_context(cafile=address.ca_cert)
    return http.client.HTTPSConnection(address.host, address.port, context=context, timeout=10)


def _post(connection, form, headers=None, path="/api/", method="POST") -> tuple[int, bytes]:
    body, content_type = form
    connection.request(method, path, body, {"Content-Type": content_type, **(headers or {})})
    response = connection.getresponse()
    return response.status, response.read()


def _login(connection, address) -> str:
    status, body = _post(connection, rest_form([{"Authenticate": {"username": address.username,
                                                                   "password": address.password}}]))
    assert status == 200, body
    return json.loads(body)["json"][0]["Authenticate"]["session_token"]


def test_one_keep_alive_connection_carries_a_login_and_queries_with_blobs(aperturedb_rest_test_server, make_image,
                                                                         run):
    connection = _https_connection(aperturedb_rest_test_server)
    bearer = {"Authorization": f"Bearer {_login(connection, aperturedb_rest_test_server)}"}
    sock = connection.sock
    image = make_image(8, 9)

    status, body = _post(connection, rest_form([{"AddImage": {"properties": {"run": run}}}], [image]), bearer)
    assert (status, json.loads(body)) == (200, {"json": [{"AddImage": {"status": 0}}], "blobs": []})
    status, body = _post(connection, rest_form([{"FindImage": {"constraints": {"run": ["==", run]}, "blobs": True,
                                                               "results": {"list": ["run"]}}}]), bearer)
    answer = json.loads(body)
    assert status == 200 and answer["json"][0]["FindImage"]["entities"] == [{"run": run, "_blob_index": 0}]
    assert [base64.b64decode(blob) for blob in answer["blobs"]] == [image]
    assert connection.sock is sock  # never reopened


def _refusals(address):
    """Requests that are not queries: (what, the request's arguments to _post, the status, words of the error)."""
    login = rest_form([{"Authenticate": {"username": address.username, "password": address.password}}])
    return [
        ("another path", dict(form=login, path="/api/v2/"), 404, "no such path '/api/v2/'"),
        ("the root", dict(form=login, path="/"), 404, "no such path '/'"),
        ("GET", dict(form=(b"", "text/plain"), method="GET"), 405, "only POST"),
        ("PUT", dict(form=login, method="PUT"), 405, "only POST"),
        ("a JSON body", dict(form=(json.dumps(STATUS).encode(), "application/json")), 415, "multipart/form-data"),
        ("no boundary", dict(form=(b"x", "multipart/form-data")), 400, "no boundary"),
        ("no query part", dict(form=rest_form(None, parts=[("blobs", b"x")])), 400, "no 'query' part"),
        ("two query parts", dict(form=rest_form(None, parts=[("query", (None, "[]")), ("query", (None, "[]"))])),
         400, "more than one 'query' part"),
        ("another part", dict(form=rest_form(None, parts=[("query", (None, "[]")), ("blob", b"x")])),
         400, "unexpected form part 'blob'"),
        ("an unclosed body", dict(form=(login[0][:-10], login[1])), 400, "close delimiter"),
        ("a Basic authorization", dict(form=login, headers={"Authorization": "Basic YWRtaW46YWRtaW4="}),
         400, "Bearer <session token>"),
        ("a base64 part", dict(form=(b'--b\r\nContent-Disposition: form-data; name="query"\r\n'
                                     b"Content-Transfer-Encoding: base64\r\n\r\nW10=\r\n--b--\r\n",
                                     "multipart/form-data; boundary=b")), 400, "Content-Transfer-Encoding"),
    ]


def test_requests_that_are_not_queries_are_refused_and_the_connection_serves_on(aperturedb_rest_test_server):
    server = aperturedb_rest_test_server.server
    connection = _https_connection(aperturedb_rest_test_server)
    answered = server.queries_answered
    for what, request, expected_status, words in _refusals(aperturedb_rest_test_server):
        status, body = _post(connection, **request)
        assert status == expected_status, (what, body)
        assert words in json.loads(body)["error"], (what, body)
    assert server.queries_answered == answered  # none reached the engine
    sock = connection.sock
    _login(connection, aperturedb_rest_test_server)
    assert connection.sock is sock


def test_405_names_the_allowed_method_and_head_gets_no_body(aperturedb_rest_test_server):
    connection = _https_connection(aperturedb_rest_test_server)
    connection.request("HEAD", "/api/")
    response = connection.getresponse()
    assert response.status == 405 and response.getheader("Allow") == "POST" and response.read() == b""


def test_a_method_http_server_does_not_know_is_not_implemented(aperturedb_rest_test_server):
    status, _ = _post(_https_connection(aperturedb_rest_test_server), (b"", "text/plain"), method="BREW")
    assert status == 501


def test_a_chunked_body_is_refused_with_length_required_and_the_connection_closed(aperturedb_rest_test_server):
    address = aperturedb_rest_test_server
    body, content_type = rest_form(STATUS)
    response = requests.post(f"https://{address.host}:{address.port}/api/", data=iter([body]),
                             headers={"Content-Type": content_type}, verify=address.ca_cert, timeout=10)
    assert response.status_code == 411 and "Content-Length" in response.json()["error"]
    assert response.headers["Connection"] == "close"


def test_a_body_over_the_limit_is_refused_with_413(aperturedb_rest_test_server, monkeypatch):
    monkeypatch.setattr(rest, "MAX_BODY", 1000)
    connection = _https_connection(aperturedb_rest_test_server)
    status, body = _post(connection, rest_form(STATUS, [b"x" * 5000]))
    assert status == 413 and "over the limit of 1000" in json.loads(body)["error"]
    assert _post(connection, rest_form(STATUS))[0] == 200  # the body was read off: the connection serves on


def test_an_https_port_refuses_plain_http(aperturedb_rest_test_server):
    address = aperturedb_rest_test_server
    with pytest.raises(requests.ConnectionError):
        requests.post(f"http://{address.host}:{address.port}/api/", files=[("query", (None, "[]"))], timeout=10)
    _status_ok(address.connector())  # the server serves on


def test_the_environment_can_name_an_aperturedb_reached_over_rest(aperturedb_rest_test_server, monkeypatch):
    address = aperturedb_rest_test_server
    for name in ("APERTUREDB_USER", "APERTUREDB_TOKEN", "APERTUREDB_USE_SSL", "APERTUREDB_VERIFY_HOSTNAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("APERTUREDB_HOST", "localhost")
    monkeypatch.setenv("APERTUREDB_USE_REST", "true")
    monkeypatch.setenv("APERTUREDB_CA_CERT", address.ca_cert)
    monkeypatch.setenv("APERTUREDB_PASSWORD", address.password)
    monkeypatch.delenv("APERTUREDB_PORT", raising=False)
    assert address_from_environment().port == 443  # the SDK's default for REST over TLS
    monkeypatch.setenv("APERTUREDB_PORT", str(address.port))
    from_environment = address_from_environment()
    assert from_environment.use_rest and from_environment.server is None
    _status_ok(from_environment.connector())


def test_a_server_without_rest_port_has_none(aperturedb_test_server):
    assert aperturedb_test_server.server.rest_port is None and not aperturedb_test_server.use_rest

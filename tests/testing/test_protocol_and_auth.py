"""Connecting to the test server over TCP and TLS, and logging in, as the real SDK does."""

from __future__ import annotations

import pytest

from ls_storage.testing.certificates import ensure_certificates
from ls_storage.testing.fixtures import running_server
from ls_storage.testing.server import TestServer

STATUS = [{"GetStatus": {}}]


def _status_ok(connector) -> None:
    answer, _ = connector.query(STATUS)
    assert answer[0]["GetStatus"]["status"] == 0, answer


# ---- transport ----------------------------------------------------------------------------------


def test_query_over_plain_tcp():
    with running_server(tls=False) as address:
        assert address.use_ssl is False and address.server.ca_cert is None
        _status_ok(address.connector())


def test_query_over_tls_verifies_generated_ca_and_hostname(aperturedb_test_server):
    address = aperturedb_test_server
    assert address.use_ssl and address.verify_hostname and address.host == "localhost"
    connector = address.connector()
    _status_ok(connector)
    assert connector.context.verify_mode.name == "CERT_REQUIRED" and connector.context.check_hostname


def test_server_certificate_is_valid_for_loopback_ip(aperturedb_test_server):
    _status_ok(aperturedb_test_server.connector(host="127.0.0.1"))


def test_tls_client_is_refused_by_plain_server():
    with running_server(tls=False) as address:
        with pytest.raises(Exception, match="Server did not accept protocol"):
            address.connector(use_ssl=True).query(STATUS)


def test_plain_client_is_refused_by_tls_server(aperturedb_test_server):
    with pytest.raises(Exception, match="Server did not accept protocol"):
        aperturedb_test_server.connector(use_ssl=False).query(STATUS)


def test_certificate_from_another_ca_fails_verification(aperturedb_test_server, tmp_path):
    other_ca = ensure_certificates(tmp_path).ca
    with pytest.raises(AssertionError, match="Certificate verification failed"):
        aperturedb_test_server.connector(ca_cert=str(other_ca)).query(STATUS)


def test_system_cas_do_not_trust_the_test_ca(aperturedb_test_server):
    with pytest.raises(AssertionError, match="Certificate verification failed"):
        aperturedb_test_server.connector(ca_cert=None).query(STATUS)


def test_certificates_are_reused_from_cert_dir(tmp_path):
    first = ensure_certificates(tmp_path)
    ca = first.ca.read_bytes()
    with TestServer(port=0, cert_dir=tmp_path) as server:
        assert server.ca_cert == str(first.ca)
    assert first.ca.read_bytes() == ca


def test_tls_server_needs_a_cert_dir():
    with pytest.raises(ValueError, match="cert_dir"):
        TestServer(port=0, tls=True)


# ---- Authenticate -------------------------------------------------------------------------------


def test_authenticate_with_password_answers_session_and_refresh_tokens(aperturedb_test_server):
    address = aperturedb_test_server
    connector = address.connector(authenticate=False)
    answer, _ = connector.query([{"Authenticate": {"username": address.username, "password": address.password}}])
    session = answer[0]["Authenticate"]
    assert session["status"] == 0
    assert session["session_token"].startswith("adbs_") and len(session["session_token"]) == 41
    assert session["refresh_token"].startswith("adbr_") and len(session["refresh_token"]) == 41
    assert session["session_token_expires_in"] == 3600
    assert session["refresh_token_expires_in"] == 86400


def test_sdk_logs_in_with_password_before_its_first_query(aperturedb_test_server):
    connector = aperturedb_test_server.connector()
    _status_ok(connector)
    assert connector.shared_data.session.session_token.startswith("adbs_")


def test_authenticate_with_api_token_given_to_the_server():
    token = "adbp_" + "t" * 36
    with running_server(tokens=(token,)) as address:
        connector = address.connector(password="", token=token)
        _status_ok(connector)
        assert connector.shared_data.session.session_token.startswith("adbs_")


def test_authenticate_with_api_token_added_to_accounts(aperturedb_test_server):
    token = aperturedb_test_server.server.accounts.add_token()
    assert token.startswith("adbp_") and len(token) == 41
    _status_ok(aperturedb_test_server.connector(password="", token=token))


def test_api_token_without_username_authenticates(aperturedb_test_server):
    token = aperturedb_test_server.server.accounts.add_token()
    connector = aperturedb_test_server.connector(authenticate=False)
    answer, _ = connector.query([{"Authenticate": {"token": token}}])
    assert answer[0]["Authenticate"]["status"] == 0


@pytest.mark.parametrize("credentials, message", [
    ({"password": "wrong"}, "Authentication failed: wrong username or password"),
    ({"username": "nobody"}, "Authentication failed: wrong username or password"),
    ({"password": "", "token": "adbp_" + "x" * 36}, "Authentication failed: invalid token"),
])
def test_wrong_credentials_are_refused_with_a_clear_message(aperturedb_test_server, credentials, message):
    options = {("user" if key == "username" else key): value for key, value in credentials.items()}
    with pytest.raises(Exception, match=message):
        aperturedb_test_server.connector(**options).query(STATUS)


def test_token_of_another_user_is_refused(aperturedb_test_server):
    token = aperturedb_test_server.server.accounts.add_token()
    connector = aperturedb_test_server.connector(authenticate=False)
    answer, _ = connector.query([{"Authenticate": {"username": "somebody-else", "token": token}}])
    assert answer == [{"Authenticate": {"status": -1, "info": "Authentication failed: invalid token"}}]


def test_unsupported_authenticate_parameter_is_refused_by_name(aperturedb_test_server):
    address = aperturedb_test_server
    connector = address.connector(authenticate=False)
    answer, _ = connector.query([{"Authenticate": {"username": address.username, "password": address.password,
                                                   "otp": "123456"}}])
    assert answer[0]["Authenticate"]["status"] == -1
    assert "otp" in answer[0]["Authenticate"]["info"]


def test_authenticate_must_be_the_only_command_of_its_query(aperturedb_test_server):
    address = aperturedb_test_server
    connector = address.connector()
    answer, _ = connector.query([{"Authenticate": {"username": address.username, "password": address.password}},
                                 {"GetStatus": {}}])
    assert answer["status"] == -1 and "only command" in answer["info"]


def test_a_query_that_is_not_json_is_answered_with_an_error_after_the_session_check(aperturedb_test_server, monkeypatch):
    import aperturedb.Connector

    logged_in = aperturedb_test_server.connector()
    _status_ok(logged_in)  # logs in
    anonymous = aperturedb_test_server.connector(authenticate=False)
    monkeypatch.setattr(aperturedb.Connector.json, "dumps", lambda *args, **kwargs: '[{"GetStatus": {}')
    answer, _ = logged_in.query(STATUS)
    assert answer["status"] == -1 and "not valid JSON" in answer["info"], answer
    answer, _ = anonymous.query(STATUS)
    assert answer == {"status": -1, "info": "Not Authenticated!"}


def test_query_without_a_session_is_not_authenticated(aperturedb_test_server):
    answer, _ = aperturedb_test_server.connector(authenticate=False).query(STATUS)
    assert answer == {"status": -1, "info": "Not Authenticated!"}


# ---- sessions -----------------------------------------------------------------------------------


def _login(address):
    connector = address.connector(authenticate=False)
    answer, _ = connector.query([{"Authenticate": {"username": address.username, "password": address.password}}])
    return connector, answer[0]["Authenticate"]


def test_refresh_token_trades_for_a_new_token_pair_once(aperturedb_test_server):
    connector, session = _login(aperturedb_test_server)
    answer, _ = connector.query([{"RefreshToken": {"refresh_token": session["refresh_token"]}}])
    renewed = answer[0]["RefreshToken"]
    assert renewed["status"] == 0
    assert renewed["session_token"].startswith("adbs_") and renewed["session_token"] != session["session_token"]
    assert renewed["refresh_token"].startswith("adbr_") and renewed["refresh_token"] != session["refresh_token"]
    assert renewed["session_token_expires_in"] == 3600 and renewed["refresh_token_expires_in"] == 86400

    again, _ = connector.query([{"RefreshToken": {"refresh_token": session["refresh_token"]}}])
    assert again[0]["RefreshToken"]["status"] == -1


def test_unknown_refresh_token_is_refused(aperturedb_test_server):
    answer, _ = aperturedb_test_server.connector(authenticate=False).query(
        [{"RefreshToken": {"refresh_token": "adbr_" + "n" * 36}}])
    assert answer[0]["RefreshToken"] == {"status": -1, "info": "Invalid or expired refresh token"}


def test_expired_refresh_token_is_refused():
    with running_server(refresh_ttl=-1) as address:
        connector, session = _login(address)
        answer, _ = connector.query([{"RefreshToken": {"refresh_token": session["refresh_token"]}}])
        assert answer[0]["RefreshToken"]["status"] == -1


def test_expired_session_is_not_authenticated_and_sdk_refreshes_and_retries(aperturedb_test_server, entity_class):
    server = aperturedb_test_server.server
    connector = aperturedb_test_server.connector()
    _status_ok(connector)
    before = connector.shared_data.session
    server.expire_sessions()

    raw = aperturedb_test_server.connector(authenticate=False)
    answer, _ = raw.query(STATUS)
    assert answer == {"status": -1, "info": "Not Authenticated!"}
    refused_queries = server.queries_answered

    answer, _ = connector.query([{"AddEntity": {"class": entity_class}}])
    assert answer == [{"AddEntity": {"status": 0}}]
    after = connector.shared_data.session
    assert after.session_token != before.session_token and after.refresh_token != before.refresh_token
    # the rejected query, the RefreshToken and the retried query
    assert server.queries_answered - refused_queries == 3
    found, _ = connector.query([{"FindEntity": {"with_class": entity_class, "results": {"count": True}}}])
    assert found[0]["FindEntity"]["count"] == 1


def test_short_session_ttl_makes_the_sdk_refresh_before_querying():
    # The SDK renews a session that expires within SESSION_EXPIRY_OFFSET_SEC (10 s).
    with running_server(session_ttl=5) as address:
        connector = address.connector()
        tokens = []
        for _ in range(3):
            _status_ok(connector)
            assert connector.shared_data.session.session_token_ttl == 5
            tokens.append(connector.shared_data.session.session_token)
        assert len(set(tokens)) == 3


def test_sdk_logs_in_again_when_its_refresh_token_expired(entity_class):
    with running_server(refresh_ttl=-1) as address:
        connector = address.connector()
        _status_ok(connector)
        address.server.expire_sessions()
        answer, _ = connector.query([{"AddEntity": {"class": entity_class}}])
        assert answer == [{"AddEntity": {"status": 0}}]


def test_a_read_only_user_may_find_but_not_write(aperturedb_test_server):
    aperturedb_test_server.server.accounts.add_user("reader", "secret-reader", read_only=True)
    reader = aperturedb_test_server.connector(user="reader", password="secret-reader")

    found, _ = reader.query([{"FindEntity": {"with_class": "Anything", "results": {"count": True}}}])
    refused, _ = reader.query([{"AddEntity": {"class": "Anything"}}])

    assert found[0]["FindEntity"]["status"] == 0
    assert refused["status"] == -1 and "permission denied" in refused["info"]

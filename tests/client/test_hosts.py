"""Host names as the SDK can connect to them, and ``APERTUREDB_ALLOWED_HOSTS``: checked before every connection
(a name that resolves to a forbidden address is refused), over TCP and REST."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ls_storage.client.connection import ApertureDBError, ConnectionSettings, check_settings, open_connector, run_query
from ls_storage.client.hosts import ALLOWED_HOSTS_VARIABLE, HostError, allowed_hosts, host_name_problem


@pytest.mark.parametrize("name", ["localhost", "aperturedb.example.com", "db-1.internal.", "adb_host.corp",
                                  "10.0.0.1", "::1", "fd00::5", "münchen.example", "xn--mnchen-3ya.example"])
def test_host_names_and_addresses_the_sdk_connects_to(name):
    assert host_name_problem(name) is None


@pytest.mark.parametrize("name", [
    "https://aperturedb.example.com", "aperturedb.example.com/api", "admin@aperturedb.example.com",
    "aperturedb.example.com:55555", "aperture db", " localhost", "-leading.example", "a..b", "[::1]",
    "x" * (5 * 2 ** 20), "a" * 64 + ".example", "evil\u202emoc.example", "host\x00name", "tab\there", "*.example",
])
def test_anything_else_is_refused_with_what_to_give_instead(name):
    problem = host_name_problem(name)
    assert problem and ("host name such as" in problem or "at most 253" in problem)
    settings = ConnectionSettings(hostname=name, port=55555, username="admin", password="admin")
    with pytest.raises(ApertureDBError) as raised:
        check_settings(settings)
    assert raised.value.field == "hostname"


@given(st.text(max_size=300))
def test_any_text_is_either_a_host_name_or_refused_never_an_exception(text):
    problem = host_name_problem(text)
    assert problem is None or isinstance(problem, str)


def test_the_setting_reads_names_wildcards_addresses_and_ranges(monkeypatch):
    monkeypatch.setenv(ALLOWED_HOSTS_VARIABLE, "adb.internal, *.example.com 10.2.0.0/16,192.168.1.5  fd00::/8")
    allowed = allowed_hosts()
    assert allowed.names == ("adb.internal", "*.example.com")
    assert [str(n) for n in allowed.networks] == ["10.2.0.0/16", "192.168.1.5/32", "fd00::/8"]
    assert allowed.refusal("ADB.internal", 55555) is None and allowed.refusal("db.example.com", 1) is None
    assert allowed.refusal("10.2.7.9", 55555) is None and allowed.refusal("fd00::1", 55555) is None
    assert "10.3.0.1" in allowed.refusal("10.3.0.1", 55555)
    assert "127.0.0.1" in allowed.refusal("localhost", 55555)  # a name not listed: its addresses decide
    assert "does not resolve" in allowed.refusal("no-such-host.invalid", 55555)


def test_empty_means_no_limit_and_a_setting_that_cannot_be_read_is_an_error(monkeypatch):
    monkeypatch.setenv(ALLOWED_HOSTS_VARIABLE, " ")
    assert allowed_hosts() is None
    monkeypatch.setenv(ALLOWED_HOSTS_VARIABLE, "adb.internal, http://x/")
    with pytest.raises(HostError, match="APERTUREDB_ALLOWED_HOSTS: 'http://x/'"):
        allowed_hosts()


@pytest.mark.parametrize("allowed", ["localhost", "127.0.0.0/8", "*host, 10.0.0.0/8"])
def test_an_allowed_host_connects(connection_settings, monkeypatch, allowed):
    monkeypatch.setenv(ALLOWED_HOSTS_VARIABLE, allowed)
    connector = open_connector(connection_settings)
    assert run_query(connector, [{"GetStatus": {}}])[0][0]["GetStatus"]["status"] == 0
    connector.close()


@pytest.mark.parametrize("allowed, words", [("10.0.0.0/8", "(127.0.0.1) is not among"),
                                            ("adb.internal", "is not among"),
                                            ("adb.internal, http://x/", "No connection is allowed")])
def test_a_host_outside_is_refused_naming_hostname(address, connection_settings, monkeypatch, allowed, words):
    monkeypatch.setenv(ALLOWED_HOSTS_VARIABLE, allowed)
    queries = address.server.queries_answered
    with pytest.raises(ApertureDBError, match="APERTUREDB_ALLOWED_HOSTS") as raised:
        open_connector(connection_settings)
    assert raised.value.field == "hostname" and words in str(raised.value)
    assert address.server.queries_answered == queries  # not even a login reached the server


def test_every_new_connection_is_checked_again(address, connection_settings, monkeypatch):
    connector = open_connector(connection_settings)
    monkeypatch.setenv(ALLOWED_HOSTS_VARIABLE, "10.0.0.0/8")
    address.server.drop_connections()
    with pytest.raises(ApertureDBError, match="is not among the hosts"):
        run_query(connector, [{"GetStatus": {}}])
    monkeypatch.delenv(ALLOWED_HOSTS_VARIABLE)
    assert run_query(connector, [{"GetStatus": {}}])[0][0]["GetStatus"]["status"] == 0
    connector.close()

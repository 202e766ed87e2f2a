"""Connection keys as ApertureDB hands them out, decoded into connection settings (no server, no Django)."""

from __future__ import annotations

import base64
import json

import pytest
from aperturedb.Configuration import Configuration
from ls_storage.client.connection import ApertureDBError, ConnectionSettings, settings_from_key
from ls_storage.testing.certificates import ensure_certificates

SECRET = "pa55-Wörd-not-in-messages"


def sdk_key(host="db.example.com", port=55555, token=None, use_rest=False, use_ssl=True, ca_cert=None,
            username="admin", password=SECRET, verify_hostname=True) -> str:
    return Configuration.create_aperturedb_key(host, port, token, use_rest, use_ssl, ca_cert, username, password,
                                               verify_hostname)


def encoded(parts: list) -> str:
    """A key the way the SDK encodes one, with contents of our choosing (version 1 keys, damaged keys)."""
    return base64.b64encode(json.dumps(parts).encode()).decode()


@pytest.fixture(scope="module")
def ca_pem(tmp_path_factory) -> str:
    return ensure_certificates(tmp_path_factory.mktemp("ca")).ca.read_text()


def test_a_version_2_password_key_over_tcp_fills_every_field(ca_pem):
    settings = settings_from_key(sdk_key(ca_cert=ca_pem))

    assert settings == ConnectionSettings(hostname="db.example.com", port=55555, username="admin", password=SECRET,
                                          token="", use_ssl=True, ca_cert=ca_pem, verify_hostname=True, use_rest=False)


def test_a_version_2_token_key_over_rest_restores_the_token_prefix_and_takes_the_https_port():
    settings = settings_from_key(sdk_key(token="adbp_0123abcd", use_rest=True, port=443, username=None, password=None))

    assert (settings.token, settings.username, settings.password) == ("adbp_0123abcd", "", "")
    assert (settings.use_rest, settings.use_ssl, settings.port, settings.ca_cert) == (True, True, 443, "")


@pytest.mark.parametrize("use_rest, use_ssl, port", [(False, True, 55555), (False, False, 55555), (True, True, 443),
                                                     (True, False, 80)])
def test_a_key_without_a_port_takes_the_default_of_its_transport(use_rest, use_ssl, port):
    key = encoded([2, Configuration.config_to_key_type(False, use_rest, use_ssl, True), "db.example.com", None,
                   "admin", SECRET])

    settings = settings_from_key(key)

    assert (settings.port, settings.use_rest, settings.use_ssl) == (port, use_rest, use_ssl)
    assert ConnectionSettings("db.example.com", use_rest=use_rest, use_ssl=use_ssl).port == port  # same rule


def test_a_port_given_in_the_host_wins_over_the_default():
    settings = settings_from_key(sdk_key(port=8443, use_rest=True))

    assert (settings.hostname, settings.port) == ("db.example.com", 8443)


def test_the_verify_hostname_flag_is_read_from_version_2_keys():
    assert settings_from_key(sdk_key(verify_hostname=False)).verify_hostname is False
    assert settings_from_key(sdk_key(verify_hostname=True)).verify_hostname is True


@pytest.mark.parametrize("credentials, expected", [
    (["0123abcd"], ("", "", "adbp_0123abcd")),
    (["reader", SECRET], ("reader", SECRET, "")),
])
def test_version_1_keys_have_no_ca_and_always_verify_the_host_name(credentials, expected):
    flags = Configuration.config_to_key_type(False, True, False, False)  # REST, no TLS, verify flag off
    settings = settings_from_key(encoded([1, flags, "db.example.com:8080", *credentials]))

    assert (settings.username, settings.password, settings.token) == expected
    assert (settings.hostname, settings.port, settings.use_rest, settings.use_ssl) == ("db.example.com", 8080, True,
                                                                                         False)
    assert settings.verify_hostname is True and settings.ca_cert == ""


def test_a_cloud_host_compressed_in_the_key_is_expanded():
    settings = settings_from_key(sdk_key(host="team.farm0012.cloud.aperturedata.io", use_rest=True, port=443))

    assert settings.hostname == "team.farm0012.cloud.aperturedata.io" and settings.port == 443


def test_surrounding_white_space_of_a_pasted_key_is_ignored():
    assert settings_from_key(f"  {sdk_key()}\n").hostname == "db.example.com"


def malformed_keys() -> dict[str, str]:
    tcp_tls = Configuration.config_to_key_type(False, False, True, True)
    return {
        "not base64": "%%%not a key%%%",
        "base64 of something else than JSON": base64.b64encode(b"hello there").decode(),
        "JSON that is not a list": encoded({"host": "db.example.com", "password": SECRET}),
        "an empty list": encoded([]),
        "an unknown version": encoded([3, tcp_tls, "db.example.com", None, "admin", SECRET]),
        "too many fields": encoded([2, tcp_tls, "db.example.com", None, "admin", SECRET, "extra"]),
        "flags that are not a number": encoded([2, "tls", "db.example.com", None, "admin", SECRET]),
        "a host that is not text": encoded([2, tcp_tls, 42, None, "admin", SECRET]),
        "a password that is not text": encoded([2, tcp_tls, "db.example.com", None, "admin", 1234]),
        "an empty host": encoded([2, tcp_tls, "", None, "admin", SECRET]),
        "a port out of range": encoded([2, tcp_tls, "db.example.com:70000", None, "admin", SECRET]),
        "a password without a user": encoded([2, tcp_tls, "db.example.com", None, "", SECRET]),
        "a CA that is not PEM": encoded([2, tcp_tls, "db.example.com", "not a certificate", "admin", SECRET]),
        "a CA that is not ASCII": encoded([2, tcp_tls, "db.example.com",
                                           "-----BEGIN CERTIFICATE-----\nZÄ\n-----END CERTIFICATE-----", "admin", SECRET]),
        "a compressed host that does not expand": encoded([2, tcp_tls | 4, "team", None, "admin", SECRET]),
        "empty": "",
    }


@pytest.mark.parametrize("case", list(malformed_keys()))
def test_a_key_that_cannot_be_used_is_an_error_naming_connection_key_without_quoting_it(case):
    key = malformed_keys()[case]

    with pytest.raises(ApertureDBError) as raised:
        settings_from_key(key)

    assert raised.value.field == "connection_key"
    message = str(raised.value)
    assert message.startswith("The connection key") and SECRET not in message and (not key or key not in message)


def test_the_transport_is_part_of_the_connector_pool_fingerprint():
    tcp = ConnectionSettings("db.example.com", 443, "admin", SECRET)

    assert tcp.fingerprint() != ConnectionSettings("db.example.com", 443, "admin", SECRET, use_rest=True).fingerprint()
    assert SECRET not in tcp.fingerprint() and SECRET not in repr(tcp)

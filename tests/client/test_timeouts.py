"""No call to ApertureDB waits forever: a server that accepts and never answers, or hangs after some queries, is a
clear failure naming ``hostname`` within the timeout the environment sets, over TCP and REST alike, and the
connection works again once the server answers."""

from __future__ import annotations

import time

import pytest
from ls_storage.client import connection
from ls_storage.client.connection import ApertureDBError, open_connector, run_query

CONNECT_SECONDS, QUERY_SECONDS = 1.0, 1.5
SLACK = 1.5  # retry sleeps, the TLS handshake and a loaded CI machine; far below a second wait of the timeout


@pytest.fixture(autouse=True)
def short_timeouts(monkeypatch):
    monkeypatch.setenv(connection.CONNECT_TIMEOUT_VARIABLE, str(CONNECT_SECONDS))
    monkeypatch.setenv(connection.QUERY_TIMEOUT_VARIABLE, str(QUERY_SECONDS))


def timed(call):
    start = time.monotonic()
    try:
        call()
    except ApertureDBError as error:
        return error, time.monotonic() - start
    raise AssertionError("the call did not fail")


def test_a_server_that_accepts_and_never_answers_fails_the_connection_within_the_connect_timeout(address, connection_settings):
    address.server.stall_after(0)
    error, seconds = timed(lambda: open_connector(connection_settings))
    assert error.field == "hostname"
    assert f"did not answer within {CONNECT_SECONDS:g} s" in str(error) and "APERTUREDB_CONNECT_TIMEOUT" in str(error)
    assert CONNECT_SECONDS * 0.9 <= seconds <= CONNECT_SECONDS + SLACK, seconds


def test_a_server_that_hangs_mid_session_fails_the_query_once_and_answers_again_after(address, connection_settings):
    connector = open_connector(connection_settings)
    run_query(connector, [{"FindImage": {"results": {"count": True}}}])
    address.server.stall_after(0)
    error, seconds = timed(lambda: run_query(connector, [{"FindImage": {"results": {"count": True}}}]))
    assert error.field == "hostname" and "APERTUREDB_QUERY_TIMEOUT" in str(error), error
    assert QUERY_SECONDS * 0.9 <= seconds <= QUERY_SECONDS + SLACK, seconds  # not once per SDK retry

    address.server.resume()
    answer, _ = run_query(connector, [{"FindImage": {"results": {"count": True}}}])
    assert answer[0]["FindImage"]["count"] == 0
    connector.close()


def test_a_server_that_stalls_after_some_queries_fails_the_first_unanswered_one(address, connection_settings):
    connector = open_connector(connection_settings)
    address.server.stall_after(3)
    for _ in range(3):
        run_query(connector, [{"GetStatus": {}}])
    error, seconds = timed(lambda: run_query(connector, [{"GetStatus": {}}]))
    assert "did not answer" in str(error) and seconds <= QUERY_SECONDS + SLACK
    address.server.resume()
    connector.close()


def test_slow_answers_within_the_timeout_are_waited_for(address, connection_settings):
    connector = open_connector(connection_settings)
    address.server.delay_answers(QUERY_SECONDS / 2)
    answer, _ = run_query(connector, [{"GetStatus": {}}])
    assert answer[0]["GetStatus"]["status"] == 0
    connector.close()


@pytest.mark.parametrize("text", ["0", "-3", "soon", "inf", "nan"])
def test_a_timeout_that_is_not_a_positive_number_of_seconds_is_refused_naming_the_variable(monkeypatch, text):
    monkeypatch.setenv(connection.QUERY_TIMEOUT_VARIABLE, text)
    with pytest.raises(ValueError, match="APERTUREDB_QUERY_TIMEOUT must be a positive number"):
        connection.timeouts()


def test_defaults_without_the_environment(monkeypatch):
    monkeypatch.delenv(connection.CONNECT_TIMEOUT_VARIABLE, raising=False)
    monkeypatch.delenv(connection.QUERY_TIMEOUT_VARIABLE, raising=False)
    assert connection.timeouts() == connection.Timeouts(connect=10.0, query=60.0)

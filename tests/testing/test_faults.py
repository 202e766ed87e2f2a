"""Injected faults, and how the real SDK rides them out."""

from __future__ import annotations

import time

import pytest

from ls_storage.testing import wire
from ls_storage.testing.fixtures import running_server


def _add(connector, cls, n):
    return connector.query([{"AddEntity": {"class": cls, "properties": {"n": n}}}])[0]


def _numbers(connector, cls):
    answer, _ = connector.query([{"FindEntity": {"with_class": cls, "sort": "n", "results": {"list": ["n"]}}}])
    return [e["n"] for e in answer[0]["FindEntity"].get("entities", [])]


def test_stop_and_start_keep_data_and_port_and_the_sdk_reconnects(aperturedb_test_server, entity_class):
    server = aperturedb_test_server.server
    connector = aperturedb_test_server.connector()
    assert _add(connector, entity_class, 1) == [{"AddEntity": {"status": 0}}]
    port = server.port

    server.stop()
    assert not server.running
    with pytest.raises(Exception, match="Could not query ApertureDB"):
        _numbers(aperturedb_test_server.connector(), entity_class)

    server.start()
    assert server.running and server.port == port
    assert _numbers(connector, entity_class) == [1]
    assert _add(connector, entity_class, 2) == [{"AddEntity": {"status": 0}}]
    assert _numbers(aperturedb_test_server.connector(), entity_class) == [1, 2]


def test_restart_keeps_data_and_sessions(aperturedb_test_server, entity_class):
    connector = aperturedb_test_server.connector()
    _add(connector, entity_class, 1)
    session = connector.shared_data.session.session_token
    aperturedb_test_server.server.restart()
    assert _numbers(connector, entity_class) == [1]
    assert connector.shared_data.session.session_token == session


def test_drop_connections_then_the_next_query_succeeds(aperturedb_test_server, entity_class):
    connector = aperturedb_test_server.connector()
    _add(connector, entity_class, 1)
    aperturedb_test_server.server.drop_connections()
    assert _add(connector, entity_class, 2) == [{"AddEntity": {"status": 0}}]
    assert _numbers(connector, entity_class) == [1, 2]


def test_drop_connections_closes_every_client(aperturedb_test_server, entity_class):
    connectors = [aperturedb_test_server.connector() for _ in range(3)]
    for n, connector in enumerate(connectors):
        _add(connector, entity_class, n)
    aperturedb_test_server.server.drop_connections()
    for connector in connectors:
        assert _numbers(connector, entity_class) == [0, 1, 2]


def test_delay_answers_delays_every_answer(aperturedb_test_server):
    connector = aperturedb_test_server.connector()
    connector.query([{"GetStatus": {}}])
    aperturedb_test_server.server.delay_answers(0.3)
    started = time.monotonic()
    answer, _ = connector.query([{"GetStatus": {}}])
    assert time.monotonic() - started >= 0.3
    assert answer[0]["GetStatus"]["status"] == 0
    aperturedb_test_server.server.delay_answers(0)
    started = time.monotonic()
    connector.query([{"GetStatus": {}}])
    assert time.monotonic() - started < 0.3


def test_fail_next_queries_fails_exactly_that_many_and_changes_nothing(aperturedb_test_server, entity_class):
    connector = aperturedb_test_server.connector()
    connector.query([{"GetStatus": {}}])
    aperturedb_test_server.server.fail_next_queries(2)
    for n in (1, 2):
        answer = _add(connector, entity_class, n)
        assert isinstance(answer, dict) and answer["status"] == -1 and "Injected failure" in answer["info"]
    assert _add(connector, entity_class, 3) == [{"AddEntity": {"status": 0}}]
    assert _numbers(connector, entity_class) == [3]


def test_fail_next_queries_spares_logins(aperturedb_test_server, entity_class):
    aperturedb_test_server.server.fail_next_queries(1)
    connector = aperturedb_test_server.connector()
    answer = _add(connector, entity_class, 1)
    assert isinstance(answer, dict) and answer["status"] == -1
    assert connector.shared_data.session is not None
    assert _add(connector, entity_class, 2) == [{"AddEntity": {"status": 0}}]


def test_refuse_logins_refuses_a_new_connector_until_lifted(aperturedb_test_server, entity_class):
    server = aperturedb_test_server.server
    logged_in = aperturedb_test_server.connector()
    _add(logged_in, entity_class, 1)

    server.refuse_logins()
    with pytest.raises(Exception, match="Authentication refused"):
        aperturedb_test_server.connector().query([{"GetStatus": {}}])
    # an open session keeps working
    assert _numbers(logged_in, entity_class) == [1]

    server.refuse_logins(False)
    assert _numbers(aperturedb_test_server.connector(), entity_class) == [1]


def test_refused_login_while_refreshing_an_expired_session_fails_the_query(entity_class):
    with running_server(refresh_ttl=-1) as address:
        connector = address.connector()
        _add(connector, entity_class, 1)
        address.server.expire_sessions()
        address.server.refuse_logins()
        with pytest.raises(Exception, match="Authentication refused"):
            _numbers(connector, entity_class)
        address.server.refuse_logins(False)
        assert _numbers(connector, entity_class) == [1]


def test_a_stray_request_on_the_tcp_port_costs_no_announced_allocation_and_is_dropped():
    """An HTTP request on the binary port reads as a length prefix of about 1.4 GB ("POST"): the server must
    not allocate that, and must drop the connection (not end its thread with a traceback) and serve on."""
    import socket
    import threading
    import tracemalloc

    failures = []
    previous_hook = threading.excepthook
    threading.excepthook = lambda args: failures.append(args.exc_value)
    tracemalloc.start()
    try:
        with running_server(tls=False) as address:
            with socket.create_connection((address.host, address.port)) as stray:
                stray.sendall(b"POST /api/ HTTP/1.1\r\nHost: x\r\n\r\n")
                time.sleep(0.3)
            with socket.create_connection((address.host, address.port)) as garbage:
                wire.send_frame(garbage, wire.HELLO.pack(wire.PROTOCOL_VERSION, wire.PROTOCOL_TCP))
                assert wire.HELLO.unpack(wire.recv_frame(garbage)) == (wire.PROTOCOL_VERSION, wire.PROTOCOL_TCP)
                wire.send_frame(garbage, b"\xff\xff\xff\xff")
                garbage.settimeout(5)
                assert garbage.recv(1) == b""  # the server closed it
            _, peak = tracemalloc.get_traced_memory()
            assert _add(address.connector(), "AfterStrays", 1) == [{"AddEntity": {"status": 0}}]
    finally:
        tracemalloc.stop()
        threading.excepthook = previous_hook
    assert peak < 200 * 2**20, f"{peak / 2**20:.0f} MiB allocated"
    assert failures == []

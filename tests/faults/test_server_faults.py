"""The test server's faults the matrix uses: crash or act on a chosen query, and serve another CA's certificate."""

from __future__ import annotations

from dataclasses import replace

import pytest
from ls_storage.testing.fixtures import running_server

COUNT_PROBES = [{"FindEntity": {"with_class": "Probe", "results": {"count": True}}}]


def probes(connector) -> int:
    answer, _ = connector.query(COUNT_PROBES)
    return answer[0]["FindEntity"]["count"]


def is_probe_add(query) -> bool:
    return any("AddEntity" in command for command in query)


@pytest.fixture
def address():
    with running_server() as running:
        yield running


def test_stop_on_crashes_on_the_chosen_query_which_is_neither_run_nor_answered(address):
    connector = address.connector(retry_max_attempts=1)
    address.server.stop_on(is_probe_add)
    assert probes(connector) == 0  # other queries are answered

    with pytest.raises(Exception):
        connector.query([{"AddEntity": {"class": "Probe"}}])

    assert not address.server.running
    address.server.start()
    assert probes(address.connector()) == 0  # not run; and the data kept
    address.connector().query([{"AddEntity": {"class": "Probe"}}])  # once: the fault is spent
    assert probes(address.connector()) == 1


def test_when_query_runs_its_action_once_before_answering(address):
    calls = []
    address.server.when_query(is_probe_add, lambda: calls.append(address.server.queries_answered))
    connector = address.connector()
    for _ in range(2):
        connector.query([{"AddEntity": {"class": "Probe"}}])
    assert len(calls) == 1 and probes(connector) == 2


def test_another_certificate_fails_the_old_ca_and_passes_the_new(address, tmp_path):
    old_ca = address.ca_cert
    address.server.stop()
    address.server.use_certificates(tmp_path / "other")
    address.server.start()

    with pytest.raises(Exception, match="(?i)certificate"):
        probes(address.connector(retry_max_attempts=1))
    assert address.server.ca_cert != old_ca
    assert probes(replace(address, ca_cert=address.server.ca_cert).connector()) == 0

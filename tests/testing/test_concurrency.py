"""Many clients at once: threads with their own Connector, and processes with their own SDK."""

from __future__ import annotations

import multiprocessing
import os
import threading
from concurrent.futures import ThreadPoolExecutor

THREADS = 16
WRITES = 20


def _add_and_find(connector, cls: str, worker: int, writes: int) -> list[int]:
    """Adds ``writes`` entities one query at a time, each checked, and returns what the worker finds of its own."""
    for n in range(writes):
        answer, _ = connector.query([{"AddEntity": {"class": cls, "properties": {"worker": worker, "n": n}}}])
        assert answer == [{"AddEntity": {"status": 0}}], answer
        found, _ = connector.query([{"FindEntity": {"with_class": cls, "constraints": {"worker": ["==", worker],
                                                                                       "n": ["==", n]},
                                                    "results": {"count": True}}}])
        assert found[0]["FindEntity"]["count"] == 1, found
    answer, _ = connector.query([{"FindEntity": {"with_class": cls, "constraints": {"worker": ["==", worker]},
                                                 "sort": "n", "results": {"list": ["n"]}}}])
    return [e["n"] for e in answer[0]["FindEntity"]["entities"]]


def test_threads_with_their_own_connectors_lose_no_writes(aperturedb, entity_class):
    start = threading.Barrier(THREADS)

    def work(worker: int) -> list[int]:
        connector = aperturedb.connector()
        start.wait()
        try:
            return _add_and_find(connector, entity_class, worker, WRITES)
        finally:
            connector.close()

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(work, range(THREADS)))
    assert results == [list(range(WRITES))] * THREADS

    connector = aperturedb.connector()
    answer, _ = connector.query([{"FindEntity": {"with_class": entity_class, "uniqueids": True,
                                                 "results": {"count": True}}}])
    found = answer[0]["FindEntity"]
    assert found["count"] == THREADS * WRITES
    assert len({e["_uniqueid"] for e in found["entities"]}) == THREADS * WRITES


def test_concurrent_if_not_found_adds_exactly_once(aperturedb, entity_class):
    start = threading.Barrier(THREADS)

    def work(_: int) -> int:
        connector = aperturedb.connector()
        connector.query([{"GetStatus": {}}])
        start.wait()
        answer, _ = connector.query([{"AddEntity": {"class": entity_class, "properties": {"key": "only"},
                                                    "if_not_found": {"key": ["==", "only"]}}}])
        connector.close()
        return answer[0]["AddEntity"]["status"]

    with ThreadPoolExecutor(THREADS) as pool:
        statuses = sorted(pool.map(work, range(THREADS)))
    assert statuses == [0] + [2] * (THREADS - 1)


def test_concurrent_blobs_are_not_mixed_up(aperturedb, run):
    def work(worker: int) -> None:
        connector = aperturedb.connector()
        payloads = [f"{worker}:{n}:".encode() * (1000 + worker * 97 + n) for n in range(5)]
        for n, payload in enumerate(payloads):
            answer, _ = connector.query([{"AddBlob": {"properties": {"run": run, "worker": worker, "n": n}}}],
                                        [payload])
            assert answer == [{"AddBlob": {"status": 0}}]
        answer, blobs = connector.query([{"FindBlob": {"constraints": {"run": ["==", run], "worker": ["==", worker]},
                                                       "blobs": True, "sort": "n"}}])
        assert blobs == payloads
        connector.close()

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(work, range(8)))


def test_threads_sharing_a_session_through_clone(aperturedb, entity_class):
    first = aperturedb.connector()
    first.query([{"GetStatus": {}}])

    def work(worker: int) -> list[int]:
        return _add_and_find(first.clone(), entity_class, worker, 5)

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(work, range(8))) == [list(range(5))] * 8
    assert first.clone().shared_data.session is first.shared_data.session


def _process_worker(options: dict, cls: str, worker: int, writes: int) -> tuple[int, list[int]]:
    """Runs in a spawned process: builds its own Connector from plain settings."""
    from aperturedb.Connector import Connector

    connector = Connector(**options)
    return os.getpid(), _add_and_find(connector, cls, worker, writes)


def test_processes_with_their_own_connectors_share_one_server(aperturedb, entity_class):
    options = dict(host=aperturedb.host, port=aperturedb.port, user=aperturedb.username,
                   password=aperturedb.password, token=aperturedb.token, use_ssl=aperturedb.use_ssl,
                   ca_cert=aperturedb.ca_cert, verify_hostname=aperturedb.verify_hostname,
                   retry_interval_seconds=0)
    processes = 3
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        results = pool.starmap(_process_worker, [(options, entity_class, worker, 10) for worker in range(processes)])
    assert all(pid != os.getpid() for pid, _ in results)
    assert [numbers for _, numbers in results] == [list(range(10))] * processes
    answer, _ = aperturedb.connector().query([{"FindEntity": {"with_class": entity_class,
                                                              "results": {"count": True}}}])
    assert answer[0]["FindEntity"]["count"] == processes * 10

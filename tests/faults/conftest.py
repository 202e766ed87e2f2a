"""The fault matrix's stack, shared by its cases, and the record of each case's outcome.

``LS_STORAGE_FAULT_REPORT=path.json`` writes what every case saw into that file when the run ends;
``tests/faults/render_reliability.py`` turns it into the fault table of ``docs/reliability.md``.
"""

from __future__ import annotations

import json
import os
import platform
import time
from datetime import datetime, timezone

import pytest
from fault_stack import CASES, CONNECT_TIMEOUT, QUERY_TIMEOUT, SCAN, Case, Secrets, Stack, plain, storage_secrets
from ls_storage.testing.fixtures import running_server
from services import label_studio, postgres_server, redis_server

REPORT_VARIABLE = "LS_STORAGE_FAULT_REPORT"
RUN: dict = {}  # seconds the stack took to start, and the whole matrix


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("fault-matrix")
    started = time.monotonic()
    with running_server() as address, postgres_server() as database, redis_server() as queue:
        environment = {
            **database.environment, "LS_STORAGE_REDIS_URL": queue.url,
            "LOG_LEVEL": "DEBUG",  # Label Studio's root logger and its RQ workers' (core/settings/base.py)
            "APERTUREDB_CONNECT_TIMEOUT": str(CONNECT_TIMEOUT), "APERTUREDB_QUERY_TIMEOUT": str(QUERY_TIMEOUT),
        }
        with label_studio(environment, data_dir) as client:
            client.responses = []
            built = Stack(database, queue, data_dir, environment, client, address, Secrets(address.server))
            built.start_workers(2)
            try:
                built.wait_idle()  # Label Studio's start-up jobs
                RUN["startup_seconds"] = round(time.monotonic() - started, 1)
                yield built
            finally:
                built.stop_workers()
                RUN["matrix_seconds"] = round(time.monotonic() - started, 1)


@pytest.fixture
def case(request, stack):
    """The test's row; the secrets its API answers and its storages' ``meta`` and ``traceback`` hold are counted."""
    doc = (request.node.function.__doc__ or request.node.name).strip().split("\n\n")[0]
    row = Case(request.node.name, " ".join(doc.split()))
    request.node.fault_case = row
    CASES.append(row)
    first_response, started = len(stack.client.responses), time.monotonic()
    yield row
    row.seconds = time.monotonic() - started
    found = [hit for method, path, status, raw in stack.client.responses[first_response:]
             for hit in stack.secrets.found_in(raw, f"{method} {path} ({status})")]
    found += storage_secrets(stack)
    row.secrets_found = len(found)
    row.details["secrets"] = found


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    row = getattr(item, "fault_case", None)
    if row is None or report.when == "teardown" and report.passed:
        return
    if report.failed or report.when == "call":
        row.result = "pass" if report.passed else "fail"
        if report.failed:
            row.error = plain(str(call.excinfo.value) if call.excinfo else report.longreprtext, 400)


def pytest_sessionfinish(session):
    path = os.environ.get(REPORT_VARIABLE)
    if not path or not CASES:
        return
    report = {
        "generated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}",
        **RUN,
        "timeouts": {"APERTUREDB_CONNECT_TIMEOUT": CONNECT_TIMEOUT, "APERTUREDB_QUERY_TIMEOUT": QUERY_TIMEOUT},
        "cases": [row.row() for row in CASES],
        "secrets_scan": SCAN,
    }
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as out:
        json.dump(report, out, indent=1)

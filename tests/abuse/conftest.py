"""The abuse suite's world (a project, a stored storage of each kind, an ApertureDB test server) and the record of
every hostile input's outcome.

``LS_STORAGE_ABUSE_SUMMARY=path.json`` writes the figures of the run into that file when it ends;
``tests/abuse/render_figures.py`` turns them into the "Hostile input" section of ``docs/reliability.md``.
"""

from __future__ import annotations

import json
import os
import time
from datetime import datetime, timezone

import pytest
from hostile_inputs import OUTCOMES, URLS, World, figures
from ls_storage.testing.fixtures import running_server

from storage_api import create_project, create_storage, storage_body

SUMMARY_VARIABLE = "LS_STORAGE_ABUSE_SUMMARY"
STARTED = time.monotonic()

LABEL_CONFIG = """
<View>
  <Image name="photo" value="$img"/>
  <RectangleLabels name="box" toName="photo"><Label value="cat"/></RectangleLabels>
  <Choices name="split" toName="photo"><Choice value="train"/><Choice value="test"/></Choices>
</View>
"""


@pytest.fixture(scope="module")
def adb():
    with running_server() as address:  # over TLS, with its own CA
        yield address


@pytest.fixture
def world(business_client, annotator_client, adb) -> World:
    project = create_project(business_client, "Abuse", LABEL_CONFIG)
    elsewhere = create_project(annotator_client, "Another organization's", LABEL_CONFIG)
    valid = {kind: storage_body(adb, project["id"], title=f"valid {kind}") for kind in URLS}
    source = create_storage(business_client, adb, project["id"], title="stored source")
    target = business_client.post(URLS["target"], data=storage_body(adb, project["id"], title="stored target"),
                                  content_type="application/json")
    assert target.status_code == 201, target.content
    return World(business_client, project["id"], elsewhere["id"], {"source": source["id"], "target": target.json()["id"]},
                 valid)


def pytest_sessionfinish(session, exitstatus):
    path = os.environ.get(SUMMARY_VARIABLE)
    if not path or not OUTCOMES:
        return
    import platform

    summary = figures()
    summary.update(finished=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                   seconds=round(time.monotonic() - STARTED, 1), python=platform.python_version(),
                   cores=os.cpu_count(), tests_failed=session.testsfailed)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as out:
        json.dump(summary, out, indent=1, default=str)

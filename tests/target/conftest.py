"""A project whose tasks come from an ApertureDB source storage, with an ApertureDB target storage."""

from __future__ import annotations

import pytest

from storage_api import create_project
from transports import aperturedb, aperturedb_test_server, transport  # noqa: F401 - over TCP and REST

LABEL_CONFIG = """
<View>
  <Image name="photo" value="$img"/>
  <RectangleLabels name="box" toName="photo"><Label value="cat"/><Label value="dog"/></RectangleLabels>
  <PolygonLabels name="outline" toName="photo"><Label value="cat"/><Label value="dog"/></PolygonLabels>
  <TextArea name="note" toName="photo" perRegion="true"/>
  <Choices name="scene" toName="photo"><Choice value="indoor"/><Choice value="outdoor"/></Choices>
  <Number name="count" toName="photo"/>
  <Rating name="quality" toName="photo"/>
</View>
"""


@pytest.fixture(autouse=True)
def export_in_the_request(monkeypatch):
    # In-process tests run inside one database transaction, which worker threads cannot see.
    monkeypatch.setenv("LS_STORAGE_EXPORT_THREADS", "0")


@pytest.fixture
def project(business_client):
    return create_project(business_client, "ApertureDB target", LABEL_CONFIG)

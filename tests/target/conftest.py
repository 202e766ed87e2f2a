"""A project whose tasks come from an ApertureDB source storage, with an ApertureDB target storage."""

from __future__ import annotations

import pytest

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
    response = business_client.post("/api/projects/", data={"title": "ApertureDB target", "label_config": LABEL_CONFIG},
                                    content_type="application/json")
    assert response.status_code == 201, response.content
    return response.json()

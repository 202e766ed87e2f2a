"""A Label Studio project and an ApertureDB holding images with boxes and polygons, for source-storage tests."""

from __future__ import annotations

import pytest

LABEL_CONFIG = """
<View>
  <Image name="photo" value="$img"/>
  <RectangleLabels name="box" toName="photo"><Label value="cat"/><Label value="dog"/></RectangleLabels>
  <PolygonLabels name="outline" toName="photo"><Label value="cat"/><Label value="dog"/></PolygonLabels>
</View>
"""


@pytest.fixture
def images(aperturedb_images):
    return aperturedb_images


@pytest.fixture
def project(business_client):
    response = business_client.post("/api/projects/", data={"title": "ApertureDB source", "label_config": LABEL_CONFIG},
                                    content_type="application/json")
    assert response.status_code == 201, response.content
    return response.json()

"""A Label Studio project and an ApertureDB holding images with boxes and polygons, for source-storage tests."""

from __future__ import annotations

import pytest

from storage_api import create_project
from transports import aperturedb, aperturedb_test_server, transport  # noqa: F401 - over TCP and REST

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
    return create_project(business_client, "ApertureDB source", LABEL_CONFIG)

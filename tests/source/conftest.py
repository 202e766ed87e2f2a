"""A Label Studio project and an ApertureDB holding images with boxes and polygons, for source-storage tests."""

from __future__ import annotations

import io
import uuid

import pytest
from PIL import Image

LABEL_CONFIG = """
<View>
  <Image name="photo" value="$img"/>
  <RectangleLabels name="box" toName="photo"><Label value="cat"/><Label value="dog"/></RectangleLabels>
  <PolygonLabels name="outline" toName="photo"><Label value="cat"/><Label value="dog"/></PolygonLabels>
</View>
"""


def png(width: int, height: int, shade: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (shade, 100, 200)).save(out, "PNG")
    return out.getvalue()


class ImageSet:
    """Images added to an ApertureDB for one test, all tagged with a property unique to the test."""

    def __init__(self, address):
        self.address = address
        self.connector = address.connector()
        self.tag = f"t{uuid.uuid4().hex[:12]}"
        self.blobs: dict[str, bytes] = {}

    @property
    def constraints(self) -> dict:
        return {"ls_test": ["==", self.tag]}

    def add(self, name: str, width: int, height: int, boxes=(), polygons=(), **properties) -> str:
        query = [{"AddImage": {"_ref": 1, "properties": {"ls_test": self.tag, "name": name, **properties}}}]
        for rectangle, label, box_properties in boxes:
            query.append({"AddBoundingBox": {"image_ref": 1, "rectangle": dict(zip(("x", "y", "width", "height"), rectangle)),
                                             "label": label, "properties": box_properties}})
        for vertices, label in polygons:
            query.append({"AddPolygon": {"image_ref": 1, "polygons": [vertices], "label": label}})
        query.append({"FindImage": {"_ref": 2, "constraints": {"ls_test": ["==", self.tag], "name": ["==", name]},
                                    "uniqueids": True}})
        blob = png(width, height, len(self.blobs) % 256)
        answer, _ = self.connector.query(query, [blob])
        assert isinstance(answer, list), answer
        uniqueid = answer[-1]["FindImage"]["entities"][0]["_uniqueid"]
        self.blobs[uniqueid] = blob
        return uniqueid

    def query(self, query: list):
        answer, blobs = self.connector.query(query)
        assert isinstance(answer, list), answer
        return answer


@pytest.fixture
def images(aperturedb):
    return ImageSet(aperturedb)


@pytest.fixture
def project(business_client):
    response = business_client.post("/api/projects/", data={"title": "ApertureDB source", "label_config": LABEL_CONFIG},
                                    content_type="application/json")
    assert response.status_code == 201, response.content
    return response.json()

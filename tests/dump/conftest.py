"""The dump's tests run over both of ApertureDB's transports (TCP and REST)."""

from __future__ import annotations

import pytest

from dumping import HEIGHT, KEYPOINT, WIDTH, annotate, box, polygon
from transports import aperturedb, transport  # noqa: F401 - over TCP and REST


@pytest.fixture
def annotated(aperturedb, aperturedb_images):
    """Two images: the first annotated in project 7 (a rotated box of two labels, a box, a polygon, a keypoint),
    the second in project 8; both hold a box ApertureDB had before; a third image has nothing but a cancelled
    annotation of project 7."""
    images = aperturedb_images
    first = images.add("a.png", WIDTH, HEIGHT, boxes=[((1, 2, 3, 4), "car", {})])
    second = images.add("b.png", WIDTH, HEIGHT, boxes=[((5, 6, 7, 8), "car", {})], split="val")
    third = images.add("c.png", WIDTH, HEIGHT)
    connector = images.connector
    annotate(connector, 101, first, [box("b1", 10, 20, 30, 40, labels=("cat", "dog"), rotation=33.5),
                                     box("b2", 1.5, 2.25, 10.125, 20.0625), KEYPOINT,
                                     polygon("p1", [[0, 0], [50, 0], [50, 50], [10, 40]])],
             label_version="v2")
    annotate(connector, 102, second, [box("b3", 50, 50, 10, 10, labels=("dog",))], project_id=8,
             user="other@example.com", label_version="v1")
    annotate(connector, 103, third, [box("b4", 1, 1, 1, 1)], LS_was_cancelled=True)
    return {"images": images, "first": first, "second": second, "third": third}

"""Helpers of the dump tests: annotations written as a target storage writes them, and the dump's command line."""

from __future__ import annotations

import io
import json
from datetime import datetime

from ls_storage.client.target import AnnotationWrite, write_annotations
from ls_storage.conversion.annotations import results_to_objects
from ls_storage.dump import SCHEMA_FILE, main

WIDTH, HEIGHT = 200, 100
SCHEMA = json.load(open(SCHEMA_FILE))
CREATED, UPDATED = "2026-01-02T03:04:05.123000+00:00", "2026-01-03T04:05:06+00:00"
KEYPOINT = {"id": "k1", "from_name": "point", "to_name": "photo", "type": "keypointlabels",
            "value": {"x": 5, "y": 5, "width": 1, "keypointlabels": ["nose"]}}


def box(region_id, x, y, w, h, labels=("cat",), rotation=0.0):
    return {"id": region_id, "from_name": "box", "to_name": "photo", "type": "rectanglelabels",
            "value": {"x": x, "y": y, "width": w, "height": h, "rotation": rotation, "rectanglelabels": list(labels)}}


def polygon(region_id, points, labels=("dog",)):
    return {"id": region_id, "from_name": "outline", "to_name": "photo", "type": "polygonlabels",
            "value": {"points": points, "polygonlabels": list(labels), "closed": True}}


def annotate(connector, annotation_id, image, result, project_id=7, user="ann@example.com", label_version="",
             width=WIDTH, height=HEIGHT, **extra):
    properties = {"LS_project_id": project_id, "LS_task_id": annotation_id * 10, "LS_completed_by": user,
                  "LS_created_at": {"_date": CREATED}, "LS_updated_at": {"_date": UPDATED},
                  "LS_was_cancelled": False, "LS_ground_truth": False, **extra}
    write_annotations(connector, [AnnotationWrite(annotation_id, image, properties,
                                                  results_to_objects(result, width, height), label_version)])


def pixels(x, y, w, h):
    return x * WIDTH / 100, y * HEIGHT / 100, w * WIDTH / 100, h * HEIGHT / 100


def options(address, *more, token: str | None = None) -> list[str]:
    """The connection options of ``address`` (logging in with ``token`` when given), then ``more``."""
    login = ["--token", token] if token else ["--user", address.username, "--password", address.password]
    args = ["--host", address.host, "--port", str(address.port), *login, "--use-ssl" if address.use_ssl else "--no-ssl"]
    if address.ca_cert:
        args += ["--ca-cert", address.ca_cert]
    if address.use_rest:
        args.append("--use-rest")
    return args + list(more)


def run(address, *more) -> dict:
    out = io.StringIO()
    assert main(options(address, *more), stdout=out) == 0
    return json.loads(out.getvalue())


def same_time(a, b) -> bool:
    return datetime.fromisoformat(a) == datetime.fromisoformat(b)

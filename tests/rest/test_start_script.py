"""The README's first command: deploy/start.sh brings up Label Studio, the test server and a synced demo project.

The demo's images, boxes and polygons reach the test server through the SDK's CSV loaders, not ``--seed``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

from services import ROOT, Client, free_port


def test_start_script_serves_a_synced_demo_project(tmp_path):
    label_studio_port, aperturedb_port = free_port(), free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("APERTUREDB_")}
    environment.update(LABEL_STUDIO_PORT=str(label_studio_port), APERTUREDB_PORT=str(aperturedb_port),
                       LS_STORAGE_DEMO_DIR=str(tmp_path), LABEL_STUDIO_BASE_DATA_DIR=str(tmp_path / "label-studio"))
    script = subprocess.Popen([str(ROOT / "deploy" / "start.sh")], env=environment, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, start_new_session=True)
    output = []
    try:
        deadline = time.monotonic() + 400
        while time.monotonic() < deadline:
            line = script.stdout.readline()
            if not line:
                break
            output.append(line)
            if line.startswith("Label Studio with ApertureDB storage:"):
                break
        assert output and output[-1].startswith("Label Studio with ApertureDB storage:"), "".join(output)
        assert "(login demo@example.com / demo12345)" in output[-1]

        client = Client(f"http://127.0.0.1:{label_studio_port}", "lsstoragedemotoken0123456789")
        (project,) = [p for p in client.call("GET", "/api/projects/")["results"] if p["title"] == "ApertureDB demo"]
        (source,) = client.call("GET", f"/api/storages/aperturedb/?project={project['id']}")
        (target,) = client.call("GET", f"/api/storages/export/aperturedb?project={project['id']}")
        # the images of the dataset demo/batch-1, with every property
        assert project["task_number"] == 12 and source["status"] == "completed"
        assert project["total_predictions_number"] == 12 and target["type"] == "aperturedb"
        assert source["connected_to"][0]["class"] == "Dataset" and source["properties"] == ["*"]
        assert target["image_properties"] == {"split": "split"}
        tasks = client.call("GET", f"/api/tasks/?project={project['id']}&page_size=100")["tasks"]
        batch_1 = json.loads((tmp_path / "images" / "coco.json").read_text())["datasets"][0]["image_ids"]
        assert sorted(task["data"]["id"] for task in tasks) == sorted(batch_1)
        assert all(isinstance(task["data"]["temperature"], float) and isinstance(task["data"]["date_captured"], str)
                   for task in tasks)
        assert_loaded_by_the_sdk_loaders(tmp_path, aperturedb_port, "".join(output))
    finally:
        os.killpg(script.pid, signal.SIGTERM)
        script.wait(timeout=60)


def assert_loaded_by_the_sdk_loaders(state, aperturedb_port: int, output: str) -> None:
    from aperturedb.Connector import Connector
    from aperturedb.Utils import Utils

    annotations = json.loads((state / "images" / "coco.json").read_text())["annotations"]
    boxes, polygons = len(annotations), sum("segmentation" in a for a in annotations)
    assert (f"Loaded with the SDK's loaders: 24 images (24 added, 0 already there), {boxes} boxes ({boxes} added, "
            f"0 already there), {polygons} polygons ({polygons} added, 0 already there), 2 datasets (2 added, "
            "0 already there), 24 dataset_images (24 added, 0 already there)") in output, output
    utils = Utils(Connector(host="localhost", port=aperturedb_port, user="admin", password="admin",
                            ca_cert=str(state / "certs" / "ca.pem")))
    assert (utils.count_images(), utils.count_bboxes(), utils.count_entities("_Polygon")) == (24, boxes, polygons)
    assert (utils.count_entities("Dataset"), utils.count_connections("DatasetImage")) == (2, 24)
    # typed metadata: a date, a number, text; each image in one of the two datasets
    answer, _ = utils.client.query([
        {"FindEntity": {"_ref": 1, "with_class": "Dataset", "constraints": ["$name", "==", "demo/batch-1"]}},
        {"FindImage": {"is_connected_to": {"ref": 1, "connection_class": "DatasetImage"}, "results": {
            "list": ["date_captured", "temperature", "camera", "weather", "split"], "count": True}}},
    ])
    images = answer[1]["FindImage"]
    assert images["count"] == 12
    assert all(set(image["date_captured"]) == {"_date"} and isinstance(image["temperature"], float)
               and image["camera"] in ("cam-north", "cam-south") for image in images["entities"])
    # ParallelLoader indexes the loaders' constraint columns before it loads
    assert {("_Image", "coco_image"), ("_BoundingBox", "coco_annotation"), ("_Polygon", "coco_annotation")} <= {
        (index["class"], index["property"]) for index in utils.get_indexes(target="entity")}

"""``python -m ls_storage.testing.server``: a test server as a process, seeded, stopped by a signal."""

from __future__ import annotations

import ctypes
import io
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from aperturedb.Connector import Connector
from aperturedb.ConnectorRest import ConnectorRest
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
STARTUP_SECONDS = 30


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def cli_server(*args: str):
    """The server process, once it logs that it listens; its log lines arrive on ``process.log``."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    process = subprocess.Popen([sys.executable, "-m", "ls_storage.testing.server", *args], cwd=REPO, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    process.log = queue.Queue()
    threading.Thread(target=lambda: [process.log.put(line) for line in process.stderr], daemon=True).start()
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        seen = []
        while not any("listening on" in line for line in seen):
            assert process.poll() is None, f"the server exited with {process.returncode}: {''.join(seen)}"
            assert time.monotonic() < deadline, f"the server did not start: {''.join(seen)}"
            try:
                seen.append(process.log.get(timeout=0.1))
            except queue.Empty:
                pass
        process.startup_log = "".join(seen)
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _stop(process, signum=signal.SIGTERM) -> int:
    process.send_signal(signum)
    return process.wait(timeout=10)


def _count(connector, command: str) -> int:
    answer, _ = connector.query([{command: {"results": {"count": True}}}])
    return answer[0][command]["count"]


def test_tls_server_with_synthetic_images_and_boxes_stops_cleanly_on_sigterm(tmp_path):
    port = _free_port()
    with cli_server("--host", "127.0.0.1", "--port", str(port), "--cert-dir", str(tmp_path),
                    "--synthetic", "20", "--boxes", "3") as process:
        assert str(tmp_path / "ca.pem") in process.startup_log
        connector = Connector(host="localhost", port=port, user="admin", password="admin", use_ssl=True,
                              ca_cert=str(tmp_path / "ca.pem"), retry_interval_seconds=0)
        assert _count(connector, "FindImage") == 20
        assert _count(connector, "FindBoundingBox") == 60

        answer, blobs = connector.query([{"FindImage": {"constraints": {"number": ["<", 3]}, "sort": "number",
                                                        "blobs": True, "results": {"list": [
                                                            "name", "split", "adb_image_width", "adb_image_height"]}}}])
        entities = answer[0]["FindImage"]["entities"]
        assert [e["name"] for e in entities] == [f"synthetic_{n:07d}.png" for n in range(3)]
        assert entities[0]["split"] == "val" and entities[1]["split"] == "train"
        for entity, blob in zip(entities, blobs):
            with Image.open(io.BytesIO(blob)) as image:
                assert image.size == (entity["adb_image_width"], entity["adb_image_height"])

        answer, _ = connector.query([
            {"FindImage": {"_ref": 1, "constraints": {"number": ["==", 7]}}},
            {"FindBoundingBox": {"image_ref": 1, "labels": True, "coordinates": True}},
        ])
        boxes = answer[1]["FindBoundingBox"]["entities"]
        assert len(boxes) == 3 and all(box["_label"] for box in boxes)
        connector.close()
        assert _stop(process) == 0


def test_cert_dir_is_reused_across_runs(tmp_path):
    for _ in range(2):
        port = _free_port()
        with cli_server("--port", str(port), "--cert-dir", str(tmp_path)) as process:
            ca = (tmp_path / "ca.pem").read_bytes()
            connector = Connector(host="localhost", port=port, user="admin", password="admin",
                                  ca_cert=str(tmp_path / "ca.pem"), retry_interval_seconds=0)
            assert connector.query([{"GetStatus": {}}])[0][0]["GetStatus"]["status"] == 0
            connector.close()
            assert _stop(process, signal.SIGINT) == 0
    assert (tmp_path / "ca.pem").read_bytes() == ca


def _write_coco_folder(folder: Path) -> None:
    folder.mkdir()
    Image.new("RGB", (64, 48), (255, 0, 0)).save(folder / "street.jpg")
    Image.new("RGB", (32, 40), (0, 0, 255)).save(folder / "park.png")
    (folder / "notes.txt").write_text("not an image")
    coco = {
        "images": [
            {"id": 1, "file_name": "street.jpg", "width": 64, "height": 48, "license": 3, "place": "city"},
            {"id": 2, "file_name": "park.png", "width": 32, "height": 40},
        ],
        "categories": [{"id": 7, "name": "car"}, {"id": 9, "name": "tree"}],
        "annotations": [
            {"id": 100, "image_id": 1, "category_id": 7, "bbox": [4, 5, 20, 10], "segmentation": []},
            {"id": 101, "image_id": 1, "category_id": 7, "bbox": [30, 20, 10.5, 8.25]},
            {"id": 102, "image_id": 2, "category_id": 9, "bbox": [2, 3, 10, 20],
             "segmentation": [[2, 3, 12, 3, 12, 23, 2, 23]]},
        ],
    }
    (folder / "annotations.json").write_text(json.dumps(coco))


def test_plain_tcp_server_seeded_from_a_coco_folder(tmp_path):
    folder = tmp_path / "seed"
    _write_coco_folder(folder)
    port, token = _free_port(), "adbp_" + "c" * 36
    with cli_server("--no-tls", "--port", str(port), "--seed", str(folder), "--token", token) as process:
        connector = Connector(host="127.0.0.1", port=port, user="admin", token=token, use_ssl=False,
                              retry_interval_seconds=0)
        answer, blobs = connector.query([{"FindImage": {"sort": "file_name", "blobs": True, "results": {
            "list": ["file_name", "id", "width", "height", "license", "place", "adb_image_width",
                     "adb_image_height"]}}}])
        assert answer[0]["FindImage"]["entities"] == [
            {"file_name": "park.png", "id": 2, "width": 32, "height": 40, "license": None, "place": None,
             "adb_image_width": 32, "adb_image_height": 40, "_blob_index": 0},
            {"file_name": "street.jpg", "id": 1, "width": 64, "height": 48, "license": 3, "place": "city",
             "adb_image_width": 64, "adb_image_height": 48, "_blob_index": 1},
        ]
        assert blobs == [(folder / "park.png").read_bytes(), (folder / "street.jpg").read_bytes()]

        answer, _ = connector.query([
            {"FindImage": {"_ref": 1, "constraints": {"file_name": ["==", "street.jpg"]}}},
            {"FindBoundingBox": {"image_ref": 1, "labels": True, "coordinates": True, "sort": "_label"}},
            {"FindImage": {"_ref": 2, "constraints": {"file_name": ["==", "park.png"]}}},
            {"FindBoundingBox": {"image_ref": 2, "labels": True, "coordinates": True}},
            {"FindPolygon": {"image_ref": 2, "labels": True, "vertices": True, "bounds": True}},
            {"FindPolygon": {"image_ref": 1, "results": {"count": True}}},
        ])
        street_boxes = answer[1]["FindBoundingBox"]["entities"]
        assert sorted((b["_coordinates"]["x"], b["_label"]) for b in street_boxes) == [(4, "car"), (30, "car")]
        assert {"x": 30, "y": 20, "width": 10.5, "height": 8.25} in [b["_coordinates"] for b in street_boxes]
        assert answer[3]["FindBoundingBox"]["entities"] == [
            {"_label": "tree", "_coordinates": {"x": 2, "y": 3, "width": 10, "height": 20}}]
        assert answer[4]["FindPolygon"]["entities"] == [{
            "_label": "tree", "_vertices": [[[2, 3], [12, 3], [12, 23], [2, 23]]],
            "_bounds": {"x": 2, "y": 3, "width": 10, "height": 20},
        }]
        assert answer[5]["FindPolygon"]["count"] == 0
        connector.close()
        assert _stop(process) == 0


@pytest.mark.parametrize("tls", [True, False], ids=["https", "http"])
def test_rest_port_serves_the_same_store_over_rest(tmp_path, tls):
    port, rest_port = _free_port(), _free_port()
    tls_args = ["--cert-dir", str(tmp_path)] if tls else ["--no-tls"]
    with cli_server("--port", str(port), "--rest-port", str(rest_port), *tls_args, "--synthetic", "4") as process:
        scheme, host = ("https", "localhost") if tls else ("http", "127.0.0.1")
        assert f"REST on {scheme}://127.0.0.1:{rest_port}/api/" in process.startup_log
        options = dict(host=host, user="admin", password="admin", use_ssl=tls,
                       ca_cert=str(tmp_path / "ca.pem") if tls else None)
        over_rest = ConnectorRest(port=rest_port, **options)
        assert _count(over_rest, "FindImage") == 4
        answer, _ = over_rest.query([{"AddEntity": {"class": "Seen"}}])
        assert answer == [{"AddEntity": {"status": 0}}]
        answer, _ = Connector(port=port, retry_interval_seconds=0, **options).query(
            [{"FindEntity": {"with_class": "Seen", "results": {"count": True}}}])
        assert answer[0]["FindEntity"]["count"] == 1
        over_rest.close()
        assert _stop(process) == 0


def test_tls_without_cert_dir_is_a_usage_error():
    result = subprocess.run([sys.executable, "-m", "ls_storage.testing.server", "--port", str(_free_port())],
                            cwd=REPO, capture_output=True, text=True, timeout=STARTUP_SECONDS,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.returncode == 2 and "--cert-dir is required" in result.stderr


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_stops_an_idle_server_with_status_0(signum):
    with cli_server("--no-tls", "--port", str(_free_port())) as process:
        assert _stop(process, signum) == 0


def test_a_signal_that_reaches_another_thread_than_the_main_one_still_stops_the_server():
    # The kernel hands a process's signal to any of its threads; Python runs the handler only in the main
    # thread, so a main thread blocked for good would never see it (the server outlived a CI run that way).
    libc = ctypes.CDLL(None, use_errno=True)
    with cli_server("--no-tls", "--port", str(_free_port())) as process:
        others = [int(tid) for tid in os.listdir(f"/proc/{process.pid}/task") if int(tid) != process.pid]
        assert others, "the server has no thread but its main one"
        assert libc.tgkill(process.pid, others[0], signal.SIGTERM) == 0, os.strerror(ctypes.get_errno())
        assert process.wait(timeout=10) == 0

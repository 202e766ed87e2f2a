"""Benchmark: syncing N images with 10 boxes each, against Label Studio's own ways in, in one run.

For each database and each N, with a fresh ``label-studio start`` (plugin settings). On SQLite there is
no Redis: syncs run inside the request, as in stock open-source Label Studio. PostgreSQL runs are
production-shaped: Redis and an RQ worker (``SimpleWorker``, so the job runs in the worker process
whose memory is measured), and the sync endpoint's own answer time is recorded apart from the time
until the sync is completed.

- full sync of an ApertureDB source storage (test server over TLS, ``--synthetic N --boxes 10``);
- re-sync with nothing changed, then with 1% new images;
- Label Studio's JSON import (``POST /api/projects/{id}/import``) of identical tasks and predictions,
  built with the plugin's own conversion code, in chunks of 10,000 tasks;
- Label Studio's LocalFiles storage sync of N image files (up to ``--localfiles-max``);
- peak RSS (VmHWM) of the process doing the sync (Label Studio, or the RQ worker) right after the full
  sync, and the CPU seconds the test server spent during the sync (its share of the sync time).

Run: ``.venv/bin/python benchmarks/bench_sync.py --sizes 10000 100000 --databases sqlite postgresql``
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "helpers"))
os.environ.setdefault("ADB_LOG_FILE", "")

from services import free_port, label_studio, postgres, redis, rq_worker, wait_for_idle_queues, wait_until  # noqa: E402

from ls_storage.client.connection import ConnectionSettings, open_connector  # noqa: E402
from ls_storage.client.source import ImageSelection, iter_image_pages  # noqa: E402
from ls_storage.conversion.predictions import image_predictions, image_targets  # noqa: E402
from ls_storage.testing.seeding import synthetic_image  # noqa: E402

LABEL_CONFIG = """<View><Image name="image" value="$image"/>
<RectangleLabels name="label" toName="image">
<Label value="cat"/><Label value="dog"/><Label value="car"/><Label value="person"/><Label value="bicycle"/>
</RectangleLabels></View>"""
IMPORT_CHUNK = 10_000
LONG = 3600  # seconds a sync or import request may take (they run inside the request without Redis)


@contextmanager
def aperturedb_server(images: int, boxes: int, cert_dir: str, log_path: Path):
    """The test server as its own process (so its CPU time is its own), logging to a file that cannot fill up
    the way an unread pipe would."""
    port = free_port()
    log = open(log_path, "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "ls_storage.testing.server", "--port", str(port), "--cert-dir", cert_dir,
         "--synthetic", str(images), "--boxes", str(boxes)], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: "listening" in log_path.read_text(), "ApertureDB test server", timeout=600, process=process)
        yield process, port
    finally:
        process.terminate()
        process.wait()
        log.close()


def write_results(results: list[dict], out: str) -> None:
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(results, indent=1))


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    found = re.search(r"VmHWM:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    return int(found.group(1)) / 1024


def label_studio_pid(port: int) -> int:
    # `label-studio start` serves from the process it starts; find it by its listening port.
    out = subprocess.run(["ss", "-ltnpH", f"sport = :{port}"], capture_output=True, text=True).stdout
    return int(re.search(r"pid=(\d+)", out).group(1))


def sync_storage(client, storage_id: int, kind: str = "aperturedb", redis_url: str | None = None) -> tuple[float, float, dict]:
    """Sync and wait until it is done (in the request, or in an RQ worker): the endpoint's answer time, the
    time until completed, and the final state. With ``redis_url``, the sync starts once the worker is idle:
    Label Studio's jobs after the previous step (its start-up data migrations, its task-state updates) are not
    timed as this sync's."""
    if redis_url:
        wait_for_idle_queues(redis_url)
    path = f"/api/storages/{kind}/{storage_id}"
    started = time.perf_counter()
    client.call("POST", f"{path}/sync", timeout=LONG)
    answered = time.perf_counter() - started
    while True:
        state = client.call("GET", path)
        if state["status"] in ("completed", "completed_with_errors", "failed"):
            return answered, time.perf_counter() - started, state
        time.sleep(0.05)


def recheck_everything(client, storage_id: int, redis_url: str | None) -> float:
    """A sync with "Re-check every image" on: what every re-sync cost before syncs read only what is new."""
    client.call("PATCH", f"/api/storages/aperturedb/{storage_id}", {"recheck_images": True})
    _, seconds, state = sync_storage(client, storage_id, redis_url=redis_url)
    assert state["status"] == "completed" and state["meta"]["read_everything"], state
    client.call("PATCH", f"/api/storages/aperturedb/{storage_id}", {"recheck_images": False})
    return seconds


def identical_tasks(settings: ConnectionSettings) -> list[dict]:
    """The tasks and predictions the sync makes, built with the plugin's own conversion code."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ls_storage.settings")
    import django

    django.setup()
    from core.label_config import parse_config

    targets = image_targets(parse_config(LABEL_CONFIG))
    connector = open_connector(settings)
    tasks = []
    for page in iter_image_pages(connector, ImageSelection()):
        for record in page:
            conversion = image_predictions(record.boxes, record.polygons, record.width, record.height, targets)
            tasks.append({"data": {"image": f"aperturedb://0/{record.uniqueid}"}, "predictions": conversion.predictions})
    return tasks


def add_new_images(settings: ConnectionSettings, count: int, start: int) -> None:
    connector = open_connector(settings)
    for first in range(0, count, 100):
        query, blobs = [], []
        for index in range(start + first, start + min(count, first + 100)):
            query.append({"AddImage": {"_ref": len(blobs) + 1, "properties": {"number": index}}})
            blobs.append(synthetic_image(index, 64, 48))
            ref = len(blobs)
            for box in range(10):
                query.append({"AddBoundingBox": {"image_ref": ref, "label": "cat",
                                                 "rectangle": {"x": box, "y": box, "width": 5, "height": 5}}})
        answer, _ = connector.query(query, blobs)
        assert isinstance(answer, list), answer


def write_files(folder: Path, count: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        (folder / f"{index:07d}.png").write_bytes(synthetic_image(index, 64, 48))


def run(database: str, images: int, localfiles_max: int, work: Path, cert_dir: str) -> dict:
    figures: dict = {"database": database, "images": images}
    with ExitStack() as stack:
        environment = {"LOCAL_FILES_SERVING_ENABLED": "true", "LOCAL_FILES_DOCUMENT_ROOT": str(work)}
        if database == "postgresql":
            environment.update(stack.enter_context(postgres()))
            environment["LS_STORAGE_REDIS_URL"] = stack.enter_context(redis())
        adb_process, adb_port = stack.enter_context(aperturedb_server(images, 10, cert_dir, work / f"adb-{database}-{images}.log"))
        data_dir = work / f"ls-{database}-{images}"
        data_dir.mkdir()
        client = stack.enter_context(label_studio(environment, data_dir))
        if database == "postgresql":
            syncing_pid = stack.enter_context(rq_worker(environment, data_dir, worker_class="rq.worker.SimpleWorker")).pid
        else:
            syncing_pid = label_studio_pid(int(client.url.rsplit(":", 1)[1]))
        settings = ConnectionSettings("localhost", adb_port, "admin", "admin", ca_cert=Path(cert_dir, "ca.pem").read_text())
        connection = {"hostname": "localhost", "port": adb_port, "username": "admin", "password": "admin",
                      "ca_cert": settings.ca_cert}

        project = client.call("POST", "/api/projects/", {"title": "sync", "label_config": LABEL_CONFIG})
        # A sync of no image first: the RQ worker is up and has loaded everything before the timing starts.
        nothing = client.call("POST", "/api/storages/aperturedb/", {"project": project["id"], **connection,
                                                                   "constraints": {"number": ["<", 0]}})
        redis_url = environment.get("LS_STORAGE_REDIS_URL")
        sync_storage(client, nothing["id"], redis_url=redis_url)
        storage = client.call("POST", "/api/storages/aperturedb/", {"project": project["id"], **connection})
        figures["rss_before_mb"] = peak_rss_mb(syncing_pid)
        adb_cpu = cpu_seconds(adb_process.pid)
        figures["sync_endpoint_s"], figures["sync_s"], state = sync_storage(client, storage["id"], redis_url=redis_url)
        figures["adb_cpu_s"] = cpu_seconds(adb_process.pid) - adb_cpu
        figures["rss_after_sync_mb"] = peak_rss_mb(syncing_pid)
        assert state["status"] == "completed" and state["last_sync_count"] == images, state
        _, figures["resync_unchanged_s"], state = sync_storage(client, storage["id"], redis_url=redis_url)
        assert state["last_sync_count"] == 0 and not state["meta"]["read_everything"], state
        add_new_images(settings, images // 100, images)
        _, figures["resync_1pct_new_s"], state = sync_storage(client, storage["id"], redis_url=redis_url)
        assert state["last_sync_count"] == images // 100 and not state["meta"]["read_everything"], state
        figures["recheck_s"] = recheck_everything(client, storage["id"], redis_url)

        tasks = identical_tasks(settings)[:images]
        imported = client.call("POST", "/api/projects/", {"title": "import", "label_config": LABEL_CONFIG})
        if redis_url:
            wait_for_idle_queues(redis_url)
        started = time.perf_counter()
        for first in range(0, len(tasks), IMPORT_CHUNK):
            client.call("POST", f"/api/projects/{imported['id']}/import", tasks[first:first + IMPORT_CHUNK], timeout=LONG)
        figures["json_import_s"] = time.perf_counter() - started
        del tasks

        if images <= localfiles_max:
            folder = work / f"files-{database}-{images}"
            write_files(folder, images)
            local = client.call("POST", "/api/projects/", {"title": "local", "label_config": LABEL_CONFIG})
            local_storage = client.call("POST", "/api/storages/localfiles/", {
                "project": local["id"], "path": str(folder), "use_blob_urls": True})
            _, figures["localfiles_sync_s"], state = sync_storage(client, local_storage["id"], "localfiles", redis_url)
            assert state["status"] == "completed", state
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--databases", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--localfiles-max", type=int, default=10_000,
                        help="LocalFiles syncs ~200 tasks/s; larger N would take too long to compare")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "out" / "sync.json"))
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-sync-") as temporary:
        work = Path(temporary)
        cert_dir = str(work / "certs")
        for database in args.databases:
            for images in args.sizes:
                figures = run(database, images, args.localfiles_max, work, cert_dir)
                results.append(figures)
                print(json.dumps(figures), flush=True)
    write_results(results, args.out)
    print_table(results)


def print_table(results: list[dict]) -> None:
    print("\n| database | N | full sync | sync endpoint answer | JSON import | sync / import | LocalFiles sync "
          "| re-sync unchanged (% of full) | re-sync +1% (% of full) | re-check every image (% of full) "
          "| test server CPU share | peak RSS after sync |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for f in results:
        local = f"{f['localfiles_sync_s']:.1f} s" if "localfiles_sync_s" in f else "—"
        share = lambda key: f"{f[key]:.2f} s ({100 * f[key] / f['sync_s']:.1f}%)"  # noqa: E731
        print(f"| {f['database']} | {f['images']} | {f['sync_s']:.1f} s | {f['sync_endpoint_s']:.2f} s "
              f"| {f['json_import_s']:.1f} s | {f['sync_s'] / f['json_import_s']:.2f} | {local} "
              f"| {share('resync_unchanged_s')} | {share('resync_1pct_new_s')} | {share('recheck_s')} "
              f"| {100 * f['adb_cpu_s'] / f['sync_s']:.0f}% | {f['rss_after_sync_mb']:.0f} MB |")


if __name__ == "__main__":
    main()

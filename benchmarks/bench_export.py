"""Benchmark: the ApertureDB target storage and image serving, against Label Studio's own equivalents, in one run.

For each database (SQLite by default) with a fresh ``label-studio start`` (plugin settings, no Redis: syncs run
inside the request, automatic exports in the plugin's default pool of 2 threads) and a fresh test server
(TLS, ``--synthetic N --boxes 0``):

1. target Sync vs JSON export: N images synced into tasks by an ApertureDB source storage, one 5-box
   annotation per task (made through the REST API before the target exists), then the time of the
   target storage's Sync (``POST /api/storages/export/aperturedb/{id}/sync``) against Label Studio's
   ``GET /api/projects/{id}/export?exportType=JSON`` of the same project; ApertureDB must then hold N
   ``LS_annotation`` entities. Label Studio's own sync on target creation is turned off
   (``SYNC_ON_TARGET_STORAGE_CREATION=false``), so that the timed Sync is the one that writes;
2. submit latency: p50 and p90 of ``POST /api/tasks/{id}/annotations/`` (5 boxes) on a project with a
   target storage and on one without (``--submits`` synced tasks each), interleaved submit by submit so that machine noise hits both, and how
   long after the last submit with a target the automatic exports were all in ApertureDB;
3. media throughput: images per second through Label Studio's resolver (the URL the task API gives the
   frontend) against LocalFiles serving of the same bytes, 4 client threads, alternating rounds of 50;
   every image fetched is compared with the bytes stored in ApertureDB;
4. the test server's CPU share during the target Sync (its CPU seconds over the Sync's wall time), and Label
   Studio's CPU seconds in the same time;
5. incremental target Sync (issue #22, item 5), on the same project after measurement 1: a Sync with nothing
   changed since the last, and a Sync after 1% of the annotations were changed and 0.1% deleted, each against
   the full Sync. A change here is one whose automatic export did not happen (as when Redis lost its queue):
   the annotation's ``result`` and ``updated_at`` are set in Label Studio's database directly, which sends no
   signal. A deletion goes through the REST API, the target (which deletes objects) removes it from ApertureDB
   automatically, and the id is then put in the target's ``pending_deletions``, as when that removal failed:
   the Sync removes it again (a delete that finds nothing costs ApertureDB the same query).

Each kind of target Sync is timed ``--syncs`` times (5 by default). A full one is asked with *full_export*, and
ApertureDB is emptied of what it wrote before each after the first, so that each full Sync adds every annotation
anew; each changed one follows its own 1% and 0.1%. The table quotes the medians (Sync time, share) and the
range of the share, which varies by several points from one Sync to the next on this machine. ``--submits 0``
and ``--media 0`` leave out measurements 2 and 3.

Run: ``.venv/bin/python benchmarks/bench_export.py --annotations 10000 --submits 200 --media 1000 --databases sqlite
postgresql``; the incremental Syncs alone: ``--annotations 10000 --submits 0 --media 0``
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlparse

import psycopg
import requests
from psycopg.types.json import Jsonb

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "benchmarks"), str(ROOT / "tests" / "helpers")]
from bench_sync import (  # noqa: E402
    LABEL_CONFIG, aperturedb_server, cpu_seconds, label_studio_pid, write_results,
)
from services import label_studio, postgres  # noqa: E402

from ls_storage.client.connection import ConnectionSettings, open_connector  # noqa: E402

LONG = 3600  # seconds a sync or export request may take (they run inside the request without Redis)
CLIENT_THREADS = 4
MEDIA_ROUND = 50
LABELS = ("cat", "dog", "car", "person", "bicycle")
TASK_PAGE = 1000
CHANGED, DELETED = 0.01, 0.001  # shares of the annotations changed and deleted before each changed Sync


def timed(function):
    started = time.perf_counter()
    result = function()
    return time.perf_counter() - started, result


class Sessions:
    """One persistent HTTP session per thread, so that timings hold server time rather than TCP setup."""

    def __init__(self, url: str, token: str):
        self.url, self.token = url, token
        self._local = threading.local()

    def session(self) -> requests.Session:
        if not hasattr(self._local, "session"):
            session = requests.Session()
            session.headers["Authorization"] = f"Token {self.token}"
            self._local.session = session
        return self._local.session

    def fetch(self, path: str) -> bytes:
        response = self.session().get(urljoin(self.url, path), timeout=LONG)
        assert response.status_code == 200, f"GET {path} -> {response.status_code}: {response.content[:500]!r}"
        return response.content

    def delete(self, path: str) -> None:
        response = self.session().delete(urljoin(self.url, path), timeout=LONG)
        assert response.status_code == 204, f"DELETE {path} -> {response.status_code}: {response.text[:500]}"

    def submit(self, task_id: int, seed: int) -> None:
        response = self.session().post(f"{self.url}/api/tasks/{task_id}/annotations/", json={"result": regions(seed)},
                                   timeout=LONG)
        assert response.status_code == 201, f"submit to task {task_id} -> {response.status_code}: {response.text[:500]}"


def regions(seed: int) -> list[dict]:
    """Five rectanglelabels regions with ids and positions of their own."""
    return [{"id": f"a{seed}r{n}", "from_name": "label", "to_name": "image", "type": "rectanglelabels",
             "original_width": 64, "original_height": 48, "image_rotation": 0,
             "value": {"x": 2.0 + 18 * n, "y": 5.0 + seed % 60, "width": 15.0, "height": 20.0, "rotation": 0,
                       "rectanglelabels": [LABELS[n]]}} for n in range(len(LABELS))]


def task_data(client, project_id: int, resolve: bool) -> dict[int, str]:
    """Each task's ``data.image`` in task order, as stored (``resolve=False``) or as the frontend gets it."""
    images: dict[int, str] = {}
    page, total = 1, None
    while total is None or len(images) < total:
        answer = client.call("GET", f"/api/tasks/?project={project_id}&page={page}&page_size={TASK_PAGE}"
                                    f"&resolve_uri={str(resolve).lower()}", timeout=LONG)
        total = answer["total"]
        images.update({task["id"]: task["data"]["image"] for task in answer["tasks"]})
        page += 1
    return dict(sorted(images.items()))


def synced_project(client, connection: dict, title: str, limit: int | None = None) -> int:
    """A project whose tasks an ApertureDB source storage synced (at most ``limit`` images)."""
    project = client.call("POST", "/api/projects/", {"title": title, "label_config": LABEL_CONFIG})
    storage = client.call("POST", "/api/storages/aperturedb/", {"project": project["id"], "limit": limit, **connection})
    client.call("POST", f"/api/storages/aperturedb/{storage['id']}/sync", timeout=LONG)
    return project["id"]


def count_exported(connector, project_id: int) -> int:
    answer, _ = connector.query([{"FindEntity": {"with_class": "LS_annotation", "results": {"count": True},
                                                 "constraints": {"LS_project_id": ["==", project_id]}}}])
    return answer[0]["FindEntity"]["count"]


def measure_export(client, sessions: Sessions, connector, connection: dict, adb_pid: int,
                   annotations: int, syncs_to_time: int, database: "Database") -> tuple[dict, dict]:
    """Measurements 1, 4 and 5; returns the figures and the project's tasks with their stored image URIs."""
    project_id = synced_project(client, connection, "export")
    tasks = task_data(client, project_id, resolve=False)
    assert len(tasks) == annotations, len(tasks)
    with ThreadPoolExecutor(CLIENT_THREADS) as pool:  # setup, not measured; no target yet, so no export
        list(pool.map(sessions.submit, list(tasks), range(len(tasks))))
    target = client.call("POST", "/api/storages/export/aperturedb",
                         {"project": project_id, "can_delete_objects": True, **connection})
    ls_pid = label_studio_pid(int(client.url.rsplit(":", 1)[1]))
    syncs = []
    for number in range(syncs_to_time):
        if number:
            clear_exported(connector, project_id)
        client.call("PATCH", f"/api/storages/export/aperturedb/{target['id']}", {"full_export": True})
        syncs.append(timed_target_sync(client, target["id"], adb_pid, ls_pid, annotations, everything=True))
        assert count_exported(connector, project_id) == annotations
    export_s, body = timed(lambda: sessions.fetch(f"/api/projects/{project_id}/export?exportType=JSON"))
    exported = json.loads(body)
    assert len(exported) == annotations and all(len(task["annotations"]) == 1 for task in exported)
    shares = [sync["adb_cpu_s"] / sync["target_sync_s"] for sync in syncs]
    figures = {"json_export_s": export_s, "json_export_mb": len(body) / 2**20, "syncs": syncs,
               "adb_cpu_share": statistics.median(shares), "adb_cpu_share_min": min(shares),
               "adb_cpu_share_max": max(shares)}
    figures.update({key: statistics.median(sync[key] for sync in syncs)
                    for key in ("target_sync_s", "adb_cpu_s", "label_studio_cpu_s")})
    figures.update(measure_incremental(client, sessions, connector, database, project_id, target["id"], adb_pid,
                                       ls_pid, annotations, syncs_to_time))
    return figures, tasks


def measure_incremental(client, sessions: Sessions, connector, database: "Database", project_id: int, target_id: int,
                        adb_pid: int, ls_pid: int, annotations: int, syncs_to_time: int) -> dict:
    """Measurement 5: target Syncs with nothing changed, then each after its own 1% changed and 0.1% deleted."""
    unchanged = [timed_target_sync(client, target_id, adb_pid, ls_pid, 0)["target_sync_s"]
                 for _ in range(syncs_to_time)]
    assert count_exported(connector, project_id) == annotations
    ids = database.annotation_ids(project_id)
    changed_count, deleted_count = max(1, round(CHANGED * annotations)), max(1, round(DELETED * annotations))
    changed = []
    for number in range(syncs_to_time):
        chosen = ids[number::syncs_to_time][:changed_count + deleted_count]  # a different share each time
        updated, deleted = chosen[:changed_count], chosen[changed_count:]
        database.change_annotations(updated, 2_000_000 + number)
        for annotation_id in deleted:
            sessions.delete(f"/api/annotations/{annotation_id}/")
        left = annotations - (number + 1) * deleted_count
        wait_until_exported(connector, project_id, left)  # the automatic removals are done before the Sync
        database.set_pending_deletions(target_id, deleted)
        changed.append(timed_target_sync(client, target_id, adb_pid, ls_pid, changed_count)["target_sync_s"])
        state = client.call("GET", f"/api/storages/export/aperturedb/{target_id}")
        assert not state["pending_deletions"] and count_exported(connector, project_id) == left, state
    return {"unchanged_syncs": unchanged, "changed_syncs": changed, "changed_annotations": changed_count,
            "deleted_annotations": deleted_count, "unchanged_sync_s": statistics.median(unchanged),
            "changed_sync_s": statistics.median(changed)}


def wait_until_exported(connector, project_id: int, count: int) -> None:
    started = time.perf_counter()
    while count_exported(connector, project_id) != count:
        assert time.perf_counter() - started < LONG, "automatic exports did not all arrive"
        time.sleep(0.05)


class Database:
    """Label Studio's database, for the changes of measurement 5 that must not send signals."""

    def __init__(self, environment: dict, data_dir: Path):
        self.postgres = environment.get("DJANGO_DB") == "default"
        self.environment, self.data_dir = environment, data_dir

    def _connect(self):
        if self.postgres:
            return psycopg.connect(host=self.environment["POSTGRE_HOST"], port=self.environment["POSTGRE_PORT"],
                                   user=self.environment["POSTGRE_USER"], dbname=self.environment["POSTGRE_NAME"],
                                   autocommit=True)
        return sqlite3.connect(self.data_dir / "label_studio.sqlite3", timeout=LONG)

    def _sql(self, query: str) -> str:
        return query if self.postgres else query.replace("%s", "?")

    def annotation_ids(self, project_id: int) -> list[int]:
        with self._connect() as connection:
            rows = connection.execute(self._sql("SELECT id FROM task_completion WHERE project_id = %s ORDER BY id"),
                                      (project_id,)).fetchall()
        return [row[0] for row in rows]

    def update(self, query: str, rows: list[tuple]) -> None:
        with self._connect() as connection:
            connection.cursor().executemany(self._sql(query), rows)

    def change_annotations(self, annotation_ids: list[int], seed: int) -> None:
        """New regions and ``updated_at``, as an update whose automatic export was lost."""
        now = datetime.now(timezone.utc)
        stamp = now if self.postgres else now.strftime("%Y-%m-%d %H:%M:%S.%f")  # as Django stores it in SQLite
        self.update("UPDATE task_completion SET result = %s, updated_at = %s WHERE id = %s",
                     [(self._json(regions(seed + n)), stamp, annotation_id)
                      for n, annotation_id in enumerate(annotation_ids)])

    def set_pending_deletions(self, target_id: int, annotation_ids: list[int]) -> None:
        self.update("UPDATE io_storages_aperturedb_aperturedbexportstorage SET pending_deletions = %s WHERE id = %s",
                     [(self._json(annotation_ids), target_id)])

    def _json(self, value):
        return Jsonb(value) if self.postgres else json.dumps(value)


def timed_target_sync(client, target_id: int, adb_pid: int, ls_pid: int, written: int, everything: bool = False) -> dict:
    """One target Sync that writes ``written`` annotations (all of them: ``everything``): its time and the CPU
    seconds of both servers meanwhile."""
    adb_cpu, ls_cpu = cpu_seconds(adb_pid), cpu_seconds(ls_pid)
    sync_s, _ = timed(lambda: client.call("POST", f"/api/storages/export/aperturedb/{target_id}/sync", timeout=LONG))
    adb_cpu_s, ls_cpu_s = cpu_seconds(adb_pid) - adb_cpu, cpu_seconds(ls_pid) - ls_cpu
    state = client.call("GET", f"/api/storages/export/aperturedb/{target_id}")
    assert state["status"] == "completed" and state["last_sync_count"] == written, state
    assert state["meta"]["wrote_everything"] is everything and state["meta"]["export_pending"] is False, state
    return {"target_sync_s": sync_s, "adb_cpu_s": adb_cpu_s, "label_studio_cpu_s": ls_cpu_s}


def clear_exported(connector, project_id: int) -> None:
    """Delete the project's annotations and their boxes from ApertureDB, so that the next Sync adds each anew."""
    answer, _ = connector.query([
        {"FindEntity": {"_ref": 1, "with_class": "LS_annotation", "constraints": {"LS_project_id": ["==", project_id]}}},
        {"FindBoundingBox": {"_ref": 2, "is_connected_to": {"ref": 1, "connection_class": "LS_annotation_region"}}},
        {"DeleteBoundingBox": {"ref": 2}},
        {"DeleteEntity": {"ref": 1}},
    ])
    assert all(command[name]["status"] == 0 for command in answer for name in command), answer
    assert count_exported(connector, project_id) == 0


def percentile(values: list[float], p: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


def measure_submits(client, sessions: Sessions, connector, connection: dict, submits: int) -> dict:
    """Measurement 2: projects of ``submits`` tasks each, only one with a target storage."""
    with_target = synced_project(client, connection, "submit with target", limit=submits)
    without_target = synced_project(client, connection, "submit without target", limit=submits)
    client.call("POST", "/api/storages/export/aperturedb", {"project": with_target, **connection})
    pairs = list(zip(task_data(client, with_target, resolve=False), task_data(client, without_target, resolve=False)))
    assert len(pairs) == submits, len(pairs)
    sessions.fetch(f"/api/projects/{with_target}/")  # opens the session's connection
    latencies: dict[str, list[float]] = {"with": [], "without": []}
    for index, (with_task, without_task) in enumerate(pairs):
        # Alternate which goes first, so neither always follows the other's background export.
        order = [("with", with_task), ("without", without_task)]
        for kind, task_id in order if index % 2 == 0 else reversed(order):
            seconds, _ = timed(lambda: sessions.submit(task_id, 1_000_000 + 2 * index + (kind == "with")))
            latencies[kind].append(seconds)
            if kind == "with":
                last_with_target = time.perf_counter()
    while count_exported(connector, with_target) < submits:
        assert time.perf_counter() - last_with_target < LONG, "automatic exports did not all arrive"
        time.sleep(0.05)
    figures = {"exports_done_after_last_submit_s": time.perf_counter() - last_with_target}
    for kind, values in latencies.items():
        figures[f"submit_{kind}_p50_ms"] = 1000 * percentile(values, 50)
        figures[f"submit_{kind}_p90_ms"] = 1000 * percentile(values, 90)
    return figures


def stored_images(connector, uniqueids: list[str]) -> dict[str, bytes]:
    answer, blobs = connector.query([{"FindImage": {"constraints": {"_uniqueid": ["in", uniqueids]}, "blobs": True,
                                                    "results": {"list": ["_uniqueid"]}}}])
    entities = answer[0]["FindImage"]["entities"]
    assert len(entities) == len(blobs) == len(uniqueids), (len(entities), len(blobs))
    return {entity["_uniqueid"]: blob for entity, blob in zip(entities, blobs)}


def media_urls(client, connector, tasks: dict[int, str], media: int, folder: Path) -> tuple[list, list, list]:
    """The URLs the frontend would load for the same images through the resolver and through LocalFiles (whose
    files go to ``folder``), and the bytes ApertureDB stores for them; ``media`` fetches cycle over the tasks."""
    chosen = list(tasks.items())[:media]
    uniqueids = [uri.rsplit("/", 1)[1] for _, uri in chosen]
    blobs = stored_images(connector, uniqueids)
    folder.mkdir()
    for number, uniqueid in enumerate(uniqueids):
        (folder / f"{number:07d}.png").write_bytes(blobs[uniqueid])
    local_project = client.call("POST", "/api/projects/", {"title": "local files", "label_config": LABEL_CONFIG})
    local_storage = client.call("POST", "/api/storages/localfiles/", {
        "project": local_project["id"], "path": str(folder), "use_blob_urls": True})
    client.call("POST", f"/api/storages/localfiles/{local_storage['id']}/sync", timeout=LONG)
    local_by_number = {int(Path(parse_qs(urlparse(url).query)["d"][0]).stem): url
                       for url in task_data(client, local_project["id"], resolve=True).values()}
    resolver = [client.call("GET", f"/api/tasks/{task_id}")["data"]["image"] for task_id, _ in chosen]
    assert "/resolve/?fileuri=" in resolver[0], resolver[0]
    assert base64.urlsafe_b64decode(resolver[0].split("fileuri=", 1)[1]).decode() == chosen[0][1], resolver[0]
    local = [local_by_number[number] for number in range(len(chosen))]
    expected = [blobs[uniqueid] for uniqueid in uniqueids]
    repeat = range(media)
    return ([resolver[i % len(chosen)] for i in repeat], [local[i % len(chosen)] for i in repeat],
            [expected[i % len(chosen)] for i in repeat])


def measure_media(sessions: Sessions, resolver: list[str], local: list[str], expected: list[bytes]) -> dict:
    """Measurement 3: both kinds in alternating rounds, each round fetched by 4 threads."""
    seconds = {"resolver": 0.0, "localfiles": 0.0}
    urls = {"resolver": resolver, "localfiles": local}
    with ThreadPoolExecutor(CLIENT_THREADS) as pool:
        list(pool.map(sessions.fetch, resolver[:CLIENT_THREADS] + local[:CLIENT_THREADS]))  # opens each thread's session
        for first in range(0, len(expected), MEDIA_ROUND):
            kinds = ["resolver", "localfiles"] if (first // MEDIA_ROUND) % 2 == 0 else ["localfiles", "resolver"]
            for kind in kinds:
                elapsed, bodies = timed(lambda: list(pool.map(sessions.fetch, urls[kind][first:first + MEDIA_ROUND])))
                seconds[kind] += elapsed
                assert bodies == expected[first:first + MEDIA_ROUND], f"{kind} served other bytes"
    return {f"{kind}_images_per_s": len(expected) / total for kind, total in seconds.items()}


def run(database: str, args, work: Path, cert_dir: str) -> dict:
    figures: dict = {"database": database, "annotations": args.annotations, "submits": args.submits, "media": args.media}
    with ExitStack() as stack:
        # SYNC_ON_TARGET_STORAGE_CREATION: Label Studio would otherwise export everything inside the request that
        # creates the target storage, before the timed Sync.
        environment = {"LOCAL_FILES_SERVING_ENABLED": "true", "LOCAL_FILES_DOCUMENT_ROOT": str(work),
                       "SYNC_ON_TARGET_STORAGE_CREATION": "false"}
        if database == "postgresql":
            environment.update(stack.enter_context(postgres()))
        data_dir = work / f"ls-{database}"
        data_dir.mkdir()
        adb_process, adb_port = stack.enter_context(
            aperturedb_server(args.annotations, 0, cert_dir, work / f"adb-{database}.log"))
        client = stack.enter_context(label_studio(environment, data_dir))
        sessions = Sessions(client.url, client.token)
        settings = ConnectionSettings("localhost", adb_port, "admin", "admin", ca_cert=Path(cert_dir, "ca.pem").read_text())
        connector = open_connector(settings)
        connection = {"hostname": "localhost", "port": adb_port, "username": "admin", "password": "admin",
                      "ca_cert": settings.ca_cert}

        export_figures, tasks = measure_export(client, sessions, connector, connection, adb_process.pid,
                                               args.annotations, args.syncs, Database(environment, data_dir))
        figures.update(export_figures)
        if args.submits:
            figures.update(measure_submits(client, sessions, connector, connection, args.submits))
        if args.media:
            figures.update(measure_media(sessions, *media_urls(client, connector, tasks, args.media,
                                                               work / f"media-{database}")))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--annotations", type=int, default=10_000, help="images, tasks and annotations of measurement 1")
    parser.add_argument("--submits", type=int, default=200,
                        help="submits with and without a target storage, each (0: measurement 2 left out)")
    parser.add_argument("--media", type=int, default=1000,
                        help="images fetched through the resolver and LocalFiles, each (0: measurement 3 left out)")
    parser.add_argument("--syncs", type=int, default=5, help="target Syncs of each kind timed")
    parser.add_argument("--databases", nargs="+", default=["sqlite"], choices=["sqlite", "postgresql"])
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "out" / "export.json"))
    parser.add_argument("--work", help="a new folder to keep the data and logs in (default: a temporary one)")
    args = parser.parse_args()
    # Measure the defaults: automatic exports in the web process's thread pool, syncs inside the request.
    for name in ("LS_STORAGE_EXPORT_THREADS", "LS_STORAGE_REDIS_URL"):
        os.environ.pop(name, None)
    results = []
    with ExitStack() as stack:
        if args.work:
            work = Path(args.work).resolve()
            work.mkdir(parents=True)
        else:
            work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-export-")))
        cert_dir = str(work / "certs")
        for database in args.databases:
            figures = run(database, args, work, cert_dir)
            results.append(figures)
            print(json.dumps(figures), flush=True)
    write_results(results, args.out)
    print_table(results)


def print_table(results: list[dict]) -> None:
    print_incremental_table(results)
    if not all("submit_with_p50_ms" in f and "resolver_images_per_s" in f for f in results):
        return
    print("\n| database | N | target Sync (median) | JSON export | Sync / export | test server CPU share (median, range) "
          "| submit p50 / p90 without target | with target | p50 with / without | all exported after last submit "
          "| resolver | LocalFiles | resolver / LocalFiles |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for f in results:
        print(f"| {f['database']} | {f['annotations']} | {f['target_sync_s']:.1f} s | {f['json_export_s']:.1f} s "
              f"| {f['target_sync_s'] / f['json_export_s']:.2f} | {100 * f['adb_cpu_share']:.0f}% "
              f"({100 * f['adb_cpu_share_min']:.0f}–{100 * f['adb_cpu_share_max']:.0f}%) "
              f"| {f['submit_without_p50_ms']:.0f} / {f['submit_without_p90_ms']:.0f} ms "
              f"| {f['submit_with_p50_ms']:.0f} / {f['submit_with_p90_ms']:.0f} ms "
              f"| {f['submit_with_p50_ms'] / f['submit_without_p50_ms']:.2f} "
              f"| {1000 * f['exports_done_after_last_submit_s']:.0f} ms "
              f"| {f['resolver_images_per_s']:.0f} img/s | {f['localfiles_images_per_s']:.0f} img/s "
              f"| {f['resolver_images_per_s'] / f['localfiles_images_per_s']:.2f} |")


def print_incremental_table(results: list[dict]) -> None:
    print("\n| database | N | full target Sync (median) | unchanged (median) | unchanged / full | changed 1%, deleted "
          "0.1% (median) | changed / full |")
    print("|---|---|---|---|---|---|---|")
    for f in results:
        full = f["target_sync_s"]
        print(f"| {f['database']} | {f['annotations']} | {full:.2f} s | {f['unchanged_sync_s']:.3f} s "
              f"| {100 * f['unchanged_sync_s'] / full:.1f}% | {f['changed_sync_s']:.3f} s "
              f"| {100 * f['changed_sync_s'] / full:.1f}% |")


if __name__ == "__main__":
    main()

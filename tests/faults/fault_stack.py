"""What the fault matrix breaks, and how it reads back what is left.

A production-shaped stack — PostgreSQL, Redis, ``label-studio start`` logging at DEBUG, RQ workers, and an
in-process ApertureDB test server the Label Studio processes reach over TLS — driven through Label Studio's REST
API as a user would. The exact state a case ends in is read where it is kept: tasks, links and predictions from
PostgreSQL, annotations from ApertureDB with the SDK. Every storage gets secrets of its own (:class:`Secrets`), so
that a scan can tell whether any of them reached an answer, a log, Redis or a storage's ``meta``.
"""

from __future__ import annotations

import json
import os
import re
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

from ls_storage.testing.fixtures import ApertureDBAddress, SeededImage
from services import Client, PostgresServer, RedisServer, kill_tree, start_rq_worker, stop
from storage_api import connection_key, storage_body
from target_api import stored_annotation

LABEL_CONFIG = """<View><Image name="image" value="$image"/>
<RectangleLabels name="label" toName="image"><Label value="cat"/><Label value="dog"/><Label value="car"/></RectangleLabels>
</View>"""
LABELS = ("cat", "dog", "car")
CONNECT_TIMEOUT, QUERY_TIMEOUT = 3, 5  # seconds (APERTUREDB_CONNECT_TIMEOUT, APERTUREDB_QUERY_TIMEOUT) in the stack
TERMINAL = ("completed", "completed_with_errors", "failed")
QUEUES = ("low", "default")
IMPORT_TABLE = "io_storages_aperturedb_aperturedbimportstorage"
EXPORT_TABLE = "io_storages_aperturedb_aperturedbexportstorage"
LINK_TABLE = "io_storages_aperturedb_aperturedbimportstoragelink"
PATHS = {"import": "/api/storages/aperturedb", "export": "/api/storages/export/aperturedb"}
CASES: list["Case"] = []  # the rows of the fault table, in the order the cases ran
SCAN: dict = {}  # the secrets scan's coverage and findings


class Secrets:
    """Distinct credentials for each storage, made known to the test server, and every value to look for."""

    def __init__(self, server):
        self.server = server
        self.values: list[tuple[str, str]] = []  # (what it is, the value)

    def _user(self) -> tuple[str, str]:
        number = len(self.values)
        username, password = f"fault-user-{number}", f"FaultPw{number}x{os.urandom(9).hex()}"
        self.server.accounts.add_user(username, password)
        self.values.append((f"password of {username}", password))
        return username, password

    def password(self) -> dict:
        username, password = self._user()
        return {"username": username, "password": password, "token": ""}

    def token(self) -> dict:
        token = self.server.accounts.add_token()
        self.values.append(("API token", token))
        return {"username": "", "password": "", "token": token}

    def key(self, address: ApertureDBAddress) -> dict:
        """A connection key holding a user and password of its own (the key wins over the fields sent with it)."""
        username, password = self._user()
        key = connection_key(address, username=username, password=password)
        self.values.append(("connection key", key))
        return {"connection_key": key, "username": "", "password": "", "token": ""}

    def found_in(self, data: bytes | str, where: str) -> list[str]:
        data = data.encode("utf-8", "replace") if isinstance(data, str) else data
        return [f"{what} in {where}" for what, value in self.values if value.encode() in data]


def plain(text: str, limit: int = 240) -> str:
    """A message as the report shows it: one line, host and port of this run replaced."""
    text = re.sub(r"(localhost|127\.0\.0\.1):\d+", "HOST:PORT", " ".join(str(text).split()))
    text = re.sub(r"\bport \d+", "port PORT", text)
    return text if len(text) <= limit else text[:limit - 1] + "…"


@dataclass
class Stack:
    pg: PostgresServer
    redis: RedisServer
    data_dir: Path
    environment: dict
    client: Client
    address: ApertureDBAddress
    secrets: Secrets
    workers: list = field(default_factory=list)
    worker_logs: list[Path] = field(default_factory=list)
    redis_kept: list[tuple[str, bytes]] = field(default_factory=list)  # Redis values read before each stop
    storages: dict[tuple[str, int], int] = field(default_factory=dict)  # (kind, id) -> project

    @property
    def server(self):
        return self.address.server

    # ---- processes ----------------------------------------------------------------------------

    def start_workers(self, count: int = 2) -> None:
        for _ in range(count):
            name = f"rq-worker-{len(self.worker_logs)}.log"
            self.worker_logs.append(self.data_dir / name)
            self.workers.append(start_rq_worker(self.environment, self.data_dir, QUEUES, log_name=name))

    def stop_workers(self) -> None:
        for worker in self.workers:
            stop(worker)
        self.workers = []

    def kill_workers(self) -> None:
        """SIGKILL every worker and the job it runs, as a killed container is."""
        for worker in self.workers:
            kill_tree(worker)
        self.workers = []

    def stop_redis(self) -> None:
        """Redis goes away (and, without persistence, comes back empty): what it held is kept for the scan."""
        self.redis_kept.extend(redis_values(self.redis.url))
        self.redis.stop()

    def start_redis(self) -> None:
        self.redis.start()

    def sql(self, query: str, *params) -> list[tuple]:
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.pg.port, user="postgres", dbname="postgres",
                             autocommit=True, connect_timeout=10) as connection:
            return connection.execute(query, params).fetchall()

    def adb(self):
        """An SDK connector (admin) to the test server, trusting the CA it serves now."""
        return replace(self.address, ca_cert=self.server.ca_cert).connector()

    def idle(self) -> bool:
        """No job queued, and none running in a live worker (a killed worker's job stays listed as started)."""
        from redis import Redis

        connection = Redis.from_url(self.redis.url)
        if any(connection.llen(f"rq:queue:{name}") for name in QUEUES):
            return False
        alive = {worker.pid for worker in self.workers}
        for name in QUEUES:
            for entry in connection.zrange(f"rq:wip:{name}", 0, -1):
                job_id = entry.decode().split(":")[0]
                worker_name = connection.hget(f"rq:job:{job_id}", "worker_name")
                pid = worker_name and connection.hget(f"rq:worker:{worker_name.decode()}", "pid")
                if pid and int(pid) in alive:
                    return False
        return True

    def wait_idle(self, timeout: float = 300) -> None:
        wait_for(self.idle, "RQ jobs to finish", timeout)

    # ---- the REST API -------------------------------------------------------------------------

    def project(self, title: str) -> int:
        return self.client.call("POST", "/api/projects/", {"title": title, "label_config": LABEL_CONFIG})["id"]

    def body(self, project: int, credentials: dict, **fields) -> dict:
        return storage_body(replace(self.address, ca_cert=self.server.ca_cert), project, **credentials, **fields)

    def create(self, kind: str, project: int, credentials: dict, **fields) -> int:
        storage = self.client.call("POST", f"{PATHS[kind]}{'/' if kind == 'import' else ''}",
                                   self.body(project, credentials, **fields))
        self.storages[(kind, storage["id"])] = project
        return storage["id"]

    def source(self, project: int, tag: str, credentials: dict, **fields) -> int:
        return self.create("import", project, credentials, constraints={"ls_test": ["==", tag]}, properties=["name"],
                           **fields)

    def target(self, project: int, credentials: dict, **fields) -> int:
        """A target storage, once the Sync Label Studio starts when one is created is done."""
        storage = self.create("export", project, credentials, **fields)
        self.wait_status(storage, "export")
        return storage

    def sync(self, storage_id: int, kind: str = "import", expect=(200,)):
        return self.client.call("POST", f"{PATHS[kind]}/{storage_id}/sync", expect=expect)

    def validate(self, kind: str, project: int, credentials: dict, expect=(200,), **fields):
        return self.client.call("POST", f"{PATHS[kind]}/validate", self.body(project, credentials, **fields),
                                expect=expect)

    def listed(self, storage_id: int, kind: str = "import") -> dict | None:
        """The storage as the storage list shows it (Label Studio's list runs its stale-job checks, as the UI's
        Cloud Storage page does); None while the server cannot answer (PostgreSQL restarting)."""
        project = self.storages[(kind, storage_id)]
        answer = self.client.call("GET", f"{PATHS[kind]}{'/' if kind == 'import' else ''}?project={project}",
                                  expect=(200, 500, 502, 503))
        if not isinstance(answer, list):
            return None
        return next(item for item in answer if item["id"] == storage_id)

    def wait_status(self, storage_id: int, kind: str = "import", until=TERMINAL, timeout: float = 300
                    ) -> tuple[dict, float]:
        """Polls the storage list until the storage's status is one of ``until``; it and the seconds waited."""
        started = time.monotonic()
        storage = None
        while time.monotonic() - started < timeout:
            storage = self.listed(storage_id, kind)
            if storage is not None and storage["status"] in until:
                return storage, time.monotonic() - started
            time.sleep(0.3)
        raise AssertionError(f"storage {kind} {storage_id} did not reach {until} in {timeout} s: {storage}")

    def task_ids(self, project: int) -> dict[str, int]:
        """Task id by image ``_uniqueid``."""
        return dict(self.sql(f"SELECT l.key, l.task_id FROM {LINK_TABLE} l JOIN task t ON t.id = l.task_id "
                             "WHERE t.project_id = %s", project))

    def annotate(self, task_id: int, result: list, expect=(201,)):
        return self.client.call("POST", f"/api/tasks/{task_id}/annotations/", {"result": result}, expect=expect)

    def update(self, annotation_id: int, result: list, expect=(200,)):
        return self.client.call("PATCH", f"/api/annotations/{annotation_id}/", {"result": result}, expect=expect)

    def meta(self, storage_id: int, kind: str = "export") -> dict:
        table = EXPORT_TABLE if kind == "export" else IMPORT_TABLE
        (row,) = self.sql(f"SELECT meta FROM {table} WHERE id = %s", storage_id)
        return row[0] or {}


class Case:
    """One row of the fault table: set ``user_sees``, ``recovery``, ``outcome`` (the final state in words) and
    ``annotations_lost`` as the case learns them; the result is the test's."""

    def __init__(self, name: str, fault: str):
        self.name, self.fault = name, fault
        self.user_sees: list[str] = []
        self.recovery: list[str] = []
        self.outcome = ""
        self.annotations_lost: int | None = None
        self.secrets_found = 0
        self.details: dict = {}
        self.result = "not run"
        self.error = ""
        self.seconds = 0.0

    def sees(self, text: str) -> None:
        self.user_sees.append(plain(text))

    def row(self) -> dict:
        return {"name": self.name, "fault": self.fault, "user_sees": self.user_sees, "recovery": self.recovery,
                "outcome": self.outcome, "result": self.result, "error": self.error,
                "annotations_lost": self.annotations_lost, "secrets_found": self.secrets_found,
                "seconds": round(self.seconds, 1), "details": self.details}


def storage_secrets(stack: Stack) -> list[str]:
    hits = []
    for table in (IMPORT_TABLE, EXPORT_TABLE):
        for storage_id, meta, traceback in stack.sql(f"SELECT id, meta::text, traceback FROM {table}"):
            hits += stack.secrets.found_in(f"{meta}\n{traceback}", f"{table} {storage_id} meta/traceback")
    return hits


def wait_for(check, what: str, timeout: float, interval: float = 0.3):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"{what}: not within {timeout} s")


def page_query(tag: str, offset: int):
    """Matches the sync's query for the page of the images tagged ``tag`` that starts at ``offset``."""
    def matches(query) -> bool:
        return isinstance(query, list) and any(
            isinstance(command, dict) and isinstance(command.get("FindImage"), dict)
            and command["FindImage"].get("offset") == offset and tag in json.dumps(command["FindImage"])
            for command in query)
    return matches


def annotation_write(query) -> bool:
    """Matches a target storage's write of annotations (its look-up of the LS_annotation entities first)."""
    return isinstance(query, list) and any(
        isinstance(command, dict) and any(isinstance(params, dict) and params.get("with_class") == "LS_annotation"
                                          for params in command.values())
        for command in query)


def box(region_id: str, image: SeededImage, x: float, y: float, w: float, h: float, label: str = "cat") -> dict:
    return {"id": region_id, "from_name": "label", "to_name": "image", "type": "rectanglelabels",
            "original_width": image.width, "original_height": image.height, "image_rotation": 0,
            "value": {"x": x, "y": y, "width": w, "height": h, "rotation": 0, "rectanglelabels": [label]}}


def random_boxes(rng, image: SeededImage, prefix: str) -> list[dict]:
    return [box(f"{prefix}-{i}", image, rng.uniform(0, 50), rng.uniform(0, 50), rng.uniform(1, 50), rng.uniform(1, 50),
                rng.choice(LABELS)) for i in range(rng.randint(1, 3))]


# ---- the exact state ------------------------------------------------------------------------------

def expected_predictions(image: SeededImage) -> list[tuple]:
    """What a sync makes of an image's boxes: percent of the image's size, as ``value * 100.0 / whole``."""
    return sorted((f"adb-{uniqueid.replace('.', '-')}", label, x * 100.0 / image.width, y * 100.0 / image.height,
                   w * 100.0 / image.width, h * 100.0 / image.height) for uniqueid, (x, y, w, h), label in image.boxes)


def task_problems(stack: Stack, project: int, storage: int, seeded: list[SeededImage]) -> list[str]:
    """Everything that differs from exactly one task per image, with exactly its predictions; [] when exact."""
    problems = []
    tasks = stack.sql("SELECT count(*), count(DISTINCT data->>'image') FROM task WHERE project_id = %s", project)[0]
    links = stack.sql(f"SELECT key, task_id FROM {LINK_TABLE} WHERE storage_id = %s", storage)
    if tasks != (len(seeded), len(seeded)):
        problems.append(f"{tasks[0]} tasks ({tasks[1]} distinct images) instead of {len(seeded)}")
    keys = {key for key, _ in links}
    if len(links) != len(seeded) or keys != {image.uniqueid for image in seeded}:
        problems.append(f"{len(links)} links for {len(keys)} images instead of {len(seeded)}")
    predictions: dict[int, list] = {}
    for task_id, result in stack.sql("SELECT task_id, result FROM prediction WHERE project_id = %s", project):
        predictions.setdefault(task_id, []).append(result)
    task_of = dict(links)
    for image in seeded:
        found = predictions.get(task_of.get(image.uniqueid), [])
        if len(found) != 1:
            problems.append(f"image {image.uniqueid}: {len(found)} predictions instead of 1")
            continue
        got = sorted((r["id"], r["value"]["rectanglelabels"][0], r["value"]["x"], r["value"]["y"], r["value"]["width"],
                      r["value"]["height"]) for r in found[0])
        if got != expected_predictions(image):
            problems.append(f"image {image.uniqueid}: predictions {got} instead of {expected_predictions(image)}")
    return problems[:20]


def annotation_problems(stack: Stack, project: int) -> list[str]:
    """A line for each annotation of the project that ApertureDB does not hold exactly once in its final version
    (its result, regions and update time), and one for what it holds of the project that Label Studio does not;
    [] when exact."""
    connector = stack.adb()
    annotations = stack.sql("SELECT id, result, updated_at FROM task_completion WHERE project_id = %s", project)
    problems = []
    for annotation_id, result, updated_at in annotations:
        stored = stored_annotation(connector, annotation_id)  # asserts there is at most one
        if stored is None:
            problems.append(f"annotation {annotation_id} is not in ApertureDB")
            continue
        data = stored["data"] or {}
        boxes = {r["id"] for r in result}
        if data.get("result") != result or set(stored["boxes"]) != boxes or len(stored["boxes"]) != len(result) \
                or _when(data.get("updated_at")) != updated_at:
            problems.append(f"annotation {annotation_id}: ApertureDB holds the version of {data.get('updated_at')} "
                            f"({sorted(stored['boxes'])}), Label Studio {updated_at.isoformat()} ({sorted(boxes)})")
    answer, _ = connector.query([{"FindEntity": {"with_class": "LS_annotation", "constraints": {
        "LS_project_id": ["==", project]}, "results": {"list": ["LS_id"]}}}])
    held = Counter(entity["LS_id"] for entity in answer[0]["FindEntity"].get("entities") or [])
    extra = sorted(set(held) - {a[0] for a in annotations})
    if extra:
        problems.append(f"annotations {extra} are in ApertureDB and not in Label Studio")
    return problems


def _when(text):
    from datetime import datetime

    return datetime.fromisoformat(text) if text else None


# ---- where secrets could leak ---------------------------------------------------------------------

def redis_values(url: str) -> list[tuple[str, bytes]]:
    """Every value Redis holds, by key (hash fields, list items, stream entries...), and the zlib-decompressed form
    of each that is compressed (RQ's job data: a pickle of the function and its arguments, and exc_info)."""
    from redis import Redis

    connection = Redis.from_url(url)
    values: list[tuple[str, bytes]] = []
    for key in connection.scan_iter(count=1000):
        kind = connection.type(key).decode()
        if kind == "string":
            items = [connection.get(key)]
        elif kind == "hash":
            items = [part for pair in connection.hgetall(key).items() for part in pair]
        elif kind == "list":
            items = connection.lrange(key, 0, -1)
        elif kind == "set":
            items = list(connection.smembers(key))
        elif kind == "zset":
            items = connection.zrange(key, 0, -1)
        elif kind == "stream":
            items = [part for _, entry in connection.xrange(key) for pair in entry.items() for part in pair]
        else:
            items = []
        for item in items:
            if item is None:
                continue
            values.append((key.decode(), item))
            try:
                values.append((f"{key.decode()} (decompressed)", zlib.decompress(item)))
            except zlib.error:
                pass
    return values

"""The scheduler as it runs in production: ``python -m django run_storage_scheduler`` next to a real Label Studio on
PostgreSQL, with Redis and two RQ workers (so that two syncs of one storage could run at once if it let them).

Intervals are shortened with the command's ``--minute 2`` (a minute of an interval lasts 2 s; the storages' fields
stay in whole minutes, 1 here): runs every 2 s. A thread reads every storage's row from PostgreSQL every 50 ms and
keeps each run Label Studio records (``meta.time_queued`` is new for each run): when it was queued, started and
finished, and how it ended.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

from ls_storage.testing.fixtures import TaggedImages, running_server
from services import label_studio, postgres, redis, rq_worker, stop, wait_for_idle_queues, wait_until
from storage_api import storage_body

SECONDS_PER_MINUTE = 2.0
TICK = 0.2
LABEL_CONFIG = """<View><Image name="image" value="$image"/>
<RectangleLabels name="label" toName="image"><Label value="cat"/></RectangleLabels></View>"""
TABLES = {"source": "io_storages_aperturedb_aperturedbimportstorage",
          "target": "io_storages_aperturedb_aperturedbexportstorage"}


@dataclass
class Run:
    queued: datetime
    started: datetime | None = None
    finished: datetime | None = None
    status: str = "queued"


class Runs(threading.Thread):
    """Every run of every storage, read from the database as Label Studio records it."""

    def __init__(self, database: dict):
        super().__init__(daemon=True)
        import psycopg

        self.connection = psycopg.connect(host=database["POSTGRE_HOST"], port=database["POSTGRE_PORT"],
                                          user=database["POSTGRE_USER"], dbname=database["POSTGRE_NAME"],
                                          autocommit=True)
        self.runs: dict[tuple[str, int], dict[str, Run]] = {}
        self.lock = threading.Lock()
        self.done = threading.Event()

    def run(self):
        while not self.done.wait(0.05):
            for kind, table in TABLES.items():
                for storage_id, status, meta in self.connection.execute(f"SELECT id, status, meta FROM {table}"):
                    if not meta or "time_queued" not in meta:
                        continue
                    with self.lock:
                        run = self.runs.setdefault((kind, storage_id), {}).setdefault(
                            meta["time_queued"], Run(datetime.fromisoformat(meta["time_queued"])))
                        run.status = status
                        for name, key in (("started", "time_in_progress"), ("finished", "time_completed")):
                            if meta.get(key):
                                setattr(run, name, datetime.fromisoformat(meta[key]))

    def of(self, kind: str, storage_id: int, since: datetime | None = None) -> list[Run]:
        with self.lock:
            runs = sorted(self.runs.get((kind, storage_id), {}).values(), key=lambda run: run.queued)
        return [run for run in runs if since is None or run.queued >= since]

    def close(self):
        self.done.set()
        self.join()
        self.connection.close()


class Scheduler:
    def __init__(self, stack, log_name: str):
        self.log = stack.data_dir / log_name
        env = {**os.environ, **stack.environment, "DJANGO_SETTINGS_MODULE": "ls_storage.settings",
               "LABEL_STUDIO_BASE_DATA_DIR": str(stack.data_dir), "SENTRY_DSN": ""}
        with open(self.log, "a") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "django", "run_storage_scheduler", "--tick", str(TICK),
                 "--minute", str(SECONDS_PER_MINUTE)], env=env, cwd=stack.data_dir, stdout=log,
                stderr=subprocess.STDOUT)
        wait_until(lambda: "scheduler started" in self.text(), "the scheduler", timeout=120, process=self.process)
        self.started = now()

    def text(self) -> str:
        return self.log.read_text()


@dataclass
class Stack:
    client: object
    environment: dict
    data_dir: Path
    runs: Runs


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("scheduler")
    with postgres() as database, redis() as redis_url:
        environment = {**database, "LS_STORAGE_REDIS_URL": redis_url}
        with label_studio(environment, data_dir) as client, \
                rq_worker(environment, data_dir, log_name="worker-1.log"), \
                rq_worker(environment, data_dir, log_name="worker-2.log"):
            wait_for_idle_queues(redis_url)
            runs = Runs(database)
            runs.start()
            try:
                yield Stack(client, environment, data_dir, runs)
            finally:
                runs.close()


def now() -> datetime:
    from datetime import timezone

    return datetime.now(timezone.utc)


def project_with(stack, address, title: str, **sources) -> dict:
    """A project with a source storage per keyword (its sync_interval), of one image each."""
    images = TaggedImages(address)
    images.add("a.png", 20, 10, boxes=[((1, 1, 5, 5), "cat", {})])
    project = stack.client.call("POST", "/api/projects/", {"title": title, "label_config": LABEL_CONFIG})
    return {"project": project["id"], **{
        name: stack.client.call("POST", "/api/storages/aperturedb/", storage_body(
            address, project["id"], title=name, constraints=images.constraints, sync_interval=interval))["id"]
        for name, interval in sources.items()}}


def assert_never_overlap(runs: list[Run]) -> None:
    for earlier, later in zip(runs, runs[1:]):
        assert earlier.finished is not None and later.queued >= earlier.finished, (earlier, later)


def seconds(a: datetime, b: datetime) -> float:
    return (b - a).total_seconds()


def test_syncs_and_exports_run_on_time_and_an_interval_of_0_never(stack):
    with running_server() as address:
        made = project_with(stack, address, "On time", every=1, never=0)
        target = stack.client.call("POST", "/api/storages/export/aperturedb",
                                   storage_body(address, made["project"], export_interval=1))["id"]
        scheduler = Scheduler(stack, "scheduler-on-time.log")
        try:
            time.sleep(4 * SECONDS_PER_MINUTE + 1)
            shown = stack.client.call("GET", f"/api/storages/aperturedb/{made['every']}")
        finally:
            scheduler.process.terminate()  # SIGTERM: a clean stop
            assert scheduler.process.wait(timeout=30) == 0
        assert "scheduler stopped" in scheduler.text()

    for kind, storage_id in (("source", made["every"]), ("target", target)):
        runs = stack.runs.of(kind, storage_id, since=scheduler.started)
        assert len(runs) >= 3, (kind, runs)
        assert all(run.status == "completed" for run in runs), (kind, runs)
        # The first run one interval after the scheduler first saw the storage, then one every interval.
        assert abs(seconds(scheduler.started, runs[0].queued) - SECONDS_PER_MINUTE) < 1.0, (kind, runs)
        gaps = [seconds(a.queued, b.queued) for a, b in zip(runs, runs[1:])]
        assert all(abs(gap - SECONDS_PER_MINUTE) < 0.6 for gap in gaps), (kind, gaps)
        assert_never_overlap(runs)
    assert stack.runs.of("source", made["never"]) == []
    never = stack.client.call("GET", f"/api/storages/aperturedb/{made['never']}")
    assert never["status"] == "initialized" and never["meta"]["next_sync_at"] is None
    assert shown["meta"]["next_sync_at"] and datetime.fromisoformat(shown["meta"]["next_sync_at"]) > scheduler.started
    assert f"source storage {made['every']} (project {made['project']}): run queued" in scheduler.text()


def test_a_sync_slower_than_its_interval_never_overlaps_the_next(stack):
    with running_server() as address:
        made = project_with(stack, address, "Slow", slow=1)
        address.server.delay_answers(0.7)  # a sync now takes longer than its 2 s interval
        scheduler = Scheduler(stack, "scheduler-slow.log")
        try:
            time.sleep(6 * SECONDS_PER_MINUTE)
        finally:
            scheduler.process.terminate()
            scheduler.process.wait(timeout=60)
            address.server.delay_answers(0)
        runs = stack.runs.of("source", made["slow"], since=scheduler.started)
        wait_until(lambda: stack.runs.of("source", made["slow"])[-1].status != "in_progress", "the last sync", 60)

    runs = stack.runs.of("source", made["slow"], since=scheduler.started)
    assert len(runs) >= 2, runs
    assert all(run.status == "completed" for run in runs), runs  # a second job of one storage would have failed
    assert all(seconds(run.started, run.finished) > SECONDS_PER_MINUTE for run in runs), runs
    assert_never_overlap(runs)
    assert "run skipped, its last sync is still in_progress" in scheduler.text()


def test_a_killed_scheduler_resumes_without_a_burst_of_missed_runs(stack):
    with running_server() as address:
        made = project_with(stack, address, "Restart", every=1)
        first = Scheduler(stack, "scheduler-killed.log")
        wait_until(lambda: any(run.status == "completed" for run in stack.runs.of("source", made["every"])),
                   "the first run", timeout=30)
        first.process.kill()  # SIGKILL: no clean-up
        first.process.wait()
        killed = now()
        time.sleep(3.5 * SECONDS_PER_MINUTE)  # three runs missed
        assert stack.runs.of("source", made["every"], since=killed) == []

        second = Scheduler(stack, "scheduler-restarted.log")
        try:
            wait_until(lambda: len(stack.runs.of("source", made["every"], since=killed)) >= 2, "two runs", 30)
        finally:
            stop(second.process)
    resumed = stack.runs.of("source", made["every"], since=killed)
    # The missed runs are one run, at once; the next one interval later.
    assert seconds(second.started, resumed[0].queued) < 2 * TICK + 0.5, resumed
    assert abs(seconds(resumed[0].queued, resumed[1].queued) - SECONDS_PER_MINUTE) < 0.6, resumed
    assert all(run.status == "completed" for run in resumed[:2]), resumed

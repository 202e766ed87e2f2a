"""Real services for production-shaped tests: PostgreSQL, Redis, Label Studio and RQ workers as processes.

Each is started by the test that needs it, on a free port, and stopped by its PID afterwards.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def postgres_bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    if not versions:
        raise RuntimeError(f"PostgreSQL's {name} is not installed (Debian package postgresql)")
    return str(versions[-1])


def _as_postgres_user(command: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root; the Debian package provides the "postgres" user.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--"] + command
    return command


@contextmanager
def postgres() -> Iterator[dict]:
    """A throw-away PostgreSQL cluster; yields Label Studio's POSTGRE_* environment for it."""
    directory = Path(tempfile.mkdtemp(prefix="ls-storage-pg-"))
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        os.chown(directory, owner.pw_uid, owner.pw_gid)
    data = directory / "data"
    port = free_port()
    subprocess.run(_as_postgres_user([postgres_bin("initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"]),
                   check=True, capture_output=True)
    server = subprocess.Popen(
        _as_postgres_user([postgres_bin("postgres"), "-D", str(data), "-p", str(port), "-k", str(directory),
                           "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"]),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: _accepts(port), "PostgreSQL")
        yield {"DJANGO_DB": "default", "POSTGRE_HOST": "127.0.0.1", "POSTGRE_PORT": str(port),
               "POSTGRE_USER": "postgres", "POSTGRE_PASSWORD": "", "POSTGRE_NAME": "postgres"}
    finally:
        stop(server)
        shutil.rmtree(directory, ignore_errors=True)


@contextmanager
def redis() -> Iterator[str]:
    """A Redis server without persistence; yields its URL."""
    port = free_port()
    server = subprocess.Popen([shutil.which("redis-server") or "redis-server", "--port", str(port), "--bind",
                               "127.0.0.1", "--save", "", "--appendonly", "no"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: _accepts(port), "Redis")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop(server)


@contextmanager
def label_studio(environment: dict, data_dir: Path, token: str = "lsstoragetesttoken0123456789") -> Iterator["Client"]:
    """``label-studio start`` with the plugin's settings; yields a REST client for its admin user."""
    port = free_port()
    env = {**os.environ, **environment, "DJANGO_SETTINGS_MODULE": "ls_storage.settings",
           "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir), "SENTRY_DSN": "", "ADB_LOG_FILE": ""}
    log = open(data_dir / "label-studio.log", "w")
    server = subprocess.Popen(
        [str(VENV_BIN / "label-studio"), "start", "--no-browser", "--internal-host", "127.0.0.1", "--port", str(port),
         "--username", "admin@example.com", "--password", "admin12345", "--user-token", token,
         "--enable-legacy-api-token"],
        env=env, cwd=data_dir, stdout=log, stderr=subprocess.STDOUT,
    )
    client = Client(f"http://127.0.0.1:{port}", token)
    try:
        wait_until(lambda: client.healthy(), "Label Studio", timeout=300, process=server)
        yield client
    finally:
        stop(server)
        log.close()


@contextmanager
def rq_worker(environment: dict, data_dir: Path, queues: tuple[str, ...] = ("low", "default"),
              worker_class: str | None = None) -> Iterator[subprocess.Popen]:
    """``worker_class="rq.worker.SimpleWorker"`` runs jobs in the worker process itself, instead of a fork per job."""
    env = {**os.environ, **environment, "DJANGO_SETTINGS_MODULE": "ls_storage.settings",
           "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir), "SENTRY_DSN": "", "ADB_LOG_FILE": ""}
    log = open(data_dir / "rq-worker.log", "w")
    options = ["--worker-class", worker_class] if worker_class else []
    worker = subprocess.Popen([sys.executable, "-m", "django", "rqworker", *options, *queues], env=env, cwd=data_dir,
                              stdout=log, stderr=subprocess.STDOUT)
    try:
        yield worker
    finally:
        stop(worker)
        log.close()


def wait_for_idle_queues(redis_url: str, queues: tuple[str, ...] = ("low", "default")) -> None:
    """Until no job is queued or running: Label Studio's migrations queue data jobs at start-up, and jobs of
    an earlier step would otherwise be timed as part of the next."""
    from redis import Redis
    from rq import Queue
    from rq.registry import StartedJobRegistry

    connection = Redis.from_url(redis_url)
    wait_until(lambda: all(Queue(name, connection=connection).count == 0
                           and StartedJobRegistry(name, connection=connection).count == 0 for name in queues),
               "RQ queues to drain", timeout=3600)


class Client:
    """Label Studio's REST API with a legacy token; a new connection per request."""

    def __init__(self, url: str, token: str):
        self.url, self.token = url, token

    def call(self, method: str, path: str, body=None, expect: tuple[int, ...] = (200, 201, 204), timeout: float = 120):
        request = urllib.request.Request(
            self.url + path, method=method, data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Token {self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        assert status in expect, f"{method} {path} -> {status}: {raw[:2000]!r}"
        return json.loads(raw) if raw and raw[:1] in (b"{", b"[") else raw

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/health", timeout=5) as response:
                return response.status == 200
        except OSError:
            return False


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def wait_until(check, what: str, timeout: float = 60, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        time.sleep(0.3)
    raise RuntimeError(f"{what} did not start within {timeout} s")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

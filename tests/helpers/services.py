"""Real services for production-shaped tests: PostgreSQL, Redis, Label Studio and RQ workers as processes.

Each is started by the test that needs it, on a free port, and stopped by its PID afterwards.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
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


class PostgresServer:
    """A throw-away PostgreSQL cluster that can be stopped (a fast shutdown: sessions are cut, open transactions
    rolled back) and started again on the same port with its data."""

    def __init__(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="ls-storage-pg-"))
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.directory, owner.pw_uid, owner.pw_gid)
        self.data = self.directory / "data"
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        subprocess.run(_as_postgres_user([postgres_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres"]),
                       check=True, capture_output=True)

    @property
    def environment(self) -> dict:
        """Label Studio's POSTGRE_* environment for this cluster."""
        return {"DJANGO_DB": "default", "POSTGRE_HOST": "127.0.0.1", "POSTGRE_PORT": str(self.port),
                "POSTGRE_USER": "postgres", "POSTGRE_PASSWORD": "", "POSTGRE_NAME": "postgres"}

    def start(self) -> None:
        self.process = subprocess.Popen(
            _as_postgres_user([postgres_bin("postgres"), "-D", str(self.data), "-p", str(self.port), "-k",
                               str(self.directory), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"]),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_until(lambda: _accepts(self.port), "PostgreSQL", process=self.process)

    def stop(self) -> None:
        """A fast shutdown, signalled to the postmaster itself (``runuser`` may stand between it and us)."""
        if self.process is None:
            return
        pid_file = self.data / "postmaster.pid"
        if self.process.poll() is None and pid_file.exists():
            try:
                os.kill(int(pid_file.read_text().split()[0]), signal.SIGINT)
                self.process.wait(timeout=30)
            except (OSError, ValueError, subprocess.TimeoutExpired):
                pass
        stop(self.process)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop it and remove its files."""
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


@contextmanager
def running(server):
    """A :class:`PostgresServer` or :class:`RedisServer`, started, and closed afterwards."""
    try:
        server.start()
        yield server
    finally:
        server.close()


def postgres_server():
    return running(PostgresServer())


@contextmanager
def postgres() -> Iterator[dict]:
    """A throw-away PostgreSQL cluster; yields Label Studio's POSTGRE_* environment for it."""
    with postgres_server() as server:
        yield server.environment


class RedisServer:
    """A Redis server without persistence, which can be stopped and started again on the same port (empty)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [shutil.which("redis-server") or "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: _accepts(self.port), "Redis", process=self.process)

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)
            self.process = None

    close = stop


def redis_server():
    return running(RedisServer())


@contextmanager
def redis() -> Iterator[str]:
    """A Redis server without persistence; yields its URL."""
    with redis_server() as server:
        yield server.url


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


def start_rq_worker(environment: dict, data_dir: Path, queues: tuple[str, ...] = ("low", "default"),
                    worker_class: str | None = None, log_name: str = "rq-worker.log") -> subprocess.Popen:
    """An RQ worker with the plugin's settings, its output appended to ``data_dir / log_name``; stop it with
    :func:`stop`, or :func:`kill_tree` as a crash would."""
    env = {**os.environ, **environment, "DJANGO_SETTINGS_MODULE": "ls_storage.settings",
           "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir), "SENTRY_DSN": "", "ADB_LOG_FILE": ""}
    options = ["--worker-class", worker_class] if worker_class else []
    with open(data_dir / log_name, "a") as log:  # the worker holds its own copy of the descriptor
        return subprocess.Popen([sys.executable, "-m", "django", "rqworker", *options, *queues], env=env,
                                cwd=data_dir, stdout=log, stderr=subprocess.STDOUT)


@contextmanager
def rq_worker(environment: dict, data_dir: Path, queues: tuple[str, ...] = ("low", "default"),
              worker_class: str | None = None, log_name: str = "rq-worker.log") -> Iterator[subprocess.Popen]:
    """``worker_class="rq.worker.SimpleWorker"`` runs jobs in the worker process itself, instead of a fork per job."""
    worker = start_rq_worker(environment, data_dir, queues, worker_class, log_name)
    try:
        yield worker
    finally:
        stop(worker)


def descendants(pid: int) -> list[int]:
    """The processes started by ``pid``, and by them, from /proc (an RQ work horse is in its own process group)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, queue = [], [pid]
    while queue:
        for child in children.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


def kill_tree(process: subprocess.Popen) -> None:
    """SIGKILL a process and everything it started, as a killed container would be."""
    for pid in [process.pid, *descendants(process.pid)]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait()


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
        self.responses: list[tuple[str, str, int, bytes]] | None = None  # a list: every answer is kept there


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
        if self.responses is not None:
            self.responses.append((method, path, status, raw))
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

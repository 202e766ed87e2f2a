"""Connecting to ApertureDB with the real SDK, and turning its failures into errors that name a field.

Knows nothing of Django: the storage models hand it a :class:`ConnectionSettings`.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import ssl
import tempfile
import threading
import weakref
from dataclasses import dataclass, field

os.environ.setdefault("ADB_LOG_FILE", "")  # the SDK would otherwise write error.<time>.log files
from aperturedb.Connector import Connector  # noqa: E402

CONNECT_TIMEOUT = 5.0
RETRY_INTERVAL = 0.2
RETRY_ATTEMPTS = 3


class ApertureDBError(Exception):
    """ApertureDB could not be used; ``field`` names the setting the user should look at."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


class QueryFailed(ApertureDBError):
    """ApertureDB answered a query with an error status."""


@dataclass(frozen=True)
class ConnectionSettings:
    hostname: str
    port: int = 55555
    username: str = ""
    password: str = field(default="", repr=False)
    token: str = field(default="", repr=False)
    use_ssl: bool = True
    ca_cert: str = field(default="", repr=False)  # PEM text
    verify_hostname: bool = True

    def fingerprint(self) -> str:
        """Identifies these settings (secrets included) without revealing them, for connection caches."""
        text = "\0".join(str(v) for v in (self.hostname, self.port, self.username, self.password, self.token,
                                          self.use_ssl, self.ca_cert, self.verify_hostname))
        return hashlib.sha256(text.encode()).hexdigest()


def normalize_pem(text: str) -> str:
    """PEM certificates as OpenSSL reads them, whatever a one-line form field did to their line breaks."""
    blocks = re.findall(r"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----", text, re.S)
    wrapped = []
    for kind, body in blocks:
        body = re.sub(r"\s+", "", body)
        lines = "\n".join(body[i:i + 64] for i in range(0, len(body), 64))
        wrapped.append(f"-----BEGIN {kind}-----\n{lines}\n-----END {kind}-----\n")
    return "".join(wrapped) or text


def _ca_file(pem: str) -> str:
    """The SDK takes a CA file path; keep one file per distinct PEM for the life of the process."""
    pem = normalize_pem(pem)
    digest = hashlib.sha256(pem.encode()).hexdigest()[:16]
    path = os.path.join(tempfile.gettempdir(), f"ls_storage_ca_{digest}.pem")
    if not os.path.exists(path):
        with tempfile.NamedTemporaryFile("w", dir=tempfile.gettempdir(), delete=False) as out:
            out.write(pem)
        os.replace(out.name, path)
    return path


def check_settings(settings: ConnectionSettings) -> None:
    if not settings.hostname:
        raise ApertureDBError("The ApertureDB host name is required.", "hostname")
    if not 0 < settings.port < 65536:
        raise ApertureDBError(f"Port {settings.port} is not a valid TCP port.", "port")
    if not settings.password and not settings.token:
        raise ApertureDBError("Give a password or a token to log in to ApertureDB.", "password")
    if settings.password and not settings.username:
        raise ApertureDBError("A password login needs a user name.", "username")
    if settings.ca_cert:
        try:
            ssl.create_default_context(cadata=normalize_pem(settings.ca_cert))
        except (ssl.SSLError, ValueError):
            raise ApertureDBError(
                "The CA certificate must be PEM text (-----BEGIN CERTIFICATE----- ...) that loads.", "ca_cert"
            ) from None


def _reach(settings: ConnectionSettings) -> None:
    """Fail fast, with a clear message, when nothing listens at host:port (the SDK would retry silently)."""
    try:
        with socket.create_connection((settings.hostname, settings.port), timeout=CONNECT_TIMEOUT):
            pass
    except socket.gaierror:
        raise ApertureDBError(f"Cannot resolve the host name {settings.hostname!r}.", "hostname") from None
    except OSError as error:
        reason = error.strerror or str(error)
        raise ApertureDBError(
            f"Cannot reach ApertureDB at {settings.hostname}:{settings.port}: {reason}.", "hostname"
        ) from None


def open_connector(settings: ConnectionSettings) -> Connector:
    """A logged-in SDK connector; raises :class:`ApertureDBError` naming the field at fault."""
    check_settings(settings)
    _reach(settings)
    connector = Connector(
        host=settings.hostname, port=settings.port, user=settings.username, password=settings.password,
        token=settings.token, use_ssl=settings.use_ssl, ca_cert=_ca_file(settings.ca_cert) if settings.ca_cert else None,
        verify_hostname=settings.verify_hostname, retry_interval_seconds=RETRY_INTERVAL,
        retry_max_attempts=RETRY_ATTEMPTS,
    )
    logging_in = True
    try:
        connector.authenticate(connector.shared_data, settings.username, settings.password, settings.token)
        logging_in = False
        connector.query([{"GetStatus": {}}])
    except Exception as error:  # the SDK raises bare Exception / AssertionError for each of these
        raise _explain(error, settings, logging_in) from None
    return connector


def _explain(error: BaseException, settings: ConnectionSettings, logging_in: bool) -> ApertureDBError:
    text = str(error)
    if "did not accept protocol" in text:
        if settings.use_ssl:
            return ApertureDBError("The server does not accept TLS here; turn off 'Use TLS'.", "use_ssl")
        return ApertureDBError("The server requires TLS; turn on 'Use TLS'.", "use_ssl")
    if isinstance(error, AssertionError) and "Certificate verification failed" in text or isinstance(error, ssl.SSLError):
        return ApertureDBError(
            "The server's TLS certificate could not be verified: give the CA certificate that signed it, "
            "or check the host name.", "ca_cert"
        )
    if "Could not query ApertureDB" in text:
        return ApertureDBError(
            f"ApertureDB at {settings.hostname}:{settings.port} closed the connection: check the port and TLS "
            "settings.", "port"
        )
    if logging_in:  # the connection works, so the server refused the credentials
        field_name = "token" if settings.token and not settings.password else "password"
        return ApertureDBError(f"ApertureDB refused the login: {text.splitlines()[0]}", field_name)
    return ApertureDBError(f"ApertureDB failed: {text.splitlines()[0] if text else type(error).__name__}")


def run_query(connector: Connector, query: list, blobs: list[bytes] | None = None) -> tuple[list, list[bytes]]:
    """Run one transaction; a failed transaction or command raises :class:`QueryFailed`."""
    try:
        answer, out_blobs = connector.query(query, blobs or [])
    except Exception as error:
        raise ApertureDBError(f"ApertureDB could not be queried: {error}") from None
    if isinstance(answer, dict):
        raise QueryFailed(f"ApertureDB refused the query: {answer.get('info', answer)}")
    for item in answer:
        for name, result in item.items():
            if isinstance(result, dict) and result.get("status", 0) < 0:
                raise QueryFailed(f"ApertureDB refused {name}: {result.get('info', result)}")
    return answer, out_blobs


class ConnectorPool:
    """Logged-in connectors, each used by one thread at a time (the SDK connector is not thread-safe).

    Those of a thread that ended serve the next thread that asks for the same settings: a web server may start
    a thread per HTTP connection (Django's runserver does), and each would otherwise log in anew before
    serving a single image."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._idle: dict[str, list[Connector]] = {}
        self._lock = threading.Lock()

    def get(self, settings: ConnectionSettings) -> Connector:
        connectors = self._own()
        key = settings.fingerprint()
        connector = connectors.get(key)
        if connector is None:
            with self._lock:
                idle = self._idle.get(key)
                connector = idle.pop() if idle else None
            connector = connectors[key] = connector or open_connector(settings)
        return connector

    def discard(self, settings: ConnectionSettings) -> None:
        connector = self._own().pop(settings.fingerprint(), None)
        if connector is not None:
            connector.close()

    def _own(self) -> dict[str, Connector]:
        """This thread's connectors by settings fingerprint, given over to the pool when the thread ends."""
        owner = getattr(self._local, "owner", None)
        if owner is None:
            owner = self._local.owner = _ThreadConnectors()
            weakref.finalize(owner, self._adopt, owner.connectors).atexit = False
        return owner.connectors

    def _adopt(self, connectors: dict[str, Connector]) -> None:
        with self._lock:
            for key, connector in connectors.items():
                self._idle.setdefault(key, []).append(connector)


class _ThreadConnectors:
    """Held only by one thread's local storage, so that it is freed, and its connectors adopted, when the
    thread ends."""

    __slots__ = ("connectors", "__weakref__")

    def __init__(self) -> None:
        self.connectors: dict[str, Connector] = {}


connectors = ConnectorPool()

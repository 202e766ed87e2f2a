"""Connecting to ApertureDB with the real SDK, and turning its failures into errors that name a field.

Knows nothing of Django: the storage models hand it a :class:`ConnectionSettings`, made from their fields or
from a connection key (:func:`settings_from_key`). ApertureDB is reached over its binary TCP protocol
(``aperturedb.Connector``) or its REST API (``aperturedb.ConnectorRest``, ``use_rest``); the errors name the
same fields over both.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import ssl
import struct
import tempfile
import threading
import weakref
from dataclasses import dataclass, field

import requests
from aperturedb.Configuration import Configuration
from aperturedb.Connector import Connector
from aperturedb.ConnectorRest import ConnectorRest

from .hosts import HostError, allowed_hosts, host_name_problem

RETRY_INTERVAL = 0.2
RETRY_ATTEMPTS = 3  # at least 2: ConnectorRest counts an answer to its last attempt as a failure
# Environment variables: seconds to connect, negotiate TLS and log in; seconds a query may wait for its answer.
CONNECT_TIMEOUT_VARIABLE, QUERY_TIMEOUT_VARIABLE = "APERTUREDB_CONNECT_TIMEOUT", "APERTUREDB_QUERY_TIMEOUT"
DEFAULT_CONNECT_TIMEOUT, DEFAULT_QUERY_TIMEOUT = 10.0, 60.0


@dataclass(frozen=True)
class Timeouts:
    """How long a call to ApertureDB may wait: the SDK itself waits forever for a server that accepts and
    never answers."""

    connect: float  # to connect, agree on the protocol and TLS, log in, and answer the first query
    query: float  # for each later query's answer (between two bytes of it, as sockets time out)


def timeouts() -> Timeouts:
    """The timeouts the environment sets (``APERTUREDB_CONNECT_TIMEOUT``, ``APERTUREDB_QUERY_TIMEOUT``, seconds),
    read at each connection so that a changed setting applies without a restart."""
    values = []
    for variable, default in ((CONNECT_TIMEOUT_VARIABLE, DEFAULT_CONNECT_TIMEOUT),
                              (QUERY_TIMEOUT_VARIABLE, DEFAULT_QUERY_TIMEOUT)):
        text = os.environ.get(variable, "").strip()
        try:
            value = float(text) if text else default
        except ValueError:
            value = 0.0
        if not 0 < value < float("inf"):
            raise ValueError(f"{variable} must be a positive number of seconds, not {text!r}")
        values.append(value)
    return Timeouts(*values)


class ApertureDBError(Exception):
    """ApertureDB could not be used; ``field`` names the setting the user should look at."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


class QueryFailed(ApertureDBError):
    """ApertureDB answered a query with an error status."""


class ApertureDBTimeout(ApertureDBError):
    """ApertureDB did not answer within a timeout (a resolver answers it 504, not 502)."""


def _timed_out(settings: ConnectionSettings, limits: Timeouts, opening: bool) -> ApertureDBTimeout:
    seconds, variable = (limits.connect, CONNECT_TIMEOUT_VARIABLE) if opening else (limits.query, QUERY_TIMEOUT_VARIABLE)
    message = f"ApertureDB at {settings.hostname}:{settings.port} did not answer within {seconds:g} s ({variable})"
    if opening:  # a hung server, or one that waits for another protocol than ours
        message += ": the server hangs, or this port does not speak ApertureDB's " + \
            ("REST API" if settings.use_rest else "protocol") + ": check the port, and the TLS and REST settings"
    return ApertureDBTimeout(message + ".", "hostname")


def default_port(use_rest: bool, use_ssl: bool) -> int:
    """ApertureDB's port when none is given, as the SDK's keys and connectors take it: 55555 over TCP, 443 for
    REST over HTTPS, 80 for REST over plain HTTP."""
    return Configuration.config_default_port(use_rest, use_ssl)


@dataclass(frozen=True)
class ConnectionSettings:
    """How to reach and log in to an ApertureDB; ``port=None`` is the transport's :func:`default_port`."""

    hostname: str
    port: int | None = None
    username: str = ""
    password: str = field(default="", repr=False)
    token: str = field(default="", repr=False)
    use_ssl: bool = True
    ca_cert: str = field(default="", repr=False)  # PEM text
    verify_hostname: bool = True
    use_rest: bool = False

    def __post_init__(self) -> None:
        if self.port is None:
            object.__setattr__(self, "port", default_port(self.use_rest, self.use_ssl))

    def fingerprint(self) -> str:
        """Identifies these settings (secrets included) without revealing them, for connection caches."""
        text = "\0".join(str(v) for v in (self.hostname, self.port, self.username, self.password, self.token,
                                          self.use_ssl, self.ca_cert, self.verify_hostname, self.use_rest))
        return hashlib.sha256(text.encode()).hexdigest()


KEY_FIELDS = ("hostname", "port", "username", "password", "token", "use_ssl", "ca_cert", "verify_hostname", "use_rest")


def settings_from_key(key: str) -> ConnectionSettings:
    """The settings an ApertureDB connection key holds, decoded by the SDK's own ``Configuration.reinflate``
    (key versions 1 and 2: host and port, TLS, REST, host name verification, the CA in version 2, a user and
    password or an API token). A key that does not decode, or holds settings that cannot work, raises
    :class:`ApertureDBError` naming ``connection_key``; no message quotes the key."""
    try:
        config = Configuration.reinflate(key.strip())
    except Exception as error:  # noqa: BLE001 - the SDK raises bare Exception, ValueError, and whatever bad JSON causes
        reason = str(error) if type(error) in (Exception, ValueError) else "it does not hold ApertureDB's settings"
        raise ApertureDBError(f"The connection key cannot be read: {reason}.", "connection_key") from None
    values = (config.host, config.username, config.password, config.token, config.ca_cert)
    if not isinstance(config.host, str) or not all(v is None or isinstance(v, str) for v in values):
        raise ApertureDBError("The connection key cannot be read: it does not hold ApertureDB's settings.",
                              "connection_key")
    settings = ConnectionSettings(
        hostname=config.host, port=config.port, username=config.username or "", password=config.password or "",
        token=config.token or "", use_ssl=config.use_ssl, ca_cert=config.ca_cert or "",
        verify_hostname=config.verify_hostname, use_rest=config.use_rest,
    )
    try:
        check_settings(settings)
    except ApertureDBError as error:
        raise ApertureDBError(f"The connection key holds settings that cannot work: {error}", "connection_key") \
            from None
    return settings


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
    if problem := host_name_problem(settings.hostname):
        raise ApertureDBError(f"The host name is not valid: {problem}.", "hostname")
    if not 0 < settings.port < 65536:
        raise ApertureDBError(f"Port {settings.port} is not a valid TCP port.", "port")
    if not settings.password and not settings.token:
        raise ApertureDBError("Give a password or a token to log in to ApertureDB.", "password")
    if settings.password and not settings.username:
        raise ApertureDBError("A password login needs a user name.", "username")
    if settings.ca_cert:
        try:
            ssl.create_default_context(cadata=normalize_pem(settings.ca_cert))
        except (ssl.SSLError, ValueError, TypeError):  # TypeError: cadata text that is not ASCII
            raise ApertureDBError(
                "The CA certificate must be PEM text (-----BEGIN CERTIFICATE----- ...) that loads.", "ca_cert"
            ) from None


def _reach(settings: ConnectionSettings, timeout: float) -> None:
    """Fail fast, with a clear message, when nothing listens at host:port (the SDK would retry silently), or
    when the operator does not allow connections there."""
    check_allowed(settings)
    try:
        with socket.create_connection((settings.hostname, settings.port), timeout=timeout):
            pass
    except socket.gaierror:
        raise ApertureDBError(f"Cannot resolve the host name {settings.hostname!r}.", "hostname") from None
    except OSError as error:
        reason = error.strerror or str(error)
        raise ApertureDBError(
            f"Cannot reach ApertureDB at {settings.hostname}:{settings.port}: {reason}.", "hostname"
        ) from None


def check_allowed(settings: ConnectionSettings) -> None:
    """Refuses a host that ``APERTUREDB_ALLOWED_HOSTS`` does not allow (a setting that cannot be read allows none)."""
    try:
        allowed = allowed_hosts()
        refusal = allowed and allowed.refusal(settings.hostname, settings.port)
    except HostError as error:
        raise ApertureDBError(f"No connection is allowed: {error}.", "hostname") from None
    if refusal:
        raise ApertureDBError(f"Connecting there is not allowed: {refusal}.", "hostname")


def open_connector(settings: ConnectionSettings) -> Connector:
    """A logged-in SDK connector (a ``ConnectorRest`` with ``use_rest``); raises :class:`ApertureDBError` naming
    the field at fault."""
    check_settings(settings)
    limits = timeouts()
    ca_file = _ca_file(settings.ca_cert) if settings.ca_cert else None
    if settings.use_rest:
        _reach(settings, limits.connect)
        connector = _RestConnector(settings, ca_file, limits)
    else:
        connector = _TimedConnector(settings, ca_file, limits)
    logging_in = True
    try:
        connector.authenticate(connector.shared_data, settings.username, settings.password, settings.token)
        logging_in = False
        connector.query([{"GetStatus": {}}])
    except Exception as error:  # the SDK raises bare Exception / AssertionError for each of these
        failure = connector.failure if settings.use_rest else None
        connector.close()
        raise _fatal(connector, error) or _explain(error, settings, logging_in, failure) from None
    connector.opening = False
    return connector


class _TimedConnector(Connector):
    """The SDK's TCP ``Connector``, whose socket waits at most ``limits.connect`` while the connection opens
    (connecting, the protocol hello, TLS, the login and first query) and ``limits.query`` for each later answer.
    A timeout closes the connection (it may hold half an answer) and raises an :class:`ApertureDBError`, which
    the SDK does not retry (it retries an ``OSError`` on the same silent server, and a write may have been
    applied); the next query connects again.

    Every connection, reconnections inside the SDK's retries included, starts with a timed :func:`_reach`:
    the SDK connects its socket with no timeout, which a silently dropping network would hold for minutes."""

    def __init__(self, settings: ConnectionSettings, ca_file: str | None, limits: Timeouts):
        self.settings, self.limits = settings, limits
        self.opening, self.connecting = True, False
        self.fatal = None  # as the REST connector's; errors here reach the caller without it
        super().__init__(
            host=settings.hostname, port=settings.port, user=settings.username, password=settings.password,
            token=settings.token, use_ssl=settings.use_ssl, ca_cert=ca_file, verify_hostname=settings.verify_hostname,
            retry_interval_seconds=RETRY_INTERVAL, retry_max_attempts=RETRY_ATTEMPTS,
        )

    def _connect(self):
        _reach(self.settings, self.limits.connect)
        reopening, self.opening, self.connecting = self.opening, True, True
        try:
            super()._connect()  # which closes the socket on any error
        except TimeoutError:
            raise _timed_out(self.settings, self.limits, opening=True) from None
        finally:
            self.opening, self.connecting = reopening, False

    def _send_msg(self, data):
        self.conn.settimeout(self.limits.connect if self.opening else self.limits.query)
        return self._timed(super()._send_msg, data)

    def _recv_msg(self):
        return self._timed(super()._recv_msg)

    def _timed(self, operation, *args):
        if self.connecting:  # the hello, which _connect times
            return operation(*args)
        try:
            return operation(*args)
        except TimeoutError:  # socket.timeout, raised by plain and TLS sockets alike
            self.close()
            raise _timed_out(self.settings, self.limits, self.opening) from None


class _RestConnector(ConnectorRest):
    """``ConnectorRest`` whose requests time out, and which keeps what went wrong while it opens: the SDK retries a
    failed request, logs why, and then raises the same bare "Could not query ApertureDB" whatever the cause.

    While ``opening`` (the login and the first query) a request waits at most ``limits.connect`` for its answer,
    ``failure`` holds the exception or the answer that was not ApertureDB's, and a retry meets that failure again
    at once: a server that does not speak ApertureDB's REST API will not start to on a second try. Later requests
    wait ``limits.query`` for their answer. A request that times out, or goes to a host no longer allowed, sets
    ``fatal``: the SDK catches every error and retries, and its retries then meet that error again at once
    instead of waiting on the same silent server."""

    def __init__(self, settings: ConnectionSettings, ca_file: str | None, limits: Timeouts):
        self.failure: requests.RequestException | requests.Response | None = None
        self.opening = True
        self.settings, self.limits = settings, limits
        self.fatal: ApertureDBError | None = None
        super().__init__(config=Configuration(
            host=settings.hostname, port=settings.port, username=settings.username, password=settings.password,
            name="ls_storage", use_ssl=settings.use_ssl, use_rest=True, retry_interval_seconds=RETRY_INTERVAL,
            retry_max_attempts=RETRY_ATTEMPTS, token=settings.token, ca_cert=ca_file,
            verify_hostname=settings.verify_hostname,
        ))

    def _init_session(self) -> None:
        super()._init_session()
        send = self.http_session.post

        def post(url, **options):
            if self.fatal is not None:
                raise self.fatal
            try:
                check_allowed(self.settings)  # requests may connect anew for any request
            except ApertureDBError as error:
                self.fatal = error
                raise
            if not self.opening:
                try:
                    return send(url, timeout=(self.limits.connect, self.limits.query), **options)
                except requests.Timeout:
                    self.fatal = _timed_out(self.settings, self.limits, opening=False)
                    raise
            if isinstance(self.failure, Exception):
                raise self.failure
            if self.failure is not None:
                return self.failure
            try:
                response = send(url, timeout=self.limits.connect, **options)
            except requests.RequestException as error:
                self.failure = error
                raise
            if not _is_rest_answer(response):
                self.failure = response
            return response

        self.http_session.post = post


def _is_rest_answer(response: requests.Response) -> bool:
    """Whether an HTTP response is an answer of ApertureDB's REST API (``{"json": ..., "blobs": [...]}``)."""
    if response.status_code != 200:
        return False
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and "json" in body and isinstance(body.get("blobs"), list)


def _explain(error: BaseException, settings: ConnectionSettings, logging_in: bool,
             rest_failure: requests.RequestException | requests.Response | None = None) -> ApertureDBError:
    if rest_failure is not None:
        return _explain_rest(rest_failure, settings)
    text = str(error)
    if "did not accept protocol" in text:
        return _tls_mismatch(settings)
    if isinstance(error, AssertionError) and "Certificate verification failed" in text or isinstance(error, ssl.SSLError):
        return _unverified_certificate()
    # The SDK gave up after its retries, or the server closed the connection instead of answering the hello.
    if "Could not query ApertureDB" in text or isinstance(error, (TypeError, struct.error)):
        return _not_aperturedb(settings, "closed the connection")
    if logging_in:  # the connection works, so the server refused the credentials
        return _login_refused(settings, text.splitlines()[0] if text else type(error).__name__)
    return ApertureDBError(f"ApertureDB failed: {text.splitlines()[0] if text else type(error).__name__}")


def _explain_rest(failure: requests.RequestException | requests.Response, settings: ConnectionSettings
                  ) -> ApertureDBError:
    """What a REST request that got no answer from ApertureDB's REST API says about the settings."""
    if isinstance(failure, requests.Response):
        status = failure.status_code
        if status in (401, 403):
            return _login_refused(settings, f"HTTP {status}")
        if status == 400 and not settings.use_ssl and "HTTPS" in failure.text:  # nginx's "plain HTTP ... HTTPS port"
            return _tls_mismatch(settings)
        return _not_aperturedb(settings, f"answered HTTP {status}" + (" with another body" if status == 200 else ""))
    if isinstance(failure, requests.exceptions.SSLError):
        if "CERTIFICATE_VERIFY_FAILED" in str(failure):
            return _unverified_certificate()
        return _tls_mismatch(settings) if _answers_plain_http(settings) else _not_aperturedb(settings, "refused TLS")
    if isinstance(failure, requests.Timeout):
        return _timed_out(settings, timeouts(), opening=True)
    if not settings.use_ssl and _completes_tls_handshake(settings):
        return _tls_mismatch(settings)
    return _not_aperturedb(settings, "closed the connection")


def _tls_mismatch(settings: ConnectionSettings) -> ApertureDBError:
    if settings.use_ssl:
        return ApertureDBError("The server does not accept TLS here; turn off 'Use TLS'.", "use_ssl")
    return ApertureDBError("The server requires TLS; turn on 'Use TLS'.", "use_ssl")


def _unverified_certificate() -> ApertureDBError:
    return ApertureDBError(
        "The server's TLS certificate could not be verified: give the CA certificate that signed it, "
        "or check the host name.", "ca_cert"
    )


def _not_aperturedb(settings: ConnectionSettings, what_happened: str) -> ApertureDBError:
    protocol = "REST API" if settings.use_rest else "protocol"
    return ApertureDBError(
        f"{settings.hostname}:{settings.port} {what_happened} instead of answering in ApertureDB's {protocol}: "
        "check the port, and the TLS and REST settings.", "port"
    )


def _login_refused(settings: ConnectionSettings, reason: str) -> ApertureDBError:
    field_name = "token" if settings.token and not settings.password else "password"
    return ApertureDBError(f"ApertureDB refused the login: {reason}", field_name)


def _answers_plain_http(settings: ConnectionSettings) -> bool:
    """Whether host:port answers an HTTP request sent without TLS."""
    try:
        with socket.create_connection((settings.hostname, settings.port), timeout=timeouts().connect) as sock:
            sock.sendall(f"HEAD /api/ HTTP/1.1\r\nHost: {settings.hostname}\r\nConnection: close\r\n\r\n".encode())
            return sock.recv(5) == b"HTTP/"
    except OSError:
        return False


def _completes_tls_handshake(settings: ConnectionSettings) -> bool:
    """Whether host:port speaks TLS (the certificate is not checked: only the protocol is in question)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    try:
        with socket.create_connection((settings.hostname, settings.port), timeout=timeouts().connect) as sock:
            with context.wrap_socket(sock, server_hostname=settings.hostname):
                return True
    except (OSError, ValueError):
        return False


def _fatal(connector: Connector, error: Exception) -> ApertureDBError | None:
    """The error that ended a query for good: ours, raised through the SDK, or kept by the REST connector."""
    return getattr(connector, "fatal", None) or (error if isinstance(error, ApertureDBError) else None)


def run_query(connector: Connector, query: list, blobs: list[bytes] | None = None) -> tuple[list, list[bytes]]:
    """Run one transaction; a failed transaction or command raises :class:`QueryFailed`."""
    try:
        answer, out_blobs = connector.query(query, blobs or [])
    except Exception as error:
        fatal = _fatal(connector, error)
        connector.fatal = None  # the next query may find the server answering again
        raise fatal or ApertureDBError(f"ApertureDB could not be queried: {error}") from None
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

"""The ApertureDB test server: sockets, TLS and sessions in front of the query engine.

Run it with ``python -m ls_storage.testing.server --port 55555 --cert-dir DIR`` or start it in-process
with :class:`TestServer`. It speaks ApertureDB's binary protocol on ``port`` and, given ``rest_port``,
its REST protocol (:mod:`.rest`) there, both in front of the same store, logins and faults. Tests can
inject faults: stop and restart (data kept), drop every open connection, delay answers, fail the next N
queries, refuse logins, stop answering after N queries (a hung server, which still accepts connections); act when
a chosen query arrives (crash there, hang there, or run any action); serve another CA's certificate.
"""

from __future__ import annotations

import argparse
import gc
import logging
import signal
import socket
import ssl
import threading
import time
from pathlib import Path
from typing import Any, Callable

import orjson

from . import rest, wire
from .auth import NOT_AUTHENTICATED, Accounts
from .certificates import CertificatePaths, ensure_certificates
from .commands import Engine, error_answer

logger = logging.getLogger(__name__)
AUTH_COMMANDS = frozenset({"Authenticate", "RefreshToken"})
SIGNAL_CHECK_SECONDS = 0.2
GC_YOUNG_THRESHOLD = 10_000  # allocations between collections of the youngest generation (Python: 700)


class _Client:
    """One client's connection; ``sock`` becomes the TLS socket once the connection is upgraded."""

    __slots__ = ("sock",)

    def __init__(self, sock: socket.socket):
        self.sock = sock


class TestServer:
    """One ApertureDB-compatible server on ``host:port``, over TLS unless ``tls=False``; with ``rest_port``
    (0: a free one) it also answers ApertureDB's REST protocol there, over HTTPS unless ``tls=False``."""

    __test__ = False  # not a pytest test class

    def __init__(self, host: str = "127.0.0.1", port: int = 0, cert_dir: str | Path | None = None,
                 tls: bool = True, username: str = "admin", password: str = "admin",
                 tokens: tuple[str, ...] = (), engine: Engine | None = None,
                 session_ttl: int = 3600, refresh_ttl: int = 86400, rest_port: int | None = None):
        if tls and cert_dir is None:
            raise ValueError("a TLS server needs cert_dir for its CA and certificate")
        self.host, self.port, self.tls = host, port, tls
        self.rest_port = rest_port  # None: no REST; the port it listens on once started
        self.username, self.password = username, password
        self.certificates: CertificatePaths | None = ensure_certificates(cert_dir) if tls else None
        self.engine = engine or Engine()
        self.accounts = Accounts(username, password, tokens, session_ttl, refresh_ttl)
        self._context: ssl.SSLContext | None = None
        if self.certificates is not None:
            self._context = _server_context(self.certificates)
        self._listeners: list[socket.socket] = []
        self._accept_threads: list[threading.Thread] = []
        self._clients: set[_Client] = set()
        self._clients_lock = threading.Lock()
        self.answer_delay = 0.0
        self._stall_in: int | None = None  # queries answered before the server hangs; None: it never does
        self._stall_lock = threading.Lock()
        self._resumed = threading.Event()
        self._resumed.set()
        self._failures_left = 0
        self._failure_lock = threading.Lock()
        self.queries_answered = 0
        self._count_lock = threading.Lock()
        self._triggers: list[tuple[Callable[[Any], bool], Callable[[], None] | None]] = []
        self._trigger_lock = threading.Lock()
        # For a process that is all server (the command line's): the store's objects refer to each other by
        # sequence number, never in cycles, so after each query what the process holds is frozen out of the
        # cyclic collector's walks (reference counting still frees it), and a write's parsed query, thousands
        # of containers freed as it ends, is seldom walked (GC_YOUNG_THRESHOLD).
        self.freeze_after_queries = False

    # ---- life cycle ---------------------------------------------------------------------------

    @property
    def ca_cert(self) -> str | None:
        return str(self.certificates.ca) if self.certificates else None

    @property
    def running(self) -> bool:
        return bool(self._listeners)

    def start(self) -> "TestServer":
        try:
            self.port = self._listen(self.port, self._serve)
            if self.rest_port is not None:
                self.rest_port = self._listen(self.rest_port, self._serve_rest)
        except OSError:
            self.stop()
            raise
        return self

    def _listen(self, port: int, serve) -> int:
        """Accept connections on ``port`` (0: a free one), each served by ``serve`` in its own thread."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, port))
        listener.listen(128)
        port = listener.getsockname()[1]
        self._listeners.append(listener)
        thread = threading.Thread(target=self._accept, args=(listener, serve), daemon=True,
                                  name=f"adb-test-accept-{port}")
        self._accept_threads.append(thread)
        thread.start()
        return port

    def stop(self) -> None:
        """Stop listening and close every connection; the data stays for a later ``start()``."""
        listeners, self._listeners = self._listeners, []
        for listener in listeners:
            try:
                listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            listener.close()
        threads, self._accept_threads = self._accept_threads, []
        for thread in threads:
            thread.join(timeout=5)
        self.resume()
        self.drop_connections()

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> "TestServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ---- faults -------------------------------------------------------------------------------

    def drop_connections(self) -> None:
        with self._clients_lock:
            clients = list(self._clients)
        for client in clients:
            try:
                client.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def fail_next_queries(self, count: int) -> None:
        """The next ``count`` queries (logins aside) are answered with an error and change nothing."""
        with self._failure_lock:
            self._failures_left = count

    def refuse_logins(self, refuse: bool = True) -> None:
        self.accounts.refuse_logins = refuse

    def delay_answers(self, seconds: float) -> None:
        self.answer_delay = seconds

    def stall_after(self, count: int) -> None:
        """Answer ``count`` more queries (logins included), then hang: connections are still accepted, but no
        protocol hello, query or REST request is answered until :meth:`resume` or :meth:`stop`."""
        with self._stall_lock:
            self._stall_in = count
            self._resumed.clear()

    def resume(self) -> None:
        with self._stall_lock:
            self._stall_in = None
            self._resumed.set()

    def _hold(self, counts: bool) -> None:
        """Wait while the server hangs; a query (``counts``) answered before then uses up one of ``stall_after``'s."""
        with self._stall_lock:
            if self._stall_in is None or self._stall_in > 0 and not counts:
                return
            if self._stall_in > 0:
                self._stall_in -= 1
                return
        self._resumed.wait()

    def when_query(self, matches: Callable[[Any], bool], action: Callable[[], None]) -> None:
        """Once: when a query arrives for which ``matches(query)`` (the parsed JSON, logins included) is true, call
        ``action()`` in the thread serving it, then answer it as usual (a ``stall_after(0)`` there hangs it)."""
        with self._trigger_lock:
            self._triggers.append((matches, action))

    def stop_on(self, matches: Callable[[Any], bool]) -> None:
        """Once: crash when a query for which ``matches(query)`` is true arrives, as a killed server would: it
        :meth:`stop`s (port closed, every connection reset) and that query is neither run nor answered."""
        with self._trigger_lock:
            self._triggers.append((matches, None))

    def use_certificates(self, cert_dir: str | Path) -> None:
        """Serve the certificate of ``cert_dir`` (made there with its own CA unless one is there) to connections
        opened from now on; :attr:`ca_cert` becomes that CA. Open connections keep the one they agreed on."""
        if self._context is None:
            raise ValueError("a server without TLS has no certificate")
        self.certificates = ensure_certificates(cert_dir)
        self._context = _server_context(self.certificates)

    def _triggered(self, query_json: str | bytes) -> bool:
        """Runs the action of the first trigger the query matches; whether the server crashed on it."""
        try:
            query = orjson.loads(query_json)
        except ValueError:
            return False
        with self._trigger_lock:
            fired = next((trigger for trigger in self._triggers if trigger[0](query)), None)
            if fired is not None:
                self._triggers.remove(fired)
        if fired is None:
            return False
        if fired[1] is not None:
            fired[1]()
            return False
        self.stop()
        return True

    def expire_sessions(self) -> None:
        self.accounts.expire_sessions()

    # ---- serving ------------------------------------------------------------------------------

    def _accept(self, listener: socket.socket, serve) -> None:
        while True:
            try:
                sock, _ = listener.accept()
            except OSError:
                return
            if listener not in self._listeners:
                sock.close()
                return
            client = _Client(sock)
            with self._clients_lock:  # before stop() can drop connections, once it has joined this thread
                self._clients.add(client)
            threading.Thread(target=self._run, args=(client, serve), daemon=True).start()

    def _run(self, client: _Client, serve) -> None:
        try:
            client.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            serve(client)
        except (wire.ConnectionClosed, OSError, ssl.SSLError, ValueError) as error:
            logger.debug("connection closed: %s", error)
        finally:
            with self._clients_lock:
                self._clients.discard(client)
            try:
                client.sock.close()
            except OSError:
                pass

    def _upgrade(self, client: _Client) -> None:
        """TLS on the client's connection, when the server has it."""
        if self._context is not None:
            client.sock = self._context.wrap_socket(client.sock, server_side=True)

    def _serve(self, client: _Client) -> None:
        """ApertureDB's binary protocol: the hello, TLS, then a frame per query and per answer."""
        version, protocol = wire.HELLO.unpack(wire.recv_frame(client.sock))
        self._hold(counts=False)
        offered = wire.PROTOCOL_TLS if self.tls else wire.PROTOCOL_TCP
        if version != wire.PROTOCOL_VERSION:
            wire.send_frame(client.sock, wire.HELLO.pack(0, 0))
            return
        wire.send_frame(client.sock, wire.HELLO.pack(wire.PROTOCOL_VERSION, offered))
        if protocol != offered:
            return
        self._upgrade(client)
        while True:
            query_json, blobs, token = wire.decode_query(wire.recv_frame(client.sock))
            wire.send_frame(client.sock, wire.encode_answer(*self.answer_query(query_json, blobs, token)))

    def _serve_rest(self, client: _Client) -> None:
        """ApertureDB's REST protocol: HTTPS (or plain HTTP), keep-alive, POST /api/."""
        self._upgrade(client)
        rest.serve_connection(client.sock, self.answer_query)

    def answer_query(self, query_json: str | bytes, blobs: list[bytes], token: str) -> tuple[Any, list[bytes]]:
        """The answer and blobs to one query, whichever protocol brought it: logins, the session check,
        injected failures, then the engine; after ``delay_answers`` seconds, and not at all while it hangs."""
        if self._triggers and self._triggered(query_json):
            raise ConnectionResetError("the test server crashed on this query (stop_on)")
        self._hold(counts=True)
        answer = self._answer(query_json, blobs, token)
        if self.answer_delay:
            time.sleep(self.answer_delay)
        return answer

    def _answer(self, query_json: str | bytes, blobs: list[bytes], token: str) -> tuple[Any, list[bytes]]:
        with self._count_lock:
            self.queries_answered += 1
        try:
            query, invalid = orjson.loads(query_json), None
        except ValueError as error:
            query, invalid = None, error_answer(f"the query is not valid JSON: {error}")
        auth_answer = self._auth_answer(query)
        if auth_answer is not None:
            return auth_answer, []
        username = self.accounts.session_user(token)
        if username is None:
            return NOT_AUTHENTICATED, []
        with self._failure_lock:
            fail = self._failures_left > 0
            if fail:
                self._failures_left -= 1
        if fail:
            return {"status": -1, "info": "Injected failure (test server fault)"}, []
        if invalid is not None:
            return invalid, []
        answer, out_blobs = self.engine.execute(query, blobs, read_only=username in self.accounts.read_only)
        if self.freeze_after_queries:
            gc.freeze()
        return answer, out_blobs

    def _auth_answer(self, query: Any):
        """The answer to an ``Authenticate`` or ``RefreshToken`` query, None for any other query."""
        if not isinstance(query, list) or not any(type(c) is dict and not AUTH_COMMANDS.isdisjoint(c) for c in query):
            return None
        if not (len(query) == 1 and len(query[0]) == 1):
            return {"status": -1, "info": "Authenticate and RefreshToken must be the only command of a query"}
        name, params = next(iter(query[0].items()))
        if name == "Authenticate":
            return self.accounts.authenticate(params)
        if name == "RefreshToken":
            return self.accounts.refresh(params)
        return None


def _server_context(certificates: CertificatePaths) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificates.certificate, certificates.key)
    return context


def main(argv: list[str] | None = None) -> None:
    from .seeding import seed_folder, seed_synthetic

    parser = argparse.ArgumentParser(prog="python -m ls_storage.testing.server", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=55555)
    parser.add_argument("--cert-dir", help="where the CA (ca.pem) and server certificate are made or reused")
    parser.add_argument("--no-tls", action="store_true", help="serve plain TCP (and plain HTTP for REST)")
    parser.add_argument("--rest-port", type=int, help="also answer ApertureDB's REST protocol (POST /api/) on this port")
    parser.add_argument("--username", default="admin")
    parser.add_argument("--password", default="admin")
    parser.add_argument("--token", action="append", default=[], help="an accepted API token (repeatable)")
    parser.add_argument("--seed", help="a folder of images, with a COCO JSON file beside them if any")
    parser.add_argument("--synthetic", type=int, default=0, help="generate N images")
    parser.add_argument("--boxes", type=int, default=0, help="bounding boxes per synthetic image")
    parser.add_argument("--random-seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not args.no_tls and not args.cert_dir:
        parser.error("--cert-dir is required unless --no-tls is given")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    server = TestServer(args.host, args.port, None if args.no_tls else args.cert_dir, tls=not args.no_tls,
                        username=args.username, password=args.password, tokens=tuple(args.token),
                        rest_port=args.rest_port)
    if args.seed:
        loaded = seed_folder(server.engine.store, Path(args.seed))
        logger.info("seeded %d images from %s", loaded, args.seed)
    if args.synthetic:
        started = time.monotonic()
        seed_synthetic(server.engine.store, args.synthetic, args.boxes, args.random_seed)
        logger.info("generated %d images with %d boxes each in %.1f s", args.synthetic, args.boxes,
                    time.monotonic() - started)
    server.freeze_after_queries = True
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    server.start()
    logger.info("ApertureDB test server listening on %s:%d (%s)%s%s", server.host, server.port,
                "TLS" if server.tls else "plain TCP",
                "" if server.rest_port is None else
                f", REST on {'https' if server.tls else 'http'}://{server.host}:{server.rest_port}{rest.API_PATH}",
                f", CA {server.ca_cert}" if server.tls else "")
    # The kernel may hand the signal to any thread, and Python runs its handler only when the main thread next
    # runs: a main thread blocked for good in wait() would never see it, so it wakes up now and then.
    while not stop.wait(SIGNAL_CHECK_SECONDS):
        pass
    server.stop()


if __name__ == "__main__":
    main()

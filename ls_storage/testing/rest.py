"""ApertureDB's REST protocol, as ``aperturedb.ConnectorRest`` speaks it: the HTTP front end of the test server.

A query is ``POST /api/`` with a ``multipart/form-data`` body: one part named ``query`` (the JSON text)
and zero or more parts named ``blobs`` (raw bytes, in order), and ``Authorization: Bearer <session
token>`` once logged in (``Authenticate`` and ``RefreshToken`` go without it). The answer is HTTP 200
with ``{"json": <answer>, "blobs": [<base64>, ...]}`` — the answer the TCP port gives, "Not
Authenticated!" included, on which the SDK refreshes its session and retries.

A request that is not such a query is refused with an HTTP error and a JSON body ``{"error": ...}``,
and reaches no query engine: 404 another path, 405 another method on ``/api/``, 413 a body over
:data:`MAX_BODY` (read and discarded), 415 a body that is not ``multipart/form-data``, 400 a malformed
multipart body, a missing or repeated ``query`` part, a part of another name or with a
Content-Transfer-Encoding, or an ``Authorization`` that is not ``Bearer <token>``. The connection then
serves the next request, except after 411 (a ``Transfer-Encoding`` body: only ``Content-Length`` is
read) and 400 for an invalid Content-Length, which close it. ``http.server`` itself answers a malformed
request line 400 and a method it has no handler for 501.

The test server owns the sockets (listening, TLS, keep-alive connections, dropping them);
:func:`serve_connection` answers the requests of one connection until the client closes it.
"""

from __future__ import annotations

import base64
import email.message
import email.parser
import logging
import socket
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any, Callable

import orjson

from . import wire

logger = logging.getLogger(__name__)

API_PATH = "/api/"
MAX_BODY = wire.MAX_MESSAGE  # the TCP port's limit on a message
DISCARD_CHUNK = 2**20  # how much of a refused body over MAX_BODY is read at a time
LINGER_SECONDS = 2.0  # how long a refused request's unread body is read off before the connection closes
PASSED_THROUGH_ENCODINGS = frozenset({"7bit", "8bit", "binary"})

# A query's JSON text, its blobs and its session token ("" without one) -> the answer and its blobs.
AnswerQuery = Callable[[bytes, list[bytes], str], tuple[Any, list[bytes]]]


class BadRequest(Exception):
    """A request the REST front end refuses: the HTTP status and what is wrong with it."""

    def __init__(self, status: HTTPStatus, message: str, headers: dict[str, str] | None = None, close: bool = False):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}
        self.close = close  # the body was not read: the connection cannot carry another request


def serve_connection(sock: socket.socket, answer_query: AnswerQuery) -> None:
    """Answer the HTTP requests of one connection (plain or already TLS) until it closes."""
    _Handler(sock, answer_query)


def parse_form(content_type: str, body: bytes) -> tuple[bytes, list[bytes]]:
    """The ``query`` part and the ``blobs`` parts (in order) of a ``multipart/form-data`` body."""
    header = email.message.Message()
    header["Content-Type"] = content_type
    boundary = header.get_boundary()
    if header.get_content_type() != "multipart/form-data":
        raise BadRequest(HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                         f"the body must be multipart/form-data (Content-Type: {content_type or 'none'})")
    if not boundary:
        raise BadRequest(HTTPStatus.BAD_REQUEST, "the multipart/form-data Content-Type has no boundary")
    # What precedes the first delimiter is a preamble, what follows the close delimiter an epilogue.
    pieces = (b"\r\n" + body).split(b"\r\n--" + boundary.encode("latin-1"))
    if len(pieces) < 2 or not pieces[-1].startswith(b"--"):
        raise BadRequest(HTTPStatus.BAD_REQUEST, "the multipart body does not end with its close delimiter")
    query, blobs = None, []
    for piece in pieces[1:-1]:
        name, content = _form_part(piece)
        if name == "blobs":
            blobs.append(content)
        elif name != "query":
            raise BadRequest(HTTPStatus.BAD_REQUEST, f"unexpected form part {name!r}: only 'query' and 'blobs'")
        elif query is not None:
            raise BadRequest(HTTPStatus.BAD_REQUEST, "more than one 'query' part")
        else:
            query = content
    if query is None:
        raise BadRequest(HTTPStatus.BAD_REQUEST, "no 'query' part in the form")
    return query, blobs


def _form_part(piece: bytes) -> tuple[str | None, bytes]:
    """The name and content of one part: what follows a delimiter, up to the next one."""
    padding, newline, rest = piece.partition(b"\r\n")
    if not newline or padding.strip(b" \t"):
        raise BadRequest(HTTPStatus.BAD_REQUEST, "a multipart delimiter is not followed by a line break")
    if rest.startswith(b"\r\n"):
        head, content = b"", rest[2:]
    else:
        head, blank, content = rest.partition(b"\r\n\r\n")
        if not blank:
            raise BadRequest(HTTPStatus.BAD_REQUEST, "a multipart part's headers do not end")
    headers = email.parser.BytesHeaderParser().parsebytes(head)
    if headers.get_content_disposition() != "form-data":
        raise BadRequest(HTTPStatus.BAD_REQUEST, "a multipart part is not 'Content-Disposition: form-data'")
    encoding = headers.get("Content-Transfer-Encoding")
    if encoding is not None and encoding.strip().lower() not in PASSED_THROUGH_ENCODINGS:
        raise BadRequest(HTTPStatus.BAD_REQUEST, f"unsupported Content-Transfer-Encoding {encoding!r}")
    return headers.get_param("name", header="content-disposition"), content


def _session_token(authorization: str | None) -> str:
    if authorization is None:
        return ""
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise BadRequest(HTTPStatus.BAD_REQUEST, "Authorization must be 'Bearer <session token>'")
    return token.strip()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: a requests.Session sends every query on one connection
    server_version = "ApertureDB-test-server"
    sys_version = ""

    def __init__(self, sock: socket.socket, answer_query: AnswerQuery):
        self.answer_query = answer_query
        super().__init__(sock, sock.getpeername(), None)  # handles the requests, then returns

    def do_any(self) -> None:
        try:
            body = self._body()
            if self.path != API_PATH:
                raise BadRequest(HTTPStatus.NOT_FOUND, f"no such path {self.path!r}: queries go to POST {API_PATH}")
            if self.command != "POST":
                raise BadRequest(HTTPStatus.METHOD_NOT_ALLOWED, f"{self.command} {API_PATH}: only POST",
                                 {"Allow": "POST"})
            query, blobs = parse_form(self.headers.get("Content-Type", ""), body)
            token = _session_token(self.headers.get("Authorization"))
        except BadRequest as refused:
            self._refuse(refused)
            return
        answer, out_blobs = self.answer_query(query, blobs, token)
        payload = orjson.dumps({"json": answer, "blobs": [base64.b64encode(blob).decode("ascii") for blob in out_blobs]})
        self._send(HTTPStatus.OK, payload)

    do_POST = do_GET = do_HEAD = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_any

    def _body(self) -> bytes:
        """The request's body, read whole so that the connection can carry the next request."""
        if "Transfer-Encoding" in self.headers:
            raise BadRequest(HTTPStatus.LENGTH_REQUIRED, "a query needs a Content-Length, not a Transfer-Encoding",
                             close=True)
        length = self.headers.get("Content-Length", "0").strip()
        if not length.isdigit():
            raise BadRequest(HTTPStatus.BAD_REQUEST, f"invalid Content-Length {length!r}", close=True)
        size = int(length)
        if size > MAX_BODY:
            while size:  # discarded, so that the client, still sending it, reads the answer
                size -= len(self._read(min(size, DISCARD_CHUNK)))
            raise BadRequest(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                             f"a body of {length} bytes is over the limit of {MAX_BODY}")
        return self._read(size)

    def _read(self, size: int) -> bytes:
        data = self.rfile.read(size)
        if len(data) < size:
            raise ConnectionError("the client closed the connection inside a request's body")
        return data

    def _refuse(self, refused: BadRequest) -> None:
        logger.info("REST request refused with %d: %s", refused.status, refused.message)
        headers = dict(refused.headers)
        if refused.close:
            self.close_connection = True
            headers["Connection"] = "close"
        self._send(refused.status, orjson.dumps({"error": refused.message}), headers)
        if refused.close:
            self._linger()

    def _linger(self) -> None:
        """Read off what the client still sends, until it closes or for LINGER_SECONDS: closing a socket with
        unread data resets the connection, and the client could lose the answer it has not read yet."""
        deadline = time.monotonic() + LINGER_SECONDS
        try:
            while (left := deadline - time.monotonic()) > 0:
                self.connection.settimeout(left)
                if not self.rfile.read1(DISCARD_CHUNK):
                    return
        except OSError:
            pass

    def _send(self, status: HTTPStatus, payload: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", "Content-Length": str(len(payload)),
                            **(headers or {})}.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def log_message(self, format: str, *args) -> None:  # http.server writes every request to stderr
        logger.debug("REST %s: " + format, self.address_string(), *args)

"""ApertureDB's wire protocol, as ``aperturedb.Connector`` speaks it.

Every message is a 4-byte native-order length and a payload. A connection opens with a plain-TCP
hello, ``struct('@II') = (version, protocol)`` (1 = TCP, 2 = TLS), answered in the same shape; with
TLS the same socket is then wrapped. Queries and answers are protobuf ``queryMessage`` payloads
(``json``, ``blobs``, ``token``).
"""

from __future__ import annotations

import os
import socket
import struct

import orjson
from google.protobuf.message import DecodeError

os.environ.setdefault("ADB_LOG_FILE", "")  # the SDK would otherwise write error.<time>.log files
from aperturedb import queryMessage  # noqa: E402  (the SDK's own generated protobuf module)

LENGTH = struct.Struct("@I")
HELLO = struct.Struct("@II")
PROTOCOL_VERSION = 1
PROTOCOL_TCP, PROTOCOL_TLS = 1, 2
MAX_MESSAGE = 2048 * 2**20
FIRST_ALLOCATION = 64 * 2**20  # a receive buffer's size at first; it doubles while more arrives


class ConnectionClosed(Exception):
    pass


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    # Into one buffer: recv(n) of a TLS socket allocates n bytes for each record it returns. The buffer grows as
    # bytes arrive, not to what the length prefix announces: a stray client (an HTTP request on this port reads
    # as a length of about 1 GB) must not make the server allocate it.
    buffer = bytearray(min(size, FIRST_ALLOCATION))
    received = 0
    while received < size:
        if received == len(buffer):
            buffer.extend(bytes(min(len(buffer), size - received)))
        with memoryview(buffer) as view, view[received:] as free:
            count = sock.recv_into(free)
        if not count:
            raise ConnectionClosed()
        received += count
    return bytes(buffer)


def recv_frame(sock: socket.socket) -> bytes:
    (size,) = LENGTH.unpack(_recv_exactly(sock, LENGTH.size))
    if size > MAX_MESSAGE:
        raise ConnectionClosed(f"message of {size} bytes is over the limit")
    return _recv_exactly(sock, size)


def send_frame(sock: socket.socket, payload: bytes) -> None:
    sock.sendall(LENGTH.pack(len(payload)) + payload)


def decode_query(payload: bytes) -> tuple[str, list[bytes], str]:
    message = queryMessage.queryMessage()
    try:
        queryMessage.ParseFromString(message, payload)
    except DecodeError:
        raise ConnectionClosed("the message is not an ApertureDB query") from None
    return message.json, list(message.blobs), message.token


def encode_answer(answer, blobs: list[bytes]) -> bytes:
    """An answer (JSON-serialisable) and its blobs as a ``queryMessage``."""
    message = queryMessage.queryMessage()
    message.json = orjson.dumps(answer).decode()
    message.blobs.extend(blobs)
    return message.SerializeToString()

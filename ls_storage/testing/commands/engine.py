"""Running a query: the command registry, the transaction and the engine.

A request is a JSON array of one-key commands plus a flat list of blobs. It runs as one atomic
transaction: the answer is an array with one object per command, or, when any command fails, the
single error object ``{"status": -1, "info": ..., "FailedCommand": ...}`` and nothing is applied.
Every command and parameter that is not supported is refused by name.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable, Iterable, NamedTuple

from ..errors import QueryError
from ..store import Link, Obj, Store

logger = logging.getLogger(__name__)
MAX_REF = 100000


class Transaction:
    """One running query: its store, its blobs, the records its ``_ref``s name, the blobs of its answer."""

    __slots__ = ("store", "blobs", "next_blob", "refs", "out_blobs")

    def __init__(self, store: Store, blobs: list[bytes]):
        self.store, self.blobs, self.next_blob = store, blobs, 0
        self.refs: dict[int, list[Obj | Link]] = {}
        self.out_blobs: list[bytes] = []

    def take_blob(self, where: str) -> bytes:
        if self.next_blob >= len(self.blobs):
            raise QueryError(f"{where}: needs a blob, but the query carries too few")
        blob = self.blobs[self.next_blob]
        self.next_blob += 1
        return blob

    def bind(self, params: dict, records: list, where: str) -> None:
        ref = params.get("_ref")
        if ref is None:
            return
        if type(ref) is not int or not 1 <= ref <= MAX_REF:  # the exact type: a boolean is not a reference
            raise QueryError(f"{where}: _ref must be an integer from 1 to {MAX_REF}")
        if ref in self.refs:
            raise QueryError(f"{where}: _ref {ref} is already used in this transaction")
        self.refs[ref] = records

    def lookup(self, ref: Any, where: str, name: str = "ref") -> list:
        records = self.refs.get(ref) if type(ref) is int else None
        if records is None:
            raise QueryError(f"{where}: {name} {ref!r}: reference does not exist")
        return records


class Command(NamedTuple):
    handler: Callable[[Transaction, dict, str], dict]
    allowed: frozenset | None  # None: the handler refuses the command whatever its parameters


COMMANDS: dict[str, Command] = {}


def command(name: str, allowed: Iterable[str] | None):
    def register(handler):
        COMMANDS[name] = Command(handler, None if allowed is None else frozenset(allowed))
        return handler
    return register


class Engine:
    """Runs transactions against one store; thread-safe."""

    def __init__(self, store: Store | None = None):
        self.store = store or Store()
        self.lock = threading.RLock()

    def execute(self, query: Any, blobs: list[bytes], read_only: bool = False) -> tuple[Any, list[bytes]]:
        """Run one transaction, ``query`` as decoded from its JSON; ``read_only``: the user's role may only read
        (Find*, GetStatus, GetSchema)."""
        if not isinstance(query, list) or not query:
            return error_answer("a query must be a non-empty JSON array of commands"), []
        with self.lock:
            transaction = Transaction(self.store, list(blobs))
            answers = []
            index = -1
            try:
                with self.store.transaction():
                    for index, item in enumerate(query):
                        name, params = command_of(item, index)
                        where = f"JSON Command {index} ({name})"
                        if read_only and not (name.startswith("Find") or name in ("GetStatus", "GetSchema")):
                            raise QueryError(f"{where}: permission denied: this user may only read")
                        handler, allowed = COMMANDS[name]
                        if allowed is not None and not allowed.issuperset(params):
                            refuse_unsupported(params, allowed, where)
                        answers.append({name: handler(transaction, params, where)})
                    if transaction.next_blob != len(transaction.blobs):
                        raise QueryError(
                            f"the query carries {len(transaction.blobs)} blobs but its commands use "
                            f"{transaction.next_blob}"
                        )
            except Exception as error:
                failed = query[index] if 0 <= index < len(query) else None
                if isinstance(error, QueryError):
                    return error_answer(str(error), error.status, failed), []
                # A bug of the test server: answer it (rolled back) rather than drop the connection, which
                # the SDK would retry and then report only as a lost connection.
                logger.exception("internal error of the test server in %s", failed)
                return error_answer(f"internal error of the test server: {error!r}", -1, failed), []
            return answers, transaction.out_blobs


def error_answer(info: str, status: int = -1, failed: Any = None) -> dict:
    answer: dict[str, Any] = {"status": status, "info": info}
    if failed is not None:
        answer["FailedCommand"] = failed
    return answer


def only_keys(given: dict, allowed: frozenset, where: str, inside: str = "") -> None:
    """Refuse by name a parameter the test server does not support (``inside``: the block it is in)."""
    if not allowed.issuperset(given):
        refuse_unsupported(given, allowed, where, inside)


def refuse_unsupported(given: dict, allowed: frozenset, where: str, inside: str = "") -> None:
    raise QueryError(f"{where}: unsupported parameter {sorted(set(given) - allowed)[0]!r}{inside}")


def command_of(item: Any, index: int) -> tuple[str, dict]:
    if type(item) is not dict or len(item) != 1:
        raise QueryError(f"JSON Command {index}: each command must be an object with exactly one key")
    ((name, params),) = item.items()
    if name not in COMMANDS:
        raise QueryError(f"JSON Command {index}: unsupported command {name!r}")
    if type(params) is not dict:
        raise QueryError(f"JSON Command {index} ({name}): parameters must be an object")
    return name, params

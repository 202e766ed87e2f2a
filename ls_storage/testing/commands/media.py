"""Images and blobs: Add, Find, Update and Delete of each."""

from __future__ import annotations

from typing import Callable

from .. import images
from ..errors import QueryError
from ..store import BLOB, IMAGE, Obj
from .engine import Transaction, command
from .finding import FIND_COMMON, find_objects
from .parameters import read_bool
from .writing import ADD_COMMON, DELETE_COMMON, UPDATE_COMMON, conditional_add, delete_objects, update_objects

# Properties the SDK's image ingestion records and its utilities read; filled from the blob when
# the client leaves them out, so that every image knows its size.
IMAGE_WIDTH, IMAGE_HEIGHT = "adb_image_width", "adb_image_height"


@command("AddImage", ADD_COMMON | {"format", "operations"})
def add_image(tx: Transaction, params: dict, where: str) -> dict:
    return conditional_add(tx, params, where, IMAGE, _make_image, takes_blob=True)


def _make_image(tx: Transaction, params: dict, where: str, props: dict, blob: bytes) -> Obj:
    width, height, stored_format = images.inspect(blob, where)
    fmt = params.get("format")
    operations = params.get("operations")
    if operations is not None:
        images.validate_operations(operations, where)
    if operations or (fmt is not None and images.check_format(fmt, where) != stored_format):
        blob = images.transform(blob, operations, fmt or stored_format, where)
        width, height, _ = images.inspect(blob, where)
    props.setdefault(IMAGE_WIDTH, width)
    props.setdefault(IMAGE_HEIGHT, height)
    return tx.store.add_object(IMAGE, props, blob=blob)


@command("AddBlob", ADD_COMMON)
def add_blob(tx: Transaction, params: dict, where: str) -> dict:
    return conditional_add(tx, params, where, BLOB, _make_blob, takes_blob=True)


def _make_blob(tx: Transaction, params: dict, where: str, props: dict, blob: bytes) -> Obj:
    return tx.store.add_object(BLOB, props, blob=blob)


def _image_blob(params: dict, where: str) -> Callable[[Obj], bytes] | None:
    if not read_bool(params, "blobs", where):
        return None
    as_format = params.get("as_format")
    if as_format is not None:
        images.check_format(as_format, where)
    operations = params.get("operations")
    if operations is not None:
        images.validate_operations(operations, where)
    return lambda image: images.transform(image.blob, operations, as_format, where)


@command("FindImage", FIND_COMMON | {"blobs", "as_format", "operations"})
def find_image(tx: Transaction, params: dict, where: str) -> dict:
    return find_objects(tx, params, where, [IMAGE], {}, _image_blob(params, where))


@command("FindBlob", FIND_COMMON | {"blobs"})
def find_blob(tx: Transaction, params: dict, where: str) -> dict:
    blob_of = (lambda obj: obj.blob) if read_bool(params, "blobs", where) else None
    return find_objects(tx, params, where, [BLOB], {}, blob_of)


@command("UpdateImage", UPDATE_COMMON | {"operations"})
def update_image(tx: Transaction, params: dict, where: str) -> dict:
    if "operations" in params:
        raise QueryError(f"{where}: operations in UpdateImage are not supported by the test server")
    return update_objects(tx, params, where, [IMAGE])


@command("UpdateBlob", UPDATE_COMMON)
def update_blob(tx: Transaction, params: dict, where: str) -> dict:
    return update_objects(tx, params, where, [BLOB])


@command("DeleteImage", DELETE_COMMON)
def delete_image(tx: Transaction, params: dict, where: str) -> dict:
    return delete_objects(tx, params, where, [IMAGE])


@command("DeleteBlob", DELETE_COMMON)
def delete_blob(tx: Transaction, params: dict, where: str) -> dict:
    return delete_objects(tx, params, where, [BLOB])

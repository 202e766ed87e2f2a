"""Hostile images in ApertureDB (decompression bombs, truncated files, images over the pixel limit) are skipped and
counted by a sync: they never crash it, never become tasks, and are never decoded."""

from __future__ import annotations

import functools
import io
import resource
import struct
import zlib

import pytest
from PIL import Image
from tasks.models import Task

from ls_storage.client.source import MAX_PIXELS, header_size

from storage_api import create_storage, sync

pytestmark = pytest.mark.django_db
BOMB_SIDE = 14_000  # 196 million grey pixels, over Pillow's limit: 196 MB decoded, some 200 KB as a PNG


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


@functools.cache
def grey_png(width: int, height: int) -> bytes:
    """A black PNG of any size, written row by row so that the test never holds its pixels."""
    compressor, row, parts = zlib.compressobj(9), b"\x00" * (width + 1), []
    for _ in range(height):
        parts.append(compressor.compress(row))
    parts.append(compressor.flush())
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", b"".join(parts))
            + png_chunk(b"IEND", b""))


def small_png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 24), (10, 20, 30)).save(out, "PNG")
    return out.getvalue()


def add_image(images, name: str, blob: bytes, size_recorded: bool = True) -> None:
    """An image with any blob; without ``size_recorded`` its ``adb_image_width`` and ``height`` are removed, as on
    images from tools that do not record them, so that a sync has to read the image's own header."""
    query = [{"AddImage": {"_ref": 1, "properties": {"ls_test": images.tag, "name": name}}}]
    if not size_recorded:
        query.append({"UpdateImage": {"ref": 1, "remove_props": ["adb_image_width", "adb_image_height"]}})
    answer, _ = images.connector.query(query, [blob])
    assert isinstance(answer, list) and all(next(iter(c.values()))["status"] == 0 for c in answer), answer


def test_a_sync_skips_and_counts_hostile_images_and_makes_tasks_of_the_rest(business_client, project, aperturedb,
                                                                         images):
    bomb = grey_png(BOMB_SIDE, BOMB_SIDE)
    whole = small_png()
    add_image(images, "fine.png", whole)
    add_image(images, "fine-size-unrecorded.png", whole, size_recorded=False)
    add_image(images, "bomb.png", bomb)
    add_image(images, "bomb-size-unrecorded.png", bomb, size_recorded=False)
    add_image(images, "truncated.png", whole[:-20], size_recorded=False)
    storage = create_storage(business_client, aperturedb, project["id"], constraints=images.constraints,
                             properties=["name"])
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    synced = sync(business_client, storage["id"])

    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before) / 1024
    assert grown_mib < 100, f"the sync's peak memory grew by {grown_mib:.0f} MiB: a bomb was decoded"
    tasks = Task.objects.filter(project_id=project["id"])
    assert sorted(task.data["name"] for task in tasks) == ["fine-size-unrecorded.png", "fine.png"]
    assert synced["status"] == "completed_with_errors", synced
    text = synced["traceback"]  # where Label Studio keeps a sync's errors, shown on the storage card
    assert synced["meta"]["tasks_failed_validation"] == 3 and text.count("was skipped") == 3, text
    assert f"{BOMB_SIDE:g} x {BOMB_SIDE:g} pixels, over the limit" in text  # its size recorded: not even read
    assert "more than the limit" in text and "cannot be decoded" in text

    again = sync(business_client, storage["id"])  # nothing new, nothing crashes, the same two tasks
    assert Task.objects.filter(project_id=project["id"]).count() == 2 and again["status"] in (
        "completed", "completed_with_errors")


@pytest.mark.parametrize("blob, words", [
    (b"", "cannot be decoded"),
    (b"not an image at all", "cannot be decoded"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "cannot be decoded"),
    (None, "more than the limit"),  # the bomb, made in the test rather than while collecting
])
def test_the_header_of_anything_gives_a_size_or_a_reason(blob, words):
    width, height, reason = header_size(blob if blob is not None else grey_png(BOMB_SIDE, BOMB_SIDE))
    assert (width, height) == (None, None) and words in reason


def test_a_whole_image_gives_its_size():
    assert header_size(small_png()) == (32, 24, None)
    assert MAX_PIXELS == 2 * Image.MAX_IMAGE_PIXELS

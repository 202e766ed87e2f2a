"""Image decoding, re-encoding and the ``operations`` of ApertureDB's image commands (Pillow)."""

from __future__ import annotations

import io
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import QueryError

FORMATS = {"jpg": "JPEG", "png": "PNG", "tif": "TIFF"}
_PIL_TO_FORMAT = {pil: name for name, pil in FORMATS.items()}


# ApertureDB decodes with OpenCV, whose limit (CV_IO_MAX_IMAGE_PIXELS) is far above Pillow's decompression bomb
# check: an image between the two is stored, and a client meets it.
MAX_PIXELS = 1 << 30


def inspect(blob: bytes, where: str) -> tuple[int, int, str]:
    """Width, height and format name of an encoded image, read from its header; refuses what is not an image."""
    try:
        with _opened(blob) as image:
            return image.width, image.height, _PIL_TO_FORMAT.get(image.format, image.format.lower())
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        raise QueryError(f"{where}: the blob is not an image ApertureDB can decode") from None


def _opened(blob: bytes) -> Image.Image:
    """The image's header read by Pillow, up to MAX_PIXELS rather than Pillow's own limit."""
    try:
        return Image.open(io.BytesIO(blob))
    except Image.DecompressionBombError:
        Image.init()
        for name in FORMATS.values():
            factory, accepts = Image.OPEN[name]
            if accepts is None or accepts(blob[:16]):
                image = factory(io.BytesIO(blob))  # the format's reader, without Image.open's pixel check
                if image.width * image.height <= MAX_PIXELS:
                    return image
        raise


def encode(image: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    if FORMATS[fmt] == "JPEG" and image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    image.save(out, FORMATS[fmt])
    return out.getvalue()


def check_format(fmt: Any, where: str) -> str:
    if fmt not in FORMATS:
        raise QueryError(f"{where}: format must be one of {sorted(FORMATS)}, not {fmt!r}")
    return fmt


def transform(blob: bytes, operations: list | None, as_format: str | None, where: str) -> bytes:
    """The blob after ``operations``, in ``as_format``; the stored bytes when neither is asked."""
    if not operations and as_format is None:
        return blob
    stored_format = inspect(blob, where)[2]
    fmt = check_format(as_format, where) if as_format is not None else stored_format
    with Image.open(io.BytesIO(blob)) as opened:
        image = opened.copy()
    for operation in operations or []:
        image = _apply(image, operation, where)
    return encode(image, fmt if fmt in FORMATS else "png")


def validate_operations(operations: Any, where: str) -> list:
    if not isinstance(operations, list) or not operations:
        raise QueryError(f"{where}: operations must be a non-empty list")
    for operation in operations:
        if not isinstance(operation, dict) or operation.get("type") not in _OPERATIONS:
            raise QueryError(f"{where}: unsupported operation {operation!r}; supported: {sorted(_OPERATIONS)}")
        allowed, required = _OPERATIONS[operation["type"]]
        unknown = set(operation) - allowed - {"type"}
        if unknown:
            raise QueryError(f"{where}: unsupported parameter {sorted(unknown)[0]!r} in {operation['type']} operation")
        missing = required - set(operation)
        if missing:
            raise QueryError(f"{where}: {operation['type']} operation needs {sorted(missing)[0]!r}")
    return operations


def _number(operation: dict, key: str, where: str) -> float:
    value = operation[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise QueryError(f"{where}: {operation['type']} {key} must be a number")
    return value


def _apply(image: Image.Image, operation: dict, where: str) -> Image.Image:
    kind = operation["type"]
    if kind == "resize":
        if "scale" in operation:
            scale = _number(operation, "scale", where)
            size = (round(image.width * scale), round(image.height * scale))
        elif "width" in operation and "height" in operation:
            size = (int(_number(operation, "width", where)), int(_number(operation, "height", where)))
        elif "width" in operation:
            width = int(_number(operation, "width", where))
            size = (width, round(image.height * width / image.width))
        elif "height" in operation:
            height = int(_number(operation, "height", where))
            size = (round(image.width * height / image.height), height)
        else:
            raise QueryError(f"{where}: resize needs width, height or scale")
        if size[0] <= 0 or size[1] <= 0:
            raise QueryError(f"{where}: resize to an empty image")
        return image.resize(size)
    if kind == "crop":
        x, y, w, h = (int(_number(operation, k, where)) for k in ("x", "y", "width", "height"))
        if x < 0 or y < 0 or w <= 0 or h <= 0 or x + w > image.width or y + h > image.height:
            raise QueryError(f"{where}: crop rectangle is outside the image")
        return image.crop((x, y, x + w, y + h))
    if kind == "flip":
        code = int(_number(operation, "code", where))
        if code == 0:
            return ImageOps.flip(image)
        if code > 0:
            return ImageOps.mirror(image)
        return ImageOps.flip(ImageOps.mirror(image))
    if kind == "rotate":
        # ApertureDB rotates clockwise for positive angles; Pillow counter-clockwise.
        return image.rotate(-_number(operation, "angle", where), expand=bool(operation["resize"]))
    # threshold: pixels below the value become 0
    value = _number(operation, "value", where)
    return image.point(lambda p: p if p >= value else 0)


_OPERATIONS: dict[str, tuple[set, set]] = {
    "resize": ({"width", "height", "scale"}, set()),
    "crop": ({"x", "y", "width", "height"}, {"x", "y", "width", "height"}),
    "flip": ({"code"}, {"code"}),
    "rotate": ({"angle", "resize"}, {"angle", "resize"}),
    "threshold": ({"value"}, {"value"}),
}

"""A training-ready dataset out of ApertureDB: ``python -m ls_storage.dump --format coco|media-items``.

Reads images (chosen by constraints and, as a source storage does, the datasets they are connected to) page by page
in ``_uniqueid`` order with the Label Studio annotations a target storage wrote (``LS_annotation`` and its boxes and
polygons, of one project or label version if asked), optionally the boxes and polygons ApertureDB held before, and
writes COCO or media-items JSON image by image (:mod:`.formats`). Talks to ApertureDB through
:mod:`ls_storage.client` only; no Django.
"""

import os

from .cli import dump, main
from .reading import DumpSelection

SCHEMA_FILE = os.path.join(os.path.dirname(__file__), "media_items.schema.json")

__all__ = ["DumpSelection", "SCHEMA_FILE", "dump", "main"]

"""Object types the test server cannot hold: videos, clips, frames, descriptor sets and descriptors.

It answers what a real ApertureDB holding none of them answers — a Find matches nothing (count 0), an
Update or Delete changes nothing (count 0) — so that the SDK's housekeeping helpers (``Utils.summary()``,
``remove_all_objects()``, the ``count_*`` helpers) work; parameters are still checked, constraints compiled.
Adding one is refused with an error that says so.
"""

from __future__ import annotations

from ..errors import QueryError
from .engine import Transaction, command
from .finding import FIND_COMMON, find_objects
from .writing import DELETE_COMMON, UPDATE_COMMON, delete_objects, update_objects

MEDIA_FIND = FIND_COMMON | {"blobs", "as_format", "operations"}
# Per type: its class name, and the parameters its Find and Delete take besides the common ones.
UNSTORED = {
    "Video": ("_Video", MEDIA_FIND, set()),
    "Clip": ("_Clip", MEDIA_FIND | {"video_ref", "frame_number_range", "time_offset_range", "time_fraction_range"},
             set()),
    "Frame": ("_Frame", MEDIA_FIND | {"video_ref", "frame_number", "time_offset", "time_fraction"}, set()),
    "DescriptorSet": ("_DescriptorSet", FIND_COMMON | {"with_name", "engines", "metrics", "dimensions", "counts"},
                      {"with_name"}),
    "Descriptor": ("_Descriptor", FIND_COMMON | {"set", "blobs", "distances", "labels", "indexes"}, set()),
}


def _register(kind: str, cls: str, find_keys: set, delete_keys: set) -> None:
    @command(f"Add{kind}", None)
    def add(tx: Transaction, params: dict, where: str) -> dict:
        raise QueryError(f"{where}: the test server stores no {kind} objects; Add{kind} is not supported")

    @command(f"Find{kind}", find_keys)
    def find(tx: Transaction, params: dict, where: str) -> dict:
        return find_objects(tx, params, where, [cls], {})

    @command(f"Update{kind}", UPDATE_COMMON)
    def update(tx: Transaction, params: dict, where: str) -> dict:
        return update_objects(tx, params, where, [cls])

    @command(f"Delete{kind}", DELETE_COMMON | delete_keys)
    def delete(tx: Transaction, params: dict, where: str) -> dict:
        if "with_name" in params and "constraints" not in params and "ref" not in params:
            return {"status": 0, "count": 0}  # a descriptor set named so: none exists
        return delete_objects(tx, params, where, [cls])


for _kind, (_cls, _find_keys, _delete_keys) in UNSTORED.items():
    _register(_kind, _cls, _find_keys, _delete_keys)

"""Videos, clips, frames, descriptor sets and descriptors, which the test server cannot hold: it answers as a
server holding none of them, so that the SDK's housekeeping works, and refuses to add them."""

from __future__ import annotations

import pytest
from aperturedb.Constraints import predicate

KINDS = ["Video", "Clip", "Frame", "DescriptorSet", "Descriptor"]


@pytest.mark.parametrize("kind", KINDS)
def test_finds_count_nothing_and_deletes_and_updates_change_nothing(test_server_adb, kind, make_image):
    test_server_adb.run([{"AddImage": {"properties": {"kept": True}}}], [make_image(4, 4)])
    everything = {"constraints": predicate("_uniqueid", "!=", "0.0.0")}
    find, update, delete = test_server_adb.run([
        {f"Find{kind}": {**everything, "results": {"count": True}}},
        {f"Update{kind}": {**everything, "properties": {"x": 1}}},
        {f"Delete{kind}": everything},
    ])[0]
    assert (find["count"], find["returned"], update["count"], delete["count"]) == (0, 0, 0, 0)
    assert test_server_adb.one({"FindImage": {"constraints": {"kept": ["==", True]}, "results": {"count": True}}})["count"] == 1


@pytest.mark.parametrize("kind", KINDS)
def test_adding_one_is_refused_saying_so(test_server_adb, kind):
    error = test_server_adb.fail([{f"Add{kind}": {"properties": {"a": 1}}}])
    assert f"stores no {kind} objects" in error["info"]


def test_their_parameters_are_still_checked(test_server_adb):
    error = test_server_adb.fail([{"FindVideo": {"constraints": ["$n", "like", 1]}}])
    assert "unknown operator" in error["info"]
    error = test_server_adb.fail([{"FindDescriptor": {"k_neighbors": 3}}])
    assert "k_neighbors" in error["info"]

"""Blobs: stored byte-exact, found with properties, updated and deleted."""

from __future__ import annotations

import os


def test_blobs_come_back_byte_exact(adb, run):
    payloads = [os.urandom(1000), b"", bytes(range(256)) * 40]
    answer, _ = adb.query([{"AddBlob": {"properties": {"run": run, "n": n}}} for n in range(3)], payloads)
    assert answer == [{"AddBlob": {"status": 0}}] * 3
    [found], blobs = adb.run([{"FindBlob": {"constraints": {"run": ["==", run]}, "blobs": True, "sort": "n",
                                            "results": {"list": ["n"]}}}])
    assert found["returned"] == 3 and [e["_blob_index"] for e in found["entities"]] == [0, 1, 2]
    assert blobs == payloads


def test_large_blob_round_trips(adb, run):
    payload = os.urandom(8 * 2**20)
    adb.one({"AddBlob": {"properties": {"run": run}}}, [payload])
    _, blobs = adb.run([{"FindBlob": {"constraints": {"run": ["==", run]}, "blobs": True}}])
    assert blobs == [payload]


def test_find_blob_without_blobs_returns_properties_only(adb, run):
    adb.one({"AddBlob": {"properties": {"run": run, "kind": "notes"}}}, [b"abc"])
    [found], blobs = adb.run([{"FindBlob": {"constraints": {"run": ["==", run]}, "results": {"list": ["kind"]}}}])
    assert found["entities"] == [{"kind": "notes"}] and blobs == []


def test_update_blob_properties(adb, run):
    adb.one({"AddBlob": {"properties": {"run": run, "v": 1}}}, [b"abc"])
    assert adb.one({"UpdateBlob": {"constraints": {"run": ["==", run]}, "properties": {"v": 2}}})["count"] == 1
    found = adb.entities("FindBlob", {"constraints": {"run": ["==", run]}, "results": {"list": ["v"]}})
    assert found == [{"v": 2}]


def test_delete_blob(adb, run):
    adb.run([{"AddBlob": {"properties": {"run": run, "n": n}}} for n in range(2)], [b"0", b"1"])
    assert adb.one({"DeleteBlob": {"constraints": {"run": ["==", run], "n": ["==", 0]}}}) == {"status": 0, "count": 1}
    _, blobs = adb.run([{"FindBlob": {"constraints": {"run": ["==", run]}, "blobs": True}}])
    assert blobs == [b"1"]


def test_blob_connected_to_an_entity(adb, run, entity_class):
    adb.run([
        {"AddEntity": {"_ref": 1, "class": entity_class}},
        {"AddBlob": {"properties": {"run": run}, "connect": {"ref": 1, "class": f"has_{run}", "direction": "out"}}},
    ], [b"payload"])
    _, blobs = adb.run([
        {"FindEntity": {"_ref": 1, "with_class": entity_class}},
        {"FindBlob": {"is_connected_to": {"ref": 1}, "blobs": True}},
    ])
    assert blobs == [b"payload"]


def test_blob_if_not_found(adb, run):
    add = {"AddBlob": {"properties": {"run": run}, "if_not_found": {"run": ["==", run]}}}
    assert adb.query([add], [b"first"])[0] == [{"AddBlob": {"status": 0}}]
    assert adb.query([add], [b"second"])[0] == [{"AddBlob": {"status": 2, "info": "Object Exists!"}}]
    _, blobs = adb.run([{"FindBlob": {"constraints": {"run": ["==", run]}, "blobs": True}}])
    assert blobs == [b"first"]

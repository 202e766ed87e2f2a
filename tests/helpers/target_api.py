"""Helpers for target-storage tests: synced tasks, annotations through the REST API, reading ApertureDB back."""

from __future__ import annotations

import json

from storage_api import create_storage, storage_body, sync


def synced_tasks(client, address, images, project_id: int, count: int = 1, size=(200, 100)) -> list[int]:
    """``count`` images in ApertureDB, synced into tasks; returns the task ids in image order."""
    from tasks.models import Task

    uniqueids = [images.add(f"{i}.png", *size) for i in range(count)]
    storage = create_storage(client, address, project_id, constraints=images.constraints)
    sync(client, storage["id"])
    by_uri = {task.data["img"]: task.id for task in Task.objects.filter(project_id=project_id)}
    return [by_uri[f"aperturedb://{storage['id']}/{uniqueid}"] for uniqueid in uniqueids]


def create_target(client, address, project_id: int, **fields) -> dict:
    response = client.post("/api/storages/export/aperturedb", data=storage_body(address, project_id, **fields),
                           content_type="application/json")
    assert response.status_code == 201, response.content
    return response.json()


def box(region_id: str, x: float, y: float, w: float, h: float, labels=("cat",), rotation: float = 0.0) -> dict:
    return {"id": region_id, "from_name": "box", "to_name": "photo", "type": "rectanglelabels",
            "original_width": 200, "original_height": 100, "image_rotation": 0,
            "value": {"x": x, "y": y, "width": w, "height": h, "rotation": rotation, "rectanglelabels": list(labels)}}


def polygon(region_id: str, points, labels=("dog",)) -> dict:
    return {"id": region_id, "from_name": "outline", "to_name": "photo", "type": "polygonlabels",
            "original_width": 200, "original_height": 100, "image_rotation": 0,
            "value": {"points": points, "polygonlabels": list(labels), "closed": True}}


def stored_annotation(connector, annotation_id: int) -> dict | None:
    """The LS_annotation entity and its regions as ApertureDB holds them."""
    answer, _ = connector.query([
        {"FindEntity": {"_ref": 1, "with_class": "LS_annotation", "constraints": {"LS_id": ["==", annotation_id]},
                        "results": {"all_properties": True}}},
        {"FindBoundingBox": {"is_connected_to": {"ref": 1, "connection_class": "LS_annotation_region"},
                             "coordinates": True, "labels": True, "results": {"all_properties": True}}},
        {"FindPolygon": {"is_connected_to": {"ref": 1, "connection_class": "LS_annotation_region"},
                         "vertices": True, "labels": True, "results": {"all_properties": True}}},
        {"FindEntity": {"with_class": "LS_region", "is_connected_to": {"ref": 1, "connection_class": "LS_annotation_region"},
                        "results": {"all_properties": True}}},
        {"FindImage": {"is_connected_to": {"ref": 1, "connection_class": "LS_annotation_image"}, "uniqueids": True}},
    ])
    assert isinstance(answer, list), answer
    entities = answer[0]["FindEntity"].get("entities") or []
    if not entities:
        return None
    assert len(entities) == 1, entities
    return {
        "entity": entities[0],
        "boxes": {b["LS_id"]: b for b in answer[1]["FindBoundingBox"].get("entities") or []},
        "polygons": {p["LS_id"]: p for p in answer[2]["FindPolygon"].get("entities") or []},
        "regions": {r["LS_id"]: r for r in answer[3]["FindEntity"].get("entities") or []},
        "images": [i["_uniqueid"] for i in answer[4]["FindImage"].get("entities") or []],
        "data": json.loads(entities[0]["LS_data"]) if "LS_data" in entities[0] else None,
    }

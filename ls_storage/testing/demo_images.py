"""Sample images for the demo: coloured shapes on a plain background, with a COCO file describing them.

Each shape has a box around it and, for triangles, a polygon on its corners, labelled with its kind,
so that predictions synced from the test server visibly match the pictures. Each image carries typed
metadata (``split``, ``camera``, ``weather``, ``date_captured``, ``temperature``) and belongs to one of two
datasets, listed in the COCO file's ``datasets`` (see :func:`ls_storage.testing.seeding.coco_datasets`).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from PIL import Image, ImageDraw

CATEGORIES = ["circle", "square", "triangle"]
COLOURS = [(220, 60, 60), (60, 160, 80), (60, 90, 220), (230, 170, 40), (150, 70, 200)]
CAMERAS = ["cam-north", "cam-south"]
WEATHER = ["sunny", "cloudy", "rain"]
DATASETS = ["batch-1", "batch-2"]


def write_demo_images(folder: Path, count: int = 24, seed: int = 0) -> Path:
    """Write ``count`` PNG images and ``coco.json`` into ``folder``; returns the folder."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    coco = {"images": [], "annotations": [], "categories": [{"id": i + 1, "name": n} for i, n in enumerate(CATEGORIES)],
            "datasets": [{"name": name, "image_ids": []} for name in DATASETS]}
    for index in range(count):
        width, height = rng.choice([(640, 480), (800, 600), (480, 640)])
        image = Image.new("RGB", (width, height), (245, 245, 240))
        draw = ImageDraw.Draw(image)
        file_name = f"shapes_{index:03d}.png"
        coco["images"].append({
            "id": index + 1, "file_name": file_name, "width": width, "height": height,
            "split": "val" if index % 5 == 0 else "train", "camera": CAMERAS[index % 2],
            "weather": rng.choice(WEATHER), "temperature": round(rng.uniform(-5, 30), 1),
            "date_captured": f"2024-05-{1 + index % 28:02d}T{8 + index % 10:02d}:30:00+00:00",
        })
        coco["datasets"][index * len(DATASETS) // count]["image_ids"].append(index + 1)
        for _ in range(rng.randint(1, 3)):
            kind = rng.randrange(len(CATEGORIES))
            size = rng.randint(60, 180)
            x, y = rng.randint(0, width - size), rng.randint(0, height - size)
            colour = rng.choice(COLOURS)
            annotation = {"id": len(coco["annotations"]) + 1, "image_id": index + 1, "category_id": kind + 1,
                          "bbox": [x, y, size, size]}
            if CATEGORIES[kind] == "circle":
                draw.ellipse([x, y, x + size, y + size], fill=colour)
            elif CATEGORIES[kind] == "square":
                draw.rectangle([x, y, x + size, y + size], fill=colour)
            else:
                corners = [(x + size / 2, y), (x + size, y + size), (x, y + size)]
                draw.polygon(corners, fill=colour)
                annotation["segmentation"] = [[v for corner in corners for v in corner]]
            coco["annotations"].append(annotation)
        image.save(folder / file_name)
    (folder / "coco.json").write_text(json.dumps(coco, indent=1))
    return folder


if __name__ == "__main__":
    import sys

    print(write_demo_images(Path(sys.argv[1])))

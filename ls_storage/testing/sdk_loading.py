"""Loading a folder of images with COCO annotations into any ApertureDB the way ApertureDB's guide does it:
CSV files read by the SDK's own loaders (``ImageDataCSV``, ``BBoxDataCSV``, ``PolygonDataCSV``) and run
through ``ParallelLoader``. No Django; the connector may reach a test server or a real ApertureDB.

Each image carries the COCO image entry's plain values (its ``id``, ``file_name``, ...), ``dataset``
(the tag given) and ``coco_image`` = ``"{dataset}:{COCO image id}"``; each box and polygon carries
``dataset`` and ``coco_annotation`` = ``"{dataset}:{COCO annotation id}"``. Those keys are the loaders'
``constraint_`` columns, so loading again adds nothing (the loaders index them first), and distinct tags
keep datasets apart in a shared ApertureDB. ``BBoxDataCSV`` stores whole pixels (it applies ``int`` to each coordinate);
polygons keep their float vertices. COCO's ``date_captured`` becomes a date when every image has one (the SDK
turns an empty date cell into ``{"_date": NaN}``, which is not JSON). The COCO file's ``datasets`` (see
:func:`~ls_storage.testing.seeding.coco_datasets`) become ``Dataset`` entities named ``"{tag}/{name}"``
(``EntityDataCSV``), connected to their images by ``DatasetImage`` connections (``ConnectionDataCSV``).

    python -m ls_storage.testing.sdk_loading FOLDER [--dataset TAG] [--csv-dir DIR]

loads into the ApertureDB named by the ``APERTUREDB_*`` environment variables.
"""

from __future__ import annotations

import argparse
import csv
import json
from dataclasses import dataclass
from pathlib import Path

from .seeding import coco_datasets, read_coco_folder

DATASET, IMAGE_KEY, REGION_KEY = "dataset", "coco_image", "coco_annotation"
CONSTRAINT = "constraint_"  # the SDK's CSV prefix of a column that becomes ``if_not_found``
DATE = "date:"  # the SDK's CSV prefix of a date column
DATE_CAPTURED = "date_captured"
DATASET_CLASS, DATASET_LINK = "Dataset", "DatasetImage"


@dataclass(frozen=True)
class Loaded:
    """The rows of one CSV file, and how many went in: added an object, or found theirs there (status 2)."""

    rows: int
    succeeded: int
    existed: int

    @property
    def added(self) -> int:
        return self.succeeded - self.existed


def write_csvs(folder: Path, csv_dir: Path, dataset: str) -> dict[str, Path]:
    """Write the loaders' CSV files for the images and COCO annotations of ``folder``; kinds without rows
    get no file. Returns ``{"images"|"boxes"|"polygons"|"datasets"|"dataset_images": path}`` in the order they
    must be loaded."""
    rows: dict[str, list[dict]] = {"images": [], "boxes": [], "polygons": []}
    for path, props, regions in read_coco_folder(folder):
        image_key = f"{dataset}:{props.get('id', path.name)}"
        rows["images"].append({"filename": str(path.resolve()), **props, DATASET: dataset, IMAGE_KEY: image_key,
                               CONSTRAINT + IMAGE_KEY: image_key})
        for number, region in enumerate(regions):
            key = f"{dataset}:{region.annotation_id}" if region.annotation_id is not None else f"{image_key}#{number}"
            # more than ``_label``: BBoxDataCSV sends ``_label`` as a property when it is a box's only one
            region_columns = {DATASET: dataset, REGION_KEY: key, CONSTRAINT + REGION_KEY: key,
                              "_label": region.label}
            if region.box is not None:
                rows["boxes"].append({IMAGE_KEY: image_key, **dict(zip(("x_pos", "y_pos", "width", "height"),
                                                                       region.box)), **region_columns})
            if region.polygons:
                rows["polygons"].append({IMAGE_KEY: image_key, **region_columns,
                                         "polygons": json.dumps(region.polygons)})
    if rows["images"] and all(row.get(DATE_CAPTURED) for row in rows["images"]):
        for row in rows["images"]:
            row[DATE + DATE_CAPTURED] = row.pop(DATE_CAPTURED)
    image_keys = {row.get("id"): row[IMAGE_KEY] for row in rows["images"]}
    for name, image_ids in coco_datasets(folder).items():
        entity = f"{dataset}/{name}"
        rows.setdefault("datasets", []).append({"EntityClass": DATASET_CLASS, "name": entity, DATASET: dataset,
                                                CONSTRAINT + "name": entity})
        for image_id in image_ids:
            link = f"{entity}:{image_keys[image_id]}"
            rows.setdefault("dataset_images", []).append({
                "ConnectionClass": DATASET_LINK, f"{DATASET_CLASS}@name": entity,
                f"_Image@{IMAGE_KEY}": image_keys[image_id], "key": link, CONSTRAINT + "key": link})
    csv_dir.mkdir(parents=True, exist_ok=True)
    files = {}
    for kind, kind_rows in rows.items():
        if kind_rows:
            files[kind] = csv_dir / f"{dataset}_{kind}.csv"
            with files[kind].open("w", newline="") as out:
                writer = csv.DictWriter(out, fieldnames=list(dict.fromkeys(k for row in kind_rows for k in row)))
                writer.writeheader()
                writer.writerows(kind_rows)
    return files


def load_csvs(connector, files: dict[str, Path], batchsize: int = 16, numthreads: int = 4) -> dict[str, Loaded]:
    """Ingest each CSV file with its SDK loader through ``ParallelLoader``, images first (boxes and polygons
    find their image by ``coco_image``). Raises ``RuntimeError`` when rows were neither added nor found."""
    from aperturedb.BBoxDataCSV import BBoxDataCSV
    from aperturedb.ConnectionDataCSV import ConnectionDataCSV
    from aperturedb.EntityDataCSV import EntityDataCSV
    from aperturedb.ImageDataCSV import ImageDataCSV
    from aperturedb.ParallelLoader import ParallelLoader
    from aperturedb.PolygonDataCSV import PolygonDataCSV

    readers = {"images": ImageDataCSV, "boxes": BBoxDataCSV, "polygons": PolygonDataCSV, "datasets": EntityDataCSV,
               "dataset_images": ConnectionDataCSV}
    loaded = {}
    for kind, path in files.items():
        data = readers[kind](str(path))
        loader = ParallelLoader(connector)
        loader.ingest(data, batchsize=batchsize, numthreads=numthreads)
        loaded[kind] = Loaded(len(data), loader.get_succeeded_queries(), loader.get_objects_existed())
        if loaded[kind].succeeded != len(data):
            raise RuntimeError(f"{path}: {loaded[kind]}; the SDK logged the failed queries and their answers")
    return loaded


def load_coco_folder(connector, folder: Path, csv_dir: Path, dataset: str = "coco", **ingest) -> dict[str, Loaded]:
    """Write the CSV files of ``folder`` into ``csv_dir`` and load them; see :func:`load_csvs`."""
    return load_csvs(connector, write_csvs(folder, csv_dir, dataset), **ingest)


def main(argv: list[str] | None = None) -> None:
    from .fixtures import address_from_environment

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--dataset", default="coco", help="tag of the images and key prefix (default: coco)")
    parser.add_argument("--csv-dir", type=Path, help="where the CSV files go (default: FOLDER/csv)")
    args = parser.parse_args(argv)
    address = address_from_environment()
    if address is None:
        parser.error("APERTUREDB_HOST is not set")
    connector = address.connector()
    loaded = load_coco_folder(connector, args.folder, args.csv_dir or args.folder / "csv", args.dataset)
    print("Loaded with the SDK's loaders: " + ", ".join(
        f"{counts.rows} {kind} ({counts.added} added, {counts.existed} already there)"
        for kind, counts in loaded.items()))


if __name__ == "__main__":
    main()

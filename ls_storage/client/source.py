"""Reading images, their properties, boxes and polygons from ApertureDB, a page at a time.

Pages follow ``_uniqueid`` order (``sort`` + ``limit`` + ``offset``), never an unsorted offset, so a
sync sees every image once. Each page is one transaction: the images, then the boxes and polygons
of exactly those images, grouped by image.

What changed since a sync is found through ``_create_txn``, the transaction that created an object:
images and regions created after the last transaction a sync saw are new. ApertureDB records no
update or deletion stamp, so deletions show only in counts and updates only by reading everything.
"""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from dataclasses import astuple, dataclass, field, replace
from typing import Callable, Generator, Iterator, TypeVar

from PIL import Image

from ls_storage.conversion.predictions import PredictionProperties

from .connection import run_query
from .constraints import Constraints, mentions, with_conditions
from .schema import IMAGE, read_schema
from .target import StoredAnnotation, parse_annotations, read_annotations_commands

PAGE_SIZE = 1000
WIDTH, HEIGHT = "adb_image_width", "adb_image_height"
CREATED = "_create_txn"
ANNOTATION_ID = "LS_annotation_id"  # on regions a target storage wrote: annotations, not predictions
REGION_PROPERTIES = ["rotation", "score", "model_version", ANNOTATION_ID, CREATED]
ALL_PROPERTIES = "*"  # as the only property name: every property the images have
DATASET_REF = 100  # the first ref of the Finds of ``connected_to``'s entities, clear of every query's own refs
# Pillow's limit for a decompression bomb: a larger image is skipped, neither opened by a sync nor sent to be labeled.
MAX_PIXELS = 2 * Image.MAX_IMAGE_PIXELS
CONTENT_TYPES = [
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"GIF8", "image/gif"),
    (b"BM", "image/bmp"),
]


@dataclass
class ImageRecord:
    uniqueid: str
    width: float | None
    height: float | None
    properties: dict
    boxes: list[dict] = field(default_factory=list)
    polygons: list[dict] = field(default_factory=list)
    error: str | None = None  # why this image cannot become a task
    annotations: list[StoredAnnotation] = field(default_factory=list)
    created: int | None = None  # the latest _create_txn of the image and its regions; None if not told


@dataclass(frozen=True)
class ImageSelection:
    """Which images a source storage takes, and what comes with them."""

    constraints: Constraints | None = None
    properties: tuple[str, ...] = ()
    with_regions: bool = True
    region_constraints: Constraints | None = None
    limit: int | None = None
    with_annotations: bool = False  # Label Studio annotations stored in ApertureDB (LS_annotation)
    created_after: int | None = None  # only images created after this transaction
    uniqueids: tuple[str, ...] | None = None  # only these images
    annotations_label_version: str | None = None  # only the annotations of this LS_label_version
    annotation_conditions: dict | None = None  # and only those meeting these, {property: [op, value]}
    prediction_properties: PredictionProperties = PredictionProperties()  # read from regions besides REGION_PROPERTIES
    # Only images connected to an entity one of these selects (``client.constraints.parse_connected_to``): datasets.
    connected_to: tuple[dict, ...] = ()

    @property
    def tracks_changes(self) -> bool:
        """Whether a later sync can ask only for what is new: not with a limit (which images fall under it
        depends on all of them), nor when the constraints already speak of ``_create_txn``."""
        return self.limit is None and not mentions(self.constraints, CREATED) \
            and not mentions(self.region_constraints, CREATED)

    def image_constraints(self) -> Constraints:
        conditions = {}
        if self.created_after is not None:
            conditions[CREATED] = [">", self.created_after]
        if self.uniqueids is not None:
            conditions["_uniqueid"] = ["in", list(self.uniqueids)]
        return with_conditions(self.constraints, conditions)


def _connected(selection: ImageSelection, since: int | None = None) -> tuple[list, dict | None]:
    """The Finds of the entities the images must be connected to (``connected_to``, refs from DATASET_REF on), and
    the ``is_connected_to`` that says so; with ``since``, through connections created after that transaction."""
    finds, links = [], []
    for ref, spec in enumerate(selection.connected_to, DATASET_REF):
        finds.append({"FindEntity": _with_constraints({"_ref": ref, "with_class": spec["class"]},
                                                      spec.get("constraints"))})
        link = {"ref": ref, "direction": spec.get("direction", "any")}
        if spec.get("connection_class"):
            link["connection_class"] = spec["connection_class"]
        if since is not None:
            link["constraints"] = {CREATED: [">", since]}
        links.append(link)
    if not links:
        return [], None
    return finds, links[0] if len(links) == 1 else {"any": links}


def _narrowed(find_image: dict, connected: dict | None) -> dict:
    """A FindImage narrowed to the images that are also ``connected`` (None: as it is)."""
    if connected is None:
        return find_image
    if "is_connected_to" in find_image:
        connected = {"all": [find_image["is_connected_to"], connected]}
    return {**find_image, "is_connected_to": connected}


def _run_selected(connector, selection: ImageSelection, build: Callable[[dict | None], list],
                  since: int | None = None) -> list:
    """Runs the Finds of ``connected_to``'s entities, then ``build(is_connected_to)``: the query, its FindImages
    narrowed by that condition (None without ``connected_to``); the answers of that query alone."""
    finds, connected = _connected(selection, since)
    answer, _ = run_query(connector, finds + build(connected))
    return answer[len(finds):]


def _page_query(selection: ImageSelection, offset: int, size: int, connected: dict | None = None) -> list:
    find_image: dict = {
        "_ref": 1,
        "sort": "_uniqueid",
        "offset": offset,
        "limit": size,
        "results": {"list": sorted({"_uniqueid", WIDTH, HEIGHT, CREATED, *selection.properties})},
    }
    query: list = [{"FindImage": _narrowed(_with_constraints(find_image, selection.image_constraints()), connected)}]
    if selection.with_regions:
        common = {"image_ref": 1, "group_by_source": True, "labels": True, "uniqueids": True,
                  "results": {"list": sorted({*REGION_PROPERTIES, *astuple(selection.prediction_properties)})}}
        if selection.region_constraints:
            common["constraints"] = selection.region_constraints
        query.append({"FindBoundingBox": {**common, "coordinates": True}})
        query.append({"FindPolygon": {**common, "vertices": True}})
    if selection.with_annotations:
        annotations = read_annotations_commands(image_ref=1, annotation_ref=2,
                                                label_version=selection.annotations_label_version)
        if selection.annotation_conditions:
            find = annotations[0]["FindEntity"]
            find["constraints"] = with_conditions(find.get("constraints"), selection.annotation_conditions)
        query.extend(annotations)
    return query


def iter_image_pages(connector, selection: ImageSelection, page_size: int = PAGE_SIZE) -> Iterator[list[ImageRecord]]:
    if ALL_PROPERTIES in selection.properties:
        selection = replace(selection, properties=image_property_names(connector))
    offset = 0
    while selection.limit is None or offset < selection.limit:
        size = page_size if selection.limit is None else min(page_size, selection.limit - offset)
        answer = _run_selected(connector, selection, lambda connected: _page_query(
            selection, offset, size, connected))
        entities = answer[0]["FindImage"].get("entities") or []
        if not entities:
            return
        records = [
            ImageRecord(
                uniqueid=entity["_uniqueid"],
                width=entity.get(WIDTH),
                height=entity.get(HEIGHT),
                properties={name: task_value(entity.get(name)) for name in selection.properties},
                created=entity.get(CREATED),
            )
            for entity in entities
        ]
        if selection.with_regions:
            boxes = answer[1]["FindBoundingBox"].get("entities") or {}
            polygons = answer[2]["FindPolygon"].get("entities") or {}
            for record in records:
                own_boxes, own_polygons = boxes.get(record.uniqueid, []), polygons.get(record.uniqueid, [])
                record.created = latest_created([record.created] + [r.get(CREATED) for r in own_boxes + own_polygons])
                record.boxes, record.polygons = _predicted(own_boxes), _predicted(own_polygons)
        if selection.with_annotations:
            stored = parse_annotations(answer[3 if selection.with_regions else 1:])
            for record in records:
                record.annotations = stored.get(record.uniqueid, [])
        _check_sizes(connector, records)
        yield records
        if len(entities) < size:
            return
        offset += len(entities)


Page = TypeVar("Page")
_END = object()


def read_ahead(pages: Generator[Page, None, None]) -> Iterator[Page]:
    """The pages of ``pages``, the next one read in a thread while the caller works on the current one: the
    server answers while the caller writes. At most two pages are held; an error reading one is raised
    where the caller takes it; closing this closes ``pages`` once the page being read is in."""
    try:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="aperturedb-read-ahead") as reader:
            upcoming = reader.submit(next, pages, _END)
            while (page := upcoming.result()) is not _END:
                upcoming = reader.submit(next, pages, _END)
                yield page
    finally:
        pages.close()


def _predicted(regions: list[dict]) -> list[dict]:
    """Regions that are not annotations written back by a target storage (those carry LS_annotation_id)."""
    return [region for region in regions if region.get(ANNOTATION_ID) is None]


def image_property_names(connector) -> tuple[str, ...]:
    """Every property that some image has, as ApertureDB's schema lists them (system properties aside)."""
    return read_schema(connector).property_names(IMAGE)


def task_value(value):
    """A property value as task data holds it: a date as its ISO 8601 text, numbers, booleans and text as they are."""
    if isinstance(value, dict) and set(value) == {"_date"}:
        return value["_date"]
    return value


def latest_created(stamps: list) -> int | None:
    """The latest of some ``_create_txn`` values; None when any is missing (a server that does not tell)."""
    if any(not isinstance(stamp, int) or isinstance(stamp, bool) for stamp in stamps):
        return None
    return max(stamps, default=None)


def count_images(connector, selection: ImageSelection, created_after: int) -> tuple[int, int]:
    """How many images match, and how many of them were created after ``created_after``, in one snapshot."""
    answer = _run_selected(connector, selection, lambda connected: [
        {"FindImage": _narrowed(_with_constraints({"results": {"count": True}}, constraints), connected)}
        for constraints in (selection.image_constraints(),
                            replace(selection, created_after=created_after).image_constraints())
    ])
    return answer[0]["FindImage"]["count"], answer[1]["FindImage"]["count"]


def images_newly_connected(connector, selection: ImageSelection, created_after: int) -> tuple[set[str], int]:
    """The matching images created up to ``created_after`` but connected to a ``connected_to`` entity only after it
    (new to a sync, as new images are), and the latest ``_create_txn`` of those connections."""
    if not selection.connected_to:
        return set(), created_after
    older = with_conditions(selection.constraints, {CREATED: ["<=", created_after]})
    find_image = _with_constraints({"uniqueids": True}, older)
    answer = _run_selected(connector, selection, lambda connected: [
        {"FindImage": _narrowed(find_image, connected)}, *_connections_after(selection, created_after)],
        since=created_after)
    images = {entity["_uniqueid"] for entity in answer[0]["FindImage"].get("entities") or []}
    return images, _latest_connection(answer[1:], created_after)


def latest_connection_created(connector, selection: ImageSelection, created_after: int) -> int:
    """The latest ``_create_txn`` of the ``connected_to`` entities' connections created after ``created_after`` (or
    ``created_after``), for a sync's mark to pass them."""
    if not selection.connected_to:
        return created_after
    answer = _run_selected(connector, selection, lambda connected: _connections_after(selection, created_after))
    return _latest_connection(answer, created_after)


def _connections_after(selection: ImageSelection, created_after: int) -> list:
    """FindConnections of the connections of the ``connected_to`` entities (refs from DATASET_REF on) created after
    ``created_after``, at the end their direction names (both for "any")."""
    return [{"FindConnection": {end: DATASET_REF + index, "constraints": {CREATED: [">", created_after]},
                                "results": {"list": [CREATED]},
                                **({"with_class": spec["connection_class"]} if spec.get("connection_class") else {})}}
            for index, spec in enumerate(selection.connected_to)
            for end in {"out": ("src",), "in": ("dst",)}.get(spec.get("direction", "any"), ("src", "dst"))]


def _latest_connection(answers: list, created_after: int) -> int:
    stamps = [link.get(CREATED) for item in answers for link in item["FindConnection"].get("connections") or []]
    return latest_created([created_after, *stamps])


def _with_constraints(command: dict, constraints: Constraints) -> dict:
    return {**command, "constraints": constraints} if constraints else command


def images_with_new_regions(connector, selection: ImageSelection, created_after: int) -> tuple[set[str], int | None]:
    """The matching images that gained boxes or polygons (not written by a target storage) after
    ``created_after``, and the latest ``_create_txn`` among those regions."""
    if not selection.with_regions:
        return set(), created_after
    constraints = with_conditions(selection.region_constraints, {CREATED: [">", created_after]})
    commands = ("FindBoundingBox", "FindPolygon")
    answer, _ = run_query(connector, [
        {command: {"constraints": constraints, "uniqueids": True, "results": {"list": [ANNOTATION_ID, CREATED]}}}
        for command in commands
    ])
    found = {command: answer[index][command].get("entities") or [] for index, command in enumerate(commands)}
    latest = latest_created([created_after] + [region.get(CREATED) for regions in found.values() for region in regions])
    wanted = {command: [region["_uniqueid"] for region in _predicted(regions)] for command, regions in found.items()}
    if not any(wanted.values()):
        return set(), latest
    query: list = []
    for command, uniqueids in wanted.items():
        ref = len(query) + 1
        find_image = _with_constraints({"is_connected_to": {"ref": ref}, "uniqueids": True},
                                       selection.image_constraints())
        query += [{command: {"_ref": ref, "constraints": {"_uniqueid": ["in", uniqueids]}}}, {"FindImage": find_image}]
    answer = _run_selected(connector, selection, lambda connected: [
        {name: _narrowed(params, connected) if name == "FindImage" else params}
        for command in query for name, params in command.items()])
    images = {entity["_uniqueid"] for index in (1, 3) for entity in answer[index]["FindImage"].get("entities") or []}
    return images, latest


def _is_size(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0


def _check_sizes(connector, records: list[ImageRecord]) -> None:
    """Images stored without a usable ``adb_image_width``/``height`` get the size their own header gives; an
    image whose size cannot be read, or that is over MAX_PIXELS, is skipped (``error``). Nothing is decoded."""
    for record in records:
        if not (_is_size(record.width) and _is_size(record.height)):
            blob, _ = fetch_image(connector, record.uniqueid)
            record.width, record.height, record.error = header_size(blob)
        if not record.error and record.width * record.height > MAX_PIXELS:
            record.error = f"it has {record.width:g} x {record.height:g} pixels, over the limit of {MAX_PIXELS:,}"


def header_size(blob: bytes) -> tuple[float | None, float | None, str | None]:
    """``(width, height, None)`` from an encoded image's header, checked to be whole, or ``(None, None, why)``."""
    try:
        with Image.open(io.BytesIO(blob)) as image:
            width, height = image.width, image.height
            image.verify()  # the file's structure, and checksums where the format has them; pixels are not decoded
    except Image.DecompressionBombError:
        return None, None, f"it has more than the limit of {MAX_PIXELS:,} pixels"
    except Exception:  # noqa: BLE001 - a damaged file makes Pillow's readers raise almost anything
        return None, None, "its size is not recorded and the image cannot be decoded to read it"
    return width, height, None


def fetch_image(connector, uniqueid: str) -> tuple[bytes, str]:
    """The stored bytes of one image and their content type; ``KeyError`` when there is no such image."""
    answer, blobs = run_query(connector, [{"FindImage": {"constraints": {"_uniqueid": ["==", uniqueid]},
                                                         "blobs": True}}])
    if not blobs:
        raise KeyError(uniqueid)
    return blobs[0], content_type(blobs[0])


def content_type(blob: bytes) -> str:
    for magic, mime in CONTENT_TYPES:
        if blob.startswith(magic):
            return mime
    if blob[:4] == b"RIFF" and blob[8:12] == b"WEBP":
        return "image/webp"
    return "application/octet-stream"


def check_selection(connector, selection: ImageSelection) -> None:
    """Ask ApertureDB for one matching image, so that it judges the constraints as it will in a sync."""
    one = replace(selection, properties=(), limit=1)
    _run_selected(connector, one, lambda connected: _page_query(one, 0, 1, connected))

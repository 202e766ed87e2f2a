"""Where tests find an ApertureDB: a real one named by the environment, or an in-process test server.

``APERTUREDB_HOST`` (with ``APERTUREDB_PORT``, ``APERTUREDB_USER``, ``APERTUREDB_PASSWORD`` or
``APERTUREDB_TOKEN``, ``APERTUREDB_USE_SSL``, ``APERTUREDB_CA_CERT``, ``APERTUREDB_VERIFY_HOSTNAME``,
``APERTUREDB_USE_REST``) points the tests at a real server; without it they start a :class:`TestServer`
over TLS.
"""

from __future__ import annotations

import io
import os
import random
import tempfile
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

from PIL import Image

from .server import TestServer


@dataclass(frozen=True)
class ApertureDBAddress:
    """How to reach an ApertureDB, and the test server behind it when it is one."""

    host: str
    port: int
    username: str
    password: str = ""
    token: str = ""
    use_ssl: bool = True
    ca_cert: str | None = None
    verify_hostname: bool = True
    server: TestServer | None = None
    use_rest: bool = False  # ApertureDB's REST protocol (``port`` is then the REST port)

    def connector(self, **overrides):
        """An ``aperturedb.Connector`` logging in to this address, or a ``ConnectorRest`` with ``use_rest``."""
        from aperturedb.Connector import Connector

        options = dict(
            host=self.host, port=self.port, user=self.username, password=self.password, token=self.token,
            use_ssl=self.use_ssl, ca_cert=self.ca_cert, verify_hostname=self.verify_hostname,
            retry_interval_seconds=0, retry_max_attempts=3,
        )
        options.update(overrides)
        return _rest_connector(**options) if self.use_rest else Connector(**options)


def _rest_connector(user: str, authenticate: bool = True, **options):
    """A ``ConnectorRest``, given through a ``Configuration`` the retry options its constructor does not take."""
    from aperturedb.Configuration import Configuration
    from aperturedb.ConnectorRest import ConnectorRest

    connector = ConnectorRest(config=Configuration(username=user, name="ls_storage", use_rest=True, **options))
    connector.should_authenticate = authenticate
    return connector


def _flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    return default if value is None else value.lower() in ("1", "true", "yes", "on")


def address_from_environment() -> ApertureDBAddress | None:
    host = os.environ.get("APERTUREDB_HOST")
    if not host:
        return None
    use_ssl, use_rest = _flag("APERTUREDB_USE_SSL", True), _flag("APERTUREDB_USE_REST", False)
    default_port = (443 if use_ssl else 80) if use_rest else 55555  # as the SDK's Configuration defaults
    return ApertureDBAddress(
        host=host,
        port=int(os.environ.get("APERTUREDB_PORT", default_port)),
        username=os.environ.get("APERTUREDB_USER", "admin"),
        password=os.environ.get("APERTUREDB_PASSWORD", ""),
        token=os.environ.get("APERTUREDB_TOKEN", ""),
        use_ssl=use_ssl,
        ca_cert=os.environ.get("APERTUREDB_CA_CERT") or None,
        verify_hostname=_flag("APERTUREDB_VERIFY_HOSTNAME", True),
        use_rest=use_rest,
    )


@contextmanager
def running_server(tls: bool = True, rest: bool = False, **options) -> Iterator[ApertureDBAddress]:
    """Start a test server on a free port (over TLS with its own CA unless ``tls=False``); with ``rest`` it
    also serves ApertureDB's REST protocol on another free port, which the address then points to."""
    if rest:
        options.setdefault("rest_port", 0)
    with tempfile.TemporaryDirectory(prefix="adb-test-certs-") as cert_dir:
        server = TestServer(host="127.0.0.1", port=0, cert_dir=cert_dir if tls else None, tls=tls, **options)
        with server:
            yield ApertureDBAddress(
                host="localhost" if tls else "127.0.0.1", port=server.rest_port if rest else server.port,
                username=server.username, password=server.password, use_ssl=tls, ca_cert=server.ca_cert,
                server=server, use_rest=rest,
            )


@contextmanager
def aperturedb_address() -> Iterator[ApertureDBAddress]:
    """The real ApertureDB named by the environment, or else a fresh test server."""
    real = address_from_environment()
    if real is not None:
        yield real
        return
    with running_server() as address:
        yield address


def png(width: int, height: int, shade: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (shade, 100, 200)).save(out, "PNG")
    return out.getvalue()


class TaggedImages:
    """Images added to an ApertureDB for one test, all tagged with a property unique to the test."""

    def __init__(self, address):
        self.address = address
        self.connector = address.connector()
        self.tag = f"t{uuid.uuid4().hex[:12]}"
        self.blobs: dict[str, bytes] = {}

    @property
    def constraints(self) -> dict:
        return {"ls_test": ["==", self.tag]}

    def add(self, name: str, width: int, height: int, boxes=(), polygons=(), **properties) -> str:
        query = [{"AddImage": {"_ref": 1, "properties": {"ls_test": self.tag, "name": name, **properties}}}]
        for rectangle, label, box_properties in boxes:
            query.append({"AddBoundingBox": {"image_ref": 1, "rectangle": dict(zip(("x", "y", "width", "height"), rectangle)),
                                             "label": label, "properties": box_properties}})
        for vertices, label in polygons:
            query.append({"AddPolygon": {"image_ref": 1, "polygons": [vertices], "label": label}})
        query.append({"FindImage": {"_ref": 2, "constraints": {"ls_test": ["==", self.tag], "name": ["==", name]},
                                    "uniqueids": True}})
        blob = png(width, height, len(self.blobs) % 256)
        answer, _ = self.connector.query(query, [blob])
        assert isinstance(answer, list), answer
        uniqueid = answer[-1]["FindImage"]["entities"][0]["_uniqueid"]
        self.blobs[uniqueid] = blob
        return uniqueid

    def query(self, query: list):
        answer, blobs = self.connector.query(query)
        assert isinstance(answer, list), answer
        return answer


@dataclass(frozen=True)
class SeededImage:
    """An image :func:`seed_tagged_images` put in a test server, with what a sync must make of it."""

    uniqueid: str
    name: str
    width: int
    height: int
    boxes: tuple[tuple[str, tuple[float, float, float, float], str], ...]  # (_uniqueid, (x, y, w, h), label)


def seed_tagged_images(server: TestServer, tag: str, count: int, boxes: int = 2, random_seed: int = 0,
                       labels: tuple[str, ...] = ("cat", "dog", "car")) -> list[SeededImage]:
    """``count`` small synthetic images with ``boxes`` labelled boxes each, straight into a test server's store in
    one transaction (thousands in seconds, as ``seeding.seed_synthetic`` loads), each with the property
    ``ls_test = tag`` as :class:`TaggedImages` tags its images, and a ``name``; in ``_uniqueid`` order."""
    from .commands.media import IMAGE_HEIGHT, IMAGE_WIDTH
    from .seeding import synthetic_image
    from .store import BOUNDING_BOX, BOX_TO_IMAGE, IMAGE, format_uniqueid

    rng, seeded = random.Random(random_seed), []
    store = server.engine.store
    with server.engine.lock, store.transaction():
        store.create_index("entity", IMAGE, "ls_test")  # each test's storages select their images by it
        for index in range(count):
            width, height = rng.randrange(48, 160), rng.randrange(32, 120)
            name = f"{tag}_{index:06d}.png"
            image = store.add_object(IMAGE, {IMAGE_WIDTH: width, IMAGE_HEIGHT: height, "ls_test": tag, "name": name},
                                     blob=synthetic_image(index, width, height))
            regions = []
            for _ in range(boxes):
                w, h = rng.uniform(2, width / 2), rng.uniform(2, height / 2)
                rectangle = (round(rng.uniform(0, width - w), 2), round(rng.uniform(0, height - h), 2),
                             round(w, 2), round(h, 2))
                label = rng.choice(labels)
                box = store.add_object(BOUNDING_BOX, {}, geometry=rectangle, label=label)
                store.add_link(BOX_TO_IMAGE, box, image, {})
                regions.append((format_uniqueid(box.seq), rectangle, label))
            seeded.append(SeededImage(format_uniqueid(image.seq), name, width, height, tuple(regions)))
    return seeded

"""Shared fixtures of the test server's tests: a client over the real SDK and names unique to a test.

Every query goes through ``aperturedb.Connector``; ``Client`` only unwraps the answers and fails the
test with the server's own answer when a query that should succeed does not.
"""

from __future__ import annotations

import io
import uuid

import pytest
from PIL import Image

# Label Studio's fixtures that the root conftest makes autouse for every test: mocked S3 buckets, GCS,
# Azure, Redis and ML backends. The test server's tests use none of them, and setting them up costs
# about half a second a test, most of this suite's run time; here each is a fixture that does nothing.
LABEL_STUDIO_MOCKS = (
    "s3_with_images", "s3_with_jsons", "s3_with_hypertext_s3_links", "s3_with_partially_encoded_s3_links",
    "s3_with_unexisted_links", "s3_export_bucket", "s3_export_bucket_sse", "s3_export_bucket_kms",
    "gcs_client", "azure_client", "redis_client", "ml_backend", "ml_backend_1",
)


def _does_nothing():
    yield


globals().update({f"_unused_{name}": pytest.fixture(name=name)(_does_nothing) for name in LABEL_STUDIO_MOCKS})


class Client:
    """A ``Connector`` with helpers that check and unwrap answers."""

    def __init__(self, connector):
        self.connector = connector

    def query(self, query: list, blobs: list[bytes] = ()) -> tuple[object, list[bytes]]:
        """The raw answer: a list of command answers, or the single error object of a failed query."""
        return self.connector.query(query, list(blobs))

    def run(self, query: list, blobs: list[bytes] = ()) -> tuple[list[dict], list[bytes]]:
        """Each command's answer (unwrapped from its name) and the answer's blobs; every status must be 0."""
        answer, out_blobs = self.query(query, blobs)
        assert isinstance(answer, list), answer
        unwrapped = [next(iter(item.values())) for item in answer]
        assert [a["status"] for a in unwrapped] == [0] * len(query), answer
        return unwrapped, out_blobs

    def one(self, command: dict, blobs: list[bytes] = ()) -> dict:
        """The answer of a query of one command, which must succeed."""
        return self.run([command], blobs)[0][0]

    def fail(self, query: list, blobs: list[bytes] = ()) -> dict:
        """The single error object of a query that must fail as a whole."""
        answer, out_blobs = self.query(query, blobs)
        assert isinstance(answer, dict), f"expected the single error object, got {answer}"
        assert answer["status"] == -1 and answer["info"], answer
        assert out_blobs == []
        return answer

    def entities(self, command: str, params: dict, blobs: list[bytes] = ()) -> list[dict]:
        """The ``entities`` a Find answers (an empty list when it matched nothing)."""
        return self.one({command: params}, blobs).get("entities", [])

    def close(self) -> None:
        self.connector.close()


@pytest.fixture
def adb(aperturedb):
    """A client of ``aperturedb``: a real ApertureDB when the environment names one, else a test server."""
    client = Client(aperturedb.connector())
    yield client
    client.close()


@pytest.fixture
def test_server_adb(aperturedb_test_server):
    """A client of a test server, for behaviour only the test server has (faults, its own extras)."""
    client = Client(aperturedb_test_server.connector())
    yield client
    client.close()


@pytest.fixture
def run() -> str:
    """A value unique to this test, to tag and find the data it creates in a shared database."""
    return uuid.uuid4().hex


@pytest.fixture
def entity_class(run) -> str:
    """An entity class no other test uses."""
    return f"TestServerEntity_{run}"


def encoded_image(width: int, height: int, fmt: str = "PNG", colour=(200, 30, 90)) -> bytes:
    """An image of one colour with a distinct corner pixel, encoded in ``fmt``."""
    image = Image.new("RGB", (width, height), colour)
    image.putpixel((0, 0), (1, 2, 3))
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


@pytest.fixture
def make_image():
    return encoded_image


def decoded(blob: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(blob))
    image.load()
    return image


@pytest.fixture
def decode():
    return decoded

"""Pytest fixtures for an ApertureDB (``pytest_plugins = ["ls_storage.testing.pytest_plugin"]``).

- ``aperturedb``: an :class:`ApertureDBAddress`; a real server when ``APERTUREDB_HOST`` is set,
  otherwise a test server over TLS started for the test.
- ``aperturedb_images``: a :class:`TaggedImages` adding images (with boxes and polygons) to that ApertureDB,
  tagged so that constraints select only this test's images.
- ``aperturedb_test_server``: always a test server, for tests that inject faults; its ``server``
  attribute is the :class:`TestServer`.
- ``aperturedb_rest_test_server``: always a test server over TLS that also serves ApertureDB's REST
  protocol; the address is the REST port's (``use_rest``), so its ``connector()`` is a ``ConnectorRest``.
"""

from __future__ import annotations

import pytest

from .fixtures import TaggedImages, aperturedb_address, running_server


@pytest.fixture
def aperturedb():
    with aperturedb_address() as address:
        yield address


@pytest.fixture
def aperturedb_test_server():
    with running_server() as address:
        yield address


@pytest.fixture
def aperturedb_rest_test_server():
    with running_server(rest=True) as address:
        yield address


@pytest.fixture
def aperturedb_images(aperturedb):
    return TaggedImages(aperturedb)

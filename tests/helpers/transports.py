"""Source and target storage tests over both of ApertureDB's transports: its TCP protocol and its REST API.

The conftests of tests/source and tests/target import these fixtures, which replace the plugin's ``aperturedb``
and ``aperturedb_test_server``: every test using one of them (or ``images``) runs once per transport, its
storages created with the address's ``use_rest`` and port (see ``storage_api.storage_body``).
"""

from __future__ import annotations

import pytest
from ls_storage.testing.fixtures import address_from_environment, running_server

TRANSPORTS = ("tcp", "rest")


@pytest.fixture(params=TRANSPORTS)
def transport(request) -> str:
    return request.param


@pytest.fixture
def aperturedb(transport):
    """The ApertureDB the environment names when it is reached by this transport, else a test server."""
    real = address_from_environment()
    if real is not None and real.use_rest == (transport == "rest"):
        yield real
        return
    with _server_for(transport) as address:
        yield address


@pytest.fixture
def aperturedb_test_server(transport):
    """Always a test server, reached by this transport; it listens on both (``other_port``)."""
    with _server_for(transport) as address:
        yield address


def _server_for(transport: str):
    return running_server(rest=transport == "rest", rest_port=0)


def other_port(address) -> int:
    """The test server's port of the other transport: a port where something else than the storage's protocol
    answers."""
    return address.server.port if address.use_rest else address.server.rest_port

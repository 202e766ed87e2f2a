"""A test server reached over TCP or REST, and the connection settings that reach it."""

from __future__ import annotations

import pytest
from ls_storage.client.connection import ConnectionSettings
from ls_storage.testing.fixtures import running_server


@pytest.fixture(params=["tcp", "rest"])
def address(request):
    with running_server(rest=request.param == "rest") as address:
        yield address


@pytest.fixture
def connection_settings(address) -> ConnectionSettings:
    return ConnectionSettings(hostname=address.host, port=address.port, username=address.username,
                              password=address.password, ca_cert=open(address.ca_cert).read(),
                              use_rest=address.use_rest)

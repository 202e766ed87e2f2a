"""Importing the plugin makes no outbound request: Label Studio servers and workers often run in closed networks.

Every HTTP(S) request of the child processes below goes to a proxy of the test's own that accepts and never
answers, so a request shows as a connection to it and as a wait. The SDK alone asks pypi.org for its latest
version at import (the control); through the plugin it does not, and neither does Label Studio's own version
check, which its settings run as they load unless ``LATEST_VERSION_CHECK`` is off (the plugin's settings turn it off
unless the environment turns it on).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest


@pytest.fixture
def silent_proxy():
    """A listening socket standing for every outbound HTTP(S) destination; ``connections()`` counts arrivals."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        listener.setblocking(False)
        accepted = []

        def connections() -> int:
            while True:
                try:
                    accepted.append(listener.accept()[0])
                except BlockingIOError:
                    return len(accepted)

        yield f"http://127.0.0.1:{listener.getsockname()[1]}", connections
        for sock in accepted:
            sock.close()


def run_python(code: str, proxy: str, **environment) -> float:
    env = {**os.environ, "HTTP_PROXY": proxy, "HTTPS_PROXY": proxy, "http_proxy": proxy, "https_proxy": proxy,
           "NO_PROXY": "", "no_proxy": "", **environment}
    start = time.monotonic()
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=120, capture_output=True)
    return time.monotonic() - start


def test_the_sdk_alone_calls_out_at_import(silent_proxy):
    proxy, connections = silent_proxy
    seconds = run_python("import aperturedb", proxy)
    assert connections() == 1 and seconds >= 1.0  # its version check, waiting out its 1 s timeout


@pytest.mark.parametrize("code, environment", [
    ("import ls_storage.client.connection, ls_storage.dump.cli", {}),
    ("import django; django.setup(); import ls_storage.aperturedb.models, ls_storage.aperturedb.sync",
     {"DJANGO_SETTINGS_MODULE": "ls_storage.settings"}),
])
def test_importing_the_plugin_calls_nothing_outside(silent_proxy, code, environment):
    proxy, connections = silent_proxy
    run_python(code, proxy, **environment)
    assert connections() == 0

"""An ApertureDB-compatible test server, driven by the real ``aperturedb`` SDK over TCP or TLS.

Like moto for S3: start it in-process with :func:`running_server` (or the ``aperturedb`` and
``aperturedb_test_server`` pytest fixtures from ``ls_storage.testing.pytest_plugin``), or as a process
with ``python -m ls_storage.testing.server``. ``README.md`` beside this file lists what it supports.
"""

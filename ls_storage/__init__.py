"""ApertureDB as a storage of stock Label Studio.

Importing the package imports the ApertureDB SDK without the call out it makes at import: the SDK asks
pypi.org for its latest version every time it is imported (a request with a 1 s timeout, whose name look-up
has none, and no switch to turn it off). Label Studio servers and workers often run where that request can
only hang or fail, and nothing here needs the answer.
"""

import logging
import os
import sys

SDK_VERSION_URL = "https://pypi.org/pypi/aperturedb/json"


class _NoVersionCheck(logging.Filter):
    """Drops the SDK's warnings about the version check it could not make."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "latest version" not in record.getMessage()


def _import_sdk_offline() -> None:
    if "aperturedb" in sys.modules:
        return
    os.environ.setdefault("ADB_LOG_FILE", "")  # the SDK would otherwise write error.<time>.log files
    import requests

    real_get = requests.get

    def get(url, *args, **kwargs):
        if url == SDK_VERSION_URL:
            raise requests.ConnectionError("ls_storage does not let the SDK check its version")
        return real_get(url, *args, **kwargs)

    quiet = _NoVersionCheck()
    sdk_logger = logging.getLogger("aperturedb")
    sdk_logger.addFilter(quiet)
    requests.get = get  # only for the SDK's import; any other URL goes through unchanged
    try:
        import aperturedb  # noqa: F401
    finally:
        requests.get = real_get
        sdk_logger.removeFilter(quiet)


_import_sdk_offline()

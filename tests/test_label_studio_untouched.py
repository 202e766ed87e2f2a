"""The plugin installs next to Label Studio without changing any of Label Studio's installed files."""

import base64
import hashlib
from importlib.metadata import distribution


# Label Studio rewrites this one itself whenever it runs (git information of the working directory).
REWRITTEN_BY_LABEL_STUDIO = {"label_studio/core/version_.py"}


def test_label_studio_files_match_the_wheel_record():
    label_studio = distribution("label-studio")
    assert label_studio.version.startswith("1.23.")
    checked = changed = 0
    for entry in label_studio.files:
        if entry.hash is None or entry.hash.mode != "sha256" or str(entry) in REWRITTEN_BY_LABEL_STUDIO:
            continue
        digest = base64.urlsafe_b64encode(hashlib.sha256(entry.locate().read_bytes()).digest()).rstrip(b"=").decode()
        checked += 1
        changed += digest != entry.hash.value
    assert checked > 1000 and changed == 0

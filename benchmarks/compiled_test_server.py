"""The ApertureDB test server compiled by Cython, for benchmarks: the same source, with about 1.5× fewer
instructions per annotation written, so that a benchmark measures Label Studio and the plugin rather than
the stand-in for ApertureDB.

:func:`compiled_package` copies ``ls_storage`` into ``benchmarks/out/``, compiles the query engine there
(``store.py``, ``commands.py``, ``values.py``, with the declarations in ``benchmarks/cython/``), and runs the
test server's own tests (``tests/testing``) against the compiled copy before returning it: an engine that
compiled to different behaviour would fail them. The copy is reused while the sources are unchanged. Cython
is installed into the running environment when it is missing.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "ls_storage"
DECLARATIONS = Path(__file__).resolve().parent / "cython"
COMPILED = ("store", "commands", "values")  # modules of ls_storage/testing
# Compiled with annotation typing off: store.py annotates ``seq: int`` (a Python int), which no C signature in
# benchmarks/cython/store.pxd can match.
ANNOTATIONS_UNTYPED = ("store",)
CYTHON = "cython>=3.1,<4"
# Imports the compiled modules first (the folder given first on the path), checks that they are the compiled
# ones, then runs the tests, which find the rest of the package in the same copy.
CHECK = """
import importlib, sys
sys.path.insert(0, sys.argv[1])
for name in sys.argv[2].split(","):
    module = importlib.import_module("ls_storage.testing." + name)
    assert module.__file__.endswith(".so"), module.__file__
import pytest
sys.exit(pytest.main(["tests/testing", "-q", "-p", "no:cacheprovider"]))
"""


def compiled_package() -> Path:
    """A folder holding a copy of ``ls_storage`` with a compiled engine that passed the test server's tests:
    start the test server with it first on the path (as the working directory of ``python -m``)."""
    digest = hashlib.sha256()
    for path in sorted(PACKAGE.rglob("*.py")) + sorted(DECLARATIONS.glob("*.pxd")):
        digest.update(path.relative_to(ROOT).as_posix().encode() + b"\0" + path.read_bytes())
    folder = ROOT / "benchmarks" / "out" / f"compiled-test-server-{digest.hexdigest()[:16]}"
    if (folder / "passed").exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(PACKAGE, folder / "ls_storage", ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    engine = folder / "ls_storage" / "testing"
    for declarations in DECLARATIONS.glob("*.pxd"):
        shutil.copy(declarations, engine / declarations.name)
    try:
        import Cython  # noqa: F401
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", CYTHON], check=True)
    print(f"compiling the test server's engine with Cython into {folder}", flush=True)
    for names, options in ((ANNOTATIONS_UNTYPED, ["-X", "annotation_typing=False"]),
                           (tuple(name for name in COMPILED if name not in ANNOTATIONS_UNTYPED), [])):
        subprocess.run([sys.executable, "-m", "Cython.Build.Cythonize", "-i", "-3", "-q", "-j", "2", *options,
                        *(f"{name}.py" for name in names)], cwd=engine, check=True)
    print("running the test server's tests against the compiled engine", flush=True)
    subprocess.run([sys.executable, "-c", CHECK, str(folder), ",".join(COMPILED)], cwd=ROOT, check=True)
    (folder / "passed").write_text("tests/testing passed against this compiled copy\n")
    return folder


def runs_compiled(pid: int, folder: Path) -> bool:
    """Whether the process has the compiled engine of ``folder`` loaded."""
    maps = Path(f"/proc/{pid}/maps").read_text()
    return all(str(folder / "ls_storage" / "testing" / f"{name}.") in maps for name in COMPILED)


if __name__ == "__main__":
    print(compiled_package())

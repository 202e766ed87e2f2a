"""The Dockerfile's install step, run as it is written in a clean virtualenv standing in for the official image:
Label Studio of the release the tests run (with the versions of its dependencies this environment has, as the
image has its locked ones), then the wheel stage's `pip wheel` on a copy of only what that stage copies, and the
final stage's RUN with the image's paths pointed at temporary ones. The installed plugin then loads its settings,
lists its commands and finds its migrations, from the virtualenv, not the source tree. Needs pip's index (or its
cache) for Label Studio's dependencies; no Docker."""

import os
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

from deployment_files import ROOT, dockerfile_stages


def run(command, **options):
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, **options)
    assert result.returncode == 0, (command, result.stdout[-3000:], result.stderr[-3000:])
    return result.stdout


def test_dockerfile_install_step_in_a_clean_virtualenv(tmp_path):
    stages = dockerfile_stages()
    wheel_stage = next(stage for stage in stages if stage["name"] == "wheel")
    final_run = next(text for keyword, text in stages[-1]["instructions"] if keyword == "RUN")

    # The wheel stage: COPY what it copies into an empty folder, then its RUN with /wheels pointed elsewhere.
    context = tmp_path / "context"
    context.mkdir()
    for keyword, text in wheel_stage["instructions"]:
        if keyword == "COPY":
            *sources, _ = text.split()
            for source in sources:
                if (ROOT / source).is_dir():
                    shutil.copytree(ROOT / source, context / source, ignore=shutil.ignore_patterns("__pycache__"))
                else:
                    shutil.copy(ROOT / source, context / source)
    wheels = tmp_path / "wheels"
    build = next(text for keyword, text in wheel_stage["instructions"] if keyword == "RUN")
    run(["sh", "-c", build.replace("/wheels", str(wheels)).replace("python ", f"{sys.executable} ", 1)],
        cwd=context)
    assert [path.name for path in wheels.iterdir()] == ["ls_storage-0.1.0-py3-none-any.whl"]

    # The official image: a virtualenv with Label Studio in it.
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", str(venv)])
    python = venv / "bin" / "python"
    pins = tmp_path / "pins.txt"
    pins.write_text("\n".join(line for line in run([sys.executable, "-m", "pip", "list", "--format=freeze"]).split()
                              if not line.lower().startswith(("ls-storage", "ls_storage"))))
    run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-c", str(pins),
         f"label-studio=={version('label-studio')}"])

    # The final stage's RUN, as written, with `python` the virtualenv's (first on PATH, as in the image).
    script = final_run.replace("/tmp/ls-storage-wheels", str(wheels)).replace("/tmp/installed.txt",
                                                                               str(tmp_path / "installed.txt"))
    environment = {**os.environ, "PATH": f"{venv / 'bin'}:{os.environ['PATH']}", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    environment.pop("DJANGO_SETTINGS_MODULE", None)
    environment.pop("PYTHONPATH", None)
    run(["sh", "-c", script], env=environment, cwd=tmp_path)
    assert not wheels.exists()  # the step cleans up after itself
    # Label Studio kept its version.
    assert run([str(python), "-c", "import importlib.metadata as m; print(m.version('label-studio'))"]).strip() == (
        version("label-studio"))

    # What the image runs, with the image's settings module and a fresh data folder.
    image_environment = {**environment, "DJANGO_SETTINGS_MODULE": "ls_storage.settings",
                         "LABEL_STUDIO_BASE_DATA_DIR": str(tmp_path / "data"), "SENTRY_DSN": "", "SENTRY_RATE": "0"}
    location = run([str(python), "-c", "import ls_storage, sys; print(ls_storage.__file__)"], env=image_environment,
                   cwd=tmp_path)
    assert Path(location.strip()).is_relative_to(venv)
    package = Path(location.strip()).parent
    assert (package / "aperturedb" / "form_layout.yml").exists()
    run([str(python), "-m", "django", "check"], env=image_environment, cwd=tmp_path)
    run([str(python), "-m", "django", "help", "rqworker"], env=image_environment, cwd=tmp_path)
    migrations = run([str(python), "-m", "django", "showmigrations", "io_storages_aperturedb"],
                     env=image_environment, cwd=tmp_path)
    assert "0001_initial" in migrations
    run([str(python), "-m", "ls_storage.testing.server", "--help"], env=image_environment, cwd=tmp_path)

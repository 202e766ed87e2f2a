"""Reading deploy/'s Dockerfile, compose file, Helm values and Kubernetes manifests for the deployment tests."""

import re
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
PLUGIN_VARIABLE = re.compile(r"\b((?:APERTUREDB|LS_STORAGE)_[A-Z_]+)\b")


def dockerfile_stages() -> list[dict]:
    """The Dockerfile's stages, each {"from": image, "name": alias, "instructions": [(KEYWORD, text)]}, with
    continuation lines joined; instructions before the first FROM go to a stage named None."""
    stages = [{"from": None, "name": None, "instructions": []}]
    text = re.sub(r"\\\n", " ", (DEPLOY / "Dockerfile").read_text())
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            image, _, alias = rest.partition(" AS ")
            stages.append({"from": image.strip(), "name": alias.strip() or None, "instructions": []})
        else:
            stages[-1]["instructions"].append((keyword, " ".join(rest.split())))
    return stages


def dockerfile_args() -> dict[str, str]:
    return dict(text.split("=", 1) for keyword, text in dockerfile_stages()[0]["instructions"] if keyword == "ARG")


def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def env_example() -> dict[str, str]:
    pairs = {}
    for line in (DEPLOY / ".env.example").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, value = line.partition("=")
            pairs[name.strip()] = value
    return pairs


def helm_values() -> dict:
    return yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text())


def kustomize_build() -> list[dict]:
    output = subprocess.run(["kubectl", "kustomize", str(DEPLOY / "k8s")], capture_output=True, text=True,
                            timeout=120, check=True).stdout
    return [document for document in yaml.safe_load_all(output) if document]


def variables_read_by(paths) -> set[str]:
    """The APERTUREDB_*/LS_STORAGE_* names quoted in these Python files (what the code reads from the
    environment is named there as a string)."""
    names = set()
    for path in paths:
        names |= set(re.findall(r"[\"']((?:APERTUREDB|LS_STORAGE)_[A-Z_]+)[\"']", path.read_text()))
    return names


def server_python_files() -> list[Path]:
    """The plugin's code that Label Studio's server and workers run (not the test server, not the dump CLI)."""
    package = ROOT / "ls_storage"
    return [path for path in package.rglob("*.py")
            if not {"testing", "dump", "migrations"} & set(path.relative_to(package).parts)]


def all_python_files() -> list[Path]:
    return list((ROOT / "ls_storage").rglob("*.py")) + [DEPLOY / "demo_project.py"]

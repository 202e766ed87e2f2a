"""deploy/'s Dockerfile, compose file, Helm values and Kubernetes manifests checked against the code: the settings
module, the commands, ports, health endpoint and environment variables they name exist and are the ones the
plugin and the tested scripts use. (No image is built and no stack started here: no Docker daemon, no Helm.)"""

import re
import subprocess
import sys
from importlib.metadata import version
from importlib.util import find_spec

import pytest
from django.conf import settings
from django.core.management import get_commands
from django.test import Client

from deployment_files import (
    DEPLOY, ROOT, all_python_files, compose, dockerfile_args, dockerfile_stages, env_example, helm_values,
    kustomize_build, server_python_files, variables_read_by,
)

SERVER_VARIABLES = variables_read_by(server_python_files())
KNOWN_VARIABLES = variables_read_by(all_python_files())
# Label Studio's own settings (label_studio/core/settings/base.py) the files set.
LABEL_STUDIO_VARIABLES = {"DJANGO_DB", "POSTGRE_HOST", "POSTGRE_PORT", "POSTGRE_NAME", "POSTGRE_USER",
                          "POSTGRE_PASSWORD", "SECRET_KEY", "LABEL_STUDIO_HOST", "LATEST_VERSION_CHECK",
                          "DJANGO_SETTINGS_MODULE", "LABEL_STUDIO_USERNAME", "LABEL_STUDIO_PASSWORD",
                          "LABEL_STUDIO_USER_TOKEN", "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN",
                          "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK"}
WORKER_COMMAND = ["python", "-m", "django", "rqworker", "low", "default"]
SCHEDULER_COMMAND = ["python", "-m", "django", "run_storage_scheduler"]
# Key paths of the official chart's values.yaml (HumanSignal/charts heartex/label-studio 2.0.5, Label Studio
# 1.23.0) under which deploy/helm/values.yaml sets something; below these the value is the chart's to read
# (maps of variables, the subcharts' own values).
CHART_KEYS = {
    "global.image.registry", "global.image.repository", "global.image.tag", "global.pgConfig.password.secretName",
    "global.pgConfig.password.secretKey", "global.extraEnvironmentVars", "global.extraEnvironmentSecrets",
    "app.args", "app.readinessProbe.enabled", "app.readinessProbe.httpGet.path", "app.readinessProbe.httpGet.port",
    "rqworker.enabled", "postgresql.enabled", "postgresql.auth", "redis.enabled", "redis.architecture",
    "redis.auth.enabled",
}
CHART_APP_VERSION = "1.23.0"


def environment_names(text: str) -> set[str]:
    return {name for name in re.findall(r"\b[A-Z][A-Z0-9_]+\b", text)}


def test_label_studio_release_is_the_pinned_one():
    pinned = re.search(r'"label-studio>=([\d.]+),<([\d.]+)"', (ROOT / "pyproject.toml").read_text()).groups()
    image = dockerfile_args()["LABEL_STUDIO_VERSION"]
    minor = ".".join(image.split(".")[:2])
    assert minor == pinned[0] and pinned[1].startswith("1.") and image.startswith(minor + ".")
    assert version("label-studio").startswith(minor + ".")  # the release the tests run
    assert image == CHART_APP_VERSION


def test_dockerfile_installs_a_wheel_into_the_official_image():
    stages = dockerfile_stages()
    final = stages[-1]
    assert final["from"] == "heartexlabs/label-studio:${LABEL_STUDIO_VERSION}"
    keywords = [keyword for keyword, _ in final["instructions"]]
    # The official entrypoint, command, exposed port and volume stay.
    assert not {"ENTRYPOINT", "CMD", "EXPOSE", "VOLUME", "WORKDIR"} & set(keywords)
    # Only the built wheel enters the final image, never the source.
    copies = [text for keyword, text in final["instructions"] if keyword == "COPY"]
    assert copies and all(text.startswith("--from=wheel ") for text in copies)
    wheel_stage = next(stage for stage in stages if stage["name"] == "wheel")
    wheel_copies = {text.split()[0] for keyword, text in wheel_stage["instructions"] if keyword == "COPY"}
    assert wheel_copies == {"pyproject.toml", "ls_storage"}
    assert any("pip wheel" in text and "--no-deps" in text for _, text in wheel_stage["instructions"])
    # The official user is back after the install, and the plugin's settings are the default.
    assert [text for keyword, text in final["instructions"] if keyword == "USER"][-1] == "1001"
    assert keywords.index("USER") < keywords.index("RUN") < len(keywords) - 1 - keywords[::-1].index("USER")
    assert ("ENV", "DJANGO_SETTINGS_MODULE=ls_storage.settings") in final["instructions"]
    assert settings.ROOT_URLCONF == "ls_storage.urls"  # what the tests run under is that module
    healthcheck = next(text for keyword, text in final["instructions"] if keyword == "HEALTHCHECK")
    assert "http://127.0.0.1:8080/health" in healthcheck


def test_dockerignore_lets_the_wheel_stage_see_what_it_copies():
    lines = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert lines[0] == "*" and {"!pyproject.toml", "!README.md", "!ls_storage/"} <= set(lines)
    assert (ROOT / "README.md").exists()  # pyproject's readme, read while the wheel builds


@pytest.mark.django_db
def test_health_endpoint_answers():
    response = Client().get("/health", follow=True)
    assert response.status_code == 200


def test_commands_exist():
    commands = get_commands()
    assert "rqworker" in commands and "locked_migrate" in commands  # the worker's; the chart's label-studio-migrate
    assert {"low", "default"} <= set(settings.RQ_QUEUES)
    assert commands.get("run_storage_scheduler") == "ls_storage.aperturedb"  # the scheduler's, from this plugin
    for module in ("ls_storage.testing.server", "ls_storage.testing.demo_images", "ls_storage.testing.sdk_loading"):
        assert find_spec(module) is not None


def test_compose_services_commands_and_ports():
    services = compose()["services"]
    assert {"app", "worker", "scheduler", "postgres", "redis", "aperturedb", "aperturedb-test", "demo"} <= set(services)
    assert services["worker"]["command"] == WORKER_COMMAND
    assert services["scheduler"]["command"] == SCHEDULER_COMMAND
    assert services["scheduler"]["deploy"]["replicas"] == 1  # one scheduler
    assert services["scheduler"]["environment"] == services["worker"]["environment"]
    assert services["app"].get("command") is None  # the official default command: label-studio on 8080
    assert services["app"]["ports"] == ["${LABEL_STUDIO_PORT:-8080}:8080"]
    assert "http://127.0.0.1:8080/health" in " ".join(services["app"]["healthcheck"]["test"])
    assert services["app"]["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}
    image = services["app"]["image"]
    assert all(services[name]["image"] == image for name in ("worker", "scheduler", "aperturedb-test", "demo"))
    assert services["aperturedb"]["image"].startswith("aperturedata/aperturedb-community:")
    assert services["aperturedb"]["profiles"] == ["aperturedb"]
    assert services["aperturedb-test"]["profiles"] == services["demo"]["profiles"] == ["test-server"]
    assert "${ADB_MASTER_KEY" in services["aperturedb"]["environment"]["ADB_MASTER_KEY"]


def test_compose_stateful_services_have_volumes_and_health_checks():
    document = compose()
    services = document["services"]
    for name in ("app", "postgres", "redis", "aperturedb"):
        assert services[name]["healthcheck"]["test"], name
        assert services[name]["volumes"], name
    for name in ("worker", "aperturedb-test"):
        assert services[name]["healthcheck"]["test"], name
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            assert source.startswith("./") and (DEPLOY / source).exists() or source in document["volumes"], volume
    assert services["postgres"]["volumes"] == ["postgres-data:/var/lib/postgresql/data"]
    assert services["aperturedb"]["volumes"] == ["aperturedb-db:/aperturedb/db", "aperturedb-logs:/aperturedb/logs"]


def test_compose_test_server_options_and_demo_match_the_scripts():
    services = compose()["services"]
    command = services["aperturedb-test"]["command"]
    assert command[:3] == ["python", "-m", "ls_storage.testing.server"]
    help_text = subprocess.run([sys.executable, "-m", "ls_storage.testing.server", "--help"], capture_output=True,
                               text=True, timeout=60, check=True).stdout
    for option in (part for part in command[3:] if part.startswith("--")):
        assert option in help_text, option
    demo = services["demo"]
    script = demo["command"][0]
    for step in ("ls_storage.testing.demo_images", "ls_storage.testing.sdk_loading --dataset demo".split()[0],
                 "/demo/demo_project.py http://app:8080"):
        assert step in script
    start = (DEPLOY / "start.sh").read_text()  # the same steps as the tested start script
    assert "ls_storage.testing.sdk_loading" in start and "--dataset demo" in script and "--dataset demo" in start
    assert demo["environment"]["APERTUREDB_HOST"] == "aperturedb-test"
    assert "--no-tls" in command and demo["environment"]["APERTUREDB_USE_SSL"] == "false"
    assert "./demo_project.py:/demo/demo_project.py:ro" in demo["volumes"]


def test_compose_environment_against_the_code():
    services = compose()["services"]
    for name in ("app", "worker", "scheduler"):
        environment = services[name]["environment"]
        assert SERVER_VARIABLES <= set(environment), name  # everything the plugin reads is set
        assert environment["LS_STORAGE_REDIS_URL"].startswith("redis://redis:6379/")
        assert environment["POSTGRE_HOST"] == "postgres" and environment["DJANGO_DB"] == "default"
    for name, service in services.items():
        for variable in service.get("environment", {}):
            if variable.startswith(("APERTUREDB_", "LS_STORAGE_")):
                assert variable in KNOWN_VARIABLES, (name, variable)  # and everything set is read
            elif name in ("app", "worker", "scheduler"):
                assert variable in LABEL_STUDIO_VARIABLES, (name, variable)


def test_env_example_documents_every_compose_variable():
    text = (DEPLOY / "compose.yaml").read_text()
    used = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", text))
    documented = set(env_example())
    assert used <= documented, used - documented
    assert documented - used == {"COMPOSE_PROFILES"}
    lines = (DEPLOY / ".env.example").read_text().splitlines()
    for index, line in enumerate(lines):  # each variable has a comment above it (or above its group)
        if line and not line.startswith("#"):
            assert any(previous.startswith("#") for previous in lines[max(0, index - 4):index]), line


@pytest.mark.parametrize("deployment, command", [("label-studio-rqworker", WORKER_COMMAND),
                                                  ("label-studio-scheduler", SCHEDULER_COMMAND)])
def test_kustomize_builds_and_deployments_match(deployment, command):
    documents = kustomize_build()
    by_kind = {(document["kind"], document["metadata"]["name"]): document for document in documents}
    built = by_kind[("Deployment", deployment)]
    container = built["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == command
    if deployment == "label-studio-scheduler":
        assert built["spec"]["replicas"] == 1 and built["spec"]["strategy"]["type"] == "Recreate"
    settings_map = by_kind[("ConfigMap", "ls-storage-settings")]["data"]
    assert SERVER_VARIABLES <= set(settings_map)
    assert settings_map["DJANGO_SETTINGS_MODULE"] == "ls_storage.settings"
    names = set(settings_map) | {entry["name"] for entry in container["env"]}
    for reference in container["envFrom"]:
        kind = "ConfigMap" if "configMapRef" in reference else "Secret"
        target = by_kind[(kind, (reference.get("configMapRef") or reference.get("secretRef"))["name"])]
        names |= set(target["data"])
    assert {"POSTGRE_HOST", "POSTGRE_PORT", "POSTGRE_NAME", "POSTGRE_USER", "POSTGRE_PASSWORD", "DJANGO_DB",
            "SECRET_KEY"} <= names
    for entry in container["env"]:
        reference = entry["valueFrom"]["secretKeyRef"]
        assert reference["key"] in by_kind[("Secret", reference["name"])]["data"]
    for variable in names:
        if variable.startswith(("APERTUREDB_", "LS_STORAGE_")):
            assert variable in KNOWN_VARIABLES, variable


def key_paths(mapping, prefix=""):
    for key, value in mapping.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and path not in CHART_KEYS:
            yield from key_paths(value, path + ".")
        else:
            yield path


def test_helm_values_use_the_chart_keys_and_the_manifests():
    values = helm_values()
    assert set(key_paths(values)) <= CHART_KEYS, set(key_paths(values)) - CHART_KEYS
    documents = kustomize_build()
    secrets = {document["metadata"]["name"]: document["data"] for document in documents if document["kind"] == "Secret"}
    settings_map = next(document for document in documents if document["kind"] == "ConfigMap")["data"]
    deployments = [document for document in documents if document["kind"] == "Deployment"]
    assert {document["metadata"]["name"] for document in deployments} == {"label-studio-rqworker",
                                                                          "label-studio-scheduler"}
    image = values["global"]["image"]
    for deployment in deployments:  # the worker and the scheduler run the chart's image
        assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == (
            f"{image['registry']}/{image['repository']}:{image['tag']}")
    extra = values["global"]["extraEnvironmentVars"]
    assert extra["DJANGO_SETTINGS_MODULE"] == "ls_storage.settings"
    assert SERVER_VARIABLES <= set(extra)
    for variable, value in extra.items():  # the chart's pods and the worker get the same settings
        assert settings_map[variable] == value, variable
        assert variable in KNOWN_VARIABLES | LABEL_STUDIO_VARIABLES, variable
    for variable, reference in values["global"]["extraEnvironmentSecrets"].items():
        assert reference["secretKey"] in secrets[reference["secretName"]], variable
        assert variable in KNOWN_VARIABLES | LABEL_STUDIO_VARIABLES, variable
    password = values["global"]["pgConfig"]["password"]
    assert password["secretKey"] in secrets[password["secretName"]]
    auth = values["postgresql"]["auth"]
    assert auth["existingSecret"] == password["secretName"]
    assert set(auth["secretKeys"].values()) <= set(secrets[auth["existingSecret"]])
    assert settings_map["POSTGRE_NAME"] == auth["database"] and settings_map["POSTGRE_USER"] == auth["username"]
    # The chart names its PostgreSQL and Redis services after the release, "label-studio".
    assert settings_map["POSTGRE_HOST"] == "label-studio-postgresql-hl"
    assert extra["LS_STORAGE_REDIS_URL"].startswith("redis://label-studio-redis-master:6379/")
    assert values["rqworker"]["enabled"] is False  # the chart's worker is Enterprise-only: deploy/k8s has ours
    assert values["app"]["readinessProbe"]["httpGet"]["path"] == "/health"

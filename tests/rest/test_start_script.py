"""The README's first command: deploy/start.sh brings up Label Studio, the test server and a synced demo project."""

from __future__ import annotations

import os
import signal
import subprocess
import time

from services import ROOT, Client, free_port


def test_start_script_serves_a_synced_demo_project(tmp_path):
    label_studio_port, aperturedb_port = free_port(), free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("APERTUREDB_")}
    environment.update(LABEL_STUDIO_PORT=str(label_studio_port), APERTUREDB_PORT=str(aperturedb_port),
                       LS_STORAGE_DEMO_DIR=str(tmp_path), LABEL_STUDIO_BASE_DATA_DIR=str(tmp_path / "label-studio"))
    script = subprocess.Popen([str(ROOT / "deploy" / "start.sh")], env=environment, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, start_new_session=True)
    output = []
    try:
        deadline = time.monotonic() + 400
        while time.monotonic() < deadline:
            line = script.stdout.readline()
            if not line:
                break
            output.append(line)
            if line.startswith("Label Studio with ApertureDB storage:"):
                break
        assert output and output[-1].startswith("Label Studio with ApertureDB storage:"), "".join(output)
        assert "(login demo@example.com / demo12345)" in output[-1]

        client = Client(f"http://127.0.0.1:{label_studio_port}", "lsstoragedemotoken0123456789")
        (project,) = [p for p in client.call("GET", "/api/projects/")["results"] if p["title"] == "ApertureDB demo"]
        (source,) = client.call("GET", f"/api/storages/aperturedb/?project={project['id']}")
        (target,) = client.call("GET", f"/api/storages/export/aperturedb?project={project['id']}")
        assert project["task_number"] == 24 and source["status"] == "completed"
        assert project["total_predictions_number"] == 24 and target["type"] == "aperturedb"
    finally:
        os.killpg(script.pid, signal.SIGTERM)
        script.wait(timeout=60)

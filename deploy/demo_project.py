"""Create the demo project in a running Label Studio: an ApertureDB source storage taking every property of the
images of the dataset "demo/batch-1", synced, and a target that also writes the split an annotator chooses onto
the image.

Usage: demo_project.py URL TOKEN   (ApertureDB settings from APERTUREDB_* environment variables)
"""

import json
import os
import sys
import urllib.request

LABEL_CONFIG = """<View>
  <Image name="image" value="$image" zoom="true"/>
  <RectangleLabels name="label" toName="image">
    <Label value="circle" background="#d33"/><Label value="square" background="#3a5"/>
    <Label value="triangle" background="#36d"/>
  </RectangleLabels>
  <PolygonLabels name="outline" toName="image">
    <Label value="circle"/><Label value="square"/><Label value="triangle"/>
  </PolygonLabels>
  <Choices name="split" toName="image" choice="single" showInline="true">
    <Choice value="train"/><Choice value="val"/><Choice value="test"/>
  </Choices>
</View>"""


def call(url: str, token: str, method: str, path: str, body=None):
    request = urllib.request.Request(url + path, method=method, data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": f"Token {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=600) as response:
        return json.loads(response.read() or b"null")


def main(url: str, token: str) -> None:
    connection = {
        "hostname": os.environ["APERTUREDB_HOST"],
        "port": int(os.environ.get("APERTUREDB_PORT", "55555")),
        "username": os.environ.get("APERTUREDB_USER", "admin"),
        "password": os.environ.get("APERTUREDB_PASSWORD", ""),
        "token": os.environ.get("APERTUREDB_TOKEN", ""),
        "use_ssl": os.environ.get("APERTUREDB_USE_SSL", "true").lower() in ("1", "true", "yes", "on"),
        "ca_cert": open(os.environ["APERTUREDB_CA_CERT"]).read() if os.environ.get("APERTUREDB_CA_CERT") else "",
    }
    existing = [p for p in call(url, token, "GET", "/api/projects/?title=ApertureDB%20demo")["results"]
                if p["title"] == "ApertureDB demo"]
    if existing:
        print(f"Demo project already there: {url}/projects/{existing[0]['id']}")
        return
    project = call(url, token, "POST", "/api/projects/", {"title": "ApertureDB demo", "label_config": LABEL_CONFIG})
    source = call(url, token, "POST", "/api/storages/aperturedb/", {
        "project": project["id"], "title": "ApertureDB images", "properties": ["*"],
        "connected_to": {"class": "Dataset", "constraints": {"name": ["==", "demo/batch-1"]},
                         "connection_class": "DatasetImage"}, **connection})
    synced = call(url, token, "POST", f"/api/storages/aperturedb/{source['id']}/sync")
    call(url, token, "POST", "/api/storages/export/aperturedb", {
        "project": project["id"], "title": "ApertureDB annotations", "can_delete_objects": True,
        "image_properties": {"split": "split"}, **connection})
    print(f"Demo project: {url}/projects/{project['id']} — sync {synced['status']}")


if __name__ == "__main__":
    main(*sys.argv[1:3])

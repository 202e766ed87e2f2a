"""Driving the ApertureDB source storage through Label Studio's REST API in tests."""

from __future__ import annotations


def storage_body(address, project_id: int, **fields) -> dict:
    body = {
        "project": project_id, "title": "ApertureDB", "hostname": address.host, "port": address.port,
        "username": address.username, "password": address.password, "token": address.token,
        "use_ssl": address.use_ssl, "verify_hostname": address.verify_hostname, "use_rest": address.use_rest,
        "ca_cert": open(address.ca_cert).read() if address.ca_cert else "",
    }
    body.update(fields)
    return body


def connection_key(address, token: str | None = None, **changes) -> str:
    """The connection key ApertureDB would hand out for this address (its CA inside), with a token instead of the
    user and password when one is given; ``changes`` to host, port, use_rest, use_ssl, username or password."""
    from aperturedb.Configuration import Configuration

    options = dict(host=address.host, port=address.port, use_rest=address.use_rest, use_ssl=address.use_ssl,
                   username=None if token else address.username, password=None if token else address.password)
    options.update(changes)
    return Configuration.create_aperturedb_key(
        options["host"], options["port"], token, options["use_rest"], options["use_ssl"],
        open(address.ca_cert).read() if address.ca_cert else None, options["username"], options["password"])


def create_storage(client, address, project_id: int, **fields) -> dict:
    response = client.post("/api/storages/aperturedb/", data=storage_body(address, project_id, **fields),
                           content_type="application/json")
    assert response.status_code == 201, response.content
    return response.json()


def update_storage(client, storage_id: int, **fields) -> dict:
    response = client.patch(f"/api/storages/aperturedb/{storage_id}", data=fields, content_type="application/json")
    assert response.status_code == 200, response.content
    return response.json()


def sync(client, storage_id: int) -> dict:
    response = client.post(f"/api/storages/aperturedb/{storage_id}/sync")
    assert response.status_code == 200, response.content
    return client.get(f"/api/storages/aperturedb/{storage_id}").json()


def tasks_of(client, project_id: int) -> list[dict]:
    response = client.get(f"/api/tasks/?project={project_id}&fields=all&page_size=1000")
    assert response.status_code == 200, response.content
    return response.json()["tasks"]


def create_project(client, title: str, label_config: str) -> dict:
    response = client.post("/api/projects/", data={"title": title, "label_config": label_config},
                           content_type="application/json")
    assert response.status_code == 201, response.content
    return response.json()

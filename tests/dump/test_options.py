"""The dump's command line: every connection option works (host and login, TLS and CA, REST, a token, a connection
key), the dump goes to a file or stdout, and a bad option is one line naming it and exit code 2, never a traceback."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys

import pytest

from dumping import options
from ls_storage.dump import main
from ls_storage.testing.fixtures import ApertureDBAddress
from storage_api import connection_key

SECRET = "not-the-s3cret"
NOT_A_LITERAL = ["$name", "==", {"not": "a literal"}]  # passes the client's check; ApertureDB refuses it


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


NOWHERE = ApertureDBAddress(host="127.0.0.1", port=closed_port(), username="admin", password=SECRET, use_ssl=False)


def refused(address, more: list[str], option: str, capsys) -> None:
    assert main(options(address, *more), stdout=io.StringIO()) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"python -m ls_storage.dump: error: {option}: "), error
    assert error.count("\n") == 1 and SECRET not in error


@pytest.mark.parametrize("more, option", [
    (["--constraints", '{"split": "train"}'], "--constraints"),
    (["--constraints", "{"], "--constraints"),
    (["--connected-to", '{"class": '], "--connected-to"),
    (["--connected-to", '{"constraints": {}}'], "--connected-to"),
    (["--connected-to", '[{"class": "Dataset", "direction": "up"}]'], "--connected-to"),
    (["--ca-cert", "/nonexistent/ca.pem"], "--ca-cert"),
    (["--port", "0"], "--port"),
    (["--connection-key", "not-a-key"], "--connection-key"),
    (["--page-size", "0"], "--page-size"),
    (["--limit", "-1"], "--limit"),
    (["--format", "media-items", "--categories", "cat"], "--categories"),
    (["--output", "/nonexistent/folder/out.json"], "--output"),
])
def test_bad_options_are_refused_before_connecting(capsys, more, option):
    """Against an address where nothing listens: each is told before the dump tries to connect."""
    refused(NOWHERE, more, option, capsys)


@pytest.mark.parametrize("more, option", [
    (["--host", "no-such-host.invalid"], "--host"),
    ([], "--host"),  # "Cannot reach ApertureDB at 127.0.0.1:PORT: Connection refused."
])
def test_an_unreachable_host_is_an_option_error(capsys, more, option):
    refused(NOWHERE, more, option, capsys)


@pytest.mark.parametrize("more, option", [
    (["--password", SECRET], "--password"),
    (["--constraints", json.dumps(NOT_A_LITERAL)], "--constraints"),
    (["--connected-to", json.dumps({"class": "Dataset", "constraints": NOT_A_LITERAL})], "--connected-to"),
])
def test_what_aperturedb_refuses_names_the_option(aperturedb, capsys, more, option):
    refused(aperturedb, more, option, capsys)


@pytest.mark.parametrize("more, option", [
    (["--project-id", "seven"], "--project-id"), (["--format", "yolo"], "--format"), (["--port", "x"], "--port"),
])
def test_what_argparse_refuses_names_the_option_and_exits_2(capsys, more, option):
    with pytest.raises(SystemExit) as exit:
        main(options(NOWHERE, *more))
    assert exit.value.code == 2 and option in capsys.readouterr().err


def test_a_bad_port_in_the_environment_is_refused_as_an_option(monkeypatch, capsys):
    monkeypatch.setenv("APERTUREDB_PORT", "http")
    with pytest.raises(SystemExit) as exit:
        main(["--host", "localhost"])
    assert exit.value.code == 2 and "argument --port: invalid int value: 'http'" in capsys.readouterr().err


def dump_process(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ls_storage.dump", *args], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONWARNINGS": "ignore"})


def test_python_m_writes_to_stdout_to_a_file_and_fails_in_one_line(aperturedb, aperturedb_images, tmp_path):
    uniqueid = aperturedb_images.add("x.png", 20, 10)
    selection = ["--constraints", json.dumps(aperturedb_images.constraints), "--format", "media-items"]

    to_stdout = dump_process(*options(aperturedb, *selection))
    assert to_stdout.returncode == 0, to_stdout.stderr
    assert [m["media_id"] for m in json.loads(to_stdout.stdout)["media"]] == [uniqueid]
    dash = dump_process(*options(aperturedb, *selection, "--output", "-"))
    assert json.loads(dash.stdout)["media"] == json.loads(to_stdout.stdout)["media"]

    path = tmp_path / "out.json"
    to_file = dump_process(*options(aperturedb, *selection, "--output", str(path)))
    assert to_file.returncode == 0 and to_file.stdout == ""
    assert json.loads(path.read_text())["media"] == json.loads(to_stdout.stdout)["media"]

    refused = dump_process(*options(aperturedb, "--connected-to", "[1]", "--output", str(tmp_path / "no.json")))
    assert refused.returncode == 2 and refused.stdout == "" and "Traceback" not in refused.stderr
    assert refused.stderr == "python -m ls_storage.dump: error: --connected-to: [0] must be an object such as " \
                             '{"class": "Dataset", "constraints": ...}\n'
    assert sorted(os.listdir(tmp_path)) == ["out.json"]  # neither no.json nor a partial file


def test_a_connection_key_alone_or_a_token_connects(aperturedb, aperturedb_images):
    """A key alone (over TCP with the user and password, over REST with an API token); ``--token`` instead of the
    user and password."""
    if aperturedb.server is None:
        pytest.skip("a real ApertureDB: its tokens are not ours to make")
    uniqueid = aperturedb_images.add("k.png", 20, 10)
    token = aperturedb.server.accounts.add_token()
    selection = ["--constraints", json.dumps(aperturedb_images.constraints)]
    by_key = run_bare("--connection-key", connection_key(aperturedb, token if aperturedb.use_rest else None),
                      *selection)
    assert [image["aperturedb_uniqueid"] for image in by_key["images"]] == [uniqueid]
    assert run_bare(*options(aperturedb, *selection, token=token))["images"] == by_key["images"]


def run_bare(*args: str) -> dict:
    """The dump of exactly these options."""
    out = io.StringIO()
    assert main(list(args), stdout=out) == 0
    return json.loads(out.getvalue())


class BrokenPipe(io.StringIO):
    def write(self, text):
        raise BrokenPipeError(32, "Broken pipe")


def test_a_reader_that_goes_away_ends_the_dump_quietly(aperturedb, aperturedb_images, capsys):
    aperturedb_images.add("p.png", 20, 10)
    args = options(aperturedb, "--constraints", json.dumps(aperturedb_images.constraints))
    assert main(args, stdout=BrokenPipe()) == 1
    assert capsys.readouterr().err == ""

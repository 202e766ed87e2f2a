"""Benchmark: images per second through Label Studio's resolver against LocalFiles serving of the same bytes, with
the cache cold, for one or more revisions of the plugin side by side in one run (issue #22, item 6).

One test server (TLS, ``--synthetic N --boxes 0``) serves every revision; each revision runs its own ``label-studio
start`` (plugin settings, SQLite or PostgreSQL, no Redis) with that revision's ``ls_storage`` first on its path
(``git archive``; the working tree when no revision is given), an ApertureDB source storage synced from the test
server and a LocalFiles project holding the same images as files. A round measures each revision in turn (the order
rotated from round to round, so that machine noise hits all alike) with bench_export's measurement 3: ``--media``
images through the resolver (the URL the task API gives the frontend) and through LocalFiles, alternating rounds of
50 fetched by 4 client threads, every image compared with the bytes ApertureDB stores. The client sends no
validators (``If-None-Match``) and keeps no cache, so every resolver answer is a 200 that asked ApertureDB.

The table quotes, per revision, the medians over ``--rounds`` rounds of both rates and of their ratio in each round.

Run: ``.venv/bin/python benchmarks/bench_media.py --revisions 8c5b2f7 d4c1079 --images 1000 --media 1000 --rounds 5``
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
from contextlib import ExitStack
from pathlib import Path

from bench_export import (
    ROOT, Sessions, measure_media, media_urls, synced_project, task_data,
)
from bench_sync import aperturedb_server, write_results
from services import label_studio, postgres

from ls_storage.client.connection import ConnectionSettings, open_connector


def exported(revision: str, work: Path) -> Path:
    """A folder holding ``revision``'s ``ls_storage``, to put first on Label Studio's path."""
    folder = work / f"tree-{revision}"
    folder.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision, "ls_storage"], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def serving(stack: ExitStack, label: str, tree: Path | None, database: str, connection: dict, connector,
            images: int, media: int, work: Path):
    """A Label Studio of one revision with its synced project and LocalFiles copy: the sessions and URLs that
    ``measure_media`` takes."""
    environment = {"LOCAL_FILES_SERVING_ENABLED": "true", "LOCAL_FILES_DOCUMENT_ROOT": str(work)}
    if tree is not None:
        environment["PYTHONPATH"] = str(tree)
    if database == "postgresql":
        environment.update(stack.enter_context(postgres()))
    data_dir = work / f"ls-{label}"
    data_dir.mkdir()
    client = stack.enter_context(label_studio(environment, data_dir))
    project_id = synced_project(client, connection, "media", limit=images)
    tasks = task_data(client, project_id, resolve=False)
    return Sessions(client.url, client.token), media_urls(client, connector, tasks, media, work / f"media-{label}")


def run(args, work: Path) -> list[dict]:
    cert_dir = str(work / "certs")
    with ExitStack() as stack:
        _, adb_port = stack.enter_context(aperturedb_server(args.images, 0, cert_dir, work / "adb.log"))
        settings = ConnectionSettings("localhost", adb_port, "admin", "admin",
                                      ca_cert=Path(cert_dir, "ca.pem").read_text())
        connector = open_connector(settings)
        connection = {"hostname": "localhost", "port": adb_port, "username": "admin", "password": "admin",
                      "ca_cert": settings.ca_cert}
        revisions = args.revisions or ["working tree"]
        servers = {}
        for number, revision in enumerate(revisions):
            tree = exported(revision, work) if args.revisions else None
            servers[revision] = serving(stack, str(number), tree, args.database, connection, connector,
                                        args.images, args.media, work)
        rounds: dict[str, list[dict]] = {revision: [] for revision in revisions}
        for round_number in range(args.rounds):
            order = revisions[round_number % len(revisions):] + revisions[:round_number % len(revisions)]
            for revision in order:
                sessions, urls = servers[revision]
                figures = measure_media(sessions, *urls)
                rounds[revision].append(figures)
                print(json.dumps({"revision": revision, "round": round_number, **figures}), flush=True)
    return [summary(revision, args, measured) for revision, measured in rounds.items()]


def summary(revision: str, args, rounds: list[dict]) -> dict:
    resolver = [figures["resolver_images_per_s"] for figures in rounds]
    local = [figures["localfiles_images_per_s"] for figures in rounds]
    return {"revision": revision, "database": args.database, "images": args.images, "media": args.media,
            "rounds": len(rounds), "resolver_images_per_s": statistics.median(resolver),
            "localfiles_images_per_s": statistics.median(local),
            "ratio": statistics.median(r / l for r, l in zip(resolver, local)),
            "ratios": [r / l for r, l in zip(resolver, local)]}


def print_table(results: list[dict]) -> None:
    print("\n| revision | database | images | rounds | resolver (median) | LocalFiles (median) "
          "| resolver / LocalFiles (median of rounds, range) |")
    print("|---|---|---|---|---|---|---|")
    for f in results:
        print(f"| {f['revision']} | {f['database']} | {f['images']} | {f['rounds']} "
              f"| {f['resolver_images_per_s']:.0f} img/s | {f['localfiles_images_per_s']:.0f} img/s "
              f"| {f['ratio']:.2f} ({min(f['ratios']):.2f}–{max(f['ratios']):.2f}) |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--revisions", nargs="*", default=[],
                        help="git revisions of the plugin to compare (default: the working tree alone)")
    parser.add_argument("--images", type=int, default=1000, help="images in ApertureDB, synced into tasks")
    parser.add_argument("--media", type=int, default=1000, help="images fetched per kind in each round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--database", default="sqlite", choices=["sqlite", "postgresql"])
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "out" / "media.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-media-") as work:
        results = run(args, Path(work))
    write_results(results, args.out)
    print_table(results)


if __name__ == "__main__":
    main()

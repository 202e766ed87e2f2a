"""Benchmark: the ApertureDB test server answers a page in time proportional to the page.

Starts two test servers as processes (``python -m ls_storage.testing.server --synthetic N --boxes 10``),
one with 10,000 images and one with 100,000 images (1,000,000 boxes), and asks both the same pages
of 1,000 images through the real SDK over TLS: ordered by ``_uniqueid`` and by the indexed property
``number``, at the start, middle and end of the store, and the boxes of such a page. It prints the
medians and the large/small ratio of each; a ratio near 1 means the cost does not grow with the
store. Also reports how long the 100k store took to load.

Run: ``.venv/bin/python benchmarks/bench_test_server.py [--repeat 7]``
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("ADB_LOG_FILE", "")
from aperturedb.Connector import Connector  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PAGE = 1000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(images: int, cert_dir: str) -> tuple[subprocess.Popen, int, float]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "ls_storage.testing.server", "--port", str(port), "--cert-dir", cert_dir,
         "--synthetic", str(images), "--boxes", "10"],
        cwd=ROOT, stderr=subprocess.PIPE, text=True,
    )
    load_seconds = float("nan")
    for line in process.stderr:
        found = re.search(r"in ([\d.]+) s", line)
        if found:
            load_seconds = float(found.group(1))
        if "listening" in line:
            return process, port, load_seconds
    raise RuntimeError(f"server for {images} images did not start")


def page_query(order: str, offset: int) -> list:
    return [{"FindImage": {"_ref": 1, "sort": order, "offset": offset, "limit": PAGE,
                           "results": {"list": ["_uniqueid", "name", "adb_image_width", "adb_image_height"]}}}]


def boxes_query(offset: int) -> list:
    return page_query("_uniqueid", offset) + [
        {"FindBoundingBox": {"image_ref": 1, "group_by_source": True, "coordinates": True, "labels": True,
                             "uniqueids": True}}
    ]


def timed(connector: Connector, query: list, repeat: int, check) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        answer, _ = connector.query(query)
        times.append(time.perf_counter() - started)
        check(answer)
    return statistics.median(times)


def check_page(answer) -> None:
    assert answer[0]["FindImage"]["returned"] == PAGE, answer


def check_boxes(answer) -> None:
    check_page(answer)
    boxes = answer[1]["FindBoundingBox"]["entities"]
    assert len(boxes) == PAGE and sum(len(v) for v in boxes.values()) == PAGE * 10


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=100_000)
    args = parser.parse_args()
    results: dict[str, dict[int, float]] = {}
    load_times = {}
    with tempfile.TemporaryDirectory() as cert_dir:
        for size in (args.small, args.large):
            process, port, load_times[size] = start_server(size, cert_dir)
            try:
                connector = Connector("localhost", port, user="admin", password="admin",
                                      ca_cert=os.path.join(cert_dir, "ca.pem"))
                connector.query([{"GetStatus": {}}])
                for place, offset in (("start", 0), ("middle", size // 2), ("end", size - PAGE)):
                    for order in ("_uniqueid", "number"):
                        name = f"FindImage page of {PAGE} by {order}, {place}"
                        results.setdefault(name, {})[size] = timed(
                            connector, page_query(order, offset), args.repeat, check_page)
                    name = f"page of {PAGE} images + their {PAGE * 10} boxes, {place}"
                    results.setdefault(name, {})[size] = timed(connector, boxes_query(offset), args.repeat, check_boxes)
            finally:
                process.terminate()
                process.wait()
    print(f"\nstore load with --synthetic: {args.small} images: {load_times[args.small]:.1f} s, "
          f"{args.large} images ({args.large * 10} boxes): {load_times[args.large]:.1f} s")
    print(f"\n| query (median of {args.repeat}) | {args.small} images | {args.large} images | ratio |")
    print("|---|---|---|---|")
    for name, by_size in results.items():
        small, large = by_size[args.small], by_size[args.large]
        print(f"| {name} | {small * 1000:.1f} ms | {large * 1000:.1f} ms | {large / small:.2f} |")


if __name__ == "__main__":
    main()

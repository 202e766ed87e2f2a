"""Benchmark: ``python -m ls_storage.dump`` at N images, time and peak RSS, COCO and media-items, in one run.

For each N: the test server as its own process (TLS, ``--synthetic N --boxes 10``), then one Label Studio
annotation per image and project (``--projects P``, projects 1 to P) written the way a target storage writes it
(``write_annotations``, 100 to a transaction: 3 boxes and a polygon each with region ids unique to it as Label
Studio makes them, a project id, a user and dates). Each dump runs as its own process with ``--project-id 1
--include-source-regions`` (so each image brings 13 boxes and a polygon, whatever P: ApertureDB leaves the other
projects' annotations out) and ``--output`` to a file; its wall time and its peak RSS are the medians of
``--repeat`` runs. ``--dump-root DIR`` runs the ``ls_storage.dump`` of another checkout (e.g. an older commit's,
``git archive``d) against the same data, for a before/after. The peak RSS is the dump process's own ``VmHWM``, read as
it exits: ``ru_maxrss`` of a child would not do, as Linux carries into it the high-water mark of the parent it was
spawned from (this script, which holds more than a dump).

Run: ``.venv/bin/python benchmarks/bench_dump.py --sizes 1000 10000 100000 [--projects P]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_sync import ROOT, aperturedb_server  # noqa: E402

from ls_storage.client.connection import ConnectionSettings, open_connector  # noqa: E402
from ls_storage.client.source import ImageSelection, iter_image_pages  # noqa: E402
from ls_storage.client.target import AnnotationWrite, ensure_indexes, write_annotations  # noqa: E402
from ls_storage.conversion.annotations import results_to_objects  # noqa: E402

PER_TRANSACTION = 100
FORMATS = ("coco", "media-items")
# Runs the dump as ``python -m ls_storage.dump`` does and writes its peak RSS (VmHWM, kB) to the file named first.
REPORTING_DUMP = """import atexit, re, runpy, sys
report = sys.argv.pop(1)
def peak():
    with open(report, "w") as out:
        out.write(re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read()).group(1))
atexit.register(peak)
sys.argv[0] = "ls_storage.dump"
runpy.run_module("ls_storage.dump", run_name="__main__", alter_sys=True)
"""


def results(index: int) -> list[dict]:
    boxes = [{"id": f"{index}-b{k}", "from_name": "box", "to_name": "image", "type": "rectanglelabels",
              "value": {"x": 5 + k * 20, "y": 10 + k, "width": 15.5, "height": 30.25, "rotation": 10.0 * k,
                        "rectanglelabels": [("cat", "dog", "car")[(index + k) % 3]]}} for k in range(3)]
    outline = {"id": f"{index}-p", "from_name": "outline", "to_name": "image", "type": "polygonlabels",
               "value": {"points": [[10, 10], [60, 15], [40, 70]], "polygonlabels": ["dog"], "closed": True}}
    return boxes + [outline]


def annotate_every_image(settings: ConnectionSettings, projects: int) -> float:
    """One annotation per image and project; returns the seconds it took."""
    started = time.perf_counter()
    connector = open_connector(settings)
    ensure_indexes(connector)  # as checking a target storage does
    next_id = 1
    for page in iter_image_pages(connector, ImageSelection(with_regions=False)):
        writes = []
        for record in page:
            for project in range(1, projects + 1):
                writes.append(AnnotationWrite(next_id, record.uniqueid, {
                    "LS_project_id": project, "LS_task_id": next_id, "LS_completed_by": "bench@example.com",
                    "LS_created_at": {"_date": "2026-01-01T00:00:00+00:00"},
                    "LS_updated_at": {"_date": "2026-01-02T00:00:00+00:00"}, "LS_was_cancelled": False,
                }, results_to_objects(results(next_id), record.width, record.height)))
                next_id += 1
        for start in range(0, len(writes), PER_TRANSACTION):
            write_annotations(connector, writes[start:start + PER_TRANSACTION])
    connector.close()
    return time.perf_counter() - started


def dump_once(port: int, ca_file: str, fmt: str, out: Path, dump_root: Path = ROOT) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one dump process."""
    report = out.with_suffix(".rss")
    command = [sys.executable, "-c", REPORTING_DUMP, str(report), "--host", "localhost", "--port", str(port), "--user", "admin",
               "--password", "admin", "--ca-cert", ca_file, "--format", fmt, "--include-source-regions",
               "--project-id", "1", "--output", str(out)]
    started = time.perf_counter()
    finished = subprocess.run(command, cwd=dump_root, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - started
    if finished.returncode != 0:
        raise RuntimeError(f"dump failed: {finished.stderr.decode()}")
    peak_kb = int(report.read_text())
    report.unlink()
    return elapsed, peak_kb / 1024


def run(images: int, repeat: int, work: Path, projects: int = 1, dump_root: Path = ROOT) -> list[dict]:
    cert_dir = str(work / "certs")
    with aperturedb_server(images, 10, cert_dir, work / f"server-{images}.log") as (_, port):
        settings = ConnectionSettings(hostname="localhost", port=port, username="admin", password="admin",
                                      ca_cert=(Path(cert_dir) / "ca.pem").read_text())
        writing = annotate_every_image(settings, projects)
        rows = []
        for fmt in FORMATS:
            out = work / f"dump-{images}.{fmt}.json"
            runs = [dump_once(port, str(Path(cert_dir) / "ca.pem"), fmt, out, dump_root) for _ in range(repeat)]
            counts = json.loads(out.read_text())["info"]["counts"]
            rows.append({"images": images, "projects": projects, "format": fmt, "seconds": statistics.median(r[0] for r in runs),
                         "peak_rss_mb": statistics.median(r[1] for r in runs), "output_mb": out.stat().st_size / 2**20,
                         "counts": counts, "annotation_writing_s": writing})
            out.unlink()
            print(json.dumps(rows[-1]), flush=True)
        return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--projects", type=int, default=1, help="annotations per image, one per project (default 1)")
    parser.add_argument("--dump-root", type=Path, default=ROOT, help="the checkout whose ls_storage.dump runs")
    parser.add_argument("--out", default=str(ROOT / "artifacts" / "bench_dump.json"))
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-dump-") as work:
        for images in args.sizes:
            rows += run(images, args.repeat, Path(work), args.projects, args.dump_root.resolve())
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(rows, indent=1))
    print_table(rows)


def print_table(rows: list[dict]) -> None:
    base = {row["format"]: row for row in rows if row["images"] == rows[0]["images"]}
    print("| images | projects | format | dump time | images/s | peak RSS | RSS / smallest N | output "
          "| annotations written in |")
    print("|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        ratio = row["peak_rss_mb"] / base[row["format"]]["peak_rss_mb"]
        print(f"| {row['images']:,} | {row['projects']} | {row['format']} | {row['seconds']:.2f} s | {row['images'] / row['seconds']:,.0f} "
              f"| {row['peak_rss_mb']:.0f} MB | {ratio:.2f} | {row['output_mb']:.1f} MB "
              f"| {row['annotation_writing_s']:.1f} s |")


if __name__ == "__main__":
    main()

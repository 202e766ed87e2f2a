"""Runs the fault matrix and writes its table into docs/reliability.md (section "## Faults").

    .venv/bin/python tests/faults/render_reliability.py                    # run tests/faults, then write the table
    .venv/bin/python tests/faults/render_reliability.py --from faults.json # write the table of an earlier run

The matrix records what each case saw in the file ``LS_STORAGE_FAULT_REPORT`` names (tests/faults/conftest.py);
this turns it into Markdown between the markers of the Faults section and leaves the rest of the document alone.
It exits non-zero when the matrix failed, after writing the table (failed rows say FAIL).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = ROOT / "docs" / "reliability.md"
REPORT = ROOT / "artifacts" / "faults.json"
START, END = "<!-- fault-table:start -->", "<!-- fault-table:end -->"
SKELETON = f"""# Reliability

## Faults

{START}
{END}

## Hostile input
"""


def cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def table(report: dict) -> str:
    lines = ["| # | Fault | What the user sees | Recovery | Result | Annotations lost | Secrets found | Time |",
             "|---|---|---|---|---|---|---|---|"]
    for number, case in enumerate(report["cases"], 1):
        result = f"**{case['result']}**: {case['outcome']}" if case["result"] == "pass" else \
            f"**{case['result'].upper()}**: {case['error'] or case['outcome']}"
        lost = "—" if case["annotations_lost"] is None else case["annotations_lost"]
        lines.append("| " + " | ".join([
            str(number), cell(case["fault"]), "<br>".join(cell(seen) for seen in case["user_sees"]) or "—",
            cell("; then ".join(case["recovery"]) or "—"), cell(result), str(lost), str(case["secrets_found"]),
            f"{case['seconds']:.0f} s"]) + " |")
    return "\n".join(lines)


def summary(report: dict) -> str:
    cases = report["cases"]
    passed = sum(case["result"] == "pass" for case in cases)
    lost = sum(case["annotations_lost"] or 0 for case in cases)
    scan = report.get("secrets_scan") or {}
    timeouts = ", ".join(f"`{name}={value}`" for name, value in report["timeouts"].items())
    seed = next((case["details"]["seed"] for case in cases if "seed" in case["details"]), None)
    lines = [
        f"Run of {report['generated']} ({report['machine']}): {passed} of {len(cases)} cases passed; annotations "
        f"lost: {lost}; secrets found: {sum(case['secrets_found'] for case in cases)}. The stack took "
        f"{report.get('startup_seconds', 0):.0f} s to start and the whole matrix {report.get('matrix_seconds', 0):.0f} s"
        f" (`LS_STORAGE_FAULT_SEED={seed}` replays it; timeouts {timeouts}).",
    ]
    if scan:
        lines += ["", f"Secrets scan (last row): {scan['secrets']} distinct passwords, API tokens and connection keys "
                      f"(each storage its own) looked for in {scan['api_answers']} API answers (create, list, detail, "
                      f"validate, sync, errors), {scan['logs']} logs of Label Studio and its RQ workers at DEBUG "
                      f"({scan['log_bytes'] // 1024} KiB, {scan['debug_lines']} DEBUG lines), {scan['redis_values']} "
                      f"values in Redis ({scan['rq_jobs']} RQ jobs' arguments, results and exc_info, decompressed; "
                      f"also what Redis held before each time it was stopped) and the `meta` and `traceback` of "
                      f"{scan['storages']} storages: {len(scan['found'])} found."]
    return "\n".join(lines)


def write(report: dict, document: Path = DOCUMENT) -> None:
    text = document.read_text() if document.exists() else SKELETON
    if START not in text or END not in text:
        raise SystemExit(f"{document} has no {START} ... {END} markers in its Faults section")
    before, rest = text.split(START, 1)
    _, after = rest.split(END, 1)
    document.write_text(f"{before}{START}\n{table(report)}\n\n{summary(report)}\n{END}{after}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="source", type=Path, help="a report written earlier; without it, run the matrix")
    parser.add_argument("--document", type=Path, default=DOCUMENT)
    args = parser.parse_args()
    status = 0
    source = args.source
    if source is None:
        source = REPORT
        source.parent.mkdir(parents=True, exist_ok=True)
        source.unlink(missing_ok=True)
        status = subprocess.call([str(ROOT / "deploy" / "test.sh"), "tests/faults"],
                                 env={**os.environ, "LS_STORAGE_FAULT_REPORT": str(source)})
        if not source.exists():
            raise SystemExit(f"the matrix wrote no report (exit status {status})")
    write(json.loads(source.read_text()), args.document)
    print(f"wrote the fault table of {source} into {args.document}")
    sys.exit(status)


if __name__ == "__main__":
    main()

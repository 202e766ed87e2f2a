"""Runs the abuse suite and writes its figures into docs/reliability.md (section "## Hostile input").

    .venv/bin/python tests/abuse/render_figures.py                   # run tests/abuse, then write the figures
    .venv/bin/python tests/abuse/render_figures.py --from abuse.json # write the figures of an earlier run

The suite writes its summary into the file ``LS_STORAGE_ABUSE_SUMMARY`` names (tests/abuse/conftest.py); this
turns it into Markdown between the markers of the Hostile input section and leaves the rest of the document alone.
It exits non-zero when the suite failed or its figures are not all zeros, after writing them.
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
SUMMARY = ROOT / "artifacts" / "abuse.json"
HEADING = "## Hostile input"
BEGIN, FINISH = "<!-- hostile-input:start -->", "<!-- hostile-input:end -->"


def figures_markdown(summary: dict) -> str:
    rows = ["| Inputs | Tried | 400 naming the field | 500s | Saved |", "|---|---|---|---|---|"]
    for group, counts in summary["by_group"].items():
        rows.append(f"| {group} | {counts['inputs']} | {counts['refused_as_it_must']} | {counts['status_500']} | "
                    f"{counts['saved']} |")
    rows.append(f"| **all hostile inputs** | **{summary['inputs']}** | **{summary['status_400_naming_the_field']}** | "
                f"**{summary['status_500']}** | **{summary['saved']}** |")
    for prop, counts in summary["generated"].items():
        refused = counts["examples"] - counts["not_refused"]
        rows.append(f"| generated (hypothesis): {prop} | {counts['examples']} | {refused} as required | "
                    f"{counts['status_500']} | — |")
    generated = sum(counts["examples"] for counts in summary["generated"].values())
    errors = summary["status_500"] + sum(counts["status_500"] for counts in summary["generated"].values())
    lines = [
        "\n".join(rows), "",
        f"Run of {summary['finished']} ({summary['cores']} cores, Python {summary['python']}): "
        f"{summary['inputs'] + generated} inputs tried ({summary['inputs']} from the catalogue, {generated} generated); "
        f"500s: {errors}; saved: {summary['saved']}; answers over 64 KiB: {summary['echoed']}; Label Studio not "
        f"answering a normal request right after: {summary['unhealthy_after']}; the suite took "
        f"{summary['seconds']:.0f} s (about 60 s of it creating Label Studio's test database).",
    ]
    if summary["failures"]:
        lines += ["", "Not refused as required:", ""] + [f"- {failure['name']}: {failure['status']}"
                                                         for failure in summary["failures"]]
    return "\n".join(lines)


def write(summary: dict, document: Path = DOCUMENT) -> None:
    text = document.read_text() if document.exists() else f"# Reliability\n\n## Faults\n\n{HEADING}\n"
    if BEGIN not in text:
        if HEADING not in text:
            text = text.rstrip("\n") + f"\n\n{HEADING}\n"
        text = text.replace(HEADING, f"{HEADING}\n\n{BEGIN}\n{FINISH}", 1)
    before, rest = text.split(BEGIN, 1)
    after = rest.split(FINISH, 1)[1]
    document.write_text(f"{before}{BEGIN}\n{figures_markdown(summary)}\n{FINISH}{after}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--from", dest="source", type=Path, help="a summary an earlier run wrote")
    parser.add_argument("--document", type=Path, default=DOCUMENT)
    options = parser.parse_args(argv)
    status = 0
    if options.source is None:
        options.source = SUMMARY
        options.source.parent.mkdir(parents=True, exist_ok=True)
        environment = dict(os.environ, LS_STORAGE_ABUSE_SUMMARY=str(options.source))
        status = subprocess.call([str(ROOT / "deploy" / "test.sh"), "tests/abuse", "-q"], cwd=ROOT, env=environment)
    summary = json.loads(options.source.read_text())
    write(summary, options.document)
    zeros = summary["status_500"] == summary["saved"] == 0 and summary["inputs"] == summary["status_400_naming_the_field"]
    return status or (0 if zeros and not summary.get("tests_failed") else 1)


if __name__ == "__main__":
    sys.exit(main())

"""Print the figures the reliability tests recorded (tests/reliability/scale.py) as a Markdown table.

    .venv/bin/python -m tests.reliability.report [--scale long|fast] [DIR]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tests.reliability.scale import results_dir


def rows(directory: Path, scale: str | None) -> list[dict]:
    found = []
    for path in sorted(directory.glob("*.json")):
        document = json.loads(path.read_text())
        if scale and document.get("scale") != scale:
            continue
        found.append(document)
    return found


def table(documents: list[dict]) -> str:
    lines = ["| test | scale | database | when | figures |", "|---|---|---|---|---|"]
    for document in documents:
        figures = ", ".join(f"{key} {value}" for key, value in sorted(document["figures"].items())
                            if not isinstance(value, (dict, list)))
        lines.append(f"| {document['name']} | {document['scale']} | {document['database']} | {document['at']} | {figures} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=["long", "fast"])
    parser.add_argument("directory", nargs="?", type=Path)
    args = parser.parse_args(argv)
    documents = rows(args.directory or results_dir(), args.scale)
    if not documents:
        print("no reliability figures recorded yet")
        return 1
    print(table(documents))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Generate the README's values table from the `# --` comments in chart/values.yaml.

Usage: python ci/values_doc.py [--check]
--check exits 1 when README.md's table differs from what values.yaml says (CI runs it).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
VALUES = ROOT / "chart" / "values.yaml"
README = ROOT / "README.md"
START, END = "<!-- values:start -->", "<!-- values:end -->"
_KEY = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z0-9_]+):")
_DOC_START = re.compile(r"^ *# -- ?(?P<text>.*)$")
_DOC_MORE = re.compile(r"^ *# ?(?P<text>.*)$")


@dataclass(frozen=True)
class Value:
    path: str
    default: Any
    description: str


def documented_values(text: str) -> list[Value]:
    """Every key preceded by a `# --` comment, with its dotted path and default."""
    defaults = yaml.safe_load(text)
    stack: list[tuple[int, str]] = []
    doc: list[str] | None = None
    found: list[Value] = []
    for line in text.splitlines():
        if start := _DOC_START.match(line):
            doc = [start["text"]]
            continue
        if doc is not None and (more := _DOC_MORE.match(line)) and line.lstrip().startswith("#"):
            doc.append(more["text"])
            continue
        key = _KEY.match(line)
        if not key:
            continue
        indent = len(key["indent"])
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, key["key"]))
        if doc is not None:
            path = [k for _, k in stack]
            default: Any = defaults
            for part in path:
                default = default[part]
            found.append(Value(".".join(path), default, " ".join(doc).strip()))
            doc = None
    return found


def table(values: list[Value]) -> str:
    rows = ["| Key | Default | Description |", "| --- | --- | --- |"]
    for value in values:
        default = json.dumps(value.default, separators=(", ", ": ")).replace("|", "\\|")
        rows.append(f"| `{value.path}` | `{default}` | {value.description.replace('|', chr(92) + '|')} |")
    return "\n".join(rows)


def render_readme(readme: str, values: list[Value]) -> str:
    before, rest = readme.split(START, 1)
    _, after = rest.split(END, 1)
    return f"{before}{START}\n{table(values)}\n{END}{after}"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when README.md is stale")
    args = parser.parse_args(argv)
    values = documented_values(VALUES.read_text())
    current = README.read_text()
    wanted = render_readme(current, values)
    if args.check:
        if current != wanted:
            print("README.md's values table is stale: run `make docs`", file=sys.stderr)
            return 1
        return 0
    README.write_text(wanted)
    print(f"README.md: {len(values)} values documented")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

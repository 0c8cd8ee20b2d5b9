"""Copy the files the chart ships from their home in the repo into chart/files/ (Helm reads only its folder).

pod_templates/*.yaml      -> chart/files/pod_templates/
hooks/airflow_k8s_hooks/  -> chart/files/hooks/airflow_k8s_hooks/   (the hook Jobs' code, no image build)

Usage: python ci/sync_chart_files.py [--check]   (--check: exit 1 when a copy differs; CI runs it)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FILES = ROOT / "chart" / "files"
SOURCES = (
    (ROOT / "pod_templates", "*.yaml", FILES / "pod_templates"),
    (ROOT / "hooks" / "airflow_k8s_hooks", "**/*.py", FILES / "hooks" / "airflow_k8s_hooks"),
)


def wanted() -> dict[Path, bytes]:
    """Destination path -> content, for every file the chart must carry."""
    files: dict[Path, bytes] = {}
    for source, pattern, destination in SOURCES:
        for path in sorted(source.glob(pattern)):
            if "__pycache__" not in path.parts:
                files[destination / path.relative_to(source)] = path.read_bytes()
    return files


def present() -> set[Path]:
    return {p for _, pattern, destination in SOURCES for p in destination.glob(pattern)
            if "__pycache__" not in p.parts}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    files = wanted()
    stale = sorted(str(p.relative_to(ROOT)) for p, data in files.items() if not p.is_file() or p.read_bytes() != data)
    extra = sorted(str(p.relative_to(ROOT)) for p in present() - set(files))
    if args.check:
        if stale or extra:
            print(f"chart/files is out of date (run `make sync`): differs {stale}, extra {extra}", file=sys.stderr)
            return 1
        return 0
    for path in present() - set(files):
        path.unlink()
    for path, data in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    print(f"chart/files: {len(files)} files in sync")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

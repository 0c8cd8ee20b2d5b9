"""The chart carries hooks/ and pod_templates/ through symlinks in chart/files: Helm follows them when it
loads the chart directory, and `helm package` must store the files themselves, byte for byte."""

from __future__ import annotations

import os
import subprocess
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "chart"
TOOLS = ROOT / ".tools" / "bin"
# chart/files/<link> -> the directory it stands for.
LINKS = {
    Path("hooks/airflow_k8s_hooks"): ROOT / "hooks" / "airflow_k8s_hooks",
    Path("pod_templates"): ROOT / "pod_templates",
}


def shipped() -> dict[str, bytes]:
    """Path inside chart/files -> content, for every file the links bring in."""
    files = {}
    for link, target in LINKS.items():
        for path in sorted(target.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix in {".py", ".yaml"}:
                files[str(link / path.relative_to(target))] = path.read_bytes()
    return files


@pytest.mark.parametrize("link", sorted(LINKS, key=str), ids=str)
def test_link_points_at_the_one_copy(link: Path) -> None:
    path = CHART / "files" / link
    assert path.is_symlink(), f"chart/files/{link} must be a symlink, not a copy"
    assert not os.path.isabs(os.readlink(path)), "a relative link, so any checkout resolves it"
    assert path.resolve() == LINKS[link]


@pytest.mark.parametrize("helm", ["helm", "helm3"])
def test_package_stores_the_linked_files(helm: str, tmp_path: Path) -> None:
    binary = TOOLS / helm
    if not binary.exists():
        pytest.skip(f"{binary} not installed")
    subprocess.run([str(binary), "package", str(CHART), "-d", str(tmp_path)], check=True, capture_output=True)
    (archive,) = tmp_path.glob("*.tgz")
    with tarfile.open(archive) as tar:
        members = {m.name.split("/", 1)[1]: m for m in tar.getmembers()}
        expected = shipped()
        assert expected, "the links bring in no files"
        for name, content in expected.items():
            member = members.get(f"files/{name}")
            assert member is not None and member.isfile(), f"{helm} package lacks files/{name}"
            extracted = tar.extractfile(member)
            assert extracted is not None and extracted.read() == content, f"files/{name} differs"
        assert not [m.name for m in members.values() if m.issym() or m.islnk()], "links stored in the archive"

"""Import the locally built OCI archives (.state/images/*.tar) into containerd's CRI namespace, skipping
archives whose every image is already there with the same digest. There is no registry to pull from."""

from __future__ import annotations

import json
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

from layout import NodeDirs
from shell import run

NAME_ANNOTATIONS = ("io.containerd.image.name", "org.opencontainers.image.ref.name")


@dataclass(frozen=True)
class ArchiveImage:
    name: str
    digest: str


def archive_images(archive: Path) -> list[ArchiveImage]:
    """The images an OCI archive names in its index.json (reading only the tar headers and that file)."""
    with tarfile.open(archive) as tar:
        for member in tar:
            if member.name.lstrip("./") == "index.json":
                extracted = tar.extractfile(member)
                index = json.load(extracted) if extracted else {}
                break
        else:
            raise RuntimeError(f"{archive} is not an OCI archive (no index.json)")
    images = []
    for manifest in index.get("manifests", []):
        annotations = manifest.get("annotations", {})
        name = next((annotations[key] for key in NAME_ANNOTATIONS if key in annotations), None)
        if name:
            images.append(ArchiveImage(name, manifest["digest"]))
    return images


def _ctr(node: NodeDirs, *args: str, timeout: float = 60) -> str:
    return run(node.ctr(*args), timeout=timeout).stdout


def present_images(node: NodeDirs) -> dict[str, str]:
    """name → manifest (or index) digest of the images a node's containerd has."""
    lines = _ctr(node, "images", "ls").splitlines()[1:]
    present = {}
    for line in lines:
        fields = line.split()
        if len(fields) >= 3:
            present[fields[0]] = fields[2]
    return present


def import_archives(node: NodeDirs, archive_dir: Path) -> list[str]:
    """Import into one node every archive it does not have yet; returns a line per archive for the log."""
    report = []
    archives = sorted(archive_dir.glob("*.tar")) if archive_dir.exists() else []
    present = present_images(node) if archives else {}
    for archive in archives:
        wanted = archive_images(archive)
        if wanted and all(present.get(image.name) == image.digest for image in wanted):
            report.append(f"{node.node.name}: {archive.name}: already imported")
            continue
        started = time.monotonic()
        # Large archives (the Airflow image is ~1 GB) take a while to unpack on 2 cores.
        _ctr(node, "images", "import", "--snapshotter", "overlayfs", str(archive), timeout=900)
        names = ", ".join(image.name for image in wanted)
        report.append(f"{node.node.name}: {archive.name}: imported {names} in {time.monotonic() - started:.1f}s")
    return report

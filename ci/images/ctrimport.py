"""Load archives into the local cluster's containerd, where the kubelet (CRI) looks for images."""

from __future__ import annotations

import subprocess
from pathlib import Path

NAMESPACE = "k8s.io"  # the CRI plugin only sees images in this namespace


def _ctr(ctr: str, address: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ctr, "--address", str(address), "--namespace", NAMESPACE, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def containerd_up(ctr: str, address: Path) -> bool:
    if not address.is_socket():
        return False
    try:
        return _ctr(ctr, address, "version", timeout=10).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def present_digest(ctr: str, address: Path, ref: str) -> str | None:
    """Manifest digest containerd holds for `ref`, or None."""
    listing = _ctr(ctr, address, "images", "ls", f"name=={ref}")
    if listing.returncode:
        raise RuntimeError(listing.stderr.strip())
    for line in listing.stdout.splitlines()[1:]:
        cols = line.split()
        if len(cols) >= 3 and cols[0] == ref:
            return cols[2]
    return None


def import_archive(
    ctr: str, address: Path, archive: Path, ref: str, digest: str, snapshotter: str = "overlayfs"
) -> str:
    """Import unless containerd already has this exact manifest; return what happened.

    Unpacked into the snapshotter the CRI plugin uses, so the first pod start does not unpack.
    """
    if present_digest(ctr, address, ref) == digest:
        return "already present"
    result = _ctr(ctr, address, "images", "import", "--snapshotter", snapshotter, str(archive))
    if result.returncode:
        raise RuntimeError(f"ctr images import {archive} failed: {result.stderr.strip()}")
    if present_digest(ctr, address, ref) != digest:
        raise RuntimeError(f"{ref} not found with digest {digest} after import:\n{result.stdout}")
    return "imported"

"""Each node's cgroup (`cgroupRoot` of its kubelet, holding its `kubepods`): created before the kubelet
starts, emptied and removed by `down`."""

from __future__ import annotations

import contextlib
from pathlib import Path

import procs
from layout import Node

# cgroup v1 copies nothing into a new cpuset cgroup: without CPUs and memory nodes no process can join it.
CPUSET_FILES = ("cpuset.cpus", "cpuset.mems")


def hierarchies() -> list[Path]:
    """Mount points of every cgroup hierarchy (v1 controllers, the v1 name=systemd one, v2)."""
    mounts = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        fs_type = fields[fields.index("-") + 1]
        if fs_type in ("cgroup", "cgroup2"):
            mounts.append(Path(fields[4]))
    return mounts


def _node_dirs(node: Node) -> list[Path]:
    return [hierarchy / node.cgroup_root.lstrip("/") for hierarchy in hierarchies()]


def create_node_cgroups(node: Node) -> None:
    """The kubelet refuses a cgroupRoot that is missing from any hierarchy."""
    for directory in _node_dirs(node):
        directory.mkdir(exist_ok=True)
        for name in CPUSET_FILES:
            own, parent = directory / name, directory.parent / name
            if own.exists() and not own.read_text().strip():
                own.write_text(parent.read_text())


def kill_node_cgroups(node: Node) -> None:
    """Kill the processes left in a node's cgroups (pods of a crashed kubelet), deepest first, and remove them."""
    for top in _node_dirs(node):
        if not top.is_dir():
            continue
        groups = sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True)
        groups.append(top)
        for group in groups:
            try:
                pids = [int(pid) for pid in (group / "cgroup.procs").read_text().split()]
            except OSError:
                continue
            for pid in pids:
                procs.stop_pid(pid, grace=1)
        for group in groups:
            with contextlib.suppress(OSError):
                group.rmdir()

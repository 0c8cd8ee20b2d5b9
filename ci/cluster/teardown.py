"""`down`, and the clean-up `up` runs after a crash: stop what we started (by recorded PID), empty
containerd, then remove mounts, network namespaces, CNI state, iptables chains, the bridge and the
host settings we changed. Every step tolerates a half-built or already-clean state."""

from __future__ import annotations

import contextlib
import shutil
import time
from pathlib import Path

import components
import health
import hostnet
import layout
import netpol
import procs
from layout import StateDirs
from shell import run, succeeds

CNI_CACHE = Path("/var/lib/cni/results")
NETNS_DIR = Path("/run/netns")


def stop_components(state: StateDirs, names: tuple[str, ...]) -> None:
    for name in names:
        record = procs.load(state.pids, name)
        if record is None:
            continue
        if procs.is_alive(record):
            print(f"  stopping {name} (pid {record.pid})", flush=True)
        procs.stop(state.pids, record)


def _ctr(state: StateDirs, *args: str) -> list[str]:
    result = run(["ctr", "--address", str(state.containerd_socket), "-n", "k8s.io", *args], check=False)
    return result.stdout.split() if result.returncode == 0 else []


def empty_containerd(state: StateDirs) -> list[str]:
    """Kill and delete every container (pod sandboxes included), keeping the images; returns their IDs."""
    started_here = False
    record = procs.load(state.pids, "containerd")
    config = state.config / "containerd.toml"
    if (record is None or not procs.is_alive(record)) and config.exists() and state.containerd_root.exists():
        # After a crash: start containerd just long enough to delete what it still knows about.
        procs.start(state.pids, "containerd", components.containerd(state).argv, state.logs / "containerd.log")
        started_here = True
    record = procs.load(state.pids, "containerd")
    running = record is not None and procs.is_alive(record)
    deadline = time.monotonic() + 30
    while running and not health.containerd_ready(state) and time.monotonic() < deadline:
        time.sleep(0.3)
    containers: list[str] = []
    if health.containerd_ready(state):
        tasks = _ctr(state, "tasks", "ls", "-q")
        for task in tasks:
            _ctr(state, "tasks", "kill", "-s", "SIGKILL", task)
        for task in tasks:
            _ctr(state, "tasks", "delete", "-f", task)
        containers = _ctr(state, "containers", "ls", "-q")
        for container in containers:
            _ctr(state, "containers", "delete", container)
        if tasks or containers:
            print(f"  removed {len(containers)} containers ({len(tasks)} running)", flush=True)
    elif started_here:
        print("  containerd did not start for clean-up; removing its state by hand", flush=True)
    stop_components(state, ("containerd",))
    return containers


def stop_leftover_shims(state: StateDirs) -> None:
    """containerd records each shim's PID in its own state dir; shims outlive a crashed containerd."""
    task_dir = state.containerd_state / "io.containerd.runtime.v2.task"
    if not task_dir.exists():
        return
    for pid_file in task_dir.glob("*/*/shim.pid"):
        try:
            procs.stop_pid(int(pid_file.read_text().strip()))
        except ValueError:
            continue


def _cgroup_roots() -> list[Path]:
    roots = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        fs_type = fields[fields.index("-") + 1]
        if fs_type in ("cgroup", "cgroup2"):
            roots.append(Path(fields[4]))
    return roots


def kill_pod_cgroups() -> None:
    """Kill processes left in the kubelet's `kubepods` cgroups (only our kubelet creates them here), then
    remove the cgroups so the next kubelet starts clean."""
    for root in _cgroup_roots():
        kubepods = root / "kubepods"
        if not kubepods.is_dir():
            continue
        groups = sorted((p for p in kubepods.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True)
        groups.append(kubepods)
        for group in groups:
            procs_file = group / "cgroup.procs"
            try:
                pids = [int(pid) for pid in procs_file.read_text().split()]
            except OSError:
                continue
            for pid in pids:
                procs.stop_pid(pid, grace=1)
        for group in groups:
            with contextlib.suppress(OSError):
                group.rmdir()


def unmount_under(root: Path) -> None:
    """Unmount everything mounted below `root` (volumes, rootfs overlays, shm), deepest first."""
    mounts = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        mount_point = line.split()[4].replace("\\040", " ")
        if mount_point == str(root) or mount_point.startswith(str(root) + "/"):
            mounts.append(mount_point)
    for mount_point in sorted(set(mounts), key=len, reverse=True):
        if not succeeds(["umount", mount_point]):
            run(["umount", "-l", mount_point], check=False)


def remove_pod_network_namespaces() -> None:
    """containerd names pod netns /run/netns/cni-*; ours are those whose interface is on the pod network."""
    if not NETNS_DIR.exists():
        return
    prefix = layout.NODE_IP.rsplit(".", 1)[0] + "."
    for netns in NETNS_DIR.glob("cni-*"):
        addresses = run(["ip", "-n", netns.name, "-4", "-o", "addr"], check=False).stdout
        if f"inet {prefix}" in addresses or not addresses.strip():
            # An empty (never configured or already torn) cni-* namespace is a leftover of a failed sandbox.
            run(["ip", "netns", "delete", netns.name], check=False)


def remove_cni_state(state: StateDirs, sandbox_ids: list[str]) -> None:
    """IPAM leases, and libcni's result cache for our network and for our sandboxes' loopback."""
    shutil.rmtree(state.cni_ipam, ignore_errors=True)
    if not CNI_CACHE.exists():
        return
    cached = list(CNI_CACHE.glob(f"{layout.CNI_NETWORK}-*"))
    cached += [CNI_CACHE / f"cni-loopback-{sandbox}-lo" for sandbox in sandbox_ids]
    for path in cached:
        path.unlink(missing_ok=True)


def remove_iptables(kube: Path | None) -> None:
    if kube is not None and kube.exists():
        # kube-proxy's own clean-up knows every chain and jump it made, in iptables and ip6tables.
        run([str(kube), "proxy", "--cleanup"], check=False, timeout=60)
    hostnet.remove_kube_chains()
    hostnet.remove_isolation_chains()
    # The enforcer removes its chains when it stops; this covers one that was killed or crashed.
    netpol.remove_chains()


def remove_state(state: StateDirs) -> None:
    """Everything but the image store (containerd root) and the logs."""
    for path in (
        state.etcd,
        state.kubelet,
        state.pki,
        state.config,
        state.pids,
        state.containerd_state,
        state.root / "cni",
    ):
        shutil.rmtree(path, ignore_errors=True)
    ttrpc_socket = state.containerd_socket.with_name(state.containerd_socket.name + ".ttrpc")
    for path in (state.admin_kubeconfig, state.containerd_socket, ttrpc_socket):
        path.unlink(missing_ok=True)


def down(state: StateDirs, kube: Path | None) -> None:
    stop_components(state, tuple(n for n in components.STOP_ORDER if n != "containerd"))
    containers = empty_containerd(state)
    stop_leftover_shims(state)
    kill_pod_cgroups()
    unmount_under(state.kubelet)
    unmount_under(state.containerd_state)
    unmount_under(state.containerd_root)
    remove_pod_network_namespaces()
    remove_cni_state(state, containers)
    remove_iptables(kube)
    hostnet.delete_bridge()
    hostnet.restore_host_settings(state.host_settings)
    remove_state(state)


def leftovers(state: StateDirs) -> list[str]:
    """What a previous cluster left on this host: the reasons `up` cleans before it starts."""
    found = [f"process record {r.name} (pid {r.pid}, dead)" for r in procs.records(state.pids) if not procs.is_alive(r)]
    if hostnet.bridge_exists():
        found.append(f"bridge {layout.BRIDGE}")
    if state.etcd.exists():
        found.append("etcd data")
    if state.host_settings.exists():
        found.append("recorded host settings")
    mounted = [line for line in Path("/proc/self/mountinfo").read_text().splitlines() if str(state.root) in line]
    if mounted:
        found.append(f"{len(mounted)} mounts under {state.root}")
    return found

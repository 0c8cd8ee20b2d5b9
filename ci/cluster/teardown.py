"""`down`, and the clean-up `up` runs after a crash: stop what we started (by recorded PID), empty
containerd, then remove mounts, network namespaces, CNI state, iptables chains, the bridge and the
host settings we changed. Every step tolerates a half-built or already-clean state."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import cgroups
import components
import health
import hostnet
import layout
import netpolicy
import procs
from layout import NodeDirs, StateDirs
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


def _ctr(node: NodeDirs, *args: str) -> list[str]:
    result = run(node.ctr(*args), check=False)
    return result.stdout.split() if result.returncode == 0 else []


def empty_containerd(state: StateDirs, node: NodeDirs) -> list[str]:
    """Kill and delete every container (pod sandboxes included) of a node, keeping the images; returns their IDs."""
    name = node.node.process("containerd")
    started_here = False
    record = procs.load(state.pids, name)
    stopped = record is None or not procs.is_alive(record)
    if stopped and node.containerd_config.exists() and node.containerd_root.exists():
        # After a crash: start containerd just long enough to delete what it still knows about.
        procs.start(state.pids, name, components.containerd(node).argv, state.logs / f"{name}.log")
        started_here = True
    record = procs.load(state.pids, name)
    running = record is not None and procs.is_alive(record)
    deadline = time.monotonic() + 30
    while running and not health.containerd_ready(node) and time.monotonic() < deadline:
        time.sleep(0.3)
    containers: list[str] = []
    if health.containerd_ready(node):
        tasks = _ctr(node, "tasks", "ls", "-q")
        for task in tasks:
            _ctr(node, "tasks", "kill", "-s", "SIGKILL", task)
        for task in tasks:
            _ctr(node, "tasks", "delete", "-f", task)
        containers = _ctr(node, "containers", "ls", "-q")
        for container in containers:
            _ctr(node, "containers", "delete", container)
        if tasks or containers:
            print(f"  {node.node.name}: removed {len(containers)} containers ({len(tasks)} running)", flush=True)
    elif started_here:
        print(f"  {name} did not start for clean-up; removing its state by hand", flush=True)
    stop_components(state, (name,))
    return containers


def stop_leftover_shims(node: NodeDirs) -> None:
    """containerd records each shim's PID in its own state dir; shims outlive a crashed containerd."""
    task_dir = node.containerd_state / "io.containerd.runtime.v2.task"
    if not task_dir.exists():
        return
    for pid_file in task_dir.glob("*/*/shim.pid"):
        try:
            procs.stop_pid(int(pid_file.read_text().strip()))
        except ValueError:
            continue


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
    for node in state.nodes:
        shutil.rmtree(node.cni_ipam, ignore_errors=True)
    if not CNI_CACHE.exists():
        return
    cached = list(CNI_CACHE.glob(f"{layout.CNI_NETWORK}-*"))
    cached += [CNI_CACHE / f"cni-loopback-{sandbox}-lo" for sandbox in sandbox_ids]
    for path in cached:
        path.unlink(missing_ok=True)


def remove_netfilter(kube: Path | None) -> None:
    if kube is not None and kube.exists():
        # kube-proxy's own clean-up knows every chain and jump it made, in iptables and ip6tables.
        run([str(kube), "proxy", "--cleanup"], check=False, timeout=60)
    hostnet.remove_kube_chains()
    hostnet.remove_isolation_chains()
    netpolicy.remove_chain()


def remove_state(state: StateDirs) -> None:
    """Everything but the image stores (each node's containerd root) and the logs."""
    node_paths = [
        path
        for node in state.nodes
        for path in (node.kubelet, node.pod_logs, node.containerd_state, node.root / "cni", node.local_path)
    ]
    for path in (state.etcd, state.pki, state.config, state.pids, state.shared_volumes, *node_paths):
        shutil.rmtree(path, ignore_errors=True)
    for node in state.nodes:
        socket = node.containerd_socket
        for path in (socket, socket.with_name(socket.name + ".ttrpc"), node.containerd_config, node.kubelet_config):
            path.unlink(missing_ok=True)
    state.admin_kubeconfig.unlink(missing_ok=True)


def down(state: StateDirs, kube: Path | None) -> None:
    stop_components(state, tuple(n for n in components.STOP_ORDER if n not in components.CONTAINERDS))
    containers: list[str] = []
    for node in state.nodes:
        containers += empty_containerd(state, node)
        stop_leftover_shims(node)
        cgroups.kill_node_cgroups(node.node)
        unmount_under(node.kubelet)
        unmount_under(node.containerd_state)
        unmount_under(node.containerd_root)
    remove_pod_network_namespaces()
    remove_cni_state(state, containers)
    remove_netfilter(kube)
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

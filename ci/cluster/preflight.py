"""Checks before `up` starts anything: each failure says what is wrong and how to fix it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import hostnet
import layout
import procs
from layout import StateDirs

REQUIRED_COMMANDS = {
    "containerd": "containerd",
    "containerd-shim-runc-v2": "containerd",
    "ctr": "containerd",
    "runc": "runc",
    "iptables": "iptables",
    "ip6tables": "iptables",
    "nft": "nftables",
    "conntrack": "conntrack",
    "ip": "iproute2",
    "mount": "util-linux",
}
REQUIRED_CNI_PLUGINS = ("bridge", "host-local", "loopback")
# sockaddr_un.sun_path is 108 bytes; the kubelet and containerd put sockets under the state dir.
MAX_SOCKET_PATH = 107


class PreflightError(RuntimeError):
    pass


def require_root() -> None:
    if os.geteuid() != 0:
        raise PreflightError(
            "the local cluster needs root (it runs containerd and the kubelet, creates a bridge and "
            "iptables rules): run `sudo make cluster`"
        )


def require_host_tools() -> None:
    missing = sorted({package for command, package in REQUIRED_COMMANDS.items() if shutil.which(command) is None})
    missing_cni = [p for p in REQUIRED_CNI_PLUGINS if not (layout.CNI_BIN_DIR / p).exists()]
    if missing_cni:
        missing.append("containernetworking-plugins")
    if missing:
        raise PreflightError(f"missing Debian packages: {' '.join(missing)}: run `bash ci/install-cluster-deps.sh`")


def require_short_socket_paths(state: StateDirs) -> None:
    longest = max((node.kubelet / "pod-resources" / "kubelet.sock" for node in state.nodes), key=lambda p: len(str(p)))
    if len(str(longest)) > MAX_SOCKET_PATH:
        raise PreflightError(
            f"the repository path is too deep for unix sockets ({len(str(longest))} > {MAX_SOCKET_PATH} "
            f"characters for {longest}): clone it to a shorter path"
        )


def other_checkout(pid: int) -> Path | None:
    """The checkout whose local cluster `pid` belongs to, if it is one (its flags name that state dir)."""
    marker = "/.state/cluster/"
    for argument in procs.argv_of(pid):
        if marker in argument:
            return Path(argument.split("=", 1)[-1].split(marker, 1)[0])
    return None


def other_clusters(state: StateDirs) -> set[Path]:
    """Checkouts (not this one) whose local cluster holds our ports: they share the bridge and chains."""
    found = set()
    for port in layout.PORTS:
        for pid in procs.port_holders(port.number, port.host, port.protocol):
            checkout = other_checkout(pid) if pid else None
            if checkout is not None and checkout.resolve() != layout.REPO_ROOT.resolve():
                found.add(checkout)
    return found


def require_free_ports(state: StateDirs) -> None:
    ours = {record.pid for record in procs.records(state.pids) if procs.is_alive(record)}
    taken, checkouts = [], set()
    for port in layout.PORTS:
        holders = [pid for pid in procs.port_holders(port.number, port.host, port.protocol) if pid not in ours]
        for pid in holders:
            who = procs.describe_pid(pid) if pid else "an unknown process"
            taken.append(f"{port.protocol} {port.host}:{port.number} (for {port.owner}) is taken by {who}")
            checkout = other_checkout(pid) if pid else None
            if checkout is not None:
                checkouts.add(checkout)
    if checkouts:
        where = ", ".join(str(c) for c in sorted(checkouts))
        raise PreflightError(
            f"a local cluster from another checkout is running ({where}): stop it there with "
            "`make cluster-down` (python ci/cluster/cluster.py down), or use it with "
            f"KUBECONFIG=<checkout>/.state/cluster/admin.kubeconfig\n  " + "\n  ".join(taken)
        )
    if taken:
        raise PreflightError(
            "ports the cluster needs are in use:\n  " + "\n  ".join(taken) + "\nstop those processes and retry"
        )


def require_free_network() -> None:
    clash = hostnet.foreign_route_to_pod_network()
    if clash:
        raise PreflightError(
            f"the pod network {layout.POD_CIDR} is already routed on this host ({clash}): "
            "remove that route/interface first"
        )
    if hostnet.bridge_exists():
        addresses = hostnet.bridge_addresses()
        expected = f"{layout.NODE_IP}/{layout.POD_PREFIX_LEN}"
        if addresses and expected not in addresses:
            raise PreflightError(
                f"a bridge {layout.BRIDGE} with addresses {addresses} exists and is not this tool's: "
                f"remove it (`ip link delete {layout.BRIDGE}`) if nothing uses it"
            )

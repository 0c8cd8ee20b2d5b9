"""Host networking for the node: the bridge that is the node's address, the sysctls the data path
needs, and an iptables chain that keeps pod traffic on the bridge. Each step has its undo here."""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from pathlib import Path

import layout
from shell import run, succeeds

ISOLATION_CHAIN = "AIRFLOW-K8S-ISOLATE"

# What `up` changes on the host (itself, or the kubelet and CNI plugins it starts), so `down` can put
# the host back as it was.
RECORDED_SYSCTLS = (
    "net.ipv4.ip_forward",
    "net.bridge.bridge-nf-call-iptables",
    "net.bridge.bridge-nf-call-ip6tables",
    "vm.overcommit_memory",
    "vm.panic_on_oom",
    "kernel.panic",
    "kernel.panic_on_oops",
    "kernel.keys.root_maxkeys",
    "kernel.keys.root_maxbytes",
)


def _sysctl_path(name: str) -> Path:
    return Path("/proc/sys") / name.replace(".", "/")


def read_sysctl(name: str) -> str | None:
    path = _sysctl_path(name)
    return path.read_text().strip() if path.exists() else None


def write_sysctl(name: str, value: str) -> None:
    _sysctl_path(name).write_text(value + "\n")


def record_host_settings(record: Path) -> None:
    """Save the host's sysctl values once per cluster; a re-`up` after a crash keeps the first record."""
    if record.exists():
        return
    values = {name: read_sysctl(name) for name in RECORDED_SYSCTLS}
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps(values, indent=2))


def restore_host_settings(record: Path) -> None:
    if not record.exists():
        return
    values: dict[str, str | None] = json.loads(record.read_text())
    for name, value in values.items():
        if value is not None and read_sysctl(name) not in (None, value):
            write_sysctl(name, value)
    record.unlink()


def enable_bridge_netfilter() -> None:
    """Make bridged pod-to-pod packets pass iptables, so a reply from a Service backend on the same bridge
    is un-DNATed by conntrack; and let the host route between bridge ports (pod → ClusterIP → pod)."""
    if read_sysctl("net.bridge.bridge-nf-call-iptables") is None:
        # br_netfilter is a module on stock kernels; built in (already present) on some VMs.
        succeeds(["modprobe", "br_netfilter"])
    if read_sysctl("net.bridge.bridge-nf-call-iptables") is None:
        raise RuntimeError(
            "the kernel has no br_netfilter (net.bridge.bridge-nf-call-iptables is missing): "
            "Services whose backend shares the bridge with the client cannot work"
        )
    write_sysctl("net.bridge.bridge-nf-call-iptables", "1")
    write_sysctl("net.ipv4.ip_forward", "1")


def bridge_exists() -> bool:
    return Path("/sys/class/net", layout.BRIDGE).exists()


def bridge_addresses() -> list[str]:
    result = run(["ip", "-j", "addr", "show", "dev", layout.BRIDGE], check=False)
    if result.returncode != 0:
        return []
    interfaces = json.loads(result.stdout or "[]")
    return [
        f"{info['local']}/{info['prefixlen']}"
        for interface in interfaces
        for info in interface.get("addr_info", [])
        if info.get("family") == "inet"
    ]


def foreign_route_to_pod_network() -> str | None:
    """A route to the pod network through an interface that is not our bridge means a clash."""
    pod_net = ipaddress.ip_network(layout.POD_CIDR)
    routes = json.loads(run(["ip", "-j", "route", "show"]).stdout or "[]")
    for route in routes:
        dst, dev = route.get("dst", ""), route.get("dev", "")
        if dst in ("", "default") or dev == layout.BRIDGE:
            continue
        if ipaddress.ip_network(dst, strict=False).overlaps(pod_net):
            return f"{dst} dev {dev}"
    return None


def create_bridge() -> None:
    """Create the bridge with the node address before the kubelet starts: it is the node's InternalIP
    and the apiserver's advertise address."""
    expected = f"{layout.NODE_IP}/{layout.POD_PREFIX_LEN}"
    if not bridge_exists():
        run(["ip", "link", "add", layout.BRIDGE, "type", "bridge"])
    if expected not in bridge_addresses():
        run(["ip", "addr", "add", expected, "dev", layout.BRIDGE])
    run(["ip", "link", "set", layout.BRIDGE, "up"])
    # The host reaches ClusterIPs through the bridge, from the node address: without this route it
    # would pick the default route's interface and address (or have no route at all on an offline host).
    run(["ip", "route", "replace", layout.SERVICE_CIDR, "dev", layout.BRIDGE, "src", layout.NODE_IP])


def delete_bridge() -> None:
    if bridge_exists():
        run(["ip", "link", "delete", layout.BRIDGE])


@dataclass(frozen=True)
class IsolationChain:
    """A chain of ours, hooked into a built-in chain for packets to or from the bridge."""

    binary: str
    name: str
    hook: str
    hook_match: tuple[str, ...]
    rules: tuple[tuple[str, ...], ...]


def isolation_chains() -> tuple[IsolationChain, ...]:
    bridge, node_ip = layout.BRIDGE, layout.NODE_IP
    established = ("-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "RETURN")
    return (
        # Pods have nowhere to go but the bridge: nothing is forwarded between it and the host's own
        # interfaces, even with ip_forward on (the CNI bridge plugin turns it on).
        IsolationChain(
            "iptables",
            f"{ISOLATION_CHAIN}-FWD",
            "FORWARD",
            (),
            (
                ("-i", bridge, "-o", bridge, "-j", "RETURN"),
                ("-i", bridge, "-j", "REJECT"),
                ("-o", bridge, "-j", "REJECT"),
            ),
        ),
        # From pods the host offers only the apiserver and DNS on the node address (the `kubernetes`
        # and `kube-dns` Services' endpoints), never other services it runs on any of its addresses.
        IsolationChain(
            "iptables",
            f"{ISOLATION_CHAIN}-IN",
            "INPUT",
            ("-i", bridge),
            (
                established,
                ("-d", node_ip, "-p", "tcp", "--dport", str(layout.APISERVER_PORT), "-j", "RETURN"),
                ("-d", node_ip, "-p", "udp", "--dport", "53", "-j", "RETURN"),
                ("-d", node_ip, "-p", "tcp", "--dport", "53", "-j", "RETURN"),
                ("-j", "REJECT"),
            ),
        ),
        IsolationChain("ip6tables", f"{ISOLATION_CHAIN}-IN", "INPUT", ("-i", bridge), (established, ("-j", "DROP"))),
        IsolationChain("ip6tables", f"{ISOLATION_CHAIN}-FWD", "FORWARD", ("-i", bridge), (("-j", "DROP"),)),
    )


def add_isolation_chains() -> None:
    for chain in isolation_chains():
        iptables = [chain.binary, "-w"]
        if not succeeds([*iptables, "-n", "-L", chain.name]):
            run([*iptables, "-N", chain.name])
        run([*iptables, "-F", chain.name])
        for rule in chain.rules:
            run([*iptables, "-A", chain.name, *rule])
        hook = [*chain.hook_match, "-j", chain.name]
        if not succeeds([*iptables, "-C", chain.hook, *hook]):
            run([*iptables, "-I", chain.hook, "1", *hook])


def remove_isolation_chains() -> None:
    for chain in isolation_chains():
        iptables = [chain.binary, "-w"]
        hook = [*chain.hook_match, "-j", chain.name]
        # Bounded: a hook appears at most a few times (once per `up` that was interrupted before this check).
        for _ in range(10):
            if not succeeds([*iptables, "-C", chain.hook, *hook]):
                break
            run([*iptables, "-D", chain.hook, *hook])
        if succeeds([*iptables, "-n", "-L", chain.name]):
            run([*iptables, "-F", chain.name])
            run([*iptables, "-X", chain.name])


def remove_kube_chains() -> None:
    """Remove the KUBE-* chains the kubelet leaves (kube-proxy's own go with `kube proxy --cleanup`)."""
    for binary in ("iptables", "ip6tables"):
        for table in ("filter", "nat", "mangle"):
            listing = run([binary, "-w", "-t", table, "-S"], check=False)
            if listing.returncode != 0:
                continue
            lines = listing.stdout.splitlines()
            chains = [line.split()[1] for line in lines if line.startswith("-N KUBE-")]
            for line in lines:
                parts = line.split()
                # Unhook every rule that jumps into one of these chains before deleting them.
                if parts[:1] == ["-A"] and "-j" in parts and parts[parts.index("-j") + 1] in chains:
                    run([binary, "-w", "-t", table, "-D", *parts[1:]], check=False)
            for chain in chains:
                run([binary, "-w", "-t", table, "-F", chain], check=False)
            for chain in chains:
                run([binary, "-w", "-t", table, "-X", chain], check=False)

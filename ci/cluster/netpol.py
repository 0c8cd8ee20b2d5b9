"""NetworkPolicy enforcement for the local cluster: polls Pods, Namespaces and networking.k8s.io/v1
NetworkPolicies and renders them into iptables chains AIRFLOW-K8S-NETPOL-*.

Why our own: the upstream controllers are Go modules the only reachable module proxy refuses, and none is
packaged in Debian. Every pod of every node is on one bridge, so a policy is a list of `-s/-d <pod IP>` matches.

Supported: policyTypes Ingress/Egress (defaulted as the API does when absent), podSelector with matchLabels
and matchExpressions (In, NotIn, Exists, DoesNotExist), peers podSelector / namespaceSelector / both /
ipBlock (IPv4 cidr minus except), ports (TCP/UDP/SCTP, number, named port, endPort), empty rule lists =
deny, pods selected by no policy = untouched, several policies = union, replies (conntrack
ESTABLISHED,RELATED) always pass, a pod may always reach itself. Not supported (a warning names them):
IPv6, named ports towards ipBlock peers, fields this module does not know. hostNetwork pods are neither
selected nor peers. Traffic from the host to pods (kubelet probes, the tests' REST calls) is not filtered:
it never passes FORWARD. Denied packets are REJECTed, so a refused connection fails at once.

Chains only RETURN or REJECT, never ACCEPT, so they only narrow what the AIRFLOW-K8S-ISOLATE-* chains let
through; the hooks jump into a per-pod chain only for the IPs of pods a policy selects.

Run: python netpol.py --pki DIR [--interval 1] [--once]   (--once prints the rules and changes nothing)
"""

from __future__ import annotations

import argparse
import hashlib
import ipaddress
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import layout
from kubeapi import ApiError, KubeApi
from shell import CommandFailed, run, succeeds

JSON = dict[str, Any]
PREFIX = "AIRFLOW-K8S-NETPOL"
FORWARD_CHAIN = f"{PREFIX}-FWD"
INPUT_CHAIN = f"{PREFIX}-IN"
# (built-in chain, our chain): pod-to-pod (also after a Service DNAT) passes FORWARD; pod-to-host
# (DNS, the apiserver, through their ClusterIPs too) passes INPUT. Both only for packets from the bridge.
HOOKS = (("FORWARD", FORWARD_CHAIN), ("INPUT", INPUT_CHAIN))
ESTABLISHED = "-m conntrack --ctstate ESTABLISHED,RELATED -j RETURN"
KNOWN = {
    "spec": {"podSelector", "policyTypes", "ingress", "egress"},
    "rule": {"from", "to", "ports"},
    "peer": {"podSelector", "namespaceSelector", "ipBlock"},
    "port": {"protocol", "port", "endPort"},
    "selector": {"matchLabels", "matchExpressions"},
    "ipBlock": {"cidr", "except"},
}
OPERATORS = {"In", "NotIn", "Exists", "DoesNotExist"}


@dataclass(frozen=True)
class Pod:
    namespace: str
    name: str
    ip: str
    labels: Mapping[str, str]
    ports: tuple[tuple[str, str, int], ...]  # (name, protocol, containerPort) of its named ports

    def __hash__(self) -> int:
        return hash((self.namespace, self.name))


def _live_pod(obj: JSON) -> Pod | None:
    """A pod with an IPv4 address on the bridge that may still send; None otherwise."""
    spec, status, meta = obj.get("spec", {}), obj.get("status", {}), obj["metadata"]
    ip = status.get("podIP")
    if not ip or spec.get("hostNetwork") or status.get("phase") in ("Succeeded", "Failed"):
        return None
    if ipaddress.ip_address(ip).version != 4:
        return None
    ports = tuple(
        (port["name"], port.get("protocol", "TCP"), int(port["containerPort"]))
        for container in spec.get("containers", [])
        for port in container.get("ports") or []
        if port.get("name")
    )
    return Pod(meta["namespace"], meta["name"], ip, meta.get("labels") or {}, ports)


def selects(selector: JSON, labels: Mapping[str, str]) -> bool:
    """A metav1.LabelSelector: every matchLabels pair and every matchExpression must hold; {} selects all."""
    if any(labels.get(key) != value for key, value in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
        present = key in labels
        holds = {
            "In": present and labels.get(key) in values,
            "NotIn": not present or labels.get(key) not in values,
            "Exists": present,
            "DoesNotExist": not present,
        }.get(operator, False)
        if not holds:
            return False
    return True


def policy_types(spec: JSON) -> set[str]:
    """As the API defaults them: Ingress always, Egress when the policy has egress rules."""
    given = spec.get("policyTypes")
    if given:
        return set(given)
    return {"Ingress", "Egress"} if spec.get("egress") else {"Ingress"}


@dataclass(frozen=True)
class Cluster:
    pods: list[Pod]
    namespace_labels: dict[str, Mapping[str, str]]


def _ip_block(block: JSON) -> list[str]:
    """cidr minus every except, as the exact list of CIDRs that cover the difference (IPv4 only)."""
    whole = ipaddress.ip_network(block["cidr"], strict=False)
    if not isinstance(whole, ipaddress.IPv4Network):
        return []
    remaining = [whole]
    for excluded in block.get("except") or []:
        cut = ipaddress.ip_network(excluded, strict=False)
        if isinstance(cut, ipaddress.IPv4Network):
            remaining = [piece for net in remaining for piece in _minus(net, cut)]
    return [str(net) for net in sorted(remaining)]


def _minus(net: ipaddress.IPv4Network, cut: ipaddress.IPv4Network) -> list[ipaddress.IPv4Network]:
    if not net.overlaps(cut):
        return [net]
    # Overlapping CIDRs nest: either the cut lies inside `net`, or it swallows `net` whole.
    return list(net.address_exclude(cut)) if cut.subnet_of(net) else []


# A peer is an address or CIDR, and the pod behind it (for named ports); None = every address.
Peer = tuple[str, Pod | None]


def _peers(peers: list[JSON] | None, namespace: str, cluster: Cluster) -> list[Peer] | None:
    if not peers:
        return None  # absent or empty: every source / destination
    found: dict[str, Peer] = {}
    for peer in peers:
        if "ipBlock" in peer:
            found.update({cidr: (cidr, None) for cidr in _ip_block(peer["ipBlock"])})
            continue
        namespaces = (
            {name for name, labels in cluster.namespace_labels.items() if selects(peer["namespaceSelector"], labels)}
            if "namespaceSelector" in peer
            else {namespace}
        )
        pod_selector = peer.get("podSelector") or {}
        for pod in cluster.pods:
            if pod.namespace in namespaces and selects(pod_selector, pod.labels):
                found[f"{pod.ip}/32"] = (f"{pod.ip}/32", pod)
    return list(found.values())


def _port_matches(port: JSON, target: Pod | None) -> list[str]:
    """`-p proto [--dport N[:M]]` for one NetworkPolicyPort; a named port resolves against `target`."""
    protocol = str(port.get("protocol", "TCP"))
    number = port.get("port")
    if number is None:
        return [f"-p {protocol.lower()}"]
    if isinstance(number, str) and not number.isdigit():
        if target is None:
            return []
        numbers = sorted({n for name, proto, n in target.ports if name == number and proto == protocol})
        return [f"-p {protocol.lower()} --dport {n}" for n in numbers]
    end = port.get("endPort")
    span = f"{int(number)}:{int(end)}" if end else str(int(number))
    return [f"-p {protocol.lower()} --dport {span}"]


def _rule_matches(rule: JSON, direction: str, pod: Pod, cluster: Cluster, namespace: str) -> list[str]:
    """The iptables matches (one per line) that one ingress or egress rule allows for `pod`."""
    peers = _peers(rule.get("from" if direction == "ingress" else "to"), namespace, cluster)
    flag = "-s" if direction == "ingress" else "-d"
    if peers is None and direction == "egress" and any(_is_named(p) for p in rule.get("ports") or []):
        # A named port towards "anywhere" can only mean the pods that have it.
        peers = [(f"{p.ip}/32", p) for p in cluster.pods]
    matches: list[str] = []
    for address, peer_pod in peers if peers is not None else [("", None)]:
        where = f"{flag} {address} " if address else ""
        port_owner = pod if direction == "ingress" else peer_pod
        ports = rule.get("ports") or []
        port_parts = [m for port in ports for m in _port_matches(port, port_owner)] if ports else [""]
        matches += [f"{where}{part}".strip() for part in port_parts]
    return matches


def _is_named(port: JSON) -> bool:
    number = port.get("port")
    return isinstance(number, str) and not number.isdigit()


def _chain(kind: str, pod: Pod) -> str:
    # iptables chain names are at most 28 characters: PREFIX (18) + "-" + kind (1) + 8 hex digits.
    digest = hashlib.sha256(f"{pod.namespace}/{pod.name}".encode()).hexdigest()[:8]
    return f"{PREFIX}-{kind}{digest}"


def rules(policies: Iterable[JSON], pods: Iterable[JSON], namespaces: Iterable[JSON]) -> list[str]:
    """The `-A CHAIN ...` lines (iptables-restore syntax, filter table) enforcing `policies`."""
    live = [pod for pod in (_live_pod(obj) for obj in pods) if pod is not None]
    cluster = Cluster(live, {ns["metadata"]["name"]: ns["metadata"].get("labels") or {} for ns in namespaces})
    allowed: dict[tuple[str, Pod], list[str]] = {}  # (direction, selected pod) -> allowed matches
    for policy in sorted(policies, key=lambda p: (p["metadata"]["namespace"], p["metadata"]["name"])):
        namespace, spec = policy["metadata"]["namespace"], policy.get("spec", {})
        types = policy_types(spec)
        for pod in live:
            if pod.namespace != namespace or not selects(spec.get("podSelector") or {}, pod.labels):
                continue
            for direction in ("ingress", "egress"):
                if direction.capitalize() in types:
                    found = allowed.setdefault((direction, pod), [])
                    for rule in spec.get(direction) or []:
                        found += [m for m in _rule_matches(rule, direction, pod, cluster, namespace) if m not in found]
    lines = [f"-A {FORWARD_CHAIN} {ESTABLISHED}", f"-A {INPUT_CHAIN} {ESTABLISHED}"]
    bodies: list[str] = []
    for (direction, pod), matches in sorted(allowed.items(), key=lambda item: (item[0][0], item[0][1].ip)):
        chain = _chain("E" if direction == "egress" else "I", pod)
        comment = f"-m comment --comment {pod.namespace}/{pod.name}:{direction}"
        if direction == "egress":
            lines += [f"-A {FORWARD_CHAIN} -s {pod.ip}/32 {comment} -j {chain}"]
            lines += [f"-A {INPUT_CHAIN} -s {pod.ip}/32 {comment} -j {chain}"]
            itself = f"-d {pod.ip}/32"
        else:
            lines += [f"-A {FORWARD_CHAIN} -d {pod.ip}/32 {comment} -j {chain}"]
            itself = f"-s {pod.ip}/32"
        bodies += [f"-A {chain} {itself} -j RETURN"]
        bodies += [" ".join(part for part in ("-A", chain, match, "-j RETURN") if part) for match in matches]
        bodies += [f"-A {chain} -j REJECT"]
    return lines + bodies


def unsupported(policy: JSON) -> list[str]:
    """What in `policy` this enforcer ignores, one message each."""
    name = f"{policy['metadata']['namespace']}/{policy['metadata']['name']}"
    spec = policy.get("spec", {})
    problems = [f"spec.{key}" for key in sorted(set(spec) - KNOWN["spec"])]
    problems += _selector_problems(spec.get("podSelector") or {}, "spec.podSelector")
    for direction, peer_key in (("ingress", "from"), ("egress", "to")):
        for i, rule in enumerate(spec.get(direction) or []):
            where = f"spec.{direction}[{i}]"
            problems += [f"{where}.{key}" for key in sorted(set(rule) - KNOWN["rule"])]
            has_block = False
            for j, peer in enumerate(rule.get(peer_key) or []):
                problems += _peer_problems(peer, f"{where}.{peer_key}[{j}]")
                has_block = has_block or "ipBlock" in peer
            for j, port in enumerate(rule.get("ports") or []):
                problems += [f"{where}.ports[{j}].{key}" for key in sorted(set(port) - KNOWN["port"])]
                if has_block and _is_named(port):
                    problems.append(f"{where}.ports[{j}]: named port towards an ipBlock")
    return [f"{name}: {problem} not supported, ignored" for problem in problems]


def _selector_problems(selector: JSON, where: str) -> list[str]:
    problems = [f"{where}.{key}" for key in sorted(set(selector) - KNOWN["selector"])]
    problems += [
        f"{where}.matchExpressions operator {e.get('operator')}"
        for e in selector.get("matchExpressions") or []
        if e.get("operator") not in OPERATORS
    ]
    return problems


def _peer_problems(peer: JSON, where: str) -> list[str]:
    problems = [f"{where}.{key}" for key in sorted(set(peer) - KNOWN["peer"])]
    for key in ("podSelector", "namespaceSelector"):
        problems += _selector_problems(peer.get(key) or {}, f"{where}.{key}")
    block = peer.get("ipBlock")
    if block is not None:
        problems += [f"{where}.ipBlock.{key}" for key in sorted(set(block) - KNOWN["ipBlock"])]
        if ipaddress.ip_network(block.get("cidr", "0.0.0.0/0"), strict=False).version != 4:
            problems.append(f"{where}.ipBlock (IPv6)")
    return problems


# ---- applying the rules -------------------------------------------------------------------------------


def our_chains() -> list[str]:
    listing = run(["iptables-save", "-t", "filter"]).stdout.splitlines()
    return [line[1:].split()[0] for line in listing if line.startswith(f":{PREFIX}-")]


def restore_input(lines: list[str], existing: Iterable[str]) -> str:
    """One iptables-restore transaction: (re)declare and so flush our chains, fill them, drop the stale."""
    wanted = list(dict.fromkeys([FORWARD_CHAIN, INPUT_CHAIN] + [line.split()[1] for line in lines]))
    stale = [chain for chain in existing if chain not in wanted]
    body = [f":{chain} - [0:0]" for chain in wanted + stale] + lines + [f"-X {chain}" for chain in stale]
    return "\n".join(["*filter", *body, "COMMIT", ""])


def _restore(text: str) -> None:
    result = subprocess.run(
        ["iptables-restore", "-w", "--noflush"], input=text, capture_output=True, text=True, check=False, timeout=60
    )
    if result.returncode != 0:
        raise CommandFailed(f"iptables-restore exited {result.returncode}: {result.stderr.strip()}")


def ensure_hooks() -> None:
    for builtin, chain in HOOKS:
        hook = ["-i", layout.BRIDGE, "-j", chain]
        if not succeeds(["iptables", "-w", "-C", builtin, *hook]):
            # First: our chains only narrow, so they may see packets before kube-proxy's ACCEPTs.
            run(["iptables", "-w", "-I", builtin, "1", *hook])


def hooked() -> bool:
    return all(succeeds(["iptables", "-w", "-C", b, "-i", layout.BRIDGE, "-j", c]) for b, c in HOOKS)


def apply(lines: list[str]) -> None:
    _restore(restore_input(lines, our_chains()))
    ensure_hooks()


def remove_chains() -> None:
    """Unhook and delete every AIRFLOW-K8S-NETPOL-* chain (`down`, and this process on exit)."""
    for builtin, chain in HOOKS:
        hook = ["-i", layout.BRIDGE, "-j", chain]
        for _ in range(10):  # bounded: a hook appears at most a few times
            if not succeeds(["iptables", "-w", "-C", builtin, *hook]):
                break
            run(["iptables", "-w", "-D", builtin, *hook])
    chains = our_chains()
    if chains:
        body = [f":{chain} - [0:0]" for chain in chains] + [f"-X {chain}" for chain in chains]
        _restore("\n".join(["*filter", *body, "COMMIT", ""]))


# ---- the loop -----------------------------------------------------------------------------------------


def fetch(api: KubeApi) -> tuple[list[JSON], list[JSON], list[JSON]]:
    policies = api.get("/apis/networking.k8s.io/v1/networkpolicies", timeout=30)["items"]
    pods = api.get("/api/v1/pods", timeout=30)["items"]
    namespaces = api.get("/api/v1/namespaces", timeout=30)["items"]
    return policies, pods, namespaces


def log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} netpol: {message}", file=sys.stderr, flush=True)


def enforce(api: KubeApi, interval: float, stop: threading.Event) -> None:
    """Poll, render, and apply when the rendered rules change; on API errors keep the last rules."""
    applied: list[str] | None = None
    warned: set[str] = set()
    last_hook_check = time.monotonic()
    while not stop.is_set():
        try:
            policies, pods, namespaces = fetch(api)
            for message in (m for p in policies for m in unsupported(p)):
                if message not in warned:
                    warned.add(message)
                    log(f"warning: {message}")
            wanted = rules(policies, pods, namespaces)
            if wanted != applied:
                apply(wanted)
                applied = wanted
                pod_chains = len({line.split()[1] for line in wanted}) - 2
                log(f"applied {len(wanted)} rules ({len(policies)} policies, {pod_chains} per-pod chains)")
            elif time.monotonic() - last_hook_check > 30:
                if not hooked():  # someone flushed FORWARD/INPUT or our chains: put everything back
                    apply(wanted)
                    log("hooks were missing: rules re-applied")
                last_hook_check = time.monotonic()
        except (OSError, ApiError, ValueError, KeyError, CommandFailed) as error:
            log(f"{type(error).__name__}: {error}; retrying")
        stop.wait(interval)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--pki", type=Path, required=True, help="directory with ca.crt and admin.crt/.key")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between polls")
    parser.add_argument("--once", action="store_true", help="print the rules for the cluster now and exit")
    args = parser.parse_args()
    api = KubeApi.for_identity(args.pki, "admin")
    if args.once:
        print(restore_input(rules(*fetch(api)), []), end="")
        return 0
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    log(f"enforcing NetworkPolicies on {layout.BRIDGE}, polling every {args.interval:g}s")
    try:
        enforce(api, args.interval, stop)
    finally:
        # Stale per-pod rules would follow a reused pod IP: never leave them behind a stopped enforcer.
        remove_chains()
        log("chains removed, exiting")
    return 0


if __name__ == "__main__":
    sys.exit(main())

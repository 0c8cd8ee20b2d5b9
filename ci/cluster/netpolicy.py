"""NetworkPolicy on the local cluster: kube-network-policies (SIG Network's implementation, built from
ci/netpol) judges connections, and these iptables rules hand it every new one from a pod.

Upstream, the controller queues new connections to itself with nftables `queue` rules in postrouting. Two
things differ here. The kernel may lack nft_queue (CONFIG_NFT_QUEUE; the CI VMs' kernel does), so those
rules fail to load and the controller logs a sync error each time; iptables' NFQUEUE target (xt_NFQUEUE,
through nft_compat) is there. And the apiserver and CoreDNS are host processes on the bridge address, so a
pod's connection to them is delivered locally and never reaches postrouting. So one chain in the mangle
table, hooked in FORWARD (pod to pod, after a Service's DNAT; bridged packets too, via br_netfilter) and
INPUT (pod to host) for packets from the bridge, queues every new connection. The controller evaluates
each against every policy of its source and destination pod (a destination that is no pod matches only
port-only rules and ipBlocks); a pod no policy selects is always allowed. Mangle runs before filter, so
an accepted packet still meets the isolation chains and kube-proxy's rules. Without a consumer on the
queue the packets are dropped: fail closed, as upstream by default.
"""

from __future__ import annotations

from pathlib import Path

import layout
from shell import run, succeeds

CHAIN = "AIRFLOW-K8S-NETPOL"
TABLE = "mangle"
QUEUES = Path("/proc/net/netfilter/nfnetlink_queue")
# (built-in chain, match) of each jump into CHAIN.
HOOKS = (
    ("FORWARD", ("-i", layout.BRIDGE, "-o", layout.BRIDGE)),
    ("INPUT", ("-i", layout.BRIDGE)),
)
RULE = ("-m", "conntrack", "--ctstate", "NEW", "-j", "NFQUEUE", "--queue-num", str(layout.NETPOL_QUEUE))


def queue_bound() -> bool:
    """The controller has opened its nfqueue (the kernel lists bound queues, number first)."""
    if not QUEUES.exists():
        return False
    return any(line.split()[:1] == [str(layout.NETPOL_QUEUE)] for line in QUEUES.read_text().splitlines())


def add_chain() -> None:
    iptables = ["iptables", "-w", "-t", TABLE]
    if not succeeds([*iptables, "-n", "-L", CHAIN]):
        run([*iptables, "-N", CHAIN])
    run([*iptables, "-F", CHAIN])
    run([*iptables, "-A", CHAIN, *RULE])
    for hook, match in HOOKS:
        if not succeeds([*iptables, "-C", hook, *match, "-j", CHAIN]):
            run([*iptables, "-I", hook, "1", *match, "-j", CHAIN])


def chain_hooked() -> bool:
    iptables = ["iptables", "-w", "-t", TABLE]
    return all(succeeds([*iptables, "-C", hook, *match, "-j", CHAIN]) for hook, match in HOOKS)


def remove_chain() -> None:
    iptables = ["iptables", "-w", "-t", TABLE]
    for hook, match in HOOKS:
        # Bounded: a hook appears at most a few times (once per `up` interrupted before its check).
        for _ in range(10):
            if not succeeds([*iptables, "-C", hook, *match, "-j", CHAIN]):
                break
            run([*iptables, "-D", hook, *match, "-j", CHAIN])
    if succeeds([*iptables, "-n", "-L", CHAIN]):
        run([*iptables, "-F", CHAIN])
        run([*iptables, "-X", CHAIN])
    # On a kernel with nft_queue the controller loads its own table and removes it when stopped;
    # this covers one that was killed.
    if succeeds(["nft", "list", "table", "inet", layout.NETPOL_TABLE]):
        run(["nft", "delete", "table", "inet", layout.NETPOL_TABLE], check=False)

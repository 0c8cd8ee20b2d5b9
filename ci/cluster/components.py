"""How each cluster process is started: its command line, in start order. Flags are the upstream ones."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import layout
from layout import NodeDirs, StateDirs

HERE = Path(__file__).resolve().parent
PROCESS_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class Component:
    name: str
    argv: list[str]


def containerd(node: NodeDirs) -> Component:
    return Component(node.node.process("containerd"), ["containerd", "--config", str(node.containerd_config)])


def etcd(state: StateDirs, kube: Path) -> Component:
    return Component(
        "etcd",
        [
            str(kube),
            "etcd",
            f"--data-dir={state.etcd}",
            f"--listen-client-url={layout.ETCD_CLIENT_URL}",
            f"--listen-peer-url={layout.ETCD_PEER_URL}",
        ],
    )


def apiserver(state: StateDirs, kube: Path) -> Component:
    pki = state.pki
    return Component(
        "apiserver",
        [
            str(kube),
            "apiserver",
            # The bridge address, never the machine's own interface: the `kubernetes` Service's
            # endpoint, reachable from pods and from the host.
            f"--advertise-address={layout.NODE_IP}",
            f"--bind-address={layout.NODE_IP}",
            f"--secure-port={layout.APISERVER_PORT}",
            f"--etcd-servers={layout.ETCD_CLIENT_URL}",
            f"--service-cluster-ip-range={layout.SERVICE_CIDR}",
            f"--tls-cert-file={pki / 'apiserver.crt'}",
            f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--client-ca-file={pki / 'ca.crt'}",
            f"--kubelet-client-certificate={pki / 'apiserver-kubelet-client.crt'}",
            f"--kubelet-client-key={pki / 'apiserver-kubelet-client.key'}",
            f"--kubelet-certificate-authority={pki / 'ca.crt'}",
            # Without it `kubectl logs` tries the node's hostname, which does not resolve.
            "--kubelet-preferred-address-types=InternalIP",
            f"--service-account-issuer=https://kubernetes.default.svc.{layout.CLUSTER_DOMAIN}",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            "--authorization-mode=Node,RBAC",
            "--enable-admission-plugins=NodeRestriction",
            "--allow-privileged=true",
            "--profiling=false",
        ],
    )


def controller_manager(state: StateDirs, kube: Path) -> Component:
    pki, kubeconfig = state.pki, state.kubeconfig("controller-manager")
    return Component(
        "controller-manager",
        [
            str(kube),
            "controller-manager",
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1",
            "--secure-port=10257",
            f"--service-account-private-key-file={pki / 'sa.key'}",
            f"--root-ca-file={pki / 'ca.crt'}",
            f"--cluster-signing-cert-file={pki / 'ca.crt'}",
            f"--cluster-signing-key-file={pki / 'ca.key'}",
            "--use-service-account-credentials=true",
            f"--service-cluster-ip-range={layout.SERVICE_CIDR}",
            "--allocate-node-cidrs=false",
            "--leader-elect=false",
            "--profiling=false",
        ],
    )


def scheduler(state: StateDirs, kube: Path) -> Component:
    kubeconfig = state.kubeconfig("scheduler")
    return Component(
        "scheduler",
        [
            str(kube),
            "scheduler",
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1",
            "--secure-port=10259",
            "--leader-elect=false",
            "--profiling=false",
        ],
    )


def kubelet(state: StateDirs, node: NodeDirs, kube: Path) -> Component:
    labels = ",".join(f"{key}={value}" for key, value in node.node.labels.items())
    return Component(
        node.node.process("kubelet"),
        [
            str(kube),
            "kubelet",
            f"--config={node.kubelet_config}",
            f"--kubeconfig={state.kubeconfig(node.node.process('kubelet'))}",
            f"--root-dir={node.kubelet}",
            f"--node-ip={layout.NODE_IP}",
            f"--hostname-override={node.node.name}",
            # node.kubernetes.io/instance-type is one of the labels NodeRestriction lets a node set on itself.
            f"--node-labels={labels}",
        ],
    )


def proxy(state: StateDirs, kube: Path) -> Component:
    return Component("proxy", [str(kube), "proxy", f"--config={state.config / 'proxy.yaml'}"])


def dns(state: StateDirs) -> Component:
    return Component(
        "dns",
        [sys.executable, str(HERE / "dns_server.py"), f"--pki={state.pki}", f"--listen={layout.NODE_IP}"],
    )


def netpol(state: StateDirs) -> Component:
    return Component("netpol", [sys.executable, str(HERE / "netpol.py"), f"--pki={state.pki}"])


KUBELETS = tuple(node.process("kubelet") for node in layout.NODES)
CONTAINERDS = tuple(node.process("containerd") for node in layout.NODES)
# Stop order: the reverse of start order, containerd last (teardown empties it first).
STOP_ORDER = (
    "netpol",
    "dns",
    "proxy",
    *KUBELETS,
    "scheduler",
    "controller-manager",
    "apiserver",
    "etcd",
    *CONTAINERDS,
)

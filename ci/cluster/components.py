"""How each cluster process is started: its command line, in start order. Flags are the upstream ones."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import bootstrap
import layout
from layout import NodeDirs, StateDirs

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


def dns(state: StateDirs, coredns: Path) -> Component:
    return Component("dns", [str(coredns), "-conf", str(state.corefile)])


def netpol(state: StateDirs, binary: Path) -> Component:
    """kube-network-policies: judges every packet netpolicy.py queues, against all pods' policies."""
    return Component(
        "netpol",
        [
            str(binary),
            f"--kubeconfig={state.kubeconfig('netpol')}",
            # It evaluates policies of every pod whatever its node; the name only scopes its own nft set.
            f"--node-name={layout.NODE_NAME}",
            f"--nftables-table={layout.NETPOL_TABLE}",
            f"--nfqueue-id={layout.NETPOL_QUEUE}",
        ],
    )


def local_path(state: StateDirs, binary: Path) -> Component:
    return Component(
        "local-path",
        [
            str(binary),
            "start",
            f"--kubeconfig={state.kubeconfig('local-path')}",
            f"--namespace={bootstrap.LOCAL_PATH_NAMESPACE}",
            f"--provisioner-name={bootstrap.PROVISIONER}",
            f"--configmap-name={bootstrap.LOCAL_PATH_CONFIGMAP}",
            f"--helper-image={layout.LOCAL_PATH_HELPER_IMAGE}",
            # The helper pods' account: the namespace's default, which has no permissions.
            "--service-account-name=default",
        ],
    )


KUBELETS = tuple(node.process("kubelet") for node in layout.NODES)
CONTAINERDS = tuple(node.process("containerd") for node in layout.NODES)
# Stop order: the reverse of start order, containerd last (teardown empties it first).
STOP_ORDER = (
    "local-path",
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

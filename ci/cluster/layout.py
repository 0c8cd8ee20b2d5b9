"""Where everything lives and which addresses the local cluster uses: one place, no magic numbers elsewhere."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

KUBERNETES_VERSION = "v1.35.8"
INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"

# Every address is on loopback or on the bridge this tool creates: nothing listens on, or routes
# through, the machine's own interfaces.
BRIDGE = "cni0"
NODE_IP = "10.244.0.1"
POD_CIDR = "10.244.0.0/24"
POD_PREFIX_LEN = 24
SERVICE_CIDR = "10.96.0.0/16"
KUBERNETES_SERVICE_IP = "10.96.0.1"
DNS_SERVICE_IP = "10.96.0.10"
CLUSTER_DOMAIN = "cluster.local"
CNI_NETWORK = "airflow-k8s"
CNI_BIN_DIR = Path("/usr/lib/cni")
SANDBOX_IMAGE = "registry.k8s.io/pause:3.10"

APISERVER_PORT = 6443
# CoreDNS's `health` and `ready` plugins (8080 and 8181 in a cluster's Corefile), on loopback here.
DNS_HEALTH_PORT = 10054
DNS_READY_PORT = 10055
# kube-network-policies: the nfqueue it judges packets from, and the name of the nftables table it would
# write (see netpolicy.py for why its own rules cannot load on a kernel without nft_queue).
NETPOL_QUEUE = 100
NETPOL_TABLE = "airflow-k8s-netpol"
# The local-path-provisioner's helper pods (mkdir/rm of a volume directory) need only /bin/sh and run on
# the volume's node: any image every node has. No busybox image is built, so the Redis image serves.
LOCAL_PATH_HELPER_IMAGE = "docker.io/library/redis:7"
ETCD_CLIENT_URL = "http://127.0.0.1:2379"
ETCD_PEER_URL = "http://127.0.0.1:2380"


@dataclass(frozen=True)
class Node:
    """One kubelet with its own containerd: a node of the local cluster.

    Every node is the same host and the same bridge address (NODE_IP); what tells them apart is the
    kubelet's ports, its slice of the pod network (host-local ranges that never overlap, so one bridge,
    the isolation chains and the NetworkPolicy enforcer serve all pods), its cgroup and its state dir.
    """

    name: str
    instance_type: str
    kubelet_port: int
    kubelet_healthz_port: int
    first_pod_ip: str
    last_pod_ip: str

    @property
    def labels(self) -> dict[str, str]:
        return {INSTANCE_TYPE_LABEL: self.instance_type}

    @property
    def cgroup_root(self) -> str:
        # Each kubelet keeps its `kubepods` under a cgroup of its own: two kubelets sharing one would
        # each remove the other's pod cgroups as orphans.
        return f"/{self.name}"

    def process(self, component: str) -> str:
        """The name its containerd or kubelet is recorded and logged under."""
        return f"{component}-{self.name}"


NODES = (
    Node("airflow-k8s-node", "local.standard", 10250, 10248, "10.244.0.2", "10.244.0.127"),
    Node("airflow-k8s-node-2", "local.large", 10260, 10262, "10.244.0.128", "10.244.0.254"),
)
NODE_NAME = NODES[0].name


@dataclass(frozen=True)
class Port:
    """A port one of our processes listens on; preflight checks each is free."""

    number: int
    host: str
    owner: str
    protocol: str = "tcp"


PORTS = (
    Port(2379, "127.0.0.1", "etcd"),
    Port(2380, "127.0.0.1", "etcd"),
    Port(APISERVER_PORT, NODE_IP, "apiserver"),
    Port(10257, "127.0.0.1", "controller-manager"),
    Port(10259, "127.0.0.1", "scheduler"),
    *(Port(node.kubelet_port, NODE_IP, node.process("kubelet")) for node in NODES),
    *(Port(node.kubelet_healthz_port, "127.0.0.1", node.process("kubelet")) for node in NODES),
    Port(10249, "127.0.0.1", "proxy"),
    Port(10256, "127.0.0.1", "proxy"),
    Port(53, NODE_IP, "dns", "udp"),
    Port(53, NODE_IP, "dns", "tcp"),
    Port(DNS_HEALTH_PORT, "127.0.0.1", "dns"),
    Port(DNS_READY_PORT, "127.0.0.1", "dns"),
)


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "airflow-k8s"


@dataclass(frozen=True)
class StateDirs:
    """The cluster's state directory (.state/cluster), laid out by job."""

    root: Path

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def config(self) -> Path:
        return self.root / "config"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def pids(self) -> Path:
        return self.root / "pids"

    @property
    def etcd(self) -> Path:
        return self.root / "etcd"

    def node(self, node: Node) -> NodeDirs:
        return NodeDirs(self.root / "nodes" / node.name, node)

    @property
    def nodes(self) -> tuple[NodeDirs, ...]:
        return tuple(self.node(node) for node in NODES)

    @property
    def admin_kubeconfig(self) -> Path:
        return self.root / "admin.kubeconfig"

    @property
    def host_settings(self) -> Path:
        # sysctl values found before `up` changed them, restored by `down`.
        return self.root / "host-settings.json"

    def kubeconfig(self, user: str) -> Path:
        return self.config / f"{user}.kubeconfig"

    @property
    def shared_volumes(self) -> Path:
        """Where `local-path-shared` (ReadWriteMany) volumes live: one host directory every node sees."""
        return self.root / "shared-volumes"

    @property
    def corefile(self) -> Path:
        return self.config / "Corefile"


STATE = StateDirs(REPO_ROOT / ".state" / "cluster")
IMAGE_ARCHIVES = REPO_ROOT / ".state" / "images"
GO_MODULES = REPO_ROOT / "ci"


@dataclass(frozen=True)
class NodeDirs:
    """One node's part of the state directory (.state/cluster/nodes/<node>): its containerd, kubelet and CNI."""

    root: Path
    node: Node

    @property
    def kubelet(self) -> Path:
        return self.root / "kubelet"

    @property
    def pod_logs(self) -> Path:
        # Not the kubelet default /var/log/pods: a kubelet removes log dirs of pods it does not know.
        return self.root / "pod-logs"

    @property
    def containerd_root(self) -> Path:
        # Kept across `down`: it holds the imported images, which take minutes to build.
        return self.root / "containerd" / "root"

    @property
    def containerd_state(self) -> Path:
        return self.root / "containerd" / "state"

    @property
    def containerd_socket(self) -> Path:
        return self.root / "containerd" / "containerd.sock"

    def ctr(self, *args: str) -> list[str]:
        """A `ctr` command against this node's containerd, in the namespace the kubelet's CRI uses."""
        return ["ctr", "--address", str(self.containerd_socket), "-n", "k8s.io", *args]

    @property
    def containerd_config(self) -> Path:
        return self.root / "containerd.toml"

    @property
    def kubelet_config(self) -> Path:
        return self.root / "kubelet.yaml"

    @property
    def cni_conf(self) -> Path:
        return self.root / "cni" / "net.d"

    @property
    def cni_ipam(self) -> Path:
        return self.root / "cni" / "ipam"

    @property
    def local_path(self) -> Path:
        """Where local-path PersistentVolumes of this node live (a directory each), removed by `down`."""
        return self.root / "local-path"

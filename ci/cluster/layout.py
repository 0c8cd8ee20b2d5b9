"""Where everything lives and which addresses the local cluster uses: one place, no magic numbers elsewhere."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

KUBERNETES_VERSION = "v1.35.8"
NODE_NAME = "airflow-k8s-node"
NODE_LABELS = {"node.kubernetes.io/instance-type": "local.standard"}

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
ETCD_CLIENT_URL = "http://127.0.0.1:2379"
ETCD_PEER_URL = "http://127.0.0.1:2380"


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
    Port(10250, NODE_IP, "kubelet"),
    Port(10248, "127.0.0.1", "kubelet"),
    Port(10249, "127.0.0.1", "proxy"),
    Port(10256, "127.0.0.1", "proxy"),
    Port(53, NODE_IP, "dns", "udp"),
    Port(53, NODE_IP, "dns", "tcp"),
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

    @property
    def kubelet(self) -> Path:
        return self.root / "kubelet"

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

    @property
    def cni_conf(self) -> Path:
        return self.root / "cni" / "net.d"

    @property
    def cni_ipam(self) -> Path:
        return self.root / "cni" / "ipam"

    @property
    def admin_kubeconfig(self) -> Path:
        return self.root / "admin.kubeconfig"

    @property
    def host_settings(self) -> Path:
        # sysctl values found before `up` changed them, restored by `down`.
        return self.root / "host-settings.json"

    @property
    def imported_images(self) -> Path:
        return self.root / "containerd" / "imported-images.json"

    def kubeconfig(self, user: str) -> Path:
        return self.config / f"{user}.kubeconfig"


STATE = StateDirs(REPO_ROOT / ".state" / "cluster")
IMAGE_ARCHIVES = REPO_ROOT / ".state" / "images"
KUBE_MODULE = REPO_ROOT / "ci" / "kube"

"""Config files for containerd, the CNI bridge, the kubelet, kube-proxy and CoreDNS, generated into the state dir."""

from __future__ import annotations

import json
from pathlib import Path

import layout
from layout import NodeDirs, StateDirs


def containerd_config(node: NodeDirs) -> str:
    # restrict_oom_score_adj: without CAP_SYS_RESOURCE every sandbox failed with
    # "can't get final child's PID from pipe: EOF". SystemdCgroup=false: there is no systemd.
    # The stream server (exec/logs/port-forward) stays on loopback.
    return f"""version = 2
root = "{node.containerd_root}"
state = "{node.containerd_state}"
disabled_plugins = [
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing",
]

[grpc]
  address = "{node.containerd_socket}"

[ttrpc]
  address = ""

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "{node.root / "containerd" / "opt"}"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{layout.SANDBOX_IMAGE}"
  restrict_oom_score_adj = true
  enable_selinux = false
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{layout.CNI_BIN_DIR}"
    conf_dir = "{node.cni_conf}"
    max_conf_num = 1
"""


def cni_config(node: NodeDirs) -> dict[str, object]:
    # hairpinMode: a pod reaching a Service whose backend is itself comes back in through its own
    # bridge port. ipMasq off: pods have nowhere to go but the bridge, so nothing needs masquerading
    # out (hostnet.py drops forwarded traffic that would leave the bridge). Every node plugs its pods
    # into the same bridge, each from its own range of the one subnet.
    return {
        "cniVersion": "0.4.0",
        "name": layout.CNI_NETWORK,
        "plugins": [
            {
                "type": "bridge",
                "bridge": layout.BRIDGE,
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "dataDir": str(node.cni_ipam),
                    "ranges": [
                        [
                            {
                                "subnet": layout.POD_CIDR,
                                "gateway": layout.NODE_IP,
                                "rangeStart": node.node.first_pod_ip,
                                "rangeEnd": node.node.last_pod_ip,
                            }
                        ]
                    ],
                    "routes": [{"dst": "0.0.0.0/0"}],
                },
            },
        ],
    }


def kubelet_config(state: StateDirs, node: NodeDirs) -> dict[str, object]:
    pki = state.pki
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        # This host has cgroup v1 (hybrid) and no systemd: both settings were needed in the probe.
        "failCgroupV1": False,
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": node.node.cgroup_root,
        "containerRuntimeEndpoint": f"unix://{node.containerd_socket}",
        "podLogsDir": str(node.pod_logs),
        "address": layout.NODE_IP,
        "port": node.node.kubelet_port,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": node.node.kubelet_healthz_port,
        "tlsCertFile": str(pki / "kubelet-serving.crt"),
        "tlsPrivateKeyFile": str(pki / "kubelet-serving.key"),
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(pki / "ca.crt")},
        },
        "authorization": {"mode": "Webhook"},
        "clusterDomain": layout.CLUSTER_DOMAIN,
        "clusterDNS": [layout.DNS_SERVICE_IP],
        # The host's resolver is unreachable from pods (no outside network): pods get cluster DNS only.
        "resolvConf": str(state.config / "pod-resolv.conf"),
        "failSwapOn": False,
        # Images cannot be pulled again (no registry): never garbage-collect them, and keep disk
        # eviction thresholds low so a full-ish CI disk does not evict test pods.
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "1%",
            "imagefs.available": "1%",
            "nodefs.inodesFree": "1%",
        },
        # The kubelet sets vm.overcommit_memory, kernel.panic & co.; hostnet.py records the host's
        # values before `up` and `down` puts them back.
        "protectKernelDefaults": False,
        "serializeImagePulls": False,
        "maxPods": 110,
        "shutdownGracePeriod": "0s",
    }


def proxy_config(state: StateDirs) -> dict[str, object]:
    # Zero conntrack settings: leave the host's conntrack sysctls alone. localhostNodePorts off: it
    # would set route_localnet on the host.
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "mode": "iptables",
        "clientConnection": {"kubeconfig": str(state.kubeconfig("proxy"))},
        "hostnameOverride": layout.NODE_NAME,
        "bindAddress": "127.0.0.1",
        "healthzBindAddress": "127.0.0.1:10256",
        "metricsBindAddress": "127.0.0.1:10249",
        "clusterCIDR": layout.POD_CIDR,
        "nodePortAddresses": [f"{layout.NODE_IP}/32"],
        "iptables": {"localhostNodePorts": False, "masqueradeAll": False},
        "conntrack": {
            "maxPerCore": 0,
            "min": 0,
            "tcpEstablishedTimeout": "0s",
            "tcpCloseWaitTimeout": "0s",
        },
    }


def pod_resolv_conf() -> str:
    # Empty on purpose: the kubelet adds the cluster nameserver and search domains for ClusterFirst
    # pods; dnsPolicy Default pods get no resolver, since nothing outside the cluster is reachable.
    return "# generated by ci/cluster: pods resolve cluster names only\n"


def corefile(state: StateDirs) -> str:
    """A cluster's Corefile (as kubeadm writes it) without `forward`: there is no outside network, so the
    server answers only the cluster's zones (NXDOMAIN for names it does not know) and REFUSED elsewhere."""
    zones = (layout.CLUSTER_DOMAIN, "in-addr.arpa", "ip6.arpa")
    return f"""{" ".join(f"{zone}:53" for zone in zones)} {{
    bind {layout.NODE_IP}
    errors
    health 127.0.0.1:{layout.DNS_HEALTH_PORT} {{
        lameduck 1s
    }}
    ready 127.0.0.1:{layout.DNS_READY_PORT}
    kubernetes {" ".join(zones)} {{
        kubeconfig {state.kubeconfig("dns")}
        pods insecure
        ttl 30
    }}
    cache 30
    loop
}}
"""


def local_path_config(state: StateDirs) -> dict[str, object]:
    """The provisioner's config.json, per StorageClass: `local-path` volumes under each node's own state
    dir; `local-path-shared` (ReadWriteMany) in one directory, shared for real since every node is this host."""
    node_paths = [{"node": node.node.name, "paths": [str(node.local_path)]} for node in state.nodes]
    return {
        "storageClassConfigs": {
            "local-path": {"nodePathMap": node_paths},
            "local-path-shared": {"sharedFileSystemPath": str(state.shared_volumes)},
        }
    }


def write_all(state: StateDirs) -> None:
    """(Re)write every config file; cheap, and keeps configs in step with this code."""
    state.config.mkdir(parents=True, exist_ok=True)
    for node in state.nodes:
        node.cni_conf.mkdir(parents=True, exist_ok=True)
        node.cni_ipam.mkdir(parents=True, exist_ok=True)
        node.pod_logs.mkdir(parents=True, exist_ok=True)
        _write(node.containerd_config, containerd_config(node))
        _write(node.cni_conf / f"10-{layout.CNI_NETWORK}.conflist", json.dumps(cni_config(node), indent=2))
        # JSON is YAML: the kubelet and kube-proxy read these as their YAML config files.
        _write(node.kubelet_config, json.dumps(kubelet_config(state, node), indent=2))
    _write(state.config / "proxy.yaml", json.dumps(proxy_config(state), indent=2))
    _write(state.config / "pod-resolv.conf", pod_resolv_conf())
    _write(state.corefile, corefile(state))


def _write(path: Path, text: str) -> None:
    path.write_text(text)

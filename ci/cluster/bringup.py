"""The `up` sequence: host network, PKI and configs, then each process in dependency order, each one
awaited (with a deadline) before the next that needs it, and finally the smoke pods."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import bootstrap
import cgroups
import components
import configs
import health
import hostnet
import images
import layout
import netpolicy
import pki
import procs
import smoke
from kubeapi import KubeApi
from layout import StateDirs
from waits import wait_for

ENV = {"PATH": components.PROCESS_PATH}


@dataclass(frozen=True)
class Binaries:
    """The cached builds `up` runs (gobuild.py)."""

    kube: Path
    coredns: Path
    netpol: Path
    local_path: Path


class Step:
    """Prints a step's name and, when it ends, how long it took."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __enter__(self) -> Step:
        self.started = time.monotonic()
        print(f"• {self.name}", flush=True)
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            print(f"  done in {time.monotonic() - self.started:.1f}s", flush=True)


def _start(state: StateDirs, component: components.Component) -> None:
    record = procs.start(state.pids, component.name, component.argv, state.logs / f"{component.name}.log", ENV)
    print(f"  started {component.name} (pid {record.pid}, log {record.log})", flush=True)


def _still_running(state: StateDirs, name: str) -> Callable[[], None]:
    """A probe wrapper's guard: a process that died is a failure now, not a timeout later."""

    def check() -> None:
        record = procs.load(state.pids, name)
        if record is None or not procs.is_alive(record):
            log = state.logs / f"{name}.log"
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:]) if log.exists() else ""
            raise SystemExit(f"{name} exited during start-up; last lines of {log}:\n{tail}")

    return check


def _await(state: StateDirs, name: str, what: str, probe: Callable[[], object], timeout: float) -> None:
    guard = _still_running(state, name)

    def guarded() -> object:
        guard()
        return probe()

    wait_for(what, guarded, timeout=timeout)


def prepare_host(state: StateDirs) -> None:
    with Step("host network: bridge, sysctls, isolation chains"):
        hostnet.record_host_settings(state.host_settings)
        hostnet.create_bridge()
        hostnet.enable_bridge_netfilter()
        hostnet.add_isolation_chains()
    with Step("PKI, kubeconfigs and configs"):
        created = pki.ensure_pki(state.pki)
        server = f"https://{layout.NODE_IP}:{layout.APISERVER_PORT}"
        for client in pki.CLIENTS:
            pki.write_kubeconfig(state.kubeconfig(client.file_stem), state.pki, client, server)
        pki.write_kubeconfig(state.admin_kubeconfig, state.pki, pki.ADMIN, server)
        configs.write_all(state)
        print(f"  PKI {'created' if created else 'reused'}", flush=True)


def start_runtime(state: StateDirs) -> None:
    with Step("containerd of each node, and images"):
        for node in state.nodes:
            containerd = components.containerd(node)
            _start(state, containerd)
            _await(state, containerd.name, "containerd socket", functools.partial(health.containerd_ready, node), 30)
        import_images(state)
        for node in state.nodes:
            if layout.SANDBOX_IMAGE not in images.present_images(node):
                raise SystemExit(
                    f"the sandbox image {layout.SANDBOX_IMAGE} is not imported: build it with "
                    "`python ci/images/build.py --only pause` (writes .state/images/pause.tar) and run `up` again"
                )


def import_images(state: StateDirs) -> None:
    """Every node gets every image: there is no registry a node could pull a missing one from."""
    for node in state.nodes:
        for line in images.import_archives(node, layout.IMAGE_ARCHIVES):
            print(f"  {line}", flush=True)


def start_control_plane(state: StateDirs, kube: Path, admin: KubeApi) -> None:
    with Step("etcd"):
        _start(state, components.etcd(state, kube))
        _await(state, "etcd", "etcd /health", health.etcd_ready, 60)
    with Step("apiserver"):
        _start(state, components.apiserver(state, kube))
        _await(state, "apiserver", "apiserver /readyz", lambda: health.apiserver_ready(admin), 90)
    with Step("bootstrap objects: add-on RBAC, the kube-dns Service, the local-path StorageClasses"):
        bootstrap.create_addon_rbac(admin)
        bootstrap.create_dns_service(admin)
        bootstrap.create_storage_classes(admin)
        bootstrap.create_local_path_config(admin, state)
    # The controller-manager only after /readyz: before the RBAC bootstrap is done it fails its
    # start-up authorization checks.
    with Step("controller-manager, scheduler"):
        _start(state, components.controller_manager(state, kube))
        _start(state, components.scheduler(state, kube))
        _await(state, "controller-manager", "controller-manager /healthz", lambda: health.local_healthz(10257), 60)
        _await(state, "scheduler", "scheduler /healthz", lambda: health.local_healthz(10259), 60)


def start_node(state: StateDirs, binaries: Binaries, admin: KubeApi) -> None:
    with Step("kubelets, kube-proxy, CoreDNS, kube-network-policies, local-path-provisioner"):
        for node_dirs in state.nodes:
            cgroups.create_node_cgroups(node_dirs.node)
            _start(state, components.kubelet(state, node_dirs, binaries.kube))
        _start(state, components.proxy(state, binaries.kube))
        _start(state, components.dns(state, binaries.coredns))
        _start(state, components.netpol(state, binaries.netpol))
        _start(state, components.local_path(state, binaries.local_path))
        _await(state, "dns", "CoreDNS ready", health.dns_ready, 60)
        _await(state, "dns", "DNS answers on the node address", health.dns_answers, 30)
        for node in layout.NODES:
            ready = functools.partial(health.node_ready, admin, node.name)
            _await(state, node.process("kubelet"), f"node {node.name} Ready", ready, 120)
        _await(state, "proxy", "kube-proxy /healthz", lambda: health.local_healthz(10256, https=False), 60)
        _await(state, "proxy", "DNS through the kube-dns ClusterIP", health.dns_through_service, 60)
        # Hooked only once the controller consumes the queue: from then on every new pod connection is judged.
        _await(state, "netpol", "kube-network-policies on its nfqueue", netpolicy.queue_bound, 60)
        netpolicy.add_chain()
        _await(state, "controller-manager", "default ServiceAccount", lambda: health.default_service_account(admin), 60)


def run_smoke(state: StateDirs, admin: KubeApi) -> None:
    with Step("smoke pods"):
        dns_image = smoke.pick_dns_check_image(list(images.present_images(state.nodes[0])))
        for line in smoke.run_smoke_pods(admin, dns_image):
            print(f"  {line}", flush=True)


def up(state: StateDirs, binaries: Binaries) -> None:
    admin = KubeApi.for_identity(state.pki, pki.ADMIN.file_stem)
    prepare_host(state)
    start_runtime(state)
    start_control_plane(state, binaries.kube, admin)
    start_node(state, binaries, admin)
    run_smoke(state, admin)

"""Readiness probes for each cluster process; each returns True when ready, or raises/returns False."""

from __future__ import annotations

import json
import ssl
import urllib.request

import dns.message
import dns.query
import dns.rdatatype
import layout
from kubeapi import KubeApi
from layout import NodeDirs
from shell import succeeds


def containerd_ready(node: NodeDirs) -> bool:
    return node.containerd_socket.exists() and succeeds(node.ctr("version"), timeout=5)


def etcd_ready() -> bool:
    with urllib.request.urlopen(f"{layout.ETCD_CLIENT_URL}/health", timeout=2) as response:
        return json.load(response).get("health") == "true"


def apiserver_ready(api: KubeApi) -> bool:
    return api.get_text("/readyz", timeout=3).strip() == "ok"


def local_healthz(port: int, path: str = "/healthz", https: bool = True) -> bool:
    """Loopback health endpoints of the controller-manager, scheduler and kube-proxy: HTTP 200 is healthy.

    Their serving certificates are self-signed at start; these probes only ask "is it up", so they
    do not verify them (loopback only).
    """
    scheme = "https" if https else "http"
    context = ssl._create_unverified_context() if https else None
    with urllib.request.urlopen(f"{scheme}://127.0.0.1:{port}{path}", timeout=2, context=context) as response:
        return bool(response.status == 200)


def node_ready(api: KubeApi, name: str) -> bool:
    node = api.get(f"/api/v1/nodes/{name}")
    conditions = node.get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def all_nodes_ready(api: KubeApi) -> bool:
    return all(node_ready(api, node.name) for node in layout.NODES)


def default_service_account(api: KubeApi) -> bool:
    # Pods are rejected until the controller-manager has created the namespace's default ServiceAccount.
    api.get("/api/v1/namespaces/default/serviceaccounts/default")
    return True


def _resolve_a(server: str, name: str) -> list[str]:
    query = dns.message.make_query(name, dns.rdatatype.A)
    response = dns.query.udp(query, server, timeout=2)
    return [item.address for rrset in response.answer for item in rrset if rrset.rdtype == dns.rdatatype.A]


def dns_answers() -> bool:
    name = f"kubernetes.default.svc.{layout.CLUSTER_DOMAIN}"
    return _resolve_a(layout.NODE_IP, name) == [layout.KUBERNETES_SERVICE_IP]


def dns_ready() -> bool:
    """CoreDNS's `ready` plugin: 200 once the kubernetes plugin has synced its informers."""
    with urllib.request.urlopen(f"http://127.0.0.1:{layout.DNS_READY_PORT}/ready", timeout=2) as response:
        return bool(response.status == 200)


def dns_through_service() -> bool:
    """The same question through the kube-dns ClusterIP: proves kube-proxy's rules are in."""
    name = f"kubernetes.default.svc.{layout.CLUSTER_DOMAIN}"
    return _resolve_a(layout.DNS_SERVICE_IP, name) == [layout.KUBERNETES_SERVICE_IP]


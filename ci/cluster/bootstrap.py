"""Objects the cluster needs before workloads: the DNS server's read-only RBAC and the `kube-dns` Service,
whose one endpoint is the host DNS server on the bridge address."""

from __future__ import annotations

import layout
from kubeapi import KubeApi
from pki import DNS

DNS_ROLE = "airflow-k8s:dns"


def create_dns_rbac(api: KubeApi) -> None:
    api.create(
        "/apis/rbac.authorization.k8s.io/v1/clusterroles",
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": DNS_ROLE},
            "rules": [
                {"apiGroups": [""], "resources": ["services"], "verbs": ["list", "watch"]},
                {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list", "watch"]},
            ],
        },
    )
    api.create(
        "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": DNS_ROLE},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": DNS_ROLE},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": DNS.user}],
        },
    )


def create_dns_service(api: KubeApi) -> None:
    # No selector: the endpoint is the host process, published by hand as an EndpointSlice, so pods reach
    # it through kube-proxy like any Service (and like CoreDNS's kube-dns Service in other clusters).
    ports = [
        {"name": "dns", "port": 53, "protocol": "UDP"},
        {"name": "dns-tcp", "port": 53, "protocol": "TCP"},
    ]
    api.create(
        "/api/v1/namespaces/kube-system/services",
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "kube-dns", "labels": {"k8s-app": "kube-dns"}},
            "spec": {"clusterIP": layout.DNS_SERVICE_IP, "ports": [{**p, "targetPort": 53} for p in ports]},
        },
    )
    api.create(
        "/apis/discovery.k8s.io/v1/namespaces/kube-system/endpointslices",
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": "kube-dns-host",
                "labels": {
                    "kubernetes.io/service-name": "kube-dns",
                    "endpointslice.kubernetes.io/managed-by": "airflow-k8s.cluster",
                },
            },
            "addressType": "IPv4",
            "endpoints": [{"addresses": [layout.NODE_IP], "conditions": {"ready": True}}],
            "ports": ports,
        },
    )

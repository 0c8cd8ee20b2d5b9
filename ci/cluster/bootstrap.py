"""Objects the cluster needs before workloads: the read-only (or, for the provisioner, the upstream)
ClusterRoles of the host add-ons, the `kube-dns` Service whose one endpoint is CoreDNS on the bridge
address, and the local-path StorageClasses."""

from __future__ import annotations

import json
from typing import Any

import configs
import layout
from kubeapi import KubeApi
from layout import StateDirs
from pki import DNS, LOCAL_PATH, NETPOL, ClientIdentity

WATCH = ["get", "list", "watch"]
# What each upstream project's manifests grant its ServiceAccount, less what this setup never uses
# (CoreDNS watches pods only for `pods verified`; the Corefile says `pods insecure`).
ROLES: dict[ClientIdentity, list[dict[str, Any]]] = {
    DNS: [
        {"apiGroups": [""], "resources": ["services", "namespaces"], "verbs": ["list", "watch"]},
        {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list", "watch"]},
    ],
    NETPOL: [
        {"apiGroups": [""], "resources": ["pods", "namespaces"], "verbs": ["list", "watch"]},
        {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"], "verbs": ["list", "watch"]},
    ],
    LOCAL_PATH: [
        {"apiGroups": [""], "resources": ["nodes", "persistentvolumeclaims", "configmaps", "pods/log"],
         "verbs": WATCH},
        # Its helper pods (mkdir/rm of a volume's directory) run in LOCAL_PATH_NAMESPACE only.
        {"apiGroups": [""], "resources": ["persistentvolumes"], "verbs": [*WATCH, "create", "patch", "update",
                                                                           "delete"]},
        {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]},
        {"apiGroups": ["storage.k8s.io"], "resources": ["storageclasses"], "verbs": WATCH},
    ],
}
LOCAL_PATH_NAMESPACE = "local-path-storage"
LOCAL_PATH_POD_RULES = [
    {"apiGroups": [""], "resources": ["pods"], "verbs": [*WATCH, "create", "patch", "update", "delete"]},
]
LOCAL_PATH_CONFIGMAP = "local-path-config"
STORAGE_CLASS = "local-path"
SHARED_STORAGE_CLASS = "local-path-shared"
PROVISIONER = "rancher.io/local-path"


def _rbac(kind: str, name: str, namespace: str | None = None) -> tuple[str, dict[str, Any]]:
    scope = f"/namespaces/{namespace}" if namespace else ""
    path = f"/apis/rbac.authorization.k8s.io/v1{scope}/{kind.lower()}s"
    meta: dict[str, Any] = {"name": name, **({"namespace": namespace} if namespace else {})}
    return path, {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": meta}


def grant(api: KubeApi, client: ClientIdentity, rules: list[dict[str, Any]], namespace: str | None = None) -> None:
    """A (Cluster)Role named after the user, with `rules`, bound to that user alone."""
    role_kind, binding_kind = ("Role", "RoleBinding") if namespace else ("ClusterRole", "ClusterRoleBinding")
    path, role = _rbac(role_kind, client.user, namespace)
    api.create(path, {**role, "rules": rules})
    path, binding = _rbac(binding_kind, client.user, namespace)
    subject = {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": client.user}
    ref = {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": client.user}
    api.create(path, {**binding, "roleRef": ref, "subjects": [subject]})


def create_addon_rbac(api: KubeApi) -> None:
    for client, rules in ROLES.items():
        grant(api, client, rules)
    api.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                      "metadata": {"name": LOCAL_PATH_NAMESPACE}})
    grant(api, LOCAL_PATH, LOCAL_PATH_POD_RULES, LOCAL_PATH_NAMESPACE)


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


def create_storage_classes(api: KubeApi) -> None:
    """`local-path`, the default: a PVC without a class gets a directory on the node its first pod runs on
    (bound only then, WaitForFirstConsumer). `local-path-shared`: ReadWriteMany, one host directory."""
    default = {"storageclass.kubernetes.io/is-default-class": "true"}
    for name, class_annotations, binding in (
        (STORAGE_CLASS, default, "WaitForFirstConsumer"),
        (SHARED_STORAGE_CLASS, {}, "Immediate"),
    ):
        api.create(
            "/apis/storage.k8s.io/v1/storageclasses",
            {
                "apiVersion": "storage.k8s.io/v1",
                "kind": "StorageClass",
                "metadata": {"name": name, "annotations": class_annotations},
                "provisioner": PROVISIONER,
                "volumeBindingMode": binding,
                "reclaimPolicy": "Delete",
            },
        )


def helper_pod() -> dict[str, Any]:
    """The pod the provisioner runs on a volume's node to create or remove its directory (/script/setup,
    /script/teardown from the ConfigMap); it adds the node, the hostPath and the scripts itself."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "helper-pod"},
        "spec": {
            "priorityClassName": "system-node-critical",
            "containers": [{"name": "helper-pod", "image": layout.LOCAL_PATH_HELPER_IMAGE,
                            "imagePullPolicy": "IfNotPresent",
                            # The volume's parent directory is root's (the kubelet creates it); the image's
                            # own user may not write there.
                            "securityContext": {"runAsUser": 0}}],
        },
    }


def create_local_path_config(api: KubeApi, state: StateDirs) -> None:
    """The ConfigMap the provisioner reads its config and helper pod from, as its upstream manifest has it."""
    api.create(
        f"/api/v1/namespaces/{LOCAL_PATH_NAMESPACE}/configmaps",
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": LOCAL_PATH_CONFIGMAP},
            "data": {
                "config.json": json.dumps(configs.local_path_config(state), indent=2),
                "setup": 'set -eu\nmkdir -m 0777 -p "$VOL_DIR"\n',
                "teardown": 'set -eu\nrm -rf "$VOL_DIR"\n',
                "helperPod.yaml": json.dumps(helper_pod(), indent=2),
            },
        },
    )

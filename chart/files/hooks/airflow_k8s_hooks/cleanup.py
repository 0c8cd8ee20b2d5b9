"""pre-delete: remove what the release made outside Helm: task pods and the hooks' state ConfigMap.

The scheduler creates task pods itself, so Helm does not know them and `helm uninstall` would leave
pending ones (e.g. on a node type no node has) and, with `delete_worker_pods=False`, finished ones. The
hooks write their state ConfigMap through the API: left behind, a later install of the same name would
read another release's executors. Idempotent: a second run finds nothing to delete.
"""

from __future__ import annotations

from airflow_k8s_hooks.clients.kube import Kube
from airflow_k8s_hooks.config import CleanupConfig


def run(cfg: CleanupConfig, kube: Kube) -> int:
    """Delete every pod matching the selector; return how many were deleted.

    Example:
        >>> run(CleanupConfig("airflow", "app.kubernetes.io/component=task"), KubeApi())  # doctest: +SKIP
        2
    """
    pods = kube.list_pods(cfg.namespace, cfg.selector)
    print(f"[cleanup] {len(pods)} task pod(s) match {cfg.selector} in {cfg.namespace}", flush=True)
    for pod in pods:
        kube.delete_pod(cfg.namespace, pod.name)
        print(f"[cleanup] deleted {pod.name} ({pod.phase})", flush=True)
    if cfg.state_config_map and kube.delete_config_map(cfg.namespace, cfg.state_config_map):
        print(f"[cleanup] deleted configmap {cfg.state_config_map}", flush=True)
    return len(pods)

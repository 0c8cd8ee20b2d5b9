"""pre-delete: remove the task pods the KubernetesExecutor left behind.

The scheduler creates task pods itself, so Helm does not know them and `helm uninstall` would leave
pending ones (e.g. on a node type no node has) and, with `delete_worker_pods=False`, finished ones.
Idempotent: a second run finds nothing to delete.
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
    return len(pods)

"""pre-delete cleanup: every task pod of the release and the hooks' state ConfigMap go, nothing else, and a
re-run is a no-op."""

from __future__ import annotations

from airflow_k8s_hooks import cleanup
from airflow_k8s_hooks.clients.kube import Pod
from airflow_k8s_hooks.config import CleanupConfig


class PodsOnly:
    """In-memory stand-in for the pod calls of the Kubernetes API (selector: exact label matches)."""

    def __init__(self, pods: list[Pod]) -> None:
        self.pods = {p.name: p for p in pods}
        self.config_maps = {"af-executor-state": {"executors": "KubernetesExecutor"}, "af-config": {}}

    def list_pods(self, namespace: str, selector: str) -> list[Pod]:
        wanted = dict(pair.split("=", 1) for pair in selector.split(","))
        return [p for p in self.pods.values() if all(p.labels.get(k) == v for k, v in wanted.items())]

    def delete_pod(self, namespace: str, name: str) -> None:
        del self.pods[name]

    def delete_config_map(self, namespace: str, name: str) -> bool:
        return self.config_maps.pop(name, None) is not None


def test_deletes_only_the_release_task_pods_and_is_idempotent() -> None:
    task = {"app.kubernetes.io/instance": "af", "app.kubernetes.io/component": "task"}
    kube = PodsOnly([
        Pod("pending-task", "Pending", task), Pod("done-task", "Succeeded", task),
        Pod("scheduler", "Running", {**task, "app.kubernetes.io/component": "scheduler"}),
        Pod("other-release-task", "Pending", {**task, "app.kubernetes.io/instance": "other"}),
    ])
    config = CleanupConfig("airflow", "app.kubernetes.io/component=task,app.kubernetes.io/instance=af",
                           "af-executor-state")
    assert cleanup.run(config, kube) == 2  # type: ignore[arg-type]
    assert set(kube.pods) == {"scheduler", "other-release-task"}
    assert set(kube.config_maps) == {"af-config"}, "the hooks' state ConfigMap outlived the release"
    assert cleanup.run(config, kube) == 0  # type: ignore[arg-type]

"""The chart's pod templates and cluster policy, as the KubernetesExecutor turns them into task pods.

The pods are built by Airflow's own code (DagBag + cluster policy, DAG serialization, the executor's
`_build_pod_request` merge) from the ConfigMaps `helm template` renders; see build_task_pods.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .conftest import render_all
from .task_pods import TaskPodBuild

HOSTILE_DAGS = Path(__file__).resolve().parent / "hostile_dags"

SEED = "example_kubernetes_executor_pod_override_sources.resource_requirements_override_example"


@pytest.fixture(scope="module")
def render_kubernetes_hostile_dags(tmp_path_factory: pytest.TempPathFactory) -> TaskPodBuild:
    return TaskPodBuild(render_all()["kubernetes"], HOSTILE_DAGS, tmp_path_factory.mktemp("hostile-task-pods"))


@pytest.fixture(scope="module")
def pods(task_pod_build: TaskPodBuild) -> dict[str, Any]:
    return task_pod_build.pods()


def base_container(pod: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = pod["spec"]["containers"][0]
    assert container["name"] == "base"
    return container


def test_seed_dag_task_gets_exactly_its_pod_override(pods: dict[str, Any]) -> None:
    resources = base_container(pods[SEED])["resources"]
    # 0.5 CPU comes back as the string "0.5" from DAG serialization, as the scheduler sees it.
    assert resources == {"requests": {"cpu": "0.5", "memory": "1024Mi"}, "limits": {"cpu": "0.5", "memory": "1024Mi"}}


def test_task_without_override_gets_one_cpu_and_256mi(pods: dict[str, Any]) -> None:
    pod = pods["queue_routing.on_default"]
    assert base_container(pod)["resources"] == {"requests": {"cpu": "1", "memory": "256Mi"},
                                                "limits": {"cpu": "1", "memory": "256Mi"}}
    assert "nodeSelector" not in pod["spec"]


def test_queue_picks_its_node_type_and_size(pods: dict[str, Any]) -> None:
    pod = pods["queue_routing.on_highmem"]
    assert pod["spec"]["nodeSelector"] == {"node.kubernetes.io/instance-type": "r5.2xlarge"}
    assert base_container(pod)["resources"]["limits"] == {"cpu": "2", "memory": "16Gi"}


def test_pod_override_merges_on_top_of_the_queue_template(pods: dict[str, Any]) -> None:
    pod = pods["queue_routing.on_highmem_with_override"]
    assert pod["spec"]["nodeSelector"] == {"node.kubernetes.io/instance-type": "r5.2xlarge"}
    env = {e["name"]: e.get("value") for e in base_container(pod)["env"]}
    assert env["FROM_OVERRIDE"] == "1"


def test_unknown_queue_falls_back_to_the_default_template(pods: dict[str, Any]) -> None:
    pod = pods["queue_routing.on_unknown_queue"]
    assert "nodeSelector" not in pod["spec"]
    assert base_container(pod)["resources"]["requests"] == {"cpu": "1", "memory": "256Mi"}


def test_task_pods_keep_the_chart_security_and_volumes(pods: dict[str, Any]) -> None:
    for key, pod in pods.items():
        spec = pod["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True, key
        assert spec["automountServiceAccountToken"] is False, key
        mounts = {(m["name"], m["mountPath"]) for m in base_container(pod)["volumeMounts"]}
        assert {("tmp", "/tmp"), ("config", "/opt/airflow/airflow.cfg"), ("logs", "/opt/airflow/logs")} <= mounts, key
        assert base_container(pod)["args"][:3] == ["python", "-m", "airflow.sdk.execution_time.execute_workload"]


def test_task_pods_cannot_run_as_a_component_account(render_kubernetes_hostile_dags: TaskPodBuild) -> None:
    """Through Airflow's own pod building: the chart's pod_mutation_hook refuses a task pod asking for the
    scheduler's or the hooks' ServiceAccount (either field), and leaves other accounts alone."""
    pods = render_kubernetes_hostile_dags.pods()
    for task in ("as_scheduler", "as_hooks_legacy_field"):
        refused = pods[f"service_account_override.{task}"]
        assert "refused" in refused, f"{task} was built: {refused.get('spec', {}).get('serviceAccountName')}"
        assert "belongs to an Airflow component" in refused["refused"], refused
    assert pods["service_account_override.as_own_account"]["spec"]["serviceAccountName"] == "etl-reader"
    assert pods["service_account_override.as_template"]["spec"]["serviceAccountName"] == "af-airflow-k8s-worker"

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
def env_of(container: dict[str, Any]) -> dict[str, str | None]:
    return {e["name"]: e.get("value") for e in container.get("env", [])}


def test_task_pods_skip_the_entrypoint_db_check_and_run_the_configured_image(pods: dict[str, Any]) -> None:
    for key, pod in pods.items():
        base = base_container(pod)
        # The image's entrypoint would otherwise run `airflow db check` before every task.
        assert env_of(base)["CONNECTION_CHECK_MAX_COUNT"] == "0", key
        # [kubernetes_executor] worker_container_repository/tag, set by the chart from images.airflow; a
        # pod_override's own image still wins.
        expected = "example.invalid/no-such-image:0" if key == "unstartable_task_pod.never_starts" else \
            "apache/airflow:3.3.2"
        assert base["image"] == expected, key


USES = "executor_config_uses"


def test_executor_config_annotations_and_labels_merge_into_the_pod(pods: dict[str, Any]) -> None:
    metadata = pods[f"{USES}.annotations_and_labels"]["metadata"]
    assert metadata["annotations"]["example.org/cost-center"] == "analytics"
    assert metadata["labels"]["example.org/team"] == "data"
    # The template's and the executor's labels stay.
    assert metadata["labels"]["app.kubernetes.io/component"] == "task"
    assert metadata["labels"]["dag_id"] == USES


def test_executor_config_volume_is_added_beside_the_chart_volumes(pods: dict[str, Any]) -> None:
    pod = pods[f"{USES}.volume"]
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert volumes["scratch"] == {"name": "scratch", "emptyDir": {"sizeLimit": "64Mi"}}
    assert {"config", "logs", "tmp"} <= set(volumes)
    mounts = {m["name"]: m["mountPath"] for m in base_container(pod)["volumeMounts"]}
    assert mounts["scratch"] == "/scratch" and mounts["tmp"] == "/tmp"


def test_executor_config_sidecar_runs_the_worker_image_next_to_base(pods: dict[str, Any]) -> None:
    pod = pods[f"{USES}.sidecar"]
    names = [c["name"] for c in pod["spec"]["containers"]]
    assert names == ["base", "sidecar"]
    sidecar = pod["spec"]["containers"][1]
    # Named the documented way, `<worker_container_repository>:<worker_container_tag>` read at parse time.
    assert sidecar["image"] == "apache/airflow:3.3.2"
    assert {"name": "shared", "mountPath": "/shared"} in sidecar["volumeMounts"]
    assert {"name": "shared", "emptyDir": {}} in pod["spec"]["volumes"]
    assert base_container(pod)["args"][:3] == ["python", "-m", "airflow.sdk.execution_time.execute_workload"]


def test_executor_config_image_is_the_worker_image(pods: dict[str, Any]) -> None:
    assert base_container(pods[f"{USES}.image"])["image"] == "apache/airflow:3.3.2"


def test_executor_config_placement_and_resources_replace_the_template(pods: dict[str, Any]) -> None:
    affinity = pods[f"{USES}.affinity"]["spec"]["affinity"]
    term = affinity["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]
    assert term["preference"]["matchExpressions"][0]["values"] == ["local.large"]
    assert pods[f"{USES}.tolerations"]["spec"]["tolerations"] == [
        {"key": "dedicated", "operator": "Equal", "value": "airflow", "effect": "NoSchedule"}]
    assert base_container(pods[f"{USES}.resources"])["resources"] == {
        "requests": {"cpu": "200m", "memory": "300Mi"}, "limits": {"cpu": "500m", "memory": "512Mi"}}
    # Everything else keeps the chart's security settings.
    for task in ("affinity", "tolerations", "resources"):
        assert pods[f"{USES}.{task}"]["spec"]["securityContext"]["runAsNonRoot"] is True

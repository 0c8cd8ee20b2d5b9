"""Task pods as the installed KubernetesExecutor builds them, listed through the real Kubernetes client.

The pod comes from the provider's own ``_build_pod_request`` (template, dynamic pod, workload arguments), goes
through the API's JSON as a cluster would serve it (``fake_kube``), and ``KubeApi.list_pods`` must name its task
instance. Runs on whatever provider is installed: cncf-kubernetes 10.22.0 in ``.venv`` (the stock
apache/airflow:3.3.2 image's, which writes no ``task_instance_id`` annotation) and the newest in ``.venv-newest``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from airflow_k8s_hooks.clients.db import TiKey
from airflow_k8s_hooks.clients.kube import KubeApi
from airflow_k8s_hooks.drain import match_pods
from fake_kube import FakeKube

REPO = Path(__file__).resolve().parents[2]
NS = "airflow"


def executor_pod(monkeypatch: pytest.MonkeyPatch, ti_id: uuid.UUID, map_index: int = -1) -> dict[str, Any]:
    """The pod the installed KubernetesExecutor would create for a workload, as the API serves it."""
    monkeypatch.setenv("AIRFLOW__KUBERNETES_EXECUTOR__POD_TEMPLATE_FILE", str(REPO / "pod_templates/pod-template.yaml"))
    monkeypatch.setenv("AIRFLOW__KUBERNETES_EXECUTOR__NAMESPACE", NS)
    from airflow.executors.workloads import ExecuteTask
    from airflow.executors.workloads.base import BundleInfo
    from airflow.executors.workloads.task import TaskInstanceDTO
    from airflow.providers.cncf.kubernetes.executors.kubernetes_executor_types import KubernetesJob
    from airflow.providers.cncf.kubernetes.kube_config import KubeConfig
    from kubernetes.client import ApiClient

    from tests.chart.build_task_pods import pod_builder

    ti = TaskInstanceDTO(id=ti_id, dag_id="etl", task_id="load", run_id="manual__2026-09-17", try_number=1,
                         dag_version_id=uuid.uuid4(), map_index=map_index, queue="default", pool_slots=1,
                         priority_weight=1, executor_config=None)
    workload = ExecuteTask(ti=ti, dag_rel_path=Path("etl.py"), token="t", bundle_info=BundleInfo(name="dags-folder"),
                           log_path=None)
    builder = pod_builder(KubeConfig())
    job = KubernetesJob(key=ti.key, command=[workload], kube_executor_config=None,  # type: ignore[list-item]
                        pod_template_file=None)
    pod: dict[str, Any] = ApiClient().sanitize_for_serialization(builder._build_pod_request(job))
    pod["status"] = {"phase": "Pending"}
    return pod


@pytest.fixture
def kube(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeKube]:
    from kubernetes.config import kube_config

    with FakeKube(tmp_path) as fake:
        # The client reads KUBECONFIG when it is imported: point its default at the fake instead.
        monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(fake.kubeconfig))
        yield fake


def serve(kube: FakeKube, pod: dict[str, Any]) -> None:
    kube.objects[("pods", NS, pod["metadata"]["name"])] = pod


def listed(kube: FakeKube) -> dict[str, Any]:
    return {p.name: p for p in KubeApi().list_pods(NS, "kubernetes_executor=True")}


def test_the_installed_executors_task_pod_names_its_task_instance(kube: FakeKube,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    ti_id = uuid.uuid4()
    pod = executor_pod(monkeypatch, ti_id)
    serve(kube, pod)
    (got,) = listed(kube).values()
    assert got.name == pod["metadata"]["name"] and got.phase == "Pending"
    assert got.ti_id == ti_id, f"annotations {got.annotations}, args {pod['spec']['containers'][0].get('args')}"
    assert got.labels["kubernetes_executor"] == "True" and got.annotations["dag_id"] == "etl"
    key = TiKey(ti_id, "etl", "load", "manual__2026-09-17", -1, 1, "default", None, "queued")
    assert match_pods([got], [key]) == {got.name: key}


def test_annotation_wins_and_a_bad_one_is_not_guessed(kube: FakeKube, monkeypatch: pytest.MonkeyPatch) -> None:
    """cncf-kubernetes >= 10.24 writes ``task_instance_id``; a bad value falls back to the dag/task/run/try
    annotations, never to the workload argument (a pod can carry an older try's command)."""
    in_args, annotated = uuid.uuid4(), uuid.uuid4()
    pod = executor_pod(monkeypatch, in_args, map_index=3)
    pod["metadata"]["annotations"]["task_instance_id"] = str(annotated)
    serve(kube, pod)
    bad = executor_pod(monkeypatch, in_args)
    bad["metadata"]["name"] += "-bad"
    bad["metadata"]["annotations"]["task_instance_id"] = "not-a-uuid"
    serve(kube, bad)
    pods = listed(kube)
    assert pods[pod["metadata"]["name"]].ti_id == annotated
    assert pods[bad["metadata"]["name"]].ti_id is None
    key = TiKey(uuid.uuid4(), "etl", "load", "manual__2026-09-17", -1, 1, "default", None, "queued")
    assert match_pods([pods[bad["metadata"]["name"]]], [key]) == {bad["metadata"]["name"]: key}


@pytest.mark.parametrize("containers", [
    [{"name": "base", "image": "i", "command": ["python", "-m", "airflow.sdk.execution_time.execute_workload"],
      "args": ["--json-string"]}],  # the flag with nothing after it
    [{"name": "base", "image": "i", "args": ["--json-string", "{not json"]}],
    [{"name": "base", "image": "i", "args": ["--json-string", '["a list"]']}],
    [{"name": "base", "image": "i", "args": ["--json-string", '{"ti": {"id": 7}}']}],
    [{"name": "base", "image": "i", "args": ["--json-string", '{"ti": "x"}']}],
    [{"name": "base", "image": "i"}],
])
def test_a_pod_with_an_unreadable_workload_is_listed_without_an_id(kube: FakeKube, containers: list[Any]) -> None:
    serve(kube, {"apiVersion": "v1", "kind": "Pod", "status": {},
                 "metadata": {"name": "odd", "namespace": NS, "labels": {"kubernetes_executor": "True"}},
                 "spec": {"containers": containers}})
    (got,) = listed(kube).values()
    assert got.ti_id is None and got.phase == "Unknown"


def test_workload_split_between_command_and_args(kube: FakeKube) -> None:
    ti_id = uuid.uuid4()
    serve(kube, {"apiVersion": "v1", "kind": "Pod", "status": {"phase": "Running"},
                 "metadata": {"name": "split", "namespace": NS, "labels": {"kubernetes_executor": "True"}},
                 "spec": {"containers": [
                     {"name": "sidecar", "image": "s"},
                     {"name": "base", "image": "i", "command": ["python", "-m", "x", "--json-string"],
                      "args": [f'{{"ti": {{"id": "{ti_id}"}}}}']}]}})
    (got,) = listed(kube).values()
    assert got.ti_id == ti_id and got.phase == "Running"

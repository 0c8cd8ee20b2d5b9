"""Day-2 operations on a real cluster: the StatsD exporter serves Airflow's metrics after a DAG run, the db
clean CronJob run by hand succeeds, and a PodDisruptionBudget is honoured by an eviction through the API.

One release for the module; tests run in file order and build on it. On the local cluster the exporter image
is the `statsd` recipe of ci/images (`make images`).
"""

from __future__ import annotations

import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException
from waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "ci"))
from airflow_api import AirflowApi  # noqa: E402
from release import KUBECTL, SEED_DAG, demo_values, fresh_restricted_namespace, fullname, helm, kubectl_json, wait_ready  # noqa: E402

pytestmark = pytest.mark.e2e
NAMESPACE = "e2e-day2"
RELEASE = "day2"
SMALL = {"requests": {"cpu": "50m", "memory": "256Mi"}, "limits": {"memory": "2Gi"}}


@pytest.fixture(scope="module")
def release(cluster_kubeconfig: str) -> Iterator[None]:
    fresh_restricted_namespace(NAMESPACE)
    values = demo_values(
        statsd={"enabled": True, "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}}},
        dbClean={"enabled": True, "retentionDays": 1, "resources": SMALL},
        # Two api-servers: the PodDisruptionBudget (maxUnavailable 1) is rendered.
        apiServer={"replicas": 2},
        tests={"enabled": False},
    )
    helm("install", RELEASE, str(ROOT / "chart"), "--namespace", NAMESPACE, values=values)
    wait_ready(NAMESPACE, RELEASE, timeout=600)
    yield
    subprocess.run([str(ROOT / ".tools" / "bin" / "helm"), "uninstall", RELEASE, "--namespace", NAMESPACE,
                    "--wait"], check=False)
    subprocess.run([KUBECTL, "delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=false"], check=False)


def exporter_metrics() -> str:
    service = kubectl_json("-n", NAMESPACE, "get", "service", f"{fullname(RELEASE)}-statsd")
    with urllib.request.urlopen(f"http://{service['spec']['clusterIP']}:9102/metrics", timeout=10) as response:
        text: str = response.read().decode()
    return text


def metric_value(text: str, name: str) -> float:
    """Sum of every sample of `name` (any labels) in a Prometheus text exposition; 0 when absent."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and line[len(name):len(name) + 1] in (" ", "{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_exporter_serves_scheduler_heartbeat_and_task_pod_launches(release: None) -> None:
    wait_for("a scheduler heartbeat at the exporter",
             lambda: metric_value(exporter_metrics(), "airflow_scheduler_heartbeat") > 0, timeout=300)
    launched_before = metric_value(exporter_metrics(), "airflow_kubernetes_executor_pod_creations")
    api = AirflowApi.for_release(NAMESPACE, fullname(RELEASE))
    api.wait_for_dag(SEED_DAG, timeout=300)
    run_id = api.trigger(SEED_DAG)
    assert api.wait_for_run(SEED_DAG, run_id, timeout=600) == "success"
    wait_for("the task pod launch counted by the exporter",
             lambda: metric_value(exporter_metrics(), "airflow_kubernetes_executor_pod_creations") > launched_before,
             timeout=120)
    text = exporter_metrics()
    assert metric_value(text, "airflow_executor_open_slots") > 0
    assert metric_value(text, "airflow_ti_start") >= 1, "the task pod reports its start to the exporter"


def test_db_clean_cronjob_run_by_hand_succeeds(release: None, batch_v1: client.BatchV1Api) -> None:
    job = "db-clean-by-hand"
    subprocess.run([KUBECTL, "-n", NAMESPACE, "create", "job", job, f"--from=cronjob/{fullname(RELEASE)}-db-clean"],
                   check=True)

    def finished() -> str | None:
        status = batch_v1.read_namespaced_job(job, NAMESPACE).status
        if status.succeeded:
            return "succeeded"
        if status.failed and status.failed > 2:
            return "failed"
        return None

    assert wait_for("the db clean Job", finished, timeout=300) == "succeeded"
    logs = subprocess.run([KUBECTL, "-n", NAMESPACE, "logs", f"job/{job}"], capture_output=True, text=True,
                          check=True).stdout
    assert "--clean-before-timestamp" in logs


def evict(core_v1: client.CoreV1Api, pod: str) -> int:
    """Evict `pod` through the Eviction API; the HTTP status (201 evicted, 429 refused by a budget)."""
    body = client.V1Eviction(metadata=client.V1ObjectMeta(name=pod, namespace=NAMESPACE))
    try:
        core_v1.create_namespaced_pod_eviction(pod, NAMESPACE, body)
    except ApiException as error:
        return int(error.status)
    return 201


def test_disruption_budget_is_honoured_by_evictions(release: None, core_v1: client.CoreV1Api,
                                                    kube_client: client.ApiClient) -> None:
    policy = client.PolicyV1Api(kube_client)
    name = f"{fullname(RELEASE)}-api-server"
    wait_for("the api-server budget to allow one disruption",
             lambda: policy.read_namespaced_pod_disruption_budget(name, NAMESPACE).status.disruptions_allowed == 1,
             timeout=300)
    pods = core_v1.list_namespaced_pod(NAMESPACE, label_selector=(
        f"app.kubernetes.io/instance={RELEASE},app.kubernetes.io/component=api-server")).items
    running = sorted(p.metadata.name for p in pods if p.status.phase == "Running")
    assert len(running) == 2
    assert evict(core_v1, running[0]) == 201
    # The second api-server must stay while the first one's replacement is not ready.
    assert evict(core_v1, running[1]) == 429
    wait_ready(NAMESPACE, RELEASE, timeout=300)

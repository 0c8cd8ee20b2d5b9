"""Every documented use of `executor_config` on the KubernetesExecutor, one task each.

Follows Airflow's own example (example_kubernetes_executor): annotations and labels, a volume, a sidecar
sharing a volume with the task, the worker image named from `[kubernetes_executor]` config, affinity,
tolerations, resources. Each task checks from inside its pod that the setting arrived, so a run on a
cluster ends success only when the pods were built as asked; tests/chart/test_task_pods.py checks the
same pods built offline by Airflow's own code.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pendulum
from airflow.configuration import conf
from airflow.sdk import DAG, task
from kubernetes.client import models as k8s

# The documented way to name the worker image: empty config gives ":" (InvalidImageName).
WORKER_IMAGE = "{}:{}".format(
    conf.get("kubernetes_executor", "worker_container_repository"),
    conf.get("kubernetes_executor", "worker_container_tag"),
)
SHARED = "/shared"
SIDECAR_FILE = f"{SHARED}/from-sidecar.txt"


def _override(**spec: object) -> dict[str, k8s.V1Pod]:
    """A pod_override of `spec`; the client model requires `containers`, a bare `base` changes nothing."""
    spec.setdefault("containers", [k8s.V1Container(name="base")])
    return {"pod_override": k8s.V1Pod(spec=k8s.V1PodSpec(**spec))}


RESTRICTED = k8s.V1SecurityContext(allow_privilege_escalation=False, capabilities=k8s.V1Capabilities(drop=["ALL"]))

with DAG(dag_id="executor_config_uses", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
         catchup=False, tags=["executor_config"]):

    @task(executor_config={"pod_override": k8s.V1Pod(metadata=k8s.V1ObjectMeta(
        annotations={"example.org/cost-center": "analytics"}, labels={"example.org/team": "data"}))})
    def annotations_and_labels() -> str:
        return "annotations and labels"

    @task(executor_config=_override(
        containers=[k8s.V1Container(name="base", volume_mounts=[k8s.V1VolumeMount(name="scratch",
                                                                                  mount_path="/scratch")])],
        volumes=[k8s.V1Volume(name="scratch", empty_dir=k8s.V1EmptyDirVolumeSource(size_limit="64Mi"))]))
    def volume() -> str:
        Path("/scratch/probe").write_text("ok")
        return Path("/scratch/probe").read_text()

    @task(executor_config=_override(
        containers=[
            k8s.V1Container(name="base", volume_mounts=[k8s.V1VolumeMount(name="shared", mount_path=SHARED)]),
            k8s.V1Container(
                name="sidecar", image=WORKER_IMAGE, command=["bash", "-c", f"echo from-sidecar > {SIDECAR_FILE}"],
                security_context=RESTRICTED,
                resources=k8s.V1ResourceRequirements(requests={"cpu": "50m", "memory": "32Mi"},
                                                     limits={"cpu": "100m", "memory": "64Mi"}),
                volume_mounts=[k8s.V1VolumeMount(name="shared", mount_path=SHARED)]),
        ],
        volumes=[k8s.V1Volume(name="shared", empty_dir=k8s.V1EmptyDirVolumeSource())]))
    def sidecar() -> str:
        deadline = time.monotonic() + 120
        while not os.path.exists(SIDECAR_FILE):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the sidecar never wrote {SIDECAR_FILE}")
            time.sleep(1)
        return Path(SIDECAR_FILE).read_text().strip()

    @task(executor_config=_override(containers=[k8s.V1Container(name="base", image=WORKER_IMAGE)]))
    def image() -> str:
        return os.environ.get("AIRFLOW_VERSION", "")

    @task(executor_config=_override(affinity=k8s.V1Affinity(node_affinity=k8s.V1NodeAffinity(
        preferred_during_scheduling_ignored_during_execution=[k8s.V1PreferredSchedulingTerm(
            weight=1, preference=k8s.V1NodeSelectorTerm(match_expressions=[k8s.V1NodeSelectorRequirement(
                key="node.kubernetes.io/instance-type", operator="In", values=["local.large"])]))]))))
    def affinity() -> str:
        return "affinity"

    @task(executor_config=_override(tolerations=[k8s.V1Toleration(key="dedicated", operator="Equal",
                                                                   value="airflow", effect="NoSchedule")]))
    def tolerations() -> str:
        return "tolerations"

    @task(executor_config=_override(containers=[k8s.V1Container(name="base", resources=k8s.V1ResourceRequirements(
        requests={"cpu": "200m", "memory": "300Mi"}, limits={"cpu": "500m", "memory": "512Mi"}))]))
    def resources() -> str:
        return "resources"

    annotations_and_labels()
    volume()
    sidecar()
    image()
    affinity()
    tolerations()
    resources()

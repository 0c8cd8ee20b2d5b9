"""Build the final task pods of a folder of DAGs the way the scheduler would, offline.

Run in a fresh interpreter whose environment points Airflow at a chart-rendered setup (see
`task_pods.py`): AIRFLOW_HOME/config/airflow_local_settings.py from the chart's ConfigMap and
`[kubernetes_executor] pod_template_file` at the rendered default template beside the queue templates.
Everything that decides the pod is Airflow's own code: DagBag parsing applies the chart's cluster policy,
the DAG goes through serialization as it does between dag-processor and scheduler, and the
KubernetesExecutor's `_build_pod_request` merges template, dynamic pod and `pod_override`.

Usage: python build_task_pods.py DAG_FOLDER OUTPUT_JSON
Writes {"<dag_id>.<task_id>": <pod as a Kubernetes API dict>}; a pod the chart's pod_mutation_hook refuses is
written as {"refused": "<reason>"}.
"""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path
from typing import Any

from airflow.dag_processing.dagbag import DagBag
from airflow.executors.workloads import ExecuteTask
from airflow.executors.workloads.base import BundleInfo
from airflow.executors.workloads.task import TaskInstanceDTO
from airflow.providers.cncf.kubernetes.exceptions import PodMutationHookException
from airflow.providers.cncf.kubernetes.executors.kubernetes_executor_types import KubernetesJob
from airflow.providers.cncf.kubernetes.executors.kubernetes_executor_utils import AirflowKubernetesScheduler
from airflow.providers.cncf.kubernetes.kube_config import KubeConfig
from airflow.providers.cncf.kubernetes.pod_generator import PodGenerator
from airflow.serialization.serialized_objects import DagSerialization
from kubernetes.client import ApiClient


def workload_for(dag_id: str, task: Any) -> ExecuteTask:
    """The workload the scheduler would queue for the task's first try."""
    ti = TaskInstanceDTO(
        id=uuid.uuid4(), dag_id=dag_id, task_id=task.task_id, run_id="manual__2026-01-01",
        try_number=1, dag_version_id=uuid.uuid4(), map_index=-1, queue=task.queue,
        pool_slots=1, priority_weight=1, executor_config=task.executor_config,
    )
    return ExecuteTask(ti=ti, dag_rel_path=Path(f"{dag_id}.py"), token="t",
                       bundle_info=BundleInfo(name="dags-folder"), log_path=None)


def pod_builder(kube_config: KubeConfig) -> AirflowKubernetesScheduler:
    """The executor's pod builder without its watcher process and Kubernetes client."""
    scheduler = AirflowKubernetesScheduler.__new__(AirflowKubernetesScheduler)
    scheduler.kube_config, scheduler.namespace = kube_config, kube_config.kube_namespace
    scheduler.scheduler_job_id = "1"
    # cncf-kubernetes >= 10.24 reads this (set by the executor from the DB schema); 10.22 has no such attribute.
    vars(scheduler)["supports_task_instance_uuid"] = False
    return scheduler


def main(dag_folder: str, output: str) -> None:
    dagbag = DagBag(dag_folder=dag_folder)
    if dagbag.import_errors:
        raise SystemExit(f"DAG import errors: {dagbag.import_errors}")
    builder = pod_builder(KubeConfig())
    api = ApiClient()
    pods: dict[str, Any] = {}
    for dag_id, dag in dagbag.dags.items():
        scheduled = DagSerialization.from_dict(DagSerialization.to_dict(dag))
        for task in scheduled.tasks:
            workload = workload_for(dag_id, task)
            executor_config = workload.ti.executor_config or {}
            job = KubernetesJob(
                # Airflow 3 queues workloads where the annotation still says command strings.
                key=workload.ti.key, command=[workload],  # type: ignore[list-item]
                kube_executor_config=PodGenerator.from_obj(executor_config),
                pod_template_file=executor_config.get("pod_template_file"),
            )
            try:
                pod = builder._build_pod_request(job)
            except PodMutationHookException as refused:  # the executor fails such a task
                pods[f"{dag_id}.{task.task_id}"] = {"refused": str(refused.__cause__)}
                continue
            pods[f"{dag_id}.{task.task_id}"] = api.sanitize_for_serialization(pod)
    Path(output).write_text(json.dumps(pods, indent=1, sort_keys=True))


if __name__ == "__main__":
    main(*sys.argv[1:])

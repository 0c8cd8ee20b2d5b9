"""A task whose pod can never start (its image cannot be pulled): the executor must fail it, not leave it queued.

tests/e2e/test_chart_install.py triggers it: `[kubernetes_executor] worker_pod_pending_fatal_container_state_reasons`
(set by the chart) turns the pod's ErrImagePull/ImagePullBackOff into a failed task, once, without new pods.
"""

import pendulum
from airflow.sdk import DAG, task
from kubernetes.client import models as k8s

NO_SUCH_IMAGE = "example.invalid/no-such-image:0"

with DAG(dag_id="unstartable_task_pod", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
         catchup=False, default_args={"retries": 0}):

    @task(executor_config={"pod_override": k8s.V1Pod(spec=k8s.V1PodSpec(containers=[
        k8s.V1Container(name="base", image=NO_SUCH_IMAGE)]))})
    def never_starts() -> None:
        raise AssertionError("this pod's image does not exist")

    never_starts()

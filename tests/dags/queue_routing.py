"""Tasks on worker queues: each lands on its queue's task pod template (node type, size)."""

import pendulum
from airflow.sdk import DAG, task
from kubernetes.client import models as k8s

with DAG(dag_id="queue_routing", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"), catchup=False):

    @task
    def on_default() -> str:
        return "default"

    @task(queue="highmem")
    def on_highmem() -> str:
        return "highmem"

    @task(queue="highmem", executor_config={"pod_override": k8s.V1Pod(spec=k8s.V1PodSpec(containers=[
        k8s.V1Container(name="base", env=[k8s.V1EnvVar(name="FROM_OVERRIDE", value="1")])]))})
    def on_highmem_with_override() -> str:
        return "highmem+override"

    @task(queue="no_such_queue")
    def on_unknown_queue() -> str:
        return "unknown"

    on_default() >> on_highmem() >> on_highmem_with_override() >> on_unknown_queue()

"""Two tasks on two worker queues: one whose node type exists on the local cluster, one whose does not."""

import pendulum
from airflow.sdk import DAG, task

with DAG(dag_id="queue_placement", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"), catchup=False):

    @task(queue="local")
    def on_local_node_type() -> str:
        return "ran on the local node type"

    @task(queue="elsewhere")
    def on_missing_node_type() -> str:
        return "never scheduled: no node has this type"

    on_local_node_type()
    on_missing_node_type()

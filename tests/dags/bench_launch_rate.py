"""200 mapped tasks whose pods stay Pending: what tests/bench/bench_launch_rate.py times is pod launches alone.

The pods ask for a node type no node has, so the kubelet never starts them and the figure is the executor's
launch rate, not the node's. The DAG's own concurrency cap is lifted so that all 200 can be launched at once.
"""

import pendulum
from airflow.sdk import DAG, task
from kubernetes.client import models as k8s

TASKS = 200
# No node carries this type: the pods stay Pending (tests/bench/bench_launch_rate.py deletes them).
NOWHERE = {"node.kubernetes.io/instance-type": "bench.no-such-node"}

with DAG(dag_id="bench_launch_rate", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
         catchup=False, max_active_tasks=1000, max_active_runs=1, tags=["bench"]):

    @task(executor_config={"pod_override": k8s.V1Pod(spec=k8s.V1PodSpec(containers=[], node_selector=NOWHERE))})
    def launch(index: int) -> int:
        return index

    launch.expand(index=list(range(TASKS)))

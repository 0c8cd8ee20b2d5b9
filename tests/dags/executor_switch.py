"""Sleeping tasks on three worker queues, for the executor-switch end-to-end test (tests/e2e/test_executor_switch.py).

Every task first records its own start: a row (dag_id, task_id, run_id, map_index, try_number, hostname,
executed_by) in the table `executor_switch_runs` of the PostgreSQL database that `$EXECUTOR_SWITCH_DB` names
(created by the test). A task that starts twice leaves two rows: the count starts in the task itself, not in
Airflow's own bookkeeping. Then it sleeps `params.seconds`.

`executor_switch_unplaceable` runs the same tasks with a `pod_override` that pins their KubernetesExecutor pod
to a node type no node has: the pods stay Pending. CeleryExecutor ignores `executor_config`, so the same task
instances run on Celery workers once a switch hands them over.
"""

from __future__ import annotations

import os
import socket
import time
from typing import Any

import pendulum
from airflow.sdk import DAG, Param, get_current_context, task
from kubernetes.client import models as k8s

QUEUES = ("default", "etl", "reports")
TABLE = "executor_switch_runs"
NO_SUCH_NODE_TYPE = {"node.kubernetes.io/instance-type": "no.such.type"}


def record_start() -> None:
    """Insert this task instance's row; fails the task when the database is not reachable."""
    import psycopg2  # in the stock Airflow image; imported here so parsing needs no database driver

    ti = get_current_context()["ti"]
    executed_by = "pod" if os.environ.get("AIRFLOW_IS_K8S_EXECUTOR_POD") else "celery"
    # psycopg2 takes a libpq URL: drop SQLAlchemy's driver part.
    url = os.environ["EXECUTOR_SWITCH_DB"].replace("+psycopg2", "")
    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {TABLE} (dag_id, task_id, run_id, map_index, try_number, hostname, executed_by)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (ti.dag_id, ti.task_id, ti.run_id, ti.map_index, ti.try_number, socket.gethostname(), executed_by),
            )
    finally:
        conn.close()


def sleeper(queue: str, executor_config: dict[str, Any] | None = None) -> Any:
    @task(task_id=f"on_{queue}", queue=queue, executor_config=executor_config or {})
    def sleep_on_queue(params: dict[str, Any] | None = None) -> None:
        record_start()
        time.sleep(int((params or {})["seconds"]))

    return sleep_on_queue()


def switch_dag(dag_id: str, executor_config: dict[str, Any] | None = None) -> DAG:
    with DAG(
        dag_id=dag_id,
        schedule=None,
        start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
        catchup=False,
        # The test starts many runs at once: Airflow's per-DAG limits would keep tasks scheduled, not queued.
        max_active_runs=256,
        max_active_tasks=256,
        params={"seconds": Param(10, type="integer", minimum=0)},
        tags=["e2e"],
    ) as dag:
        for queue in QUEUES:
            sleeper(queue, executor_config)
    return dag


switch_dag("executor_switch")
switch_dag("executor_switch_unplaceable", {"pod_override": k8s.V1Pod(spec=k8s.V1PodSpec(
    containers=[k8s.V1Container(name="base")], node_selector=NO_SUCH_NODE_TYPE))})

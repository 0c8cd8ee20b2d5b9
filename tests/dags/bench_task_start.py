"""20 one-line tasks, one at a time: tests/bench/bench_task_start.py times pod created -> first user line.

Each task's first statement reads the wall clock and returns it (XCom); the benchmark compares it with the
moment its pod appeared. One task at a time, so the pods do not compete for the node's CPUs.
"""

import time

import pendulum
from airflow.sdk import DAG, task

TASKS = 20

with DAG(dag_id="bench_task_start", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
         catchup=False, max_active_tasks=1, max_active_runs=1, tags=["bench"]):

    @task
    def first_line(index: int) -> float:
        return time.time()

    first_line.expand(index=list(range(TASKS)))

"""DAG the hook integration tests run: each task records its own execution, so "ran once" is counted by it.

Tasks ``<queue>_<n>`` sleep ``HOOKS_TEST_SLEEP`` seconds (``long`` sleeps ``HOOKS_TEST_LONG_SLEEP``) and
append one JSON line per start and per end to ``HOOKS_TEST_RECORD`` (O_APPEND: whole lines, no interleaving).
"""

from __future__ import annotations

import json
import os
import time

from airflow.sdk import DAG, task

QUEUES = ("q1", "q2", "q3")
PER_QUEUE = int(os.environ.get("HOOKS_TEST_PER_QUEUE", "6"))


def _record(event: str, **fields: object) -> None:
    line = json.dumps({"event": event, "pid": os.getpid(), "t": time.time(), **fields}) + "\n"
    fd = os.open(os.environ["HOOKS_TEST_RECORD"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def _work(seconds: float, ti: object) -> None:
    ident = {
        "ti_id": str(ti.id),  # type: ignore[attr-defined]
        "task_id": ti.task_id,  # type: ignore[attr-defined]
        "run_id": ti.run_id,  # type: ignore[attr-defined]
        "try_number": ti.try_number,  # type: ignore[attr-defined]
        "executor": os.environ.get("HOOKS_TEST_EXECUTOR_TAG", "?"),
    }
    _record("start", **ident)
    time.sleep(seconds)
    _record("end", **ident)


with DAG(dag_id="handover_probe", schedule=None, catchup=False, max_active_tasks=64) as dag:
    for queue in QUEUES:
        for n in range(PER_QUEUE):

            @task(task_id=f"{queue}_{n}", queue=queue, retries=2)
            def short(ti=None) -> None:
                _work(float(os.environ.get("HOOKS_TEST_SLEEP", "6")), ti)

            short()

    @task(task_id="long", queue="q1", retries=2, priority_weight=100)  # queued first: runs from the start
    def long(ti=None) -> None:
        _work(float(os.environ.get("HOOKS_TEST_LONG_SLEEP", "0")), ti)

    long()

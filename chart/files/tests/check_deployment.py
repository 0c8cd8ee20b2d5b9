"""`helm test` checks of an airflow-k8s release, run in the release's Airflow image.

health: the api-server answers and every Airflow job (scheduler, dag-processor, triggerer) heartbeats.
run-dag: trigger a DAG and wait until its run succeeds, which proves the executor runs real tasks.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.request
from typing import Any


def api_health(api_url: str, deadline: float) -> dict[str, Any]:
    """Poll the api-server's health endpoint until every component reports healthy."""
    last: dict[str, Any] = {}
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{api_url}/api/v2/monitor/health", timeout=10) as response:
                last = json.load(response)
        except OSError as error:
            print(f"api-server not answering yet: {error}", flush=True)
        else:
            unhealthy = {name for name, part in last.items() if part and part.get("status") not in ("healthy", None)}
            if not unhealthy:
                return last
            print(f"waiting for: {sorted(unhealthy)}", flush=True)
        time.sleep(5)
    raise SystemExit(f"api-server health not all healthy before the deadline: {last}")


def run_dag(dag_id: str, deadline: float) -> str:
    """Unpause `dag_id` (Airflow leaves runs of a paused DAG queued), trigger it and wait for the run's final
    state; return it."""
    from airflow.api.common.trigger_dag import trigger_dag
    from airflow.models.dag import DagModel
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState

    run_id = f"helm-test__{int(time.time())}"
    with create_session() as session:
        unpaused = session.query(DagModel).filter_by(dag_id=dag_id, is_paused=True).update({"is_paused": False})
        if unpaused:
            print(f"unpaused {dag_id}", flush=True)
        trigger_dag(dag_id=dag_id, run_id=run_id, triggered_by="TEST", session=session)
    print(f"triggered {dag_id} run {run_id}", flush=True)
    while time.monotonic() < deadline:
        with create_session() as session:
            run = session.query(DagRun).filter_by(dag_id=dag_id, run_id=run_id).one()
            state = run.state
            tasks = {ti.task_id: ti.state for ti in run.get_task_instances(session=session)}
        print(f"run {run_id}: {state} {tasks}", flush=True)
        if state in (DagRunState.SUCCESS, DagRunState.FAILED):
            return str(state)
        time.sleep(5)
    raise SystemExit(f"run {run_id} of {dag_id} did not finish before the deadline")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("check", choices=["health", "run-dag"])
    parser.add_argument("--api-url", required=True)
    parser.add_argument("--dag-id")
    parser.add_argument("--timeout", type=int, default=300)
    args = parser.parse_args(argv)
    deadline = time.monotonic() + args.timeout
    print(json.dumps(api_health(args.api_url, deadline)), flush=True)
    if args.check == "run-dag":
        state = run_dag(args.dag_id, deadline)
        if state != "success":
            print(f"DAG {args.dag_id} ended {state}", flush=True)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""A Celery worker rollout lets a running shell task finish: the worker stops warm (DUMB_INIT_SETSID=0).

Upstream's image runs `dumb-init --` as PID 1, which by default sends SIGTERM to the whole process group:
the task's supervisor would forward it and BashOperator's `on_kill` would end the shell at once. The chart
sets DUMB_INIT_SETSID=0 on Celery workers, so only the worker's main process gets SIGTERM and Celery waits
for its running tasks within terminationGracePeriodSeconds.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "ci"))
from airflow_api import AirflowApi  # noqa: E402
from release import HELM, KUBECTL, demo_values, fresh_restricted_namespace, fullname, helm, kubectl_json, wait_ready  # noqa: E402

pytestmark = pytest.mark.e2e
NAMESPACE = "e2e-celery-stop"
RELEASE = "e2e-stop"
DAG_ID = "celery_warm_shutdown"
TASK_ID = "sleep_60"
WORKER = f"{fullname(RELEASE)}-worker-default"


def _values() -> dict[str, Any]:
    values = demo_values(executor="CeleryExecutor", tests={"enabled": False})
    small = {"requests": {"cpu": "100m", "memory": "512Mi"}, "limits": {"memory": "2Gi"}}
    # One queue, one worker: the rollout must take the worker that runs the task.
    values["workers"] = {"queues": {"default": {}},
                         "celery": {"replicas": 1, "concurrency": 2, "resources": small,
                                    "terminationGracePeriodSeconds": 300}}
    values["redis"] = {"resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}}}
    return values


@pytest.fixture(scope="module")
def api(cluster_kubeconfig: str) -> Iterator[AirflowApi]:
    fresh_restricted_namespace(NAMESPACE)
    helm("install", RELEASE, str(ROOT / "chart"), "--namespace", NAMESPACE, values=_values())
    wait_ready(NAMESPACE, RELEASE, timeout=600)
    yield AirflowApi.for_release(NAMESPACE, fullname(RELEASE))
    subprocess.run([HELM, "uninstall", RELEASE, "--namespace", NAMESPACE, "--wait"], check=False)
    subprocess.run([KUBECTL, "delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=false"], check=False)


def _worker_pods() -> list[dict[str, Any]]:
    pods: list[dict[str, Any]] = kubectl_json(
        "-n", NAMESPACE, "get", "pods", "-l", "app.kubernetes.io/component=celery-worker")["items"]
    return pods


def test_running_bash_task_survives_a_worker_rollout(api: AirflowApi) -> None:
    api.wait_for_dag(DAG_ID, timeout=300)
    run_id = api.trigger(DAG_ID)
    wait_for("the task to run", lambda: api.task_states(DAG_ID, run_id).get(TASK_ID) == "running", timeout=300,
             show=lambda: str(api.task_states(DAG_ID, run_id)))
    time.sleep(5)  # inside `sleep 60`
    (old_pod,) = [p["metadata"]["name"] for p in _worker_pods() if not p["metadata"].get("deletionTimestamp")]
    patch = {"spec": {"template": {"metadata": {"annotations": {"e2e/rollout": str(time.time())}}}}}
    subprocess.run([KUBECTL, "-n", NAMESPACE, "patch", "deployment", WORKER, "-p", json.dumps(patch)], check=True)
    rolled = time.monotonic()

    def old_pod_terminating() -> bool:
        pod = next((p for p in _worker_pods() if p["metadata"]["name"] == old_pod), None)
        return pod is not None and bool(pod["metadata"].get("deletionTimestamp"))

    wait_for("the old worker pod to get its SIGTERM", old_pod_terminating, timeout=300)
    # Warm shutdown: the old worker stays (terminating) while its task runs, instead of exiting at once.
    time.sleep(10)
    assert any(p["metadata"]["name"] == old_pod for p in _worker_pods()), "the old worker exited at once"
    state = api.wait_for_run(DAG_ID, run_id, timeout=600)
    ti = api.call("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{TASK_ID}")
    print(f"\n[measure] rollout -> run {state}: {time.monotonic() - rolled:.1f} s")
    assert (state, ti["state"], ti["try_number"]) == ("success", "success", 1)
    wait_for("the old worker pod to be gone", lambda: all(p["metadata"]["name"] != old_pod for p in _worker_pods()),
             timeout=120)

"""Task-pod start overhead on the cluster: pod created -> the task's first line of user code, median of 20,
beside the same image's bare `python -c` pod measured in the same run.

* task: tests/dags/bench_task_start.py, 20 mapped tasks run one at a time on the KubernetesExecutor; each
  returns `time.time()` from its first line (read back through XCom);
* bare: 20 pods, one at a time, with a real task pod's spec (same image, entrypoint, env, volumes, security)
  whose container runs `python -c "import time; print(repr(time.time()))"`.

A pod's creation is timestamped on the client when the watch delivers its ADDED event (creationTimestamp has
1 s resolution). Both sides compare that with a wall clock read inside the pod: on the local cluster every
node shares the machine's clock; on a remote cluster node clock skew adds to both alike.
Target: task median <= bare median + 2 s.

Run: `python tests/bench/bench_task_start.py` (`make bench`). Needs a cluster: KUBECONFIG's, else the local
one (`make cluster`). Uses the namespace `bench-start` and deletes it at the end.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench_launch_rate import resolve_kubeconfig
from kubernetes import client, config, watch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "ci"))
from airflow_api import AirflowApi  # noqa: E402
from release import KUBECTL, demo_values, fullname, helm, wait_ready  # noqa: E402

NAMESPACE = "bench-start"
RELEASE = "bench-start"
DAG_ID = "bench_task_start"
TASK_ID = "first_line"
RUNS = 20
TARGET_EXTRA_SECONDS = 2.0
BARE_LINE = "import time; print(repr(time.time()))"


def kubectl(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run([KUBECTL, *args], capture_output=True, text=True, check=check)


class PodArrivals:
    """Wall-clock time of each pod's ADDED event in the namespace, by pod name, from one watch."""

    def __init__(self, core: client.CoreV1Api, selector: str) -> None:
        self.times: dict[str, float] = {}
        self.pods: dict[str, Any] = {}
        self._stream = watch.Watch()
        version = core.list_namespaced_pod(NAMESPACE, label_selector=selector).metadata.resource_version
        self._thread = threading.Thread(target=self._collect, args=(core, selector, version), daemon=True)
        self._thread.start()

    def _collect(self, core: client.CoreV1Api, selector: str, version: str) -> None:
        for event in self._stream.stream(core.list_namespaced_pod, NAMESPACE, label_selector=selector,
                                         resource_version=version, timeout_seconds=3600):
            pod = event["object"]
            if event["type"] == "ADDED":
                self.times.setdefault(pod.metadata.name, time.time())
            self.pods[pod.metadata.name] = pod

    def stop(self) -> None:
        self._stream.stop()


def deploy() -> AirflowApi:
    kubectl("delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait", "--timeout=300s")
    kubectl("create", "namespace", NAMESPACE)
    kubectl("label", "namespace", NAMESPACE, "pod-security.kubernetes.io/enforce=restricted")
    values = demo_values()
    values["tests"] = {"dagId": ""}
    values["scheduler"].pop("resources")  # the chart's default request: the demo's 50m starves it
    helm("install", RELEASE, str(ROOT / "chart"), "--namespace", NAMESPACE, values=values)
    wait_ready(NAMESPACE, RELEASE, timeout=600)
    api = AirflowApi.for_release(NAMESPACE, fullname(RELEASE))
    api.wait_for_dag(DAG_ID, timeout=300)
    return api


def measure_tasks(core: client.CoreV1Api, api: AirflowApi) -> tuple[list[float], dict[str, Any]]:
    """Seconds from each task pod's creation to its first line; and one task pod as the bare pods' model."""
    arrivals = PodArrivals(core, f"dag_id={DAG_ID}")
    run_id = api.trigger(DAG_ID)
    state = api.wait_for_run(DAG_ID, run_id, timeout=1800)
    arrivals.stop()
    if state != "success":
        raise SystemExit(f"{DAG_ID} run {run_id} ended {state}")
    by_index = {int(pod.metadata.labels["map_index"]): name for name, pod in arrivals.pods.items()
                if pod.metadata.labels.get("run_id") and pod.metadata.labels.get("map_index")}
    if len(by_index) < RUNS:
        raise SystemExit(f"saw {len(by_index)} task pods of {RUNS}")
    delays = []
    for index, name in sorted(by_index.items()):
        path = f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{TASK_ID}/xcomEntries/return_value?map_index={index}"
        first_line = float(api.call("GET", path)["value"])
        delays.append(first_line - arrivals.times[name])
    model = core.api_client.sanitize_for_serialization(arrivals.pods[by_index[0]])
    return delays, model


def bare_pod(task_pod: dict[str, Any], index: int) -> dict[str, Any]:
    """The task pod's spec under a new name, its container running one line of Python instead of the task."""
    spec = copy.deepcopy(task_pod["spec"])
    for key in ("nodeName", "schedulerName", "preemptionPolicy", "priority", "enableServiceLinks"):
        spec.pop(key, None)
    spec["containers"][0]["args"] = ["python", "-c", BARE_LINE]
    return {"apiVersion": "v1", "kind": "Pod", "spec": spec,
            "metadata": {"name": f"bench-bare-{index}", "labels": {"bench": "bare"}}}


def measure_bare(core: client.CoreV1Api, task_pod: dict[str, Any]) -> list[float]:
    arrivals = PodArrivals(core, "bench=bare")
    delays = []
    for index in range(RUNS):
        name = f"bench-bare-{index}"
        core.create_namespaced_pod(NAMESPACE, bare_pod(task_pod, index))
        deadline = time.monotonic() + 300
        while (phase := core.read_namespaced_pod(name, NAMESPACE).status.phase) not in ("Succeeded", "Failed"):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name} still {phase} after 300 s")
            time.sleep(0.5)
        log = core.read_namespaced_pod_log(name, NAMESPACE).strip().splitlines()
        if phase != "Succeeded" or not log:
            raise SystemExit(f"{name} {phase}: {log}")
        delays.append(float(log[-1]) - arrivals.times[name])
        core.delete_namespaced_pod(name, NAMESPACE, grace_period_seconds=0)
    arrivals.stop()
    return delays


def summary(name: str, delays: list[float]) -> str:
    quartiles = statistics.quantiles(delays, n=4)
    return (f"[measure] {name}: median {statistics.median(delays):.2f} s (quartiles {quartiles[0]:.2f}-"
            f"{quartiles[2]:.2f} s, min {min(delays):.2f}, max {max(delays):.2f}, n={len(delays)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep", action="store_true", help="leave the namespace for a look afterwards")
    args = parser.parse_args()
    os.environ["KUBECONFIG"] = resolve_kubeconfig()
    config.load_kube_config(config_file=os.environ["KUBECONFIG"])
    core = client.CoreV1Api()
    print(f"task-pod start overhead, {RUNS} pods each, one at a time, namespace {NAMESPACE}", flush=True)
    try:
        api = deploy()
        tasks, model = measure_tasks(core, api)
        bare = measure_bare(core, model)
        extra = statistics.median(tasks) - statistics.median(bare)
        print(summary("pod created -> task's first line", tasks))
        print(summary("pod created -> bare `python -c` line, same image and pod spec", bare))
        verdict = "OK" if extra <= TARGET_EXTRA_SECONDS else "ABOVE TARGET"
        print(f"[measure] task start overhead over a bare pod: {extra:+.2f} s (target <= "
              f"{TARGET_EXTRA_SECONDS:.0f} s) {verdict}")
    finally:
        if not args.keep:
            kubectl("delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=false", check=False)


if __name__ == "__main__":
    main()

"""Task-pod launch rate of 200 queued tasks on the cluster, against two baselines measured in the same run.

* ceiling: the rate at which the cluster accepts 200 bare pod creations from a tight client loop (the
  kubernetes client, one connection, pods of the exact shape of a task pod of this chart);
* Airflow's defaults: the chart installed with Airflow's own values of the launch knobs
  (`worker_pods_creation_batch_size=1`, `max_tis_per_query=16`, ...);
* the chart's defaults.

Both Airflow runs trigger tests/dags/bench_launch_rate.py (200 mapped tasks) on a real scheduler. Its pods
ask for a node type no node has, so they stay Pending and the 2-CPU kubelet starts nothing: the figure is the
executor's launch rate. A pod's creationTimestamp has 1 s resolution, so every pod is timestamped on the
client when the watch delivers its ADDED event; rate = (pods - 1) / (last - first), the same for all three.
Targets: chart >= 5x Airflow's defaults and >= 50% of the ceiling.

Run: `python tests/bench/bench_launch_rate.py` (`make bench`). Needs a cluster: KUBECONFIG's, else the local
one (`make cluster`). Uses the namespace `bench-launch` and deletes it at the end.
"""

from __future__ import annotations

import argparse
import copy
import itertools
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client, config, watch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "ci"))
from airflow_api import AirflowApi  # noqa: E402
from release import KUBECTL, demo_values, fullname, helm, kubectl_json, wait_ready  # noqa: E402

LOCAL_KUBECONFIG = ROOT / ".state" / "cluster" / "admin.kubeconfig"
NAMESPACE = "bench-launch"
RELEASE = "bench"
DAG_ID = "bench_launch_rate"
TASKS = 200
TARGET_VS_AIRFLOW = 5.0
TARGET_VS_CEILING = 0.5
# Concurrency caps, not launch-rate knobs: Pending pods never free a slot, so with Airflow's parallelism=32,
# default_pool=128 or max_active_tasks_per_dag=16 a run would stop at that many pods. Both Airflow runs lift
# them alike (the DAG sets max_active_tasks itself).
CAPACITY = 256
CAPACITY_CONFIG = {"core": {"parallelism": str(CAPACITY)}}
# Airflow's own defaults of every knob that decides how fast queued tasks become pods.
AIRFLOW_DEFAULTS = {
    "core": {"parallelism": str(CAPACITY)},
    "scheduler": {"max_tis_per_query": "16", "scheduler_idle_sleep_time": "1"},
    "kubernetes_executor": {"worker_pods_creation_batch_size": "1", "async_pod_creation": "False",
                            "pod_creation_max_concurrency": "0"},
}


@dataclass
class Launch:
    """Client-side arrival times (monotonic seconds) of the pods one measurement created."""

    name: str
    arrivals: list[float] = field(default_factory=list)
    started: float = 0.0
    scheduler_cpu_seconds: float | None = None

    @property
    def rate(self) -> float:
        return (len(self.arrivals) - 1) / (self.arrivals[-1] - self.arrivals[0])

    @property
    def span(self) -> float:
        return self.arrivals[-1] - self.arrivals[0]

    @property
    def start_to_last(self) -> float:
        """From the trigger (or the loop's start) to the last pod: the rate above leaves out the wait for the
        first one, which grows with the batch the scheduler builds before it sends anything."""
        return self.arrivals[-1] - self.started


# --- the cluster ---------------------------------------------------------------------------------------

def resolve_kubeconfig() -> str:
    """KUBECONFIG if set, else the local cluster's when it runs; otherwise stop and say how to get one."""
    given = os.environ.get("KUBECONFIG")
    if given:
        return given
    status = subprocess.run([sys.executable, str(ROOT / "ci" / "cluster" / "cluster.py"), "status"],
                            capture_output=True, text=True, check=False)
    if status.returncode != 0 or not LOCAL_KUBECONFIG.exists():
        raise SystemExit("bench_launch_rate needs a Kubernetes cluster: KUBECONFIG is not set and the local "
                         "cluster is not running. Run `make cluster` first (or set KUBECONFIG).\n"
                         f"{status.stdout}{status.stderr}")
    return str(LOCAL_KUBECONFIG)


def kubectl(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run([KUBECTL, *args], capture_output=True, text=True, check=check)


def fresh_namespace() -> None:
    """An empty namespace that admits only "restricted" pods, as the e2e tests use."""
    kubectl("delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait", "--timeout=300s")
    kubectl("create", "namespace", NAMESPACE)
    kubectl("label", "namespace", NAMESPACE, "pod-security.kubernetes.io/enforce=restricted",
            "pod-security.kubernetes.io/enforce-version=latest")


def delete_pods(core: client.CoreV1Api, selector: str) -> None:
    """Delete the benchmark's pods at once (no grace: none of them ever started) and wait until they are gone."""
    core.delete_collection_namespaced_pod(NAMESPACE, label_selector=selector, grace_period_seconds=0)
    deadline = time.monotonic() + 300
    while core.list_namespaced_pod(NAMESPACE, label_selector=selector, limit=1).items:
        if time.monotonic() > deadline:
            raise TimeoutError(f"pods {selector} still there after 300 s")
        time.sleep(1)


def watch_arrivals(core: client.CoreV1Api, selector: str, expected: int, timeout: float,
                   action: Callable[[], None]) -> list[float]:
    """Run `action` while a watch timestamps the ADDED event of each new pod matching `selector`."""
    resource_version = core.list_namespaced_pod(NAMESPACE, label_selector=selector).metadata.resource_version
    arrivals: dict[str, float] = {}
    done = threading.Event()
    stream = watch.Watch()

    def collect() -> None:
        for event in stream.stream(core.list_namespaced_pod, NAMESPACE, label_selector=selector,
                                   resource_version=resource_version, timeout_seconds=int(timeout) + 60):
            if event["type"] == "ADDED":
                arrivals.setdefault(event["object"].metadata.name, time.monotonic())
                if len(arrivals) >= expected:
                    break
        done.set()

    watcher = threading.Thread(target=collect, daemon=True)
    watcher.start()
    action()
    finished = done.wait(timeout)
    stream.stop()
    if not finished:
        raise TimeoutError(f"{len(arrivals)} of {expected} pods ({selector}) after {timeout:.0f} s")
    return sorted(arrivals.values())


# --- the ceiling ---------------------------------------------------------------------------------------

def bare_pod(task_pod: dict[str, Any], index: int) -> dict[str, Any]:
    """A copy of a real task pod's spec under a new name: same admission work, still Pending."""
    spec = copy.deepcopy(task_pod["spec"])
    for key in ("nodeName", "schedulerName", "preemptionPolicy", "priority", "enableServiceLinks"):
        spec.pop(key, None)
    return {"apiVersion": "v1", "kind": "Pod", "spec": spec, "metadata": {
        "name": f"bench-ceiling-{index}", "labels": {"bench": "ceiling"},
        "annotations": task_pod["metadata"].get("annotations", {})}}


def measure_ceiling(core: client.CoreV1Api, task_pod: dict[str, Any]) -> tuple[Launch, float]:
    """200 creations in a tight loop; return the watched arrivals and the loop's own wall time."""
    pods = [bare_pod(task_pod, i) for i in range(TASKS)]
    launch = Launch("ceiling")
    loop: dict[str, float] = {}

    def create_all() -> None:
        started = time.monotonic()
        for pod in pods:
            core.create_namespaced_pod(NAMESPACE, pod)
        loop["seconds"] = time.monotonic() - started

    launch.started = time.monotonic()
    launch.arrivals = watch_arrivals(core, "bench=ceiling", TASKS, timeout=300, action=create_all)
    delete_pods(core, "bench=ceiling")
    return launch, loop["seconds"]


# --- Airflow -------------------------------------------------------------------------------------------

def release_values(airflow_config: dict[str, Any]) -> dict[str, Any]:
    """The demo values (the repo's DAGs in a ConfigMap, sized for a small node) with `config` on top."""
    values = demo_values(config=airflow_config)
    values["tests"] = {"dagId": ""}
    # The demo's 50m would starve the scheduler on a shared node: it gets the chart's default request.
    values["scheduler"].pop("resources")
    return values


def deploy(airflow_config: dict[str, Any], first: bool) -> AirflowApi:
    """Install (or upgrade to) the release with this config; return its API once the new scheduler runs."""
    verb = "install" if first else "upgrade"
    helm(verb, RELEASE, str(ROOT / "chart"), "--namespace", NAMESPACE, values=release_values(airflow_config))
    # A config change rolls the scheduler: the old one must be gone, or it would launch pods too.
    kubectl("-n", NAMESPACE, "rollout", "status", f"deployment/{fullname(RELEASE)}-scheduler", "--timeout=600s")
    wait_ready(NAMESPACE, RELEASE, timeout=600)
    api = AirflowApi.for_release(NAMESPACE, fullname(RELEASE))
    api.wait_for_dag(DAG_ID, timeout=300)
    api.call("PATCH", "/pools/default_pool?update_mask=slots", {"slots": CAPACITY})
    return api


def scheduler_pod() -> str:
    """The one scheduler pod, once a rolled-out predecessor has fully gone (it could still launch pods)."""
    deadline = time.monotonic() + 300
    while True:
        pods = kubectl_json("-n", NAMESPACE, "get", "pods", "-l", "app.kubernetes.io/component=scheduler")["items"]
        if len(pods) == 1 and pods[0]["status"]["phase"] == "Running":
            return str(pods[0]["metadata"]["name"])
        if time.monotonic() > deadline:
            raise TimeoutError(f"scheduler pods after 300 s: {[p['metadata']['name'] for p in pods]}")
        time.sleep(2)


def restart_scheduler() -> str:
    """A fresh scheduler for each measurement: the executor never frees the slot of a Pending pod deleted
    under it, so a second run on the same scheduler would start with 200 slots taken."""
    deployment = f"deployment/{fullname(RELEASE)}-scheduler"
    kubectl("-n", NAMESPACE, "rollout", "restart", deployment)
    kubectl("-n", NAMESPACE, "rollout", "status", deployment, "--timeout=600s")
    return scheduler_pod()


def scheduler_cpu_seconds(pod: str) -> float:
    """CPU seconds the scheduler container has used, from its cgroup (v2 `cpu.stat`, else v1 `cpuacct`)."""
    read = "cat /sys/fs/cgroup/cpu.stat 2>/dev/null || cat /sys/fs/cgroup/cpuacct/cpuacct.usage"
    out = kubectl("-n", NAMESPACE, "exec", pod, "-c", "scheduler", "--", "sh", "-c", read).stdout
    usage_usec = next((line.split()[1] for line in out.splitlines() if line.startswith("usage_usec")), None)
    return int(usage_usec) / 1e6 if usage_usec else int(out.strip()) / 1e9


def measure_airflow(core: client.CoreV1Api, api: AirflowApi, name: str) -> tuple[Launch, dict[str, Any]]:
    """Trigger one run of 200 tasks; timestamp its pods; return them and one pod as the ceiling's model."""
    launch = Launch(name)
    selector = f"dag_id={DAG_ID}"
    scheduler = restart_scheduler()
    cpu_before = scheduler_cpu_seconds(scheduler)
    run: dict[str, str] = {}

    def trigger() -> None:
        launch.started = time.monotonic()
        run["id"] = api.trigger(DAG_ID)

    launch.arrivals = watch_arrivals(core, selector, TASKS, timeout=900, action=trigger)
    launch.scheduler_cpu_seconds = scheduler_cpu_seconds(scheduler) - cpu_before
    model = core.api_client.sanitize_for_serialization(core.list_namespaced_pod(
        NAMESPACE, label_selector=selector, limit=1).items[0])
    # End the run before its pods go, so the scheduler does not re-queue them.
    api.call("PATCH", f"/dags/{DAG_ID}/dagRuns/{run['id']}", {"state": "failed"})
    delete_pods(core, selector)
    return launch, model


# --- the report ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Bursts:
    """Arrivals split where the gap is much longer than the typical one: the executor's batches."""

    count: int
    pods_per_burst: float
    seconds_per_pod_inside: float
    seconds_between: float


def bursts(arrivals: list[float]) -> Bursts:
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    cut = max(0.05, 4 * statistics.median(gaps))
    inside = [g for g in gaps if g <= cut]
    between = [g for g in gaps if g > cut]
    return Bursts(len(between) + 1, len(arrivals) / (len(between) + 1),
                  statistics.mean(inside) if inside else 0.0, sum(between))


def describe(launch: Launch, extra: str = "") -> str:
    b = bursts(launch.arrivals)
    first = launch.arrivals[0] - launch.started
    cpu = (f"; scheduler CPU {launch.scheduler_cpu_seconds:.1f} s "
           f"({launch.scheduler_cpu_seconds / (launch.arrivals[-1] - launch.started):.0%} of a core)"
           if launch.scheduler_cpu_seconds is not None else "")
    return (f"[measure] {launch.name}: {launch.rate:.1f} pods/s ({len(launch.arrivals)} pods in {launch.span:.2f} s; "
            f"first pod {first:.2f} s after the start{extra}); {b.count} bursts of ~{b.pods_per_burst:.0f} pods, "
            f"{b.seconds_per_pod_inside * 1000:.0f} ms per pod inside a burst, {b.seconds_between:.1f} s between "
            f"bursts{cpu}")


def bottleneck(chart: Launch, ceiling: Launch) -> str:
    """Name what bounds the chart's rate, from where its time went."""
    b = bursts(chart.arrivals)
    inside = b.seconds_per_pod_inside * (len(chart.arrivals) - b.count)
    cpu = chart.scheduler_cpu_seconds or 0.0
    busy = f"the scheduler used {cpu:.1f} CPU s in {chart.arrivals[-1] - chart.started:.1f} s"
    if b.seconds_between > inside:
        return (f"the scheduler loop: {b.seconds_between:.1f} of {chart.span:.1f} s go between bursts of "
                f"~{b.pods_per_burst:.0f} pods (building the batch's pod specs from the template, the loop's "
                f"database work, marking the tasks queued), not into API calls; {busy}")
    return (f"per-pod work inside a batch: {b.seconds_per_pod_inside * 1000:.1f} ms per pod "
            f"({inside:.1f} of {chart.span:.1f} s) against {1000 / ceiling.rate:.1f} ms per bare API create: "
            f"the rest is the scheduler building each pod (template file read, pod_override merge, "
            f"serialization) before its create; {busy}")


def verdict(value: float, target: float) -> str:
    return "OK" if value >= target else "BELOW TARGET"


def median_by_rate(launches: list[Launch]) -> Launch:
    return sorted(launches, key=lambda launch: launch.rate)[len(launches) // 2]


def measure_chart_and_ceiling(core: client.CoreV1Api, api: AirflowApi, repeats: int) -> tuple[Launch, Launch]:
    """Chart run and ceiling back to back, `repeats` times: the node is shared, so take the medians."""
    charts, ceilings = [], []
    for attempt in range(1, repeats + 1):
        chart, task_pod = measure_airflow(core, api, f"chart's defaults #{attempt}")
        print(describe(chart), flush=True)
        ceiling, loop_seconds = measure_ceiling(core, task_pod)
        ceiling.name = f"ceiling #{attempt}"
        print(describe(ceiling, extra=f"; client loop {TASKS / loop_seconds:.1f} creates/s"), flush=True)
        charts.append(chart)
        ceilings.append(ceiling)
    return median_by_rate(charts), median_by_rate(ceilings)


def report(airflow: Launch, chart: Launch, ceiling: Launch) -> None:
    vs_airflow, vs_ceiling = chart.rate / airflow.rate, chart.rate / ceiling.rate
    print(f"[measure] launch rate, {TASKS} tasks: ceiling {ceiling.rate:.1f} pods/s, Airflow's defaults "
          f"{airflow.rate:.2f} pods/s, chart's defaults {chart.rate:.1f} pods/s (medians)")
    print(f"[measure] chart / Airflow's defaults: {vs_airflow:.1f}x (target >= {TARGET_VS_AIRFLOW:.0f}x) "
          f"{verdict(vs_airflow, TARGET_VS_AIRFLOW)}")
    print(f"[measure] chart / ceiling: {vs_ceiling:.0%} (target >= {TARGET_VS_CEILING:.0%}) "
          f"{verdict(vs_ceiling, TARGET_VS_CEILING)}")
    print(f"[measure] start -> last of {TASKS} pods: ceiling {ceiling.start_to_last:.1f} s, Airflow's defaults "
          f"{airflow.start_to_last:.1f} s, chart's defaults {chart.start_to_last:.1f} s (Airflow's include the "
          f"scheduler picking up the triggered run)")
    print(f"bottleneck: {bottleneck(chart, ceiling)}")
    if chart.scheduler_cpu_seconds:
        # Counted from the trigger: the run's start and the first batch's build come before the first pod, so
        # this bounds the end-to-end rate (start -> last pod), not the rate between the first and last pod.
        per_pod = chart.scheduler_cpu_seconds / len(chart.arrivals)
        print(f"[measure] scheduler CPU per launched pod, trigger to last pod: {per_pod * 1000:.0f} ms -> at most "
              f"{1 / per_pod:.0f} pods/s end to end from one fully busy core")
    print(f"(both Airflow runs: parallelism, default_pool and the DAG's max_active_tasks at >= {CAPACITY}, "
          f"caps that would stop a Pending-only run early; they do not change the launch rate)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3, help="chart and ceiling measurements (median)")
    parser.add_argument("--keep", action="store_true", help="leave the namespace for a look afterwards")
    args = parser.parse_args()
    os.environ["KUBECONFIG"] = resolve_kubeconfig()
    config.load_kube_config(config_file=os.environ["KUBECONFIG"])
    core = client.CoreV1Api()
    print(f"launch rate of {TASKS} queued tasks, namespace {NAMESPACE}; task pods stay Pending (nodeSelector to "
          f"a node type no node has): this times the executor's launches, not the kubelet", flush=True)
    fresh_namespace()
    try:
        api = deploy(AIRFLOW_DEFAULTS, first=True)
        airflow, _ = measure_airflow(core, api, "Airflow's defaults (batch 1, max_tis_per_query 16)")
        print(describe(airflow), flush=True)
        api = deploy(CAPACITY_CONFIG, first=False)
        chart, ceiling = measure_chart_and_ceiling(core, api, args.repeats)
        report(airflow, chart, ceiling)
    finally:
        if not args.keep:
            kubectl("delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=false", check=False)


if __name__ == "__main__":
    main()

"""The executor-switch scenarios' shared parts: the release, the tasks' own start records, and watchers of the
cluster while an upgrade runs (task pods, hook logs, scheduler replicas, fault injection).

tests/e2e/test_executor_switch.py and tests/e2e/test_executor_switch_faults.py each install one release in the
namespace below (they run one after the other, never at once). Every task records its own start in a table of the
in-chart PostgreSQL (tests/dags/executor_switch.py), so "exactly once" is counted by the tasks, not by Airflow.
The size is set by the constants below; the full size (~50 running, ~150 queued):
`E2E_SWITCH_RUNS=70 E2E_SWITCH_CONCURRENCY=17 E2E_SWITCH_POD_PARALLELISM=48 make test-switch` (the last one
lets the pods after a switch to Kubernetes start in waves: 150 task processes at once do not fit 2 CPUs).
`E2E_SWITCH_KEEP=1` leaves the release for debugging.
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import psycopg2
import pytest
from kubernetes import client
from waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "ci"))
from airflow_api import AirflowApi  # noqa: E402
from release import (  # noqa: E402
    HELM,
    KUBECTL,
    LOCAL_LARGE_NODE_TYPE,
    LOCAL_NODE_TYPE,
    demo_values,
    fullname,
    helm,
    kubectl_json,
    tool,
    wait_ready,
)

T = TypeVar("T")

NAMESPACE = "e2e-switch"
RELEASE = "switch"
FULL = fullname(RELEASE)
CHART = str(ROOT / "chart")
DAG_FILE = ROOT / "tests" / "dags" / "executor_switch.py"
DAG = "executor_switch"
UNPLACEABLE_DAG = "executor_switch_unplaceable"  # its task pods ask for a node type no node has
TABLE = "executor_switch_runs"
QUEUES = ("default", "etl", "reports")
# Celery slots per queue: this many tasks run at the switch, the rest of the RUNS x 3 tasks wait on the broker.
# On 2 CPUs: 8 running + 25 queued.
_CONCURRENCY = int(os.environ.get("E2E_SWITCH_CONCURRENCY", "0"))
CELERY_CONCURRENCY = {q: _CONCURRENCY or n for q, n in {"default": 3, "etl": 3, "reports": 2}.items()}
RUNS = int(os.environ.get("E2E_SWITCH_RUNS", "11"))
# `[core] parallelism` once KubernetesExecutor runs: how many task pods exist at once. Under CeleryExecutor it
# stays 256 so that every task not running waits on the broker, as the scenario asks.
POD_PARALLELISM = os.environ.get("E2E_SWITCH_POD_PARALLELISM", "256")
# 3 queues on the local cluster's 2 node types: Celery workers and task pods of a queue run on its nodes.
QUEUE_NODE_TYPES = {"default": LOCAL_NODE_TYPE, "etl": LOCAL_LARGE_NODE_TYPE, "reports": LOCAL_LARGE_NODE_TYPE}
INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"
HELM3 = tool("helm3")
HELM_TIMEOUT = "20m"
DRAIN_TIMEOUT = 600
TASK_POD_RESOURCES = {"requests": {"cpu": "50m", "memory": "192Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}}
WORKER_RESOURCES = {"requests": {"cpu": "100m", "memory": "512Mi"}, "limits": {"memory": "3Gi"}}
TASK_POD_SELECTOR = "kubernetes_executor=True"
HOOK_SELECTOR = f"app.kubernetes.io/instance={RELEASE},app.kubernetes.io/component=executor-switch"


def sleep_seconds(i: int) -> int:
    """Varied task lengths, 30..70 s: long enough that every Celery slot is busy before the first ends."""
    return 30 + (i * 17) % 41


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


# The release ---------------------------------------------------------------------------------------------
def switch_values(executor: str, **executor_switch: Any) -> dict[str, Any]:
    """demo_values with the 3 queues, small Celery workers and task pods, and the DB URL for the tasks."""
    parallelism = "256" if executor == "CeleryExecutor" else POD_PARALLELISM
    values = demo_values(executor=executor, config={"core": {"parallelism": parallelism}},
                         executorSwitch={"drainTimeout": DRAIN_TIMEOUT, **executor_switch})
    # Only this test's DAGs: the other test DAGs pin queues this release has no Celery worker for.
    values["dags"]["configMap"]["files"] = {DAG_FILE.name: DAG_FILE.read_text()}
    workers = values["workers"]
    workers["queues"] = {q: {"workerType": QUEUE_NODE_TYPES[q], "resources": TASK_POD_RESOURCES,
                             "celery": {"concurrency": CELERY_CONCURRENCY[q], "resources": WORKER_RESOURCES}}
                         for q in QUEUES}
    workers["celery"] = {"terminationGracePeriodSeconds": 300}
    workers["env"] = [{"name": "EXECUTOR_SWITCH_DB", "valueFrom": {"secretKeyRef": {
        "name": f"{FULL}-database", "key": "connection"}}}]
    return values


def create_namespace() -> None:
    """A fresh namespace enforcing Pod Security "restricted": hook Jobs and task pods must pass it too."""
    subprocess.run([KUBECTL, "delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait", "--timeout=300s"],
                   check=True)
    subprocess.run([KUBECTL, "create", "namespace", NAMESPACE], check=True)
    labels = [f"pod-security.kubernetes.io/{mode}=restricted" for mode in ("enforce", "warn")]
    subprocess.run([KUBECTL, "label", "namespace", NAMESPACE, *labels], check=True)


def upgrade(values: dict[str, Any], helm_binary: str = HELM) -> float:
    """`helm upgrade` (no --wait: hook migrations); returns the seconds it took."""
    started = time.monotonic()
    helm("upgrade", RELEASE, CHART, "--namespace", NAMESPACE, "--timeout", HELM_TIMEOUT, values=values,
         helm_binary=helm_binary, timeout=1500)
    return time.monotonic() - started


def live_executors() -> str:
    """What the live config ConfigMap says the release runs (the chart writes it, the next render reads it)."""
    config = kubectl_json("-n", NAMESPACE, "get", "configmap", f"{FULL}-config")
    return str(config["metadata"]["annotations"]["airflow-k8s/executors"])


def component_pods(component: str) -> list[str]:
    pods = kubectl_json("-n", NAMESPACE, "get", "pods", "-l",
                        f"app.kubernetes.io/instance={RELEASE},app.kubernetes.io/component={component}")["items"]
    return [p["metadata"]["name"] for p in pods]


def scheduler_replicas() -> tuple[int, int]:
    """(spec.replicas, readyReplicas) of the scheduler Deployment."""
    deployment = kubectl_json("-n", NAMESPACE, "get", "deployment", f"{FULL}-scheduler")
    return int(deployment["spec"].get("replicas", 1)), int(deployment["status"].get("readyReplicas", 0))


def wait_scheduler_back(expected: int = 1) -> None:
    wait_for(f"the scheduler at {expected} ready replica(s)", lambda: scheduler_replicas() == (expected, expected),
             timeout=300, show=lambda: f"(spec, ready) = {scheduler_replicas()}")


def wait_celery_gone() -> None:
    """No broker and no Celery worker pod left (Helm deleted them; idle workers shut down at once)."""
    def left() -> list[str]:
        return component_pods("redis") + component_pods("celery-worker")

    wait_for("the broker and Celery worker pods to be gone", lambda: not left(), timeout=300, show=lambda: str(left()))


def redis_depths() -> dict[str, int]:
    """Messages on each queue, and kombu's unacked hash, read in the broker pod (with the broker password)."""
    password = base64.b64decode(kubectl_json("-n", NAMESPACE, "get", "secret", f"{FULL}-broker")["data"]["password"])

    def redis(*args: str) -> int:
        out = subprocess.run([KUBECTL, "-n", NAMESPACE, "exec", f"deploy/{FULL}-redis", "--", "redis-cli",
                              "--no-auth-warning", "-a", password.decode(), *args],
                             capture_output=True, text=True, check=True).stdout
        return int(out.strip() or 0)

    depths = {q: redis("llen", q) for q in QUEUES}
    depths["unacked"] = redis("hlen", "unacked")
    return depths


@pytest.fixture(scope="module")
def apps_v1(kube_client: client.ApiClient) -> client.AppsV1Api:
    return client.AppsV1Api(kube_client)


@dataclass(frozen=True)
class Release:
    api: AirflowApi
    db: MetadataDb


@pytest.fixture(scope="module")
def release(cluster_kubeconfig: str) -> Iterator[Release]:
    """Install with CeleryExecutor; create the tasks' table; uninstall and delete the namespace at the end."""
    create_namespace()
    started = time.monotonic()
    helm("install", RELEASE, CHART, "--namespace", NAMESPACE, values=switch_values("CeleryExecutor"))
    print(f"\n[measure] helm install (CeleryExecutor, {len(QUEUES)} queues): {time.monotonic() - started:.1f} s; "
          f"ready {wait_ready(NAMESPACE, RELEASE, timeout=600):.1f} s later")
    db = MetadataDb.for_release()
    db.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (id serial PRIMARY KEY, dag_id text, task_id text, run_id text,"
               " map_index int, try_number int, hostname text, executed_by text,"
               " started_at timestamptz DEFAULT clock_timestamp())")
    api = AirflowApi.for_release(NAMESPACE, FULL)
    for dag_id in (DAG, UNPLACEABLE_DAG):
        api.wait_for_dag(dag_id, timeout=300)
    # default_pool's 128 slots count queued tasks too: at the full size the rest would stay `scheduled`.
    api.call("PATCH", "/pools/default_pool?update_mask=slots", {"slots": max(128, 2 * RUNS * len(QUEUES))})
    yield Release(api, db)
    if os.environ.get("E2E_SWITCH_KEEP") == "1":  # debugging: leave the release and namespace as they are
        return
    subprocess.run([HELM, "uninstall", RELEASE, "--namespace", NAMESPACE, "--wait", "--timeout", "5m"], check=False)
    subprocess.run([KUBECTL, "delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=false"], check=False)


# The metadata DB (the in-chart PostgreSQL, through its Service IP) -------------------------------------------
class Ti(NamedTuple):
    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    state: str | None
    try_number: int
    queue: str
    end_date: datetime | None


class Start(NamedTuple):
    """One row a task wrote when it started."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    try_number: int
    hostname: str
    executed_by: str
    started_at: datetime


Run = tuple[str, str]  # (dag_id, run_id)


@dataclass(frozen=True)
class MetadataDb:
    dsn: str

    @classmethod
    def for_release(cls) -> MetadataDb:
        secret = kubectl_json("-n", NAMESPACE, "get", "secret", f"{FULL}-database")["data"]
        url = base64.b64decode(secret["connection"]).decode()
        user_password = url.split("://", 1)[1].split("@", 1)[0]
        service = kubectl_json("-n", NAMESPACE, "get", "service", f"{FULL}-postgresql")["spec"]["clusterIP"]
        return cls(f"postgresql://{user_password}@{service}:5432/airflow?connect_timeout=10")

    def query(self, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
        with closing(psycopg2.connect(self.dsn)) as conn, conn, conn.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall() if cursor.description else []

    def execute(self, sql: str, params: Any = ()) -> None:
        self.query(sql, params)

    def tis(self, runs: list[Run]) -> list[Ti]:
        rows = self.query("SELECT dag_id, run_id, task_id, map_index, state, try_number, queue, end_date"
                          " FROM task_instance WHERE (dag_id, run_id) IN %s", (tuple(runs),))
        return [Ti(*r) for r in rows]

    def starts(self, runs: list[Run]) -> list[Start]:
        rows = self.query(f"SELECT dag_id, run_id, task_id, map_index, try_number, hostname, executed_by, started_at"
                          f" FROM {TABLE} WHERE (dag_id, run_id) IN %s", (tuple(runs),))
        return [Start(*r) for r in rows]

    def history_rows(self, runs: list[Run]) -> int:
        return int(self.query("SELECT count(*) FROM task_instance_history WHERE (dag_id, run_id) IN %s",
                              (tuple(runs),))[0][0])


def state_counts(tis: list[Ti]) -> dict[str, int]:
    return dict(Counter(str(t.state) for t in tis))


def trigger_runs(api: AirflowApi, dag_id: str, seconds: list[int]) -> list[Run]:
    """One DAG run per entry, its tasks sleeping that long."""
    runs = []
    for s in seconds:
        run = api.call("POST", f"/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": {"seconds": s}})
        runs.append((dag_id, str(run["dag_run_id"])))
    print(f"triggered {len(runs)} runs of {dag_id} ({len(runs) * len(QUEUES)} task instances)", flush=True)
    return runs


def wait_all_succeeded(db: MetadataDb, runs: list[Run], timeout: float) -> list[Ti]:
    """Every task instance of `runs` finished (fails early when one failed); at least 5 s per task instance, for
    the larger sizes the environment variables above select."""
    timeout = max(timeout, 5.0 * len(runs) * len(QUEUES))
    def done() -> list[Ti] | None:
        tis = db.tis(runs)
        failed = [t for t in tis if t.state in ("failed", "upstream_failed", "up_for_retry")]
        assert not failed, f"task instances failed or are retried: {failed}"
        return tis if tis and all(t.state == "success" for t in tis) else None

    return wait_for(f"{len(runs) * len(QUEUES)} task instances to succeed", done, timeout,
                    show=lambda: str(state_counts(db.tis(runs))))


def assert_each_ran_once(db: MetadataDb, runs: list[Run]) -> dict[tuple[str, str, str], Start]:
    """Every TI success with try 1, exactly one start row each with try 1, no TI history rows."""
    tis = db.tis(runs)
    assert len(tis) == len(runs) * len(QUEUES)
    assert [t for t in tis if t.state != "success" or t.try_number != 1] == []
    starts = db.starts(runs)
    counts = Counter((s.dag_id, s.run_id, s.task_id) for s in starts)
    assert {k: n for k, n in counts.items() if n != 1} == {}, "a task started more than once"
    assert set(counts) == {(t.dag_id, t.run_id, t.task_id) for t in tis}, "a task never started"
    assert [s for s in starts if s.try_number != 1] == []
    assert db.history_rows(runs) == 0, "a try was burned: task_instance_history has rows"
    print(f"accounting: {len(tis)} task instances success, try 1, started once each, 0 history rows")
    return {(s.dag_id, s.run_id, s.task_id): s for s in starts}


# Watching the cluster while an upgrade runs ---------------------------------------------------------------
@dataclass
class SeenPod:
    name: str
    labels: dict[str, str]
    node_selector: dict[str, str]
    node_name: str = ""
    phases: set[str] = field(default_factory=set)
    running_at: datetime | None = None


class Poller:
    """A daemon thread calling `poll` every `interval` s until stopped (a context manager)."""

    interval = 1.0

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self: T) -> T:
        self._thread.start()  # type: ignore[attr-defined]
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll()
            except Exception as error:  # a flaky API call must not end the watch
                print(f"  ({type(self).__name__}: {type(error).__name__}: {error})", flush=True)
            self._stop.wait(self.interval)

    def poll(self) -> None:
        raise NotImplementedError


class SchedulerReplicas(Poller):
    """spec.replicas of the scheduler Deployment over time: shows who brings it back after the drain."""

    def __init__(self, apps_v1: client.AppsV1Api) -> None:
        super().__init__()
        self.apps_v1 = apps_v1
        self.changes: list[tuple[datetime, int]] = []

    def poll(self) -> None:
        # The scale subresource omits a replica count of 0.
        replicas = self.apps_v1.read_namespaced_deployment_scale(f"{FULL}-scheduler", NAMESPACE).spec.replicas or 0
        if not self.changes or self.changes[-1][1] != replicas:
            self.changes.append((utcnow(), replicas))

    def restored_by(self, hooks: HookLogs, since: datetime) -> str:
        """Who scaled the scheduler back after the drain: 'Helm' (applying the release, before the post-upgrade
        hooks) or 'migrate-settings', with the timeline relative to `since` (the upgrade's start)."""
        stopped = next((at for at, n in self.changes if n == 0), None)
        back = next((at for at, n in self.changes if n > 0 and stopped and at > stopped), None)
        settings = hooks.of("settings")
        timeline = ", ".join(f"{n} at +{(at - since).total_seconds():.0f} s" for at, n in self.changes)
        if settings:
            timeline += f"; migrate-settings started at +{(settings[0].at - since).total_seconds():.0f} s"
        if not (stopped and back and settings):
            return f"unknown ({timeline})"
        return f"{'Helm' if back < settings[0].at else 'migrate-settings'} (replicas {timeline})"


class TaskPodWatcher(Poller):
    """Every KubernetesExecutor task pod seen, with its placement and when its container started."""

    def __init__(self, core_v1: client.CoreV1Api) -> None:
        super().__init__()
        self.core_v1 = core_v1
        self.pods: dict[str, SeenPod] = {}

    def poll(self) -> None:
        for pod in self.core_v1.list_namespaced_pod(NAMESPACE, label_selector=TASK_POD_SELECTOR).items:
            seen = self.pods.setdefault(pod.metadata.name, SeenPod(
                pod.metadata.name, dict(pod.metadata.labels or {}), dict(pod.spec.node_selector or {})))
            seen.phases.add(pod.status.phase)
            seen.node_name = seen.node_name or pod.spec.node_name or ""
            for status in pod.status.container_statuses or []:
                if status.name == "base" and status.state.running and seen.running_at is None:
                    seen.running_at = status.state.running.started_at

    def first_running(self) -> datetime | None:
        return min((p.running_at for p in self.pods.values() if p.running_at), default=None)


@dataclass(frozen=True)
class LogLine:
    at: datetime
    text: str


def parse_kubelet_time(stamp: str) -> datetime:
    """`kubectl logs --timestamps` RFC 3339 with nanoseconds -> datetime (microseconds)."""
    match = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?Z", stamp)
    if not match:
        return utcnow()
    micros = int((match.group(2) or "0")[:6].ljust(6, "0"))
    return datetime.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S").replace(microsecond=micros, tzinfo=timezone.utc)


# A hook pod's events for listeners: (step, pod, text); step is the Job's name without the release prefix
# (preflight, drain, settings), text a log line or STARTED when the pod's container started.
HookListener = Callable[[str, str, str], None]
STARTED = "(container started)"


class HookLogs(Poller):
    """Follows the log of every executor-switch hook pod as it runs (Helm deletes the Jobs once they succeed),
    printing each line live; `lines[job]` keeps them with the kubelet's timestamps; `listeners` see each line
    as it arrives (fault injection)."""

    def __init__(self, core_v1: client.CoreV1Api, listeners: Sequence[HookListener] = ()) -> None:
        super().__init__()
        self.core_v1 = core_v1
        self.listeners = tuple(listeners)
        self.since = utcnow()
        self.lines: dict[str, list[LogLine]] = {}
        self.pods: dict[str, list[str]] = {}  # step -> its pods, in start order (a Job's retries)
        self._followed: set[str] = set()
        self._followers: list[tuple[threading.Thread, subprocess.Popen[str]]] = []

    def poll(self) -> None:
        for pod in self.core_v1.list_namespaced_pod(NAMESPACE, label_selector=HOOK_SELECTOR).items:
            name = pod.metadata.name
            # A failed hook of an earlier upgrade stays until the next one replaces it: not this upgrade's.
            earlier = pod.metadata.creation_timestamp < self.since - timedelta(seconds=5)
            if name in self._followed or earlier or pod.status.phase == "Pending":
                continue
            self._followed.add(name)
            job = (pod.metadata.labels or {}).get("job-name", name)
            self.pods.setdefault(self._step(job), []).append(name)
            self._notify(self._step(job), name, STARTED)
            proc = subprocess.Popen([KUBECTL, "-n", NAMESPACE, "logs", "-f", "--timestamps", f"pod/{name}"],
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            thread = threading.Thread(target=self._follow, args=(job, name, proc), daemon=True)
            thread.start()
            self._followers.append((thread, proc))

    @staticmethod
    def _step(job: str) -> str:
        return job.removeprefix(f"{FULL}-executor-switch-") or job

    def _notify(self, step: str, pod: str, text: str) -> None:
        for listener in self.listeners:
            try:
                listener(step, pod, text)
            except Exception as error:  # a failed injection is reported by the test's checks, not here
                print(f"  (listener {type(listener).__name__}: {type(error).__name__}: {error})", flush=True)

    def _follow(self, job: str, pod: str, proc: subprocess.Popen[str]) -> None:
        step = self._step(job)
        assert proc.stdout is not None
        for raw in proc.stdout:
            stamp, _, text = raw.rstrip("\n").partition(" ")
            self.lines.setdefault(job, []).append(LogLine(parse_kubelet_time(stamp), text))
            print(f"  [hook {step} {pod[-5:]}] {text}", flush=True)
            self._notify(step, pod, text)

    def __exit__(self, *exc: object) -> None:
        super().__exit__(*exc)
        for thread, proc in self._followers:
            thread.join(timeout=10)
            if proc.poll() is None:
                proc.terminate()

    def of(self, step: str) -> list[LogLine]:
        return self.lines.get(f"{FULL}-executor-switch-{step}", [])


@dataclass(frozen=True)
class DrainTimes:
    started: datetime
    ended: datetime
    handover_opened: datetime | None
    handover_closed: datetime | None

    @property
    def seconds(self) -> float:
        return (self.ended - self.started).total_seconds()


# Log lines that open and close the hand-over: Celery hands back after the wait for running tasks, Kubernetes
# hands back (CAS, then delete the pending pod) before it.
CELERY_HANDOVER = ("Celery tasks: none left after", "verified:")
KUBERNETES_HANDOVER = ("draining KubernetesExecutor", "pending pods deleted")


def drain_times(lines: list[LogLine], handover: tuple[str, str]) -> DrainTimes:
    """From the drain's log: start, end, and the lines that open and close the hand-over."""
    assert lines, "no log of the drain hook was captured"
    opened = next((ln.at for ln in lines if handover[0] in ln.text), None)
    closed = next((ln.at for ln in lines if handover[1] in ln.text), None)
    return DrainTimes(lines[0].at, lines[-1].at, opened, closed)


def print_measures(label: str, upgrade_started: datetime, upgrade_seconds: float, hooks: HookLogs,
                   handover: tuple[str, str], longest_task_end: datetime | None, first_new_start: datetime | None,
                   new_what: str) -> None:
    drain = drain_times(hooks.of("drain"), handover)
    print(f"[measure] {label}: helm upgrade {upgrade_seconds:.1f} s; drain {drain.seconds:.1f} s")
    if longest_task_end is not None:
        remaining = (longest_task_end - drain.started).total_seconds()
        print(f"[measure] {label}: longest running task ended {remaining:.1f} s into the drain; drain overhead "
              f"beyond it {drain.seconds - remaining:.1f} s")
    if drain.handover_opened and drain.handover_closed:
        print(f"[measure] {label}: hand-over {(drain.handover_closed - drain.handover_opened).total_seconds():.1f} s")
    if first_new_start is not None:
        print(f"[measure] {label}: helm upgrade start -> first {new_what} "
              f"{(first_new_start - upgrade_started).total_seconds():.1f} s")


# Waiting for the work to be in flight -------------------------------------------------------------------
def wait_celery_in_flight(db: MetadataDb, runs: list[Run]) -> list[Ti]:
    """Every Celery slot runs a task and the rest is queued on the broker (none still scheduled)."""
    slots = sum(CELERY_CONCURRENCY.values())

    def in_flight() -> list[Ti] | None:
        tis = db.tis(runs)
        counts = state_counts(tis)
        waiting = len(tis) - counts.get("running", 0) - counts.get("queued", 0) - counts.get("success", 0)
        return tis if len(tis) == len(runs) * len(QUEUES) and counts.get("running", 0) >= slots \
            and not waiting else None

    return wait_for(f"{slots} running Celery tasks and the rest queued", in_flight, timeout=300,
                    show=lambda: str(state_counts(db.tis(runs))))


def print_snapshot(label: str, tis: list[Ti]) -> None:
    by_queue = Counter((t.queue, str(t.state)) for t in tis)
    print(f"{label}: " + ", ".join(f"{q}/{s}={n}" for (q, s), n in sorted(by_queue.items())), flush=True)


def node_types() -> dict[str, str]:
    """Node name -> its node type (the instance-type label), as the cluster reports them."""
    nodes = kubectl_json("get", "nodes")["items"]
    return {n["metadata"]["name"]: n["metadata"]["labels"].get(INSTANCE_TYPE_LABEL, "") for n in nodes}


def assert_ran_in_their_queue_pods(starts: list[Start], seen: dict[str, SeenPod]) -> None:
    """Each task's hostname is a task pod of its queue, asking for and placed on its queue's node type."""
    types = node_types()
    for s in starts:
        queue = s.task_id.removeprefix("on_")
        pod = seen.get(s.hostname)
        assert pod is not None, f"{s.task_id} ran on {s.hostname}, not a task pod seen by the watcher"
        placement = (pod.labels.get("airflow-k8s/queue-slug"), pod.node_selector, types.get(pod.node_name))
        wanted = (queue, {INSTANCE_TYPE_LABEL: QUEUE_NODE_TYPES[queue]}, QUEUE_NODE_TYPES[queue])
        assert placement == wanted, f"{s.task_id} of {s.run_id} ran in pod {pod.name} on node {pod.node_name!r} " \
            f"with (queue label, nodeSelector, node type) {placement}, wanted {wanted}"


def celery_worker_nodes() -> dict[str, str]:
    """Celery worker pod name -> the node it runs on (read while the workers exist)."""
    pods = kubectl_json("-n", NAMESPACE, "get", "pods", "-l",
                        f"app.kubernetes.io/instance={RELEASE},app.kubernetes.io/component=celery-worker")["items"]
    return {p["metadata"]["name"]: p["spec"].get("nodeName", "") for p in pods}


def assert_ran_on_their_queue_workers(starts: list[Start], workers: dict[str, str]) -> None:
    """Each task that ran on Celery ran in a worker of its queue, on a node of its queue's node type."""
    types = node_types()
    for s in starts:
        queue = s.task_id.removeprefix("on_")
        assert s.hostname.startswith(f"{FULL}-worker-{queue}-"), f"{s.task_id} of {s.run_id} ran on {s.hostname}"
        assert s.hostname in workers, f"{s.task_id} ran on worker {s.hostname}, not one seen: {sorted(workers)}"
        node = workers[s.hostname]
        assert types.get(node) == QUEUE_NODE_TYPES[queue], \
            f"{s.task_id} of {s.run_id} ran on worker {s.hostname} on node {node!r} ({types.get(node)})"
    print(f"Celery tasks per node type: {dict(Counter(types[workers[s.hostname]] for s in starts))}")


def wait_kubernetes_in_flight(db: MetadataDb, runs: list[Run], pending: list[Run],
                              pods: TaskPodWatcher) -> None:
    """The runs' task pods all run their task; the unplaceable runs' pods are all Pending."""
    def in_flight() -> bool:
        running = state_counts(db.tis(runs)).get("running", 0)
        unplaceable = [p for p in pods.pods.values() if p.labels.get("dag_id") == UNPLACEABLE_DAG]
        return running == len(runs) * len(QUEUES) and len(unplaceable) == len(pending) * len(QUEUES) \
            and all(p.phases == {"Pending"} for p in unplaceable)

    wait_for("task pods running and pending", in_flight, timeout=300,
             show=lambda: f"{state_counts(db.tis(runs + pending))}, pods seen {len(pods.pods)}")


# Faults ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Boundary:
    """A point in a hook's run where its pod gets deleted: `pattern` (a regex, or STARTED) in a log line of
    the `step` Job's pod; `how` is "evict" (Eviction API: the pod gets a DisruptionTarget condition, which the
    Job's podFailurePolicy ignores) or "delete" (a plain DELETE, as `kubectl delete pod`: counts against the
    Job's backoffLimit)."""

    step: str
    pattern: str
    how: str

    def matches(self, step: str, text: str) -> bool:
        if step != self.step:
            return False
        return text == STARTED if self.pattern == STARTED else bool(re.search(self.pattern, text))


@dataclass
class Kill:
    boundary: Boundary
    pod: str
    at: datetime


class HookPodKiller:
    """A HookLogs listener deleting one hook pod per boundary, in order within each step: the pod that reaches
    boundary n is deleted there, its replacement (the Job's retry) re-runs the step and is deleted at n+1."""

    def __init__(self, core_v1: client.CoreV1Api, boundaries: Sequence[Boundary]) -> None:
        self.core_v1 = core_v1
        self.pending = list(boundaries)
        self.kills: list[Kill] = []
        self._killed: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, step: str, pod: str, text: str) -> None:
        with self._lock:
            upcoming = next((b for b in self.pending if b.step == step), None)
            if pod in self._killed or upcoming is None or not upcoming.matches(step, text):
                return
            self.pending.remove(upcoming)
            self._killed.add(pod)
            self.kills.append(Kill(upcoming, pod, utcnow()))
        print(f"  [fault] {upcoming.how} hook pod {pod} at {upcoming.pattern!r}", flush=True)
        if upcoming.how == "evict":
            self.core_v1.create_namespaced_pod_eviction(pod, NAMESPACE, client.V1Eviction(
                metadata=client.V1ObjectMeta(name=pod, namespace=NAMESPACE)))
        else:
            self.core_v1.delete_namespaced_pod(pod, NAMESPACE)


class SchedulerPodKiller:
    """A HookLogs listener force-deleting the scheduler pods (grace period 0: a crash, not a shutdown) when the
    drain's pod starts and again when it has scaled the scheduler to 0 (the pod still shutting down)."""

    def __init__(self, core_v1: client.CoreV1Api) -> None:
        self.core_v1 = core_v1
        self.deleted: list[tuple[str, str]] = []  # (when, pod)
        self._done: set[str] = set()

    def __call__(self, step: str, pod: str, text: str) -> None:
        if step != "drain":
            return
        when = "drain started" if text == STARTED else "scheduler scaled to 0" \
            if re.search(r"(scaled \S+ from \d+ to 0|already at 0)", text) else None
        if when is None or when in self._done:
            return
        self._done.add(when)
        selector = f"app.kubernetes.io/instance={RELEASE},app.kubernetes.io/component=scheduler"
        for victim in self.core_v1.list_namespaced_pod(NAMESPACE, label_selector=selector).items:
            self.core_v1.delete_namespaced_pod(victim.metadata.name, NAMESPACE, grace_period_seconds=0)
            self.deleted.append((when, victim.metadata.name))
            print(f"  [fault] force-deleted scheduler pod {victim.metadata.name} ({when})", flush=True)

"""The chart on a real cluster: install, the seed DAG's pod, queues on node types, helm test, uninstall.

One release for the module (an install takes a minute); tests run in file order and build on it.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "ci"))
from airflow_api import AirflowApi  # noqa: E402
from release import (  # noqa: E402
    HELM,
    KUBECTL,
    SEED_DAG,
    demo_values,
    fresh_restricted_namespace,
    fullname,
    helm,
    kubectl_json,
    task_pods,
    wait_ready,
)

pytestmark = pytest.mark.e2e
NAMESPACE = "e2e-chart"
RELEASE = "e2e"


@pytest.fixture(scope="module")
def release(cluster_kubeconfig: str) -> Iterator[dict[str, float]]:
    """Install the chart; yield timings; uninstall (the last test checks what uninstall leaves)."""
    # The API server admits only "restricted" pods here: components, task pods, hook Jobs and test pods alike.
    fresh_restricted_namespace(NAMESPACE)
    started = time.monotonic()
    helm("install", RELEASE, str(ROOT / "chart"), "--namespace", NAMESPACE, values=demo_values())
    installed = time.monotonic() - started
    ready = wait_ready(NAMESPACE, RELEASE, timeout=600)
    print(f"\n[measure] helm install: {installed:.1f} s; all components ready {ready:.1f} s later")
    yield {"started": started}
    subprocess.run([HELM, "uninstall", RELEASE, "--namespace", NAMESPACE, "--wait"], check=False)
    subprocess.run([KUBECTL, "delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=false"], check=False)


@pytest.fixture(scope="module")
def api(release: dict[str, float]) -> AirflowApi:
    return AirflowApi.for_release(NAMESPACE, fullname(RELEASE))


def test_every_component_is_ready(release: dict[str, float]) -> None:
    pods = kubectl_json("-n", NAMESPACE, "get", "pods", "-l", f"app.kubernetes.io/instance={RELEASE}")["items"]
    running = [p for p in pods if p["status"]["phase"] == "Running"]
    components = {p["metadata"]["labels"]["app.kubernetes.io/component"] for p in running}
    assert {"scheduler", "api-server", "dag-processor", "triggerer", "postgresql"} <= components


def can_i(account: str, verb: str, resource: str, namespace: str, name: str = "") -> bool:
    """`kubectl auth can-i` as one of the release's service accounts (on the object `name`, if given)."""
    scope = ["--namespace", namespace] if namespace else []  # "" = a cluster-scoped resource
    # "pods/log" would read as the pod named "log": a subresource needs its own flag.
    kind, _, subresource = resource.partition("/")
    sub = [f"--subresource={subresource}"] if subresource else []
    target = f"{kind}/{name}" if name else kind
    result = subprocess.run([KUBECTL, "auth", "can-i", verb, target, *sub, *scope,
                             f"--as=system:serviceaccount:{NAMESPACE}:{fullname(RELEASE)}-{account}"],
                            capture_output=True, text=True, check=False)
    return result.stdout.strip() == "yes"


@pytest.mark.parametrize(("account", "verb", "resource", "namespace", "allowed"), [
    ("scheduler", "create", "pods", NAMESPACE, True),
    ("scheduler", "delete", "pods", NAMESPACE, True),
    ("scheduler", "watch", "pods", NAMESPACE, True),
    ("scheduler", "get", "pods/log", NAMESPACE, True),
    ("scheduler", "list", "events", NAMESPACE, True),
    ("scheduler", "create", "pods", "default", False),
    ("scheduler", "list", "pods", "kube-system", False),
    ("scheduler", "get", "secrets", NAMESPACE, False),
    ("scheduler", "create", "deployments", NAMESPACE, False),
    ("scheduler", "create", "pods/exec", NAMESPACE, False),
    ("scheduler", "list", "nodes", "", False),
    ("worker", "get", "pods", NAMESPACE, False),
    ("worker", "create", "pods", NAMESPACE, False),
    ("worker", "get", "configmaps", NAMESPACE, False),
    ("api-server", "get", "pods/log", NAMESPACE, True),
    ("api-server", "list", "pods", NAMESPACE, True),
    ("api-server", "create", "pods", NAMESPACE, False),
    ("api-server", "get", "secrets", NAMESPACE, False),
    ("dag-processor", "get", "pods", NAMESPACE, False),
    ("triggerer", "create", "pods", NAMESPACE, False),
])
def test_service_accounts_have_only_their_rights(release: dict[str, float], account: str, verb: str,
                                                  resource: str, namespace: str, allowed: bool) -> None:
    assert can_i(account, verb, resource, namespace) is allowed


HOOK_RBAC = ("ServiceAccount", "Role", "RoleBinding")


@pytest.fixture(scope="module")
def hook_account(release: dict[str, float]) -> Iterator[None]:
    """The hooks' ServiceAccount, Role and RoleBinding exist only while a hook runs (Helm deletes them when the
    phase succeeds): apply the chart's own rendering of them for the matrix, delete them after."""
    rendered = helm("template", RELEASE, str(ROOT / "chart"), "--namespace", NAMESPACE,
                    "--set", "secrets.renderOffline=true", "--show-only",
                    "templates/hooks/executor-switch-resources.yaml", values=demo_values()).stdout
    manifest = yaml.safe_dump_all([d for d in yaml.safe_load_all(rendered) if d and d["kind"] in HOOK_RBAC])
    subprocess.run([KUBECTL, "-n", NAMESPACE, "apply", "-f", "-"], input=manifest, text=True, check=True)
    yield
    # The uninstall test's pre-delete hook may already have replaced and removed them (same names).
    subprocess.run([KUBECTL, "-n", NAMESPACE, "delete", "--ignore-not-found", "-f", "-"], input=manifest, text=True,
                   check=False)


SCHEDULER = f"{fullname(RELEASE)}-scheduler"
STATE = f"{fullname(RELEASE)}-executor-state"


@pytest.mark.parametrize(("verb", "resource", "name", "namespace", "allowed"), [
    ("patch", "deployments/scale", SCHEDULER, NAMESPACE, True),  # stop and restore the scheduler
    ("patch", "deployments/scale", f"{fullname(RELEASE)}-api-server", NAMESPACE, False),
    ("delete", "deployments", SCHEDULER, NAMESPACE, False),
    ("delete", "pods", "", NAMESPACE, True),  # pending task pods handed back, finished ones cleaned
    ("create", "pods", "", NAMESPACE, False),
    ("create", "pods/exec", "", NAMESPACE, False),
    ("delete", "configmaps", STATE, NAMESPACE, True),  # its own state, removed on uninstall
    ("patch", "configmaps", f"{fullname(RELEASE)}-config", NAMESPACE, False),
    ("get", "secrets", "", NAMESPACE, False),
    ("delete", "pods", "", "default", False),
    ("list", "pods", "", "kube-system", False),
    ("list", "nodes", "", "", False),
])
def test_hook_account_has_only_its_rights(hook_account: None, verb: str, resource: str, name: str, namespace: str,
                                          allowed: bool) -> None:
    assert can_i("executor-switch", verb, resource, namespace, name) is allowed


def test_queues_land_on_their_node_type(release: dict[str, float], api: AirflowApi) -> None:
    api.wait_for_dag("queue_placement", timeout=300)
    run_id = api.trigger("queue_placement")

    def pod_of(task_id: str) -> dict[str, Any] | None:
        return next((p for p in task_pods(NAMESPACE, "queue_placement")
                     if p["metadata"]["labels"].get("task_id") == task_id), None)

    missing = wait_for("the pod of the task on a missing node type", lambda: pod_of("on_missing_node_type"), 180)
    assert missing["spec"]["nodeSelector"] == {"node.kubernetes.io/instance-type": "r5.2xlarge"}

    def failed_scheduling() -> bool:
        events = kubectl_json("-n", NAMESPACE, "get", "events", "--field-selector",
                              f"involvedObject.name={missing['metadata']['name']}")["items"]
        return any(e["reason"] == "FailedScheduling" for e in events)

    wait_for("a FailedScheduling event", failed_scheduling, timeout=120)
    assert wait_for("the local task to succeed", lambda: api.task_states("queue_placement", run_id).get(
        "on_local_node_type") == "success", timeout=300)
    # This task returns at once (the seed task sleeps 60 s), so it times the platform, not the task.
    print(f"\n[measure] install -> first task Succeeded: "
          f"{time.monotonic() - release['started']:.1f} s")
    pending = pod_of("on_missing_node_type")
    assert pending is not None and pending["status"]["phase"] == "Pending"


def test_seed_dag_task_runs_in_its_own_pod_with_its_resources(release: dict[str, float], api: AirflowApi) -> None:
    api.wait_for_dag(SEED_DAG, timeout=300)
    run_id = api.trigger(SEED_DAG)
    pod = wait_for("the seed task's pod", lambda: next(iter(task_pods(NAMESPACE, SEED_DAG)), None), timeout=180)
    base = pod["spec"]["containers"][0]
    assert base["name"] == "base"
    assert base["resources"] == {"requests": {"cpu": "500m", "memory": "1Gi"},
                                 "limits": {"cpu": "500m", "memory": "1Gi"}}
    running = wait_for("the seed task's pod to run", lambda: next(
        (p for p in task_pods(NAMESPACE, SEED_DAG) if p["status"]["phase"] in ("Running", "Succeeded")), None),
        timeout=180)
    print(f"\n[measure] install -> seed task pod {running['status']['phase']}: "
          f"{time.monotonic() - release['started']:.1f} s")
    assert api.wait_for_run(SEED_DAG, run_id, timeout=600) == "success"
    print(f"[measure] install -> seed DAG run succeeded: {time.monotonic() - release['started']:.1f} s")


def test_task_whose_pod_cannot_start_fails_instead_of_staying_queued(release: dict[str, float],
                                                                      api: AirflowApi) -> None:
    dag_id = "unstartable_task_pod"
    api.wait_for_dag(dag_id, timeout=300)
    run_id = api.trigger(dag_id)
    started = time.monotonic()
    assert api.wait_for_run(dag_id, run_id, timeout=300) == "failed"
    ti = api.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/never_starts")
    print(f"\n[measure] trigger -> unstartable task failed: {time.monotonic() - started:.1f} s")
    assert (ti["state"], ti["try_number"]) == ("failed", 1)
    # The executor stops making pods for it once it failed (a second pod for the same try was seen on a busy
    # machine: one made before the first pod's pull failure reached the executor).
    made = len(task_pods(NAMESPACE, dag_id))
    time.sleep(20)
    assert 1 <= made <= 2 and len(task_pods(NAMESPACE, dag_id)) == made
    events = api.call("GET", f"/eventLogs?dag_id={dag_id}&event=state%20mismatch")["event_logs"]
    assert events, "no state-mismatch event recorded for the failed task"


def test_helm_test_runs_a_real_task(release: dict[str, float]) -> None:
    result = helm("test", RELEASE, "--namespace", NAMESPACE, "--timeout", "15m", timeout=1000)
    assert "Phase:          Succeeded" in result.stdout or "Succeeded" in result.stdout, result.stdout
    print(f"\n{result.stdout}")


def test_uninstall_leaves_no_pods(release: dict[str, float]) -> None:
    helm("uninstall", RELEASE, "--namespace", NAMESPACE, "--wait", "--timeout", "5m")
    left = wait_for("every pod of the release to be gone", lambda: not kubectl_json(
        "-n", NAMESPACE, "get", "pods")["items"] or None, timeout=180)
    assert left

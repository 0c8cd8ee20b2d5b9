"""The chart's task-pod NetworkPolicy on a real cluster (the local one enforces it with kube-network-policies).

Task pods reach only the api-server, the DB, DNS and `networkPolicy.taskPodEgress`, nothing connects to them,
and a KubernetesExecutor task still runs (Airflow 3 task pods talk to the execution API). Probe pods with and
without the task labels make each denial checkable against the same connection allowed.
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
from release import KUBECTL, demo_values, fresh_restricted_namespace, fullname, helm, kubectl_json, wait_ready  # noqa: E402

pytestmark = pytest.mark.e2e
NAMESPACE = "e2e-netpol"
RELEASE = "np"
PORT = 8000
DAG_ID, TASK_ID = "queue_placement", "on_local_node_type"  # the task returns at once: a quick real run
TASK_LABELS = {"app.kubernetes.io/name": "airflow-k8s", "app.kubernetes.io/instance": RELEASE,
               "app.kubernetes.io/component": "task"}
TARGET_LABELS = {"e2e-netpol": "target"}
# A probe pod of each kind: `task` carries the policy's podSelector labels, `plain` and `target` do not.
PROBES = {"task": TASK_LABELS, "plain": {"e2e-netpol": "plain"}, "target": TARGET_LABELS}
ALLOW_TARGET = [{"to": [{"podSelector": {"matchLabels": TARGET_LABELS}}], "ports": [{"protocol": "TCP", "port": PORT}]}]
# Seconds the enforcer may take to follow a change (it follows watch events).
FOLLOW = 30


def values(task_pod_egress: list[dict[str, Any]]) -> dict[str, Any]:
    return demo_values(networkPolicy={"enabled": True, "taskPodEgress": task_pod_egress})


def probe_pod(name: str, labels: dict[str, str]) -> dict[str, Any]:
    """The airflow image serving HTTP on PORT (so it is also a destination), restricted-compliant."""
    security = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "runAsNonRoot": True,
                "runAsUser": 50000, "seccompProfile": {"type": "RuntimeDefault"}}
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"probe-{name}", "namespace": NAMESPACE, "labels": labels},
            "spec": {"terminationGracePeriodSeconds": 0, "containers": [{
                "name": "main", "image": "apache/airflow:3.3.2", "imagePullPolicy": "IfNotPresent",
                "command": ["python", "-m", "http.server", str(PORT)], "workingDir": "/tmp",
                "resources": {"requests": {"cpu": "10m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
                "securityContext": security}]}}


def connects(source: str, host: str, port: int) -> bool:
    """Whether probe pod `source` opens a TCP connection to host:port within 3 s."""
    code = f"import socket; socket.create_connection(({host!r}, {port}), timeout=3).close()"
    result = subprocess.run([KUBECTL, "-n", NAMESPACE, "exec", f"probe-{source}", "--", "python", "-c", code],
                            capture_output=True, text=True, timeout=60, check=False)
    return result.returncode == 0


def pod_ip(name: str) -> str:
    return str(kubectl_json("-n", NAMESPACE, "get", "pod", f"probe-{name}")["status"]["podIP"])


def service_ip(name: str, namespace: str = NAMESPACE) -> str:
    return str(kubectl_json("-n", namespace, "get", "service", name)["spec"]["clusterIP"])


def settle(expected: bool, source: str, host: str, port: int) -> bool:
    """Poll `connects` until it is `expected` or FOLLOW s pass; return the last observation."""
    deadline = time.monotonic() + FOLLOW
    while (observed := connects(source, host, port)) is not expected and time.monotonic() < deadline:
        time.sleep(2)
    return observed


@pytest.fixture(scope="module")
def release(cluster_kubeconfig: str) -> Iterator[None]:
    fresh_restricted_namespace(NAMESPACE)
    started = time.monotonic()
    helm("install", RELEASE, str(ROOT / "chart"), "--namespace", NAMESPACE, values=values([]))
    pods = yaml.safe_dump_all([probe_pod(name, labels) for name, labels in PROBES.items()])
    subprocess.run([KUBECTL, "apply", "-f", "-"], input=pods, text=True, check=True, capture_output=True)
    wait_ready(NAMESPACE, RELEASE, timeout=600)
    subprocess.run([KUBECTL, "-n", NAMESPACE, "wait", "--for=condition=Ready", "pod", "-l", "e2e-netpol",
                    "--timeout=180s"], check=True)
    subprocess.run([KUBECTL, "-n", NAMESPACE, "wait", "--for=condition=Ready", "pod/probe-task", "--timeout=180s"],
                   check=True)
    print(f"\n[measure] install with networkPolicy.enabled, all ready: {time.monotonic() - started:.1f} s")
    yield
    subprocess.run([KUBECTL, "delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=false"], check=False)


def test_the_policy_is_rendered(release: None) -> None:
    policy = kubectl_json("-n", NAMESPACE, "get", "networkpolicy", f"{fullname(RELEASE)}-task-pods")
    assert policy["spec"]["podSelector"]["matchLabels"] == TASK_LABELS


def test_a_task_runs_with_the_policy_on(release: None) -> None:
    api = AirflowApi.for_release(NAMESPACE, fullname(RELEASE))
    api.wait_for_dag(DAG_ID, timeout=300)
    run_id = api.trigger(DAG_ID)
    started = time.monotonic()

    def finished() -> str | None:
        state = api.task_states(DAG_ID, run_id).get(TASK_ID)
        return state if state in ("success", "failed", "upstream_failed") else None

    assert wait_for(f"{TASK_ID} to finish", finished, timeout=420) == "success"
    print(f"\n[measure] task pod under the policy: triggered -> success {time.monotonic() - started:.1f} s")


def test_task_pods_reach_the_api_server_and_dns(release: None) -> None:
    api_server = f"{fullname(RELEASE)}-api-server"
    assert connects("task", api_server, 8080)  # by name: DNS through the kube-dns Service, then the API


@pytest.mark.parametrize("destination", ["target pod", "kubernetes Service"])
def test_task_pods_reach_nothing_else_while_other_pods_do(release: None, destination: str) -> None:
    host, port = (pod_ip("target"), PORT) if destination == "target pod" else (service_ip("kubernetes", "default"), 443)
    assert connects("plain", host, port), "the control connection from an unlabelled pod must work"
    assert not connects("task", host, port)


def test_nothing_connects_to_task_pods(release: None) -> None:
    assert connects("plain", pod_ip("target"), PORT)
    assert not connects("plain", pod_ip("task"), PORT)
    assert not connects("target", pod_ip("task"), PORT)


def test_task_pod_egress_opens_exactly_what_it_names(release: None) -> None:
    helm("upgrade", RELEASE, str(ROOT / "chart"), "--namespace", NAMESPACE, values=values(ALLOW_TARGET))
    try:
        assert settle(True, "task", pod_ip("target"), PORT)
        assert not connects("task", service_ip("kubernetes", "default"), 443)
        assert not connects("task", pod_ip("plain"), PORT)
    finally:
        helm("upgrade", RELEASE, str(ROOT / "chart"), "--namespace", NAMESPACE, values=values([]))
    assert not settle(False, "task", pod_ip("target"), PORT)

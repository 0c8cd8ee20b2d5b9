"""Install, upgrade and watch a release of the chart on a cluster (the local one or KUBECONFIG's).

Used by `make demo` and the end-to-end tests; everything goes through the real `helm` and `kubectl`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
CHART = ROOT / "chart"
TOOLS = ROOT / ".tools" / "bin"


def tool(name: str) -> str:
    """The binary `make install` put in .tools/bin, else the one on PATH."""
    local = TOOLS / name
    return str(local) if local.exists() else (shutil.which(name) or name)


HELM = os.environ.get("HELM") or tool("helm")
KUBECTL = tool("kubectl")
DAGS = ROOT / "tests" / "dags"
# The node types of the local cluster's two nodes (ci/cluster/layout.py); queues pick node types through
# the label node.kubernetes.io/instance-type.
LOCAL_NODE_TYPE = "local.standard"
LOCAL_LARGE_NODE_TYPE = "local.large"
SEED_DAG = "example_kubernetes_executor_pod_override_sources"


def fullname(release: str) -> str:
    return release if "airflow-k8s" in release else f"{release}-airflow-k8s"


def demo_values(**overrides: Any) -> dict[str, Any]:
    """KubernetesExecutor with the repo's example DAGs in a ConfigMap, sized for a 2-CPU node."""
    small = {"requests": {"cpu": "50m", "memory": "256Mi"}, "limits": {"memory": "2Gi"}}
    values: dict[str, Any] = {
        "executor": "KubernetesExecutor",
        "dags": {"source": "configMap", "configMap": {"files": {
            p.name: p.read_text() for p in sorted(DAGS.glob("*.py"))}}},
        "scheduler": {"resources": small}, "apiServer": {"resources": small},
        "dagProcessor": {"resources": small}, "triggerer": {"resources": small},
        "migrations": {"resources": small},
        "postgresql": {"resources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "1Gi"}}},
        "workers": {"queues": {
            "local": {"workerType": LOCAL_NODE_TYPE, "resources": {
                "requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}}},
            "elsewhere": {"workerType": "r5.2xlarge"},
        }},
        "tests": {"dagId": SEED_DAG, "timeout": 600},
    }
    return _merge(values, overrides)


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        merged[key] = _merge(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) \
            else value
    return merged


def helm(*args: str, values: dict[str, Any] | None = None, helm_binary: str = HELM,
         timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """Run helm, values (if any) given as a file on stdin; raise with helm's output on failure."""
    command = [helm_binary, *args] + (["-f", "-"] if values is not None else [])
    result = subprocess.run(command, input=yaml.safe_dump(values) if values is not None else None,
                            capture_output=True, text=True, timeout=timeout, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def kubectl_json(*args: str) -> Any:
    out = subprocess.run([KUBECTL, *args, "-o", "json"], capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def fresh_restricted_namespace(namespace: str) -> None:
    """Delete the namespace if a run left it, then create it enforcing Pod Security "restricted" (the chart's
    pods and task pods must be admitted there as on a hardened cluster)."""
    subprocess.run([KUBECTL, "delete", "namespace", namespace, "--ignore-not-found", "--wait", "--timeout=300s"],
                   check=True)
    subprocess.run([KUBECTL, "create", "namespace", namespace], check=True, capture_output=True)
    subprocess.run([KUBECTL, "label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted",
                    "pod-security.kubernetes.io/enforce-version=latest"], check=True, capture_output=True)


def wait_ready(namespace: str, release: str, timeout: float) -> float:
    """Wait until every Deployment and StatefulSet of the release is available; return the seconds taken."""
    start = time.monotonic()
    selector = f"app.kubernetes.io/instance={release}"
    while True:
        workloads = kubectl_json("-n", namespace, "get", "deployments,statefulsets", "-l", selector)["items"]
        waiting = {w["metadata"]["name"]: f"{w['status'].get('readyReplicas', 0)}/{w['spec'].get('replicas', 1)}"
                   for w in workloads
                   if w["status"].get("readyReplicas", 0) < w["spec"].get("replicas", 1)}
        if workloads and not waiting:
            return time.monotonic() - start
        elapsed = time.monotonic() - start
        if elapsed > timeout:
            pods = subprocess.run([KUBECTL, "-n", namespace, "get", "pods", "-o", "wide"], capture_output=True,
                                  text=True, check=False).stdout
            raise TimeoutError(f"not ready after {timeout:.0f} s: {waiting}\n{pods}")
        print(f"[{elapsed:5.0f} s] waiting for {waiting}", flush=True)
        time.sleep(5)


def task_pods(namespace: str, dag_id: str) -> list[dict[str, Any]]:
    """The KubernetesExecutor's pods of one DAG (it labels them with the DAG id)."""
    found: list[dict[str, Any]] = kubectl_json("-n", namespace, "get", "pods", "-l", f"dag_id={dag_id}")["items"]
    return found

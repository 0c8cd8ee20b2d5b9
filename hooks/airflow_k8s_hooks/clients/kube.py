"""The Kubernetes API: the scheduler Deployment's scale, the state ConfigMap, task pods and worker PVCs.

Steps take any object with the :class:`Kube` methods, so tests can pass an in-memory stand-in; the real
one is :class:`KubeApi` (in-cluster config, else ``KUBECONFIG``).
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from airflow_k8s_hooks.errors import Refused, Retryable


@dataclass(frozen=True)
class Pod:
    """What the hooks need of a pod."""

    name: str
    phase: str
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    ti_id: uuid.UUID | None = None


class Kube(Protocol):
    """The few API calls the hooks make (RBAC: see the README of the chart's hook Role)."""

    def get_replicas(self, namespace: str, deployment: str) -> int: ...
    def set_replicas(self, namespace: str, deployment: str, replicas: int) -> None: ...
    def read_config_map(self, namespace: str, name: str) -> dict[str, str] | None: ...
    def write_config_map(self, namespace: str, name: str, data: Mapping[str, str]) -> None: ...
    def delete_config_map(self, namespace: str, name: str) -> bool: ...
    def list_pods(self, namespace: str, selector: str) -> list[Pod]: ...
    def delete_pod(self, namespace: str, name: str) -> None: ...
    def list_pvcs(self, namespace: str, selector: str) -> list[str]: ...
    def delete_pvc(self, namespace: str, name: str) -> None: ...


@contextlib.contextmanager
def _api(what: str) -> Iterator[None]:
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    try:
        yield
    except ApiException as e:
        if e.status in (401, 403):
            raise Refused(f"Kubernetes API refused {what} ({e.status} {e.reason}): the hook's Role needs "
                          "this verb; see the chart's hook RBAC") from e
        if e.status == 404:
            raise Refused(f"Kubernetes API: {what}: not found") from e
        if e.status in (400, 422):  # a malformed selector or value: the same request fails the same way
            raise Refused(f"Kubernetes API rejected {what} ({e.status} {e.reason}): {_api_message(e)}") from e
        raise Retryable(f"Kubernetes API error on {what}: {e.status} {e.reason}") from e
    except (HTTPError, OSError) as e:
        raise Retryable(f"Kubernetes API unreachable ({what}): {e}") from e


def _api_message(e: Any) -> str:
    """The ``message`` of the API's Status body, else its raw body (one line)."""
    try:
        body = json.loads(e.body or "{}")
    except (TypeError, ValueError):
        body = {}
    message = body.get("message") if isinstance(body, dict) else None
    return " ".join(str(message or e.body or "").split())[:500]


# The KubernetesExecutor names a task pod's task instance in this annotation (cncf-kubernetes >= 10.24.0), and
# on Airflow 3 passes the whole workload, ``ti.id`` included, after ``--json-string`` to
# ``airflow.sdk.execution_time.execute_workload``. Read here rather than through the provider: its helper first
# shipped in 10.24.0, newer than the stock apache/airflow:3.3.2 image's 10.22.0, which sets no such annotation.
TI_ID_ANNOTATION = "task_instance_id"
WORKLOAD_FLAG = "--json-string"


def task_instance_id(annotations: Mapping[str, str], containers: Iterable[Any]) -> uuid.UUID | None:
    """The task instance a task pod runs: its ``task_instance_id`` annotation, else its workload argument.

    A pod whose annotation is present but not a UUID is not guessed from its command (it could name an
    older try); None sends the caller to the ``dag_id``/``task_id``/``run_id``/``try_number`` annotations.

    Example:
        >>> task_instance_id({"task_instance_id": "0190a9c4-6a3e-7b6f-8a53-3c5f0c0e1a11"}, [])
        UUID('0190a9c4-6a3e-7b6f-8a53-3c5f0c0e1a11')
        >>> task_instance_id({"task_instance_id": "nope"}, []) is None
        True
    """
    if TI_ID_ANNOTATION in annotations:
        return _uuid(annotations[TI_ID_ANNOTATION])
    for container in containers:
        words = [*(getattr(container, "command", None) or []), *(getattr(container, "args", None) or [])]
        if WORKLOAD_FLAG not in words:
            continue
        at = words.index(WORKLOAD_FLAG) + 1
        try:
            workload = json.loads(words[at]) if at < len(words) else None
        except (TypeError, ValueError):
            return None
        ti = workload.get("ti") if isinstance(workload, dict) else None
        return _uuid(ti.get("id")) if isinstance(ti, dict) else None
    return None


def _uuid(value: object) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def _pod(p: Any) -> Pod:
    annotations = dict(p.metadata.annotations or {})
    containers = p.spec.containers if p.spec is not None else []
    return Pod(p.metadata.name, p.status.phase if p.status and p.status.phase else "Unknown",
               dict(p.metadata.labels or {}), annotations, task_instance_id(annotations, containers or []))


class KubeApi:
    """:class:`Kube` on the official client.

    Example:
        >>> KubeApi().get_replicas("airflow", "airflow-scheduler")  # doctest: +SKIP
        2
    """

    def __init__(self) -> None:
        from kubernetes import client, config

        try:
            config.load_incluster_config()
        except config.ConfigException:
            try:
                config.load_kube_config()
            except (config.ConfigException, OSError) as e:
                raise Retryable(f"no Kubernetes configuration (in-cluster or KUBECONFIG): {e}") from e
        self.core = client.CoreV1Api()
        self.apps = client.AppsV1Api()

    def get_replicas(self, namespace: str, deployment: str) -> int:
        with _api(f"get deployments/scale {namespace}/{deployment}"):
            scale = self.apps.read_namespaced_deployment_scale(deployment, namespace)
        return int(scale.spec.replicas or 0)

    def set_replicas(self, namespace: str, deployment: str, replicas: int) -> None:
        with _api(f"patch deployments/scale {namespace}/{deployment}"):
            self.apps.patch_namespaced_deployment_scale(deployment, namespace, {"spec": {"replicas": replicas}})

    def read_config_map(self, namespace: str, name: str) -> dict[str, str] | None:
        from kubernetes.client.exceptions import ApiException

        try:
            with _api(f"get configmaps {namespace}/{name}"):
                cm = self.core.read_namespaced_config_map(name, namespace)
        except Refused as e:
            if isinstance(e.__cause__, ApiException) and e.__cause__.status == 404:
                return None
            raise
        return dict(cm.data or {})

    def write_config_map(self, namespace: str, name: str, data: Mapping[str, str]) -> None:
        from kubernetes import client

        body = {"data": dict(data)}
        if self.read_config_map(namespace, name) is None:
            meta = client.V1ObjectMeta(name=name, labels={"app.kubernetes.io/managed-by": "airflow-k8s-hooks"})
            with _api(f"create configmaps {namespace}/{name}"):
                self.core.create_namespaced_config_map(namespace, client.V1ConfigMap(metadata=meta, data=body["data"]))
            return
        with _api(f"patch configmaps {namespace}/{name}"):
            self.core.patch_namespaced_config_map(name, namespace, body)

    def delete_config_map(self, namespace: str, name: str) -> bool:
        """Delete a ConfigMap; False when it did not exist."""
        from kubernetes.client.exceptions import ApiException

        try:
            with _api(f"delete configmaps {namespace}/{name}"):
                self.core.delete_namespaced_config_map(name, namespace)
        except Refused as e:
            if isinstance(e.__cause__, ApiException) and e.__cause__.status == 404:
                return False
            raise
        return True

    def list_pods(self, namespace: str, selector: str) -> list[Pod]:
        with _api(f"list pods {namespace} -l {selector}"):
            pods = self.core.list_namespaced_pod(namespace, label_selector=selector).items
        return [_pod(p) for p in pods]

    def delete_pod(self, namespace: str, name: str) -> None:
        from kubernetes.client.exceptions import ApiException

        with _api(f"delete pods {namespace}/{name}"):
            try:
                self.core.delete_namespaced_pod(name, namespace)
            except ApiException as e:
                if e.status != 404:  # already gone: what we wanted
                    raise

    def list_pvcs(self, namespace: str, selector: str) -> list[str]:
        with _api(f"list persistentvolumeclaims {namespace} -l {selector}"):
            items = self.core.list_namespaced_persistent_volume_claim(namespace, label_selector=selector).items
        return [p.metadata.name for p in items]

    def delete_pvc(self, namespace: str, name: str) -> None:
        from kubernetes.client.exceptions import ApiException

        with _api(f"delete persistentvolumeclaims {namespace}/{name}"):
            try:
                self.core.delete_namespaced_persistent_volume_claim(name, namespace)
            except ApiException as e:
                if e.status != 404:
                    raise

"""The last step of `up`: a pod runs, and a pod resolves Service names through cluster DNS."""

from __future__ import annotations

import functools
import time

import layout
from kubeapi import ApiError, KubeApi
from waits import wait_for

NAMESPACE = "airflow-k8s-smoke"
# The DNS check runs `getent`, which every image built in ci/images has (they are Debian-based); the
# Airflow image is preferred as the one workloads use.
PREFERRED_DNS_CHECK_IMAGE = "docker.io/apache/airflow:3.3.2"
RESTRICTED_CONTAINER_SECURITY = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "runAsNonRoot": True,
    "runAsUser": 65534,
    "seccompProfile": {"type": "RuntimeDefault"},
}


def _pod(name: str, image: str, command: list[str] | None, restart: str, node: str) -> dict[str, object]:
    container: dict[str, object] = {
        "name": "main",
        "image": image,
        "imagePullPolicy": "Never",
        "securityContext": RESTRICTED_CONTAINER_SECURITY,
        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
    }
    if command:
        container["command"] = command
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "restartPolicy": restart,
            "terminationGracePeriodSeconds": 0,
            "containers": [container],
            # Through the scheduler, pinned by the label every node carries: each node must run pods.
            "nodeSelector": {"kubernetes.io/hostname": node},
        },
    }


def _phase(api: KubeApi, name: str) -> str:
    return str(api.get(f"/api/v1/namespaces/{NAMESPACE}/pods/{name}").get("status", {}).get("phase", ""))


def _phase_is(api: KubeApi, name: str, wanted: str) -> bool:
    phase = _phase(api, name)
    if phase == "Failed" or (phase == "Succeeded" and wanted != "Succeeded"):
        raise RuntimeError(f"pod {NAMESPACE}/{name} ended {phase}: see `kubectl -n {NAMESPACE} describe pod {name}`")
    return phase == wanted


def run_smoke_pods(api: KubeApi, dns_image: str | None) -> list[str]:
    """Run the pods; returns what was shown. Leaves nothing behind on success."""
    shown = []
    _delete_namespace(api, wait=True)
    api.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
    wait_for(
        f"default ServiceAccount in {NAMESPACE}",
        lambda: api.get(f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts/default"),
        timeout=60,
    )
    pods = f"/api/v1/namespaces/{NAMESPACE}/pods"
    started = time.monotonic()
    for index, node in enumerate(layout.NODES):
        api.create(pods, _pod(f"pause-{index}", layout.SANDBOX_IMAGE, None, "Always", node.name))
    for index, node in enumerate(layout.NODES):
        running = functools.partial(_phase_is, api, f"pause-{index}", "Running")
        wait_for(f"test pod on {node.name} Running", running, timeout=120)
    shown.append(f"a test pod on each of {len(layout.NODES)} nodes Running after {time.monotonic() - started:.1f}s")
    if dns_image:
        names = ["kubernetes.default", f"kube-dns.kube-system.svc.{layout.CLUSTER_DOMAIN}"]
        first, last = layout.NODES[0].name, layout.NODES[-1].name
        started = time.monotonic()
        api.create(pods, _pod("dns-check", dns_image, ["getent", "hosts", *names[:1]], "Never", first))
        api.create(pods, _pod("dns-check-fqdn", dns_image, ["getent", "hosts", names[1]], "Never", last))
        for pod in ("dns-check", "dns-check-fqdn"):
            wait_for(f"pod {pod} (getent hosts) Succeeded", functools.partial(_phase_is, api, pod, "Succeeded"), 120)
        shown.append(f"DNS from a pod ({', '.join(names)}) answered after {time.monotonic() - started:.1f}s")
    else:
        shown.append(
            "DNS from a pod: skipped, no image with getent imported yet (run `make images`); "
            "checked from the host through the kube-dns ClusterIP instead"
        )
    # Namespace deletion takes several seconds; the next run waits for it instead of this one.
    _delete_namespace(api, wait=False)
    return shown


def pick_dns_check_image(present: list[str]) -> str | None:
    candidates = [name for name in present if name != layout.SANDBOX_IMAGE and "@sha256:" not in name]
    if PREFERRED_DNS_CHECK_IMAGE in candidates:
        return PREFERRED_DNS_CHECK_IMAGE
    return candidates[0] if candidates else None


def _delete_namespace(api: KubeApi, wait: bool) -> None:
    try:
        api.delete(f"/api/v1/namespaces/{NAMESPACE}")
    except ApiError as error:
        if error.status != 409:
            raise

    def gone() -> bool:
        try:
            api.get(f"/api/v1/namespaces/{NAMESPACE}")
        except ApiError as error:
            return error.status == 404
        return False

    if wait:
        wait_for(f"namespace {NAMESPACE} deleted", gone, timeout=120)

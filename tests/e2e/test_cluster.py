"""Cluster sanity: what the chart relies on works on the cluster the e2e tests use.

The node is Ready (and carries the node-type label the chart maps queues to), Services resolve by DNS
name from other pods and DNS answers only the cluster's names, scheduling honours nodeSelector, a Job runs
to completion, and a PVC gets a volume from the default StorageClass. Every pod meets Pod Security
"restricted" (the session namespace enforces it).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes import client

pytestmark = pytest.mark.e2e

AIRFLOW_IMAGE = "apache/airflow:3.3.2"
PAUSE_IMAGE = "registry.k8s.io/pause:3.10"
AIRFLOW_UID = 50000
PAUSE_UID = 65535
INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"
POD_TIMEOUT = 180

Wait = Callable[..., Any]


def restricted_pod_spec(
    image: str,
    command: list[str] | None,
    uid: int,
    restart_policy: str = "Never",
    **spec: Any,
) -> client.V1PodSpec:
    container = client.V1Container(
        name="main",
        image=image,
        image_pull_policy="IfNotPresent",
        command=command,
        resources=client.V1ResourceRequirements(requests={"cpu": "10m", "memory": "32Mi"}),
        security_context=client.V1SecurityContext(
            allow_privilege_escalation=False,
            capabilities=client.V1Capabilities(drop=["ALL"]),
            run_as_non_root=True,
            run_as_user=uid,
            seccomp_profile=client.V1SeccompProfile(type="RuntimeDefault"),
        ),
    )
    return client.V1PodSpec(
        containers=[container],
        restart_policy=restart_policy,
        termination_grace_period_seconds=0,
        security_context=client.V1PodSecurityContext(
            run_as_non_root=True, seccomp_profile=client.V1SeccompProfile(type="RuntimeDefault")
        ),
        **spec,
    )


def pod_log(core_v1: client.CoreV1Api, namespace: str, name: str, tail_lines: int | None = None) -> str:
    # Raw bytes: the client's deserialised log can come back as the repr of a bytes object.
    response = core_v1.read_namespaced_pod_log(name, namespace, tail_lines=tail_lines, _preload_content=False)
    return str(response.data.decode(errors="replace"))


def pod_phase(core_v1: client.CoreV1Api, namespace: str, name: str) -> str:
    return str(core_v1.read_namespaced_pod(name, namespace).status.phase)


def wait_for_phase(wait_until: Wait, core_v1: client.CoreV1Api, namespace: str, name: str, wanted: str) -> None:
    def reached() -> bool:
        phase = pod_phase(core_v1, namespace, name)
        if phase == "Failed" or (phase == "Succeeded" and wanted != "Succeeded"):
            logs = pod_log(core_v1, namespace, name, tail_lines=30)
            pytest.fail(f"pod {name} ended {phase}; its log:\n{logs}", pytrace=False)
        return phase == wanted

    wait_until(f"pod {namespace}/{name} {wanted}", reached, timeout=POD_TIMEOUT)


def ready_nodes(core_v1: client.CoreV1Api) -> list[client.V1Node]:
    return [
        node
        for node in core_v1.list_node().items
        if any(c.type == "Ready" and c.status == "True" for c in node.status.conditions or [])
    ]


def test_node_is_ready(core_v1: client.CoreV1Api, local_cluster: bool, wait_until: Wait) -> None:
    wait_until("a Ready node", lambda: ready_nodes(core_v1), timeout=60)
    if local_cluster:
        # Two nodes of two node types: queues are mapped to them by the instance-type label.
        wait_until("both local nodes Ready", lambda: len(ready_nodes(core_v1)) == 2, timeout=60)
        types = {n.metadata.name: n.metadata.labels.get(INSTANCE_TYPE_LABEL) for n in ready_nodes(core_v1)}
        assert types == {"airflow-k8s-node": "local.standard", "airflow-k8s-node-2": "local.large"}


SERVER = """
import http.server, os
TOKEN = os.environ["TOKEN"].encode()
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(TOKEN)
http.server.ThreadingHTTPServer(("", 8080), Handler).serve_forever()
"""

CLIENT = """
import sys, time, urllib.request
token, names = sys.argv[1], sys.argv[2:]
for name in names:
    deadline, last = time.monotonic() + 60, None
    while time.monotonic() < deadline:
        try:
            body = urllib.request.urlopen(f"http://{name}/", timeout=5).read().decode()
            break
        except OSError as error:
            last = error
            time.sleep(1)
    else:
        sys.exit(f"{name}: no answer within 60s: {last}")
    if body != token:
        sys.exit(f"{name}: answered {body!r}, expected {token!r}")
    print(f"{name}: ok")
"""


def test_service_is_reached_by_dns_name_from_another_pod(
    core_v1: client.CoreV1Api, e2e_namespace: str, wait_until: Wait
) -> None:
    namespace, token = e2e_namespace, uuid.uuid4().hex
    server_spec = restricted_pod_spec(AIRFLOW_IMAGE, ["python", "-c", SERVER], AIRFLOW_UID, "Always")
    server_spec.containers[0].env = [client.V1EnvVar(name="TOKEN", value=token)]
    server_spec.containers[0].readiness_probe = client.V1Probe(
        tcp_socket=client.V1TCPSocketAction(port=8080), period_seconds=1
    )
    core_v1.create_namespaced_pod(
        namespace, client.V1Pod(metadata=client.V1ObjectMeta(name="echo", labels={"app": "echo"}), spec=server_spec)
    )
    core_v1.create_namespaced_service(
        namespace,
        client.V1Service(
            metadata=client.V1ObjectMeta(name="echo"),
            spec=client.V1ServiceSpec(
                selector={"app": "echo"}, ports=[client.V1ServicePort(port=80, target_port=8080)]
            ),
        ),
    )
    # The short name goes through the pod's search path; the others are the namespaced and full forms.
    names = ["echo", f"echo.{namespace}", f"echo.{namespace}.svc.cluster.local"]
    client_spec = restricted_pod_spec(AIRFLOW_IMAGE, ["python", "-c", CLIENT, token, *names], AIRFLOW_UID)
    caller = client.V1Pod(metadata=client.V1ObjectMeta(name="caller"), spec=client_spec)
    core_v1.create_namespaced_pod(namespace, caller)

    wait_for_phase(wait_until, core_v1, namespace, "caller", "Succeeded")
    log = pod_log(core_v1, namespace, "caller")
    assert log.split() == [word for name in names for word in (f"{name}:", "ok")]


def failed_scheduling_events(core_v1: client.CoreV1Api, namespace: str, pod: str) -> list[client.CoreV1Event]:
    events = core_v1.list_namespaced_event(namespace, field_selector=f"involvedObject.name={pod}").items
    return [event for event in events if event.reason == "FailedScheduling"]


def test_unmatched_node_selector_stays_pending_while_a_matching_pod_runs(
    core_v1: client.CoreV1Api, e2e_namespace: str, wait_until: Wait
) -> None:
    namespace = e2e_namespace
    node = ready_nodes(core_v1)[0]
    label = INSTANCE_TYPE_LABEL if INSTANCE_TYPE_LABEL in node.metadata.labels else "kubernetes.io/hostname"
    selectors = {
        "matching": {label: node.metadata.labels[label]},
        "unmatched": {INSTANCE_TYPE_LABEL: f"no-such-type-{uuid.uuid4().hex[:6]}"},
    }
    for name, selector in selectors.items():
        spec = restricted_pod_spec(PAUSE_IMAGE, None, PAUSE_UID, "Always", node_selector=selector)
        core_v1.create_namespaced_pod(namespace, client.V1Pod(metadata=client.V1ObjectMeta(name=name), spec=spec))

    wait_for_phase(wait_until, core_v1, namespace, "matching", "Running")
    events = wait_until(
        "a FailedScheduling event for the unmatched pod",
        lambda: failed_scheduling_events(core_v1, namespace, "unmatched"),
        timeout=60,
    )
    assert "node affinity/selector" in (events[0].message or "")
    unmatched = core_v1.read_namespaced_pod("unmatched", namespace)
    assert unmatched.status.phase == "Pending"
    assert not unmatched.spec.node_name


def test_job_completes(batch_v1: client.BatchV1Api, e2e_namespace: str, wait_until: Wait) -> None:
    pod_spec = restricted_pod_spec(AIRFLOW_IMAGE, ["python", "-c", "print('job ran')"], AIRFLOW_UID)
    job = client.V1Job(
        metadata=client.V1ObjectMeta(name="complete-me"),
        spec=client.V1JobSpec(
            backoff_limit=0,
            ttl_seconds_after_finished=300,
            template=client.V1PodTemplateSpec(spec=pod_spec),
        ),
    )
    batch_v1.create_namespaced_job(e2e_namespace, job)

    def finished() -> str | None:
        status = batch_v1.read_namespaced_job_status("complete-me", e2e_namespace).status
        done = [c.type for c in status.conditions or [] if c.type in ("Complete", "Failed") and c.status == "True"]
        return done[0] if done else None

    assert wait_until("Job complete-me to finish", finished, timeout=POD_TIMEOUT) == "Complete"


# Asks the pod's nameserver (from resolv.conf) one A or PTR question per argument and prints the
# response code and answer count: getaddrinfo would hide NXDOMAIN, REFUSED and timeouts alike.
DNS_PROBE = r"""
import random, socket, struct, sys
server = next(l.split()[1] for l in open("/etc/resolv.conf") if l.startswith("nameserver"))
for question in sys.argv[1:]:
    qtype, name = question.split(":", 1)
    ident = random.randrange(65536)
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.strip(".").split("."))
    query = struct.pack(">HHHHHH", ident, 0x0100, 1, 0, 0, 0) + labels + b"\0" + struct.pack(">HH", int(qtype), 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        sock.sendto(query, (server, 53))
        reply = sock.recv(4096)
    flags, _, answers = struct.unpack(">HHH", reply[2:8])
    print(name, flags & 0xF, answers)
"""
RCODES = {"NOERROR": 0, "NXDOMAIN": 3, "REFUSED": 5}


def test_dns_answers_cluster_names_only(
    core_v1: client.CoreV1Api, e2e_namespace: str, local_cluster: bool, wait_until: Wait
) -> None:
    """Kubernetes DNS records resolve and unknown cluster names are NXDOMAIN; on the local cluster, with no
    outside network to forward to, names outside the cluster's zones are REFUSED (at once, not a timeout)."""
    service_ip = core_v1.read_namespaced_service("kubernetes", "default").spec.cluster_ip
    cases = {
        ("1", "kubernetes.default.svc.cluster.local"): ("NOERROR", 1),
        ("1", f"no-such-service.{e2e_namespace}.svc.cluster.local"): ("NXDOMAIN", 0),
        # PTR of the kubernetes Service's ClusterIP.
        ("12", ".".join(reversed(service_ip.split("."))) + ".in-addr.arpa"): ("NOERROR", 1),
    }
    if local_cluster:
        cases[("1", "example.com")] = ("REFUSED", 0)
    questions = [f"{qtype}:{name}" for qtype, name in cases]
    spec = restricted_pod_spec(AIRFLOW_IMAGE, ["python", "-c", DNS_PROBE, *questions], AIRFLOW_UID)
    core_v1.create_namespaced_pod(e2e_namespace, client.V1Pod(metadata=client.V1ObjectMeta(name="dns-probe"),
                                                              spec=spec))
    wait_for_phase(wait_until, core_v1, e2e_namespace, "dns-probe", "Succeeded")
    answers = {line.split()[0]: line.split()[1:] for line in pod_log(core_v1, e2e_namespace, "dns-probe").splitlines()}
    for (_, name), (rcode, count) in cases.items():
        assert answers.get(name) == [str(RCODES[rcode]), str(count)], f"{name}: {answers.get(name)}"


def test_default_storage_class_provisions_a_node_local_volume(
    core_v1: client.CoreV1Api, e2e_namespace: str, local_cluster: bool, wait_until: Wait
) -> None:
    """A PVC with no class gets the default one; on the local cluster that is local-path, a directory on
    the node the first pod using it runs on (the PV is pinned there by node affinity)."""
    claim = client.V1PersistentVolumeClaim(
        metadata=client.V1ObjectMeta(name="data"),
        spec=client.V1PersistentVolumeClaimSpec(
            access_modes=["ReadWriteOnce"], resources=client.V1VolumeResourceRequirements(requests={"storage": "1Mi"})
        ),
    )
    core_v1.create_namespaced_persistent_volume_claim(e2e_namespace, claim)
    write = "open('/data/probe', 'w').write('kept'); print(open('/data/probe').read())"
    spec = restricted_pod_spec(AIRFLOW_IMAGE, ["python", "-c", write], AIRFLOW_UID)
    spec.containers[0].volume_mounts = [client.V1VolumeMount(name="data", mount_path="/data")]
    spec.volumes = [client.V1Volume(name="data", persistent_volume_claim=client.V1PersistentVolumeClaimVolumeSource(
        claim_name="data"))]
    core_v1.create_namespaced_pod(e2e_namespace, client.V1Pod(metadata=client.V1ObjectMeta(name="writer"), spec=spec))
    wait_for_phase(wait_until, core_v1, e2e_namespace, "writer", "Succeeded")
    assert pod_log(core_v1, e2e_namespace, "writer").strip() == "kept"
    bound = core_v1.read_namespaced_persistent_volume_claim("data", e2e_namespace)
    assert bound.status.phase == "Bound"
    if local_cluster:
        assert bound.spec.storage_class_name == "local-path"
        volume = core_v1.read_persistent_volume(bound.spec.volume_name)
        terms = volume.spec.node_affinity.required.node_selector_terms
        node = core_v1.read_namespaced_pod("writer", e2e_namespace).spec.node_name
        assert [e.values for t in terms for e in t.match_expressions] == [[node]]


def test_shared_class_is_read_write_many_across_nodes(
    core_v1: client.CoreV1Api, e2e_namespace: str, local_cluster: bool, wait_until: Wait
) -> None:
    """`local-path-shared` (the local cluster's class for logs.persistence): what a pod on one node writes,
    a pod on the other reads."""
    if not local_cluster:
        pytest.skip("local-path-shared is the local cluster's class")
    claim = client.V1PersistentVolumeClaim(
        metadata=client.V1ObjectMeta(name="shared"),
        spec=client.V1PersistentVolumeClaimSpec(
            access_modes=["ReadWriteMany"], storage_class_name="local-path-shared",
            resources=client.V1VolumeResourceRequirements(requests={"storage": "1Mi"}),
        ),
    )
    core_v1.create_namespaced_persistent_volume_claim(e2e_namespace, claim)
    nodes = sorted(node.metadata.name for node in ready_nodes(core_v1))
    assert len(nodes) >= 2
    steps = {"write": "open('/data/probe', 'w').write('shared')", "read": "print(open('/data/probe').read())"}
    for (name, code), node in zip(steps.items(), nodes[:2], strict=True):
        spec = restricted_pod_spec(AIRFLOW_IMAGE, ["python", "-c", code], AIRFLOW_UID, node_name=node)
        spec.containers[0].volume_mounts = [client.V1VolumeMount(name="data", mount_path="/data")]
        spec.volumes = [client.V1Volume(name="data", persistent_volume_claim=client.V1PersistentVolumeClaimVolumeSource(
            claim_name="shared"))]
        core_v1.create_namespaced_pod(e2e_namespace, client.V1Pod(metadata=client.V1ObjectMeta(name=name), spec=spec))
        wait_for_phase(wait_until, core_v1, e2e_namespace, name, "Succeeded")
    assert pod_log(core_v1, e2e_namespace, "read").strip() == "shared"

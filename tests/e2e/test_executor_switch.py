"""Executor switches with `helm upgrade` on the real cluster, with work in flight, and nothing lost or run twice.

One release for the module (tests/e2e/switch_harness.py); the tests run in file order and build on each other:

1. Celery -> Kubernetes (Helm 4): Celery workers on 3 queues run some tasks while many more wait on the broker;
   the upgrade drains the workers, hands the queued ones to the scheduler and they run as task pods.
2. Kubernetes -> Celery: task pods running and Pending (a node type no node has); the Pending ones are handed
   back and run on Celery workers.
3. `executorSwitch.onTimeout=fail`: a drain that times out fails the upgrade; the release stays on Celery.
4. Celery -> Kubernetes once more with Helm 3 (three-way merge instead of server-side apply), the scheduler pod
   force-deleted (grace period 0) when the drain starts and again once the drain has scaled it to 0.

Hook pods deleted at each step boundary, keep-old-executor and uninstall: tests/e2e/test_executor_switch_faults.py.
"""

from __future__ import annotations

import json

import pytest
from kubernetes import client
from switch_harness import (
    CELERY_HANDOVER,
    DAG,
    HELM3,
    KUBERNETES_HANDOVER,
    NAMESPACE,
    QUEUES,
    RELEASE,
    RUNS,
    TASK_POD_SELECTOR,
    UNPLACEABLE_DAG,
    HookLogs,
    Release,
    SchedulerPodKiller,
    SchedulerReplicas,
    TaskPodWatcher,
    apps_v1,
    assert_each_ran_once,
    assert_ran_in_their_queue_pods,
    assert_ran_on_their_queue_workers,
    celery_worker_nodes,
    component_pods,
    helm,
    kubectl_json,
    live_executors,
    print_measures,
    print_snapshot,
    redis_depths,
    release,
    sleep_seconds,
    state_counts,
    switch_values,
    trigger_runs,
    upgrade,
    utcnow,
    wait_all_succeeded,
    wait_celery_gone,
    wait_celery_in_flight,
    wait_for,
    wait_kubernetes_in_flight,
    wait_scheduler_back,
)

pytestmark = pytest.mark.e2e
__all__ = ["apps_v1", "release"]  # module fixtures, used by name


def test_celery_to_kubernetes_with_work_in_flight(release: Release, core_v1: client.CoreV1Api,
                                                  apps_v1: client.AppsV1Api) -> None:
    db = release.db
    runs = trigger_runs(release.api, DAG, [sleep_seconds(i) for i in range(RUNS)])
    snapshot = wait_celery_in_flight(db, runs)
    print_snapshot("at the switch", snapshot)
    workers = celery_worker_nodes()
    queued_at_switch = {(t.dag_id, t.run_id, t.task_id) for t in snapshot if t.state == "queued"}
    with TaskPodWatcher(core_v1) as pods, HookLogs(core_v1) as hooks, SchedulerReplicas(apps_v1) as replicas:
        started = utcnow()
        took = upgrade(switch_values("KubernetesExecutor"))
        assert live_executors() == "KubernetesExecutor"
        wait_scheduler_back()
        wait_celery_gone()
        wait_all_succeeded(db, runs, timeout=600)
    starts = assert_each_ran_once(db, runs)
    on_celery = [s for s in starts.values() if s.executed_by == "celery"]
    in_pods = [s for s in starts.values() if s.executed_by == "pod"]
    print(f"ran on Celery: {len(on_celery)}, in task pods: {len(in_pods)}; queued at the switch: "
          f"{len(queued_at_switch)} (picked up by Celery before its consumers were cancelled: "
          f"{len([s for s in on_celery if (s.dag_id, s.run_id, s.task_id) in queued_at_switch])})")
    assert in_pods, "no queued task ran as a task pod"
    assert_ran_on_their_queue_workers(on_celery, workers)
    assert {(s.dag_id, s.run_id, s.task_id) for s in in_pods} <= queued_at_switch
    assert_ran_in_their_queue_pods(in_pods, pods.pods)
    assert any("verified: queues" in ln.text for ln in hooks.of("drain")), "the drain did not verify the broker"
    longest = max((t.end_date for t in db.tis(runs) if starts[(t.dag_id, t.run_id, t.task_id)].executed_by
                   == "celery" and t.end_date), default=None)
    print(f"[measure] Celery -> Kubernetes: scheduler replicas restored by {replicas.restored_by(hooks, started)}")
    print_measures("Celery -> Kubernetes", started, took, hooks, CELERY_HANDOVER, longest, pods.first_running(),
                   "task pod Running")


def test_kubernetes_to_celery_with_pods_running_and_pending(release: Release, core_v1: client.CoreV1Api,
                                                            apps_v1: client.AppsV1Api) -> None:
    db = release.db
    with TaskPodWatcher(core_v1) as pods, HookLogs(core_v1) as hooks, SchedulerReplicas(apps_v1) as replicas:
        runs = trigger_runs(release.api, DAG, [45, 60])
        pending = trigger_runs(release.api, UNPLACEABLE_DAG, [5, 10])
        wait_kubernetes_in_flight(db, runs, pending, pods)
        print_snapshot("at the switch", db.tis(runs + pending))
        started = utcnow()
        took = upgrade(switch_values("CeleryExecutor"))
        assert live_executors() == "CeleryExecutor"
        wait_scheduler_back()
        wait_all_succeeded(db, runs + pending, timeout=600)
        workers = celery_worker_nodes()
    starts = assert_each_ran_once(db, runs + pending)
    for s in starts.values():
        assert s.executed_by == ("celery" if s.dag_id == UNPLACEABLE_DAG else "pod"), s
    assert_ran_on_their_queue_workers([s for s in starts.values() if s.executed_by == "celery"], workers)
    assert_ran_in_their_queue_pods([s for s in starts.values() if s.dag_id == DAG], pods.pods)
    left = kubectl_json("-n", NAMESPACE, "get", "pods", "-l", TASK_POD_SELECTOR)["items"]
    assert [p["metadata"]["name"] for p in left if p["status"]["phase"] not in ("Succeeded", "Failed")] == []
    # A Celery worker acks (acks_late) just after its task reported success: give it a moment.
    empty = {**dict.fromkeys(QUEUES, 0), "unacked": 0}
    wait_for("the broker to be empty", lambda: redis_depths() == empty, timeout=60, show=lambda: str(redis_depths()))
    longest = max((t.end_date for t in db.tis(runs) if t.end_date), default=None)
    first_celery = min((s.started_at for s in starts.values() if s.executed_by == "celery"), default=None)
    print(f"[measure] Kubernetes -> Celery: scheduler replicas restored by {replicas.restored_by(hooks, started)}")
    print_measures("Kubernetes -> Celery", started, took, hooks, KUBERNETES_HANDOVER, longest, first_celery,
                   "task started on Celery")


def test_drain_timeout_fails_the_upgrade_and_keeps_celery(release: Release, core_v1: client.CoreV1Api) -> None:
    db = release.db
    # One run of long tasks keeps every queue busy past the short drain timeout; the second run's `reports`
    # task waits on the broker (2 slots) and must still run once, on Celery.
    runs = trigger_runs(release.api, DAG, [80, 80, 20])
    wait_for("every queue busy", lambda: state_counts(db.tis(runs)).get("running", 0) >= 6, timeout=300,
             show=lambda: str(state_counts(db.tis(runs))))
    with HookLogs(core_v1) as hooks, pytest.raises(RuntimeError) as failed:
        upgrade(switch_values("KubernetesExecutor", drainTimeout=20, onTimeout="fail"))
    print(f"helm upgrade failed as expected: {str(failed.value).strip().splitlines()[-1]}")
    assert any("timed out" in ln.text or "outlived" in ln.text for ln in hooks.of("drain"))
    assert live_executors() == "CeleryExecutor"
    assert len(component_pods("celery-worker")) == len(QUEUES) and component_pods("redis")
    wait_scheduler_back()
    wait_all_succeeded(db, runs, timeout=600)
    starts = assert_each_ran_once(db, runs)
    assert {s.executed_by for s in starts.values()} == {"celery"}
    status = json.loads(helm("status", RELEASE, "--namespace", NAMESPACE, "-o", "json").stdout)
    print(f"release status after the failed upgrade: {status['info']['status']}")


def test_celery_to_kubernetes_with_helm3_and_the_scheduler_pod_deleted(release: Release, core_v1: client.CoreV1Api,
                                                                       apps_v1: client.AppsV1Api) -> None:
    db = release.db
    runs = trigger_runs(release.api, DAG, [60, 70, 60, 65])
    snapshot = wait_celery_in_flight(db, runs)
    print_snapshot("at the switch", snapshot)
    killer = SchedulerPodKiller(core_v1)
    with TaskPodWatcher(core_v1) as pods, HookLogs(core_v1, [killer]) as hooks, \
            SchedulerReplicas(apps_v1) as replicas:
        started = utcnow()
        took = upgrade(switch_values("KubernetesExecutor"), helm_binary=HELM3)
        assert live_executors() == "KubernetesExecutor"
        wait_scheduler_back()
        wait_celery_gone()
        wait_all_succeeded(db, runs, timeout=600)
    print(f"[fault] scheduler pods force-deleted: {killer.deleted}")
    assert {when for when, _ in killer.deleted} == {"drain started", "scheduler scaled to 0"}
    starts = assert_each_ran_once(db, runs)
    in_pods = [s for s in starts.values() if s.executed_by == "pod"]
    assert in_pods
    assert_ran_in_their_queue_pods(in_pods, pods.pods)
    print(f"[measure] Celery -> Kubernetes (Helm 3): scheduler replicas restored by "
          f"{replicas.restored_by(hooks, started)}")
    print_measures("Celery -> Kubernetes (Helm 3)", started, took, hooks, CELERY_HANDOVER, None, pods.first_running(),
                   "task pod Running")

"""Executor switches under faults, the keep-old-executor path and uninstall, on the real cluster.

One release for the module (tests/e2e/switch_harness.py; run after tests/e2e/test_executor_switch.py, never at
the same time); the tests run in file order and build on each other:

1. Celery -> Kubernetes with the hook pods deleted at each step boundary: preflight as it starts (plain DELETE),
   the drain when the scheduler is at 0 (eviction), when the consumers are cancelled (plain DELETE), while it
   waits for running tasks (eviction) and when the hand-over starts (eviction), migrate-settings as it starts
   (eviction). Each Job starts another pod, which resumes; the accounting is that of a switch without faults.
2. `executorSwitch.onTimeout=keep-old-executor`: tasks longer than the drain deadline finish on Celery while new
   tasks run as pods; a later upgrade removes Celery.
3. Uninstall leaves no task pod, hook Job, claim or hook state behind.

The keep-old-executor test starts by going back to Celery (nothing in flight). The scheduler pod deleted mid-drain
is the Helm 3 scenario of tests/e2e/test_executor_switch.py.
"""

from __future__ import annotations

import subprocess

import pytest
from kubernetes import client
from switch_harness import (
    DAG,
    FULL,
    HELM,
    KUBECTL,
    NAMESPACE,
    QUEUES,
    RELEASE,
    STARTED,
    TASK_POD_SELECTOR,
    Boundary,
    HookLogs,
    HookPodKiller,
    MetadataDb,
    Release,
    Run,
    Start,
    TaskPodWatcher,
    apps_v1,
    assert_each_ran_once,
    assert_ran_in_their_queue_pods,
    component_pods,
    kubectl_json,
    live_executors,
    print_snapshot,
    release,
    switch_values,
    trigger_runs,
    upgrade,
    wait_all_succeeded,
    wait_celery_gone,
    wait_celery_in_flight,
    wait_for,
    wait_scheduler_back,
)

pytestmark = pytest.mark.e2e
__all__ = ["apps_v1", "release"]  # module fixtures, used by name

# Where the hook pods die, in order. The drain's boundaries come one per pod: each replacement re-runs the steps
# before (each checked against the DB, broker and cluster first) and dies at the next one.
BOUNDARIES = (
    Boundary("preflight", STARTED, "delete"),
    Boundary("drain", r"scaled \S+ from \d+ to 0", "evict"),
    Boundary("drain", r"cancelled \d+ consumers", "delete"),
    Boundary("drain", r"waiting for running and prefetched", "evict"),
    Boundary("drain", r"Celery tasks: none left after", "evict"),  # the hand-over starts
    Boundary("settings", STARTED, "evict"),
)
# The first runs keep every Celery slot busy past the drain's restarts; the rest waits on the broker.
LONG_SECONDS, SHORT_SECONDS = 150, 20
# Longer than the drain deadline plus the upgrade, so new task pods start while the old executor still works.
KEEP_OLD_LONG_SECONDS = 240


def long_then_short(long_runs: int, short_runs: int) -> list[int]:
    return [LONG_SECONDS] * long_runs + [SHORT_SECONDS] * short_runs


def switch_to_celery_idle() -> None:
    """Back to Celery with nothing in flight: the start of the next Celery -> Kubernetes scenario."""
    upgrade(switch_values("CeleryExecutor"))
    assert live_executors() == "CeleryExecutor"
    wait_scheduler_back()
    wait_for("a Celery worker per queue", lambda: len(component_pods("celery-worker")) == len(QUEUES), timeout=300,
             show=lambda: str(component_pods("celery-worker")))


def assert_queued_ran_as_pods(db: MetadataDb, runs: list[Run], queued_at_switch: set[tuple[str, str, str]],
                              seen: TaskPodWatcher) -> dict[tuple[str, str, str], Start]:
    """The accounting of a Celery -> Kubernetes switch: each TI once, try 1; what ran in a pod was queued at
    the switch and ran in its queue's pod on its node type."""
    starts = assert_each_ran_once(db, runs)
    in_pods = [s for s in starts.values() if s.executed_by == "pod"]
    assert in_pods, "no queued task ran as a task pod"
    assert {(s.dag_id, s.run_id, s.task_id) for s in in_pods} <= queued_at_switch
    assert_ran_in_their_queue_pods(in_pods, seen.pods)
    return starts


def test_hook_pods_deleted_at_each_boundary(release: Release, core_v1: client.CoreV1Api) -> None:
    db = release.db
    runs = trigger_runs(release.api, DAG, long_then_short(3, 6))
    snapshot = wait_celery_in_flight(db, runs)
    print_snapshot("at the switch", snapshot)
    queued_at_switch = {(t.dag_id, t.run_id, t.task_id) for t in snapshot if t.state == "queued"}
    killer = HookPodKiller(core_v1, BOUNDARIES)
    with TaskPodWatcher(core_v1) as pods, HookLogs(core_v1, [killer]) as hooks:
        took = upgrade(switch_values("KubernetesExecutor"))
        assert live_executors() == "KubernetesExecutor"
        wait_scheduler_back()
        wait_celery_gone()
        wait_all_succeeded(db, runs, timeout=900)
    for kill in killer.kills:
        print(f"[fault] {kill.boundary.step}: {kill.boundary.how} of {kill.pod} at {kill.boundary.pattern!r}")
    print(f"hook pods per Job: { {step: len(names) for step, names in hooks.pods.items()} }; upgrade {took:.0f} s")
    assert killer.pending == [], f"boundaries never reached: {killer.pending}"
    # Every deleted pod was replaced: the drain ran in one pod more than it lost (unless the last deletion came
    # after that pod had already succeeded).
    drain_kills = sum(1 for k in killer.kills if k.boundary.step == "drain")
    assert len(hooks.pods.get("drain", [])) >= drain_kills
    assert any("verified: queues" in ln.text for ln in hooks.of("drain")), "the drain did not verify the broker"
    assert_queued_ran_as_pods(db, runs, queued_at_switch, pods)


def test_keep_old_executor_finishes_long_tasks_on_celery(release: Release, core_v1: client.CoreV1Api) -> None:
    switch_to_celery_idle()
    db = release.db
    long_runs = trigger_runs(release.api, DAG, [KEEP_OLD_LONG_SECONDS])
    backlog = trigger_runs(release.api, DAG, [SHORT_SECONDS] * 4)
    snapshot = wait_celery_in_flight(db, long_runs + backlog)
    print_snapshot("at the switch", snapshot)
    long_keys = {(t.dag_id, t.run_id, t.task_id) for t in snapshot if (t.dag_id, t.run_id) in long_runs}
    with TaskPodWatcher(core_v1) as pods, HookLogs(core_v1) as hooks:
        upgrade(switch_values("KubernetesExecutor", drainTimeout=30, onTimeout="keep-old-executor"))
        # Celery stays as a secondary executor: its workers and broker too. The workers' config changed, so
        # new worker pods roll out while the old ones finish their tasks (warm shutdown): count queues.
        assert live_executors() == "KubernetesExecutor,CeleryExecutor"
        workers = component_pods("celery-worker")
        assert all(any(p.startswith(f"{FULL}-worker-{q}-") for p in workers) for q in QUEUES), workers
        assert component_pods("redis")
        wait_scheduler_back()
        fresh = trigger_runs(release.api, DAG, [SHORT_SECONDS] * 2)
        every = long_runs + backlog + fresh
        wait_all_succeeded(db, every, timeout=900)
    assert any("stays configured as a secondary executor" in ln.text for ln in hooks.of("drain"))
    starts = assert_each_ran_once(db, every)
    ran_on = {key: s.executed_by for key, s in starts.items()}
    assert {ran_on[k] for k in long_keys} == {"celery"}, "a long task did not finish where it started"
    assert {ran_on[(d, r, t)] for (d, r, t) in ran_on if (d, r) in fresh} == {"pod"}
    assert_ran_in_their_queue_pods([s for s in starts.values() if s.executed_by == "pod"], pods.pods)
    long_end = max(t.end_date for t in db.tis(long_runs) if t.end_date)
    first_fresh_pod = min(s.started_at for s in starts.values() if (s.dag_id, s.run_id) in fresh)
    assert first_fresh_pod < long_end, "new tasks should run as pods while the old executor finishes"
    print(f"[measure] keep-old-executor: a new task pod started {(long_end - first_fresh_pod).total_seconds():.0f} s "
          "before the last long task ended on Celery")
    # Nothing left in flight on Celery: an upgrade with the default onTimeout removes it.
    upgrade(switch_values("KubernetesExecutor"))
    assert live_executors() == "KubernetesExecutor"
    wait_celery_gone()
    wait_scheduler_back()


def test_uninstall_leaves_nothing_behind(release: Release, core_v1: client.CoreV1Api) -> None:
    runs = trigger_runs(release.api, DAG, [LONG_SECONDS])
    wait_for("a running task pod", lambda: [p for p in core_v1.list_namespaced_pod(
        NAMESPACE, label_selector=TASK_POD_SELECTOR).items if p.status.phase == "Running"], timeout=300)
    print(f"uninstalling with {len(runs) * len(QUEUES)} task instances running in pods")
    subprocess.run([HELM, "uninstall", RELEASE, "--namespace", NAMESPACE, "--wait", "--timeout", "5m"], check=True)

    def left() -> dict[str, list[str]]:
        kinds = {"task pods": ("pods", "-l", TASK_POD_SELECTOR), "pods": ("pods",), "jobs": ("jobs",),
                 "claims": ("persistentvolumeclaims",), "configmaps": ("configmaps",), "secrets": ("secrets",)}
        found = {what: [i["metadata"]["name"] for i in kubectl_json("-n", NAMESPACE, "get", *args)["items"]]
                 for what, args in kinds.items()}
        found["configmaps"] = [n for n in found["configmaps"] if n != "kube-root-ca.crt"]  # the namespace's own
        return {what: names for what, names in found.items() if names}

    wait_for("the release's objects to be gone", lambda: not left(), timeout=180, show=lambda: str(left()))
    print(f"after uninstall: nothing of {FULL} left in {NAMESPACE}")
    subprocess.run([KUBECTL, "get", "all", "-n", NAMESPACE], check=False)

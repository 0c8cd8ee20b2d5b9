"""Kubernetes -> Celery against the real metadata DB, with task pods served by the fake Kubernetes API.

No cluster runs here, so the "KubernetesExecutor" in-flight state is staged: TIs queued by a real
scheduler (no workers consume them), then given task pods as the KubernetesExecutor would have created
(``task_instance_id`` annotation and labels). Two TIs are RUNNING on pods that "finish" a few seconds
into the drain; one Pending pod belongs to a TI already handed back (a run killed between CAS and delete).
"""

from __future__ import annotations

import threading
import time

import pytest
import redis
import stack
from stack import NS, SCHEDULER, STATE_CM, Scenario

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]
LABELS = {"kubernetes_executor": "True", "dag_id": "handover_probe"}


@pytest.fixture
def k8s_scenario(airflow_session: stack.Session, scenario_dir):  # type: ignore[no-untyped-def]
    sc = stack.new_scenario(airflow_session, scenario_dir, workers=False)
    try:
        yield sc
    finally:
        sc.close()


def _pods(sc: Scenario) -> dict[str, str]:
    assert sc.kube is not None
    return {name: o["status"]["phase"] for (kind, _, name), o in sc.kube.objects.items() if kind == "pods"}


def test_drain_kubernetes_to_celery(k8s_scenario: Scenario) -> None:
    sc = k8s_scenario
    sc.trigger()
    sc.wait("every TI queued", lambda: sc.states().get("queued", 0) >= 19, 120)
    sc.scale(SCHEDULER, 0)
    assert sc.kube is not None
    sc.kube.deployments[(NS, SCHEDULER)] = 0
    redis.Redis(port=sc.s.redis.port).flushall()  # these TIs "were never on a broker"
    tis = sc.sql("select id::text, task_id, try_number from task_instance where run_id=%s order by task_id",
                 sc.run_id)
    running, queued = tis[:2], tis[2:]
    sc.sql("update task_instance set state='running' where id = any(%s::uuid[])", [t[0] for t in running])
    for ti_id, task_id, try_number in tis:
        phase = "Running" if (ti_id, task_id, try_number) in running else "Pending"
        sc.kube.add_pod(NS, f"pod-{task_id}", phase, {**LABELS, "task_id": task_id, "try_number": str(try_number)},
                        {"task_instance_id": ti_id, "dag_id": "handover_probe", "task_id": task_id})
    sc.sql("update task_instance set state='scheduled' where id=%s", queued[0][0])  # already handed back
    # A keep-old-executor tag from an earlier upgrade: handed back to the new default, tag cleared.
    sc.sql("update task_instance set executor='KubernetesExecutor' where id=%s", queued[1][0])
    sc.kube.add_pod(NS, "pod-unrelated", "Pending", {"app": "other"}, {})

    def pods_finish() -> None:  # what the two running task pods would report through the api-server
        time.sleep(3)
        sc.sql("update task_instance set state='success' where id = any(%s::uuid[])", [t[0] for t in running])
        for _, task_id, _ in running:
            sc.kube.objects[("pods", NS, f"pod-{task_id}")]["status"]["phase"] = "Succeeded"  # type: ignore[index]

    finisher = threading.Thread(target=pods_finish)
    finisher.start()
    done = sc.hook("drain", "--namespace", NS, "--state-configmap", STATE_CM, "--scheduler-deployment", SCHEDULER,
                   "--from-executors", "KubernetesExecutor", "--to-executors", "CeleryExecutor", "--timeout", "60",
                   "--on-timeout", "fail", "--scheduler-stop-timeout", "30")
    finisher.join()
    assert done.returncode == 0, done.stderr
    assert f"{len(queued) - 1} queued task instances handed back" in done.stdout
    pods = _pods(sc)
    # Pending pods of handed-back TIs are gone (also the stale one), finished pods stay for migrate-settings.
    assert pods == {"pod-unrelated": "Pending", **{f"pod-{t[1]}": "Succeeded" for t in running}}
    states = sc.sql("select state, try_number, count(*) from task_instance where run_id=%s group by 1, 2",
                    sc.run_id)
    assert sorted(states) == [("scheduled", 1, len(queued)), ("success", 1, 2)]
    assert sc.sql("select executor from task_instance where id=%s", queued[1][0]) == [(None,)]
    # The Celery release takes over: every handed-back TI runs once, as try 1.
    sc.start_workers()
    assert sc.hook(*sc.migrate_args("CeleryExecutor"), "--cleanup-selector", "kubernetes_executor=True").returncode == 0
    assert set(_pods(sc)) == {"pod-unrelated"}
    sc.wait("the run to finish on Celery", lambda: sc.states() == {"success": len(tis)}, 240)
    starts = [r for r in sc.records() if r["event"] == "start"]
    assert sorted(r["task_id"] for r in starts) == sorted(t[1] for t in queued)
    assert {r["try_number"] for r in starts} == {1}
    assert sc.sql("select count(*) from task_instance_history where run_id=%s", sc.run_id)[0][0] == 0

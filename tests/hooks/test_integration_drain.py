"""Celery -> LocalExecutor (standing in for Kubernetes) with tasks in flight on three queues."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import stack
from stack import NS, QUEUES, SCHEDULER, STATE_CM, Scenario, wait_running_and_queued

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]
TASKS = len(QUEUES) * 6 + 1  # per queue: 2 running, 2 prefetched, 2 in the broker


@pytest.fixture
def slow_scenario(airflow_session: stack.Session, scenario_dir: Path) -> Iterator[Scenario]:
    """Tasks of 15 s: the broker still holds work on every queue when the drain starts, even on a loaded
    machine where the hook process takes 20-40 s to get there (the default 6 s tasks had all run by then)."""
    sc = stack.new_scenario(airflow_session, scenario_dir, HOOKS_TEST_SLEEP="15")
    try:
        yield sc
    finally:
        sc.close()


def _upgrade_and_finish(sc: Scenario) -> None:
    """What `helm upgrade` does after drain: workers and broker go, the new scheduler comes up."""
    sc.stop_workers()
    sc.release_executor = "LocalExecutor"
    assert sc.hook(*sc.migrate_args()).returncode == 0
    assert sc.kube is not None and sc.kube.deployments[(NS, SCHEDULER)] == 1
    sc.wait("the run to finish on the new executor", lambda: sc.states() == {"success": TASKS}, 180)
    sc.assert_each_ran_once(TASKS)


def test_drain_celery_to_local_runs_every_task_once(slow_scenario: Scenario) -> None:
    sc = slow_scenario
    sc.trigger()
    wait_running_and_queued(sc)
    assert sc.hook("preflight", "--to-executors", "LocalExecutor", "--to-queues", ",".join(QUEUES)).returncode == 0
    done = sc.hook(*sc.drain_args())
    assert done.returncode == 0, done.stderr
    handed_back = int(re.search(r"done: (\d+) task instances handed back", done.stdout).group(1))  # type: ignore[union-attr]
    assert handed_back >= len(QUEUES), "the scenario must leave messages in the broker on every queue"
    assert sc.kube is not None
    state = sc.kube.config_map(NS, STATE_CM)
    assert state is not None and state["schedulerReplicas"] == "1" and state["drainPhase"] == "done"
    assert sc.kube.deployments[(NS, SCHEDULER)] == 0
    # Nothing of Celery left in flight; the queued ones wait as SCHEDULED, same try.
    assert sc.states()["queued"] == 0 and sc.states()["running"] == 0
    _upgrade_and_finish(sc)
    state = sc.kube.config_map(NS, STATE_CM)
    assert state is not None and state["executors"] == "LocalExecutor"


def test_preflight_refuses_pinned_queue_and_plan_reports(scenario: Scenario) -> None:
    sc = scenario
    sc.trigger()
    wait_running_and_queued(sc)
    refused = sc.hook("preflight", "--to-executors", "LocalExecutor", "--to-queues", "q1,q2")
    assert refused.returncode == 3
    assert "handover_probe.q3_0: queue='q3' (DAG definition" in refused.stderr
    assert "add their queue under `workers.queues`" in refused.stderr
    pinned = sc.hook("preflight", "--to-executors", "fast:some.module.FastExecutor")
    assert pinned.returncode == 0  # no task names an executor: NULL follows the new default
    plan = sc.hook("plan", "--namespace", NS, "--state-configmap", STATE_CM, "--scheduler-deployment", SCHEDULER,
                   "--to-executors", "LocalExecutor", "--to-queues", "q1,q2,q3")
    assert plan.returncode == 0, plan.stderr
    assert "executors: CeleryExecutor -> LocalExecutor" in plan.stdout
    assert re.search(r"drain CeleryExecutor: stop schedulers, wait for \d+ running, hand \d+ queued back", plan.stdout)
    assert re.search(r"broker queue depths: .*q1=\d", plan.stdout)
    assert sc.kube is not None and sc.kube.deployments[(NS, SCHEDULER)] == 1  # plan changed nothing
    assert sc.kube.config_map(NS, STATE_CM) is None

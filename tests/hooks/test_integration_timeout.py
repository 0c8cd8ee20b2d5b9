"""A task longer than the drain deadline: ``fail`` puts everything back; ``keep-old-executor`` lets it
finish on Celery while the rest runs on the new executor."""

from __future__ import annotations

import pytest
import stack
from stack import NS, SCHEDULER, STATE_CM, Scenario, wait_running_and_queued
from test_integration_drain import TASKS

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]
LONG = "30"


@pytest.fixture
def long_scenario(airflow_session: stack.Session, scenario_dir):  # type: ignore[no-untyped-def]
    sc = stack.new_scenario(airflow_session, scenario_dir, HOOKS_TEST_LONG_SLEEP=LONG, HOOKS_TEST_SLEEP="10")
    try:
        yield sc
    finally:
        sc.close()


def _long_running_with_backlog(sc: Scenario) -> bool:
    long = sc.sql("select 1 from task_instance where run_id=%s and task_id='long' and state='running'", sc.run_id)
    return bool(long) and sum(sc.per_queue("queued").values()) >= 3


def test_timeout_fail_restores_everything(long_scenario: Scenario) -> None:
    sc = long_scenario
    sc.trigger()
    wait_running_and_queued(sc, per_queue_running=1)
    sc.wait("the long task to run, others queued", lambda: _long_running_with_backlog(sc))
    done = sc.hook(*sc.drain_args(timeout=4, on_timeout="fail"))
    assert done.returncode == 4, done.stderr
    assert "timed out" in done.stderr and "q1 (running)=" in done.stderr
    assert sc.kube is not None and sc.kube.deployments[(NS, SCHEDULER)] == 1 and len(sc.schedulers) == 1
    state = sc.kube.config_map(NS, STATE_CM)
    assert state is not None and state["drainPhase"] == "restored" and state["drainConsumers"] == ""
    # The old release goes on: consumers are back and Celery finishes everything, each once.
    sc.wait("the run to finish on Celery", lambda: sc.states() == {"success": TASKS}, 240)
    sc.assert_each_ran_once(TASKS)
    assert {r["executor"] for r in sc.records()} == {"CeleryExecutor"}


def test_timeout_keep_old_executor_finishes_long_task_on_celery(long_scenario: Scenario) -> None:
    sc = long_scenario
    sc.trigger()
    wait_running_and_queued(sc, per_queue_running=1)
    sc.wait("the long task to run, others queued", lambda: _long_running_with_backlog(sc))
    done = sc.hook(*sc.drain_args(timeout=4, on_timeout="keep-old-executor"))
    assert done.returncode == 0, done.stderr
    assert "stays configured as a secondary executor" in done.stdout
    assert sc.kube is not None
    state = sc.kube.config_map(NS, STATE_CM)
    assert state is not None and state["retiring"] == "CeleryExecutor" and state["drainPhase"] == "kept-old"
    tagged = sc.sql("select task_id from task_instance where run_id=%s and executor='CeleryExecutor'", sc.run_id)
    assert ("long",) in tagged
    # The new release serves both; Celery's workers and broker stay until a later upgrade.
    sc.release_executor = "LocalExecutor,CeleryExecutor"
    assert sc.hook(*sc.migrate_args("LocalExecutor,CeleryExecutor")).returncode == 0
    state = sc.kube.config_map(NS, STATE_CM)
    assert state is not None and state["retiring"] == "CeleryExecutor"
    sc.wait("the run to finish", lambda: sc.states() == {"success": TASKS}, 240)
    sc.assert_each_ran_once(TASKS)
    ran_on = {r["task_id"]: r["executor"] for r in sc.records() if r["event"] == "start"}
    assert ran_on["long"] == "CeleryExecutor"
    assert "LocalExecutor,CeleryExecutor" in set(ran_on.values()), "new work should run on the new executor"

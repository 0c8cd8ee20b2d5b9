"""Hooks given garbage: broken service settings, broker items that are not Airflow's, rows deleted while the
hand-over runs. Each ends in a clear message and the documented exit code, and nothing is lost.

The scenarios run without Celery workers: the scheduler queues every task instance onto the real Redis and
nothing consumes them, so what the broker holds is exactly what the test put there.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest
import redis
import stack
from stack import NS, QUEUES, SCHEDULER, STATE_CM, Scenario, run_script
from test_integration_drain import TASKS, _upgrade_and_finish

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


@pytest.fixture
def idle_scenario(airflow_session: stack.Session, scenario_dir) -> Iterator[Scenario]:  # type: ignore[no-untyped-def]
    sc = stack.new_scenario(airflow_session, scenario_dir, workers=False)
    try:
        yield sc
    finally:
        sc.close()


def _all_queued(sc: Scenario, runs: int = 1) -> None:
    sc.wait("every task instance queued on the broker", lambda: _queued_total(sc) >= runs * TASKS, 180)


def _queued_total(sc: Scenario) -> int:
    return int(sc.sql("select count(*) from task_instance where state='queued'")[0][0])


def _broker(sc: Scenario) -> redis.Redis:
    return redis.Redis(port=sc.s.redis.port)


def _depths(sc: Scenario) -> dict[str, int]:
    r = _broker(sc)
    return {q: int(r.llen(q)) for q in QUEUES}


def _untouched(sc: Scenario, depths: dict[str, int]) -> None:
    """The release as it was: scheduler never scaled, no state written, every TI and message where it was."""
    assert sc.kube is not None and sc.kube.deployments[(NS, SCHEDULER)] == 1 and len(sc.schedulers) == 1
    assert not [c for c in sc.kube.calls if c[0] == "PATCH"], sc.kube.calls
    assert sc.kube.config_map(NS, STATE_CM) is None
    assert sc.states() == {"queued": TASKS} and _depths(sc) == depths


def test_bad_db_or_broker_settings_stop_the_drain_before_anything_changes(idle_scenario: Scenario) -> None:
    sc = idle_scenario
    sc.trigger()
    _all_queued(sc)
    depths = _depths(sc)
    assert sum(depths.values()) == TASKS
    dead = f"redis://127.0.0.1:{stack.services.free_port()}/0"
    down = sc.hook(*sc.drain_args(), env={"AIRFLOW__CELERY__BROKER_URL": dead})
    assert down.returncode == 75, down.stderr
    assert f"retryable: Celery broker {dead} unreachable" in down.stderr
    assert "check that the broker is up" in down.stderr and "AIRFLOW__CELERY__BROKER_URL" in down.stderr
    _untouched(sc, depths)
    # preflight reads only the DB: a broker outage does not stop it (the drain checks the broker itself).
    ok = sc.hook("preflight", "--to-executors", "LocalExecutor", env={"AIRFLOW__CELERY__BROKER_URL": dead})
    assert ok.returncode == 0, ok.stderr

    # Wrong password (a Redis ACL user): retrying the same Secret cannot help, so 3, and the password
    # stays out of the log.
    _broker(sc).acl_setuser("hooks", enabled=True, passwords=["+right-pw"], keys="*", channels="*",
                            commands=["+@all"])
    try:
        bad = f"redis://hooks:s3cr3t-typo@127.0.0.1:{sc.s.redis.port}/0"
        refused = sc.hook(*sc.drain_args(), env={"AIRFLOW__CELERY__BROKER_URL": bad})
    finally:
        _broker(sc).acl_deluser("hooks")
    assert refused.returncode == 3, refused.stderr
    assert "refused: Celery broker redis://hooks:**@" in refused.stderr
    assert "rejected the credentials" in refused.stderr and "AIRFLOW__CELERY__BROKER_URL" in refused.stderr
    assert "s3cr3t-typo" not in refused.stdout + refused.stderr
    _untouched(sc, depths)

    # The metadata DB rejecting the user: 3 for preflight and drain, naming the setting to fix.
    nobody = sc.s.pg.url.replace("airflow@", "nobody@", 1)
    for args in (["preflight", "--to-executors", "LocalExecutor"], sc.drain_args()):
        done = sc.hook(*args, env={"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": nobody})
        assert done.returncode == 3, done.stderr
        assert "refused: metadata DB rejected the connection settings (" in done.stderr
        assert 'FATAL:  role "nobody" does not exist' in done.stderr
        assert "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN" in done.stderr and "Traceback" not in done.stderr
    _untouched(sc, depths)

    # Nothing was lost: with the settings right the drain hands everything over and each task runs once.
    assert sc.hook(*sc.drain_args()).returncode == 0
    _upgrade_and_finish(sc)


PUBLISH_GHOST = """
import json, sys
from airflow.providers.celery.executors.celery_executor_utils import app
ti = {"id": sys.argv[1], "dag_id": "ghost_dag", "task_id": "ghost_task", "run_id": "ghost_run", "try_number": 1,
      "map_index": -1}
app.send_task("execute_workload", args=[json.dumps({"type": "ExecuteTask", "ti": ti})], queue="q1")
"""
RAW_AT_FRONT = b'{"hello": "not kombu"}'  # the next item a consumer pops: it must not block the queue
RAW_AT_BACK = b"\x00\x01 not even json"
HALF_ENVELOPE = json.dumps({"body": "e30=", "headers": {}, "properties": "oops"}).encode()


def test_broker_garbage_is_kept_and_named_ghost_work_is_acked_and_named(idle_scenario: Scenario) -> None:
    sc = idle_scenario
    sc.trigger()
    _all_queued(sc)
    r = _broker(sc)
    r.rpush("q3", RAW_AT_FRONT)  # kombu pops from the right: first in line
    r.lpush("q2", RAW_AT_BACK)
    r.rpush("q2", HALF_ENVELOPE)
    ghost = str(uuid.uuid4())
    subprocess.run([sys.executable, "-c", PUBLISH_GHOST, ghost], env=sc.hook_env(), check=True, timeout=60)

    done = sc.hook(*sc.drain_args())
    assert done.returncode == 3, done.stderr
    assert "Traceback" not in done.stderr
    assert "not Airflow workloads were left in place" in done.stderr and "(q2=2, q3=1)" in done.stderr
    assert "unreadable item b'{\"hello\": \"not kombu\"}'" in done.stderr
    assert "unreadable item b'\\x00\\x01 not even json'" in done.stderr
    # Every Airflow message behind the garbage was handed back; the garbage is still there, in place.
    assert "q3: 6 handed back" in done.stdout
    assert r.lindex("q3", -1) == RAW_AT_FRONT and RAW_AT_BACK in r.lrange("q2", 0, -1)
    assert HALF_ENVELOPE in r.lrange("q2", 0, -1)
    # An Airflow workload whose task instance is not in this DB: nothing can run it; acked and named.
    assert re.search(rf"q1: skipped task ghost_dag.ghost_task run ghost_run try 1 \(id {ghost}, message [0-9a-f-]+\)"
                     r": not in the metadata DB \(deleted\); message acked", done.stderr), done.stderr
    assert sc.kube is not None and sc.kube.deployments[(NS, SCHEDULER)] == 1  # refused: release restored

    # The operator deletes what the message named; the upgrade then goes through and nothing ran twice.
    for q, item in (("q3", RAW_AT_FRONT), ("q2", RAW_AT_BACK), ("q2", HALF_ENVELOPE)):
        assert r.lrem(q, 0, item) == 1
    again = sc.hook(*sc.drain_args())
    assert again.returncode == 0, again.stderr
    _upgrade_and_finish(sc)


def test_task_instance_and_dag_run_deleted_during_the_hand_over(idle_scenario: Scenario) -> None:
    sc = idle_scenario
    doomed_run = sc.trigger()
    run_id = sc.trigger()
    _all_queued(sc, runs=2)
    doomed_ti, doomed_task = sc.sql("select id::text, task_id from task_instance where run_id=%s and task_id='q2_3'",
                                    run_id)[0]
    done = run_script(sc, "delete_during_handover.py", doomed_ti, doomed_run, *sc.drain_args(), "--batch-size", "4")
    assert done.returncode == 0, done.stderr
    assert "DELETED 1 task instance, 1 dag run" in done.stdout
    assert f"skipped task handover_probe.{doomed_task} run {run_id} try 1 (id {doomed_ti}," in done.stderr
    assert f"handover_probe.q1_0 run {doomed_run} try 1" in done.stderr
    skipped = re.findall(r"skipped task .*: not in the metadata DB \(deleted\); message acked", done.stderr)
    assert len(skipped) == TASKS + 1, done.stderr  # the whole deleted run and the one task instance
    assert f"done: {TASKS - 1} task instances handed back" in done.stdout
    # No message left for a worker of the removed executor to pick up later.
    assert _depths(sc) == dict.fromkeys(QUEUES, 0) and _broker(sc).hlen("unacked") == 0
    sc.stop_workers()
    sc.release_executor = "LocalExecutor"
    assert sc.hook(*sc.migrate_args()).returncode == 0
    sc.wait("the rest of the run to finish", lambda: sc.states() == {"success": TASKS - 1}, 180)
    sc.assert_each_ran_once(TASKS - 1)
    assert not sc.sql("select 1 from task_instance where run_id=%s", doomed_run)

"""The drain killed at each step boundary (and between a hand-over commit and its acks), then re-run:
it converges, and every task still runs exactly once, as try 1."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest
from stack import NS, QUEUES, SCHEDULER, Scenario, run_script, wait_running_and_queued
from test_integration_drain import TASKS, _upgrade_and_finish

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]
# Long enough that work is still queued and running when the drain gets going, also when a busy machine
# takes tens of seconds to start the hook process (with 6 s tasks everything had run by then).
TASK_SECONDS = 15

BOUNDARIES = [
    "scaled airflow-scheduler from 1 to 0",  # scheduler at 0, heartbeat not yet verified
    "cancelled 3 consumers",  # consumers cancelled, nothing waited for
    "waiting for running and prefetched",  # mid-wait
    "s] q2: ",  # mid-hand-over (a "[handover +N.Ns] q2: ..." line): q1 and part of q2 done (batch size 1)
    "verified:",  # everything done but the state record
]


@pytest.mark.parametrize("marker", BOUNDARIES)
def test_drain_killed_and_rerun_converges(scenario: Scenario, marker: str) -> None:
    sc = scenario
    sc.trigger()
    wait_running_and_queued(sc)
    sc.hook_killed_at(marker, *sc.drain_args(), "--batch-size", "1")
    done = sc.hook(*sc.drain_args())
    assert done.returncode == 0, done.stderr
    assert sc.kube is not None and sc.kube.deployments[(NS, SCHEDULER)] == 0
    assert sc.kube.config_map(NS, "airflow-executor-state")["schedulerReplicas"] == "1"  # type: ignore[index]
    _upgrade_and_finish(sc)


def test_drain_killed_between_commit_and_ack(scenario: Scenario) -> None:
    sc = scenario
    sc.trigger()
    wait_running_and_queued(sc)
    killed = run_script(sc, "kill_after_commit.py", "2", *sc.drain_args(), "--batch-size", "1")
    assert killed.returncode == -signal.SIGKILL and "KILLED after commit 2" in killed.stdout
    done = sc.hook(*sc.drain_args())
    assert done.returncode == 0, done.stderr
    # The killed run's unacked messages were put back, then acked as stale (their TIs already handed back).
    assert "put back on their queues" in done.stdout and "stale acked" in done.stdout
    _upgrade_and_finish(sc)


def test_nothing_left_to_drain_is_a_noop(scenario: Scenario) -> None:
    sc = scenario
    assert sc.hook(*sc.drain_args()).returncode == 0
    assert sc.hook(*sc.drain_args()).returncode == 0
    assert sc.kube is not None and sc.kube.deployments[(NS, SCHEDULER)] == 0


PUBLISH_FOREIGN = """
from airflow.providers.celery.executors.celery_executor_utils import app
app.send_task("billing.reconcile", args=[42], queue="q2")
"""


def test_foreign_message_is_left_in_place_and_refused(scenario: Scenario) -> None:
    sc = scenario
    sc.trigger()
    wait_running_and_queued(sc)
    subprocess.run([sys.executable, "-c", PUBLISH_FOREIGN], env=sc.hook_env(), check=True, timeout=60)
    done = sc.hook(*sc.drain_args())
    assert done.returncode == 3, done.stderr
    assert "not Airflow workloads" in done.stderr and "billing.reconcile" in done.stderr
    # Refused means the release goes on as it was: scheduler back, consumers back, the run completes, and
    # the foreign message, put back on q2, reaches q2's worker as it would have without the drain.
    assert sc.kube is not None and sc.kube.deployments[(NS, SCHEDULER)] == 1
    worker_log = sc.tmp / "worker-q2.log"
    sc.wait("q2's worker to receive the foreign message", lambda: "billing.reconcile" in worker_log.read_text(), 60)
    sc.wait("the run to finish on Celery", lambda: sc.states() == {"success": TASKS}, 240)
    sc.assert_each_ran_once(TASKS)
    assert len(QUEUES) == 3

"""The drain killed at each step boundary (and between a hand-over commit and its acks), then re-run:
it converges, and every task still runs exactly once, as try 1."""

from __future__ import annotations

import signal

import pytest
from stack import NS, QUEUES, SCHEDULER, Scenario, run_script, wait_running_and_queued
from test_integration_drain import TASKS, _upgrade_and_finish

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

BOUNDARIES = [
    "[schedulers] scaled",  # scheduler at 0, heartbeat not yet verified
    "cancelled 3 consumers",  # consumers cancelled, nothing waited for
    "waiting for running and prefetched",  # mid-wait
    "[handover] q2:",  # mid-hand-over: q1 and part of q2 done (batch size 1)
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
    assert len(QUEUES) == 3 and TASKS > 0

"""The hooks' figures reach a StatsD server through Airflow's own stats client and ``[metrics]`` config: a UDP
socket on 127.0.0.1 stands in for the exporter."""

from __future__ import annotations

import itertools
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from airflow_k8s_hooks import cli, errors, metrics, progress
from airflow_k8s_hooks.drain import TASKS_LEFT, Outcome

PREFIX = "hooks_test"


@pytest.fixture
def statsd(monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    for key, value in {"ON": "True", "HOST": "127.0.0.1", "PORT": str(sock.getsockname()[1]), "PREFIX": PREFIX}.items():
        monkeypatch.setenv(f"AIRFLOW__METRICS__STATSD_{key}", value)
    metrics.reset()
    yield sock
    sock.close()
    metrics.reset()


def received(sock: socket.socket) -> list[str]:
    """The hooks' packets, in order (Airflow may send its own, e.g. on import)."""
    lines: list[str] = []
    try:
        while True:
            lines += sock.recv(65535).decode().splitlines()
    except TimeoutError:
        pass
    return [line for line in lines if line.startswith(f"{PREFIX}.{metrics.NAMESPACE}.")]


def test_a_drain_wait_sends_tasks_left_per_queue_and_seconds_waited(statsd: socket.socket) -> None:
    polls = iter([{"default (running)": 2, "default (worker)": 1, "gpu.large (queued)": 1},
                  {"default (running)": 1}, {}])
    ticks = itertools.count()
    left = progress.wait_until("drain", "work", lambda: next(polls), progress.Deadline(60, clock=lambda: next(ticks)),
                               interval=0, metric=TASKS_LEFT)
    assert left == {}
    got = received(statsd)
    p = f"{PREFIX}.{metrics.NAMESPACE}"
    gauges = [g for g in got if ".tasks_left." in g]
    assert gauges == [f"{p}.tasks_left.default:3|g", f"{p}.tasks_left.gpu_large:1|g",  # summed per queue
                      f"{p}.tasks_left.gpu_large:0|g", f"{p}.tasks_left.default:1|g",  # a drained queue reads 0
                      f"{p}.tasks_left.default:0|g"], got
    assert sum(g.startswith(f"{p}.seconds_waited:") and g.endswith("|g") for g in got) == 3, got


def test_handed_back_is_a_counter(statsd: socket.socket) -> None:
    outcome = Outcome()
    outcome.hand_back(4)
    outcome.hand_back(0)
    outcome.hand_back(2)
    assert outcome.handed_back == 6
    assert received(statsd) == [f"{PREFIX}.{metrics.NAMESPACE}.handed_back:4|c",
                                f"{PREFIX}.{metrics.NAMESPACE}.handed_back:2|c"]


@pytest.mark.parametrize(("outcome", "result"), [(None, "ok"), (errors.Refused("pinned"), "refused"),
                                                 (errors.DrainTimedOut("late"), "timed_out"),
                                                 (RuntimeError("bug"), "internal_error")])
def test_each_step_reports_its_outcome_and_duration(statsd: socket.socket, monkeypatch: pytest.MonkeyPatch,
                                                    outcome: Exception | None, result: str) -> None:
    def run(*_: Any) -> None:
        if outcome is not None:
            raise outcome

    monkeypatch.setattr(cli, "_run", run)
    cli.main(["migrate-settings", "--namespace=n", "--state-configmap=s", "--scheduler-deployment=d",
              "--executors=KubernetesExecutor", "--scheduler-replicas=1"])
    got = received(statsd)
    p = f"{PREFIX}.{metrics.NAMESPACE}"
    assert len(got) == 2 and got[0].startswith(f"{p}.step_seconds.migrate-settings:") and got[0].endswith("|g"), got
    assert got[1] == f"{p}.runs.migrate-settings.{result}:1|c"


def test_no_exporter_never_fails_a_step(monkeypatch: pytest.MonkeyPatch, statsd: socket.socket) -> None:
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_HOST", "no-such-host.invalid")
    metrics.reset()
    assert progress.wait_until("drain", "work", lambda: {"q (running)": 1}, progress.Deadline(0), interval=0,
                               metric=TASKS_LEFT) == {"q (running)": 1}
    Outcome().hand_back(1)
    assert received(statsd) == []


def test_metrics_off_sends_nothing(monkeypatch: pytest.MonkeyPatch, statsd: socket.socket) -> None:
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_ON", "False")
    metrics.reset()
    Outcome().hand_back(1)
    assert received(statsd) == []

"""A real Airflow 3 deployment on loopback for the hook integration tests.

PostgreSQL, Redis and the api-server live for the whole session; each scenario gets a clean DB (its
runs truncated), an empty broker, three fresh ``airflow celery worker`` processes (one per queue), a
scheduler "Deployment" behind :class:`~fake_kube.FakeKube`, and runs the hooks as
``python -m airflow_k8s_hooks`` subprocesses, exactly as the chart's Jobs do.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg2
import redis
from fake_kube import FakeKube

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "ci" / "services"))
import services

DAGS = Path(__file__).parent / "dags"
QUEUES = ("q1", "q2", "q3")
NS, STATE_CM, SCHEDULER = "airflow", "airflow-executor-state", "airflow-scheduler"


@dataclass
class Session:
    """Session-wide servers."""

    home: Path
    pg: services.Server
    redis: services.Server
    api_port: int
    log_port: int
    api: subprocess.Popen[bytes] | None = None

    def env(self, executor: str, **extra: str) -> dict[str, str]:
        return services.airflow_env(
            self.home, self.pg.url, self.redis.url, api_port=self.api_port, executor=executor, dags_folder=DAGS,
            extra={"AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(self.log_port),
                   "HOOKS_TEST_RECORD": str(self.home / "record.jsonl"), **extra},
        )


@dataclass
class Scenario:
    """One scenario's processes and helpers; :meth:`close` stops everything it started."""

    s: Session
    tmp: Path
    worker_env: dict[str, str]
    release_executor: str = "CeleryExecutor"
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    schedulers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    kube: FakeKube | None = None
    run_id: str = ""

    # processes ---------------------------------------------------------------------------------------
    def start_workers(self) -> None:
        for q in QUEUES:
            self.workers[q] = services.start_airflow(
                ["celery", "worker", "--queues", q, "--concurrency", "2", "--celery-hostname", f"{q}@hooks",
                 "--skip-serve-logs", "--without-mingle", "--without-gossip"],
                self.worker_env, self.tmp / f"worker-{q}.log")

    def stop_workers(self) -> None:
        for p in self.workers.values():
            services.stop(p, 60)
        self.workers.clear()

    def scale(self, _name: str, replicas: int) -> None:
        """What the Deployment controller would do: terminate or start scheduler pods."""
        while len(self.schedulers) > replicas:
            services.stop(self.schedulers.pop(), 60)
        while len(self.schedulers) < replicas:
            env = self.s.env(self.release_executor, HOOKS_TEST_EXECUTOR_TAG=self.release_executor)
            self.schedulers.append(services.start_airflow(["scheduler"], env, self.tmp / "scheduler.log"))

    def close(self) -> None:
        for p in self.schedulers:
            services.stop(p, 30)
        self.schedulers.clear()
        self.stop_workers()
        if self.kube is not None:
            self.kube.__exit__(None, None, None)

    # hooks -------------------------------------------------------------------------------------------
    def hook_env(self) -> dict[str, str]:
        assert self.kube is not None
        env = self.s.env(self.release_executor, KUBECONFIG=str(self.kube.kubeconfig))
        env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2] / "hooks")
        return env

    def hook(self, *args: str, timeout: float = 300, env: dict[str, str] | None = None
             ) -> subprocess.CompletedProcess[str]:
        """Run ``python -m airflow_k8s_hooks ARGS`` like a hook Job (``env`` overrides some of its
        environment, e.g. a broken broker URL); output goes to the test log too."""
        done = subprocess.run([sys.executable, "-m", "airflow_k8s_hooks", *args],
                              env={**self.hook_env(), **(env or {})},
                              capture_output=True, text=True, timeout=timeout)
        print(f"$ hooks {' '.join(args)} -> {done.returncode}\n{done.stdout}{done.stderr}")
        return done

    def hook_killed_at(self, marker: str, *args: str, timeout: float = 300) -> str:
        """Run a hook, SIGKILL it as soon as a line containing ``marker`` is printed; returns its output."""
        proc = subprocess.Popen([sys.executable, "-u", "-m", "airflow_k8s_hooks", *args], env=self.hook_env(),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)
        out: list[str] = []
        end = time.monotonic() + timeout
        assert proc.stdout is not None
        for line in proc.stdout:
            out.append(line)
            if marker in line or time.monotonic() > end:
                os.killpg(proc.pid, signal.SIGKILL)
                break
        proc.wait(30)
        text = "".join(out)
        print(f"$ hooks {' '.join(args)} killed at {marker!r} -> {proc.returncode}\n{text}")
        assert marker in text, f"never reached {marker!r}"
        return text

    def drain_args(self, to: str = "LocalExecutor", timeout: float = 120, on_timeout: str = "fail") -> list[str]:
        return ["drain", "--namespace", NS, "--state-configmap", STATE_CM, "--scheduler-deployment", SCHEDULER,
                "--from-executors", "CeleryExecutor", "--to-executors", to, "--timeout", str(timeout),
                "--on-timeout", on_timeout, "--scheduler-stop-timeout", "30"]

    def migrate_args(self, executors: str = "LocalExecutor", retiring: str = "") -> list[str]:
        args = ["migrate-settings", "--namespace", NS, "--state-configmap", STATE_CM, "--scheduler-deployment",
                SCHEDULER, "--scheduler-replicas", "1", "--executors", executors]
        return [*args, "--retiring", retiring] if retiring else args

    # DB and records ----------------------------------------------------------------------------------
    def sql(self, query: str, *params: Any) -> list[tuple]:
        with psycopg2.connect(host="127.0.0.1", port=self.s.pg.port, user="airflow", dbname="airflow") as c:
            cur = c.cursor()
            cur.execute(query, params)
            return cur.fetchall() if cur.description else []

    def trigger(self) -> str:
        self.run_id = f"hooks_{uuid.uuid4().hex[:8]}"
        services.run_airflow(["dags", "trigger", "handover_probe", "--run-id", self.run_id],
                             self.s.env("CeleryExecutor"))
        return self.run_id

    def states(self) -> Counter[str]:
        rows = self.sql("select state, count(*) from task_instance where run_id=%s group by 1", self.run_id)
        return Counter({str(s): n for s, n in rows})

    def per_queue(self, state: str) -> Counter[str]:
        rows = self.sql("select queue, count(*) from task_instance where run_id=%s and state=%s group by 1",
                        self.run_id, state)
        return Counter(dict(rows))

    def wait(self, what: str, cond: Any, timeout: float = 120) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if cond():
                return
            time.sleep(0.5)
        raise AssertionError(f"timed out waiting for {what}: states {dict(self.states())}")

    def records(self) -> list[dict[str, Any]]:
        path = self.s.home / "record.jsonl"
        lines = path.read_text().splitlines() if path.exists() else []
        return [r for r in map(json.loads, lines) if r["run_id"] == self.run_id]

    def assert_each_ran_once(self, expected_tasks: int) -> None:
        """Every TI of the run succeeded, ran exactly once (counted by the task), as try 1, no history."""
        recs = self.records()
        starts = Counter(r["ti_id"] for r in recs if r["event"] == "start")
        ends = Counter(r["ti_id"] for r in recs if r["event"] == "end")
        tis = self.sql("select id::text, task_id, state, try_number from task_instance where run_id=%s", self.run_id)
        history = self.sql("select count(*) from task_instance_history where run_id=%s", self.run_id)[0][0]
        assert len(tis) == expected_tasks, tis
        assert {t[2] for t in tis} == {"success"}, tis
        assert {t[3] for t in tis} == {1}, f"try numbers: {tis}"
        assert history == 0, f"{history} task_instance_history rows"
        assert set(starts) == {t[0] for t in tis}, f"TIs that never ran: {({t[0] for t in tis}) - set(starts)}"
        assert all(n == 1 for n in starts.values()), f"started more than once: {starts.most_common(3)}"
        assert all(n == 1 for n in ends.values()) and set(ends) == set(starts), ends
        assert {r["try_number"] for r in recs} == {1}


def wait_running_and_queued(sc: Scenario, per_queue_running: int = 2) -> None:
    """Until every queue has tasks running on Celery and tasks waiting in the broker."""
    def ready() -> bool:
        running, queued = sc.per_queue("running"), sc.per_queue("queued")
        return all(running[q] >= per_queue_running and queued[q] >= 1 for q in QUEUES)

    sc.wait("tasks running and queued on every queue", ready, 180)


def start_session(home: Path) -> Iterator[Session]:
    """Start PostgreSQL, Redis, migrate the DB, serialize the DAGs, start the api-server."""
    with services.postgres() as pg, services.redis() as rd:
        s = Session(home, pg, rd, services.free_port(), services.free_port())
        env = s.env("CeleryExecutor")
        services.run_airflow(["db", "migrate"], env)
        services.run_airflow(["dags", "reserialize"], env)
        s.api = services.start_airflow(["api-server", "--port", str(s.api_port)], env, home / "api-server.log")
        try:
            services.wait_port(s.api_port, 120, s.api, "airflow api-server")
            yield s
        finally:
            services.stop(s.api)


def new_scenario(s: Session, tmp: Path, workers: bool = True, **worker_env: str) -> Scenario:
    """Clean DB runs and broker, start three workers and a one-replica scheduler Deployment."""
    s_env = s.env("CeleryExecutor", HOOKS_TEST_EXECUTOR_TAG="CeleryExecutor", **worker_env)
    sc = Scenario(s, tmp, s_env)
    sc.sql("truncate dag_run, job, log, callback cascade")
    redis.Redis(port=s.redis.port).flushall()
    sc.kube = FakeKube(tmp, on_scale=sc.scale).__enter__()
    sc.kube.deployments[(NS, SCHEDULER)] = 0
    if workers:
        sc.start_workers()
    sc.scale(SCHEDULER, 1)
    sc.kube.deployments[(NS, SCHEDULER)] = 1
    return sc


def run_script(sc: Scenario, script: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run a helper script of this folder with the hook environment."""
    done = subprocess.run([sys.executable, str(Path(__file__).parent / script), *args], env=sc.hook_env(),
                          capture_output=True, text=True, timeout=300)
    print(f"$ {script} {' '.join(args)} -> {done.returncode}\n{done.stdout}{done.stderr}")
    return done

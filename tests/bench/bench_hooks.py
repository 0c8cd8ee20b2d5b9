"""Benchmarks of the executor-switch hooks on local PostgreSQL + Redis (a script, not a pytest test).

Prints, with their targets:
  * hand-over of 10,000 queued TIs with their broker messages (target <= 10 s);
  * ``plan`` on a DB with 100,000 task instances (target <= 2 s);
  * drain overhead beyond the longest running Celery task, with real workers (target <= 5 s).

Run: ``python tests/bench/bench_hooks.py`` (``--skip-drain`` leaves out the slow real-worker part).
Each measurement runs in a child process that has the Airflow environment, as a hook Job would.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "ci" / "services"), str(ROOT / "tests" / "hooks"), str(ROOT / "hooks")]

HANDOVER_TIS = 10_000
PLAN_TIS = 100_000
QUEUES = ("q1", "q2", "q3")


def _seed(n: int, state_of: str) -> None:
    """Insert one DAG run and ``n`` TIs through Airflow's ORM bulk insert (child process)."""
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import insert

    run_id = f"bench_{uuid.uuid4().hex[:8]}"
    states = state_of.split(",")
    with create_session() as s:
        s.execute(insert(DagRun).values(dag_id="bench", run_id=run_id, run_type="manual", state="running",
                                        clear_number=0, run_after=datetime.now(timezone.utc)))
        rows: list[dict[str, Any]]
        rows = [{"id": uuid.uuid4(), "dag_id": "bench", "task_id": f"t{i}", "run_id": run_id, "map_index": -1,
                 "try_number": 1, "max_tries": 0, "pool": "default_pool", "pool_slots": 1,
                 "state": states[i % len(states)], "queue": QUEUES[i % 3], "priority_weight": 1,
                 "span_status": "not_started", "external_executor_id": str(uuid.uuid4())}
                for i in range(n)]
        for i in range(0, n, 5000):
            s.execute(insert(TaskInstance.__table__), rows[i:i + 5000])
    if state_of == "queued":
        _publish([(r["id"], r["queue"], r["external_executor_id"]) for r in rows])


def _publish(items: list[tuple[uuid.UUID, str, str]]) -> None:
    """Publish one ``execute_workload`` message per TI, as CeleryExecutor does (protocol 2, same task id)."""
    from airflow.providers.celery.executors.celery_executor_utils import app

    task = app.tasks["execute_workload"]
    with app.producer_or_acquire() as producer:
        for ti_id, queue, celery_id in items:
            body = json.dumps({"type": "ExecuteTask", "ti": {"id": str(ti_id)}, "token": "x"})
            task.apply_async(args=(body,), queue=queue, task_id=celery_id, producer=producer)


def child_handover() -> None:
    _seed(HANDOVER_TIS, "queued")
    from airflow_k8s_hooks import handover
    from airflow_k8s_hooks.clients.broker import Broker
    from airflow_k8s_hooks.clients.db import Owner

    with Broker.from_airflow() as b:
        depth = sum(b.depth(q) for q in QUEUES)
        profile = None
        if os.environ.get("BENCH_PROFILE"):
            import cProfile

            profile = cProfile.Profile()
            profile.enable()
        t0 = time.perf_counter()
        tally = handover.run(b, QUEUES, Owner(frozenset(), include_null=True), batch_size=500)
        took = time.perf_counter() - t0
        if profile is not None:
            import pstats

            profile.disable()
            pstats.Stats(profile, stream=sys.stderr).sort_stats("cumulative").print_stats(40)
    print(json.dumps({"messages": depth, "handed_back": tally.total, "seconds": took}))


class _StateOnly:
    """Kube stand-in for plan: only the state ConfigMap is read."""

    def read_config_map(self, namespace: str, name: str) -> dict[str, str]:
        return {"executors": "CeleryExecutor"}


def child_plan() -> None:
    _seed(PLAN_TIS, "success,success,success,failed,queued,running,scheduled,success,success,success")
    import contextlib
    import io

    from airflow_k8s_hooks import plan
    from airflow_k8s_hooks.config import PlanConfig, Release
    from airflow_k8s_hooks.executors import parse_list

    cfg = PlanConfig(Release("ns", "state", "sched"), parse_list("KubernetesExecutor"), QUEUES)
    plan.run(cfg, _StateOnly())  # warm: imports, connections
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        plan.run(cfg, _StateOnly())
    print(json.dumps({"tis": PLAN_TIS, "seconds": time.perf_counter() - t0}))


def _child(name: str, env: dict[str, str]) -> dict[str, float]:
    done = subprocess.run([sys.executable, __file__, "--child", name], env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{name} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    if os.environ.get("BENCH_PROFILE"):
        print(done.stderr[-12000:], file=sys.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


def bench_drain_overhead(session: object, tmp: Path) -> dict[str, float]:
    """Real workers: drain with tasks running; overhead = drain end - end of the last task it waited for."""
    import stack

    sc = stack.new_scenario(session, tmp)
    try:
        sc.trigger()
        stack.wait_running_and_queued(sc)
        t0 = time.time()
        done = sc.hook(*sc.drain_args())
        t1 = time.time()
        if done.returncode:
            raise SystemExit(f"drain failed: {done.stderr}")
        # The task ends when its Celery task returns (after the TI reports success): the worker's
        # result row says when; the task's own "end" record is the fallback.
        ends = [r["t"] for r in sc.records() if r["event"] == "end" and r["t"] <= t1]
        ends += [float(t) for (t,) in sc.sql("select extract(epoch from date_done) from celery_taskmeta "
                                             "where date_done is not null") if float(t) <= t1]
        longest_end = max(ends) if ends else t0
        return {"drain_seconds": t1 - t0, "overhead": t1 - max(longest_end, t0)}
    finally:
        sc.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--child", choices=["handover", "plan"])
    ap.add_argument("--skip-drain", action="store_true")
    a = ap.parse_args()
    if a.child:
        {"handover": child_handover, "plan": child_plan}[a.child]()
        return

    import tempfile

    import stack

    with tempfile.TemporaryDirectory(prefix="bench-hooks-") as d:
        home = Path(d)
        gen = stack.start_session(home)
        session = next(gen)
        try:
            env = session.env("CeleryExecutor")
            env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "hooks"), env.get("PYTHONPATH", "")])
            h = _child("handover", env)
            print(f"handover: {h['handed_back']:.0f} queued TIs / {h['messages']:.0f} messages in "
                  f"{h['seconds']:.2f} s (target <= 10 s) {'OK' if h['seconds'] <= 10 else 'SLOW'}", flush=True)
            p = _child("plan", env)
            print(f"plan: {p['tis'] + HANDOVER_TIS:.0f} task instances in {p['seconds']:.2f} s (target <= 2 s) "
                  f"{'OK' if p['seconds'] <= 2 else 'SLOW'}", flush=True)
            if not a.skip_drain:
                (home / "drain").mkdir()
                o = bench_drain_overhead(session, home / "drain")
                print(f"drain: overhead beyond the longest running task {o['overhead']:.2f} s "
                      f"(drain took {o['drain_seconds']:.1f} s; target <= 5 s) "
                      f"{'OK' if o['overhead'] <= 5 else 'SLOW'}", flush=True)
        finally:
            gen.close()


if __name__ == "__main__":
    main()

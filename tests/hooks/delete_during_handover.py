"""Run ``drain`` and, right before the hand-over's first commit, delete a task instance and a whole DAG run.

What an operator (or ``airflow db clean``) does while the hook runs: the batch already taken from the broker
now names rows that are gone. Used by the integration tests as
``python delete_during_handover.py TI_ID RUN_ID drain ARGS...``.
"""

from __future__ import annotations

import sys

from airflow_k8s_hooks import handover
from airflow_k8s_hooks.cli import main
from airflow_k8s_hooks.clients import db
from sqlalchemy import text

ti_id, run_id = sys.argv[1], sys.argv[2]
real_commit = handover.commit_batch
deleted = False


def delete_then_commit(*args, **kwargs):  # type: ignore[no-untyped-def]
    global deleted
    if not deleted:
        with db.session() as s:
            n = s.execute(text("DELETE FROM task_instance WHERE id = :id"), {"id": ti_id}).rowcount
            m = s.execute(text("DELETE FROM dag_run WHERE run_id = :r"), {"r": run_id}).rowcount
        print(f"DELETED {n} task instance, {m} dag run before the first commit", flush=True)
        deleted = True
    return real_commit(*args, **kwargs)


handover.commit_batch = delete_then_commit
sys.exit(main(sys.argv[3:]))

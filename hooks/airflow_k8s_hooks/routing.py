"""Queue -> pod template routing for the work a switch hands to the KubernetesExecutor.

The chart's cluster policy (``chart/files/airflow_local_settings.py``) writes a task's queue template into its
``executor_config`` when the DAG is parsed, and Airflow copies ``executor_config`` into the task instance row
when the row is created, never later. Rows created while the release ran another executor carry no template
(the policy found none), so the new executor would start them on the default template: the wrong node type
and size. Before the new scheduler starts, ``drain`` gives every such row that has not started the path the
policy would have set. The value goes through the ORM column, so Airflow's own type pickles it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from airflow_k8s_hooks import progress
from airflow_k8s_hooks.clients import db
from airflow_k8s_hooks.executors import KUBERNETES, Executor

STEP = "routing"
TEMPLATE_KEY = "pod_template_file"


def queue_templates(pod_template_file: str, queues: Iterable[str]) -> dict[str, str]:
    """The policy's rule: ``<folder of the default template>/<queue>.yaml``, except the default template itself.

    Example:
        >>> queue_templates("/opt/airflow/pod_templates/default.yaml", ["default", "etl"])
        {'etl': '/opt/airflow/pod_templates/etl.yaml'}
    """
    folder = os.path.dirname(pod_template_file)
    paths = {q: os.path.join(folder, f"{q}.yaml") for q in queues}
    return {q: p for q, p in paths.items() if p != pod_template_file}


def with_template(config: Any, path: str) -> dict[str, Any] | None:
    """The ``executor_config`` to write, or None when it names a template already (a task's own wins).

    Example:
        >>> with_template(None, "/t/etl.yaml")
        {'pod_template_file': '/t/etl.yaml'}
        >>> with_template({"pod_template_file": "/mine.yaml"}, "/t/etl.yaml") is None
        True
    """
    if config is None:
        config = {}
    if not isinstance(config, dict) or TEMPLATE_KEY in config:
        return None
    return {**config, TEMPLATE_KEY: path}


def kubernetes_owner(to_executors: tuple[Executor, ...]) -> db.Owner | None:
    """The task instances the new KubernetesExecutor runs: named so, or unnamed when it is the default."""
    k8s = next((e for e in to_executors if e.kind == KUBERNETES), None)
    if k8s is None:
        return None
    return db.Owner(k8s.names, include_null=to_executors[0] == k8s)


def run(to_executors: tuple[Executor, ...], pod_template_file: str, queues: Iterable[str],
        batch_size: int = 500) -> int:
    """Route the not-started task instances of the new KubernetesExecutor to their queue's template.

    Idempotent: a row that names a template is left alone. Returns how many rows changed.
    """
    owner = kubernetes_owner(to_executors)
    templates = queue_templates(pod_template_file, queues) if pod_template_file else {}
    if owner is None or not templates:
        return 0
    with db.session() as s:
        found = db.not_started_configs(s, owner, list(templates))
    changes = {ti_id: new for ti_id, queue, config in found
               if (new := with_template(config, templates[queue])) is not None}
    ids = list(changes)
    for i in range(0, len(ids), batch_size):
        with db.session() as s:
            db.set_executor_configs(s, {k: changes[k] for k in ids[i:i + batch_size]})
    progress.say(STEP, f"{len(changes)} task instances not started yet routed to their queue's pod template "
                 f"({len(found) - len(changes)} already name one)")
    return len(changes)

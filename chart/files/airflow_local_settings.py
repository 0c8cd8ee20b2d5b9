"""Cluster policy shipped by the airflow-k8s chart: a task's queue picks its task pod template.

The chart renders one KubernetesExecutor pod template per worker queue, `<queue>.yaml`, beside the default
template (`[kubernetes_executor] pod_template_file`). The KubernetesExecutor itself ignores `queue`, so this
policy writes the queue's template into the task's `executor_config` when the DAG is parsed. A
`pod_template_file` the DAG sets itself wins; `pod_override` still merges on top of the queue's template.
"""

from __future__ import annotations

import logging
import os
from typing import Any

__all__ = ["task_policy"]

log = logging.getLogger(__name__)

# Tasks pinned to another executor never become pods.
_POD_EXECUTORS = {None, "KubernetesExecutor"}


def _queue_template(queue: str) -> str | None:
    """Path of the queue's pod template, or None when the chart rendered none for it."""
    from airflow.configuration import conf

    default_template = conf.get("kubernetes_executor", "pod_template_file", fallback="")
    if not default_template:
        return None
    path = os.path.join(os.path.dirname(default_template), f"{queue}.yaml")
    if path == default_template or not os.path.isfile(path):
        return None
    return path


def task_policy(task: Any) -> None:
    """Route the task to its queue's pod template (see module docstring)."""
    if getattr(task, "executor", None) not in _POD_EXECUTORS:
        return
    executor_config = dict(task.executor_config or {})
    if "pod_template_file" in executor_config:
        return
    path = _queue_template(task.queue)
    if path is None:
        return
    executor_config["pod_template_file"] = path
    task.executor_config = executor_config
    log.debug("task %s on queue %s uses pod template %s", task.task_id, task.queue, path)

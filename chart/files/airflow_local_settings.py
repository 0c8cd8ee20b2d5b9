"""Cluster policy shipped by the airflow-k8s chart: a task's queue picks its task pod template.

The chart renders one KubernetesExecutor pod template per worker queue, `<queue>.yaml`, beside the default
template (`[kubernetes_executor] pod_template_file`). The KubernetesExecutor itself ignores `queue`, so this
policy writes the queue's template into the task's `executor_config` when the DAG is parsed. A
`pod_template_file` the DAG sets itself wins; `pod_override` still merges on top of the queue's template.

`pod_mutation_hook` refuses a task pod that would run as one of the chart's privileged ServiceAccounts
(the scheduler's, which may create pods, and the executor-switch hooks'), named in the environment variable
AIRFLOW_K8S_PROTECTED_SERVICE_ACCOUNTS: a `pod_override` or `pod_template_file` cannot hand user code the
scheduler's rights. The executor fails such a task with the reason in the scheduler log.
"""

from __future__ import annotations

import logging
import os
from typing import Any

__all__ = ["pod_mutation_hook", "task_policy"]

PROTECTED_ACCOUNTS_ENV = "AIRFLOW_K8S_PROTECTED_SERVICE_ACCOUNTS"

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


def _protected_accounts() -> set[str]:
    return {name.strip() for name in os.environ.get(PROTECTED_ACCOUNTS_ENV, "").split(",") if name.strip()}


def pod_mutation_hook(pod: Any) -> None:
    """Refuse a task pod that would run as a protected ServiceAccount (see module docstring).

    Example: a `pod_override` with `service_account_name="<release>-airflow-k8s-scheduler"` fails the task.
    """
    spec = getattr(pod, "spec", None)
    if spec is None:
        return
    protected = _protected_accounts()
    for field in ("service_account_name", "service_account"):
        account = getattr(spec, field, None)
        if account in protected:
            raise PermissionError(
                f"task pod {getattr(pod.metadata, 'name', '?')} asks for ServiceAccount {account!r} "
                f"(spec.{field}), which belongs to an Airflow component: task pods run as the account of the "
                "chart's pod template; give extra rights to that account instead"
            )

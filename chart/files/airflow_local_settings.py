"""Cluster policy shipped by the airflow-k8s chart: a task's queue picks its task pod template.

The chart renders one KubernetesExecutor pod template per worker queue, `<queue>.yaml`, beside the default
template (`[kubernetes_executor] pod_template_file`). The KubernetesExecutor itself ignores `queue`, so this
policy writes the queue's template into the task's `executor_config` when the DAG is parsed. A
`pod_template_file` the DAG sets itself wins; `pod_override` still merges on top of the queue's template.

The user's own local settings (the chart's `airflowLocalSettings`, mounted beside this file as
`user_airflow_local_settings.py`) run together with this policy: their `task_policy` first, then the queue
routing on the queue it left; their `pod_mutation_hook` first, then the account check below; every other
name they export is exported from here, as Airflow would have taken it from their own
`airflow_local_settings.py`.

`pod_mutation_hook` refuses a task pod that would run as one of the chart's privileged ServiceAccounts
(the scheduler's, which may create pods, and the executor-switch hooks'), named in the environment variable
AIRFLOW_K8S_PROTECTED_SERVICE_ACCOUNTS: a `pod_override` or `pod_template_file` cannot hand user code the
scheduler's rights. The executor fails such a task with the reason in the scheduler log.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from types import ModuleType
from typing import Any

PROTECTED_ACCOUNTS_ENV = "AIRFLOW_K8S_PROTECTED_SERVICE_ACCOUNTS"
# The chart's own hooks: the user's run first, then the chart's (neither replaces the other).
_CHART_HOOKS = ("task_policy", "pod_mutation_hook")

log = logging.getLogger(__name__)

# Tasks pinned to another executor never become pods.
_POD_EXECUTORS = {None, "KubernetesExecutor"}
_USER_SETTINGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "user_airflow_local_settings.py")


def _load_user_settings(path: str) -> ModuleType | None:
    """The user's local settings module, or None when the chart mounted none."""
    if not os.path.isfile(path):
        return None
    spec = importlib.util.spec_from_file_location("user_airflow_local_settings", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _exported_names(module: ModuleType) -> list[str]:
    """What Airflow would read from the module: its `__all__`, else every name not starting with `__`."""
    names = getattr(module, "__all__", None)
    if names is None:
        names = [name for name in vars(module) if not name.startswith("__")]
    return [name for name in names if name not in _CHART_HOOKS]


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


def _route_to_queue_template(task: Any) -> None:
    if getattr(task, "executor", None) not in _POD_EXECUTORS:
        return
    executor_config = dict(task.executor_config or {})
    if "pod_template_file" in executor_config:
        return
    path = _queue_template(task.queue)
    if path is None:
        return
    executor_config["pod_template_file"] = path
    if hasattr(task, "partial_kwargs"):  # a mapped task: executor_config is read-only, kept in partial_kwargs
        task.partial_kwargs["executor_config"] = executor_config
    else:
        task.executor_config = executor_config
    log.debug("task %s on queue %s uses pod template %s", task.task_id, task.queue, path)


_user = _load_user_settings(_USER_SETTINGS)
_user_task_policy = getattr(_user, "task_policy", None)
_user_pod_mutation_hook = getattr(_user, "pod_mutation_hook", None)
_user_names = _exported_names(_user) if _user is not None else []
# The user's names go into this module; the chart's private helpers are never replaced.
globals().update({name: getattr(_user, name) for name in _user_names
                  if not (name.startswith("_") and name in globals())})
__all__ = [*_CHART_HOOKS, *_user_names]


def task_policy(task: Any) -> None:
    """The user's task_policy (if any), then route the task to its queue's pod template (module docstring)."""
    if _user_task_policy is not None:
        _user_task_policy(task)
    _route_to_queue_template(task)


def _protected_accounts() -> set[str]:
    return {name.strip() for name in os.environ.get(PROTECTED_ACCOUNTS_ENV, "").split(",") if name.strip()}


def pod_mutation_hook(pod: Any) -> None:
    """The user's pod_mutation_hook (if any), then refuse a task pod that would run as a protected
    ServiceAccount (see module docstring) — also one the user's hook set.

    Example: a `pod_override` with `service_account_name="<release>-airflow-k8s-scheduler"` fails the task.
    """
    if _user_pod_mutation_hook is not None:
        _user_pod_mutation_hook(pod)
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

"""Typed, frozen configurations of the steps: built by the CLI, or directly by tests and other tools."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from airflow_k8s_hooks.executors import Executor


class OnTimeout(str, Enum):
    """What ``drain`` does when running work outlives ``--timeout``."""

    FAIL = "fail"
    KEEP_OLD_EXECUTOR = "keep-old-executor"


@dataclass(frozen=True)
class Release:
    """Where the release's scheduler and state ConfigMap live."""

    namespace: str
    state_config_map: str
    scheduler_deployment: str


@dataclass(frozen=True)
class PlanConfig:
    release: Release
    to_executors: tuple[Executor, ...]
    to_queues: tuple[str, ...] = ()


@dataclass(frozen=True)
class PreflightConfig:
    to_executors: tuple[Executor, ...]
    to_queues: tuple[str, ...] = ()


@dataclass(frozen=True)
class DrainConfig:
    """``timeout`` bounds the wait for running work; ``scheduler_stop_timeout`` the wait for heartbeats."""

    release: Release
    from_executors: tuple[Executor, ...]
    to_executors: tuple[Executor, ...]
    timeout: float
    on_timeout: OnTimeout = OnTimeout.FAIL
    task_pod_selector: str = "kubernetes_executor=True"
    scheduler_stop_timeout: float | None = None  # None: 2 x [scheduler] scheduler_health_check_threshold
    batch_size: int = 500
    poll_interval: float = 0.5
    # The new release's queues and [kubernetes_executor] pod_template_file: not-started work handed to the
    # KubernetesExecutor gets its queue's template (see routing.py). Empty: no routing.
    to_queues: tuple[str, ...] = ()
    pod_template_file: str = ""


@dataclass(frozen=True)
class MigrateSettingsConfig:
    release: Release
    scheduler_replicas: int
    executors: tuple[Executor, ...]
    retiring: tuple[Executor, ...] = ()
    cleanup_selector: str = ""


@dataclass(frozen=True)
class CleanupConfig:
    namespace: str
    selector: str
    state_config_map: str = ""  # the hooks' own record; Helm does not know it, so uninstall would leave it


@dataclass(frozen=True)
class MigrateValuesConfig:
    file: Path
    to: tuple[Executor, ...]
    output: Path | None = None
    in_place: bool = False

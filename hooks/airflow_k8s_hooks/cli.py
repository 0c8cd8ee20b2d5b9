"""Command line: parse arguments (or ``AIRFLOW_K8S_HOOKS_<FLAG>`` env vars) into a step's frozen config, run
the step, and turn its error into the documented exit code."""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import airflow_k8s_hooks
from airflow_k8s_hooks import errors, metrics
from airflow_k8s_hooks.config import (
    CleanupConfig,
    DrainConfig,
    MigrateSettingsConfig,
    MigrateValuesConfig,
    OnTimeout,
    PlanConfig,
    PreflightConfig,
    Release,
)
from airflow_k8s_hooks.executors import parse_list

ENV_PREFIX = "AIRFLOW_K8S_HOOKS_"
EPILOG = "exit codes: 0 ok; 2 bad usage (the message names the flag); 3 refused, a human must change something " \
         "(pinned work, messages that are not Airflow's, DB or broker rejecting the credentials: fix the Secret; " \
         "a malformed values file, state ConfigMap or connection URL); 4 drain timed out with --on-timeout fail " \
         "(release restored); 70 internal error (a bug: the message names it); 75 retryable (DB/broker/API unreachable)"
TRACEBACK_ENV = ENV_PREFIX + "TRACEBACK"
# Kubernetes object names: a namespace is a DNS-1123 label, ConfigMap and Deployment names DNS-1123 subdomains.
_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad command line in one line (its usage text is one ``--help`` away)."""

    def error(self, message: str) -> NoReturn:
        self.exit(errors.USAGE, f"{self.prog}: bad usage: {' '.join(message.split())} (--help lists the flags)\n")


def _env(flag: str) -> str | None:
    return os.environ.get(ENV_PREFIX + flag.lstrip("-").replace("-", "_").upper())


def _add(p: argparse.ArgumentParser, flag: str, required: bool = True, **kw: Any) -> None:
    """An option whose default comes from ``AIRFLOW_K8S_HOOKS_<FLAG>``; required only when that is unset."""
    env = _env(flag)
    if env is not None:
        kw["default"] = env
    p.add_argument(flag, required=required and env is None, **kw)


def _executors(value: str) -> Any:
    try:
        return parse_list(value)
    except errors.UsageError as e:
        raise argparse.ArgumentTypeError(str(e)) from e


def _executors_or_none(value: str) -> Any:
    return _executors(value) if value.strip() else ()


def _seconds(value: str) -> float:
    """Seconds >= 0 (argparse names the flag in its error)."""
    try:
        n = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {value!r}") from None
    if not math.isfinite(n) or n < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds >= 0, got {value!r}")
    return n


def _count(minimum: int) -> Callable[[str], int]:
    def parse(value: str) -> int:
        try:
            n = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from None
        if n < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {n}")
        return n

    return parse


def _names(value: str) -> tuple[str, ...]:
    """Queue names, comma separated. A queue names a pod template file (``<queue>.yaml``): no paths."""
    names = tuple(v.strip() for v in value.split(",") if v.strip())
    for name in names:
        if name in (".", "..") or not name.isprintable() or any(c in name for c in "/\\ "):
            raise argparse.ArgumentTypeError(f"bad queue name {name!r}: no '/', spaces or control characters")
    return names


def _k8s_name(pattern: re.Pattern[str], limit: int, what: str) -> Callable[[str], str]:
    def parse(value: str) -> str:
        if len(value) > limit or not pattern.fullmatch(value):
            raise argparse.ArgumentTypeError(f"{value!r} is not a Kubernetes {what} (lower case letters, digits "
                                             f"and '-', at most {limit} characters)")
        return value

    return parse


_namespace = _k8s_name(_LABEL, 63, "namespace name")
_object_name = _k8s_name(_SUBDOMAIN, 253, "object name")


def _optional_object_name(value: str) -> str:
    return _object_name(value) if value else value


def _on_timeout(value: str) -> OnTimeout:
    try:
        return OnTimeout(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r}: use {' or '.join(o.value for o in OnTimeout)}") from None


def _absolute_path(value: str) -> str:
    if value and not os.path.isabs(value):
        raise argparse.ArgumentTypeError(f"{value!r} is not an absolute path (Airflow reads it in the scheduler)")
    return value


def _release_args(p: argparse.ArgumentParser) -> None:
    _add(p, "--namespace", type=_namespace, help="namespace of the release")
    _add(p, "--state-configmap", type=_object_name, help="name of the state ConfigMap (created by the hooks)")
    _add(p, "--scheduler-deployment", type=_object_name, help="name of the scheduler Deployment")


def _release(a: argparse.Namespace) -> Release:
    return Release(a.namespace, a.state_configmap, a.scheduler_deployment)


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m airflow_k8s_hooks`` parser."""
    parser = _Parser(prog="python -m airflow_k8s_hooks", description=airflow_k8s_hooks.__doc__,
                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("plan", help="print what an upgrade will do (read-only)", epilog=EPILOG)
    _release_args(p)
    _add(p, "--to-executors", type=_executors, help="executors of the new release, first = default")
    _add(p, "--to-queues", required=False, type=_names, default=(), help="queues of the new release")

    p = sub.add_parser("preflight", help="refuse early when work is pinned to what goes away", epilog=EPILOG)
    _add(p, "--to-executors", type=_executors, help="executors of the new release, first = default")
    _add(p, "--to-queues", required=False, type=_names, default=(), help="queues of the new release")

    p = sub.add_parser("drain", help="stop schedulers, finish or hand back the old executor's work",
                       epilog=EPILOG)
    _release_args(p)
    _add(p, "--from-executors", type=_executors, help="executors of the running release, first = default")
    _add(p, "--to-executors", type=_executors, help="executors of the new release, first = default")
    _add(p, "--timeout", type=_seconds, help="seconds to wait for running work")
    _add(p, "--on-timeout", type=_on_timeout, help="fail | keep-old-executor")
    _add(p, "--task-pod-selector", required=False, default="kubernetes_executor=True",
         help="label selector of KubernetesExecutor task pods")
    _add(p, "--scheduler-stop-timeout", required=False, type=_seconds, default=None,
         help="seconds to wait for scheduler heartbeats to stop (default 2 x health check threshold + 10)")
    _add(p, "--batch-size", required=False, type=_count(1), default=500, help="hand-over DB batch size")
    _add(p, "--to-queues", required=False, type=_names, default=(), help="queues of the new release")
    _add(p, "--pod-template-file", required=False, default="", type=_absolute_path,
         help="the new release's [kubernetes_executor] pod_template_file; its folder holds <queue>.yaml")

    p = sub.add_parser("migrate-settings", help="post-upgrade: restore schedulers, re-point, record state",
                       epilog=EPILOG)
    _release_args(p)
    _add(p, "--scheduler-replicas", type=_count(0), help="scheduler replicas of the new release")
    _add(p, "--executors", type=_executors, help="executors of the new release, first = default")
    _add(p, "--retiring", required=False, type=_executors_or_none, default=(), help="old executors kept to finish")
    _add(p, "--cleanup-selector", required=False, default="", help="finished pods / PVCs of the old executor")

    p = sub.add_parser("cleanup", help="pre-delete: remove task pods the executor left", epilog=EPILOG)
    _add(p, "--namespace", type=_namespace, help="namespace of the release")
    _add(p, "--selector", help="label selector of the release's task pods")
    _add(p, "--state-configmap", required=False, default="", type=_optional_object_name,
         help="the hooks' state ConfigMap, deleted too")

    p = sub.add_parser("migrate-values", help="rewrite a values file for another executor, print a diff",
                       epilog=EPILOG)
    p.add_argument("file", type=Path)
    p.add_argument("--to", required=True, type=_executors, help="executor list of the new values")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--output", type=Path, help="write the result here (default: print only the diff)")
    out.add_argument("--in-place", action="store_true", help="rewrite FILE")
    return parser


def _kube() -> Any:
    from airflow_k8s_hooks.clients.kube import KubeApi

    return KubeApi()


def _run(a: argparse.Namespace, kube_factory: Callable[[], Any]) -> None:
    if a.command != "migrate-values":  # runs on the user's machine, without Airflow
        from airflow_k8s_hooks.clients import db

        db.load_airflow()
    if a.command == "plan":
        from airflow_k8s_hooks import plan

        plan.run(PlanConfig(_release(a), a.to_executors, tuple(a.to_queues)), kube_factory())
    elif a.command == "preflight":
        from airflow_k8s_hooks import preflight

        preflight.run(PreflightConfig(a.to_executors, tuple(a.to_queues)))
    elif a.command == "drain":
        from airflow_k8s_hooks import drain

        drain.run(DrainConfig(
            _release(a), a.from_executors, a.to_executors, timeout=a.timeout, on_timeout=a.on_timeout,
            task_pod_selector=a.task_pod_selector, scheduler_stop_timeout=a.scheduler_stop_timeout,
            batch_size=a.batch_size, to_queues=tuple(a.to_queues), pod_template_file=a.pod_template_file),
            kube_factory())
    elif a.command == "migrate-settings":
        from airflow_k8s_hooks import migrate_settings

        migrate_settings.run(MigrateSettingsConfig(
            _release(a), a.scheduler_replicas, a.executors, tuple(a.retiring), a.cleanup_selector), kube_factory())
    elif a.command == "cleanup":
        from airflow_k8s_hooks import cleanup

        cleanup.run(CleanupConfig(a.namespace, a.selector, a.state_configmap), kube_factory())
    elif a.command == "migrate-values":
        from airflow_k8s_hooks import migrate_values

        migrate_values.run(MigrateValuesConfig(a.file, a.to, a.output, a.in_place))


def main(argv: Sequence[str] | None = None, kube_factory: Callable[[], Any] = _kube) -> int:
    """Run one command; returns the exit code (see the package docstring).

    Example:
        >>> main(["preflight", "--to-executors", "KubernetesExecutor"])  # doctest: +SKIP
        0
    """
    args = build_parser().parse_args(argv)
    start, kind = time.monotonic(), "internal error"
    try:
        _run(args, kube_factory)
        kind = "ok"
    except errors.HookError as e:
        kind = {errors.TEMPFAIL: "retryable", errors.DRAIN_TIMEOUT: "timed out",
                errors.USAGE: "usage"}.get(e.exit_code, "refused")
        _say(args.command, kind, str(e))
        return e.exit_code
    except Exception as e:  # a bug, not an input: one line (the traceback on request), never exit 1
        if os.environ.get(TRACEBACK_ENV):
            raise
        _say(args.command, kind, f"{type(e).__name__}: {e} (a bug in the hooks; set {TRACEBACK_ENV}=1 "
             "for the traceback)")
        return errors.INTERNAL
    finally:
        if args.command != "migrate-values":  # runs on the user's machine, without Airflow's [metrics]
            metrics.step_finished(args.command, kind, time.monotonic() - start)
    return errors.OK


def _say(command: str, kind: str, message: str) -> None:
    """One line on stderr, whatever the message holds (stderr escapes what it cannot encode)."""
    line = " ".join(part.strip() for part in message.splitlines() if part.strip())
    print(f"[{command}] {kind}: {line}", file=sys.stderr, flush=True)

"""``migrate-values FILE --to EXECUTOR``: rewrite a chart values file for other executors, keeping comments
and key order (ruamel.yaml round trip), and print a unified diff plus what a human should still decide.

Queues (``workers.queues.<name>``) are shared by Celery workers and KubernetesExecutor task pods, so their
node types carry over as they are; what changes is ``executor``, ``redis.enabled``, and the advice about
Celery-only sizes (``celery.resources`` sized a whole worker running ``concurrency`` tasks, not one pod).
Runs on the user's machine: ruamel.yaml is imported lazily, the hook Jobs never need it.
"""

from __future__ import annotations

import difflib
import io
import re
from dataclasses import dataclass
from typing import Any

from airflow_k8s_hooks import progress
from airflow_k8s_hooks.config import MigrateValuesConfig
from airflow_k8s_hooks.errors import Refused
from airflow_k8s_hooks.executors import CELERY, Executor, as_list, parse_list

STEP = "migrate-values"


@dataclass(frozen=True)
class Result:
    """The rewritten text and the advice printed with it."""

    text: str
    notes: tuple[str, ...]


def _yaml() -> Any:
    from ruamel.yaml import YAML

    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.width = 4096
    return y


def per_task(quantity: Any, concurrency: int) -> str | None:
    """A Celery worker's CPU/memory divided by its concurrency, as a task pod suggestion.

    Example:
        >>> per_task("4", 8), per_task("8Gi", 4), per_task("500m", 2)
        ('500m', '2Gi', '250m')
    """
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(m|Ki|Mi|Gi|Ti)?", str(quantity).strip())
    if not m or concurrency < 1:
        return None
    value, unit = float(m.group(1)), m.group(2) or ""
    if unit in ("", "m"):
        milli = value * (1000 if unit == "" else 1) / concurrency
        return f"{round(milli)}m"
    mib = value * {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024, "Ti": 1024 * 1024}[unit] / concurrency
    return f"{mib / 1024:g}Gi" if mib >= 1024 and (mib / 1024).is_integer() else f"{round(mib)}Mi"


def rewrite(text: str, to: tuple[Executor, ...]) -> Result:
    """Rewrite values ``text`` for executors ``to``; comments, quotes and order are kept.

    Example:
        >>> r = rewrite('executor: "CeleryExecutor"  # the executor\\n', parse_list("KubernetesExecutor"))
        >>> r.text
        'executor: "KubernetesExecutor"  # the executor\\n'
    """
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString, SingleQuotedScalarString

    y = _yaml()
    data = y.load(text)
    if data is None or not hasattr(data, "get"):
        raise Refused("the values file is not a YAML mapping")
    old = parse_list(str(data.get("executor") or "CeleryExecutor"))
    celery_before = any(e.kind == CELERY for e in old)
    celery_after = any(e.kind == CELERY for e in to)
    notes: list[str] = []
    current = data.get("executor")
    # Keep the file's quoting of the value: the diff shows only what changed.
    quoted = type(current) if isinstance(current, DoubleQuotedScalarString | SingleQuotedScalarString) else str
    data["executor"] = quoted(as_list(to))
    # The chart runs its Redis only while a Celery executor is configured (redis.enabled is a gate):
    # adding Celery needs it on unless an external broker is set; removing Celery leaves the value alone.
    external = bool((data.get("celery") or {}).get("brokerSecret"))
    redis = data.get("redis")
    if celery_after and not celery_before and not external and not (redis or {}).get("enabled", False):
        if redis is None:
            data["redis"] = {"enabled": True}
        else:
            redis["enabled"] = True
        notes.append("redis.enabled: true (Celery added, no celery.brokerSecret)")
    if celery_before and not celery_after:
        notes.append("Celery removed: the chart stops running Redis and the Celery workers; the pre-upgrade "
                     "drain hands their queued tasks back first")
    workers = data.get("workers") or {}
    defaults = workers.get("celery") or {}
    if celery_before and not celery_after and defaults.get("resources"):
        notes.append(f"workers.celery.resources ({dict(defaults['resources'])}) sized a whole Celery worker; "
                     f"task pods use workers.resources ({dict(workers.get('resources') or {}) or 'unset'})")
    for name, q in (workers.get("queues") or {}).items():
        celery = (q or {}).get("celery") or {}
        if celery_before and not celery_after and celery:
            notes.extend(_celery_notes(str(name), q, celery, int(defaults.get("concurrency") or 16)))
        if celery_after and not celery_before and not celery:
            notes.append(f"workers.queues.{name}: no `celery` block: its worker uses the chart defaults "
                         "(replicas, concurrency); set celery.replicas/concurrency to size it")
    buf = io.StringIO()
    y.dump(data, buf)
    return Result(buf.getvalue(), tuple(notes))


def _celery_notes(name: str, q: Any, celery: Any, default_concurrency: int) -> list[str]:
    notes = [f"workers.queues.{name}.celery.* (replicas, autoscaling, concurrency) is unused without Celery; "
             "node type settings (workerType, nodeSelector, tolerations, affinity) carry over to task pods"]
    res = celery.get("resources") or {}
    concurrency = int(celery.get("concurrency") or default_concurrency)
    if res and not q.get("resources"):
        sizes = {kind: {k: per_task(v, concurrency) for k, v in (res.get(kind) or {}).items()}
                 for kind in ("requests", "limits") if res.get(kind)}
        notes.append(f"workers.queues.{name}.celery.resources sized a whole worker running {concurrency} tasks, "
                     f"not one task pod: consider workers.queues.{name}.resources: {sizes}")
    return notes


def run(cfg: MigrateValuesConfig) -> Result:
    """Read ``cfg.file``, print the diff and notes, write when asked.

    Example:
        >>> run(MigrateValuesConfig(Path("values.yaml"), parse_list("KubernetesExecutor")))  # doctest: +SKIP
    """
    original = cfg.file.read_text()
    result = rewrite(original, cfg.to)
    diff = difflib.unified_diff(original.splitlines(keepends=True), result.text.splitlines(keepends=True),
                                fromfile=str(cfg.file), tofile=str(cfg.output or cfg.file))
    print("".join(diff), end="", flush=True)
    for note in result.notes:
        progress.say(STEP, note)
    target = cfg.file if cfg.in_place else cfg.output
    if target is not None:
        target.write_text(result.text)
        progress.say(STEP, f"wrote {target}")
    return result

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
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow_k8s_hooks import progress
from airflow_k8s_hooks.config import MigrateValuesConfig
from airflow_k8s_hooks.errors import Refused, UsageError
from airflow_k8s_hooks.executors import CELERY, KUBERNETES, Executor, as_list, parse_list

STEP = "migrate-values"
# The chart's default ``executor`` (chart/values.yaml): what a values file without the key runs.
CHART_DEFAULT_EXECUTOR = KUBERNETES


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

    data = _load(text)
    old = _file_executors(data.get("executor"))
    celery_before = any(e.kind == CELERY for e in old)
    celery_after = any(e.kind == CELERY for e in to)
    notes: list[str] = []
    current = data.get("executor")
    # Keep the file's quoting of the value: the diff shows only what changed.
    quoted = type(current) if isinstance(current, DoubleQuotedScalarString | SingleQuotedScalarString) else str
    data["executor"] = quoted(as_list(to))
    # The chart runs its Redis only while a Celery executor is configured (redis.enabled is a gate):
    # adding Celery needs it on unless an external broker is set; removing Celery leaves the value alone.
    external = bool(_mapping(data.get("celery"), "celery").get("brokerSecret"))
    redis = data.get("redis")
    if celery_after and not celery_before and not external and not _mapping(redis, "redis").get("enabled", False):
        if redis is None:
            data["redis"] = {"enabled": True}
        elif id(redis) in _aliased(data):
            # `redis: *common`: the mapping is also other keys' value; writing into it would change them too.
            data["redis"] = _own_copy(redis)
            data["redis"]["enabled"] = True
        else:
            redis["enabled"] = True
        notes.append("redis.enabled: true (Celery added, no celery.brokerSecret)")
    if celery_before and not celery_after:
        notes.append("Celery removed: the chart stops running Redis and the Celery workers; the pre-upgrade "
                     "drain hands their queued tasks back first")
    workers = _mapping(data.get("workers"), "workers")
    defaults = _mapping(workers.get("celery"), "workers.celery")
    default_resources = _mapping(defaults.get("resources"), "workers.celery.resources")
    if celery_before and not celery_after and default_resources:
        notes.append(f"workers.celery.resources ({dict(default_resources)}) sized a whole Celery worker; "
                     f"task pods use workers.resources ({dict(workers.get('resources') or {}) or 'unset'})")
    for name, q in _mapping(workers.get("queues"), "workers.queues").items():
        key = f"workers.queues.{name}"
        celery = _mapping(_mapping(q, key).get("celery"), f"{key}.celery")
        if celery_before and not celery_after and celery:
            concurrency = _count(defaults.get("concurrency"), "workers.celery.concurrency", 16)
            notes.extend(_celery_notes(str(name), _mapping(q, key), celery, concurrency))
        if celery_after and not celery_before and not celery:
            notes.append(f"workers.queues.{name}: no `celery` block: its worker uses the chart defaults "
                         "(replicas, concurrency); set celery.replicas/concurrency to size it")
    buf = io.StringIO()
    _yaml().dump(data, buf)
    return Result(buf.getvalue(), tuple(notes))


def _celery_notes(name: str, q: Any, celery: Any, default_concurrency: int) -> list[str]:
    notes = [f"workers.queues.{name}.celery.* (replicas, autoscaling, concurrency) is unused without Celery; "
             "node type settings (workerType, nodeSelector, tolerations, affinity) carry over to task pods"]
    res = _mapping(celery.get("resources"), f"workers.queues.{name}.celery.resources")
    concurrency = _count(celery.get("concurrency"), f"workers.queues.{name}.celery.concurrency", default_concurrency)
    if res and not q.get("resources"):
        sizes = {kind: {k: per_task(v, concurrency)
                        for k, v in _mapping(res.get(kind), f"workers.queues.{name}.celery.resources.{kind}").items()}
                 for kind in ("requests", "limits") if res.get(kind)}
        notes.append(f"workers.queues.{name}.celery.resources sized a whole worker running {concurrency} tasks, "
                     f"not one task pod: consider workers.queues.{name}.resources: {sizes}")
    return notes


def _load(text: str) -> Any:
    """Parse values ``text`` (one YAML mapping); a syntax error, a duplicate key or a tab names its line."""
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    try:
        y = _yaml()
        if _contains_itself(y.compose(text)):
            raise Refused("an anchor's value contains an alias of itself (`a: &a [*a]`), which Helm refuses too; "
                          "the values file was not changed")
        data = y.load(text)
    except MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        what = " ".join(" ".join(str(t) for t in (e.context, e.problem) if t).split()) or "not valid YAML"
        raise Refused(f"{where}{what} (fix the values file; it was not changed)") from None
    except RecursionError:
        raise Refused("not valid YAML: nested too deeply; the values file was not changed") from None
    except YAMLError as e:
        raise Refused(f"not valid YAML ({type(e).__name__}); the values file was not changed") from None
    if data is None or not isinstance(data, Mapping):
        raise Refused("the values file is not a YAML mapping (key: value lines); it was not changed")
    return data


def _contains_itself(root: Any) -> bool:
    """Whether a composed YAML node graph has a cycle (an alias inside its own anchor's value)."""
    from ruamel.yaml.nodes import MappingNode, SequenceNode

    def children(node: Any) -> list[Any]:
        if isinstance(node, MappingNode):
            return [n for pair in node.value for n in pair]
        return list(node.value) if isinstance(node, SequenceNode) else []

    done: set[int] = set()

    def visit(node: Any, path: set[int]) -> bool:
        if id(node) in path:
            return True
        if id(node) in done:
            return False
        path.add(id(node))
        found = any(visit(c, path) for c in children(node))
        path.discard(id(node))
        done.add(id(node))
        return found

    return root is not None and visit(root, set())


def _file_executors(value: Any) -> tuple[Executor, ...]:
    """The file's ``executor``; missing or null means the chart's default."""
    if value is None:
        return parse_list(CHART_DEFAULT_EXECUTOR)
    if not isinstance(value, str):
        raise Refused(f"executor is {_kind(value)}, not a string like \"KubernetesExecutor,CeleryExecutor\"")
    try:
        return parse_list(value)
    except UsageError as e:
        raise Refused(f"executor: {e}") from None


def _mapping(value: Any, key: str) -> Mapping[Any, Any]:
    """``value`` when it is a mapping, {} when it is unset; anything else names ``key``."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise Refused(f"{key} is {_kind(value)}, not a mapping: the chart would refuse it too")
    return value


def _count(value: Any, key: str, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise Refused(f"{key} is {value!r}: the chart expects a whole number >= 1")
    return value


def _kind(value: Any) -> str:
    """How a message names a value's YAML type."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "a list" if isinstance(value, list) else f"a {type(value).__name__}"


def _aliased(data: Any) -> set[int]:
    """ids of the mappings and lists reached more than once from ``data`` (YAML aliases, merge keys)."""
    seen: set[int] = set()
    twice: set[int] = set()
    todo = [data]
    while todo:
        node = todo.pop()
        if not isinstance(node, Mapping | list):
            continue
        if id(node) in seen:
            twice.add(id(node))
            continue
        seen.add(id(node))
        todo.extend(node.values() if isinstance(node, Mapping) else node)
    return twice


def _own_copy(mapping: Any) -> Any:
    """A new mapping with ``mapping``'s items and flow style (its values stay shared, they are not written)."""
    from ruamel.yaml.comments import CommentedMap

    copy = CommentedMap()
    copy.update(mapping.items())
    if getattr(mapping, "fa", None) is not None and mapping.fa.flow_style():
        copy.fa.set_flow_style()
    return copy


def read_values(path: Path) -> str:
    """The values file's text; a missing, unreadable or non-UTF-8 file is refused, naming it.

    Example:
        >>> read_values(Path("/nonexistent.yaml"))  # doctest: +SKIP
        UsageError: /nonexistent.yaml: no such file
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"{path} is a directory, not a values file") from None
    except OSError as e:
        raise UsageError(f"{path}: cannot read it ({e.strerror})") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise Refused(f"{path}: not UTF-8 (line {line}, byte {e.start}); YAML files are UTF-8") from None


def write_values(target: Path, text: str) -> None:
    """Write ``text`` to ``target`` atomically: a failure leaves the old file whole."""
    folder = target.parent
    if not folder.is_dir():
        raise UsageError(f"{target}: folder {folder} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as e:
        raise UsageError(f"{target}: cannot write in {folder} ({e.strerror})") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        if target.exists():
            os.chmod(tmp, target.stat().st_mode & 0o7777)
        os.replace(tmp, target)
    except OSError as e:
        raise UsageError(f"{target}: cannot write it ({e.strerror})") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def run(cfg: MigrateValuesConfig) -> Result:
    """Read ``cfg.file``, print the diff and notes, write when asked; on any error nothing is written.

    Example:
        >>> run(MigrateValuesConfig(Path("values.yaml"), parse_list("KubernetesExecutor")))  # doctest: +SKIP
    """
    original = read_values(cfg.file)
    try:
        result = rewrite(original, cfg.to)
    except Refused as e:
        raise Refused(f"{cfg.file}: {e}") from None
    diff = difflib.unified_diff(original.splitlines(keepends=True), result.text.splitlines(keepends=True),
                                fromfile=str(cfg.file), tofile=str(cfg.output or cfg.file))
    print("".join(diff), end="", flush=True)
    for note in result.notes:
        progress.say(STEP, note)
    target = cfg.file if cfg.in_place else cfg.output
    if target is not None:
        write_values(target, result.text)
        progress.say(STEP, f"wrote {target}")
    return result

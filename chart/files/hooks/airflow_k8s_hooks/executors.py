"""Executor names as ``[core] executor`` spells them, and what a switch between two lists changes."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from airflow_k8s_hooks.errors import UsageError

CELERY = "CeleryExecutor"
KUBERNETES = "KubernetesExecutor"
LOCAL = "LocalExecutor"

# Module paths of the executors Airflow knows by short name; a TI's ``executor`` column may hold either.
_CORE_PATHS = {
    CELERY: "airflow.providers.celery.executors.celery_executor.CeleryExecutor",
    KUBERNETES: "airflow.providers.cncf.kubernetes.executors.kubernetes_executor.KubernetesExecutor",
    LOCAL: "airflow.executors.local_executor.LocalExecutor",
}

_REMOVED = {"CeleryKubernetesExecutor": "CeleryExecutor,KubernetesExecutor",
            "LocalKubernetesExecutor": "LocalExecutor,KubernetesExecutor"}


@dataclass(frozen=True)
class Executor:
    """One entry of ``[core] executor``: ``CeleryExecutor``, ``my.module.Exec`` or ``alias:my.module.Exec``.

    Example:
        >>> Executor.parse("fast:my.pkg.FastExecutor").kind
        'FastExecutor'
        >>> "CeleryExecutor" in Executor.parse("CeleryExecutor").names
        True
    """

    entry: str
    alias: str | None
    path: str

    @classmethod
    def parse(cls, entry: str) -> Executor:
        entry = entry.strip()
        if not entry or entry.count(":") > 1:
            raise UsageError(f"bad executor name {entry!r}: use Name, module.path.Class or alias:module.path.Class")
        alias, _, path = entry.rpartition(":")
        if not path or ("." not in path and path not in _CORE_PATHS):
            # Airflow imports any other name as a module path: a bare unknown name is a typo or gone.
            hint = f" (gone in Airflow 3: use {_REMOVED[path]})" if path in _REMOVED else ""
            raise UsageError(f"unknown executor {entry!r}{hint}: use one of {', '.join(_CORE_PATHS)} or a "
                             "module path (my.pkg.MyExecutor, alias:my.pkg.MyExecutor)")
        return cls(entry=entry, alias=alias or None, path=path)

    @property
    def kind(self) -> str:
        """Class name: what decides how in-flight work is drained."""
        return self.path.rsplit(".", 1)[-1]

    @property
    def names(self) -> frozenset[str]:
        """Every spelling a task's ``executor=`` (and so a TI's ``executor`` column) may use for it."""
        names = {self.entry, self.path, self.kind}
        if self.alias:
            names.add(self.alias)
        if self.kind in _CORE_PATHS and self.path in (self.kind, _CORE_PATHS[self.kind]):
            names |= {self.kind, _CORE_PATHS[self.kind]}
        return frozenset(names)

    @property
    def name(self) -> str:
        """The name to write into ``task_instance.executor``: the alias if any, else the entry as configured."""
        return self.alias or self.path


def parse_list(value: str | Iterable[str]) -> tuple[Executor, ...]:
    """Parse ``A,B`` (first = default) into executors; refuses empties and duplicates.

    Example:
        >>> [e.kind for e in parse_list("KubernetesExecutor,CeleryExecutor")]
        ['KubernetesExecutor', 'CeleryExecutor']
    """
    items = value.split(",") if isinstance(value, str) else list(value)
    executors = tuple(Executor.parse(i) for i in items if i.strip())
    if not executors:
        raise UsageError("an executor list needs at least one executor")
    seen: set[str] = set()
    for e in executors:
        if seen & e.names:
            raise UsageError(f"executor {e.entry!r} is listed twice")
        seen |= e.names
    return executors


def find(executors: Iterable[Executor], name: str | None) -> Executor | None:
    """The executor a TI's ``executor`` column names (None stays None: it means 'the default')."""
    if name is None:
        return None
    return next((e for e in executors if name in e.names), None)


def as_list(executors: Iterable[Executor]) -> str:
    """Back to the comma form ``[core] executor`` and the state ConfigMap use."""
    return ",".join(e.entry for e in executors)


@dataclass(frozen=True)
class Switch:
    """What moving from one executor list to another changes.

    ``draining`` are the old executors whose in-flight work must finish or be handed back before a
    scheduler without them starts: the removed ones. ``default_moved`` is set when the default changes
    but the old default stays configured: TIs with ``executor IS NULL`` in flight on it must be tagged
    with its name, or the new default would reset them (a burned try).

    Example:
        >>> s = Switch.between(parse_list("CeleryExecutor"), parse_list("KubernetesExecutor"))
        >>> [e.kind for e in s.draining], s.changes
        (['CeleryExecutor'], True)
    """

    old: tuple[Executor, ...]
    new: tuple[Executor, ...]

    @classmethod
    def between(cls, old: tuple[Executor, ...], new: tuple[Executor, ...]) -> Switch:
        return cls(old=old, new=new)

    @property
    def old_default(self) -> Executor:
        return self.old[0]

    @property
    def removed(self) -> tuple[Executor, ...]:
        return tuple(e for e in self.old if find(self.new, e.name) is None)

    @property
    def added(self) -> tuple[Executor, ...]:
        return tuple(e for e in self.new if find(self.old, e.name) is None)

    @property
    def draining(self) -> tuple[Executor, ...]:
        return self.removed

    @property
    def default_moved(self) -> bool:
        name = self.old_default.name
        return find(self.new, name) is not None and find(self.new[:1], name) is None

    @property
    def changes(self) -> bool:
        return bool(self.removed or self.added) or self.default_moved

    def owns_null(self, executor: Executor) -> bool:
        """Whether TIs with ``executor IS NULL`` were sent to ``executor`` by the old release."""
        return executor == self.old_default

"""``migrate-settings`` (post-upgrade): make the new executor's configuration whole.

Re-points leftover task instances that name an executor no longer configured, reports config keys only
the old executor understood (the chart owns the config file: it says which values to change), records the
new state for the next upgrade's render, cleans finished task pods / worker PVCs of the old executor, and
makes sure the schedulers are back (Helm 3's three-way merge and Helm 4's server-side apply already undo the
drain's 0 when they apply the release, measured on a cluster; this covers anything else that kept it at 0).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from airflow_k8s_hooks import progress, schedulers
from airflow_k8s_hooks.clients import db
from airflow_k8s_hooks.clients.kube import Kube
from airflow_k8s_hooks.config import MigrateSettingsConfig
from airflow_k8s_hooks.executors import CELERY, KUBERNETES, Executor, as_list, find, parse_list
from airflow_k8s_hooks.state import StateStore

STEP = "migrate-settings"


@dataclass(frozen=True)
class ConfigNote:
    """A config key set by the user that the new executors read differently or not at all."""

    section: str
    key: str
    advice: str

    def line(self) -> str:
        return f"[{self.section}] {self.key}: {self.advice}"


# (section, key or "*") -> advice, when that executor is not configured.
_CELERY_ONLY = {
    ("celery", "worker_concurrency"): "no meaning for KubernetesExecutor (one pod per task): size task pods with "
    "workers.queues.<q>.resources, cap concurrency with [core] parallelism",
    ("celery", "worker_autoscale"): "no meaning without Celery: remove workers.queues.<q>.celery.autoscaling",
    ("celery", "default_queue"): "Airflow 3 reads [operators] default_queue instead: move the value there",
    ("celery", "*"): "read only by CeleryExecutor: remove it from the chart's config values",
    ("celery_broker_transport_options", "*"): "read only by CeleryExecutor: remove it",
    ("logging", "worker_log_server_port"): "Celery workers served task logs; task pods need remote logging "
    "or a shared log volume",
}
_KUBERNETES_ONLY = {
    ("kubernetes_executor", "*"): "read only by KubernetesExecutor: remove it from the chart's config values",
}
_RENAMED = {
    ("kubernetes", "*"): "Airflow 3 reads [kubernetes_executor] instead: move the key there",
}


def config_notes(user_set: Mapping[str, Iterable[str]], executors: tuple[Executor, ...]) -> list[ConfigNote]:
    """Notes for the keys the user set (``{section: keys}``), given the executors now configured.

    Example:
        >>> from airflow_k8s_hooks.executors import parse_list
        >>> [n.line() for n in config_notes({"celery": ["default_queue"]}, parse_list("KubernetesExecutor"))]
        ['[celery] default_queue: Airflow 3 reads [operators] default_queue instead: move the value there']
    """
    kinds = {e.kind for e in executors}
    # Renames apply whatever the executors; the rest only when the executor that read it is gone.
    table = {**_RENAMED, ("celery", "default_queue"): _CELERY_ONLY[("celery", "default_queue")]}
    if CELERY not in kinds:
        table = {**_CELERY_ONLY, **table}
    if KUBERNETES not in kinds:
        table.update(_KUBERNETES_ONLY)
    out = []
    for section, keys in sorted(user_set.items()):
        for key in sorted(keys):
            advice = table.get((section, key)) or table.get((section, "*"))
            if advice:
                out.append(ConfigNote(section, key, advice))
    return out


def user_set_config() -> dict[str, list[str]]:
    """Keys of this environment's Airflow config that come from the user (file, env, secrets), not defaults."""
    from airflow.configuration import conf

    out: dict[str, list[str]] = {}
    for section, items in conf.as_dict(display_source=True, display_sensitive=True).items():
        for key, value in items.items():
            current, source = value if isinstance(value, tuple) else (value, "")
            # Airflow writes every default into a fresh airflow.cfg: only a value that differs was set.
            if source and source != "default" and str(current) != str(conf.get_default_value(section, key)):
                out.setdefault(section, []).append(key)
    return out


def stale_executor_names(in_use: Iterable[str], configured: tuple[Executor, ...]) -> list[str]:
    """Names in TIs' ``executor`` column that no configured executor answers to.

    Example:
        >>> from airflow_k8s_hooks.executors import parse_list
        >>> stale_executor_names(["CeleryExecutor", "KubernetesExecutor"], parse_list("KubernetesExecutor"))
        ['CeleryExecutor']
    """
    return sorted(n for n in set(in_use) if find(configured, n) is None)


def _unique(executors: Iterable[Executor]) -> tuple[Executor, ...]:
    out: list[Executor] = []
    for e in executors:
        if find(out, e.name) is None:
            out.append(e)
    return tuple(out)


def retiring_after(flag: tuple[Executor, ...], recorded: tuple[Executor, ...], drain_phase: str,
                   configured: tuple[Executor, ...]) -> tuple[Executor, ...]:
    """Old executors still holding work, to record for the next render.

    The chart passes ``--retiring`` at render time, before it can know how the drain ends; when this
    upgrade's drain recorded its outcome (``done``: nothing left, ``kept-old``: its ``retiring``), that
    measurement wins. Only executors the release still configures can be retiring.

    Example:
        >>> from airflow_k8s_hooks.executors import parse_list
        >>> c = parse_list("KubernetesExecutor,CeleryExecutor")
        >>> retiring_after(parse_list("CeleryExecutor"), (), "done", c)
        ()
        >>> [e.entry for e in retiring_after(parse_list("CeleryExecutor"), (), "", c)]
        ['CeleryExecutor']
    """
    source = recorded if drain_phase in ("done", "kept-old") else (*flag, *recorded)
    return _unique(e for e in source if find(configured, e.name) is not None)


def run(cfg: MigrateSettingsConfig, kube: Kube) -> None:
    """Re-point leftovers, report config, record state, clean up, scale the schedulers back.

    Example:
        >>> run(MigrateSettingsConfig(release, 2, parse_list("KubernetesExecutor")), KubeApi())  # doctest: +SKIP
    """
    store = StateStore(kube, cfg.release.namespace, cfg.release.state_config_map)
    state = store.load()
    configured = _unique((*cfg.executors, *cfg.retiring))
    recorded = parse_list(state.retiring) if state.retiring else ()
    retiring = retiring_after(cfg.retiring, recorded, state.drain_phase, configured)
    requested = tuple(e for e in configured if find(cfg.retiring, e.name) is None)
    with db.session() as s:
        stale = stale_executor_names(db.executor_names_in_use(s), configured)
        # Waiting TIs cannot be executing: safe to send to the default. In-flight ones are only reported.
        moved = db.repoint(s, stale, db.WAITING)
    if stale:
        progress.say(STEP, f"{moved} waiting task instances named {', '.join(stale)} (not configured): "
                     "re-pointed to the default executor")
        with db.session() as s:
            stuck = [c for c in db.ti_counts(s, db.IN_FLIGHT) if c.executor in stale]
        for c in stuck:
            progress.warn(STEP, f"{c.count} {c.state} task instances on queue {c.queue} name executor "
                          f"{c.executor}, which is gone: the scheduler resets them when their heartbeat expires")
    for note in config_notes(user_set_config(), cfg.executors):
        progress.say(STEP, f"config: {note.line()}")
    state = store.save(state.but(executors=as_list(configured), retiring=as_list(retiring) if retiring else "",
                                 requested=as_list(requested),
                                 drain_phase="", drain_target="", drain_queues=(), drain_consumers=()))
    progress.say(STEP, f"state recorded: executors={state.executors} retiring={state.retiring or '-'}")
    if cfg.cleanup_selector:
        _cleanup(cfg, kube, bool(retiring))
    schedulers.restore(kube, cfg.release, state, cfg.scheduler_replicas)


def _cleanup(cfg: MigrateSettingsConfig, kube: Kube, retiring: bool) -> None:
    ns, sel = cfg.release.namespace, cfg.cleanup_selector
    pods = [p for p in kube.list_pods(ns, sel) if p.phase in ("Succeeded", "Failed")]
    for p in pods:
        kube.delete_pod(ns, p.name)
    pvcs = [] if retiring else kube.list_pvcs(ns, sel)  # retiring workers still use theirs
    for name in pvcs:
        kube.delete_pvc(ns, name)
    progress.say(STEP, f"cleaned {len(pods)} finished pods and {len(pvcs)} PVCs matching {sel}")

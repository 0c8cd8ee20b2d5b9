"""``plan``: read the live state and print what an upgrade to ``--to-executors`` will do. Changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from airflow_k8s_hooks import preflight, progress
from airflow_k8s_hooks.clients import db
from airflow_k8s_hooks.clients.broker import Broker
from airflow_k8s_hooks.clients.kube import Kube
from airflow_k8s_hooks.config import PlanConfig
from airflow_k8s_hooks.errors import HookError
from airflow_k8s_hooks.executors import CELERY, Executor, Switch, as_list, find, parse_list
from airflow_k8s_hooks.state import State, StateStore

STEP = "plan"


@dataclass(frozen=True)
class Plan:
    """The decisions ``plan`` prints (pure data, computed by :func:`compute`)."""

    live: tuple[Executor, ...]
    switch: Switch
    in_flight: dict[str, dict[str, int]]  # executor entry -> "queue state" -> count
    unknown: dict[str, int]  # TIs naming an executor that is not live: name -> count
    actions: tuple[str, ...]
    findings: tuple[preflight.Finding, ...] = ()
    depths: dict[str, int] = field(default_factory=dict)


def compute(live: tuple[Executor, ...], to: tuple[Executor, ...], counts: list[db.TiCount], state: State,
            depths: dict[str, int], findings: list[preflight.Finding]) -> Plan:
    """Decide what the upgrade does, from counts already read.

    Example:
        >>> p = compute(parse_list("CeleryExecutor"), parse_list("KubernetesExecutor"), [], State(), {}, [])
        >>> p.actions[0]
        'executors: CeleryExecutor -> KubernetesExecutor (removed: CeleryExecutor; added: KubernetesExecutor)'
    """
    switch = Switch.between(live, to)
    in_flight: dict[str, dict[str, int]] = {}
    unknown: dict[str, int] = {}
    for c in counts:
        e = live[0] if c.executor is None else find(live, c.executor)
        if e is None:
            unknown[str(c.executor)] = unknown.get(str(c.executor), 0) + c.count
            continue
        key = f"{c.queue} {c.state}"
        in_flight.setdefault(e.entry, {})[key] = in_flight.setdefault(e.entry, {}).get(key, 0) + c.count
    actions = [f"executors: {as_list(live)} -> {as_list(to)} (removed: {as_list(switch.removed) or '-'}; "
               f"added: {as_list(switch.added) or '-'})"]
    if state.retiring:
        actions.append(f"retiring from an earlier upgrade: {state.retiring}")
    if findings:
        actions.append(f"preflight will REFUSE: {len(findings)} pinned task(s) (listed below)")
    if not switch.changes:
        actions.append("no drain: the executors do not change")
    for e in switch.draining:
        mine = in_flight.get(e.entry, {})
        running = sum(n for k, n in mine.items() if not k.endswith(" queued") and not k.endswith(" scheduled"))
        queued = sum(n for k, n in mine.items() if k.endswith(" queued"))
        waiting = sum(n for k, n in mine.items() if k.endswith(" scheduled"))
        how = "broker messages" if e.kind == CELERY else "pending task pods" if e.kind != "LocalExecutor" else "rows"
        actions.append(f"drain {e.entry}: stop schedulers, wait for {running} running, hand {queued} queued back "
                       f"({how}); {waiting} scheduled go to {to[0].entry}")
    if switch.default_moved:
        actions.append(f"default moves {switch.old_default.entry} -> {to[0].entry}: in-flight TIs of the old "
                       "default are tagged with its name")
    for name, n in unknown.items():
        actions.append(f"{n} unfinished TIs name executor {name!r}, not live: migrate-settings re-points them")
    return Plan(live, switch, in_flight, unknown, tuple(actions), tuple(findings), depths)


def render(p: Plan) -> list[str]:
    """Human-readable lines of a plan."""
    lines = list(p.actions)
    for entry, rows in sorted(p.in_flight.items()):
        lines.append(f"{entry}: " + (", ".join(f"{k}={n}" for k, n in sorted(rows.items())) or "idle"))
    if p.depths:
        lines.append("broker queue depths: " + ", ".join(f"{q}={n}" for q, n in sorted(p.depths.items())))
    lines += [f"  - {f.line()}" for f in p.findings]
    return lines


def run(cfg: PlanConfig, kube: Kube, broker_factory: Callable[[], Broker] = Broker.from_airflow) -> Plan:
    """Read state ConfigMap, DB aggregates and broker depths; print the plan.

    Example:
        >>> run(PlanConfig(release, parse_list("KubernetesExecutor")), KubeApi())  # doctest: +SKIP
    """
    from airflow.configuration import conf

    state = StateStore(kube, cfg.release.namespace, cfg.release.state_config_map).load()
    source = "state ConfigMap" if state.executors else "[core] executor of this environment"
    live = parse_list(state.executors or conf.get("core", "executor"))
    with db.session() as s:
        counts = db.ti_counts(s, [*db.IN_FLIGHT, db.SCHEDULED])
    findings = preflight.gather(cfg.to_executors, cfg.to_queues)
    depths: dict[str, int] = {}
    if any(e.kind == CELERY for e in live):
        queues = {c.queue for c in counts if c.queue} | set(cfg.to_queues) | set(state.drain_queues)
        queues.add(conf.get("operators", "default_queue"))
        try:
            with broker_factory() as b:
                depths = {q: b.depth(q) for q in sorted(queues)}
        except HookError as e:
            progress.warn(STEP, f"broker depths unavailable: {e}")
    p = compute(live, cfg.to_executors, counts, state, depths, findings)
    progress.say(STEP, f"live executors from the {source}: {as_list(live)}")
    for line in render(p):
        progress.say(STEP, line)
    return p

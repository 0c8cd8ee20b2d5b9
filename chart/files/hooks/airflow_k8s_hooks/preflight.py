"""``preflight``: refuse an upgrade, before anything is stopped, when the new executors or queues cannot
run existing work: DAG tasks or task instances pinned to an executor or queue that will no longer exist."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from airflow_k8s_hooks import progress
from airflow_k8s_hooks.clients import db
from airflow_k8s_hooks.config import PreflightConfig
from airflow_k8s_hooks.errors import Refused
from airflow_k8s_hooks.executors import Executor, as_list, find

STEP = "preflight"
CHECKED_STATES = (*db.IN_FLIGHT, *db.WAITING)


@dataclass(frozen=True)
class Finding:
    """One pinned task: where it was found and what to change.

    Example:
        >>> Finding("etl", "load", "executor", "CeleryExecutor", "DAG definition").line()
        "etl.load: executor='CeleryExecutor' (DAG definition)"
    """

    dag_id: str
    task_id: str
    what: str  # "executor" | "queue"
    value: str
    where: str

    def line(self) -> str:
        return f"{self.dag_id}.{self.task_id}: {self.what}={self.value!r} ({self.where})"


def findings(
    tasks: Iterable[tuple[str, str, str | None, str | None]],
    tis: Iterable[tuple[str, str, str | None, str | None, str, int]],
    to_executors: tuple[Executor, ...],
    to_queues: tuple[str, ...],
    default_queue: str,
) -> list[Finding]:
    """Pinned work the new configuration cannot run (pure: the caller reads the DB).

    ``tasks`` are (dag_id, task_id, executor, queue) from serialized DAGs; ``tis`` aggregated unfinished
    TIs (dag_id, task_id, executor, queue, state, count). Queues are checked only when ``to_queues`` is
    given; the default queue always exists.

    Example:
        >>> from airflow_k8s_hooks.executors import parse_list
        >>> [f.line() for f in findings([("etl", "load", "CeleryExecutor", None)], [],
        ...                             parse_list("KubernetesExecutor"), (), "default")]
        ["etl.load: executor='CeleryExecutor' (DAG definition)"]
    """
    queues = set(to_queues) | {default_queue}
    out: dict[tuple[str, str, str, str], list[str]] = {}

    def check(dag_id: str, task_id: str, executor: str | None, queue: str | None, where: str, dag: bool) -> None:
        # A TI's executor alone is no pin: the drain hands in-flight ones to the new default and
        # migrate-settings re-points waiting ones. Only the DAG's own `executor=` would come back.
        pinned = (dag_id, task_id, "executor", executor)
        if executor is not None and find(to_executors, executor) is None and (dag or pinned in out):
            out.setdefault(pinned, []).append(where)  # type: ignore[arg-type]
        if to_queues and queue is not None and queue not in queues:
            out.setdefault((dag_id, task_id, "queue", queue), []).append(where)

    for dag_id, task_id, executor, queue in tasks:
        check(dag_id, task_id, executor, queue, "DAG definition", dag=True)
    for dag_id, task_id, executor, queue, state, n in tis:
        check(dag_id, task_id, executor, queue, f"{n} task instance{'s' if n > 1 else ''} {state}", dag=False)
    return [Finding(*k, "; ".join(v)) for k, v in sorted(out.items())]


def advice(found: list[Finding], to_executors: tuple[Executor, ...], to_queues: tuple[str, ...]) -> str:
    """What to change, for the refusal message."""
    lines = [f"  - {f.line()}" for f in found]
    fix = []
    if any(f.what == "executor" for f in found):
        fix.append(f"remove `executor=` from these tasks (or name one of {as_list(to_executors)}), or keep "
                   "that executor in the values' `executor` list")
    if any(f.what == "queue" for f in found):
        fix.append(f"move these tasks to one of the queues {', '.join(to_queues)}, or add their queue under "
                   "`workers.queues`")
    return "\n".join([f"{len(found)} task(s) are pinned to what the new configuration removes:", *lines,
                      "Change: " + "; ".join(fix) + ". Then re-deploy the DAGs and upgrade again."])


def gather(to_executors: tuple[Executor, ...], to_queues: tuple[str, ...]) -> list[Finding]:
    """Read serialized DAGs and unfinished TIs; return the findings."""
    from airflow.configuration import conf

    with db.session() as s:
        tasks = list(db.serialized_tasks(s))
        tis = db.pinned_ti_counts(s, CHECKED_STATES)
    return findings(tasks, tis, to_executors, to_queues, conf.get("operators", "default_queue"))


def run(cfg: PreflightConfig) -> list[Finding]:
    """Refuse (exit 3) when work is pinned to an executor or queue the upgrade removes.

    Example:
        >>> run(PreflightConfig(parse_list("KubernetesExecutor"), ("q1", "q2")))  # doctest: +SKIP
        []
    """
    found = gather(cfg.to_executors, cfg.to_queues)
    if found:
        raise Refused(advice(found, cfg.to_executors, cfg.to_queues))
    progress.say(STEP, f"ok: no DAG or task instance pinned outside executors {as_list(cfg.to_executors)}"
                 + (f" and queues {','.join(cfg.to_queues)}" if cfg.to_queues else ""))
    return found

"""The Airflow metadata DB, through Airflow's own models and session (so its configured connection is used).

Every write here is a compare-and-set on ``state``: a row that moved on since it was read is left alone,
which is what makes each step safe to re-run. Nothing deletes rows or touches ``try_number``.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow_k8s_hooks.errors import HookError, Refused, Retryable, masked

QUEUED, RUNNING, RESTARTING, SCHEDULED = "queued", "running", "restarting", "scheduled"
IN_FLIGHT = (QUEUED, RUNNING, RESTARTING)
# States a TI waits in before it is queued again; re-pointing its executor cannot race an execution.
WAITING = ("scheduled", "up_for_retry", "up_for_reschedule", "deferred")


@dataclass(frozen=True)
class Owner:
    """Which TIs belong to an executor: ``executor`` in ``names``, or NULL when it was the default.

    Example:
        >>> Owner(frozenset({"CeleryExecutor"}), include_null=True)
        Owner(names=frozenset({'CeleryExecutor'}), include_null=True)
    """

    names: frozenset[str]
    include_null: bool


@dataclass(frozen=True)
class TiCount:
    """One aggregate row: how many TIs of (executor, queue, state)."""

    executor: str | None
    queue: str | None
    state: str
    count: int


@dataclass(frozen=True)
class TiKey:
    """Identity of one TI, enough to find its pod and name it in a message."""

    id: uuid.UUID
    dag_id: str
    task_id: str
    run_id: str
    map_index: int
    try_number: int
    queue: str | None
    executor: str | None
    state: str


DB_SETTING = ("[database] sql_alchemy_conn (AIRFLOW__DATABASE__SQL_ALCHEMY_CONN; the chart takes it from the "
              "Secret database.existingSecret, key database.existingSecretKey, or its own with postgresql.enabled)")
# The server answered and said no: wrong user, password, database or access rule (PostgreSQL, MySQL).
_REJECTED = ("password authentication failed", "no pg_hba.conf entry", "access denied for user", "unknown database")
_MISSING = ('role "', 'database "')  # PostgreSQL: ... does not exist


def rejected(message: str) -> bool:
    """Whether a connect error is the server refusing these settings, which a retry cannot change.

    Example:
        >>> rejected('FATAL:  password authentication failed for user "airflow"')
        True
        >>> rejected("connection to server at 127.0.0.1, port 1 failed: Connection refused")
        False
    """
    text = message.lower()
    return any(t in text for t in _REJECTED) or ("does not exist" in text and any(t in text for t in _MISSING))


@contextlib.contextmanager
def reachable(what: str = "metadata DB") -> Iterator[None]:
    """Turn connection-level DB errors into :class:`Retryable` (the Job retries), and a server that rejects
    the credentials into :class:`Refused` (a human fixes the Secret)."""
    from sqlalchemy.exc import DBAPIError, OperationalError

    try:
        yield
    except OperationalError as e:
        detail = str(e.orig or e).strip()
        if rejected(detail):
            raise Refused(f"{what} rejected the connection settings ({detail}): fix the user, password or "
                          f"database name in {DB_SETTING}; retrying with the same Secret cannot help") from e
        raise Retryable(f"{what} unreachable ({detail}): check that it is up and reachable from this "
                        f"namespace, and {DB_SETTING}") from e
    except DBAPIError as e:
        if e.connection_invalidated:
            raise Retryable(f"{what} connection lost: {e.orig or e}") from e
        raise


def load_airflow() -> None:
    """Import Airflow, which reads its configuration and sets up the DB engine; settings it cannot use (a
    malformed ``sql_alchemy_conn``, an unknown driver, a broken airflow.cfg) are refused, naming the setting."""
    try:
        with reachable():  # a connection error here is an outage, as anywhere else
            import airflow  # noqa: F401
    except HookError:
        raise
    except OSError as e:
        raise Retryable(f"Airflow could not start: {masked(str(e))}") from None
    except Exception as e:
        raise Refused(f"Airflow cannot start with this environment's configuration ({type(e).__name__}: "
                      f"{masked(str(e))}): check {DB_SETTING} and the other AIRFLOW__* settings") from None


@contextlib.contextmanager
def session() -> Iterator[Any]:
    """An Airflow ORM session that commits on success; DB outages become :class:`Retryable`."""
    from airflow.utils.session import create_session

    with reachable(), create_session() as s:
        yield s


def _ti() -> Any:
    from airflow.models.taskinstance import TaskInstance

    return TaskInstance


def _owned(owner: Owner) -> Any:
    from sqlalchemy import false, or_

    ti = _ti()
    clauses = [ti.executor.in_(sorted(owner.names))] if owner.names else []
    if owner.include_null:
        clauses.append(ti.executor.is_(None))
    return or_(*clauses) if clauses else false()


def now() -> datetime:
    return datetime.now(timezone.utc)


def ping(s: Any) -> None:
    """One round trip: connects (and authenticates) now rather than at the first real query."""
    from sqlalchemy import text

    s.execute(text("SELECT 1"))


def live_schedulers(s: Any, threshold_s: int) -> list[tuple[int, str | None, float]]:
    """SchedulerJobs RUNNING with a heartbeat newer than ``threshold_s``: (id, hostname, heartbeat age s)."""
    from airflow.jobs.job import Job
    from sqlalchemy import select

    t = now()
    rows = s.execute(
        select(Job.id, Job.hostname, Job.latest_heartbeat).where(
            Job.job_type == "SchedulerJob",
            Job.state == "running",
            Job.latest_heartbeat >= t - timedelta(seconds=threshold_s),
        )
    ).all()
    return [(r.id, r.hostname, (t - r.latest_heartbeat).total_seconds()) for r in rows]


def ti_counts(s: Any, states: Collection[str], owner: Owner | None = None) -> list[TiCount]:
    """Aggregate TIs by (executor, queue, state): one query, cheap on large tables (state is indexed)."""
    from sqlalchemy import func, select

    ti = _ti()
    q = select(ti.executor, ti.queue, ti.state, func.count()).where(ti.state.in_(list(states)))
    if owner is not None:
        q = q.where(_owned(owner))
    rows = s.execute(q.group_by(ti.executor, ti.queue, ti.state)).all()
    return [TiCount(r[0], r[1], r[2], int(r[3])) for r in rows]


def ti_keys(s: Any, states: Collection[str], owner: Owner | None = None, limit: int | None = None) -> list[TiKey]:
    """The TIs in ``states`` (of ``owner``), oldest queued first."""
    from sqlalchemy import select

    ti = _ti()
    q = select(ti.id, ti.dag_id, ti.task_id, ti.run_id, ti.map_index, ti.try_number, ti.queue, ti.executor,
               ti.state).where(ti.state.in_(list(states)))
    if owner is not None:
        q = q.where(_owned(owner))
    q = q.order_by(ti.queued_dttm, ti.id)
    if limit:
        q = q.limit(limit)
    return [TiKey(*r) for r in s.execute(q).all()]


def queues_of(s: Any, states: Collection[str], owner: Owner) -> set[str]:
    """DISTINCT queue of the owner's TIs in ``states``."""
    from sqlalchemy import select

    ti = _ti()
    rows = s.execute(select(ti.queue).where(ti.state.in_(list(states)), _owned(owner)).distinct()).all()
    return {r[0] for r in rows if r[0]}


def hand_back(s: Any, ids: Sequence[uuid.UUID], clear_executor: Collection[str] = ()) -> set[uuid.UUID]:
    """Compare-and-set QUEUED -> SCHEDULED for ``ids``; returns the ids that changed (caller commits).

    Same TI id and try number: the new scheduler queues the very same try. The message or pod that
    belonged to the TI must be removed only after this is committed. An ``executor`` naming one of
    ``clear_executor`` (the executor being drained, e.g. a keep-old-executor tag) becomes NULL, the new
    default: a task pinned to it in its DAG is refused by preflight before any drain.
    """
    from sqlalchemy import case, select, update

    if not ids:
        return set()
    ti = _ti()
    values: dict[str, Any] = {"state": SCHEDULED, "queued_dttm": None, "queued_by_job_id": None,
                              "external_executor_id": None, "scheduled_dttm": now()}
    if clear_executor:
        values["executor"] = case((ti.executor.in_(sorted(clear_executor)), None), else_=ti.executor)
    where = (ti.id.in_(list(ids)), ti.state == QUEUED)
    stmt = update(ti).where(*where).values(**values).execution_options(synchronize_session=False)
    if s.get_bind().dialect.update_returning:
        return set(s.scalars(stmt.returning(ti.id)).all())
    changed = set(s.scalars(select(ti.id).where(*where).with_for_update()).all())
    if changed:
        s.execute(update(ti).where(ti.id.in_(list(changed))).values(**values)
                  .execution_options(synchronize_session=False))
    return changed


def hand_back_callbacks(s: Any, ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Executor callbacks queued on a broker: QUEUED -> PENDING, the state the scheduler picks them from."""
    from airflow.models.callback import Callback
    from sqlalchemy import select, update

    if not ids:
        return set()
    where = (Callback.id.in_(list(ids)), Callback.state == "queued")
    changed = set(s.scalars(select(Callback.id).where(*where).with_for_update()).all())
    if changed:
        s.execute(update(Callback).where(Callback.id.in_(list(changed))).values(state="pending")
                  .execution_options(synchronize_session=False))
    return changed


def missing(s: Any, task_ids: Collection[uuid.UUID], callback_ids: Collection[uuid.UUID]) -> set[uuid.UUID]:
    """The ids with no task_instance / callback row (deleted, a TI alone or with its DAG run); no query for an
    empty list."""
    from airflow.models.callback import Callback
    from sqlalchemy import select

    gone: set[uuid.UUID] = set()
    for column, ids in ((_ti().id, task_ids), (Callback.id, callback_ids)):
        if ids:
            gone |= set(ids) - set(s.scalars(select(column).where(column.in_(list(ids)))).all())
    return gone


def tag_executor(s: Any, owner: Owner, states: Collection[str], name: str) -> int:
    """Set ``executor=name`` on the owner's TIs in ``states`` so that executor adopts them after a restart."""
    from sqlalchemy import update

    ti = _ti()
    stmt = update(ti).where(ti.state.in_(list(states)), _owned(owner)).values(executor=name)
    return int(s.execute(stmt.execution_options(synchronize_session=False)).rowcount or 0)


def repoint(s: Any, stale_names: Collection[str], states: Collection[str]) -> int:
    """``executor=NULL`` (the default) on TIs in ``states`` that name an executor no longer configured."""
    from sqlalchemy import update

    if not stale_names:
        return 0
    ti = _ti()
    stmt = update(ti).where(ti.state.in_(list(states)), ti.executor.in_(list(stale_names))).values(executor=None)
    return int(s.execute(stmt.execution_options(synchronize_session=False)).rowcount or 0)


def not_started_configs(s: Any, owner: Owner, queues: Collection[str]) -> list[tuple[uuid.UUID, str, Any]]:
    """(id, queue, executor_config) of the owner's TIs on ``queues`` that have not started (no state or
    waiting): nothing executes them, so their config can change. ``executor_config`` comes unpickled."""
    from sqlalchemy import or_, select

    ti = _ti()
    rows = s.execute(select(ti.id, ti.queue, ti.executor_config).where(
        or_(ti.state.is_(None), ti.state.in_(list(WAITING))), _owned(owner), ti.queue.in_(list(queues)))).all()
    return [(r[0], r[1], r[2]) for r in rows]


def set_executor_configs(s: Any, configs: dict[uuid.UUID, dict[str, Any]]) -> None:
    """Write ``executor_config`` by TI id through the ORM column (Airflow's own pickling)."""
    from sqlalchemy import update

    if configs:
        s.execute(update(_ti()), [{"id": k, "executor_config": v} for k, v in configs.items()])


def executor_names_in_use(s: Any) -> set[str]:
    """DISTINCT non-null ``executor`` of unfinished TIs."""
    from sqlalchemy import select

    ti = _ti()
    rows = s.execute(select(ti.executor).where(ti.executor.is_not(None), ti.state.in_(
        [*IN_FLIGHT, *WAITING])).distinct()).all()
    return {r[0] for r in rows}


def serialized_tasks(s: Any) -> Iterator[tuple[str, str, str | None, str | None]]:
    """(dag_id, task_id, executor, queue) of every task of the latest serialized version of each live DAG."""
    from airflow.models.dag import DagModel
    from airflow.models.serialized_dag import SerializedDagModel
    from sqlalchemy import func, select

    latest = (select(SerializedDagModel.dag_id, func.max(SerializedDagModel.created_at).label("at"))
              .group_by(SerializedDagModel.dag_id).subquery())
    q = (select(SerializedDagModel)
         .join(latest, (SerializedDagModel.dag_id == latest.c.dag_id)
               & (SerializedDagModel.created_at == latest.c.at))
         .join(DagModel, DagModel.dag_id == SerializedDagModel.dag_id)
         .where(DagModel.is_stale.is_(False)))
    for sdm in s.scalars(q):
        for task in (sdm.data or {}).get("dag", {}).get("tasks", []):
            fields = task.get("__var", task)
            yield sdm.dag_id, fields.get("task_id", "?"), fields.get("executor"), fields.get("queue")


def pinned_ti_counts(s: Any, states: Collection[str]) -> list[tuple[str, str, str | None, str | None, str, int]]:
    """(dag_id, task_id, executor, queue, state, count) of unfinished TIs, aggregated per task."""
    from sqlalchemy import func, select

    ti = _ti()
    q = (select(ti.dag_id, ti.task_id, ti.executor, ti.queue, ti.state, func.count())
         .where(ti.state.in_(list(states)))
         .group_by(ti.dag_id, ti.task_id, ti.executor, ti.queue, ti.state))
    return [(r[0], r[1], r[2], r[3], r[4], int(r[5])) for r in s.execute(q).all()]

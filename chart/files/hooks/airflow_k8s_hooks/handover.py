"""Hand queued work on a Celery broker back to the scheduler, message by message, losing none.

For every message: parse the workload, compare-and-set its TI QUEUED -> SCHEDULED in the DB, commit, and
only then ack. A kill anywhere leaves either the TI still QUEUED with its message on the broker (re-run:
handed back then), or the TI handed back with a stale message (re-run: acked as stale). Batches keep the
order per batch: commit the batch, then ack its messages.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from airflow_k8s_hooks import progress
from airflow_k8s_hooks.clients import db
from airflow_k8s_hooks.clients.broker import Broker, Delivered

STEP = "handover"
CELERY_TASK = "execute_workload"


@dataclass(frozen=True)
class Parsed:
    """What a broker message is: an Airflow task or callback workload, or something else (foreign).

    Example:
        >>> body = [['{"type": "ExecuteTask", "ti": {"id": "0199a0c4-3c4c-7f4e-9a3e-2f6c1d2b3a4f"}}'], {}, {}]
        >>> parse_message("execute_workload", body).kind
        'task'
        >>> parse_message("other.task", body).kind
        'foreign'
    """

    kind: Literal["task", "callback", "foreign"]
    id: uuid.UUID | None = None
    why: str = ""
    label: str = ""  # dag_id.task_id, run and try, when the workload names them


def parse_message(task_name: str | None, body: Any) -> Parsed:
    """Classify a Celery protocol-2 message body ``[args, kwargs, embed]`` (never raises)."""
    if task_name != CELERY_TASK:
        return Parsed("foreign", why=f"Celery task {task_name!r} is not Airflow's {CELERY_TASK!r}")
    try:
        args = body[0]
        workload = json.loads(args[0]) if isinstance(args[0], str | bytes) else args[0]
        if workload.get("ti"):
            return Parsed("task", uuid.UUID(str(workload["ti"]["id"])), label=_label(workload["ti"]))
        if workload.get("callback"):
            return Parsed("callback", uuid.UUID(str(workload["callback"]["id"])))
        return Parsed("foreign", why=f"workload type {workload.get('type')!r} has no task instance or callback")
    except (TypeError, ValueError, KeyError, IndexError, AttributeError) as e:
        return Parsed("foreign", why=f"unreadable workload: {type(e).__name__}: {e}")


def _label(ti: Any) -> str:
    """``dag.task[map] run R try N`` from a workload's TI, as far as it names them."""
    if not isinstance(ti, dict) or "dag_id" not in ti:
        return ""
    index = ti.get("map_index", -1)
    mapped = f"[{index}]" if isinstance(index, int) and index >= 0 else ""
    return f"{ti.get('dag_id')}.{ti.get('task_id')}{mapped} run {ti.get('run_id')} try {ti.get('try_number')}"


def parse_delivered(d: Delivered) -> Parsed:
    """``parse_message`` of a delivered message, whose body may not even decode (never raises)."""
    try:
        body = d.body
    except Exception as e:  # content type kombu refuses, broken encoding: not ours to judge, kept
        return Parsed("foreign", why=f"undecodable body: {type(e).__name__}: {e}")
    return parse_message(d.task_name, body)


@dataclass
class Tally:
    """Counts of one hand-over, per queue."""

    handed_back: dict[str, int] = field(default_factory=dict)
    stale: dict[str, int] = field(default_factory=dict)
    foreign: dict[str, list[str]] = field(default_factory=dict)
    missing: dict[str, int] = field(default_factory=dict)
    leftover: int = 0

    def add(self, which: dict[str, int], queue: str, n: int) -> None:
        if n:
            which[queue] = which.get(queue, 0) + n

    @property
    def total(self) -> int:
        return sum(self.handed_back.values()) + self.leftover


@dataclass(frozen=True)
class Batch:
    """Decisions for one batch of delivered messages: what to CAS, then what to ack and what to keep."""

    task_ids: tuple[uuid.UUID, ...]
    callback_ids: tuple[uuid.UUID, ...]
    to_ack: tuple[Delivered, ...]
    foreign: tuple[tuple[Delivered, str], ...]
    names: dict[uuid.UUID, str] = field(default_factory=dict)  # workload id -> how a log line names it


def plan_batch(delivered: Sequence[Delivered]) -> Batch:
    """Split delivered messages: Airflow workloads are CAS'd then acked; foreign ones are kept, never acked.

    Example:
        >>> plan_batch([]).to_ack
        ()
    """
    tasks: list[uuid.UUID] = []
    callbacks: list[uuid.UUID] = []
    ack: list[Delivered] = []
    foreign: list[tuple[Delivered, str]] = []
    names: dict[uuid.UUID, str] = {}
    for d in delivered:
        p = parse_delivered(d)
        if p.kind == "foreign" or p.id is None:
            foreign.append((d, p.why))
            continue
        (tasks if p.kind == "task" else callbacks).append(p.id)
        names[p.id] = f"{p.kind} {p.label or p.id} (id {p.id}, message {d.celery_id or '?'})"
        ack.append(d)
    return Batch(tuple(dict.fromkeys(tasks)), tuple(dict.fromkeys(callbacks)), tuple(ack), tuple(foreign), names)


@dataclass(frozen=True)
class Committed:
    """What one batch's CAS did: rows handed back, and workload ids with no row at all (deleted)."""

    changed: int
    missing: tuple[uuid.UUID, ...] = ()


Commit = Callable[[Sequence[uuid.UUID], Sequence[uuid.UUID]], Committed]


def commit_batch(task_ids: Sequence[uuid.UUID], callback_ids: Sequence[uuid.UUID],
                 clear_executor: Collection[str] = ()) -> Committed:
    """CAS a batch in one transaction; returns how many rows changed. Commits before returning."""
    with db.session() as s:
        tis = db.hand_back(s, task_ids, clear_executor)
        callbacks = db.hand_back_callbacks(s, callback_ids)
        # Only the unchanged ones can be gone: no query on the usual all-changed batch.
        missing = db.missing(s, set(task_ids) - tis, set(callback_ids) - callbacks)
    return Committed(len(tis) + len(callbacks), tuple(sorted(missing, key=str)))


def drain_queue(broker: Broker, queue: str, tally: Tally, batch_size: int = 500,
                commit: Commit | None = None, clear_executor: Collection[str] = ()) -> None:
    """Take every message of ``queue``: hand its TI back (commit), then ack it; keep foreign ones in place.

    Foreign messages stay unacked until the queue is exhausted (so ``basic_get`` does not return them
    again), then go back to the queue untouched: they are reported, never lost.

    Example:
        >>> with Broker.from_airflow() as b:  # doctest: +SKIP
        ...     t = Tally(); drain_queue(b, "default", t); t.handed_back
        {'default': 12}
    """
    commit = commit or functools.partial(commit_batch, clear_executor=clear_executor)
    held: list[Delivered] = []
    taken: list[Delivered] = []
    try:
        while True:
            taken = broker.take(queue, batch_size)
            if not taken:
                break
            batch = plan_batch(taken)
            done = commit(batch.task_ids, batch.callback_ids)
            # Committed: these messages must now be acked, never put back (a stale message could win /run).
            taken = []
            broker.ack_all(list(batch.to_ack))
            for d, why in batch.foreign:
                held.append(d)
                tally.foreign.setdefault(queue, []).append(f"{d.celery_id or '?'}: {why}")
            stale = len(batch.to_ack) - done.changed - len(done.missing)
            tally.add(tally.handed_back, queue, done.changed)
            tally.add(tally.stale, queue, stale)
            tally.add(tally.missing, queue, len(done.missing))
            progress.say(STEP, f"{queue}: {done.changed} handed back, {stale} stale acked"
                         + (f", {len(done.missing)} without a DB row acked" if done.missing else "")
                         + (f", {len(batch.foreign)} foreign kept" if batch.foreign else ""))
            _say_missing(queue, [batch.names.get(i, str(i)) for i in done.missing])
    finally:
        # Foreign messages, and a batch whose commit failed, go back to the queue untouched.
        for d in [*held, *taken]:
            broker.requeue(d)
    for preview in broker.unreadable(queue):
        tally.foreign.setdefault(queue, []).append(preview)


def _say_missing(queue: str, names: Sequence[str], limit: int = 20) -> None:
    """Name the acked messages whose task instance (or callback) no longer exists: deleted by hand or with
    its DAG run. Nothing can run them (the execution API refuses an unknown TI), and a worker of the removed
    executor must not get them later."""
    for name in names[:limit]:
        progress.warn(STEP, f"{queue}: skipped {name}: not in the metadata DB (deleted); message acked")
    if len(names) > limit:
        progress.warn(STEP, f"{queue}: ... and {len(names) - limit} more without a DB row, acked")


def hand_back_leftovers(owner: db.Owner, tally: Tally, batch_size: int = 500) -> None:
    """QUEUED TIs with no message anywhere (a scheduler died between commit and publish): same CAS."""
    while True:
        with db.session() as s:
            keys = db.ti_keys(s, [db.QUEUED], owner, limit=batch_size)
            changed = db.hand_back(s, [k.id for k in keys], owner.names)
        tally.leftover += len(changed)
        if keys:
            progress.say(STEP, f"{len(changed)} queued task instances without a message handed back")
        if len(keys) < batch_size:
            return


def run(broker: Broker, queues: Iterable[str], owner: db.Owner, batch_size: int = 500,
        restore_orphans: bool = True) -> Tally:
    """Hand back every message on ``queues``, then the QUEUED TIs of ``owner`` left without a message.

    ``restore_orphans`` first puts back messages left unacked by dead consumers; only valid while no
    worker executes or holds anything (checked by the caller).
    """
    tally = Tally()
    if restore_orphans and (n := broker.restore_orphans()):
        progress.say(STEP, f"{n} unacked messages of dead consumers put back on their queues")
    for q in sorted(set(queues)):
        drain_queue(broker, q, tally, batch_size, clear_executor=owner.names)
    if restore_orphans:
        hand_back_leftovers(owner, tally, batch_size)
    return tally

"""``drain``: before an upgrade that removes an executor, let its running work finish and hand its queued
work back to the scheduler, so the new executor runs every task once, as the same try.

Order (the hand-over of ``shared/notes/executor-switch.md``): stop the schedulers; per removed executor,
stop intake (Celery: cancel consumers), wait for running work with a deadline, hand queued work back
(Celery: broker messages; Kubernetes: pending pods), verify nothing is left. On timeout: ``fail`` puts the
release back as it was and exits 4; ``keep-old-executor`` tags in-flight work to the old executor, which
the next release keeps as a secondary executor, and records it as retiring.

Any run can be killed and re-run: each action is checked against the DB/broker/cluster before it is done.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field

from airflow_k8s_hooks import handover, metrics, progress, routing, schedulers
from airflow_k8s_hooks.clients import db
from airflow_k8s_hooks.clients.broker import Broker
from airflow_k8s_hooks.clients.kube import Kube, Pod
from airflow_k8s_hooks.config import DrainConfig, OnTimeout
from airflow_k8s_hooks.errors import DrainTimedOut, HookError, Refused
from airflow_k8s_hooks.executors import CELERY, KUBERNETES, Executor, Switch, as_list
from airflow_k8s_hooks.state import State, StateStore

STEP = "drain"
FINISHED_PHASES = ("Succeeded", "Failed")
TASKS_LEFT = "tasks_left"  # the gauges <prefix>.executor_switch.tasks_left.<queue> (metrics.py)


@dataclass
class Outcome:
    """What a drain did; ``kept`` maps an old executor kept as secondary to its in-flight TI count."""

    handed_back: int = 0
    kept: dict[str, int] = field(default_factory=dict)
    retiring: tuple[Executor, ...] = ()

    def hand_back(self, n: int) -> None:
        """Count ``n`` task instances handed back (and the counter ``executor_switch.handed_back``)."""
        self.handed_back += n
        metrics.incr("handed_back", n)


@dataclass(frozen=True)
class Unfinished:
    """Running work that outlived the deadline, per queue/worker label."""

    executor: Executor
    left: dict[str, int]


def owner_of(switch: Switch, executor: Executor) -> db.Owner:
    """The TIs an old executor is responsible for.

    Example:
        >>> from airflow_k8s_hooks.executors import parse_list
        >>> s = Switch.between(parse_list("CeleryExecutor"), parse_list("KubernetesExecutor"))
        >>> owner_of(s, s.old[0]).include_null
        True
    """
    return db.Owner(executor.names, include_null=switch.owns_null(executor))


def run(cfg: DrainConfig, kube: Kube, broker_factory: Callable[[], Broker] = Broker.from_airflow) -> Outcome:
    """Drain every executor that ``cfg.to_executors`` drops; returns what was done.

    Raises:
        DrainTimedOut: running work outlived ``cfg.timeout`` with ``on_timeout=fail`` (release restored).
        Refused: something needs a human (a foreign scheduler or broker message); release restored.
        Retryable: DB, broker or API unreachable; release restored when possible, re-run resumes.

    Example:
        >>> run(DrainConfig(release, parse_list("CeleryExecutor"), parse_list("KubernetesExecutor"),
        ...                 timeout=3600), KubeApi())  # doctest: +SKIP
    """
    switch = Switch.between(cfg.from_executors, cfg.to_executors)
    outcome = Outcome()
    if not switch.changes:
        progress.say(STEP, f"executors unchanged ({as_list(cfg.to_executors)}): nothing to drain")
        return outcome
    _check_services(switch, broker_factory)
    store = StateStore(kube, cfg.release.namespace, cfg.release.state_config_map)
    state = store.load()
    if not state.exists:
        state = state.but(executors=as_list(cfg.from_executors))
    state = store.save(state.but(drain_target=as_list(cfg.to_executors), drain_phase="stopping"))
    try:
        state = schedulers.stop(kube, cfg.release, store, state, cfg.scheduler_stop_timeout)
        store.save(state.but(drain_phase="stopped"))
        deadline = progress.Deadline(cfg.timeout)
        unfinished: list[Unfinished] = []
        for executor in switch.draining:
            state, left = _drain_one(cfg, switch, executor, store, state, deadline, kube, broker_factory, outcome)
            if left:
                unfinished.append(Unfinished(executor, left))
        if unfinished and cfg.on_timeout is OnTimeout.FAIL:
            _restore(cfg, kube, store, state, broker_factory)
            detail = "; ".join(f"{u.executor.entry}: {_fmt(u.left)}" for u in unfinished)
            raise DrainTimedOut(
                f"running work outlived --timeout {cfg.timeout:.0f}s ({detail}). Nothing was lost or run twice and "
                "the schedulers are back (queued work is queued again as the same try): raise "
                "executorSwitch.drainTimeout, wait for these tasks, or set executorSwitch.onTimeout=keep-old-executor"
            )
        if switch.default_moved:
            _tag_null_to_old_default(switch)
        for u in unfinished:
            handed_back, outcome.kept[u.executor.entry] = _keep_old(cfg, switch, u.executor, broker_factory, state)
            outcome.hand_back(handed_back)
        outcome.retiring = tuple(u.executor for u in unfinished)
        # Before the new scheduler starts: handed-back work keeps the node type and size of its queue.
        routing.run(cfg.to_executors, cfg.pod_template_file, cfg.to_queues, cfg.batch_size)
        retiring = as_list(outcome.retiring) if outcome.retiring else ""
        store.save(state.but(retiring=retiring, drain_phase="kept-old" if unfinished else "done",
                             drain_consumers=()))
    except DrainTimedOut:
        raise
    except Exception:  # any failure, a bug too: the release goes back to how it was, then the error shows
        with contextlib.suppress(Exception):
            _restore(cfg, kube, store, store.load(), broker_factory)
        raise
    _summary(outcome)
    return outcome


def _check_services(switch: Switch, broker_factory: Callable[[], Broker]) -> None:
    """Connect to the DB and the broker before anything stops: unreachable (75) or refusing the credentials
    (3) is reported with the release untouched, not after the schedulers were scaled down."""
    with db.session() as s:
        db.ping(s)
    if any(e.kind == CELERY for e in switch.draining):
        with broker_factory() as broker:
            progress.say(STEP, f"broker {broker.url} reachable")


def _drain_one(cfg: DrainConfig, switch: Switch, executor: Executor, store: StateStore, state: State,
               deadline: progress.Deadline, kube: Kube, broker_factory: Callable[[], Broker],
               outcome: Outcome) -> tuple[State, dict[str, int]]:
    owner = owner_of(switch, executor)
    progress.say(STEP, f"draining {executor.entry} ({deadline.left:.0f}s left)")
    if executor.kind == CELERY:
        return _drain_celery(cfg, owner, store, state, deadline, broker_factory, outcome)
    if executor.kind == KUBERNETES:
        return state, _drain_kubernetes(cfg, owner, deadline, kube, outcome)
    return state, _drain_generic(cfg, owner, deadline, outcome)


# Celery ---------------------------------------------------------------------------------------------------
def _default_queue() -> str:
    from airflow.configuration import conf

    return conf.get("operators", "default_queue")


def _drain_celery(cfg: DrainConfig, owner: db.Owner, store: StateStore, state: State,
                  deadline: progress.Deadline, broker_factory: Callable[[], Broker],
                  outcome: Outcome) -> tuple[State, dict[str, int]]:
    with db.session() as s:
        queues = set(state.drain_queues) | db.queues_of(s, db.IN_FLIGHT, owner) | {_default_queue()}
    with broker_factory() as broker:
        state, _ = _cancel_consumers(broker, store, state, queues)
        queues |= set(state.drain_queues)

        def busy() -> dict[str, int]:
            left = {f"{q} (worker)": sum(w.values()) for q, w in broker.busy().items()}
            with db.session() as s:
                for c in db.ti_counts(s, [db.RUNNING, db.RESTARTING], owner):
                    key = f"{c.queue} ({c.state})"
                    left[key] = left.get(key, 0) + c.count
            return left

        while True:
            left = progress.wait_until(STEP, "running and prefetched Celery tasks", busy, deadline,
                                       interval=cfg.poll_interval, metric=TASKS_LEFT)
            if left:
                return state, left
            # A worker that restarted meanwhile consumes again: cancel, and wait for what it took.
            state, consuming = _cancel_consumers(broker, store, state, queues)
            if not consuming and not broker.busy():
                break
        tally = handover.run(broker, queues, owner, cfg.batch_size, restore_orphans=True)
        outcome.hand_back(tally.total)
        _verify_celery(broker, queues, owner, tally)
    return store.save(state.but(drain_phase="drained")), {}


def _cancel_consumers(broker: Broker, store: StateStore, state: State, queues: set[str]) -> tuple[State, int]:
    """Cancel every consumer every worker reports; record the pairs first (to add them back on failure).

    Returns the new state and how many consumers were active."""
    active = broker.active_queues()
    pairs = {(w, q) for w, qs in active.items() for q in qs}
    new = pairs - set(state.drain_consumers)
    all_queues = set(state.drain_queues) | queues | {q for _, q in pairs}
    if new or all_queues != set(state.drain_queues):
        state = store.save(state.but(drain_consumers=tuple(sorted(set(state.drain_consumers) | pairs)),
                                     drain_queues=tuple(sorted(all_queues))))
    for worker, queue in sorted(pairs):
        broker.cancel_consumer(worker, queue)
    if pairs:
        progress.say(STEP, f"cancelled {len(pairs)} consumers on {len(active)} workers: "
                     f"{', '.join(sorted({q for _, q in pairs}))}")
    return state, len(pairs)


def _verify_celery(broker: Broker, queues: set[str], owner: db.Owner, tally: handover.Tally) -> None:
    depths = {q: broker.depth(q) for q in sorted(queues)}
    foreign = {q: len(v) for q, v in tally.foreign.items()}
    unexpected = {q: n - foreign.get(q, 0) for q, n in depths.items() if n - foreign.get(q, 0) > 0}
    with db.session() as s:
        in_flight = db.ti_counts(s, db.IN_FLIGHT, owner)
    if foreign:
        lines = [f"  {q}: {m}" for q, ms in tally.foreign.items() for m in ms[:20]]
        raise Refused(
            "messages that are not Airflow workloads were left in place on the broker, which this upgrade "
            f"removes ({_fmt(foreign)}):\n" + "\n".join(lines) + "\nConsume or delete them, then upgrade again"
        )
    if unexpected or broker.unacked() or in_flight:
        raise Refused(
            f"broker or DB not empty after the hand-over (queues: {_fmt(unexpected) or 'empty'}, unacked: "
            f"{broker.unacked()}, in flight: {sum(c.count for c in in_flight)}): something outside this "
            "release publishes to the broker or runs tasks; stop it, then upgrade again"
        )
    progress.say(STEP, f"verified: queues {', '.join(sorted(queues))} empty, nothing unacked, "
                 "nothing of the old executor queued or running")


# Kubernetes -----------------------------------------------------------------------------------------------
def _drain_kubernetes(cfg: DrainConfig, owner: db.Owner, deadline: progress.Deadline, kube: Kube,
                      outcome: Outcome) -> dict[str, int]:
    ns = cfg.release.namespace
    handed_back, deleting = _hand_back_pods(cfg, owner, kube)
    outcome.hand_back(handed_back)
    deleting |= {p.name for p in _stale_pods(cfg, kube)}

    def running() -> dict[str, int]:
        with db.session() as s:
            counts = db.ti_counts(s, [db.RUNNING, db.RESTARTING, db.QUEUED], owner)
        left = {f"{c.queue} ({c.state})": c.count for c in counts}
        pods = [p for p in kube.list_pods(ns, cfg.task_pod_selector) if p.name in deleting]
        if pods:
            left["pods being deleted"] = len(pods)
        return left

    left = progress.wait_until(STEP, "running task pods", running, deadline, interval=cfg.poll_interval,
                                metric=TASKS_LEFT)
    if not left:
        progress.say(STEP, "verified: no task pod of the old executor pending, nothing queued or running")
    return left


def match_pods(pods: list[Pod], keys: list[db.TiKey]) -> dict[str, db.TiKey]:
    """Map pod name -> the TI it runs: by the ``task_instance_id`` annotation / workload, else by annotations.

    Example:
        >>> match_pods([], [])
        {}
    """
    by_id = {k.id: k for k in keys}
    by_attrs = {(k.dag_id, k.task_id, k.run_id, str(k.try_number), str(k.map_index)): k for k in keys}
    out: dict[str, db.TiKey] = {}
    for p in pods:
        if p.ti_id is not None:
            if p.ti_id in by_id:
                out[p.name] = by_id[p.ti_id]
            continue
        a = p.annotations
        key = (a.get("dag_id"), a.get("task_id"), a.get("run_id"), a.get("try_number"), a.get("map_index", "-1"))
        if key in by_attrs:
            out[p.name] = by_attrs[key]
    return out


def _hand_back_pods(cfg: DrainConfig, owner: db.Owner, kube: Kube) -> tuple[int, set[str]]:
    """CAS QUEUED -> SCHEDULED first; only for rows that changed delete the pending pod.

    Returns how many TIs were handed back and the pods deleted (waited for until they are gone)."""
    ns = cfg.release.namespace
    with db.session() as s:
        queued = db.ti_keys(s, [db.QUEUED], owner)
    pods = [p for p in kube.list_pods(ns, cfg.task_pod_selector) if p.phase not in FINISHED_PHASES]
    matched = match_pods(pods, queued)
    changed: set = set()
    for i in range(0, len(queued), cfg.batch_size):
        with db.session() as s:
            changed |= db.hand_back(s, [k.id for k in queued[i:i + cfg.batch_size]], owner.names)
    deleted = {name for name, key in matched.items() if key.id in changed}
    for name in sorted(deleted):
        kube.delete_pod(ns, name)
    if queued:
        progress.say(STEP, f"{len(changed)} queued task instances handed back, {len(deleted)} pending pods deleted")
    return len(changed), deleted


def _stale_pods(cfg: DrainConfig, kube: Kube) -> list[Pod]:
    """Unfinished task pods whose TI is no longer QUEUED or RUNNING (a run killed between CAS and delete):
    delete them, or one could still win ``/run`` once the new executor queues the same TI."""
    ns = cfg.release.namespace
    pods = [p for p in kube.list_pods(ns, cfg.task_pod_selector) if p.phase not in FINISHED_PHASES]
    if not pods:
        return []
    with db.session() as s:
        live = db.ti_keys(s, [db.QUEUED, db.RUNNING, db.RESTARTING])
    alive = set(match_pods(pods, live))
    stale = [p for p in pods if p.name not in alive and (p.ti_id is not None or "dag_id" in p.annotations)]
    for p in stale:
        kube.delete_pod(ns, p.name)
    if stale:
        progress.say(STEP, f"deleted {len(stale)} task pods whose task instance was already handed back")
    return stale


# Any other executor (Local...): no intake to stop outside the scheduler itself --------------------------
def _drain_generic(cfg: DrainConfig, owner: db.Owner, deadline: progress.Deadline, outcome: Outcome) -> dict[str, int]:
    tally = handover.Tally()
    handover.hand_back_leftovers(owner, tally, cfg.batch_size)
    outcome.hand_back(tally.total)

    def running() -> dict[str, int]:
        with db.session() as s:
            return {f"{c.queue} ({c.state})": c.count for c in db.ti_counts(s, [db.RUNNING, db.RESTARTING], owner)}

    return progress.wait_until(STEP, "running task instances", running, deadline, interval=cfg.poll_interval,
                               metric=TASKS_LEFT)


# Timeout and failure ----------------------------------------------------------------------------------------
def _keep_old(cfg: DrainConfig, switch: Switch, executor: Executor, broker_factory: Callable[[], Broker],
              state: State) -> tuple[int, int]:
    """Hand back what can be, tag the rest ``executor=<old>`` so the old executor (kept as a secondary
    executor by the next release) adopts it; give Celery workers their consumers back.

    Returns (handed back, tagged)."""
    owner = owner_of(switch, executor)
    handed_back = 0
    if executor.kind == CELERY:
        with broker_factory() as broker:
            # Workers still hold prefetched messages: their unacked entries are not orphans.
            tally = handover.run(broker, state.drain_queues, owner, cfg.batch_size, restore_orphans=False)
            for worker, queue in state.drain_consumers:
                broker.add_consumer(worker, queue)
        handed_back = tally.total
        progress.say(STEP, f"{handed_back} queued task instances handed back; consumers restored")
    with db.session() as s:
        tagged = db.tag_executor(s, owner, db.IN_FLIGHT, executor.name)
    progress.say(STEP, f"{tagged} in-flight task instances tagged executor={executor.name}: it adopts them")
    return handed_back, tagged


def _tag_null_to_old_default(switch: Switch) -> None:
    """The default changes but the old default stays: pin its in-flight NULL TIs to it by name."""
    old = switch.old_default
    with db.session() as s:
        n = db.tag_executor(s, db.Owner(frozenset(), include_null=True), db.IN_FLIGHT, old.name)
    if n:
        progress.say(STEP, f"{n} in-flight task instances of the old default tagged executor={old.name}")


def _restore(cfg: DrainConfig, kube: Kube, store: StateStore, state: State,
             broker_factory: Callable[[], Broker]) -> None:
    """Put the release back as it was: consumers re-added, schedulers scaled back. The schedulers come back
    even when the broker is down; the consumers then stay recorded (a re-run re-adds them)."""
    consumers = state.drain_consumers
    try:
        if consumers:
            with broker_factory() as broker:
                for worker, queue in consumers:
                    broker.add_consumer(worker, queue)
            progress.say(STEP, f"re-added {len(consumers)} Celery consumers")
            consumers = ()
    except HookError as e:
        progress.warn(STEP, f"could not re-add {len(consumers)} Celery consumers ({e}): re-run the drain or "
                      "restart the Celery workers, which consume their queues again when they start")
    schedulers.restore(kube, cfg.release, state)
    store.save(state.but(drain_phase="restored", drain_consumers=consumers, drain_target=""))


def _fmt(counts: dict[str, int]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(counts.items()))


def _summary(outcome: Outcome) -> None:
    progress.say(STEP, f"done: {outcome.handed_back} task instances handed back to the scheduler")
    for name, n in outcome.kept.items():
        progress.say(STEP, f"{name} keeps {n} task instances in flight and stays configured as a secondary "
                     "executor (state: retiring). Run `plan` later: once it shows 0 in flight for "
                     f"{name}, the next `helm upgrade` removes it")

"""Stopping and restoring the release's schedulers (the Deployment scale subresource + DB heartbeats)."""

from __future__ import annotations

from airflow_k8s_hooks import progress
from airflow_k8s_hooks.clients import db
from airflow_k8s_hooks.clients.kube import Kube
from airflow_k8s_hooks.config import Release
from airflow_k8s_hooks.errors import Refused
from airflow_k8s_hooks.state import State, StateStore

STEP = "schedulers"


def health_threshold() -> int:
    """``[scheduler] scheduler_health_check_threshold``: a heartbeat older than this is a dead scheduler."""
    from airflow.configuration import conf

    return conf.getint("scheduler", "scheduler_health_check_threshold")


def stop(kube: Kube, release: Release, store: StateStore, state: State, timeout: float | None) -> State:
    """Record the replicas, scale the scheduler to 0, and wait until no scheduler heartbeats.

    Idempotent: a Deployment already at 0 keeps the replicas recorded by the run that scaled it.

    Example:
        >>> stop(kube, release, store, store.load(), timeout=None)  # doctest: +SKIP
    """
    replicas = kube.get_replicas(release.namespace, release.scheduler_deployment)
    if replicas > 0:
        # Record first: a kill between the two calls leaves replicas known for the restore.
        state = store.save(state.but(scheduler_replicas=replicas))
        kube.set_replicas(release.namespace, release.scheduler_deployment, 0)
        progress.say(STEP, f"scaled {release.scheduler_deployment} from {replicas} to 0")
    else:
        progress.say(STEP, f"{release.scheduler_deployment} already at 0 (recorded: {state.scheduler_replicas})")
    threshold = health_threshold()
    deadline = progress.Deadline(timeout if timeout is not None else 2 * threshold + 10)

    def alive() -> dict[str, int]:
        with db.session() as s:
            return {f"scheduler job {i} on {h}": 1 for i, h, _ in db.live_schedulers(s, threshold)}

    left = progress.wait_until(STEP, "scheduler heartbeats to stop", alive, deadline, interval=0.5)
    if left:
        raise Refused(
            f"schedulers still heartbeat after {deadline.seconds:.0f}s: {', '.join(sorted(left))}. A scheduler "
            f"outside Deployment {release.scheduler_deployment} is running: stop it, then upgrade again"
        )
    return state


def restore(kube: Kube, release: Release, state: State, replicas: int | None = None) -> None:
    """Scale the scheduler back to ``replicas`` (default: the recorded count); no-op when nothing known."""
    target = replicas if replicas is not None else state.scheduler_replicas
    if target is None:
        progress.warn(STEP, f"no recorded replica count: {release.scheduler_deployment} left as it is")
        return
    current = kube.get_replicas(release.namespace, release.scheduler_deployment)
    if current != target:
        kube.set_replicas(release.namespace, release.scheduler_deployment, target)
    progress.say(STEP, f"{release.scheduler_deployment} at {target} replicas")

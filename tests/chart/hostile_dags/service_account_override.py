"""Task pods asking for the ServiceAccounts of Airflow components: the chart's pod_mutation_hook refuses them."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, task
from kubernetes.client import models as k8s


def _as(account: str, *, legacy_field: bool = False) -> dict[str, k8s.V1Pod]:
    spec = k8s.V1PodSpec(containers=[k8s.V1Container(name="base")])
    if legacy_field:
        spec.service_account = account
    else:
        spec.service_account_name = account
    return {"pod_override": k8s.V1Pod(spec=spec)}


with DAG("service_account_override", start_date=datetime(2026, 1, 1), schedule=None):

    @task(executor_config=_as("af-airflow-k8s-scheduler"))
    def as_scheduler() -> None: ...

    @task(executor_config=_as("af-airflow-k8s-executor-switch", legacy_field=True))
    def as_hooks_legacy_field() -> None: ...

    @task(executor_config=_as("etl-reader"))
    def as_own_account() -> None: ...

    @task
    def as_template() -> None: ...

    as_scheduler()
    as_hooks_legacy_field()
    as_own_account()
    as_template()

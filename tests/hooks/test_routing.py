"""Unit tests of queue -> pod template routing for work handed to the KubernetesExecutor (no services)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from airflow_k8s_hooks import routing
from airflow_k8s_hooks.clients import db
from airflow_k8s_hooks.executors import parse_list

TEMPLATE = "/opt/airflow/pod_templates/default.yaml"


def test_every_queue_but_the_default_gets_its_own_file() -> None:
    assert routing.queue_templates(TEMPLATE, ["default", "etl", "GPU"]) == {
        "etl": "/opt/airflow/pod_templates/etl.yaml", "GPU": "/opt/airflow/pod_templates/GPU.yaml"}


@pytest.mark.parametrize(("config", "expected"), [
    (None, {"pod_template_file": "/t/etl.yaml"}),
    ({}, {"pod_template_file": "/t/etl.yaml"}),
    ({"pod_override": "pod"}, {"pod_override": "pod", "pod_template_file": "/t/etl.yaml"}),
    ({"pod_template_file": "/mine.yaml"}, None),  # a task's own template wins, as in the cluster policy
    ("not a dict", None),
])
def test_template_added_only_where_none_is_named(config: Any, expected: dict[str, Any] | None) -> None:
    assert routing.with_template(config, "/t/etl.yaml") == expected


def test_owner_is_the_kubernetes_executor_and_unnamed_work_when_it_is_the_default() -> None:
    assert routing.kubernetes_owner(parse_list("CeleryExecutor")) is None
    default = routing.kubernetes_owner(parse_list("KubernetesExecutor,CeleryExecutor"))
    assert default is not None and default.include_null and "KubernetesExecutor" in default.names
    secondary = routing.kubernetes_owner(parse_list("CeleryExecutor,KubernetesExecutor"))
    assert secondary is not None and not secondary.include_null


def test_run_writes_only_rows_without_a_template(monkeypatch: pytest.MonkeyPatch) -> None:
    plain, own, written = uuid.uuid4(), uuid.uuid4(), {}
    rows = [(plain, "etl", {}), (own, "etl", {"pod_template_file": "/mine.yaml"})]

    class Session:
        def __enter__(self) -> Session:
            return self

        def __exit__(self, *exc: object) -> None:
            pass

    monkeypatch.setattr(db, "session", Session)
    monkeypatch.setattr(db, "not_started_configs", lambda s, owner, queues: rows if queues == ["etl"] else [])
    monkeypatch.setattr(db, "set_executor_configs", lambda s, configs: written.update(configs))
    assert routing.run(parse_list("KubernetesExecutor"), TEMPLATE, ["default", "etl"]) == 1
    assert written == {plain: {"pod_template_file": "/opt/airflow/pod_templates/etl.yaml"}}
    assert routing.run(parse_list("CeleryExecutor"), TEMPLATE, ["default", "etl"]) == 0
    assert routing.run(parse_list("KubernetesExecutor"), "", ["etl"]) == 0

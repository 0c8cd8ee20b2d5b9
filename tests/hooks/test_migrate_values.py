"""migrate-values: a ruamel round trip keeps comments and order; notes carry the sizing advice."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from airflow_k8s_hooks.config import MigrateValuesConfig
from airflow_k8s_hooks.executors import parse_list
from airflow_k8s_hooks.migrate_values import per_task, rewrite, run

VALUES = """\
# -- Executor: a comma list, first = default
executor: "CeleryExecutor"

workers:
  queues:
    # GPU nodes for training
    gpu:
      workerType: gpu  # node pool label
      nodeSelector:
        pool: gpu
      celery:
        replicas: 2
        concurrency: 4
        resources:
          requests: {cpu: "4", memory: 16Gi}
    default:
      workerType: standard

redis:
  enabled: true  # broker for Celery
"""


def test_celery_to_kubernetes_keeps_comments_and_order() -> None:
    r = rewrite(VALUES, parse_list("KubernetesExecutor"))
    expected = VALUES.replace('executor: "CeleryExecutor"', 'executor: "KubernetesExecutor"')
    assert r.text == expected  # redis.enabled is the chart's gate: left alone when Celery goes
    gpu = [n for n in r.notes if "workers.queues.gpu.celery.resources" in n]
    assert gpu and "'cpu': '1000m'" in gpu[0] and "'memory': '4Gi'" in gpu[0]


def test_back_to_celery_turns_redis_on() -> None:
    k8s = rewrite(VALUES, parse_list("KubernetesExecutor")).text.replace("enabled: true ", "enabled: false")
    back = rewrite(k8s, parse_list("CeleryExecutor"))
    assert back.text == VALUES  # ruamel keeps the comment column
    assert any("default: no `celery` block" in n for n in back.notes)
    external = rewrite(k8s + "celery:\n  brokerSecret: mine\n", parse_list("CeleryExecutor"))
    assert "enabled: false" in external.text


def test_adding_celery_as_secondary_keeps_redis() -> None:
    r = rewrite(VALUES, parse_list("KubernetesExecutor,CeleryExecutor"))
    assert 'executor: "KubernetesExecutor,CeleryExecutor"' in r.text and "enabled: true" in r.text


@pytest.mark.parametrize(("q", "n", "out"), [("4", 8, "500m"), ("16Gi", 4, "4Gi"), ("1Gi", 3, "341Mi"),
                                             ("x", 2, None)])
def test_per_task(q: str, n: int, out: str | None) -> None:
    assert per_task(q, n) == out


def test_run_prints_a_diff_and_writes_in_place(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "values.yaml"
    f.write_text(VALUES)
    run(MigrateValuesConfig(f, parse_list("KubernetesExecutor"), in_place=True))
    out = capsys.readouterr().out
    assert '-executor: "CeleryExecutor"' in out and '+executor: "KubernetesExecutor"' in out
    assert "# GPU nodes for training" in f.read_text()


def test_the_charts_own_values_round_trip_and_pass_its_schema() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    from ruamel.yaml import YAML

    chart = Path(__file__).resolve().parents[2] / "chart"
    schema = json.loads((chart / "values.schema.json").read_text())
    original = (chart / "values.yaml").read_text()
    celery = rewrite(original, parse_list("CeleryExecutor"))
    back = rewrite(celery.text, parse_list("KubernetesExecutor"))
    assert back.text == original  # comments, order and quoting survive both ways
    for text in (celery.text, back.text):
        jsonschema.validate(YAML(typ="safe").load(text), schema)
    assert "executor: CeleryExecutor" in celery.text

"""Values safety: the schema, the documented values, and bad input failing with the key named."""

from __future__ import annotations

import json
import re
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import jsonschema
import pytest
import yaml

from .render import CHART, ROOT, RenderError, helm_template

sys.path.insert(0, str(ROOT / "ci"))
import values_doc

VALUES_TEXT = (CHART / "values.yaml").read_text()
SCHEMA = json.loads((CHART / "values.schema.json").read_text())
TEMPLATES = "\n".join(p.read_text() for p in (CHART / "templates").rglob("*") if p.is_file())

BAD_VALUES: list[tuple[str, dict[str, Any], str]] = [
    ("unknown top-level key", {"executors": "KubernetesExecutor"}, "additional properties 'executors'"),
    ("unknown queue key", {"workers": {"queues": {"gpu": {"nodeselector": {}}}}},
     "/workers/queues/gpu': additional properties 'nodeselector'"),
    ("misspelt executor", {"executor": "KubernetesExecuter"}, 'executor: unknown executor "KubernetesExecuter"'),
    ("hybrid executor on Airflow 3", {"executor": "CeleryKubernetesExecutor"},
     "executor: CeleryKubernetesExecutor does not exist on Airflow 3; use the list form"),
    ("local hybrid executor", {"executor": "LocalKubernetesExecutor"}, "LocalExecutor,KubernetesExecutor"),
    ("executor listed twice", {"executor": "CeleryExecutor, CeleryExecutor"},
     'executor: "CeleryExecutor" is listed twice'),
    ("only commas", {"executor": " , "}, "executor is empty"),
    ("negative cpu", {"workers": {"resources": {"requests": {"cpu": "-1"}}}}, "/workers/resources/requests/cpu"),
    ("negative number cpu", {"workers": {"queues": {"gpu": {"resources": {"limits": {"cpu": -2}}}}}},
     "/workers/queues/gpu/resources/limits/cpu"),
    ("garbled memory", {"workers": {"resources": {"limits": {"memory": "lots"}}}}, "/workers/resources/limits/memory"),
    ("workerType without label", {"workers": {"workerTypeLabel": "", "queues": {"gpu": {"workerType": "g5"}}}},
     "workers.queues.gpu.workerType is set but workers.workerTypeLabel is empty"),
    ("queue name with a space", {"workers": {"queues": {"my queue": {}}}}, "workers.queues.my queue:"),
    ("queue name with a slash", {"workers": {"queues": {"team/etl": {}}}}, "workers.queues.team/etl:"),
    ("queues mapping to one name", {"workers": {"queues": {"high_memory": {}, "high-memory": {}}}},
     "workers.queues.high-memory and workers.queues.high_memory both map"),
    ("queues differing in case", {"workers": {"queues": {"GPU": {}, "gpu": {}}}},
     "workers.queues.GPU and workers.queues.gpu both map"),
    ("queue name too long", {"workers": {"queues": {"q" * 41: {}}}}, f"workers.queues.{'q' * 41}:"),
    ("queue name ending in a separator", {"workers": {"queues": {"etl_": {}}}}, "workers.queues.etl_:"),
    ("external database without a secret", {"postgresql": {"enabled": False}}, "database.existingSecret is empty"),
    ("celery without a broker", {"executor": "CeleryExecutor", "redis": {"enabled": False}},
     "celery.brokerSecret is empty"),
    ("dags claim missing", {"dags": {"source": "persistentVolumeClaim"}}, "dags.persistence.existingClaim is empty"),
    ("git repo missing", {"dags": {"source": "gitSync"}}, "dags.gitSync.repo is empty"),
    ("no dag files", {"dags": {"source": "configMap"}}, "dags.configMap.files is empty"),
    ("unknown dag source", {"dags": {"source": "s3"}}, "/dags/source"),
    ("unknown onTimeout", {"executorSwitch": {"onTimeout": "retry"}}, "/executorSwitch/onTimeout"),
    ("negative replicas", {"scheduler": {"replicas": -1}}, "/scheduler/replicas"),
    ("autoscaling bounds reversed", {"executor": "CeleryExecutor", "workers": {"queues": {"etl": {"celery": {
        "autoscaling": {"enabled": True, "minReplicas": 5, "maxReplicas": 2}}}}}},
     "workers.queues.etl.celery.autoscaling.minReplicas (5) is above maxReplicas (2)"),
    ("remote logs without a folder", {"logs": {"remote": {"enabled": True}}}, "logs.remote.baseLogFolder is empty"),
    ("relative dags path", {"dags": {"mountPath": "dags"}}, "/dags/mountPath"),
    ("unknown auth manager", {"auth": {"manager": "ldap"}}, "/auth/manager"),
    ("unknown simple role", {"auth": {"simple": {"users": {"bob": "root"}}}}, "/auth/simple/users/bob"),
    ("webserver config for simple", {"auth": {"fab": {"webserverConfig": "X = 1"}}},
     "auth.fab.webserverConfig is set but auth.manager is simple"),
    ("two webserver configs", {"auth": {"manager": "fab", "fab": {"webserverConfig": "X = 1",
                                                                  "webserverConfigSecret": "wc"}}},
     "auth.fab.webserverConfig and auth.fab.webserverConfigSecret are both set"),
    ("source ranges without a load balancer", {"apiServer": {"service": {"loadBalancerSourceRanges": ["10.0.0.0/8"]}}},
     "apiServer.service.loadBalancerSourceRanges is set but apiServer.service.type is ClusterIP"),
    ("route without a gateway", {"httpRoute": {"apiServer": {"enabled": True}}},
     "httpRoute.apiServer.parentRefs is empty"),
    ("unknown ingress key", {"ingress": {"apiServer": {"className": "nginx"}}}, "additional properties 'className'"),
    ("service account with a capital", {"workers": {"serviceAccount": {"name": "Tasks"}}},
     "/workers/serviceAccount/name"),
    ("KEDA and CPU autoscaling on one queue", {"executor": "CeleryExecutor", "workers": {
        "celery": {"keda": {"enabled": True}}, "queues": {"etl": {"celery": {"autoscaling": {"enabled": True}}}}}},
     "workers.queues.etl.celery.autoscaling.enabled and KEDA"),
    ("KEDA bounds reversed", {"workers": {"queues": {"etl": {"celery": {"keda": {
        "enabled": True, "minReplicaCount": 5, "maxReplicaCount": 2}}}}}},
     "workers.queues.etl: KEDA minReplicaCount (5) is above maxReplicaCount (2)"),
    ("KEDA on an external database without a URL", {
        "postgresql": {"enabled": False}, "database": {"existingSecret": "db"},
        "workers": {"celery": {"keda": {"enabled": True}}}}, "workers.celery.keda.connectionSecret is empty"),
    ("git over SSH without host keys", {"dags": {"source": "gitSync", "gitSync": {
        "repo": "git@example.org:d.git", "ssh": {"keySecret": "key"}}}}, "dags.gitSync.ssh.knownHosts is empty"),
    ("PDB percent over 100", {"scheduler": {"podDisruptionBudget": {"maxUnavailable": "150%"}}},
     "/scheduler/podDisruptionBudget/maxUnavailable"),
    ("spread without topologyKey", {"topologySpreadConstraints": [{"maxSkew": 1, "whenUnsatisfiable": "Never"}]},
     "/topologySpreadConstraints/0"),
    ("priority class with capitals", {"workers": {"queues": {"gpu": {"priorityClassName": "High"}}}},
     "/workers/queues/gpu/priorityClassName"),
    ("envFrom naming nothing", {"apiServer": {"envFrom": [{"prefix": "X_"}]}}, "/apiServer/envFrom/0"),
    ("extra container without image", {"triggerer": {"extraContainers": [{"name": "s"}]}},
     "/triggerer/extraContainers/0"),
    ("statsd prefix with dots", {"statsd": {"prefix": "air.flow"}}, "/statsd/prefix"),
    ("db clean retention zero", {"dbClean": {"retentionDays": 0}}, "/dbClean/retentionDays"),
    ("log retention interval too short", {"logs": {"retention": {"intervalSeconds": 1}}},
     "/logs/retention/intervalSeconds"),
    ("load_examples through env", {"env": [{"name": "AIRFLOW__CORE__LOAD_EXAMPLES", "value": "true"}]},
     "env: AIRFLOW__CORE__LOAD_EXAMPLES is set by the chart, remove it: set config.core.load_examples instead"),
    ("dumb-init setsid in workers.env", {"workers": {"env": [{"name": "DUMB_INIT_SETSID", "value": "1"}]}},
     "workers.env: DUMB_INIT_SETSID is set by the chart"),
    ("db check count in workers.env", {"workers": {"env": [{"name": "CONNECTION_CHECK_MAX_COUNT", "value": "5"}]}},
     "workers.env: CONNECTION_CHECK_MAX_COUNT is set by the chart"),
]


def _refusal(values: dict[str, Any]) -> str | None:
    try:
        helm_template(values)
    except RenderError as error:
        return str(error)
    return None


@pytest.fixture(scope="module")
def refusals() -> dict[str, str | None]:
    """helm's answer to every bad values case, rendered in parallel."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip([c[0] for c in BAD_VALUES], pool.map(_refusal, [c[1] for c in BAD_VALUES]), strict=True))


@pytest.mark.parametrize(("case", "message"), [(c[0], c[2]) for c in BAD_VALUES], ids=[c[0] for c in BAD_VALUES])
def test_bad_values_fail_naming_the_key(refusals: dict[str, str | None], case: str, message: str) -> None:
    refusal = refusals[case]
    assert refusal is not None, "helm accepted the values"
    assert message in refusal


def test_queue_names_airflow_and_celery_accept_render() -> None:
    manifest = helm_template({"executor": "KubernetesExecutor,CeleryExecutor",
                              "workers": {"queues": {"high_memory": {}, "GPU": {}, "etl.v2": {}}}})
    assert set(manifest.task_pod_templates()) == {"default.yaml", "high_memory.yaml", "GPU.yaml", "etl.v2.yaml"}
    assert {"af-airflow-k8s-worker-high-memory", "af-airflow-k8s-worker-gpu",
            "af-airflow-k8s-worker-etl-v2"} <= manifest.names("Deployment")


def test_values_yaml_passes_its_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    jsonschema.Draft202012Validator(SCHEMA).validate(yaml.safe_load(VALUES_TEXT))


def test_schema_is_strict_everywhere() -> None:
    def walk(node: Any, path: str) -> list[str]:
        loose = []
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node and node.get("additionalProperties") is not False:
                loose.append(path)
            for key, child in node.items():
                loose += walk(child, f"{path}/{key}")
        elif isinstance(node, list):
            for i, child in enumerate(node):
                loose += walk(child, f"{path}/{i}")
        return loose

    assert walk(SCHEMA, "") == []


def test_every_value_is_documented_and_used_by_a_template() -> None:
    documented = {v.path for v in values_doc.documented_values(VALUES_TEXT)}
    leaves: set[str] = set()

    def collect(node: Any, path: list[str]) -> None:
        # A documented map/list is one value; only undocumented maps are descended into.
        if isinstance(node, dict) and node and ".".join(path) not in documented:
            for key, child in node.items():
                collect(child, [*path, key])
        else:
            leaves.add(".".join(path))

    collect(yaml.safe_load(VALUES_TEXT), [])
    assert leaves - documented == set(), "values without a `# --` comment"
    unused = {path for path in documented
              if not re.search(rf"\.{re.escape(path.split('.')[-1])}\b|\"{re.escape(path.split('.')[-1])}\"",
                               TEMPLATES)}
    assert unused == set(), "documented values no template reads"


def test_readme_values_table_is_current() -> None:
    assert values_doc.main(["--check"]) == 0

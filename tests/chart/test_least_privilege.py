"""Least privilege and secrets: NetworkPolicies per component, RBAC per namespace, the hooks' Role, where the
JWT secret goes, the Redis password, and renders the chart refuses (offline secrets, switches under
`helm template`). Each scenario is rendered once."""

from __future__ import annotations

import functools
import hashlib
from typing import Any

import pytest

from .kube_schema import schema_errors
from .render import RELEASE, Manifest, RenderError, fullname, helm_template

CELERY_POLICIES: dict[str, Any] = {
    "executor": "KubernetesExecutor,CeleryExecutor",
    "networkPolicy": {"enabled": True, "apiServerIngressFrom": [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}]},
}
MULTI_NAMESPACE: dict[str, Any] = {"workers": {"multiNamespaceMode": True, "namespaces": ["team-a", "airflow"]}}


@functools.cache
def render(name: str) -> Manifest:
    return helm_template({"celery-policies": CELERY_POLICIES, "multi-namespace": MULTI_NAMESPACE}[name])


def env_names(spec: dict[str, Any]) -> set[str]:
    return {e["name"] for c in spec.get("initContainers", []) + spec["containers"] for e in c.get("env", [])}


@pytest.mark.parametrize("name", ["celery-policies", "multi-namespace"])
def test_objects_are_valid(name: str) -> None:
    for obj in render(name).objects:
        assert schema_errors(obj, "1.35.0") == [], f"{obj['kind']}/{obj['metadata']['name']}"


def allowed_from(policy: dict[str, Any]) -> tuple[set[str], list[dict[str, Any]], set[int]]:
    components: set[str] = set()
    others: list[dict[str, Any]] = []
    ports: set[int] = set()
    for rule in policy["spec"]["ingress"]:
        ports |= {p["port"] for p in rule["ports"]}
        for peer in rule["from"]:
            expressions = peer.get("podSelector", {}).get("matchExpressions")
            if expressions:
                assert peer["podSelector"]["matchLabels"]["app.kubernetes.io/instance"] == RELEASE
                components |= set(expressions[0]["values"])
            else:
                others.append(peer)
    return components, others, ports


def test_every_component_has_an_ingress_policy_allowing_only_its_clients() -> None:
    manifest = render("celery-policies")
    policies = {p["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"]: p
                for p in manifest.of_kind("NetworkPolicy")}
    assert set(policies) == {"api-server", "scheduler", "triggerer", "dag-processor", "celery-worker", "redis",
                             "postgresql", "task"}
    redis, _, redis_ports = allowed_from(policies["redis"])
    assert redis == {"scheduler", "celery-worker", "executor-switch"} and redis_ports == {6379}
    database, _, _ = allowed_from(policies["postgresql"])
    assert "task" in database and "redis" not in database and "api-server" in database
    api, ingress, api_ports = allowed_from(policies["api-server"])
    assert {"task", "scheduler", "celery-worker", "tests"} <= api and api_ports == {8080}
    assert ingress == CELERY_POLICIES["networkPolicy"]["apiServerIngressFrom"]
    assert policies["dag-processor"]["spec"]["ingress"] == []
    assert allowed_from(policies["celery-worker"])[:1] == ({"api-server"},)


@pytest.mark.parametrize(("values", "named"), [
    ({"dags": {"source": "gitSync", "gitSync": {"repo": "https://example.org/d.git"}}}, "networkPolicy.gitSyncEgress"),
    ({"logs": {"remote": {"enabled": True, "baseLogFolder": "s3://b/l"}}}, "networkPolicy.remoteLoggingEgress"),
])
def test_policies_refuse_to_cut_task_pods_off_git_or_remote_logs(values: dict[str, Any], named: str) -> None:
    with pytest.raises(RenderError, match=named):
        helm_template({"networkPolicy": {"enabled": True}, **values})


def test_git_egress_reaches_the_task_pod_policy() -> None:
    rule = {"ports": [{"port": 443, "protocol": "TCP"}]}
    manifest = helm_template({"networkPolicy": {"enabled": True, "gitSyncEgress": [rule]},
                              "dags": {"source": "gitSync", "gitSync": {"repo": "https://example.org/d.git"}}})
    assert rule in manifest.get("NetworkPolicy", fullname("task-pods"))["spec"]["egress"]


def test_multi_namespace_mode_with_a_list_gets_one_role_per_namespace() -> None:
    manifest = render("multi-namespace")
    assert not manifest.of_kind("ClusterRole") and not manifest.of_kind("ClusterRoleBinding")
    launcher = fullname("scheduler-pod-launcher")
    launchers = [r for r in manifest.of_kind("Role") if r["metadata"]["name"] == launcher]
    assert sorted(r["metadata"]["namespace"] for r in launchers) == ["airflow", "team-a"]
    bindings = [b for b in manifest.of_kind("RoleBinding") if b["roleRef"]["name"] == launcher]
    assert sorted(b["metadata"]["namespace"] for b in bindings) == ["airflow", "team-a"]
    cfg = manifest.get("ConfigMap", fullname("config"))["data"]["airflow.cfg"]
    assert "multi_namespace_mode_namespace_list = airflow,team-a" in cfg


def test_the_hook_role_grants_only_what_the_hooks_call() -> None:
    role = render("celery-policies").get("Role", fullname("executor-switch"))
    rights = {(r["resources"][0], tuple(r["verbs"])) for r in role["rules"]}
    assert rights == {("deployments/scale", ("get", "patch")), ("configmaps", ("create",)),
                      ("configmaps", ("get", "patch", "delete")), ("pods", ("list", "delete")),
                      ("persistentvolumeclaims", ("list", "delete"))}


def test_jwt_secret_only_in_the_api_server_and_the_scheduler() -> None:
    manifest = render("celery-policies")
    holders = {name for name, spec in manifest.pod_specs() if "AIRFLOW__API_AUTH__JWT_SECRET" in env_names(spec)}
    assert holders == {f"Deployment/{fullname('api-server')}", f"Deployment/{fullname('scheduler')}"}


def test_redis_has_a_password_kept_in_its_secret_only() -> None:
    manifest = render("celery-policies")
    secret = manifest.get("Secret", fullname("broker"))["stringData"]
    password = secret["password"]
    assert len(password) >= 32 and secret["connection"] == f"redis://:{password}@{fullname('redis')}:6379/0"
    assert secret["redis.conf"] == f"requirepass {password}\n"
    for obj in manifest.objects:
        if obj["kind"] != "Secret":
            assert password not in str(obj), f"{obj['kind']}/{obj['metadata']['name']} holds the Redis password"


def test_an_offline_render_refuses_to_generate_secrets() -> None:
    with pytest.raises(RenderError, match=r"Set secrets\.existingSecret, postgresql\.password"):
        helm_template({}, extra_args=("--set", "secrets.renderOffline=false"))
    helm_template({"secrets": {"existingSecret": "s"}, "postgresql": {"password": "p"}},
                  extra_args=("--set", "secrets.renderOffline=false"))


@pytest.mark.parametrize(("values", "extra", "named"), [
    ({"executorSwitch": {"fromExecutors": "Bogus"}}, (), 'executorSwitch.fromExecutors: unknown executor "Bogus"'),
    ({"executorSwitch": {"fromExecutors": "CeleryExecutor"}}, (), "this render is an install"),
])
def test_executor_switch_refusals(values: dict[str, Any], extra: tuple[str, ...], named: str) -> None:
    with pytest.raises(RenderError, match=named):
        helm_template(values, extra_args=extra)


def test_a_switch_renders_as_an_upgrade() -> None:
    manifest = helm_template({"executorSwitch": {"fromExecutors": "CeleryExecutor"}}, extra_args=("--is-upgrade",))
    assert fullname("executor-switch-drain") in manifest.names("Job")


@pytest.mark.parametrize("volumes", [[{"name": "tmp", "emptyDir": {}}],
                                     [{"name": "a", "emptyDir": {}}, {"name": "a", "emptyDir": {}}]])
def test_extra_volumes_cannot_share_a_name(volumes: list[dict[str, Any]]) -> None:
    with pytest.raises(RenderError, match=r"workers\.extraVolumes: the name"):
        helm_template({"workers": {"extraVolumes": volumes}})


def test_pods_holding_the_broker_url_restart_with_a_new_password() -> None:
    manifest = render("celery-policies")
    checksums: dict[str, str | None] = {}
    for obj in manifest.of_kind("Deployment"):
        annotations = obj["spec"]["template"]["metadata"].get("annotations", {})
        checksums[obj["metadata"]["name"]] = annotations.get("checksum/broker", annotations.get("checksum/auth"))
    password = manifest.get("Secret", fullname("broker"))["stringData"]["password"]
    expected = hashlib.sha256(password.encode()).hexdigest()[:16]
    assert set(checksums.values()) == {expected}, checksums


@pytest.mark.parametrize(("config", "named"), [
    ({"core": {"fernet_key": "k"}}, r"config\.core\.fernet_key is a secret .* use secrets\.existingSecret"),
    ({"database": {"sql_alchemy_conn": "postgresql://u:p@h/d"}}, r"config\.database\.sql_alchemy_conn .* database\."),
    ({"smtp": {"smtp_password": "p"}}, r"config\.smtp\.smtp_password looks like a secret"),
    ({"core": {"executor": "CeleryExecutor"}}, r"config\.core\.executor is set by the chart; .* use executor"),
    ({"kubernetes_executor": {"namespace": "x"}}, r"config\.kubernetes_executor\.namespace is set by the chart"),
    ({"core": {"simple_auth_manager_all_admins": "True"}}, r"config\.core\.simple_auth_manager_all_admins"),
    ({"core": {"x": "a\nb"}}, r"config\.core\.x: the value holds a newline"),
])
def test_config_refusals_name_the_key_and_the_way(config: dict[str, Any], named: str) -> None:
    with pytest.raises(RenderError, match=named):
        helm_template({"config": config})


def test_config_may_name_where_a_secret_comes_from() -> None:
    manifest = helm_template({"config": {"database": {"sql_alchemy_conn_cmd": "cat /run/db-url"},
                                         "core": {"fernet_key_secret": "fernet", "parallelism": "100%"}}})
    cfg = manifest.get("ConfigMap", fullname("config"))["data"]["airflow.cfg"]
    assert "sql_alchemy_conn_cmd = cat /run/db-url" in cfg and "fernet_key_secret = fernet" in cfg
    assert "parallelism = 100%%" in cfg

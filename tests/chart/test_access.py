"""Login, the way in, identity and task logs: what the chart renders for each, checked through helm.

The SimpleAuthManager login is checked through Airflow's own code: the password a user types is the one in
the auth Secret, on every start and on every replica.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from .render import CHART, NAMESPACE, Manifest, fullname, helm_template
from .scenarios import IRSA_ROLE
from .test_render import airflow_cfg, container

FAB_MANAGER = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"


def pod_spec(manifest: Manifest, deployment: str) -> dict[str, Any]:
    return manifest.get("Deployment", fullname(deployment))["spec"]["template"]["spec"]


def secret_value(manifest: Manifest, name: str, key: str) -> str:
    return base64.b64decode(manifest.get("Secret", name)["data"][key]).decode()


# Airflow's SimpleAuthManager as the api-server runs it: start (init), then a login with a password.
_LOGIN_SCRIPT = """
import json, sys
from fastapi import HTTPException
from airflow.api_fastapi.auth.managers.simple.datamodels.login import LoginBody
from airflow.api_fastapi.auth.managers.simple.services.login import SimpleAuthManagerLogin
from airflow.api_fastapi.app import init_auth_manager
from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager
assert isinstance(init_auth_manager(), SimpleAuthManager)  # the class airflow.cfg names, started as at boot
user, password = sys.argv[1], sys.argv[2]
try:
    SimpleAuthManagerLogin.create_token(body=LoginBody(username=user, password=password))
    print(json.dumps({"login": True}))
except HTTPException as error:
    print(json.dumps({"login": False, "status": error.status_code}))
"""


def airflow_login(cfg_text: str, passwords_file: Path, home: Path, user: str, password: str) -> dict[str, Any]:
    """Start SimpleAuthManager with the rendered airflow.cfg and `passwords_file`, then log in."""
    home.mkdir(exist_ok=True)
    (home / "airflow.cfg").write_text(cfg_text)
    env = {**os.environ, "AIRFLOW_HOME": str(home), "AIRFLOW_CONFIG": str(home / "airflow.cfg"),
           # Only the path differs from the pod: the rendered one is where the init container copies to.
           "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords_file),
           "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db"}
    result = subprocess.run([sys.executable, "-c", _LOGIN_SCRIPT, user, password], env=env, capture_output=True,
                            text=True, check=False, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def test_simple_login_uses_the_secrets_password_on_every_start_and_replica(
        rendered: dict[str, Manifest], tmp_path: Path) -> None:
    manifest = rendered["defaults"]
    cfg = airflow_cfg(manifest)["core"]
    assert cfg["auth_manager"].endswith("simple_auth_manager.SimpleAuthManager")
    assert cfg["simple_auth_manager_users"] == "admin:admin"
    passwords_json = secret_value(manifest, fullname("auth"), "passwords.json")
    password = json.loads(passwords_json)["admin"]
    assert len(password) >= 20
    assert secret_value(manifest, fullname("auth"), "admin-password") == password

    # The api-server copies the Secret's file to the path airflow.cfg names, in a memory-backed emptyDir.
    spec = pod_spec(manifest, "api-server")
    copy = next(c for c in spec["initContainers"] if c["name"] == "auth-passwords")
    source_mount = next(m for m in copy["volumeMounts"] if m["name"] == "auth-secret")
    assert copy["command"] == ["cp", f"{source_mount['mountPath']}/passwords.json",
                               cfg["simple_auth_manager_passwords_file"]]
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["auth-secret"]["secret"]["secretName"] == fullname("auth")
    assert volumes["auth"]["emptyDir"]["medium"] == "Memory"
    mounts = {m["name"]: m["mountPath"] for m in container(spec, "api-server")["volumeMounts"]}
    assert mounts["auth"] == os.path.dirname(cfg["simple_auth_manager_passwords_file"])

    cfg_text = manifest.get("ConfigMap", fullname("config"))["data"]["airflow.cfg"]
    for replica in ("replica-a", "replica-b"):
        for start in range(2):  # a restart is a fresh copy of the Secret's file, as the init container makes
            copied = tmp_path / f"{replica}-{start}.json"
            copied.write_text(passwords_json)
            assert airflow_login(cfg_text, copied, tmp_path / replica, "admin", password) == {"login": True}
            assert json.loads(copied.read_text()) == {"admin": password}, "Airflow generated another password"
    wrong = tmp_path / "wrong.json"
    wrong.write_text(passwords_json)
    assert airflow_login(cfg_text, wrong, tmp_path / "replica-a", "admin", password + "x") == \
        {"login": False, "status": 401}


def test_simple_users_each_get_a_password(tmp_path: Path) -> None:
    manifest = helm_template({"auth": {"simple": {"users": {"admin": "admin", "ops": "op", "viewer": "viewer"}}}})
    cfg = airflow_cfg(manifest)["core"]
    assert cfg["simple_auth_manager_users"] == "admin:admin,ops:op,viewer:viewer"
    passwords = json.loads(secret_value(manifest, fullname("auth"), "passwords.json"))
    assert set(passwords) == {"admin", "ops", "viewer"}
    assert len(set(passwords.values())) == 3


def test_fab_creates_the_first_admin_with_the_password_from_the_secret(rendered: dict[str, Manifest]) -> None:
    manifest = rendered["everything"]
    assert airflow_cfg(manifest)["core"]["auth_manager"] == FAB_MANAGER
    assert "simple_auth_manager_users" not in airflow_cfg(manifest)["core"]
    assert fullname("auth") not in manifest.names("Secret"), "auth.existingSecret is given"
    job = next(j for j in manifest.of_kind("Job") if j["metadata"]["name"].startswith(fullname("create-admin")))
    spec = job["spec"]["template"]["spec"]
    main = container(spec, "create-admin")
    assert main["args"] == ["python", "/opt/airflow-k8s-auth/create_fab_admin.py"]
    env = {e["name"]: e for e in main["env"]}
    assert env["AIRFLOW_K8S_ADMIN_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "airflow-auth",
                                                                              "key": "admin-password"}
    assert env["AIRFLOW_K8S_ADMIN_USERNAME"]["value"] == "root"
    assert not any("password" in str(a).lower() for a in main["args"])
    assert spec["initContainers"][0]["name"] == "wait-for-airflow-migrations"
    script = manifest.get("ConfigMap", fullname("create-admin"))["data"]["create_fab_admin.py"]
    assert script == (CHART / "files" / "auth" / "create_fab_admin.py").read_text()
    compile(script, "create_fab_admin.py", "exec")
    # webserver_config.py (OAuth/LDAP settings may hold secrets) comes from a Secret.
    api = pod_spec(manifest, "api-server")
    mount = next(m for m in container(api, "api-server")["volumeMounts"] if m["name"] == "webserver-config")
    assert (mount["mountPath"], mount["subPath"]) == ("/opt/airflow/webserver_config.py", "webserver_config.py")
    secret = manifest.get("Secret", fullname("webserver-config"))
    assert secret["stringData"]["webserver_config.py"] == "AUTH_TYPE = AUTH_OAUTH\n"
    assert not any(c["name"] == "auth-passwords" for c in api["initContainers"])


def test_fab_admin_job_is_a_hook_after_migrations() -> None:
    manifest = helm_template({"auth": {"manager": "fab"}})
    job = manifest.get("Job", fullname("create-admin"))
    annotations = job["metadata"]["annotations"]
    migrate = manifest.get("Job", fullname("migrate-database"))["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == migrate["helm.sh/hook"]
    assert int(annotations["helm.sh/hook-weight"]) > int(migrate["helm.sh/hook-weight"])
    passwords = json.loads(secret_value(manifest, fullname("auth"), "passwords.json"))
    assert secret_value(manifest, fullname("auth"), "admin-password") == passwords["admin"]


def test_ingress_routes_hosts_to_the_api_server(rendered: dict[str, Manifest]) -> None:
    manifest = rendered["everything"]
    ingress = manifest.get("Ingress", fullname("api-server"))
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["tls"] == [{"hosts": ["airflow.example.org"], "secretName": "airflow-tls"}]
    assert ingress["metadata"]["annotations"] == {"cert-manager.io/cluster-issuer": "letsencrypt"}
    [rule] = ingress["spec"]["rules"]
    assert rule["host"] == "airflow.example.org"
    assert rule["http"]["paths"] == [{"path": "/", "pathType": "Prefix", "backend": {
        "service": {"name": fullname("api-server"), "port": {"name": "http"}}}}]
    assert not rendered["defaults"].of_kind("Ingress") and not rendered["defaults"].of_kind("HTTPRoute")


def test_httproute_attaches_to_the_gateway_and_the_api_server_service(rendered: dict[str, Manifest]) -> None:
    # kubernetes-validate has no Gateway API schemas: the structure of gateway.networking.k8s.io/v1 by hand.
    manifest = rendered["everything"]
    route = manifest.get("HTTPRoute", fullname("api-server"))
    assert route["apiVersion"] == "gateway.networking.k8s.io/v1"
    assert set(route) == {"apiVersion", "kind", "metadata", "spec"}
    assert set(route["metadata"]) == {"name", "labels", "annotations"}
    assert route["metadata"]["annotations"] == {"team": "data"}
    spec = route["spec"]
    assert set(spec) == {"parentRefs", "hostnames", "rules"}
    assert spec["parentRefs"] == [{"name": "public", "namespace": "gateways"}]
    assert spec["hostnames"] == ["airflow.example.org"]
    [rule] = spec["rules"]
    assert set(rule) == {"matches", "backendRefs"}
    assert rule["matches"] == [{"path": {"type": "PathPrefix", "value": "/"}}]
    service = manifest.get("Service", fullname("api-server"))
    assert rule["backendRefs"] == [{"name": service["metadata"]["name"], "port": service["spec"]["ports"][0]["port"]}]


def test_service_annotations_and_source_ranges(rendered: dict[str, Manifest]) -> None:
    service = rendered["everything"].get("Service", fullname("api-server"))
    assert service["metadata"]["annotations"] == {"service.beta.kubernetes.io/aws-load-balancer-scheme": "internal"}
    assert service["spec"]["loadBalancerSourceRanges"] == ["10.0.0.0/8"]
    assert "annotations" not in rendered["defaults"].get("Service", fullname("api-server"))["metadata"]


def tokens(manifest: Manifest) -> dict[str, tuple[str, bool]]:
    """component -> (service account, token mounted) of every Deployment and the default task pod."""
    found = {}
    for deployment in manifest.of_kind("Deployment"):
        spec = deployment["spec"]["template"]["spec"]
        component = deployment["metadata"]["labels"]["app.kubernetes.io/component"]
        if component in ("postgresql", "redis"):
            continue
        found[component] = (spec["serviceAccountName"], spec["automountServiceAccountToken"])
    task = manifest.task_pod_templates()["default.yaml"]["spec"]
    found["task"] = (task["serviceAccountName"], task["automountServiceAccountToken"])
    return found


def test_each_component_has_its_account_and_a_token_only_where_it_calls_kubernetes(
        rendered: dict[str, Manifest]) -> None:
    assert tokens(rendered["defaults"]) == {
        "scheduler": (fullname("scheduler"), True),       # launches task pods
        "api-server": (fullname("api-server"), True),     # reads running task pods' logs
        "dag-processor": (fullname("dag-processor"), False),
        "triggerer": (fullname("triggerer"), False),
        "task": (fullname("worker"), False),
    }
    celery = tokens(rendered["celery"])
    assert celery["scheduler"] == (fullname("scheduler"), False)
    assert celery["api-server"] == (fullname("api-server"), False)
    assert celery["celery-worker"] == (fullname("celery-worker"), False)
    for manifest in rendered.values():
        for account in manifest.of_kind("ServiceAccount"):
            if account["metadata"]["name"] != fullname("executor-switch"):  # hook Jobs: their own account
                assert account["automountServiceAccountToken"] is False, account["metadata"]["name"]


def test_pod_launching_binds_only_the_accounts_that_run_task_code(rendered: dict[str, Manifest]) -> None:
    manifest = rendered["everything"]
    found = tokens(manifest)
    assert found["scheduler"] == ("platform-scheduler", True)
    assert found["celery-worker"] == (fullname("celery-worker"), True)
    assert found["task"] == (fullname("worker"), True)
    assert found["dag-processor"] == (fullname("dag-processor"), False)
    assert manifest.task_pod_templates()["gpu-jobs.yaml"]["spec"]["serviceAccountName"] == "gpu-tasks"
    role = manifest.get("Role", fullname("task-pod-launcher"))
    assert {r["resources"][0]: set(r["verbs"]) for r in role["rules"]} == {
        "pods": {"create", "get", "list", "watch", "delete", "patch"}, "pods/log": {"get"},
        "pods/exec": {"create", "get"}, "events": {"list"}}
    binding = manifest.get("RoleBinding", fullname("task-pod-launcher"))
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    # No triggerer in this scenario (replicas 0); the scheduler and api-server are not task code.
    assert {s["name"] for s in binding["subjects"]} == {fullname("worker"), "gpu-tasks", fullname("celery-worker")}
    assert all(s["namespace"] == NAMESPACE for s in binding["subjects"])
    assert fullname("scheduler") not in manifest.names("ServiceAccount"), "serviceAccount.create is false"
    scheduler_binding = manifest.get("RoleBinding", fullname("scheduler-pod-launcher"))
    assert scheduler_binding["subjects"][0]["name"] == "platform-scheduler"
    annotations = {a["metadata"]["name"]: a["metadata"].get("annotations", {})
                   for a in manifest.of_kind("ServiceAccount")}
    assert annotations[fullname("api-server")] == {"eks.amazonaws.com/role-arn": IRSA_ROLE}
    assert annotations[fullname("worker")] == {"eks.amazonaws.com/role-arn": IRSA_ROLE}
    assert annotations[fullname("celery-worker")] == {"iam.gke.io/gcp-service-account": "celery@p.iam"}
    # The triggerer is bound when it runs.
    with_triggerer = helm_template({"allowPodLaunching": True})
    subjects = {s["name"] for s in with_triggerer.get("RoleBinding", fullname("task-pod-launcher"))["subjects"]}
    assert subjects == {fullname("worker"), fullname("triggerer")}
    assert tokens(with_triggerer)["triggerer"] == (fullname("triggerer"), True)
    assert fullname("task-pod-launcher") not in rendered["defaults"].names("Role")


def test_api_server_may_read_task_pod_logs_and_nothing_else(rendered: dict[str, Manifest]) -> None:
    manifest = rendered["defaults"]
    role = manifest.get("Role", fullname("api-server-pod-log-reader"))
    assert role["metadata"]["namespace"] == NAMESPACE
    assert {r["resources"][0]: set(r["verbs"]) for r in role["rules"]} == {"pods": {"get", "list"},
                                                                         "pods/log": {"get"}}
    binding = manifest.get("RoleBinding", fullname("api-server-pod-log-reader"))
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": fullname("api-server"), "namespace": NAMESPACE}]
    assert fullname("api-server-pod-log-reader") not in rendered["celery"].names("Role")


def test_shared_logs_claim_reaches_task_pods_and_the_api_server(rendered: dict[str, Manifest]) -> None:
    manifest = rendered["everything"]
    claim = manifest.get("PersistentVolumeClaim", fullname("logs"))
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert claim["spec"]["storageClassName"] == "nfs"
    log_folder = airflow_cfg(manifest)["logging"]["base_log_folder"]
    task = manifest.task_pod_templates()["default.yaml"]["spec"]
    for where, spec in (("task pod", task), ("api-server", pod_spec(manifest, "api-server"))):
        volumes = {v["name"]: v for v in spec["volumes"]}
        assert volumes["logs"]["persistentVolumeClaim"]["claimName"] == fullname("logs"), where
        mounts = {m["name"]: m["mountPath"] for c in spec["containers"] for m in c.get("volumeMounts", [])}
        assert mounts["logs"] == log_folder, where
    default_claim = helm_template({"logs": {"persistence": {"enabled": True}}})
    assert default_claim.get("PersistentVolumeClaim", fullname("logs"))["spec"]["accessModes"] == ["ReadWriteMany"]

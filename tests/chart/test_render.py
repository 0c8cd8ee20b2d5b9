"""What the chart renders for each scenario: objects, wiring, placement, security, schema validity."""

from __future__ import annotations

from typing import Any

import pytest

from .kube_schema import schema_errors
from .pod_security import restricted_violations
from .render import NAMESPACE, Manifest, fullname, helm_template
from .scenarios import SCENARIOS


def container(spec: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in spec["containers"] if c["name"] == name)


def airflow_cfg(manifest: Manifest) -> dict[str, dict[str, str]]:
    """The rendered airflow.cfg parsed by Airflow's own config parser class."""
    from configparser import ConfigParser

    parser = ConfigParser()
    parser.read_string(manifest.get("ConfigMap", fullname("config"))["data"]["airflow.cfg"])
    return {section: dict(parser[section]) for section in parser.sections()}


def test_object_passes_strict_kubernetes_schema(kube_object: dict[str, Any], kubernetes_version: str) -> None:
    assert "render_error" not in kube_object, kube_object.get("render_error")
    assert schema_errors(kube_object, kubernetes_version) == []


def test_schema_check_catches_an_unknown_field() -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
           "spec": {"containers": [{"name": "c", "image": "i", "resourcez": {}}]}}
    assert schema_errors(pod, "1.35.0")


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_pod_is_pod_security_restricted(rendered: dict[str, Manifest], scenario: str) -> None:
    # The "custom" queue's podTemplate is the user's own and used as is: not the chart's to secure.
    problems = {where: found for where, spec in rendered[scenario].pod_specs()
                if (found := restricted_violations(spec)) and not where.endswith("custom.yaml")}
    assert not problems


def test_pod_security_check_catches_a_privileged_container() -> None:
    spec = {"containers": [{"name": "c", "securityContext": {"privileged": True}}]}
    assert restricted_violations(spec)


def test_defaults_run_airflow_3_on_the_kubernetes_executor(rendered: dict[str, Manifest]) -> None:
    manifest = rendered["defaults"]
    assert manifest.names("Deployment") == {fullname(c) for c in ("scheduler", "api-server", "dag-processor",
                                                                    "triggerer")}
    cfg = airflow_cfg(manifest)
    assert cfg["core"]["executor"] == "KubernetesExecutor"
    assert cfg["core"]["execution_api_server_url"] == f"http://{fullname('api-server')}:8080/execution/"
    assert manifest.get("Service", fullname("api-server"))["spec"]["ports"][0]["port"] == 8080
    assert cfg["kubernetes_executor"]["pod_template_file"] == "/opt/airflow/pod_templates/default.yaml"
    assert cfg["kubernetes_executor"]["namespace"] == NAMESPACE
    # The launch-rate defaults measured by tests/bench/bench_launch_rate.py.
    assert cfg["kubernetes_executor"]["async_pod_creation"] == "True"
    assert cfg["scheduler"]["max_tis_per_query"] == "128"
    assert cfg["kubernetes_executor"]["worker_pods_creation_batch_size"] == "128"
    assert cfg["kubernetes_executor"]["pod_creation_max_concurrency"] == "32"
    for deployment in manifest.of_kind("Deployment"):
        spec = deployment["spec"]["template"]["spec"]
        assert spec["initContainers"][0]["args"][:3] == ["airflow", "db", "check-migrations"]
        assert container(spec, deployment["metadata"]["labels"]["app.kubernetes.io/component"])["image"] == \
            "apache/airflow:3.3.2"
    job = manifest.get("Job", fullname("migrate-database"))
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "post-install,post-upgrade"
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["airflow", "db", "migrate"]
    assert not manifest.of_kind("StatefulSet") or manifest.names("StatefulSet") == {fullname("postgresql")}
    assert not any(d["metadata"]["name"].startswith(fullname("worker")) for d in manifest.of_kind("Deployment"))


def test_default_task_pod_gets_one_cpu_and_256mi(rendered: dict[str, Manifest]) -> None:
    pod = rendered["defaults"].task_pod_templates()["default.yaml"]
    base = pod["spec"]["containers"][0]
    assert base["name"] == "base"
    assert base["resources"] == {"requests": {"cpu": "1", "memory": "256Mi"},
                                 "limits": {"cpu": "1", "memory": "256Mi"}}
    mounts = {m["name"]: m["mountPath"] for m in base["volumeMounts"]}
    assert mounts["tmp"] == "/tmp"
    assert {"emptyDir": {}, "name": "tmp"} in pod["spec"]["volumes"]
    assert pod["spec"]["automountServiceAccountToken"] is False


def test_each_queue_renders_its_own_task_pod_template(rendered: dict[str, Manifest]) -> None:
    templates = rendered["kubernetes"].task_pod_templates()
    assert set(templates) == {"default.yaml", "highmem.yaml", "GPU.yaml"}
    highmem = templates["highmem.yaml"]["spec"]
    assert highmem["nodeSelector"] == {"node.kubernetes.io/instance-type": "r5.2xlarge"}
    assert highmem["containers"][0]["resources"]["limits"] == {"cpu": "2", "memory": "16Gi"}
    gpu = templates["GPU.yaml"]["spec"]
    assert gpu["nodeSelector"] == {"accelerator": "nvidia-t4"}
    assert gpu["tolerations"][0]["key"] == "nvidia.com/gpu"
    assert gpu["containers"][0]["resources"]["requests"] == {"cpu": "1", "memory": "256Mi"}
    assert "nodeSelector" not in templates["default.yaml"]["spec"]


def test_scheduler_mounts_the_templates_and_restarts_when_one_changes(rendered: dict[str, Manifest]) -> None:
    manifest = rendered["kubernetes"]
    scheduler = manifest.get("Deployment", fullname("scheduler"))
    spec = scheduler["spec"]["template"]["spec"]
    mounts = {m["name"]: m["mountPath"] for m in container(spec, "scheduler")["volumeMounts"]}
    assert mounts["pod-templates"] == "/opt/airflow/pod_templates"
    annotations = scheduler["spec"]["template"]["metadata"]["annotations"]
    changed = helm_template({"workers": {"queues": {"highmem": {"workerType": "r5.4xlarge"}}}})
    changed_annotations = changed.get("Deployment", fullname("scheduler"))["spec"]["template"]["metadata"][
        "annotations"]
    assert changed_annotations["checksum/pod-templates"] != annotations["checksum/pod-templates"]
    assert changed_annotations["checksum/config"] == annotations["checksum/config"]


def test_celery_runs_one_worker_per_queue_and_a_broker(rendered: dict[str, Manifest]) -> None:
    manifest = rendered["celery"]
    workers = {d["metadata"]["annotations"]["airflow-k8s/queue"]: d for d in manifest.of_kind("Deployment")
               if d["metadata"]["labels"]["app.kubernetes.io/component"] == "celery-worker"}
    assert set(workers) == {"default", "highmem", "GPU"}
    assert manifest.get("Deployment", fullname("worker-gpu")) is workers["GPU"]
    for queue, deployment in workers.items():
        spec = deployment["spec"]["template"]["spec"]
        args = container(spec, "worker")["args"]
        assert args[:3] == ["airflow", "celery", "worker"]
        assert args[args.index("--queues") + 1] == queue
        assert spec["terminationGracePeriodSeconds"] == 3600
    gpu = workers["GPU"]
    assert gpu["spec"]["replicas"] == 2
    gpu_spec = gpu["spec"]["template"]["spec"]
    assert container(gpu_spec, "worker")["args"][-1] == "4"
    assert container(gpu_spec, "worker")["resources"] == {"requests": {"cpu": "4", "memory": "8Gi"}}
    assert gpu_spec["nodeSelector"] == {"accelerator": "nvidia-t4"}
    assert workers["highmem"]["spec"]["template"]["spec"]["nodeSelector"] == {
        "node.kubernetes.io/instance-type": "r5.2xlarge"}
    assert fullname("redis") in manifest.names("Deployment")
    env = {e["name"] for e in container(gpu_spec, "worker")["env"]}
    assert "AIRFLOW__CELERY__BROKER_URL" in env
    assert airflow_cfg(manifest)["celery"]["task_acks_late"] == "True"
    # Nothing Kubernetes-executor-only without the KubernetesExecutor, but the queue templates are rendered and
    # known to the dag-processor's policy: runs created right after a switch to Kubernetes carry them.
    assert fullname("scheduler-pod-launcher") not in manifest.names("Role")
    assert set(manifest.task_pod_templates()) >= {"GPU.yaml", "highmem.yaml"}
    assert airflow_cfg(manifest)["kubernetes_executor"] == {
        "pod_template_file": "/opt/airflow/pod_templates/default.yaml",
        "worker_container_repository": "apache/airflow", "worker_container_tag": "3.3.2"}
    selectors = [tuple(sorted(d["spec"]["selector"]["matchLabels"].items())) for d in workers.values()]
    assert len(set(selectors)) == len(selectors)


def test_multi_executor_runs_both(rendered: dict[str, Manifest]) -> None:
    manifest = rendered["multi"]
    assert airflow_cfg(manifest)["core"]["executor"] == "KubernetesExecutor,CeleryExecutor"
    assert set(manifest.task_pod_templates()) == {"default.yaml", "highmem.yaml", "GPU.yaml"}
    assert fullname("worker-highmem") in manifest.names("Deployment")
    assert fullname("scheduler-pod-launcher") in manifest.names("Role")


def test_only_the_scheduler_gets_pod_rights_in_its_namespace(rendered: dict[str, Manifest]) -> None:
    for scenario in ("defaults", "multi"):
        manifest = rendered[scenario]
        assert not manifest.of_kind("ClusterRole") and not manifest.of_kind("ClusterRoleBinding")
        role = manifest.get("Role", fullname("scheduler-pod-launcher"))
        assert role["metadata"]["namespace"] == NAMESPACE
        rules = {r["resources"][0]: set(r["verbs"]) for r in role["rules"]}
        assert rules == {"pods": {"create", "get", "list", "watch", "delete", "patch"}, "pods/log": {"get"},
                         "events": {"get", "list", "watch"}}
        binding = manifest.get("RoleBinding", fullname("scheduler-pod-launcher"))
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": fullname("scheduler"),
                                        "namespace": NAMESPACE}]
        pod_right_bindings = [b for b in manifest.of_kind("RoleBinding")
                              if b["roleRef"]["name"] == fullname("scheduler-pod-launcher")]
        assert len(pod_right_bindings) == 1
        api_users = {fullname("scheduler"), fullname("api-server"), fullname("executor-switch")}
        for where, spec in manifest.pod_specs():
            if spec.get("serviceAccountName") not in api_users:
                assert spec.get("automountServiceAccountToken") is False, where


def test_every_value_set_reaches_the_objects(rendered: dict[str, Manifest]) -> None:
    manifest = rendered["everything"]
    cfg = airflow_cfg(manifest)
    assert cfg["core"]["executor"] == "KubernetesExecutor,CeleryExecutor"
    assert cfg["core"]["parallelism"] == "64"
    assert cfg["core"]["dags_folder"] == "/opt/airflow/dags/repo/dags"
    assert cfg["kubernetes_executor"]["worker_pods_creation_batch_size"] == "32"
    assert cfg["scheduler"]["max_tis_per_query"] == "32"
    assert cfg["scheduler"]["task_queued_timeout"] == "1200"
    assert cfg["kubernetes_executor"]["async_pod_creation"] == "False"
    assert cfg["kubernetes_executor"]["pod_creation_max_concurrency"] == "8"
    assert cfg["kubernetes_executor"]["delete_worker_pods"] == "False"
    assert cfg["logging"]["remote_base_log_folder"] == "s3://logs/airflow"
    assert cfg["core"]["execution_api_server_url"].endswith(":8081/execution/")
    assert not (manifest.names("StatefulSet") | {n for n in manifest.names("Deployment") if "redis" in n})
    templates = manifest.task_pod_templates()
    default = templates["default.yaml"]["spec"]
    base = default["containers"][0]
    assert base["image"] == "example.org/airflow:3.3.2-custom"
    assert base["resources"]["limits"] == {"cpu": "1", "memory": "1Gi"}
    assert default["nodeSelector"] == {"pool": "tasks"}
    assert default["tolerations"][0]["key"] == "tasks"
    assert "podAntiAffinity" in default["affinity"]
    assert default["initContainers"][0]["name"] == "git-sync-init"
    volumes = {v["name"]: v for v in default["volumes"]}
    assert set(volumes) >= {"shared", "tmp", "dags", "logs", "config"}
    # Mount volumes are named `cm-`/`secret-` + the object name + a checksum of it (dotted names stay valid).
    mounted = {v.get("configMap", v.get("secret", {})).get("name", v.get("secret", {}).get("secretName")): n
               for n, v in volumes.items() if n.startswith(("cm-", "secret-"))}
    assert mounted.keys() == {"task-config", "task-secret"}
    assert mounted["task-config"].startswith("cm-task-config-")
    mounts = {m["name"]: m["mountPath"] for m in base["volumeMounts"]}
    assert mounts["tmp"] == "/scratch" and mounts[mounted["task-config"]] == "/etc/task-config"
    assert mounts[mounted["task-secret"]] == "/etc/task-secret"
    assert {"name": "tmp", "emptyDir": {"sizeLimit": "2Gi"}} in default["volumes"]
    assert {"name": "TASK_ENV", "value": "1"} in base["env"]
    assert templates["highmem.yaml"]["spec"]["nodeSelector"] == {"pool": "tasks",
                                                                 "example.org/node-type": "r5.2xlarge"}
    assert templates["custom.yaml"]["spec"]["containers"][0]["image"] == "example.org/airflow:x"
    assert manifest.names("HorizontalPodAutoscaler") == {fullname("worker-scaled")}
    assert "replicas" not in manifest.get("Deployment", fullname("worker-scaled"))["spec"]
    assert fullname("logs") in manifest.names("PersistentVolumeClaim")
    assert any(j["metadata"]["name"].startswith(fullname("migrate-database-")) for j in manifest.of_kind("Job"))
    assert manifest.get("Service", fullname("api-server"))["spec"]["type"] == "LoadBalancer"
    assert manifest.get("Deployment", fullname("scheduler"))["spec"]["replicas"] == 2
    assert fullname("triggerer") not in manifest.names("Deployment")
    worker = manifest.get("Deployment", fullname("worker-default"))["spec"]["template"]["spec"]
    assert worker["terminationGracePeriodSeconds"] == 7200
    assert {"name": "regcred"} in worker["imagePullSecrets"]
    assert any(c["name"] == "git-sync" for c in worker["containers"])
    env = {e["name"]: e for e in container(worker, "worker")["env"]}
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]["valueFrom"]["secretKeyRef"] == {"name": "airflow-db",
                                                                                       "key": "url"}
    assert env["AIRFLOW__CELERY__BROKER_URL"]["valueFrom"]["secretKeyRef"] == {"name": "broker", "key": "url"}
    assert "COMPONENT_ENV" in env and "TASK_ENV" in env
    assert fullname("secrets") not in manifest.names("Secret")
    assert manifest.names("Pod") == {fullname("test-health"), fullname("test-run-dag")}


def test_executor_switch_hooks_drain_before_and_settle_after_the_upgrade() -> None:
    manifest = helm_template({"executor": "KubernetesExecutor", "executorSwitch": {
        "fromExecutors": "CeleryExecutor", "drainTimeout": 900}}, extra_args=("--is-upgrade",))
    jobs = {j["metadata"]["name"]: j for j in manifest.of_kind("Job")}
    drain = jobs[fullname("executor-switch-drain")]
    preflight = jobs[fullname("executor-switch-preflight")]
    settings = jobs[fullname("executor-switch-settings")]
    assert drain["metadata"]["annotations"]["helm.sh/hook"] == "pre-upgrade"
    weights = [int(j["metadata"]["annotations"]["helm.sh/hook-weight"]) for j in (preflight, drain)]
    assert weights == sorted(weights)
    args = drain["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[:4] == ["python", "-m", "airflow_k8s_hooks", "drain"]
    assert "--from-executors=CeleryExecutor" in args and "--to-executors=KubernetesExecutor" in args
    assert "--timeout=900" in args and "--on-timeout=fail" in args
    # Handed-back work is routed to its queue's template before the new scheduler starts.
    assert "--pod-template-file=/opt/airflow/pod_templates/default.yaml" in args and "--to-queues=default" in args
    env = {e["name"] for e in drain["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert "AIRFLOW__CELERY__BROKER_URL" in env, "the drain needs the old release's broker"
    assert settings["metadata"]["annotations"]["helm.sh/hook"] == "post-install,post-upgrade"
    assert "--scheduler-replicas=1" in settings["spec"]["template"]["spec"]["containers"][0]["args"]
    # The hook code ships in a ConfigMap created before the Jobs (lower weight), for the stock image.
    hooks = manifest.get("ConfigMap", fullname("executor-switch"))
    assert int(hooks["metadata"]["annotations"]["helm.sh/hook-weight"]) < min(weights)
    assert "airflow_k8s_hooks____main__.py" in hooks["data"] or "airflow_k8s_hooks__cli.py" in hooks["data"]
    items = drain["spec"]["template"]["spec"]["volumes"][-1]["configMap"]["items"]
    assert {i["key"] for i in items} == set(hooks["data"])
    # Celery workers and broker are gone from the new release: Helm removes them after the drain.
    assert not any("worker-" in n or "redis" in n for n in manifest.names("Deployment"))


def test_no_drain_when_no_executor_leaves() -> None:
    manifest = helm_template({"executorSwitch": {"fromExecutors": "KubernetesExecutor"}},
                             extra_args=("--is-upgrade",))
    assert fullname("executor-switch-drain") not in manifest.names("Job")
    assert fullname("executor-switch-preflight") in manifest.names("Job")


@pytest.mark.parametrize(("executor", "checks_queues"), [("KubernetesExecutor", False), ("CeleryExecutor", True)])
def test_preflight_checks_queues_only_for_celery(executor: str, checks_queues: bool) -> None:
    manifest = helm_template({"executor": executor, "workers": {"queues": {"etl": {}}},
                              "executorSwitch": {"fromExecutors": "LocalExecutor"}}, extra_args=("--is-upgrade",))
    preflight = {j["metadata"]["name"]: j for j in manifest.of_kind("Job")}[fullname("executor-switch-preflight")]
    args = preflight["spec"]["template"]["spec"]["containers"][0]["args"]
    assert ("--to-queues=default,etl" in args) is checks_queues, args


def test_hooks_of_a_switch_to_celery_start_before_the_broker_secret_exists() -> None:
    manifest = helm_template({"executor": "CeleryExecutor", "executorSwitch": {"fromExecutors": "KubernetesExecutor"}},
                             extra_args=("--is-upgrade",))
    for job in manifest.of_kind("Job"):
        if job["metadata"]["annotations"].get("helm.sh/hook") != "pre-upgrade":
            continue
        env = {e["name"]: e for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
        broker = env["AIRFLOW__CELERY__BROKER_URL"]["valueFrom"]["secretKeyRef"]
        assert broker["name"] == fullname("broker") and broker["optional"] is True, job["metadata"]["name"]


def env_of(c: dict[str, Any]) -> dict[str, str | None]:
    return {e["name"]: e.get("value") for e in c.get("env", [])}


def test_only_celery_workers_stop_warm_under_dumb_init(rendered: dict[str, Manifest]) -> None:
    """DUMB_INIT_SETSID=0: dumb-init signals the worker's main process only, which then waits for its tasks."""
    manifest = rendered["multi"]
    for deployment in manifest.of_kind("Deployment"):
        spec = deployment["spec"]["template"]["spec"]
        component = deployment["metadata"]["labels"]["app.kubernetes.io/component"]
        if component == "redis":
            continue
        main = container(spec, "worker" if component == "celery-worker" else component)
        expected = "0" if component == "celery-worker" else None
        assert env_of(main).get("DUMB_INIT_SETSID") == expected, deployment["metadata"]["name"]
    for key, pod in manifest.task_pod_templates().items():
        assert "DUMB_INIT_SETSID" not in env_of(pod["spec"]["containers"][0]), key


@pytest.mark.parametrize("scenario", ["defaults", "everything"])
def test_task_pods_skip_the_entrypoint_db_check(rendered: dict[str, Manifest], scenario: str) -> None:
    templates = rendered[scenario].task_pod_templates()
    for key, pod in templates.items():
        if key == "custom.yaml":  # the user's own template, used as is
            continue
        assert env_of(pod["spec"]["containers"][0])["CONNECTION_CHECK_MAX_COUNT"] == "0", key


def test_load_examples_reaches_the_env_that_beats_airflow_cfg() -> None:
    """The image's AIRFLOW__CORE__LOAD_EXAMPLES=false overrides airflow.cfg: every component gets the config value."""
    for load_examples, expected in ((None, "False"), (True, "true"), ("False", "False")):
        values: dict[str, Any] = {"executor": "KubernetesExecutor,CeleryExecutor"}
        if load_examples is not None:
            values["config"] = {"core": {"load_examples": load_examples}}
        manifest = helm_template(values)
        assert airflow_cfg(manifest)["core"]["load_examples"] == str(expected), load_examples
        seen = 0
        for where, spec in manifest.pod_specs():
            for c in spec.get("initContainers", []) + spec["containers"]:
                if "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN" in env_of(c):
                    assert env_of(c)["AIRFLOW__CORE__LOAD_EXAMPLES"] == expected, (where, c["name"])
                    seen += 1
        assert seen >= 10


def test_worker_image_and_fatal_pending_reasons_in_config(rendered: dict[str, Manifest]) -> None:
    cfg = airflow_cfg(rendered["defaults"])["kubernetes_executor"]
    assert (cfg["worker_container_repository"], cfg["worker_container_tag"]) == ("apache/airflow", "3.3.2")
    reasons = set(cfg["worker_pod_pending_fatal_container_state_reasons"].split(","))
    assert {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CreateContainerConfigError"} <= reasons
    cfg = airflow_cfg(rendered["everything"])["kubernetes_executor"]
    assert (cfg["worker_container_repository"], cfg["worker_container_tag"]) == ("example.org/airflow",
                                                                                  "3.3.2-custom")
    # config wins over the computed value, as for every key.
    override = helm_template({"config": {"kubernetes_executor": {
        "worker_pod_pending_fatal_container_state_reasons": "InvalidImageName"}}})
    assert airflow_cfg(override)["kubernetes_executor"][
        "worker_pod_pending_fatal_container_state_reasons"] == "InvalidImageName"


def test_api_server_gets_time_to_start_then_a_tight_liveness_probe(rendered: dict[str, Manifest]) -> None:
    """Without bytecode (the stock image) on a busy node the first start is slow: a startup probe covers it, so
    the liveness probe needs no initial delay and restarts a hung server within a minute."""
    spec = rendered["defaults"].get("Deployment", fullname("api-server"))["spec"]["template"]["spec"]
    api = container(spec, "api-server")
    startup, liveness = api["startupProbe"], api["livenessProbe"]
    assert startup["failureThreshold"] * startup["periodSeconds"] >= 600
    assert "initialDelaySeconds" not in liveness
    assert liveness["failureThreshold"] * liveness["periodSeconds"] <= 60
    assert startup["httpGet"] == liveness["httpGet"] == api["readinessProbe"]["httpGet"]

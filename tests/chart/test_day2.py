"""Day-2 operations: metrics, disruption budgets, placement, per-component extras, KEDA, git-sync over SSH,
db clean and log retention, rendered through helm and (task pods) built by Airflow itself."""

from __future__ import annotations

import importlib.util
import json
import os
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from .conftest import DAGS
from .render import CHART, Manifest, fullname, helm_template
from .scenarios import DAY2, SCENARIO_ARGS, USER_LOCAL_SETTINGS
from .task_pods import TaskPodBuild
from .test_render import airflow_cfg, container

MAINTENANCE = CHART / "files" / "maintenance"
CONTROL_PLANE = ("scheduler", "api-server", "dag-processor", "triggerer")


def pod_spec(manifest: Manifest, name: str) -> dict[str, Any]:
    spec: dict[str, Any] = manifest.get("Deployment", fullname(name))["spec"]["template"]["spec"]
    return spec


def load_script(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, MAINTENANCE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def day2(rendered: dict[str, Manifest]) -> Manifest:
    return rendered["day2"]


# Metrics -------------------------------------------------------------------------------------------------

def mapping_metric_names(mappings: list[dict[str, Any]]) -> set[str]:
    """Every Prometheus series name the statsd_exporter mapping produces (histograms: _bucket/_sum/_count)."""
    names: set[str] = set()
    for rule in mappings:
        if rule.get("observer_type") == "histogram":
            names |= {f"{rule['name']}{suffix}" for suffix in ("_bucket", "_sum", "_count")}
        else:
            names.add(rule["name"])
    return names


def test_dashboard_queries_only_metrics_the_mapping_produces() -> None:
    mappings = yaml.safe_load((CHART / "files" / "statsd" / "mappings.yml").read_text())["mappings"]
    produced = mapping_metric_names(mappings)
    dashboard = json.loads((CHART / "dashboards" / "airflow-k8s.json").read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]
    queried = {m for expr in exprs for m in re.findall(r"\b(airflow_[a-z0-9_]+)", expr)}
    assert queried - produced == set(), "dashboard queries metrics the mapping never produces"
    # The executor, task-pod launches and a switch in progress are all on it.
    assert {"airflow_scheduler_heartbeat", "airflow_executor_running_tasks", "airflow_executor_queued_tasks",
            "airflow_executor_open_slots", "airflow_kubernetes_executor_pod_creations", "airflow_ti_start"} <= queried
    assert any("executor-switch" in expr for expr in exprs)
    # ... and the hooks' own figures while a switch runs.
    assert {"airflow_executor_switch_tasks_left", "airflow_executor_switch_seconds_waited",
            "airflow_executor_switch_handed_back", "airflow_executor_switch_step_seconds",
            "airflow_executor_switch_runs"} <= queried
    others = {m for expr in exprs for m in re.findall(r"\b([a-z_]+)\{", expr)} - queried
    assert others <= {"kube_job_status_active"}, others


def exported(mappings: list[dict[str, Any]], statsd_name: str) -> tuple[str, dict[str, str]]:
    """The Prometheus name and labels statsd_exporter gives a StatsD name: the first rule whose glob matches
    (``*`` is one dot-separated part), else the name with dots as underscores."""
    for rule in mappings:
        pattern = "\\.".join("([^.]+)" if part == "*" else re.escape(part) for part in rule["match"].split("."))
        if m := re.fullmatch(pattern, statsd_name):
            labels = {k: m.expand(re.sub(r"\$(\d)", r"\\\1", v)) for k, v in rule.get("labels", {}).items()}
            return rule["name"], labels
    return statsd_name.replace(".", "_"), {}


def test_the_hooks_figures_become_metrics_with_queue_and_step_labels(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_k8s_hooks import metrics, progress
    from airflow_k8s_hooks.drain import TASKS_LEFT, Outcome

    sent: list[str] = []

    class Recorder:
        def gauge(self, name: str, _: float) -> None:
            sent.append(name)

        incr = gauge

    monkeypatch.setattr(metrics, "_client", Recorder())
    monkeypatch.setattr(metrics, "_shown", {})
    progress.wait_until("drain", "work", lambda: {"gpu.large (running)": 1, "default (worker)": 2},
                        progress.Deadline(0), interval=0, metric=TASKS_LEFT)
    Outcome().hand_back(3)
    metrics.step_finished("migrate-settings", "timed out", 1.5)
    mappings = yaml.safe_load((CHART / "files" / "statsd" / "mappings.yml").read_text())["mappings"]
    got = {(name, tuple(sorted(labels.items()))) for name, labels in (exported(mappings, f"airflow.{s}") for s in sent)}
    assert got == {
        ("airflow_executor_switch_tasks_left", (("queue", "gpu_large"),)),
        ("airflow_executor_switch_tasks_left", (("queue", "default"),)),
        ("airflow_executor_switch_seconds_waited", ()),
        ("airflow_executor_switch_handed_back", ()),
        ("airflow_executor_switch_step_seconds", (("step", "migrate-settings"),)),
        ("airflow_executor_switch_runs", (("result", "timed_out"), ("step", "migrate-settings"))),
    }


def test_statsd_exporter_serves_airflow_metrics(day2: Manifest, rendered: dict[str, Manifest]) -> None:
    cfg = airflow_cfg(day2)["metrics"]
    assert cfg == {"statsd_on": "True", "statsd_host": fullname("statsd"), "statsd_port": "9125",
                   "statsd_prefix": "airflow"}
    spec = pod_spec(day2, "statsd")
    exporter = container(spec, "statsd-exporter")
    assert exporter["image"] == "prom/statsd-exporter:v0.28.0"
    assert "--statsd.mapping-config=/etc/statsd-exporter/mappings.yml" in exporter["args"]
    assert spec["priorityClassName"] == "airflow-default"
    service = day2.get("Service", fullname("statsd"))
    assert service["metadata"]["annotations"] == {"prometheus.io/scrape": "true", "prometheus.io/port": "9102",
                                                  "prometheus.io/path": "/metrics"}
    assert {(p["port"], p["protocol"]) for p in service["spec"]["ports"]} == {(9125, "UDP"), (9125, "TCP"),
                                                                            (9102, "TCP")}
    mappings = yaml.safe_load(day2.get("ConfigMap", fullname("statsd"))["data"]["mappings.yml"])["mappings"]
    assert mappings[0]["name"] == "airflow_custom", "extraMappings come first"
    assert "airflow_scheduler_heartbeat" in mapping_metric_names(mappings)
    monitor = day2.get("ServiceMonitor", fullname("statsd"))
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    defaults = rendered["defaults"]
    assert "metrics" not in airflow_cfg(defaults)
    assert fullname("statsd") not in defaults.names("Deployment")


def test_statsd_prefix_reaches_airflow_and_the_mapping() -> None:
    manifest = helm_template({"statsd": {"enabled": True, "prefix": "prod_airflow"}})
    assert airflow_cfg(manifest)["metrics"]["statsd_prefix"] == "prod_airflow"
    mappings = yaml.safe_load(manifest.get("ConfigMap", fullname("statsd"))["data"]["mappings.yml"])["mappings"]
    assert all(rule["match"].startswith("prod_airflow.") for rule in mappings)


def test_service_monitor_and_keda_objects_need_their_apis() -> None:
    manifest = helm_template(DAY2)
    assert not manifest.of_kind("ServiceMonitor")
    assert not manifest.of_kind("ScaledObject") and not manifest.of_kind("TriggerAuthentication")
    # Without KEDA the workers keep a fixed size instead of none.
    assert manifest.get("Deployment", fullname("worker-default"))["spec"]["replicas"] == 1


# Disruption and placement ------------------------------------------------------------------------------

def test_disruption_budgets_only_where_more_than_one_replica_runs(day2: Manifest,
                                                                  rendered: dict[str, Manifest]) -> None:
    budgets = {p["metadata"]["name"]: p["spec"] for p in day2.of_kind("PodDisruptionBudget")}
    # dag-processor: disabled; triggerer: one replica.
    assert set(budgets) == {fullname("scheduler"), fullname("api-server")}
    assert budgets[fullname("scheduler")]["maxUnavailable"] == 1
    assert budgets[fullname("api-server")]["maxUnavailable"] == "50%"
    deployment = day2.get("Deployment", fullname("api-server"))
    assert budgets[fullname("api-server")]["selector"] == deployment["spec"]["selector"]
    assert not rendered["defaults"].of_kind("PodDisruptionBudget")


def test_spread_and_priority_replace_the_global_ones_level_by_level(day2: Manifest) -> None:
    scheduler = pod_spec(day2, "scheduler")
    assert scheduler["priorityClassName"] == "airflow-control"
    assert [c["topologyKey"] for c in scheduler["topologySpreadConstraints"]] == ["kubernetes.io/hostname"]
    triggerer = pod_spec(day2, "triggerer")
    assert triggerer["priorityClassName"] == "airflow-default"
    (zone,) = triggerer["topologySpreadConstraints"]
    assert zone["topologyKey"] == "topology.kubernetes.io/zone"
    selector = day2.get("Deployment", fullname("triggerer"))["spec"]["selector"]
    assert zone["labelSelector"] == selector, "a constraint without labelSelector spreads the pod's own kind"
    templates = day2.task_pod_templates()
    default, highmem = templates["default.yaml"]["spec"], templates["highmem.yaml"]["spec"]
    assert default["priorityClassName"] == "airflow-tasks"
    assert highmem["priorityClassName"] == "airflow-highmem"
    spread_labels = default["topologySpreadConstraints"][0]["labelSelector"]["matchLabels"]
    assert spread_labels["airflow-k8s/queue-slug"] == "default"
    assert highmem["topologySpreadConstraints"][0]["maxSkew"] == 2
    worker = pod_spec(day2, "worker-highmem")
    assert worker["priorityClassName"] == "airflow-highmem"
    assert worker["topologySpreadConstraints"][0]["labelSelector"]["matchLabels"] == {
        **day2.get("Deployment", fullname("worker-highmem"))["spec"]["selector"]["matchLabels"]}
    assert pod_spec(day2, "worker-gpu")["priorityClassName"] == "airflow-tasks"


def test_task_pods_get_their_grace_period(day2: Manifest, rendered: dict[str, Manifest]) -> None:
    assert day2.task_pod_templates()["GPU.yaml"]["spec"]["terminationGracePeriodSeconds"] == 900
    assert rendered["defaults"].task_pod_templates()["default.yaml"]["spec"]["terminationGracePeriodSeconds"] == 600


# Extensibility -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("component", ["scheduler", "api-server", "dag-processor"])
def test_every_component_takes_its_extras(day2: Manifest, component: str) -> None:
    deployment = day2.get("Deployment", fullname(component))
    template = deployment["spec"]["template"]
    spec = template["spec"]
    for labels in (deployment["metadata"]["labels"], template["metadata"]["labels"]):
        assert labels["team"] == "data"
        assert labels["app.kubernetes.io/component"] == component, "the chart's labels win"
    assert template["metadata"]["annotations"]["example.org/scrape"] == "no"
    assert "checksum/config" in template["metadata"]["annotations"]
    main = container(spec, component)
    assert main["envFrom"] == [{"secretRef": {"name": "component-env"}}]
    assert {"name": "extra", "mountPath": "/extra"} in main["volumeMounts"]
    names = [c["name"] for c in spec["initContainers"]]
    assert names[0] == "wait-for-airflow-migrations" and names[-1] == "prepare", "the user's run after the chart's"
    assert spec["containers"][-1]["name"] == "sidecar"
    assert {"name": "extra", "emptyDir": {}} in spec["volumes"]
    assert container(pod_spec(day2, "triggerer"), "triggerer")["envFrom"][0]["prefix"] == "T_"


def test_task_pods_and_celery_workers_take_the_worker_extras(day2: Manifest) -> None:
    pod = day2.task_pod_templates()["default.yaml"]
    spec = pod["spec"]
    assert [c["name"] for c in spec["containers"]] == ["base", "sidecar"], "base stays container 0"
    assert [c["name"] for c in spec["initContainers"]] == ["git-sync-init", "native-sidecar"]
    assert spec["containers"][0]["envFrom"] == [{"secretRef": {"name": "task-env"}}]
    assert pod["metadata"]["labels"]["cost-center"] == "etl"
    assert pod["metadata"]["labels"]["app.kubernetes.io/component"] == "task"
    worker = day2.get("Deployment", fullname("worker-gpu"))["spec"]["template"]
    assert worker["metadata"]["labels"]["cost-center"] == "etl"
    assert worker["metadata"]["annotations"]["example.org/team"] == "data"
    assert container(worker["spec"], "worker")["envFrom"] == [{"secretRef": {"name": "task-env"}}]
    assert "sidecar" in {c["name"] for c in worker["spec"]["containers"]}
    assert "native-sidecar" in {c["name"] for c in worker["spec"]["initContainers"]}


def test_extra_objects_are_rendered_with_tpl(day2: Manifest) -> None:
    assert day2.get("ConfigMap", "af-extra")["data"] == {"release": "af"}
    assert day2.get("Secret", "af-extra-secret")["stringData"] == {"key": "value"}


def test_user_local_settings_ship_beside_the_chart_policy(day2: Manifest, rendered: dict[str, Manifest]) -> None:
    data = day2.get("ConfigMap", fullname("config"))["data"]
    assert data["user_airflow_local_settings.py"].strip() == USER_LOCAL_SETTINGS.strip()
    mounts = {m["mountPath"] for m in container(pod_spec(day2, "dag-processor"), "dag-processor")["volumeMounts"]}
    assert "/opt/airflow/config/user_airflow_local_settings.py" in mounts
    assert "user_airflow_local_settings.py" not in rendered["defaults"].get("ConfigMap", fullname("config"))["data"]
    changed = helm_template({"airflowLocalSettings": "X = 1\n"})
    annotation = "checksum/config"
    assert rendered["defaults"].get("Deployment", fullname("scheduler"))["spec"]["template"]["metadata"][
        "annotations"][annotation] != changed.get("Deployment", fullname("scheduler"))["spec"]["template"][
        "metadata"]["annotations"][annotation], "components restart when the user's settings change"


def test_chart_policy_exports_the_user_names_and_keeps_its_own(tmp_path: Path) -> None:
    (tmp_path / "airflow_local_settings.py").write_text((CHART / "files" / "airflow_local_settings.py").read_text())
    (tmp_path / "user_airflow_local_settings.py").write_text(
        "import os\n_helper = 1\n\ndef dag_policy(dag):\n    dag.tags = ['user']\n\n"
        "def task_policy(task):\n    task.queue = 'rerouted'\n\ndef _queue_template(queue):\n    return 'hijacked'\n")
    spec = importlib.util.spec_from_file_location("chart_local_settings_under_test",
                                                  tmp_path / "airflow_local_settings.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert {"task_policy", "dag_policy", "os", "_helper"} <= set(module.__all__)
    assert module.dag_policy.__module__ == "user_airflow_local_settings"
    assert module._queue_template.__module__ != "user_airflow_local_settings", "chart helpers are never replaced"

    # Not a pod executor: the chart's routing leaves it alone, so no Airflow config is read.
    task = SimpleNamespace(executor="CeleryExecutor", queue="default", executor_config={}, task_id="t")
    module.task_policy(task)
    assert task.queue == "rerouted", "the user's task_policy ran"


# KEDA ---------------------------------------------------------------------------------------------------

def test_keda_scales_each_celery_queue_on_its_queued_and_running_tasks(day2: Manifest) -> None:
    scaled = {o["metadata"]["annotations"]["airflow-k8s/queue"]: o["spec"] for o in day2.of_kind("ScaledObject")}
    assert set(scaled) == {"default", "highmem", "GPU"}, "queue `fixed` turned KEDA off"
    assert day2.get("Deployment", fullname("worker-fixed"))["spec"]["replicas"] == 2
    for queue, spec in scaled.items():
        name = fullname(f"worker-{queue.lower()}")
        assert spec["scaleTargetRef"] == {"name": name}
        assert "replicas" not in day2.get("Deployment", name)["spec"], "KEDA owns the size"
        (trigger,) = spec["triggers"]
        query = trigger["metadata"]["query"]
        assert trigger["type"] == "postgresql"
        assert f"queue = '{queue}'" in query and "state IN ('queued', 'running')" in query
        # Celery is the default executor of this list: unpinned tasks are Celery's.
        assert "(executor IS NULL OR executor LIKE '%CeleryExecutor')" in query
        assert trigger["authenticationRef"] == {"name": fullname("keda-db")}
        assert spec["maxReplicaCount"] == 4
    assert "/ 4)" in scaled["GPU"]["triggers"][0]["metadata"]["query"], "the queue's own concurrency"
    assert "/ 16)" in scaled["default"]["triggers"][0]["metadata"]["query"]
    assert scaled["highmem"]["minReplicaCount"] == 1 and scaled["default"]["minReplicaCount"] == 0
    auth = day2.get("TriggerAuthentication", fullname("keda-db"))["spec"]["secretTargetRef"]
    assert auth == [{"parameter": "connection", "name": fullname("database"), "key": "keda-connection"}]
    secret = day2.get("Secret", fullname("database"))["stringData"]
    assert secret["keda-connection"].startswith("postgresql://airflow:")
    # Scale-down stops a worker with SIGTERM: warm shutdown within the grace period.
    assert pod_spec(day2, "worker-default")["terminationGracePeriodSeconds"] == 3600


def test_keda_with_a_single_celery_executor_counts_every_task_of_the_queue() -> None:
    manifest = helm_template({"executor": "CeleryExecutor", "workers": {"celery": {"keda": {"enabled": True}}}},
                             extra_args=SCENARIO_ARGS["day2"])
    query = manifest.get("ScaledObject", fullname("worker-default"))["spec"]["triggers"][0]["metadata"]["query"]
    assert "executor" not in query.split("WHERE")[1]


# DAGs and housekeeping ---------------------------------------------------------------------------------

def test_git_sync_over_ssh_checks_the_host_key(day2: Manifest) -> None:
    spec = pod_spec(day2, "dag-processor")
    sync = container(spec, "git-sync")
    env = {e["name"]: e["value"] for e in sync["env"]}
    assert env == {"GITSYNC_SSH_KEY_FILE": "/etc/git-secret/key", "GITSYNC_SSH_KNOWN_HOSTS": "true",
                   "GITSYNC_SSH_KNOWN_HOSTS_FILE": "/etc/git-known-hosts/known_hosts"}
    assert "--repo=git@example.org:data/dags.git" in sync["args"]
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["git-ssh-key"]["secret"] == {"secretName": "git-deploy-key", "defaultMode": 0o440,
                                                "items": [{"key": "ssh-privatekey", "path": "key"}]}
    known = day2.get("ConfigMap", fullname("git-known-hosts"))["data"]["known_hosts"]
    assert known.startswith("example.org ssh-ed25519 ")
    # Only git-sync sees the key: not the Airflow container.
    assert "git-ssh-key" not in {m["name"] for m in container(spec, "dag-processor")["volumeMounts"]}
    init = day2.task_pod_templates()["default.yaml"]["spec"]["initContainers"][0]
    assert {"git-ssh-key", "git-known-hosts"} <= {m["name"] for m in init["volumeMounts"]}


def test_db_clean_cronjob_runs_the_script_without_a_shell(day2: Manifest) -> None:
    cronjob = day2.get("CronJob", fullname("db-clean"))
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    spec = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    clean = container(spec, "db-clean")
    assert clean["args"] == ["python", "/opt/airflow-k8s/maintenance/db_clean.py", "--retention-days=30",
                             "--tables=dag_run,xcom", "--skip-archive"]
    assert spec["automountServiceAccountToken"] is False
    env = {e["name"] for e in clean["env"]}
    assert "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN" in env
    scripts = day2.get("ConfigMap", fullname("maintenance"))["data"]
    assert scripts["db_clean.py"].strip() == (MAINTENANCE / "db_clean.py").read_text().strip()


def test_db_clean_computes_the_cut_off_at_run_time() -> None:
    import datetime

    db_clean = load_script("db_clean")
    now = datetime.datetime(2026, 3, 31, 12, 0, tzinfo=datetime.timezone.utc)
    assert db_clean.clean_command(30, "dag_run,xcom", True, now=now) == [
        "airflow", "db", "clean", "--clean-before-timestamp", "2026-03-01T12:00:00+00:00", "--yes",
        "--tables=dag_run,xcom", "--skip-archive"]
    assert db_clean.clean_command(1, "", False, now=now)[-1] == "--yes"


def test_log_groomer_runs_beside_every_component_that_writes_logs(day2: Manifest,
                                                                   rendered: dict[str, Manifest]) -> None:
    for name in ("scheduler", "dag-processor", "triggerer", "worker-default"):
        spec = pod_spec(day2, name)
        groomer = container(spec, "log-groomer")
        assert groomer["args"][-4:] == ["--days", "7", "--interval", "600"], name
        assert {"name": "logs", "mountPath": "/opt/airflow/logs"} in groomer["volumeMounts"]
    assert "log-groomer" not in {c["name"] for c in pod_spec(day2, "api-server")["containers"]}
    off = helm_template({"logs": {"retention": {"enabled": False}}})
    assert "log-groomer" not in {c["name"] for c in pod_spec(off, "scheduler")["containers"]}
    assert fullname("maintenance") not in off.names("ConfigMap")
    assert "log-groomer" in {c["name"] for c in pod_spec(rendered["defaults"], "scheduler")["containers"]}


def test_log_groomer_deletes_only_old_files(tmp_path: Path) -> None:
    groomer = load_script("log_groomer")
    old_dir = tmp_path / "dag_id=a" / "run_id=old"
    old_dir.mkdir(parents=True)
    (old_dir / "attempt=1.log").write_text("old")
    fresh = tmp_path / "dag_id=a" / "run_id=new" / "attempt=1.log"
    fresh.parent.mkdir(parents=True)
    fresh.write_text("new")
    day = 86400.0
    now = fresh.stat().st_mtime + day
    os.utime(old_dir / "attempt=1.log", (now - 20 * day, now - 20 * day))
    waiting = tmp_path / "dag_id=b" / "run_id=starting"  # a task about to write its first log
    waiting.mkdir(parents=True)
    assert groomer.sweep(tmp_path, 15 * day, now=now) == (1, 1)
    assert fresh.exists() and not old_dir.exists() and waiting.exists() and tmp_path.exists()


# Task pods as Airflow builds them, with the user's policy in play ----------------------------------------

@pytest.fixture(scope="module")
def day2_pods(day2: Manifest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    pods: dict[str, Any] = TaskPodBuild(day2, DAGS, tmp_path_factory.mktemp("day2-pods")).pods()
    return pods


def test_user_task_policy_and_chart_routing_both_apply(day2_pods: dict[str, Any]) -> None:
    rerouted = day2_pods["queue_routing.on_unknown_queue"]
    # The user's policy moved it to GPU, then the chart routed it to GPU's template.
    assert rerouted["spec"]["nodeSelector"] == {"accelerator": "nvidia-t4"}
    assert rerouted["metadata"]["labels"]["example.org/user-policy"] == "applied"
    highmem = day2_pods["queue_routing.on_highmem"]
    assert highmem["spec"]["nodeSelector"] == {"node.kubernetes.io/instance-type": "r5.2xlarge"}
    assert highmem["metadata"]["labels"]["example.org/user-policy"] == "applied"
    own = day2_pods["queue_routing.on_highmem_with_override"]
    assert {"name": "FROM_OVERRIDE", "value": "1"} in own["spec"]["containers"][0]["env"]


def test_worker_extras_survive_airflows_pod_merge(day2_pods: dict[str, Any]) -> None:
    pod = day2_pods["queue_routing.on_default"]
    spec = pod["spec"]
    assert [c["name"] for c in spec["containers"]] == ["base", "sidecar"]
    assert spec["terminationGracePeriodSeconds"] == 900
    assert spec["priorityClassName"] == "airflow-tasks"
    assert spec["topologySpreadConstraints"][0]["topologyKey"] == "topology.kubernetes.io/zone"
    assert spec["containers"][0]["envFrom"] == [{"secretRef": {"name": "task-env"}}]
    assert pod["metadata"]["labels"]["cost-center"] == "etl"

"""Final task pods for a chart render, built by Airflow itself in a fresh interpreter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from .render import Manifest, fullname

HERE = Path(__file__).resolve().parent


class TaskPodBuild:
    """Airflow building every task's pod in a subprocess (Airflow reads config and local settings once, at
    import); started at once, so the suite's other tests run while Airflow imports."""

    def __init__(self, manifest: Manifest, dag_folder: Path, workdir: Path) -> None:
        self.output = workdir / "pods.json"
        self.process = subprocess.Popen(
            [sys.executable, str(HERE / "build_task_pods.py"), str(dag_folder), str(self.output)],
            env=_airflow_env(manifest, workdir), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )

    def pods(self) -> dict[str, dict[str, Any]]:
        stdout, stderr = self.process.communicate(timeout=300)
        if self.process.returncode != 0:
            raise AssertionError(f"building task pods failed:\n{stdout}\n{stderr}")
        pods: dict[str, dict[str, Any]] = json.loads(self.output.read_text())
        return pods


def _airflow_env(manifest: Manifest, workdir: Path) -> dict[str, str]:
    """Lay the rendered ConfigMaps out as the chart mounts them; the environment that points Airflow there.

    The rendered airflow.cfg is Airflow's config, as in the pods (DAGs read it at parse time, the executor
    reads its `[kubernetes_executor]` section); only paths of this machine are overridden through the env.
    """
    airflow_home = workdir / "airflow-home"
    templates = workdir / "pod_templates"
    (airflow_home / "config").mkdir(parents=True)
    templates.mkdir()
    config = manifest.get("ConfigMap", fullname("config"))["data"]
    (airflow_home / "airflow.cfg").write_text(config["airflow.cfg"])
    # airflow_local_settings.py and, with `airflowLocalSettings`, the user's module beside it.
    for key, text in config.items():
        if key.endswith(".py"):
            (airflow_home / "config" / key).write_text(text)
    for key, text in manifest.get("ConfigMap", fullname("pod-templates"))["data"].items():
        (templates / key).write_text(text)
    scheduler = manifest.get("Deployment", fullname("scheduler"))["spec"]["template"]["spec"]
    scheduler_env = scheduler["containers"][0]["env"]
    env = {
        **os.environ,
        **{e["name"]: e["value"] for e in scheduler_env if e["name"] == "AIRFLOW_K8S_PROTECTED_SERVICE_ACCOUNTS"},
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__KUBERNETES_EXECUTOR__POD_TEMPLATE_FILE": str(templates / "default.yaml"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(workdir / "dags"),
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(workdir / "logs"),
    }
    return env

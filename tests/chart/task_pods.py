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


def build_task_pods(manifest: Manifest, dag_folder: Path, workdir: Path) -> dict[str, dict[str, Any]]:
    """Lay the rendered ConfigMaps out as the chart mounts them, then let Airflow build every task's pod.

    A subprocess because Airflow reads its config and local settings once, at import.
    """
    airflow_home = workdir / "airflow-home"
    templates = workdir / "pod_templates"
    (airflow_home / "config").mkdir(parents=True)
    templates.mkdir()
    config = manifest.get("ConfigMap", fullname("config"))["data"]
    (airflow_home / "config" / "airflow_local_settings.py").write_text(config["airflow_local_settings.py"])
    for key, text in manifest.get("ConfigMap", fullname("pod-templates"))["data"].items():
        (templates / key).write_text(text)
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "KubernetesExecutor",
        "AIRFLOW__KUBERNETES_EXECUTOR__POD_TEMPLATE_FILE": str(templates / "default.yaml"),
        "AIRFLOW__KUBERNETES_EXECUTOR__NAMESPACE": "airflow",
    }
    output = workdir / "pods.json"
    result = subprocess.run([sys.executable, str(HERE / "build_task_pods.py"), str(dag_folder), str(output)],
                            env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise AssertionError(f"building task pods failed:\n{result.stdout}\n{result.stderr}")
    pods: dict[str, dict[str, Any]] = json.loads(output.read_text())
    return pods

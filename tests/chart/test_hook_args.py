"""Every hook Job's command line, as the chart renders it, parses through the hooks' own parser.

The parser refuses what Kubernetes or Airflow would (names, queue names that are paths, a relative pod template
file): a chart that rendered such an argument would fail its upgrade at the first hook.
"""

from __future__ import annotations

from typing import Any

import pytest
from airflow_k8s_hooks.cli import build_parser

from .render import helm_template

QUEUES = {"default": {}, "high_memory": {"workerType": "r5.2xlarge"}, "GPU": {}, "etl.v2": {}}


@pytest.mark.parametrize(("values", "commands"), [
    ({"executor": "KubernetesExecutor", "workers": {"queues": QUEUES},
      "executorSwitch": {"fromExecutors": "CeleryExecutor", "onTimeout": "keep-old-executor"}},
     {"preflight", "drain", "migrate-settings", "cleanup"}),
    ({"executor": "CeleryExecutor,KubernetesExecutor", "workers": {"queues": QUEUES},
      "executorSwitch": {"fromExecutors": "KubernetesExecutor", "drainTimeout": 1000000}},
     {"preflight", "migrate-settings", "cleanup"}),
], ids=["celery-to-kubernetes", "kubernetes-to-both"])
def test_rendered_hook_args_parse(values: dict[str, Any], commands: set[str]) -> None:
    manifest = helm_template(values, extra_args=("--is-upgrade",))
    seen = set()
    for job in manifest.of_kind("Job") + manifest.of_kind("Pod"):
        for c in job["spec"].get("template", job)["spec"]["containers"]:
            args = c.get("args") or []
            if args[:3] != ["python", "-m", "airflow_k8s_hooks"]:
                continue
            parsed = build_parser().parse_args(args[3:])  # exits 2, naming the flag, on anything it refuses
            seen.add(parsed.command)
    assert commands <= seen, f"rendered hook commands: {seen}"

"""Render the chart through the real `helm` binary and read the objects back."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "chart"
HELM = os.environ.get("HELM", str(ROOT / ".tools" / "bin" / "helm"))
NAMESPACE = "airflow"
RELEASE = "af"


class RenderError(Exception):
    """`helm template` refused the values; the message is helm's stderr."""


@dataclass(frozen=True)
class Manifest:
    """The objects of one render, with lookups by kind and name."""

    objects: tuple[dict[str, Any], ...]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o["kind"] == kind]

    def get(self, kind: str, name: str) -> dict[str, Any]:
        for obj in self.of_kind(kind):
            if obj["metadata"]["name"] == name:
                return obj
        raise KeyError(f"no {kind} {name}; have {[o['metadata']['name'] for o in self.of_kind(kind)]}")

    def names(self, kind: str) -> set[str]:
        return {o["metadata"]["name"] for o in self.of_kind(kind)}

    def pod_specs(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every pod spec the chart renders: workloads, test pods, and the task pod templates."""
        for obj in self.objects:
            kind, name = obj["kind"], obj["metadata"]["name"]
            if kind == "Pod":
                yield f"Pod/{name}", obj["spec"]
            elif kind in ("Deployment", "StatefulSet", "Job"):
                yield f"{kind}/{name}", obj["spec"]["template"]["spec"]
        for key, pod in self.task_pod_templates().items():
            yield f"task pod template {key}", pod["spec"]

    def task_pod_templates(self) -> dict[str, dict[str, Any]]:
        templates = self.of_kind("ConfigMap")
        found = [t for t in templates if t["metadata"]["name"].endswith("-pod-templates")]
        if not found:
            return {}
        return {key: yaml.safe_load(text) for key, text in found[0]["data"].items()}


# `helm template` has no cluster to keep generated secrets in: the chart refuses such a render unless told it is
# a preview (secrets.renderOffline). A later `--set secrets.renderOffline=false` in extra_args tests the refusal.
OFFLINE = ("--set", "secrets.renderOffline=true")


def helm_template(values: dict[str, Any] | None = None, *, helm: str = HELM, release: str = RELEASE,
                  extra_args: tuple[str, ...] = ()) -> Manifest:
    """Render the chart with `values` (passed as a values file on stdin)."""
    result = subprocess.run(
        [helm, "template", release, str(CHART), "--namespace", NAMESPACE, "-f", "-", *OFFLINE, *extra_args],
        input=yaml.safe_dump(values or {}), capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        raise RenderError(result.stderr.strip())
    return Manifest(tuple(o for o in yaml.safe_load_all(result.stdout) if o))


def fullname(component: str) -> str:
    return f"{RELEASE}-airflow-k8s-{component}"

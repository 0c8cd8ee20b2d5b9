from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from .render import NAMESPACE, Manifest, RenderError, helm_template
from .scenarios import SCENARIO_ARGS, SCENARIOS
from .task_pods import TaskPodBuild

DAGS = Path(__file__).resolve().parents[1] / "dags"

KUBERNETES_VERSIONS = ("1.30.0", "1.35.0")

# Kinds kubernetes-validate has no schema for (Gateway API): their tests check the structure by hand.
UNSCHEMED_KINDS = frozenset({"HTTPRoute"})


@functools.cache
def render_all() -> dict[str, Manifest]:
    """Every scenario rendered once, in parallel: tests assert many things on each render."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {name: pool.submit(helm_template, values, extra_args=SCENARIO_ARGS.get(name, ()))
                   for name, values in SCENARIOS.items()}
        return {name: future.result() for name, future in futures.items()}


@pytest.fixture(scope="session")
def rendered() -> dict[str, Manifest]:
    return render_all()


@pytest.fixture(scope="session", autouse=True)
def task_pod_build(tmp_path_factory: pytest.TempPathFactory) -> TaskPodBuild:
    """Started before the first test: Airflow builds the "kubernetes" scenario's task pods meanwhile."""
    return TaskPodBuild(render_all()["kubernetes"], DAGS, tmp_path_factory.mktemp("task-pods"))


def kube_objects() -> list[tuple[str, dict[str, Any]]]:
    """(id, object) of every rendered object, task pod templates included as Pods."""
    found = []
    for scenario, manifest in render_all().items():
        for obj in manifest.objects:
            if obj["kind"] in UNSCHEMED_KINDS:
                continue
            found.append((f"{scenario}/{obj['kind']}/{obj['metadata']['name']}", obj))
        for key, pod in manifest.task_pod_templates().items():
            found.append((f"{scenario}/task-pod-template/{key}",
                          {**pod, "metadata": {**pod["metadata"], "namespace": NAMESPACE}}))
    return found


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # One test per object and Kubernetes version: a failure names the object.
    if "kube_object" in metafunc.fixturenames:
        try:
            objects = kube_objects()
        except RenderError as error:  # a broken chart fails the tests, not the collection
            objects = [("render-failed", {"render_error": str(error)})]
        params = [pytest.param(obj, version, id=f"{name}@{version}")
                  for name, obj in objects for version in KUBERNETES_VERSIONS]
        metafunc.parametrize(("kube_object", "kubernetes_version"), params)

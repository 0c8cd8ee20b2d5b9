"""Property: any values file either renders manifests that pass strict Kubernetes schema validation, or
`helm template` refuses it with a message naming a key. Never a crash, never an invalid manifest.

Fixed seed (derandomize) so CI is repeatable. FUZZ_EXAMPLES sets the size (`make fuzz` runs 1,000).
"""

from __future__ import annotations

import os
import re
from typing import Any

from hypothesis import HealthCheck, event, given, settings

from .conftest import KUBERNETES_VERSIONS
from .kube_schema import schema_errors
from .render import NAMESPACE, RenderError, helm_template
from .scenarios import SCENARIO_ARGS
from .values_space import VALUES

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))
# Either the schema's `at '/key/path'` or one of _validate.tpl's messages, which start with the key.
_NAMED_KEY = re.compile(
    r"at '/[^']+'|additional properties|execution error at \([^)]+\): (executor|workers\.|database\.|celery\.|"
    r"dags\.|logs\.|networkPolicy\.|config\.|executorSwitch\.|fullnameOverride)"
)
_CRASH = re.compile(r"YAML parse error|nil pointer|error calling|wrong type|can't evaluate|unable to parse")


def _check_refusal(message: str) -> None:
    assert not _CRASH.search(message), f"the chart crashed instead of naming a key:\n{message}"
    assert _NAMED_KEY.search(message), f"refusal names no key:\n{message}"


def _check_manifests(values: dict[str, Any]) -> None:
    # With the prometheus-operator and KEDA APIs present, so their objects are rendered and checked too.
    manifest = helm_template(values, extra_args=SCENARIO_ARGS["day2"])
    objects = list(manifest.objects) + [
        {**pod, "metadata": {**pod["metadata"], "namespace": NAMESPACE}}
        for pod in manifest.task_pod_templates().values()
    ]
    for obj in objects:
        for version in KUBERNETES_VERSIONS:
            errors = schema_errors(obj, version)
            assert not errors, f"{obj['kind']}/{obj['metadata'].get('name')} is invalid at {version}: {errors}"


@settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(values=VALUES)
def test_values_render_valid_manifests_or_fail_naming_a_key(values: dict[str, Any]) -> None:
    try:
        _check_manifests(values)
    except RenderError as refused:
        event("refused")
        _check_refusal(str(refused))
    else:
        event("rendered")

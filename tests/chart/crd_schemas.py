"""Strict schemas for the custom resources the chart renders (kubernetes-validate knows only built-in kinds).

Written from the CRDs' API references (prometheus-operator monitoring.coreos.com/v1 ServiceMonitor, KEDA
keda.sh/v1alpha1 ScaledObject and TriggerAuthentication), restricted to the fields this chart may set: an
unknown or misspelt field fails, as it would be pruned or refused by the API server.
"""

from __future__ import annotations

from typing import Any

_NAME = {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
         "maxLength": 253}
_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
_METADATA = {"type": "object", "required": ["name"], "properties": {
    "name": _NAME, "namespace": {"type": "string"}, "labels": _STRING_MAP, "annotations": _STRING_MAP}}


def _resource(api_version: str, kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "additionalProperties": False, "required": ["apiVersion", "kind", "metadata", "spec"],
            "properties": {"apiVersion": {"const": api_version}, "kind": {"const": kind},
                           "metadata": _METADATA, "spec": spec}}


def _strict(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"type": "object", "additionalProperties": False, "properties": properties, "required": list(required)}


_DURATION = {"type": "string", "pattern": "^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?"
                                          "(([0-9]+)s)?(([0-9]+)ms)?)$"}
_LABEL_SELECTOR = _strict({"matchLabels": _STRING_MAP, "matchExpressions": {"type": "array"}})

SCHEMAS: dict[tuple[str, str], dict[str, Any]] = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): _resource("monitoring.coreos.com/v1", "ServiceMonitor", _strict({
        "selector": _LABEL_SELECTOR,
        "namespaceSelector": _strict({"any": {"type": "boolean"}, "matchNames": {"type": "array"}}),
        "jobLabel": {"type": "string"},
        "endpoints": {"type": "array", "minItems": 1, "items": _strict({
            "port": {"type": "string"}, "path": {"type": "string"}, "scheme": {"enum": ["http", "https"]},
            "interval": _DURATION, "scrapeTimeout": _DURATION, "honorLabels": {"type": "boolean"}})},
    }, required=("selector", "endpoints"))),
    ("keda.sh/v1alpha1", "ScaledObject"): _resource("keda.sh/v1alpha1", "ScaledObject", _strict({
        "scaleTargetRef": _strict({"apiVersion": {"type": "string"}, "kind": {"type": "string"}, "name": _NAME},
                                  required=("name",)),
        "pollingInterval": {"type": "integer", "minimum": 1},
        "cooldownPeriod": {"type": "integer", "minimum": 0},
        "minReplicaCount": {"type": "integer", "minimum": 0},
        "maxReplicaCount": {"type": "integer", "minimum": 1},
        "idleReplicaCount": {"type": "integer", "minimum": 0},
        "advanced": {"type": "object"},
        "triggers": {"type": "array", "minItems": 1, "items": _strict({
            "type": {"type": "string"}, "name": {"type": "string"}, "metadata": _STRING_MAP,
            "metricType": {"enum": ["AverageValue", "Value", "Utilization"]},
            "authenticationRef": _strict({"name": _NAME, "kind": {"enum": ["TriggerAuthentication",
                                                                             "ClusterTriggerAuthentication"]}},
                                         required=("name",))}, required=("type", "metadata"))},
    }, required=("scaleTargetRef", "triggers"))),
    ("keda.sh/v1alpha1", "TriggerAuthentication"): _resource("keda.sh/v1alpha1", "TriggerAuthentication", _strict({
        "secretTargetRef": {"type": "array", "minItems": 1, "items": _strict({
            "parameter": {"type": "string", "minLength": 1}, "name": _NAME, "key": {"type": "string", "minLength": 1}},
            required=("parameter", "name", "key"))},
    })),
}

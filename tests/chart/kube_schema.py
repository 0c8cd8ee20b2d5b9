"""Strict Kubernetes schema validation with validators built once per kind and version.

kubernetes-validate's own `validate()` re-reads and re-parses the multi-megabyte definitions file on every
call; the schema files are the same, so build each validator once and reuse it.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import jsonschema
from kubernetes_validate.utils import all_versions, major_minor, schema_contents
from referencing import Registry, Resource

from .crd_schemas import SCHEMAS as CRD_SCHEMAS


@functools.cache
def _definitions(schema_dir: str, version: str) -> Resource[Any]:
    return Resource.from_contents(schema_contents(f"kubernetes-json-schema/{schema_dir}/_definitions.json", version))


@functools.cache
def validator(kind: str, api_version: str, version: str) -> jsonschema.protocols.Validator:
    """The strict validator for one kind at one Kubernetes version."""
    schema_version = [v for v in all_versions() if major_minor(v) <= major_minor(version)][-1]
    schema_dir = f"v{schema_version}-local-strict"
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    schema = schema_contents(f"kubernetes-json-schema/{schema_dir}/{kind.lower()}-{group_version}.json", version)
    registry: Registry[Any] = Resource.from_contents(schema) @ Registry()
    registry = _definitions(schema_dir, version) @ registry
    return jsonschema.Draft202012Validator(schema, registry=registry)


def schema_errors(obj: dict[str, Any], version: str) -> list[str]:
    """Every way `obj` breaks the strict schema of its kind at `version` (custom resources: crd_schemas.py)."""
    crd = CRD_SCHEMAS.get((obj.get("apiVersion", ""), obj.get("kind", "")))
    if crd is not None:
        found = jsonschema.Draft202012Validator(crd).iter_errors(obj)
    else:
        found = validator(obj["kind"], obj["apiVersion"], version).iter_errors(obj)
    return [f"{error.message} at {list(error.path)}" for error in found]

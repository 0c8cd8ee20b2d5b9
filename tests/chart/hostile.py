"""Hostile values: every string, key and number a user can put in values, filled with payloads that try to
inject YAML keys, container args, documents or airflow.cfg lines, and the check that a render either refuses
them naming the key or renders valid objects with nothing injected.

A case is (path, where, payload): `where` is "value" (the payload is the value at `path`) or "key" (the payload
is a new key of the map at `path`). A refusal must name `path`; a render must pass the strict Kubernetes
schema, hold no key, argument, document or airflow.cfg entry named INJECTED, and print no number as a float.
"""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .kube_schema import schema_errors
from .render import CHART, NAMESPACE, Manifest, RenderError, fullname, helm_template

INJECTED = "injected"
STRING_PAYLOADS = (
    f"x\n{INJECTED}: 1",                      # a YAML key on the next line
    f"x\n- --{INJECTED}",                     # a list item (container arg) on the next line
    f'x"\n{INJECTED}: "1',                    # break out of a double-quoted scalar
    f"x'\n{INJECTED}: '1",                    # break out of a single-quoted scalar
    f"x\n---\nkind: {INJECTED}",              # a second document
    f"x\n[{INJECTED}]\n{INJECTED} = 1",       # an airflow.cfg section and key
    f"%({INJECTED})s 100%",                   # Airflow's config interpolation
    "ünïcødé ✓ \u2028 ok",                    # unicode, with a YAML line separator
    f"--{INJECTED}=1",                        # an argument of its own
    "{{ .Release.Name }}",                    # template text is data, never evaluated
    "x" * 300,                                # longer than any name
)
KEY_PAYLOADS = (f"a\n{INJECTED}: 1", f"a.b_{INJECTED}", f"A B: {INJECTED}", "ünï", "-lead", "x" * 100)
NUMBER_PAYLOADS: tuple[Any, ...] = (12_345_678, 10**6, 10**12, 2**63, -1, 1.5, 1e6)
# The suite's default: one payload of each kind of attack (HOSTILE_PAYLOADS=all tries every one).
QUICK = {STRING_PAYLOADS[0], STRING_PAYLOADS[2], STRING_PAYLOADS[6], STRING_PAYLOADS[7], KEY_PAYLOADS[0],
         KEY_PAYLOADS[1], 12_345_678, 1.5}

# Values rendered as templates by design (a whole pod template from the user), and Kubernetes objects passed
# through whole (the API server checks them; toYaml cannot inject).
NOT_DATA = {("workers", "podTemplate")}
KUBERNETES_OBJECTS = {("podSecurityContext",), ("securityContext",), ("workers", "securityContext")}
# Maps whose keys the user chooses, and a valid value for a new key in each.
KEYED_MAPS: dict[tuple[str, ...], Any] = {
    ("config",): {"k": "v"},
    ("config", "core"): "v",
    ("workers", "configMapMounts"): "/etc/x",
    ("workers", "secretMounts"): "/etc/y",
    ("workers", "queues"): {},
    ("workers", "nodeSelector"): "v",
    ("workers", "podAnnotations"): "v",
    ("executorSwitch", "hookAnnotations"): "v",
    ("dags", "configMap", "files"): "print(1)\n",
}
# String values inside those maps, with the key they sit under.
KEYED_VALUES: dict[tuple[str, ...], str] = {
    ("config", "core", "parallelism"): "",
    ("workers", "configMapMounts", "cfg"): "",
    ("workers", "secretMounts", "creds"): "",
    ("workers", "nodeSelector", "pool"): "",
    ("workers", "podAnnotations", "note"): "",
    ("executorSwitch", "hookAnnotations", "note"): "",
    ("dags", "configMap", "files", "dag.py"): "",
}

# Every emitting branch on: the executors, git-sync, persistence, remote logs, policies, helm tests.
EVERYTHING: dict[str, Any] = {
    "executor": "KubernetesExecutor,CeleryExecutor",
    "dags": {"source": "gitSync", "gitSync": {"repo": "https://example.org/dags.git", "credentialsSecret": "git"}},
    "postgresql": {"persistence": {"enabled": True, "storageClassName": "fast"}},
    "logs": {"persistence": {"enabled": True, "storageClassName": "shared"},
             "remote": {"enabled": True, "baseLogFolder": "s3://bucket/logs", "connId": "aws"}},
    "networkPolicy": {"enabled": True, "gitSyncEgress": [{"ports": [{"port": 443}]}],
                      "remoteLoggingEgress": [{"ports": [{"port": 443}]}]},
    "tests": {"dagId": "example"},
}
# Values only read in another mode: (path prefix, the values that turn it on).
MODES: tuple[tuple[tuple[str, ...], dict[str, Any]], ...] = (
    (("dags", "persistence"), {"dags": {"source": "persistentVolumeClaim", "persistence": {"existingClaim": "d"}}}),
    (("dags", "configMap"), {"dags": {"source": "configMap", "configMap": {"files": {"a.py": "print(1)\n"}}}}),
    (("database",), {"postgresql": {"enabled": False}, "database": {"existingSecret": "db"}}),
    (("celery",), {"redis": {"enabled": False}, "celery": {"brokerSecret": "broker"}}),
    (("secrets", "existingSecret"), {}),
)


@dataclass(frozen=True)
class Case:
    path: tuple[str, ...]
    where: str  # "value" or "key"
    payload: Any

    @property
    def dotted(self) -> str:
        return ".".join(self.path)

    @property
    def mode(self) -> dict[str, Any]:
        return next((mode for prefix, mode in MODES if self.path[:len(prefix)] == prefix), {})

    def payload_values(self) -> dict[str, Any]:
        leaf: Any = {self.payload: KEYED_MAPS[self.path]} if self.where == "key" else self.payload
        for key in reversed(self.path):
            leaf = {key: leaf}
        return leaf

    def values(self) -> dict[str, Any]:
        return _merge(_merge(EVERYTHING, self.mode), self.payload_values())


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        both = isinstance(value, dict) and isinstance(merged.get(key), dict)
        merged[key] = _merge(merged[key], value) if both else value
    return merged


def _leaves(values: dict[str, Any], path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    for key, value in values.items():
        if isinstance(value, dict) and value:
            yield from _leaves(value, (*path, key))
        else:
            yield (*path, key), value


def value_paths() -> tuple[list[tuple[str, ...]], list[tuple[str, ...]]]:
    """(string paths, integer paths) of values.yaml, plus the strings inside user-keyed maps."""
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    strings, integers = [], []
    for path, value in _leaves(defaults):
        if path in NOT_DATA or any(path[:len(o)] == o for o in KUBERNETES_OBJECTS):
            continue
        if isinstance(value, str):
            strings.append(path)
        elif isinstance(value, int) and not isinstance(value, bool):
            integers.append(path)
    return strings + list(KEYED_VALUES), integers


def all_cases(*, every_payload: bool) -> list[Case]:
    strings, integers = value_paths()
    cases = [Case(p, "value", s) for p in strings for s in STRING_PAYLOADS]
    cases += [Case(p, "key", k) for p in KEYED_MAPS for k in KEY_PAYLOADS]
    cases += [Case(p, "value", n) for p in integers for n in NUMBER_PAYLOADS]
    return cases if every_payload else [c for c in cases if c.payload in QUICK]


# --- outcome ---------------------------------------------------------------------------------------------

_CRASH = re.compile(r"YAML parse error|nil pointer|error calling|wrong type|can't evaluate|unable to parse|"
                    r"error converting YAML")
# Go's float formatting (1e+06); a checksum's hex never holds a '+'.
_FLOAT = re.compile(r"\d[eE]\+\d")


@dataclass
class Outcome:
    case: Case
    refused: str | None = None
    manifest: Manifest | None = None
    baseline: Manifest | None = None


@functools.cache
def _baseline(values_json: str) -> Manifest:
    return helm_template(json.loads(values_json))


def render(case: Case) -> Outcome:
    """The case rendered, with the render of its mode without the payload (objects equal to it need no
    second schema check)."""
    try:
        manifest = helm_template(case.values())
    except RenderError as refused:
        return Outcome(case, refused=str(refused))
    return Outcome(case, manifest=manifest,
                   baseline=_baseline(json.dumps(_merge(EVERYTHING, case.mode), sort_keys=True)))


def render_many(cases: list[Case], pool: Executor) -> list[Outcome]:
    """Every case's outcome, fast: the cases sharing a payload and a mode are first rendered together, and a
    case whose own path the schema names in that refusal is refused (schema checks are per value); the
    rest render one by one."""
    groups: dict[str, list[Case]] = {}
    for case in cases:
        groups.setdefault(json.dumps([repr(case.payload), case.where, case.mode], sort_keys=True), []).append(case)

    def together(group: list[Case]) -> tuple[list[Outcome], list[Case]]:
        values = _merge(EVERYTHING, group[0].mode)
        for case in group:
            values = _merge(values, case.payload_values())
        try:
            helm_template(values)
        except RenderError as refused:
            message = str(refused)
            named = [c for c in group if c.where == "value" and f"at '/{'/'.join(c.path)}'" in message]
            return [Outcome(c, refused=message) for c in named], [c for c in group if c not in named]
        return [], group

    outcomes, alone = [], []
    for done, left in pool.map(together, groups.values()):
        outcomes += done
        alone += left
    return outcomes + list(pool.map(render, alone))


def refusal_problems(outcome: Outcome) -> list[str]:
    message = outcome.refused or ""
    problems = []
    if _CRASH.search(message):
        problems.append(f"the chart crashed: {message[:400]}")
    path = outcome.case.path
    # Schema errors name the JSON pointer, _validate.tpl names the dotted key; a payload key shows in both.
    names = ("/" + "/".join(path), outcome.case.dotted)
    if not any(name in message for name in names):
        problems.append(f"the refusal does not name {outcome.case.dotted}: {message[:400]}")
    return problems


def _walk(node: Any, where: str) -> Iterator[tuple[str, Any, bool]]:
    """(location, scalar, is_key) of every key and scalar in an object."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield where, key, True
            yield from _walk(value, f"{where}.{key}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _walk(item, f"{where}[{index}]")
    else:
        yield where, node, False


def manifest_problems(outcome: Outcome) -> list[str]:
    assert outcome.manifest is not None
    problems = []
    objects = list(outcome.manifest.objects) + [
        {**pod, "metadata": {**pod["metadata"], "namespace": NAMESPACE}}
        for pod in outcome.manifest.task_pod_templates().values()
    ]
    baseline = outcome.baseline.objects if outcome.baseline else ()
    unchanged = [o for o in objects if o in baseline]
    for obj in objects:
        name = f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
        if obj.get("kind") == INJECTED:
            problems.append(f"an injected document: {obj}")
            continue
        if not any(obj is o for o in unchanged):
            problems += [f"{name}: {error}" for error in schema_errors(obj, "1.35.0")]
        for where, scalar, is_key in _walk(obj, name):
            if is_key and scalar == INJECTED:
                problems.append(f"{where}: an injected key")
            elif not is_key and scalar == f"--{INJECTED}":
                problems.append(f"{where}: an injected argument")
            elif not is_key and isinstance(scalar, str) and _FLOAT.search(scalar):
                problems.append(f"{where}: a number printed as a float: {scalar[:80]!r}")
    return problems


def airflow_cfg(outcome: Outcome) -> str:
    assert outcome.manifest is not None
    text: str = outcome.manifest.get("ConfigMap", fullname("config"))["data"]["airflow.cfg"]
    return text


_PARSE = """
import json, sys
from airflow.configuration import AirflowConfigParser
results = []
for text in json.load(open(sys.argv[1])):
    parser = AirflowConfigParser()
    try:
        parser.read_string(text)
        entries = {s: {k: parser.get(s, k) for k in parser.options(s)} for s in parser.sections()}
        results.append({"entries": entries})
    except Exception as error:  # the parse error is the finding
        results.append({"error": f"{type(error).__name__}: {error}"})
json.dump(results, open(sys.argv[2], "w"))
"""


def parse_airflow_cfgs(texts: list[str], workdir: Path) -> list[dict[str, Any]]:
    """Each airflow.cfg read by Airflow's own AirflowConfigParser (every value read, so `%` interpolates),
    in one fresh interpreter with an AIRFLOW_HOME of its own."""
    source, output = workdir / "cfgs.json", workdir / "parsed.json"
    source.write_text(json.dumps(texts))
    home = workdir / "airflow-home"
    home.mkdir(exist_ok=True)
    env = {**os.environ, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    subprocess.run([sys.executable, "-c", _PARSE, str(source), str(output)], env=env, check=True,
                   capture_output=True, text=True, timeout=300)
    parsed: list[dict[str, Any]] = json.loads(output.read_text())
    return parsed


def cfg_problems(parsed: dict[str, Any]) -> list[str]:
    if "error" in parsed:
        return [f"Airflow cannot read airflow.cfg: {parsed['error']}"]
    problems = []
    for section, entries in parsed["entries"].items():
        if section == INJECTED or INJECTED in entries:
            problems.append(f"airflow.cfg: an injected entry in [{section}]: {sorted(entries)}")
    return problems

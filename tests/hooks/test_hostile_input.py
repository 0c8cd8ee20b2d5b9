"""Hostile hook input: every malformed input ends in its documented exit code and one line, never a traceback.

Each row is one input (flag, environment variable, values file, state ConfigMap, Kubernetes answer, connection
URL) and the exit code the README's table documents for it. A values file is never changed by a failed
``migrate-values``, and a successful one changes only ``executor`` and ``redis.enabled``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from airflow_k8s_hooks import cli, errors
from airflow_k8s_hooks.clients.kube import KubeApi
from fake_kube import FakeKube
from ruamel.yaml import YAML

REPO = Path(__file__).resolve().parents[2]
USAGE, REFUSED, OK = errors.USAGE, errors.REFUSED, errors.OK
RELEASE = ["--namespace=airflow", "--state-configmap=af-state", "--scheduler-deployment=af-scheduler"]
DRAIN = ["drain", *RELEASE, "--from-executors=CeleryExecutor", "--to-executors=KubernetesExecutor", "--timeout=9",
         "--on-timeout=fail"]
MIGRATE = ["migrate-settings", *RELEASE, "--scheduler-replicas=1", "--executors=KubernetesExecutor"]


@dataclass(frozen=True)
class Case:
    """``args`` run with ``env`` set; ``values`` (bytes) is written to FILE first, ``{file}`` in args names it."""

    name: str
    args: list[str]
    code: int
    says: str  # a fragment of the one-line message
    env: dict[str, str] = field(default_factory=dict)
    values: bytes | None = None
    state: dict[str, str] | None = None  # the state ConfigMap the stand-in Kubernetes API holds
    subprocess: bool = False  # the input is read when Airflow is imported: a fresh interpreter


def mv(name: str, values: bytes | None, code: int, says: str, *out: str, to: str = "CeleryExecutor") -> Case:
    """migrate-values FILE --to ``to`` (``--in-place`` unless ``out`` names another target)."""
    return Case(name, ["migrate-values", "{file}", "--to", to, *(out or ["--in-place"])], code, says, values=values)


CELERY_VALUES = b"executor: CeleryExecutor\n"
CASES = [
    # Flags and their AIRFLOW_K8S_HOOKS_* variables: 2, naming the flag.
    Case("on-timeout from env", DRAIN[:-1], USAGE, "argument --on-timeout: 'retry'",
         env={"AIRFLOW_K8S_HOOKS_ON_TIMEOUT": "retry"}),
    Case("empty namespace", ["cleanup", "--namespace=", "--selector=a=b"], USAGE, "argument --namespace"),
    Case("namespace with a slash", ["cleanup", "--namespace=kube-system/x", "--selector=a=b"], USAGE,
         "not a Kubernetes namespace name"),
    Case("namespace not UTF-8", ["cleanup", "--namespace=\udcff", "--selector=a=b"], USAGE, "argument --namespace"),
    Case("configmap name with a newline", ["cleanup", "--namespace=ns", "--selector=a=b",
                                           "--state-configmap=a\nb"], USAGE, "argument --state-configmap"),
    Case("deployment name too long", ["plan", "--namespace=ns", "--state-configmap=s", "--to-executors=LocalExecutor",
                                      "--scheduler-deployment=" + "s" * 254], USAGE, "at most 253 characters"),
    Case("queue that is a path", [*DRAIN, "--to-queues=default,../../etc/passwd"], USAGE, "bad queue name"),
    Case("relative pod template", [*DRAIN, "--pod-template-file=pod.yaml"], USAGE, "not an absolute path"),
    Case("timeout from env", [*DRAIN[:-2], "--on-timeout=fail"], USAGE, "argument --timeout",
         env={"AIRFLOW_K8S_HOOKS_TIMEOUT": "soon"}),
    Case("executor with a newline", ["preflight", "--to-executors=KubernetesExecutor\nCeleryExecutor"], USAGE,
         "unknown executor"),
    # migrate-values: a file it cannot read is a usage error, one it cannot rewrite safely is refused.
    mv("missing file", None, USAGE, "no such file"),
    Case("values file is a folder", ["migrate-values", str(REPO / "chart"), "--to", "CeleryExecutor"], USAGE,
         "is a directory"),
    mv("output folder missing", CELERY_VALUES, USAGE, "does not exist", "--output", "/nonexistent/v.yaml"),
    mv("invalid UTF-8", b"executor: CeleryExecutor\nname: caf\xe9\n", REFUSED, "not UTF-8 (line 2"),
    mv("tab indentation", b"workers:\n\tresources: {}\n", REFUSED, "found character '\\t' that cannot start any token"),
    mv("duplicate key", b"executor: CeleryExecutor\nexecutor: KubernetesExecutor\n", REFUSED,
       'found duplicate key "executor"'),
    mv("unclosed flow", b"workers: {queues: [\n", REFUSED, "line 2"),
    mv("two documents", b"executor: CeleryExecutor\n---\nexecutor: LocalExecutor\n", REFUSED,
       "expected a single document"),
    mv("undefined alias", b"redis: *broker\n", REFUSED, "found undefined alias"),
    mv("alias of itself", b"workers: &w {queues: *w}\n", REFUSED, "contains an alias of itself"),
    mv("nested too deep", b"a: " + b"[" * 3000 + b"]" * 3000 + b"\n", REFUSED, "nested too deeply"),
    mv("empty file", b"", REFUSED, "not a YAML mapping"),
    mv("a list", b"- executor: CeleryExecutor\n", REFUSED, "not a YAML mapping"),
    mv("workers is a list", b"workers: []\n", REFUSED, "workers is a list, not a mapping"),
    mv("redis is a boolean", b"redis: true\n", REFUSED, "redis is a boolean, not a mapping"),
    mv("celery is a string", b"celery: external\n", REFUSED, "celery is a string, not a mapping"),
    mv("queue is a list", b"executor: CeleryExecutor\nworkers: {queues: {gpu: [1]}}\n", REFUSED,
       "workers.queues.gpu is a list", to="KubernetesExecutor"),
    mv("concurrency is a word", b"executor: CeleryExecutor\nworkers:\n  celery: {concurrency: lots}\n  queues:\n"
       b"    gpu: {celery: {resources: {requests: {cpu: '4'}}}}\n", REFUSED, "workers.celery.concurrency is 'lots'",
       to="KubernetesExecutor"),
    mv("executor is a list", b"executor: [CeleryExecutor]\n", REFUSED, "executor is a list, not a string"),
    mv("executor unknown", b"executor: CeleryKubernetesExecutor\n", REFUSED,
       "executor: unknown executor 'CeleryKubernetesExecutor' (gone in Airflow 3"),
    # The state ConfigMap, edited by hand: refused, naming the key and how to recover.
    Case("state: unknown executor", MIGRATE, REFUSED, "af-state: executors='Bogus'", state={"executors": "Bogus"}),
    Case("state: unknown drain phase", MIGRATE, REFUSED, "drainPhase='halfway'", state={"drainPhase": "halfway"}),
    Case("state: replicas not a number", MIGRATE, REFUSED, "schedulerReplicas='two'",
         state={"schedulerReplicas": "two"}),
    # What the Kubernetes API rejects as malformed fails the same way on every retry.
    Case("malformed label selector", ["cleanup", "--namespace=ns", "--selector=app=(x"], REFUSED,
         "Kubernetes API rejected list pods ns -l app=(x (400"),
    # Connection settings Airflow reads when it is imported.
    Case("malformed DB URL", ["preflight", "--to-executors=KubernetesExecutor"], REFUSED,
         "Airflow cannot start", env={"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql://u:pw@db:port/x"},
         subprocess=True),
    Case("unknown DB driver", ["preflight", "--to-executors=KubernetesExecutor"], REFUSED,
         "Can't load plugin: sqlalchemy.dialects:postgresx",
         env={"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresx://u:topsecret@db/x"}, subprocess=True),
]


class StateOnly:
    """The Kubernetes API as far as reading the state ConfigMap (a step that gets further is a test bug)."""

    def __init__(self, data: dict[str, str]) -> None:
        self.data = data

    def read_config_map(self, namespace: str, name: str) -> dict[str, str] | None:
        return dict(self.data)

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the step called {name} after reading a malformed state")


@pytest.fixture
def fake_api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeKube]:
    from kubernetes.config import kube_config

    with FakeKube(tmp_path) as fake:
        monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(fake.kubeconfig))
        yield fake


def run_case(case: Case, file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
             tmp_path: Path) -> tuple[int, str]:
    args = [a.replace("{file}", str(file)) for a in case.args]
    if case.subprocess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        env.update({"AIRFLOW_HOME": str(tmp_path), "PYTHONPATH": str(REPO / "hooks"), **case.env})
        done = subprocess.run([sys.executable, "-m", "airflow_k8s_hooks", *args], env=env, capture_output=True,
                              text=True, timeout=300)
        return done.returncode, done.stderr
    for k, v in case.env.items():
        monkeypatch.setenv(k, v)
    factory: Callable[[], Any] = KubeApi if case.state is None else (lambda: StateOnly(case.state or {}))
    try:
        code = cli.main(args, kube_factory=factory)
    except SystemExit as e:  # argparse
        code = int(e.code or 0)
    return code, capsys.readouterr().err


def check_case(case: Case, tmp: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    file = tmp / "values.yaml"
    if case.values is not None:
        file.write_bytes(case.values)
    with monkeypatch.context() as m:
        code, err = run_case(case, file, m, capsys, tmp)
    lines = [line for line in err.splitlines() if line.startswith(("[", "python -m"))]
    assert "Traceback" not in err, err
    assert code == case.code, f"exit {code}, documented {case.code}: {err}"
    assert len(lines) == 1 and case.says in lines[0], err
    assert "topsecret" not in err and ":pw@" not in err, "a password reached the log"
    if case.values is not None:
        assert file.read_bytes() == case.values, "a failed migrate-values changed the file"
        assert [p.name for p in tmp.iterdir() if p.name.startswith(".values")] == [], "temporary file left"


def load(text: str) -> Any:
    return YAML(typ="safe").load(text)


# Values files migrate-values must rewrite, changing nothing but what it names (YAML aliases and merges,
# a missing executor, which means the chart's default).
REWRITES = [
    ("redis is an alias other keys share", "shared: &s {enabled: false, image: {tag: '7'}}\nredis: *s\nother: *s\n"
     "executor: KubernetesExecutor\n", "CeleryExecutor", {"executor": "CeleryExecutor",
                                                           "redis": {"enabled": True, "image": {"tag": "7"}}}),
    ("redis merges an anchor", "base: &b {enabled: false}\nredis:\n  <<: *b\n  image: {tag: '7'}\n",
     "CeleryExecutor", {"executor": "CeleryExecutor", "redis": {"enabled": True, "image": {"tag": "7"}}}),
    ("executor is an anchored scalar", "executor: &e CeleryExecutor\nconfig: {core: {note: *e}}\n",
     "KubernetesExecutor", {"executor": "KubernetesExecutor"}),
    ("no executor key: the chart default, Kubernetes", "workers: {queues: {default: {}}}\n", "KubernetesExecutor",
     {"executor": "KubernetesExecutor"}),
    ("no executor key, to Celery: Redis is turned on", "redis: {enabled: false}\n", "CeleryExecutor",
     {"executor": "CeleryExecutor", "redis": {"enabled": True}}),
]


def check_rewrite(before: str, to: str, changed: dict[str, Any], tmp: Path) -> None:
    file = tmp / "values.yaml"
    file.write_text(before)
    assert cli.main(["migrate-values", str(file), "--to", to, "--in-place"]) == OK
    after = load(file.read_text())
    expected = {**load(before), **changed}
    assert after == expected, f"{after} != {expected}"


BROKER_URLS = ["redis://:topsecret@127.0.0.1:port/0", "redisx://127.0.0.1/0", "redis://127.0.0.1:1/db"]


def check_broker_url(url: str) -> None:
    from airflow_k8s_hooks.clients.broker import Broker
    from celery import Celery

    with pytest.raises(errors.Refused) as e, Broker(Celery(broker=url)):
        pass
    assert e.value.exit_code == REFUSED and "[celery] broker_url" in str(e.value), str(e.value)
    assert "topsecret" not in str(e.value), str(e.value)


def test_hostile_inputs_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                              fake_api: FakeKube) -> None:
    checks: list[tuple[str, Callable[[Path], None]]] = [
        *((c.name, lambda t, c=c: check_case(c, t, monkeypatch, capsys)) for c in CASES),
        *((n, lambda t, b=b, to=to, ch=ch: check_rewrite(b, to, ch, t)) for n, b, to, ch in REWRITES),
        *((f"broker URL {u}", lambda t, u=u: check_broker_url(u)) for u in BROKER_URLS),
    ]
    failed: list[str] = []
    for i, (name, check) in enumerate(checks):
        tmp = tmp_path / str(i)
        tmp.mkdir()
        try:
            check(tmp)
        except Exception as e:  # an escaped exception is a traceback and exit 1 for the user
            failed.append(f"{name}: {type(e).__name__}: {e}")
    with capsys.disabled():
        print(f"\n[measure] hostile hook inputs: {len(checks)} tried, {len(checks) - len(failed)} handled as "
              "documented")
    assert not failed, "\n".join(failed)


def test_chart_default_executor_is_what_migrate_values_assumes() -> None:
    from airflow_k8s_hooks.migrate_values import CHART_DEFAULT_EXECUTOR

    assert load((REPO / "chart/values.yaml").read_text())["executor"] == CHART_DEFAULT_EXECUTOR


def test_an_unexpected_error_is_one_line_exit_70(monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    def bug(*_: Any) -> None:
        raise KeyError("oops\nsecond line")

    monkeypatch.setattr(cli, "_run", bug)
    assert cli.main(["preflight", "--to-executors=KubernetesExecutor"]) == errors.INTERNAL
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("[preflight] internal error: KeyError:") and "AIRFLOW_K8S_HOOKS_TRACEBACK=1" in line

"""Unit tests of the steps' decisions: pure functions and fakes, no services."""

from __future__ import annotations

import itertools
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
from airflow_k8s_hooks import cli, errors, handover, plan, preflight, progress
from airflow_k8s_hooks.clients.db import TiCount, TiKey
from airflow_k8s_hooks.clients.kube import Pod
from airflow_k8s_hooks.drain import match_pods
from airflow_k8s_hooks.executors import Executor, Switch, parse_list
from airflow_k8s_hooks.migrate_settings import config_notes, stale_executor_names
from airflow_k8s_hooks.state import State
from hypothesis import given
from hypothesis import strategies as st

CELERY, K8S, LOCAL = parse_list("CeleryExecutor"), parse_list("KubernetesExecutor"), parse_list("LocalExecutor")


def body(workload: dict[str, Any]) -> list[Any]:
    return [[json.dumps(workload)], {}, {"callbacks": None}]


# executors ---------------------------------------------------------------------------------------------
def test_executor_names_cover_every_spelling() -> None:
    e = Executor.parse("CeleryExecutor")
    assert "airflow.providers.celery.executors.celery_executor.CeleryExecutor" in e.names
    aliased = Executor.parse("fast:my.pkg.FastExecutor")
    assert aliased.names == {"fast", "my.pkg.FastExecutor", "FastExecutor", "fast:my.pkg.FastExecutor"}
    assert aliased.name == "fast"


@pytest.mark.parametrize("bad", ["", ",", "CeleryExecutor,CeleryExecutor", "a:b:c"])
def test_parse_list_refuses(bad: str) -> None:
    with pytest.raises(errors.UsageError):
        parse_list(bad)


def test_switch_decisions() -> None:
    s = Switch.between(CELERY, K8S)
    assert [e.kind for e in s.draining] == ["CeleryExecutor"] and s.owns_null(s.old[0])
    both = parse_list("KubernetesExecutor,CeleryExecutor")
    # Celery kept as secondary, default moves: nothing removed, NULL TIs of Celery get tagged.
    s2 = Switch.between(CELERY, both)
    assert s2.draining == () and s2.default_moved and s2.changes
    s3 = Switch.between(both, K8S)
    assert [e.kind for e in s3.draining] == ["CeleryExecutor"] and not s3.owns_null(s3.draining[0])
    assert not Switch.between(K8S, K8S).changes


# hand-over decisions ----------------------------------------------------------------------------------
def test_parse_message_kinds() -> None:
    ti = str(uuid.uuid4())
    assert handover.parse_message("execute_workload", body({"type": "ExecuteTask", "ti": {"id": ti}})) == \
        handover.Parsed("task", uuid.UUID(ti))
    cb = str(uuid.uuid4())
    assert handover.parse_message("execute_workload", body({"type": "ExecuteCallback", "callback": {"id": cb}})) \
        .kind == "callback"
    for name, b in [("other", body({"ti": {"id": ti}})), ("execute_workload", [["not json"], {}, {}]),
                    ("execute_workload", body({"ti": {"id": "nope"}})), ("execute_workload", "garbage"),
                    ("execute_workload", body({"type": "RunTrigger"}))]:
        p = handover.parse_message(name, b)
        assert p.kind == "foreign" and p.why, (name, b)


@given(st.binary() | st.text() | st.lists(st.text()) | st.none())
def test_parse_message_never_raises(junk: Any) -> None:
    assert handover.parse_message("execute_workload", junk).kind == "foreign"


@dataclass
class FakeMessage:
    headers: dict[str, Any]
    payload: Any

    def decode(self) -> Any:
        return self.payload


@dataclass
class FakeBroker:
    """Queues of messages; records the order of gets, acks and requeues against commits."""

    queues: dict[str, list[FakeMessage]]
    log: list[str] = field(default_factory=list)
    unacked: list[Any] = field(default_factory=list)

    def take(self, queue: str, n: int) -> list[Any]:
        out = [handover.Delivered(queue, m) for m in self.queues[queue][:n]]
        del self.queues[queue][:n]
        self.unacked.extend(out)
        return out

    def ack_all(self, delivered: list[Any]) -> None:
        for d in delivered:
            self.unacked.remove(d)
            self.log.append(f"ack {d.celery_id}")

    def requeue(self, d: Any) -> None:
        self.unacked.remove(d)
        self.queues[d.queue].append(d.message)
        self.log.append(f"requeue {d.celery_id}")

    def unreadable(self, queue: str) -> list[str]:
        return [f"unreadable item {m!r}" for m in self.raw.get(queue, [])]

    raw: dict[str, list[bytes]] = field(default_factory=dict)  # non-kombu items: never taken


def task_msg(i: int, ti: uuid.UUID) -> FakeMessage:
    workload = {"type": "ExecuteTask", "ti": {"id": str(ti)}}
    return FakeMessage({"task": "execute_workload", "id": f"m{i}"}, body(workload))


def test_drain_queue_commits_each_batch_before_acking_it() -> None:
    tis = [uuid.uuid4() for _ in range(5)]
    foreign = FakeMessage({"task": "someone.else", "id": "x"}, [[], {}, {}])
    broker = FakeBroker({"q": [task_msg(0, tis[0]), foreign, *(task_msg(i, t) for i, t in enumerate(tis[1:], 1)),
                               task_msg(9, tis[0])]})
    still_queued = set(tis[:4])  # tis[4] was already handed back: its message is stale

    def commit(task_ids: Any, callback_ids: Any) -> handover.Committed:
        broker.log.append(f"commit {len(task_ids)}")
        changed = still_queued & set(task_ids)
        still_queued.difference_update(changed)
        return handover.Committed(len(changed))

    tally = handover.Tally()
    handover.drain_queue(broker, "q", tally, batch_size=3, commit=commit)  # type: ignore[arg-type]
    assert broker.log == ["commit 2", "ack m0", "ack m1", "commit 3", "ack m2", "ack m3", "ack m4",
                          "commit 1", "ack m9", "requeue x"]
    assert tally.handed_back == {"q": 4} and tally.stale == {"q": 2} and list(tally.foreign) == ["q"]
    assert broker.queues["q"] == [foreign] and not broker.unacked  # foreign kept, nothing lost


def test_drain_queue_acks_nothing_when_commit_fails() -> None:
    broker = FakeBroker({"q": [task_msg(0, uuid.uuid4())]})

    def commit(*_: Any) -> int:
        raise errors.Retryable("db down")

    with pytest.raises(errors.Retryable):
        handover.drain_queue(broker, "q", handover.Tally(), commit=commit)  # type: ignore[arg-type]
    assert not any(line.startswith("ack") for line in broker.log)
    assert broker.log == ["requeue m0"] and len(broker.queues["q"]) == 1 and not broker.unacked


@dataclass
class UndecodableMessage:
    headers: Any

    def decode(self) -> Any:
        raise ValueError("Expecting value: line 1 column 1 (char 0)")


def test_drain_queue_acks_and_names_messages_whose_task_instance_is_gone(capsys: pytest.CaptureFixture[str]) -> None:
    """A TI deleted (alone or with its DAG run) while its message waits: skipped with a line naming it, and
    its message acked, so no worker of the removed executor gets it later."""
    kept, gone = uuid.uuid4(), uuid.uuid4()
    gone_msg = FakeMessage({"task": "execute_workload", "id": "m1"}, body(
        {"type": "ExecuteTask", "ti": {"id": str(gone), "dag_id": "etl", "task_id": "load", "run_id": "r1",
                                       "try_number": 1, "map_index": 3}}))
    broker = FakeBroker({"q": [task_msg(0, kept), gone_msg]})

    def commit(task_ids: Any, callback_ids: Any) -> handover.Committed:
        return handover.Committed(1 if kept in task_ids else 0, (gone,))

    tally = handover.Tally()
    handover.drain_queue(broker, "q", tally, commit=commit)  # type: ignore[arg-type]
    assert broker.log == ["ack m0", "ack m1"] and not broker.queues["q"] and not broker.unacked
    assert tally.handed_back == {"q": 1} and tally.missing == {"q": 1} and tally.stale == {} and not tally.foreign
    err = capsys.readouterr()
    assert f"skipped task etl.load[3] run r1 try 1 (id {gone}, message m1): not in the metadata DB" in err.err
    assert "1 handed back, 0 stale acked, 1 without a DB row acked" in err.out


def test_drain_queue_keeps_what_it_cannot_read() -> None:
    """An envelope whose body does not decode, headers that are no dict, raw bytes that are no kombu message
    at all: reported as foreign, never acked, never a traceback."""
    odd = [UndecodableMessage({"task": "execute_workload", "id": "u1"}), UndecodableMessage("not a dict")]
    broker = FakeBroker({"q": [*odd, task_msg(0, uuid.uuid4())]}, raw={"q": [b"\x00garbage"]})
    tally = handover.Tally()
    handover.drain_queue(broker, "q", tally, commit=lambda t, c: handover.Committed(len(t)))  # type: ignore[arg-type]
    assert broker.log == ["ack m0", "requeue u1", "requeue None"] and broker.queues["q"] == odd
    found = tally.foreign["q"]
    assert len(found) == 3 and "u1: undecodable body: ValueError" in found[0]
    assert found[2] == "unreadable item b'\\x00garbage'"


def test_errors_rejecting_credentials_are_told_apart_from_outages() -> None:
    from airflow_k8s_hooks.clients import broker, db

    for text in ['FATAL:  password authentication failed for user "airflow"', 'FATAL:  role "nobody" does not exist',
                 'FATAL:  database "airflw" does not exist', "FATAL:  no pg_hba.conf entry for host",
                 "(1045, \"Access denied for user 'airflow'@'10.0.0.3' (using password: YES)\")"]:
        assert db.rejected(text), text
    for text in ["connection to server at \"127.0.0.1\", port 1 failed: Connection refused",
                 "FATAL:  the database system is starting up", "FATAL:  sorry, too many clients already",
                 "server closed the connection unexpectedly"]:
        assert not db.rejected(text), text
    import redis.exceptions as rx

    wrapped = ConnectionError("connection lost")
    wrapped.__cause__ = rx.AuthenticationError("invalid username-password pair or user is disabled.")
    assert broker.refused_credentials(wrapped)
    assert broker.refused_credentials(rx.ResponseError("NOAUTH Authentication required."))
    assert not broker.refused_credentials(rx.ConnectionError("Error 111 connecting to 127.0.0.1:1."))
    assert not broker.refused_credentials(TimeoutError("timed out"))


# preflight and plan ----------------------------------------------------------------------------------
def test_preflight_findings_name_each_task_and_the_fix() -> None:
    tasks = [("etl", "load", "CeleryExecutor", None), ("etl", "gpu", None, "gpu"), ("ok", "t", None, "q1"),
             ("ok", "dflt", None, None), ("ok", "k", "KubernetesExecutor", "default")]
    tis = [("etl", "load", "CeleryExecutor", "q1", "queued", 3), ("old", "x", None, "gone", "scheduled", 1),
           ("kept", "y", "CeleryExecutor", "q1", "running", 1)]  # a keep-old-executor tag, not a DAG pin
    found = preflight.findings(tasks, tis, K8S, ("q1",), "default")
    assert [f.line() for f in found] == [
        "etl.gpu: queue='gpu' (DAG definition)",
        "etl.load: executor='CeleryExecutor' (DAG definition; 3 task instances queued)",
        "old.x: queue='gone' (1 task instance scheduled)",
    ]
    msg = preflight.advice(found, K8S, ("q1",))
    assert "remove `executor=`" in msg and "workers.queues" in msg
    assert preflight.findings(tasks, tis, parse_list("KubernetesExecutor,CeleryExecutor"), (), "default") == []


def test_plan_counts_null_executor_as_the_old_default() -> None:
    counts = [TiCount(None, "q1", "queued", 4), TiCount(None, "q1", "running", 2),
              TiCount("CeleryExecutor", "q2", "scheduled", 1), TiCount("Gone", "q1", "queued", 5)]
    p = plan.compute(CELERY, K8S, counts, State(), {"q1": 4}, [])
    assert p.in_flight == {"CeleryExecutor": {"q1 queued": 4, "q1 running": 2, "q2 scheduled": 1}}
    assert p.unknown == {"Gone": 5}
    assert any("wait for 2 running, hand 4 queued back (broker messages)" in a for a in p.actions)
    assert "broker queue depths: q1=4" in plan.render(p)


# pods, state, settings ---------------------------------------------------------------------------------
def test_match_pods_by_id_then_annotations() -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    keys = [TiKey(a, "d", "t1", "r", -1, 1, "q", None, "queued"), TiKey(b, "d", "t2", "r", -1, 1, "q", None, "queued")]
    pods = [Pod("p1", "Pending", ti_id=a), Pod("p2", "Pending", annotations={
        "dag_id": "d", "task_id": "t2", "run_id": "r", "try_number": "1"}),
        Pod("p3", "Pending", ti_id=uuid.uuid4()), Pod("p4", "Pending", annotations={"dag_id": "d"})]
    assert match_pods(pods, keys) == {"p1": keys[0], "p2": keys[1]}


def test_state_round_trip() -> None:
    s = State(executors="CeleryExecutor", scheduler_replicas=2, drain_queues=("a", "b"),
              drain_consumers=(("w1@h", "a"),))
    assert State.parse(s.data()) == s
    assert State.parse(None).exists is False and State.parse({}).scheduler_replicas is None


def test_config_notes_and_stale_names() -> None:
    notes = {n.line().split(":")[0] for n in config_notes(
        {"celery": ["broker_url", "default_queue"], "kubernetes": ["namespace"], "core": ["parallelism"]}, K8S)}
    assert notes == {"[celery] broker_url", "[celery] default_queue", "[kubernetes] namespace"}
    both = config_notes({"celery": ["broker_url"], "kubernetes_executor": ["namespace"]},
                        parse_list("KubernetesExecutor,CeleryExecutor"))
    assert both == []
    assert stale_executor_names(["CeleryExecutor", "fast"], parse_list("fast:my.pkg.Fast")) == ["CeleryExecutor"]


# waits and CLI -----------------------------------------------------------------------------------------
def test_wait_until_stops_at_the_deadline_and_reports_what_is_left(capsys: pytest.CaptureFixture[str]) -> None:
    ticks = itertools.count()  # each clock read is one second later
    left = progress.wait_until("x", "work", lambda: {"q1": 2, "q2": 0},
                               progress.Deadline(3, clock=lambda: float(next(ticks))), interval=0)
    assert left == {"q1": 2}
    assert "q1=2" in capsys.readouterr().out


def test_cli_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        cli.main(["drain", "--namespace", "n"])
    assert e.value.code == errors.USAGE
    with pytest.raises(SystemExit) as e:
        cli.main(["preflight", "--to-executors", "A,A"])
    assert e.value.code == errors.USAGE


DRAIN = ["drain", "--namespace=n", "--state-configmap=s", "--scheduler-deployment=d", "--on-timeout=fail",
         "--from-executors=CeleryExecutor"]


@pytest.mark.parametrize(("args", "flag", "why"), [
    (["preflight", "--to-executors=KubernetesExecutr"], "--to-executors", "unknown executor 'KubernetesExecutr'"),
    (["preflight", "--to-executors=CeleryKubernetesExecutor"], "--to-executors",
     "use CeleryExecutor,KubernetesExecutor"),
    (["preflight", "--to-executors=fast:NoModule"], "--to-executors", "unknown executor 'fast:NoModule'"),
    (["preflight", "--to-executors=fast:"], "--to-executors", "unknown executor"),
    (["preflight", "--to-executors="], "--to-executors", "needs at least one executor"),
    (["preflight", "--to-executors= , "], "--to-executors", "needs at least one executor"),
    ([*DRAIN, "--to-executors=KubernetesExecutor", "--timeout=-1"], "--timeout", ">= 0, got '-1'"),
    ([*DRAIN, "--to-executors=KubernetesExecutor", "--timeout=nan"], "--timeout", "finite"),
    ([*DRAIN, "--to-executors=KubernetesExecutor", "--timeout=1h"], "--timeout", "not a number"),
    ([*DRAIN, "--to-executors=KubernetesExecutor", "--timeout=9", "--scheduler-stop-timeout=-3"],
     "--scheduler-stop-timeout", ">= 0"),
    ([*DRAIN, "--to-executors=KubernetesExecutor", "--timeout=9", "--batch-size=ten"], "--batch-size",
     "not a whole number: 'ten'"),
    ([*DRAIN, "--to-executors=KubernetesExecutor", "--timeout=9", "--batch-size=0"], "--batch-size", ">= 1"),
    ([*DRAIN, "--to-executors=KubernetesExecutor", "--timeout=9", "--on-timeout=retry"], "--on-timeout",
     "use fail or keep-old-executor"),
    (["migrate-settings", "--namespace=n", "--state-configmap=s", "--scheduler-deployment=d",
      "--executors=KubernetesExecutor", "--scheduler-replicas=-1"], "--scheduler-replicas", ">= 0"),
])
def test_cli_garbage_exits_2_naming_the_flag(capsys: pytest.CaptureFixture[str], args: list[str], flag: str,
                                              why: str) -> None:
    with pytest.raises(SystemExit) as e:
        cli.main(args)
    err = capsys.readouterr().err
    assert e.value.code == errors.USAGE and f"argument {flag}: " in err and why in err, err


def test_cli_garbage_from_env_exits_2_naming_the_flag(monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("AIRFLOW_K8S_HOOKS_BATCH_SIZE", "-5")
    with pytest.raises(SystemExit) as e:
        cli.main([*DRAIN, "--to-executors=KubernetesExecutor", "--timeout=9"])
    assert e.value.code == errors.USAGE and "argument --batch-size: must be >= 1" in capsys.readouterr().err


def test_cli_flags_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_K8S_HOOKS_TO_EXECUTORS", "KubernetesExecutor")
    monkeypatch.setenv("AIRFLOW_K8S_HOOKS_TO_QUEUES", "a,b")
    args = cli.build_parser().parse_args(["preflight"])
    assert [e.kind for e in args.to_executors] == ["KubernetesExecutor"] and args.to_queues == ("a", "b")


def test_cli_maps_errors_to_exit_codes(monkeypatch: pytest.MonkeyPatch) -> None:
    for exc, code in [(errors.Refused("x"), 3), (errors.DrainTimedOut("x"), 4), (errors.Retryable("x"), 75)]:
        def boom(*_: Any, exc: Exception = exc) -> None:
            raise exc

        monkeypatch.setattr(cli, "_run", boom)
        assert cli.main(["preflight", "--to-executors", "KubernetesExecutor"]) == code


def test_cli_accepts_the_charts_empty_retiring() -> None:
    a = cli.build_parser().parse_args(["migrate-settings", "--namespace=n", "--state-configmap=s",
                                       "--scheduler-deployment=d", "--scheduler-replicas=2",
                                       "--executors=KubernetesExecutor", "--retiring=", "--cleanup-selector=a=b"])
    assert a.retiring == () and a.scheduler_replicas == 2


def test_retiring_is_what_the_drain_measured() -> None:
    from airflow_k8s_hooks.migrate_settings import retiring_after

    both = parse_list("KubernetesExecutor,CeleryExecutor")
    # The chart guessed Celery would retire; the drain finished everything: nothing retires.
    assert retiring_after(CELERY, (), "done", both) == ()
    # The drain timed out and kept Celery: it retires even when the flag is empty.
    assert retiring_after((), CELERY, "kept-old", both) == CELERY
    # No drain this upgrade: the flag and the earlier record hold, while still configured.
    assert retiring_after((), CELERY, "", both) == CELERY
    assert retiring_after(CELERY, CELERY, "", K8S) == ()


def test_unreachable_db_exits_75_for_the_jobs_backoff(tmp_path: Any) -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update({"AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql+psycopg2://nobody@127.0.0.1:1/none",
                "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "hooks")})
    done = subprocess.run([sys.executable, "-m", "airflow_k8s_hooks", "preflight", "--to-executors",
                           "KubernetesExecutor"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == errors.TEMPFAIL, done.stderr[-2000:]
    assert "retryable: metadata DB unreachable" in done.stderr

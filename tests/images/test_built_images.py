"""The built archives, run the way a runtime runs them (ENTRYPOINT + args, image Env/User/WorkingDir).

Needs root for chroot and mount namespaces. Skipped when an archive is not built, except in CI
(CI=true), where the images are built before the tests and a missing one is a failure.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .conftest import ARCHIVES, ImageRoot, _archive_or_skip, oci, recipes

Unpack = Callable[[str], ImageRoot]
NO_DB_WAIT = {"CONNECTION_CHECK_MAX_COUNT": "0"}


def _last_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("name", sorted(recipes.RECIPES))
def test_archive_is_current_recipe(name: str) -> None:
    """The archive is a valid layout and carries what recipes.py says (no stale build)."""
    recipe = recipes.RECIPES[name]
    image = oci.read_image(_archive_or_skip(name))
    assert image.ref == recipe.ref
    assert image.config["config"] == recipe.config.to_json()
    assert image.config["architecture"] == oci.oci_arch()


@pytest.fixture(scope="module")
def airflow(unpack_image: Unpack) -> ImageRoot:
    return unpack_image("airflow")


def test_airflow_version_with_and_without_airflow_prefix(airflow: ImageRoot) -> None:
    # Default CONNECTION_CHECK_MAX_COUNT: the entrypoint's `airflow db check` (SQLite here) passes first.
    assert _last_line(airflow.run(["airflow", "version"])) == "3.3.2"
    assert _last_line(airflow.run(["version"], env=NO_DB_WAIT)) == "3.3.2"


def test_airflow_python_and_celery_pin(airflow: ImageRoot) -> None:
    version = _last_line(airflow.run(["python", "-c", "import celery; print(celery.__version__)"], env=NO_DB_WAIT))
    assert re.fullmatch(r"5\.6\.\d+", version)
    # The pitfall celery<5.7 avoids: providers-celery imports a module 5.7.0 removed.
    probe = "import airflow.providers.celery.executors.celery_executor as m; print(m.CeleryExecutor.__name__)"
    assert _last_line(airflow.run(["python", "-c", probe], env=NO_DB_WAIT)) == "CeleryExecutor"


def test_airflow_user_home_and_tools(airflow: ImageRoot) -> None:
    script = "id -u; id -g; pwd; umask; echo $HOME; git --version; cat /proc/1/comm; touch dags/x logs/x"
    lines = airflow.run(["bash", "-c", script], env=NO_DB_WAIT).stdout.splitlines()
    assert lines[:5] == ["50000", "0", "/opt/airflow", "0002", "/home/airflow"]
    assert lines[5].startswith("git version")
    assert lines[6] == "dumb-init"  # PID 1 is dumb-init, as in the upstream image


def test_airflow_arbitrary_uid_gets_passwd_entry(airflow: ImageRoot) -> None:
    result = airflow.run(["bash", "-c", "whoami; echo $HOME"], user="12345:0", env=NO_DB_WAIT)
    assert result.stdout.split() == ["default", "/home/airflow"], result.stdout + result.stderr
    # Not gid 0 and not uid 50000: refused like upstream, with the reason.
    refused = airflow.run(["version"], user="12345:12345", env=NO_DB_WAIT)
    assert refused.returncode != 0
    assert "GID 0" in refused.stdout + refused.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(check: Callable[[], object], proc: subprocess.Popen[str], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            check()
            return
        except Exception:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                output = proc.stdout.read() if proc.stdout else ""
                pytest.fail(f"not ready (exit {proc.returncode}):\n{output}")
            time.sleep(0.5)


@pytest.fixture
def pgdata_volume(tmp_path: Path) -> Iterator[Path]:
    """A fresh volume as the kubelet makes an emptyDir with fsGroup 999: root-owned, group 999 writable."""
    volume = tmp_path / "pgdata"
    volume.mkdir()
    os.chown(volume, 0, 999)
    volume.chmod(0o2770)
    yield volume


def test_postgres_initdb_on_fresh_fsgroup_volume(unpack_image: Unpack, pgdata_volume: Path) -> None:
    psycopg2 = pytest.importorskip("psycopg2")
    postgres = unpack_image("postgres")
    mountpoint = postgres.root / "var/lib/postgresql/data"
    port = _free_port()
    env = {"POSTGRES_USER": "airflow", "POSTGRES_PASSWORD": "s3cret", "POSTGRES_DB": "airflow_db"}

    def connect() -> None:
        psycopg2.connect(host="127.0.0.1", port=port, user="airflow", password="s3cret", dbname="airflow_db").close()

    subprocess.run(["mount", "--bind", str(pgdata_volume), str(mountpoint)], check=True)
    try:
        for attempt in ("init", "restart"):
            proc = postgres.start(["postgres", "-p", str(port)], env=env)
            _wait(connect, proc)
            output = postgres.stop(proc, signal.SIGINT)  # the image's StopSignal: fast shutdown
            assert ("init process complete" in output) == (attempt == "init"), output
        # initdb could not chmod the root-owned volume, so the cluster sits one level down.
        cluster = pgdata_volume / "pgdata"
        assert cluster.stat().st_uid == 999
        assert (cluster / "PG_VERSION").read_text().strip() == "15"
        assert "host all all all scram-sha-256" in (cluster / "pg_hba.conf").read_text()
        assert "listen_addresses = '*'" in (cluster / "postgresql.conf").read_text()
    finally:
        subprocess.run(["umount", "--lazy", str(mountpoint)], check=False)


def test_postgres_started_as_root_drops_to_999(unpack_image: Unpack, tmp_path: Path) -> None:
    """No securityContext: the entrypoint takes the volume over for uid 999 and uses it directly."""
    psycopg2 = pytest.importorskip("psycopg2")
    postgres = unpack_image("postgres")
    volume = tmp_path / "root-owned"
    volume.mkdir(mode=0o755)
    mountpoint = postgres.root / "var/lib/postgresql/data"
    port = _free_port()
    subprocess.run(["mount", "--bind", str(volume), str(mountpoint)], check=True)
    try:
        proc = postgres.start(["postgres", "-p", str(port)], user="0:0", env={"POSTGRES_PASSWORD": "pw"})
        _wait(lambda: psycopg2.connect(host="127.0.0.1", port=port, user="postgres", password="pw").close(), proc)
        postgres.stop(proc, signal.SIGINT)
    finally:
        subprocess.run(["umount", "--lazy", str(mountpoint)], check=False)
    assert (volume.stat().st_uid, volume.stat().st_mode & 0o777) == (999, 0o700)
    assert (volume / "PG_VERSION").is_file()


def test_redis_with_chart_args(unpack_image: Unpack) -> None:
    redis = pytest.importorskip("redis")
    image = unpack_image("redis")
    port = _free_port()
    proc = image.start(["redis-server", "--port", str(port), "--protected-mode", "no"])
    client = redis.Redis(host="127.0.0.1", port=port)
    try:
        _wait(client.ping, proc)
        client.set("k", "v")
        assert client.get("k") == b"v"
        assert client.info("server")["redis_version"].startswith("7.")
        client.save()  # /data must be writable by uid 999
    finally:
        image.stop(proc)
    dump = image.root / "data" / "dump.rdb"
    assert dump.stat().st_uid == 999


def test_pause_runs_and_exits_on_sigterm(unpack_image: Unpack) -> None:
    image = unpack_image("pause")
    assert _last_line(image.run(["-v"])) == "pause.c 3.10"
    proc = image.start([])
    time.sleep(0.5)
    assert proc.poll() is None
    image.stop(proc)
    assert proc.returncode == 0


def test_archives_dir_is_git_ignored() -> None:
    result = subprocess.run(
        ["git", "check-ignore", "-q", str(ARCHIVES / "airflow.tar")], cwd=ARCHIVES.parents[1], check=False
    )
    assert result.returncode == 0


def _layer_listing(name: str) -> list[str]:
    """Paths in the image's single layer, read from the archive (the unpacked root changes as tests run)."""
    archive = _archive_or_skip(name)
    (member,) = oci.read_image(archive).layer_members
    with subprocess.Popen(["tar", "-xOf", str(archive), member], stdout=subprocess.PIPE) as outer:
        listing = subprocess.run(["tar", "-t"], stdin=outer.stdout, capture_output=True, text=True, check=True)
    return [line.removeprefix("./").rstrip("/") for line in listing.stdout.splitlines()]


def test_airflow_image_layout_like_upstream() -> None:
    paths = _layer_listing("airflow")
    venv = "home/airflow/.local/"
    assert f"{venv}bin/airflow" in paths and f"{venv}pyvenv.cfg" in paths
    assert any(p.startswith(f"{venv}lib/python3") and p.endswith("site-packages/airflow/__init__.py") for p in paths)
    # Upstream deletes the installed packages' bytecode; the stand-in ships it (ci/images/README.md): the
    # 2-core test cluster cannot compile Airflow in every pod it starts.
    assert any(p.startswith(venv) and "/airflow/__pycache__/" in p and p.endswith(".pyc") for p in paths)
    assert {p for p in paths if p.startswith("opt/airflow/") and p.count("/") == 2} == {"opt/airflow/dags",
                                                                                      "opt/airflow/logs"}


def test_airflow_runs_from_the_virtualenv(airflow: ImageRoot) -> None:
    probe = "import sys, shutil, airflow; print(sys.prefix, shutil.which('airflow'), sys.version_info[:2] >= (3, 11))"
    assert _last_line(airflow.run(["python", "-c", probe], env=NO_DB_WAIT)).split() == [
        "/home/airflow/.local", "/home/airflow/.local/bin/airflow", "True"]
    env = airflow.run(["bash", "-c", "echo $VIRTUAL_ENV $AIRFLOW__CORE__LOAD_EXAMPLES"], env=NO_DB_WAIT)
    assert _last_line(env) == "/home/airflow/.local false"


UNREACHABLE_DB = {"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql+psycopg2://u:p@127.0.0.1:1/airflow",
                  "CONNECTION_CHECK_SLEEP_TIME": "0"}


def test_entrypoint_db_check_retries_then_fails_and_zero_skips_it(airflow: ImageRoot) -> None:
    failed = airflow.run(["bash", "-c", "echo command-ran"], env={**UNREACHABLE_DB, "CONNECTION_CHECK_MAX_COUNT": "2"})
    output = failed.stdout + failed.stderr
    assert failed.returncode != 0, output
    assert "Maximum number of retries (2) reached" in output and "$ airflow db check" in output
    assert "command-ran" not in output
    skipped = airflow.run(["bash", "-c", "echo command-ran"], env={**UNREACHABLE_DB, **NO_DB_WAIT})
    assert _last_line(skipped) == "command-ran"


def _probe_wheel(path: Path) -> None:
    """A minimal pure-Python wheel, so pip installs it with no index."""
    import zipfile

    info = "probe_pkg-1.0.dist-info"
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr("probe_pkg.py", "VALUE = 'installed'\n")
        wheel.writestr(f"{info}/METADATA", "Metadata-Version: 2.1\nName: probe-pkg\nVersion: 1.0\n")
        wheel.writestr(f"{info}/WHEEL",
                       "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        wheel.writestr(f"{info}/RECORD", "")


def test_entrypoint_migrates_and_installs_additional_requirements(airflow: ImageRoot) -> None:
    import sqlite3

    scratch = airflow.root / "tmp" / "entrypoint-test"
    scratch.mkdir(mode=0o777)
    scratch.chmod(0o777)
    _probe_wheel(scratch / "probe_pkg-1.0-py3-none-any.whl")
    env = {
        **NO_DB_WAIT,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "sqlite:////tmp/entrypoint-test/airflow.db",
        "_AIRFLOW_DB_MIGRATE": "true",
        "_PIP_ADDITIONAL_REQUIREMENTS": "--no-index /tmp/entrypoint-test/probe_pkg-1.0-py3-none-any.whl",
    }
    result = airflow.run(["python", "-c", "import probe_pkg, sys; print(probe_pkg.VALUE, sys.prefix)"], env=env,
                         timeout=600)
    assert _last_line(result) == "installed /home/airflow/.local", result.stdout + result.stderr
    assert "Installing additional requirements" in result.stderr
    with sqlite3.connect(scratch / "airflow.db") as db:
        (version,) = db.execute("SELECT version_num FROM alembic_version").fetchone()
    assert version


# dumb-init (PID 1) sends SIGTERM to the command's whole process group when DUMB_INIT_SETSID=1 (the
# image's default), to the command only when 0: the chart's Celery workers rely on the latter.
_SIGNAL_PROBE = """
( trap 'echo child-got-TERM; exit 0' TERM; while :; do sleep 0.1; done ) &
child=$!
trap 'echo main-got-TERM; sleep 1; kill -KILL "$child" 2>/dev/null; exit 0' TERM
echo ready
while :; do sleep 0.1; done
"""


@pytest.mark.parametrize(("setsid", "child_signalled"), [("1", True), ("0", False)])
def test_dumb_init_setsid_decides_who_gets_sigterm(airflow: ImageRoot, setsid: str, child_signalled: bool) -> None:
    proc = airflow.start(["bash", "-c", _SIGNAL_PROBE], env={**NO_DB_WAIT, "DUMB_INIT_SETSID": setsid})
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    output = airflow.stop(proc)
    assert "main-got-TERM" in output
    assert ("child-got-TERM" in output) == child_signalled, output

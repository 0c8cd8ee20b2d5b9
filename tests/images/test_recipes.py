"""Offline checks of what the images are made from: configs, pins, cache keys, host discovery."""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

import pytest

from .conftest import IMAGES_DIR, build, hostcfg, recipes


def _env(recipe: recipes.Recipe) -> dict[str, str]:
    return dict(e.split("=", 1) for e in recipe.config.env)


def test_refs_are_fully_qualified() -> None:
    # The kubelet normalises `apache/airflow:3.3.2` to this form before asking containerd.
    assert {r.ref for r in recipes.RECIPES.values()} == {
        "docker.io/apache/airflow:3.3.2",
        "docker.io/library/postgres:15",
        "docker.io/library/redis:7",
        "registry.k8s.io/pause:3.10",
        "docker.io/prom/statsd-exporter:v0.28.0",
    }


def test_statsd_exporter_is_the_charts_default_image() -> None:
    import yaml

    images = yaml.safe_load((IMAGES_DIR.parents[1] / "chart" / "values.yaml").read_text())["images"]["statsd"]
    assert recipes.STATSD.ref == f"docker.io/{images['repository']}:{images['tag']}"
    assert recipes.STATSD.go_module.endswith(f"@{images['tag']}")
    assert not recipes.STATSD.debian and build.inputs_key(recipes.STATSD) != build.inputs_key(recipes.PAUSE)


def test_airflow_config_matches_upstream_image() -> None:
    config = recipes.AIRFLOW.config.to_json()
    assert config["Entrypoint"] == ["/usr/bin/dumb-init", "--", "/entrypoint"]
    assert config["Cmd"] == []
    assert config["User"] == "50000"
    assert config["WorkingDir"] == "/opt/airflow"
    env = _env(recipes.AIRFLOW)
    assert env["AIRFLOW_HOME"] == "/opt/airflow"
    assert env["AIRFLOW_USER_HOME_DIR"] == "/home/airflow"
    # Airflow lives in a virtualenv whose bin comes first, as upstream.
    assert env["VIRTUAL_ENV"] == "/home/airflow/.local"
    assert env["PATH"].split(":")[0] == "/home/airflow/.local/bin"
    # Upstream's env beats airflow.cfg: the chart must hand config.core.load_examples on.
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "false"
    assert env["DUMB_INIT_SETSID"] == "1"
    assert "PIP_USER" not in env  # pip refuses --user in a virtualenv
    assert "useradd --uid 50000 --gid 0 --home-dir /home/airflow" in recipes.AIRFLOW.script
    assert "dumb-init" in recipes.AIRFLOW.script
    assert re.search(r"\bgit\b", recipes.AIRFLOW.script)


@pytest.mark.parametrize("recipe", [recipes.POSTGRES, recipes.REDIS], ids=lambda r: r.name)
def test_service_images_run_as_999_via_path_entrypoint(recipe: recipes.Recipe) -> None:
    assert recipe.config.entrypoint == ["docker-entrypoint.sh"]
    assert recipe.config.user == "999:999"
    (dst,) = recipe.files
    assert dst.rsplit("/", 1) == ["/usr/local/bin", "docker-entrypoint.sh"]
    assert "/usr/local/bin" in _env(recipe)["PATH"].split(":")
    assert "--uid 999" in recipe.script


def test_postgres_defaults() -> None:
    assert recipes.POSTGRES.config.cmd == ["postgres"]
    assert _env(recipes.POSTGRES)["PGDATA"] == "/var/lib/postgresql/data"
    assert "/usr/lib/postgresql/15/bin" in _env(recipes.POSTGRES)["PATH"]
    assert recipes.REDIS.config.cmd == ["redis-server"]


def _pins(lock: Path) -> dict[str, str]:
    pins = dict(line.split("==", 1) for line in lock.read_text().splitlines() if line and not line.startswith("#"))
    return {name.lower().replace("_", "-"): version for name, version in pins.items()}


def test_airflow_lock_is_the_stock_images_release_day_stack() -> None:
    pins = _pins(recipes.AIRFLOW.lock_path)
    assert pins["apache-airflow"] == "3.3.2"
    # What PyPI served on 2026-09-17, apache/airflow:3.3.2's release day (see the lock's header).
    assert pins["apache-airflow-providers-cncf-kubernetes"] == "10.22.0"
    assert pins["apache-airflow-providers-celery"] == "3.24.0"
    assert pins["sqlalchemy"].startswith("2.0.")
    assert pins["celery"].startswith("5.6.")
    # Every requirement of the image is constrained by the lock, nothing resolves freely at build time.
    for requirement in recipes.AIRFLOW.pip_requirements:
        assert re.split(r"[<>=\[]", requirement)[0].lower() in pins, requirement
    for provider in ("postgres", "redis", "standard", "fab", "git"):
        assert f"apache-airflow-providers-{provider}" in pins
    assert "psycopg2-binary" in pins
    assert "statsd" in pins, "[metrics] statsd_on (chart value statsd.enabled) imports it"


def test_lock_check_compares_names_as_pip_does() -> None:
    # pip freeze spells names as their projects do, uv's lock in normalized form: no false "not in lock" warnings.
    assert build._pin("Flask_SQLAlchemy==3.1.1") == build._pin("flask-sqlalchemy==3.1.1")
    assert build._pin("zope.interface==7.0") == "zope-interface==7.0"


def test_newest_lock_is_newer_and_keeps_celery_below_5_7() -> None:
    pins = _pins(recipes.LOCKS / "airflow-newest.txt")
    assert pins["apache-airflow"] == "3.3.2"
    assert pins["apache-airflow-providers-cncf-kubernetes"] == "10.25.0"
    assert pins["apache-airflow-providers-celery"] == "3.26.0"
    # celery 5.7.0 removed a module providers-celery 3.26.0 imports.
    assert pins["celery"].startswith("5.6.")
    assert pins["sqlalchemy"].startswith("2.1.")
    assert set(_pins(recipes.AIRFLOW.lock_path)) <= set(pins)


def test_cache_key_follows_inputs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    key = build.inputs_key(recipes.AIRFLOW)
    assert build.inputs_key(recipes.AIRFLOW) == key
    assert build.inputs_key(dataclasses.replace(recipes.AIRFLOW, script="true\n")) != key
    # The shared build prelude (pip_install, apt_install) decides content too.
    monkeypatch.setattr(build, "_PRELUDE", build._PRELUDE + "true\n")
    assert build.inputs_key(recipes.AIRFLOW) != key
    monkeypatch.undo()
    lock = tmp_path / "locks"
    lock.mkdir()
    (lock / "airflow.txt").write_text("apache-airflow==3.3.2\n")
    monkeypatch.setattr(recipes, "LOCKS", lock)
    assert build.inputs_key(recipes.AIRFLOW) != key


def test_committed_files_name_no_mirror_or_host_path() -> None:
    for path in IMAGES_DIR.rglob("*"):
        if path.is_file() and path.suffix in {".py", ".sh", ".c", ".txt", ".md"}:
            text = path.read_text()
            assert not re.search(r"https?://(?!\S*\{)", text), f"{path} names a URL"
            assert not re.search(r"(?<![\w.])/work/", text), f"{path} names a host path"


def test_apt_sources_both_formats(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    one_line = tmp_path / "sources.list"
    one_line.write_text(
        "# comment\ndeb [arch=amd64 signed-by=/k.gpg] http://mirror.example.invalid/debian/ bookworm main\n"
    )
    parts = tmp_path / "sources.list.d"
    parts.mkdir()
    (parts / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example.invalid/debian\nSuites: bookworm bookworm-updates\n"
        "Components: main\n\n"
        "Types: deb\nURIs: http://security.example.invalid/debian-security\nSuites: bookworm-security\n"
        "Components: main\n\n"
        "Types: deb\nURIs: http://off.example.invalid/debian\nSuites: trixie\nEnabled: no\n"
    )
    (parts / "vendor.list.disabled").write_text("deb http://vendor.example.invalid/apt stable main\n")
    monkeypatch.setattr(hostcfg, "APT_SOURCES", one_line)
    monkeypatch.setattr(hostcfg, "APT_SOURCES_DIR", parts)
    uris = {s.uri for s in hostcfg.apt_sources()}
    assert uris == {"http://mirror.example.invalid/debian", "http://security.example.invalid/debian-security"}
    mirrors = hostcfg.debian_mirrors("bookworm")
    assert mirrors == hostcfg.DebianMirrors(
        "http://mirror.example.invalid/debian", "http://security.example.invalid/debian-security"
    )


def test_pip_config_drops_host_paths(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    conf = tmp_path / "pip.conf"
    conf.write_text(f"[global]\nindex-url = https://index.example.invalid/simple\ncert = {ca}\n")
    for key in [k for k in os.environ if k.startswith("PIP_")]:
        monkeypatch.delenv(key)
    monkeypatch.setattr(hostcfg, "_pip_config_files", lambda: [conf])
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "wheels"))
    monkeypatch.setenv("PIP_DEFAULT_TIMEOUT", "60")
    config = hostcfg.pip_config()
    assert config.ca_bundle == ca
    assert config.settings == {"index-url": "https://index.example.invalid/simple", "default-timeout": "60"}
    rendered = hostcfg.render_pip_conf(config.settings, "/tmp/.image-build/ca.pem")
    assert "cert = /tmp/.image-build/ca.pem" in rendered
    assert str(tmp_path) not in rendered

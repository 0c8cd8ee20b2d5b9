"""What goes into each image. Everything here is part of the image's cache key."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from oci import ImageConfig

HERE = Path(__file__).resolve().parent
FILES = HERE / "files"
LOCKS = HERE / "locks"

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class Recipe:
    """An image: a script run as root in a copy of the Debian base, or a static binary.

    `files` are copied in before the script runs: {path in image: (file under files/, mode)}.
    `pip_requirements` and the lock (pip constraints) are handed to the script as
    $IN/requirements.txt and $IN/constraints.txt; the script calls `pip_install` (see build.py).
    """

    name: str
    ref: str
    config: ImageConfig
    script: str = ""
    files: dict[str, tuple[str, int]] = field(default_factory=dict)
    pip_requirements: tuple[str, ...] = ()
    static_binary: str = ""  # C source under the images dir: image = that one binary, nothing else
    # `module@version` of a Go command, built by `go install` (CGO off, static): image = that one binary,
    # at the entrypoint's path, nothing else.
    go_module: str = ""

    @property
    def debian(self) -> bool:
        """Built in a copy of the Debian base (else: one binary, no base)."""
        return not (self.static_binary or self.go_module)

    @property
    def lock_path(self) -> Path:
        return LOCKS / f"{self.name}.txt"


AIRFLOW_VERSION = "3.3.2"
AIRFLOW_USER_HOME = "/home/airflow"
AIRFLOW_VENV = f"{AIRFLOW_USER_HOME}/.local"

AIRFLOW = Recipe(
    name="airflow",
    ref=f"docker.io/apache/airflow:{AIRFLOW_VERSION}",
    pip_requirements=(
        # Versions come from the lock (locks/airflow.txt: the stock image's release-day stack).
        f"apache-airflow=={AIRFLOW_VERSION}",
        "apache-airflow-providers-cncf-kubernetes",
        "apache-airflow-providers-celery",
        "apache-airflow-providers-postgres",
        "apache-airflow-providers-redis",
        "apache-airflow-providers-standard",
        "apache-airflow-providers-fab",
        "apache-airflow-providers-git",
        # celery 5.7.0 removed celery.backends.database.retry, which providers-celery 3.26.0 imports.
        "celery<5.7",
        "psycopg2-binary",
        # `[metrics] statsd_on` (chart value statsd.enabled) imports it; the upstream image ships it too.
        "statsd",
    ),
    files={"/entrypoint": ("airflow-entrypoint.sh", 0o755)},
    # Laid out like the upstream image (see README.md here): Airflow in a virtualenv at
    # /home/airflow/.local owned by the airflow user, only dags/ and logs/ in AIRFLOW_HOME.
    script=f"""\
useradd --uid 50000 --gid 0 --home-dir {AIRFLOW_USER_HOME} --create-home --shell /bin/bash --comment '' airflow
apt_install python3 python3-venv python-is-python3 git dumb-init ca-certificates curl openssh-client
export VIRTUAL_ENV={AIRFLOW_VENV} PATH={AIRFLOW_VENV}/bin:$PATH
python3 -m venv "$VIRTUAL_ENV"
pip_install
# Upstream deletes the bytecode its installs leave. The stand-in keeps it, compiled: without it every pod of
# the 2-core test cluster compiled Airflow at start, and the executor-switch tests ran out of their waits
# (ci/images/README.md lists this difference).
python3 -m compileall -q -j 0 "$VIRTUAL_ENV" >/dev/null || true
install -d -o airflow -g 0 -m 0775 /opt/airflow /opt/airflow/dags /opt/airflow/logs
chown -R airflow:0 {AIRFLOW_USER_HOME}
chmod -R g+rwX {AIRFLOW_USER_HOME}
# Lets an arbitrary runAsUser add itself to /etc/passwd in the entrypoint, as upstream allows.
chmod g=u /etc/passwd
""",
    config=ImageConfig(
        entrypoint=["/usr/bin/dumb-init", "--", "/entrypoint"],
        cmd=[],
        user="50000",
        working_dir="/opt/airflow",
        env=[
            f"PATH={AIRFLOW_VENV}/bin:/root/bin:" + DEFAULT_PATH,
            f"VIRTUAL_ENV={AIRFLOW_VENV}",
            "AIRFLOW_HOME=/opt/airflow",
            "AIRFLOW_UID=50000",
            f"AIRFLOW_USER_HOME_DIR={AIRFLOW_USER_HOME}",
            f"AIRFLOW_VERSION={AIRFLOW_VERSION}",
            "AIRFLOW__CORE__LOAD_EXAMPLES=false",
            "DUMB_INIT_SETSID=1",
            "LANG=C.UTF-8",
            "LC_ALL=C.UTF-8",
        ],
        labels={"org.opencontainers.image.title": "apache/airflow stand-in (Debian bookworm + PyPI)"},
    ),
)

PG_MAJOR = "15"

POSTGRES = Recipe(
    name="postgres",
    ref=f"docker.io/library/postgres:{PG_MAJOR}",
    files={"/usr/local/bin/docker-entrypoint.sh": ("postgres-entrypoint.sh", 0o755)},
    script=f"""\
# uid/gid 999 as in the official image, fixed before the package would pick a free one.
groupadd --system --gid 999 postgres
useradd --system --gid postgres --uid 999 --home-dir /var/lib/postgresql --shell /bin/bash postgres
install -d -o postgres -g postgres /var/lib/postgresql
apt_install postgresql-common
# The package would otherwise create and start a "main" cluster in the image.
sed -ri 's/#(create_main_cluster) .*$/\\1 = false/' /etc/postgresql-common/createcluster.conf
apt_install postgresql-{PG_MAJOR}
install -d -o postgres -g postgres -m 3777 /var/run/postgresql
# 1777 like the official image: the entrypoint narrows it to 0700 on first start.
install -d -o postgres -g postgres -m 1777 /var/lib/postgresql/data
install -d /docker-entrypoint-initdb.d
""",
    config=ImageConfig(
        entrypoint=["docker-entrypoint.sh"],
        cmd=["postgres"],
        user="999:999",
        env=[
            f"PATH={DEFAULT_PATH}:/usr/lib/postgresql/{PG_MAJOR}/bin",
            f"PG_MAJOR={PG_MAJOR}",
            "PGDATA=/var/lib/postgresql/data",
            "LANG=C.UTF-8",
        ],
        # Fast shutdown, as the official image: SIGTERM would wait for every client to disconnect.
        stop_signal="SIGINT",
        labels={"org.opencontainers.image.title": "postgres stand-in (Debian bookworm packages)"},
    ),
)

REDIS = Recipe(
    name="redis",
    ref="docker.io/library/redis:7",
    files={"/usr/local/bin/docker-entrypoint.sh": ("redis-entrypoint.sh", 0o755)},
    script="""\
groupadd --system --gid 999 redis
useradd --system --gid redis --uid 999 --home-dir /data --shell /usr/sbin/nologin redis
apt_install redis-server
install -d -o redis -g redis -m 0755 /data
""",
    config=ImageConfig(
        entrypoint=["docker-entrypoint.sh"],
        cmd=["redis-server"],
        user="999:999",
        working_dir="/data",
        env=[f"PATH={DEFAULT_PATH}"],
        labels={"org.opencontainers.image.title": "redis stand-in (Debian bookworm packages)"},
    ),
)

PAUSE = Recipe(
    name="pause",
    ref="registry.k8s.io/pause:3.10",
    static_binary="pause.c",
    config=ImageConfig(entrypoint=["/pause"], user="65535:65535", working_dir="/"),
)

# The chart's default StatsD exporter image (images.statsd), built from the exporter's Go module.
STATSD_EXPORTER_VERSION = "v0.28.0"

STATSD = Recipe(
    name="statsd",
    ref=f"docker.io/prom/statsd-exporter:{STATSD_EXPORTER_VERSION}",
    go_module=f"github.com/prometheus/statsd_exporter@{STATSD_EXPORTER_VERSION}",
    # As upstream: the binary at /bin/statsd_exporter, run as nobody.
    config=ImageConfig(
        entrypoint=["/bin/statsd_exporter"],
        user="65534:65534",
        working_dir="/",
        labels={"org.opencontainers.image.title": "statsd-exporter stand-in (Go module, static)"},
    ),
)

RECIPES: dict[str, Recipe] = {r.name: r for r in (AIRFLOW, POSTGRES, REDIS, PAUSE, STATSD)}

#!/usr/bin/env bash
# /entrypoint of the apache/airflow stand-in. Same contract as the upstream image's entrypoint, so
# chart args work unchanged: "bash ..." and "python ..." are exec'd as given; a leading "airflow" is
# optional ("airflow scheduler" == "scheduler"); everything else runs as `airflow "$@"`.
# Also like upstream, in upstream's order: umask 0002, a passwd entry for an arbitrary uid, the database
# check (CONNECTION_CHECK_MAX_COUNT, default 20; 0 disables it), `airflow db migrate` when
# _AIRFLOW_DB_MIGRATE is set, `pip install $_PIP_ADDITIONAL_REQUIREMENTS` into the image's virtualenv,
# then the command; the Celery broker wait for scheduler/celery. DUMB_INIT_SETSID is read by dumb-init
# (PID 1), not here. Not reproduced: _AIRFLOW_WWW_USER_CREATE (see README.md beside the recipes).
command="${1:-}"
set -euo pipefail

: "${CONNECTION_CHECK_MAX_COUNT:=20}"
: "${CONNECTION_CHECK_SLEEP_TIME:=3}"

if [[ "$(id -g)" != "0" ]]; then
    if [[ "$(id -u)" != "50000" ]]; then
        echo "ERROR! Run this image with GID 0 (got UID=$(id -u) GID=$(id -g)); files are group-0 writable." >&2
        exit 1
    fi
    echo "WARNING! Run this image with GID 0 (got UID=$(id -u) GID=$(id -g))." >&2
fi

umask 0002

if ! whoami >/dev/null 2>&1; then
    if [[ -w /etc/passwd ]]; then
        echo "${USER_NAME:-default}:x:$(id -u):0:${USER_NAME:-default} user:${AIRFLOW_USER_HOME_DIR}:/sbin/nologin" \
            >>/etc/passwd
    fi
    export HOME="${AIRFLOW_USER_HOME_DIR}"
fi

retry() {
    local left="${CONNECTION_CHECK_MAX_COUNT}" output
    while true; do
        if output="$("$@" 2>&1)"; then
            echo
            return 0
        fi
        echo -n "."
        left=$((left - 1))
        if ((left <= 0)); then
            printf '\nERROR! Maximum number of retries (%s) reached.\n\nLast check result:\n$ %s\n%s\n' \
                "${CONNECTION_CHECK_MAX_COUNT}" "$*" "${output}"
            exit 1
        fi
        sleep "${CONNECTION_CHECK_SLEEP_TIME}"
    done
}

# TCP reachability of a broker URL (upstream uses nc, which this image does not need).
tcp_check() {
    python - "$1" <<'PY'
import socket, sys
from urllib.parse import urlsplit
url = urlsplit(sys.argv[1])
ports = {"redis": 6379, "rediss": 6379, "amqp": 5672, "postgresql": 5432, "mysql": 3306}
port = url.port or next((p for s, p in ports.items() if url.scheme.startswith(s)), None)
if port is None:
    print(f"cannot tell the port of {url.scheme}:// URLs; skipping the check", file=sys.stderr)
    sys.exit(0)
socket.create_connection((url.hostname or "localhost", port), timeout=5).close()
PY
}

if ((CONNECTION_CHECK_MAX_COUNT > 0)); then
    retry airflow db check
fi

if [[ -n "${_AIRFLOW_DB_MIGRATE:-}" || -n "${_AIRFLOW_DB_UPGRADE:-}" ]]; then
    # As upstream: a failed migration does not stop the command.
    airflow db migrate || true
fi

if [[ -n "${_PIP_ADDITIONAL_REQUIREMENTS:-}" ]]; then
    echo >&2
    echo "!!!!!  Installing additional requirements: '${_PIP_ADDITIONAL_REQUIREMENTS}' !!!!!!!!!!!!" >&2
    echo "WARNING: a development/test feature only: every container start installs them again." >&2
    echo >&2
    # Word splitting on purpose: the variable holds a pip argument list.
    # shellcheck disable=SC2086
    pip install --no-input --root-user-action ignore ${_PIP_ADDITIONAL_REQUIREMENTS}
fi

case "${command}" in
    bash) shift; exec /bin/bash "$@" ;;
    python) shift; exec python "$@" ;;
    airflow) command="${2:-}"; shift ;;
esac

if [[ "${command}" =~ ^(scheduler|celery)$ ]] && ((CONNECTION_CHECK_MAX_COUNT > 0)); then
    if [[ "$(airflow config get-value core executor)" == "CeleryExecutor" ]]; then
        retry tcp_check "$(airflow config get-value celery broker_url)"
    fi
fi

exec airflow "$@"

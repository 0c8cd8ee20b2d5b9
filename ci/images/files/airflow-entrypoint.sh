#!/usr/bin/env bash
# /entrypoint of the apache/airflow stand-in. Same contract as the upstream image's entrypoint, so
# chart args work unchanged: "bash ..." and "python ..." are exec'd as given; a leading "airflow" is
# optional ("airflow scheduler" == "scheduler"); everything else runs as `airflow "$@"`.
# Also like upstream: umask 0002, a passwd entry for an arbitrary uid, the database check
# (CONNECTION_CHECK_MAX_COUNT, default 20; 0 disables it) and the Celery broker wait.
# Not reproduced: _PIP_ADDITIONAL_REQUIREMENTS and _AIRFLOW_WWW_USER_CREATE (compose-only features).
command="${1:-}"
set -euo pipefail

: "${CONNECTION_CHECK_MAX_COUNT:=20}"
: "${CONNECTION_CHECK_SLEEP_TIME:=3}"

# PIP_USER is for image builders; a PythonVirtualenvOperator venv must not inherit it.
unset PIP_USER

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
    airflow db migrate || true
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

#!/usr/bin/env bash
# docker-entrypoint.sh of the postgres stand-in, following the official image's contract:
# POSTGRES_USER (default postgres), POSTGRES_PASSWORD, POSTGRES_DB (default $POSTGRES_USER),
# POSTGRES_INITDB_ARGS, POSTGRES_HOST_AUTH_METHOD (default scram-sha-256), the *_FILE variants,
# PGDATA, /docker-entrypoint-initdb.d/*.sh|*.sql|*.sql.gz; initdb only on an empty data directory;
# password auth over TCP from anywhere, trust on the local socket; listens on all addresses.
set -Eeuo pipefail

: "${PGDATA:=/var/lib/postgresql/data}"
export PGDATA

# file_env VAR [default]: VAR, or the contents of the file named by VAR_FILE.
file_env() {
    local var="$1" file_var="${1}_FILE" value="${2:-}"
    if [[ -n "${!var:-}" && -n "${!file_var:-}" ]]; then
        echo "error: both $var and $file_var are set (but are exclusive)" >&2
        exit 1
    fi
    if [[ -n "${!var:-}" ]]; then
        value="${!var}"
    elif [[ -n "${!file_var:-}" ]]; then
        value="$(<"${!file_var}")"
    fi
    export "$var"="$value"
    unset "$file_var"
}

if [[ "${1:-}" == -* ]]; then
    set -- postgres "$@"
fi

if [[ "${1:-}" != postgres ]]; then
    exec "$@"
fi

if [[ "$(id -u)" == 0 ]]; then
    # Started as root (no securityContext): own the data directory, then drop to postgres.
    mkdir -p "$PGDATA"
    find "$PGDATA" \! -user postgres -exec chown postgres:postgres '{}' +
    chmod 00700 "$PGDATA"
    exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
fi

# initdb must chmod the data directory to 0700, which only its owner can do. A fresh volume owned by
# root (emptyDir, even with fsGroup 999) therefore gets the cluster one level down; the same test
# picks the same directory on every restart, so data written there is found again.
if [[ -d "$PGDATA" && ! -s "$PGDATA/PG_VERSION" && "$(stat -c %u "$PGDATA")" != "$(id -u)" ]]; then
    export PGDATA="$PGDATA/pgdata"
    echo "note: data directory not owned by uid $(id -u); using PGDATA=$PGDATA" >&2
fi
mkdir -p "$PGDATA"
chmod 00700 "$PGDATA" || :

if [[ ! -s "$PGDATA/PG_VERSION" ]]; then
    file_env POSTGRES_PASSWORD
    file_env POSTGRES_USER postgres
    file_env POSTGRES_DB "$POSTGRES_USER"
    file_env POSTGRES_INITDB_ARGS
    auth="${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}"
    if [[ -z "$POSTGRES_PASSWORD" && "$auth" != trust ]]; then
        cat >&2 <<'MSG'
Error: Database is uninitialized and superuser password is not specified.
       Set POSTGRES_PASSWORD to a non-empty value for the superuser, or
       POSTGRES_HOST_AUTH_METHOD=trust to allow all connections without a password (unsafe).
MSG
        exit 1
    fi

    # shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is a word list by contract
    if [[ -n "$POSTGRES_PASSWORD" ]]; then
        initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") $POSTGRES_INITDB_ARGS
    else
        initdb --username="$POSTGRES_USER" $POSTGRES_INITDB_ARGS
    fi
    echo "host all all all $auth" >>"$PGDATA/pg_hba.conf"
    echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"

    # Setup runs on the socket only, so clients never see a half-initialised server.
    pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start
    psql=(psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --no-psqlrc --dbname postgres)
    if [[ "$POSTGRES_DB" != postgres ]]; then
        "${psql[@]}" --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";'
    fi
    psql+=(--dbname "$POSTGRES_DB")
    for f in /docker-entrypoint-initdb.d/*; do
        case "$f" in
            *.sh)
                if [[ -x "$f" ]]; then "$f"; else . "$f"; fi
                ;;
            *.sql) "${psql[@]}" -f "$f" ;;
            *.sql.gz) gunzip -c "$f" | "${psql[@]}" ;;
            *) [[ -e "$f" ]] && echo "ignoring $f" ;;
        esac
    done
    pg_ctl -D "$PGDATA" -m fast -w stop
    echo "PostgreSQL init process complete; ready for start up."
fi

exec "$@"

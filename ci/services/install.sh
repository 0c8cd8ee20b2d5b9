#!/usr/bin/env bash
# Installs the services the hook integration tests start on loopback: PostgreSQL and Redis from Debian.
# Idempotent: installs only what is missing. The tests start their own private servers in temp dirs and
# never use the system services these packages register.
set -euo pipefail

missing=()
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
command -v redis-server >/dev/null || missing+=(redis-server)
[ ${#missing[@]} -eq 0 ] && { echo "services: postgresql and redis-server present"; exit 0; }

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "services: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

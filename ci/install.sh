#!/usr/bin/env bash
# Installs everything the tests need on a fresh Debian machine: Debian packages, helm/kubectl, the venv.
# Idempotent: a second run only checks.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

apt_packages=(postgresql redis-server)
missing=()
for package in "${apt_packages[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "apt: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

bash ci/install-tools.sh

# venv_install DIR STAMP_INPUTS... -- PIP_ARGS...: create DIR, pip install PIP_ARGS once per content of the inputs.
venv_install() {
  local venv=$1; shift
  local inputs=()
  while [ "$1" != "--" ]; do inputs+=("$1"); shift; done
  shift
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  local stamp="$venv/.installed-$({ cat "${inputs[@]}"; echo "$@"; } | sha256sum | cut -c1-16)"
  if [ ! -f "$stamp" ]; then
    local start=$(date +%s)
    "$venv/bin/pip" install -q --upgrade pip
    "$venv/bin/pip" install -q "$@"
    rm -f "$venv"/.installed-*
    touch "$stamp"
    echo "[measure] $venv install: $(( $(date +%s) - start )) s"
  fi
  "$venv/bin/python" -c "import airflow, celery, sqlalchemy; from airflow.providers.cncf.kubernetes import __version__ as k
print(f'$venv: airflow {airflow.__version__}, cncf-kubernetes {k}, celery {celery.__version__}, sqlalchemy {sqlalchemy.__version__}')"
}

# .venv: the stock apache/airflow:3.3.2 image's release-day stack (the lock is the one source of its versions)
# plus the dev tools, which must fit that stack (-c).
day=ci/images/locks/airflow.txt
venv_install .venv "$day" pyproject.toml -- -r "$day" -c "$day" -e ".[dev]"
# .venv-newest: the newest stack Airflow 3.3.2 resolves to; the hook unit tests run on it too (ci/test-all.sh).
newest=ci/images/locks/airflow-newest.txt
venv_install .venv-newest "$newest" -- -r "$newest" -c "$newest" pytest pytest-timeout hypothesis "ruamel.yaml>=0.18"

#!/usr/bin/env bash
# `make test`: every test. Brings the local cluster up for the end-to-end tests unless KUBECONFIG names a
# reachable one, and takes it down again if this run started it (also when a test fails).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
py=.venv/bin/python
export PATH="$root/.tools/bin:$PATH"

started_cluster=false
stop_cluster() {
  if $started_cluster; then
    echo "== stopping the local cluster this run started"
    $py ci/cluster/cluster.py down || true
  fi
}
trap stop_cluster EXIT

# The images are built first: tests/images checks the archives, the cluster runs them.
start=$(date +%s)
bash ci/install-cluster-deps.sh
$py ci/images/build.py
echo "[measure] image build: $(( $(date +%s) - start )) s"

echo "== render, unit, hook-integration and image tests (the stock image's release-day stack, .venv)"
"$py" -m pytest tests -q -m "not e2e" -p no:cacheprovider
echo "== hook unit tests on the newest stack (.venv-newest)"
PYTHONPATH=hooks .venv-newest/bin/python -m pytest tests/hooks -q -m "not integration" -p no:cacheprovider

if [ -n "${KUBECONFIG:-}" ]; then
  echo "== end-to-end tests on KUBECONFIG's cluster"
else
  if ! $py ci/cluster/cluster.py status >/dev/null 2>&1; then
    started_cluster=true
  fi
  start=$(date +%s)
  $py ci/cluster/cluster.py up
  echo "[measure] cluster up (including any cold build): $(( $(date +%s) - start )) s"
  export KUBECONFIG="$root/.state/cluster/admin.kubeconfig"
fi
echo "== end-to-end tests (the executor-switch scenarios last: ~30 min on 2 CPUs)"
"$py" -m pytest tests/e2e -q -m e2e -p no:cacheprovider -s

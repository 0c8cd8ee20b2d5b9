#!/usr/bin/env bash
# `make test`: every test. Brings the local cluster up for the end-to-end tests unless KUBECONFIG names a
# reachable one, and takes it down again if this run started it (also when a test fails).
#
# The tests that need no cluster (renders, hook units and integration, images) run in the background while
# the end-to-end tests run: those mostly wait on pods and sleeping tasks, so on 2 cores the two suites side by
# side take little longer than the end-to-end suite alone. The CPU-bound renders run at a lower priority
# (nice), so the cluster's pods start about as fast as when they run alone. Their output is shown when both
# have ended.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
py=.venv/bin/python
export PATH="$root/.tools/bin:$PATH"
logs="$root/.state/test-logs"
mkdir -p "$logs"

started_cluster=false
offline_pid=""
cleanup() {
  if [ -n "$offline_pid" ] && kill -0 "$offline_pid" 2>/dev/null; then
    kill -- "-$offline_pid" 2>/dev/null || kill "$offline_pid" 2>/dev/null || true
  fi
  if $started_cluster; then
    echo "== stopping the local cluster this run started"
    $py ci/cluster/cluster.py down || true
  fi
}
trap cleanup EXIT

# The images are built first: tests/images checks the archives, the cluster runs them.
start=$(date +%s)
bash ci/install-cluster-deps.sh
$py ci/images/build.py
echo "[measure] image build: $(( $(date +%s) - start )) s"

echo "== in the background: hook unit and integration tests, then render, cluster-part and image tests (the"
echo "   release-day stack, .venv), then the hook unit tests on the newest stack (.venv-newest); output in"
echo "   .state/test-logs/offline.log"
offline_start=$(date +%s)
set -m  # the background suite gets its own process group, so cleanup can end all of it
(
  rc=0
  # The hook integration tests time real scheduler and Celery processes: normal priority. The CPU-bound
  # renders after them yield to the cluster (nice).
  "$py" -m pytest tests/hooks -q -p no:cacheprovider || rc=$?
  nice -n 10 "$py" -m pytest tests -q -m "not e2e" -p no:cacheprovider --ignore=tests/hooks || rc=$?
  echo "== hook unit tests on the newest stack (.venv-newest)"
  PYTHONPATH=hooks nice -n 10 .venv-newest/bin/python -m pytest tests/hooks -q -m "not integration" \
    -p no:cacheprovider || rc=$?
  echo "[measure] tests without the cluster: $(( $(date +%s) - offline_start )) s"
  exit $rc
) > "$logs/offline.log" 2>&1 &
offline_pid=$!
set +m

e2e_rc=0
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
echo "== end-to-end tests (the executor-switch scenarios last)"
start=$(date +%s)
"$py" -m pytest tests/e2e -q -m e2e -p no:cacheprovider -s 2>&1 | tee "$logs/e2e.log" || e2e_rc=$?
echo "[measure] end-to-end tests: $(( $(date +%s) - start )) s"

offline_rc=0
wait "$offline_pid" || offline_rc=$?
offline_pid=""
echo "== tests without the cluster (ran in the background)"
cat "$logs/offline.log"
echo "== exit codes: end-to-end $e2e_rc, without the cluster $offline_rc"
# One closing line for the three pytest runs: their summary lines ("3 failed, 120 passed, 2 skipped in 9.1s").
awk '/ in [0-9.]+s/ && /(passed|failed|error)/ {
       for (i = 1; i < NF; i++) {
         word = $(i + 1); gsub(/[,=]/, "", word)
         if (word == "passed") passed += $i
         if (word == "failed" || word == "error" || word == "errors") failed += $i
         if (word == "skipped") skipped += $i
       }
     }
     END { printf "all: %d passed, %d failed, %d skipped\n", passed, failed, skipped }' "$logs/offline.log" "$logs/e2e.log"
[ "$e2e_rc" -eq 0 ] && [ "$offline_rc" -eq 0 ]

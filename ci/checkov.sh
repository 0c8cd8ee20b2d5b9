#!/usr/bin/env bash
# Runs checkov (own venv under .tools, it pins libraries Airflow also uses) on the rendered defaults, Celery
# and multi-executor renders.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/.tools/checkov"
if [ ! -x "$venv/bin/checkov" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q checkov
fi
rendered=$(mktemp -d)
trap 'rm -rf "$rendered"' EXIT
# The defaults, Celery, and both executors at once with NetworkPolicies on. `secrets.renderOffline`: this
# render is never applied, so freshly generated secrets are fine.
render() {
  "$root/.tools/bin/helm" template airflow "$root/chart" --namespace airflow --set secrets.renderOffline=true "$@"
}
render > "$rendered/defaults.yaml"
render --set executor=CeleryExecutor > "$rendered/celery.yaml"
render --set "executor=KubernetesExecutor\,CeleryExecutor" --set networkPolicy.enabled=true > "$rendered/multi.yaml"
for file in defaults celery multi; do
  echo "checkov: $file"
  "$venv/bin/checkov" --config-file "$root/ci/checkov.yaml" -f "$rendered/$file.yaml"
done

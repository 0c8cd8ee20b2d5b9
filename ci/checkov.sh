#!/usr/bin/env bash
# Runs checkov (own venv under .tools, it pins libraries Airflow also uses) on the rendered defaults.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/.tools/checkov"
if [ ! -x "$venv/bin/checkov" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q checkov
fi
rendered=$(mktemp -d)
trap 'rm -rf "$rendered"' EXIT
"$root/.tools/bin/helm" template airflow "$root/chart" --namespace airflow > "$rendered/defaults.yaml"
"$venv/bin/checkov" --config-file "$root/ci/checkov.yaml" -f "$rendered/defaults.yaml"

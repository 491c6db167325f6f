#!/usr/bin/env bash
# Regenerates pkg/generated/openapi with openapi-gen (pinned by go.mod's tool
# line) over the packages listed in hack/openapi-packages.txt.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/pkg/generated/openapi}
cd "$root"
mapfile -t pkgs < <(grep -v '^#' hack/openapi-packages.txt | grep -v '^$')
mkdir -p "$out"
go tool openapi-gen \
  --output-dir "$out" \
  --output-pkg github.com/skiff-project/skiff/pkg/generated/openapi \
  --output-file zz_generated.openapi.go \
  --go-header-file hack/boilerplate.go.txt \
  --report-filename "$out/violation_exceptions.list" \
  "${pkgs[@]}"

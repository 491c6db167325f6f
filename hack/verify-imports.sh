#!/usr/bin/env bash
# skiff takes only upstream's rules from k8s.io/kubernetes (pkg/apis, pkg/api,
# pkg/printers; see ../shared/DESIGN.md), never its components. Fails on any
# other direct import.
set -euo pipefail
cd "$(dirname "$0")/.."
bad=$(go list -f '{{.ImportPath}}: {{join .Imports " "}} {{join .TestImports " "}}' ./... \
  | tr ' ' '\n' \
  | awk '/:$/ {pkg=$1; next} /^k8s\.io\/kubernetes\// && !/^k8s\.io\/kubernetes\/pkg\/(apis|api|printers)(\/|$)/ {print pkg" "$0}')
if [ -n "$bad" ]; then
  echo "forbidden imports of k8s.io/kubernetes (only pkg/apis, pkg/api, pkg/printers are allowed):"
  echo "$bad"
  exit 1
fi
echo "imports ok"

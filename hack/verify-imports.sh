#!/usr/bin/env bash
# skiff takes only upstream's rules from k8s.io/kubernetes (pkg/apis, pkg/api,
# pkg/printers; see ../shared/DESIGN.md), never its components. Fails on any
# other direct import. pkg/capabilities is the policy input upstream's pod
# validation reads (--allow-privileged), so it counts as a rule.
set -euo pipefail
cd "$(dirname "$0")/.."
bad=$(go list -f '{{.ImportPath}}: {{join .Imports " "}} {{join .TestImports " "}}' ./... \
  | tr ' ' '\n' \
  | awk '/:$/ {pkg=$1; next} /^k8s\.io\/kubernetes\// && !/^k8s\.io\/kubernetes\/pkg\/(apis|api|printers|capabilities)(\/|$)/ {print pkg" "$0}')
if [ -n "$bad" ]; then
  echo "forbidden imports of k8s.io/kubernetes (only pkg/apis, pkg/api, pkg/printers, pkg/capabilities are allowed):"
  echo "$bad"
  exit 1
fi
echo "imports ok"

#!/usr/bin/env bash
# Fails when pkg/generated/openapi differs from what hack/update-codegen.sh
# would write now.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$root/hack/update-codegen.sh" "$tmp"
if ! diff -r "$root/pkg/generated/openapi" "$tmp" >"$tmp.diff"; then
  head -40 "$tmp.diff"
  rm -f "$tmp.diff"
  echo "pkg/generated/openapi is stale: run hack/update-codegen.sh" >&2
  exit 1
fi
rm -f "$tmp.diff"
echo "pkg/generated/openapi is up to date"

#!/usr/bin/env bash
# Brings up a single-node skiff cluster in the background: installs what is
# missing, builds bin/skiff, starts `skiff server`, waits until it is ready.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH=/usr/local/go/bin:$PATH
data=${DATA_DIR:-/var/lib/skiff}
hack/install-deps.sh
make build images
mkdir -p "$data"
if [ -f "$data/skiff.pid" ] && kill -0 "$(cat "$data/skiff.pid")" 2>/dev/null; then
  echo "skiff is already running (pid $(cat "$data/skiff.pid"))"
else
  nohup bin/skiff server --data-dir "$data" --images-dir "$root/_output/images" >"$data/skiff.log" 2>&1 &
  echo $! >"$data/skiff.pid"
fi
for _ in $(seq 1 600); do
  if grep -q "API server ready" "$data/skiff.log" 2>/dev/null; then
    echo "skiff is up (pid $(cat "$data/skiff.pid"), log $data/skiff.log)"
    echo "export KUBECONFIG=$data/admin.kubeconfig   # or: bin/skiff kubectl get nodes"
    exit 0
  fi
  kill -0 "$(cat "$data/skiff.pid")" 2>/dev/null || { tail -20 "$data/skiff.log"; exit 1; }
  sleep 0.1
done
echo "skiff did not become ready in 60 s; see $data/skiff.log" >&2
exit 1

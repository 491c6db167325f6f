# Common settings for conformance/hack/*.sh; source it, do not run it.
# shellcheck shell=bash
CONF_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)   # conformance/
REPO_ROOT=$(cd "$CONF_DIR/.." && pwd)
OUT_DIR=${CONFORMANCE_OUT:-$REPO_ROOT/_output/conformance}
BIN_DIR=$OUT_DIR/bin
IMG_DIR=$OUT_DIR/images
KUBE_VERSION=v1.37.2
GO=${GO:-go}
export PATH=/usr/local/go/bin:$PATH

log() { printf '[conformance] %s\n' "$*" >&2; }
die() { printf '[conformance] ERROR: %s\n' "$*" >&2; exit 1; }

# Where the module cache holds k8s.io/kubernetes (for test/images sources).
kube_src() {
  (cd "$CONF_DIR" && "$GO" list -m -f '{{.Dir}}' k8s.io/kubernetes) ||
    die "cannot find k8s.io/kubernetes in the module cache; run: cd conformance && go mod download"
}

# fresh OUT DEP...: true when OUT exists and is newer than every DEP.
fresh() {
  local out=$1; shift
  [ -e "$out" ] || return 1
  local d
  for d in "$@"; do
    [ "$d" -nt "$out" ] && return 1
  done
  return 0
}

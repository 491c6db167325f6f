#!/usr/bin/env bash
# Builds upstream's kube-apiserver, kube-controller-manager and kube-scheduler
# v1.37.2, and the etcd both sides of the comparison run over, into
# _output/bench/bin. They are built in the conformance/ module (which requires
# k8s.io/kubernetes v1.37.2; the product module never does), with upstream's
# flags and version stamp, and the same flags as conformance/hack/build.sh so
# that the two share the build cache. A binary is rebuilt only when missing or
# older than conformance/go.{mod,sum} (FORCE=1 rebuilds).
# Usage: hack/bench/build-upstream.sh [NAME...] (default: all four).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$root/_output/bench/bin
mkdir -p "$out"
cd "$root/conformance"
GO=${GO:-go}

ldflags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=v1.37.2 -X $pkg.gitMajor=1 -X $pkg.gitMinor=37"
  ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done
export CGO_ENABLED=0

fresh() { # fresh FILE: exists and is newer than the module files
  [ -f "$1" ] && [ "$1" -nt go.sum ] && [ "$1" -nt go.mod ]
}

build() {
  local name=$1 pkg
  case "$name" in
    kube-apiserver|kube-controller-manager|kube-scheduler) pkg=k8s.io/kubernetes/cmd/$name ;;
    etcd) pkg=./images/etcd ;;
    *) echo "unknown binary '$name' (kube-apiserver, kube-controller-manager, kube-scheduler, etcd)" >&2; exit 1 ;;
  esac
  if [ "${FORCE:-0}" != 1 ] && fresh "$out/$name"; then
    echo "$name: up to date ($out/$name)"
    return
  fi
  echo "$name: building (minutes when the build cache is cold)"
  local t0=$SECONDS
  # nice: the machine is shared; a build must not starve a running benchmark or test.
  nice -n 19 "$GO" build -trimpath -tags=selinux,notest,grpcnotrace -ldflags="all=$ldflags -s -w" -o "$out/$name.tmp" "$pkg"
  mv "$out/$name.tmp" "$out/$name"
  echo "$name: built in $((SECONDS - t0))s"
}

if [ $# -eq 0 ]; then set -- kube-apiserver kube-controller-manager kube-scheduler etcd; fi
for b in "$@"; do build "$b"; done

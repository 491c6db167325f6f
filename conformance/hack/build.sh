#!/usr/bin/env bash
# Build the upstream conformance binaries into _output/conformance/bin/:
#   e2e.test         k8s.io/kubernetes/test/e2e, as upstream builds it
#   ginkgo           the ginkgo v2 CLI from the module graph (parallel runs)
#   kubectl          k8s.io/kubernetes/cmd/kubectl v1.37.2 (the kubectl tests run it)
#   agnhost          test/images/agnhost (also the base of kitten/nautilus)
#   nnp              test/images/nonewprivs
#   sample-apiserver k8s.io/sample-apiserver (the Aggregator test's image)
#   etcd             go.etcd.io/etcd/server/v3 (the Aggregator test's etcd)
#   pause            conformance/images/pause
# A binary is rebuilt only when it is missing or older than conformance/go.sum
# (FORCE=1 rebuilds everything). Usage: build.sh [NAME...] (default: all).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

mkdir -p "$BIN_DIR"
cd "$CONF_DIR"

# Upstream (hack/lib/golang.sh) builds with -trimpath, tags
# selinux,notest,grpcnotrace and the version ldflags; e2e.test checks the
# server version against its own, so stamp it as v1.37.2.
VERSION_LDFLAGS=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  VERSION_LDFLAGS+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=37"
  VERSION_LDFLAGS+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done
GOFLAGS_BUILD=(-trimpath -tags=selinux,notest,grpcnotrace -ldflags="all=$VERSION_LDFLAGS -s -w")
export CGO_ENABLED=0

build_one() {
  local name=$1 out=$BIN_DIR/$1
  if [ "${FORCE:-0}" != 1 ] && fresh "$out" "$CONF_DIR/go.sum" "$CONF_DIR/go.mod"; then
    log "$name: up to date ($out)"
    return
  fi
  if [ "$name" = e2e.test ]; then
    log "$name: building (10 min or more cold on 2 cores)"
  else
    log "$name: building"
  fi
  local t0=$SECONDS
  case "$name" in
    e2e.test) "$GO" test -c "${GOFLAGS_BUILD[@]}" -o "$out.tmp" k8s.io/kubernetes/test/e2e ;;
    ginkgo) "$GO" build "${GOFLAGS_BUILD[@]}" -o "$out.tmp" github.com/onsi/ginkgo/v2/ginkgo ;;
    kubectl) "$GO" build "${GOFLAGS_BUILD[@]}" -o "$out.tmp" k8s.io/kubernetes/cmd/kubectl ;;
    agnhost) "$GO" build "${GOFLAGS_BUILD[@]}" -o "$out.tmp" k8s.io/kubernetes/test/images/agnhost ;;
    nnp) "$GO" build "${GOFLAGS_BUILD[@]}" -o "$out.tmp" k8s.io/kubernetes/test/images/nonewprivs ;;
    sample-apiserver) "$GO" build "${GOFLAGS_BUILD[@]}" -o "$out.tmp" k8s.io/sample-apiserver ;;
    etcd) "$GO" build "${GOFLAGS_BUILD[@]}" -o "$out.tmp" ./images/etcd ;;
    pause) "$GO" build "${GOFLAGS_BUILD[@]}" -o "$out.tmp" ./images/pause ;;
    *) die "unknown binary '$name' (known: $ALL)" ;;
  esac
  mv "$out.tmp" "$out"
  log "$name: built in $((SECONDS - t0))s"
}

ALL="e2e.test ginkgo kubectl agnhost nnp sample-apiserver etcd pause"
if [ $# -eq 0 ]; then set -- $ALL; fi
for b in "$@"; do build_one "$b"; done

#!/usr/bin/env bash
# Builds the cluster DNS image without a registry: CoreDNS from its Go
# module (go install, ~100 s on a cold cache), static, in a one-layer OCI
# image-layout tar named as upstream's image, so the addon manifest
# (pkg/addons/manifests/coredns.yaml) finds it with imagePullPolicy
# IfNotPresent.
#
#   hack/images/coredns/build.sh [OUT_DIR]    -> OUT_DIR/coredns.tar
#
# OUT_DIR defaults to _output/images (what `skiff server --images-dir`
# and `skiff image import` take). Neither the binary nor CoreDNS's source
# is kept in the repository: the Go module cache holds the source.
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
version=${COREDNS_VERSION:-v1.14.7}
image=registry.k8s.io/coredns/coredns:$version
out=${1:-$root/_output/images}
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$root"

# The binary is kept in _output/cache (ignored by git) so that a rebuild of
# the image does not recompile CoreDNS.
cache=$root/_output/cache/coredns-$version
if [ ! -x "$cache/coredns" ]; then
  mkdir -p "$cache"
  echo "building CoreDNS $version from its Go module (about 100 s on a cold cache)"
  GOBIN=$cache CGO_ENABLED=0 GOFLAGS=-trimpath go install -ldflags='-s -w' "github.com/coredns/coredns@$version"
fi
"$cache/coredns" -version | head -1

go build -o "$work/mkimage" ./hack/images/mkimage
"$work/mkimage" -o "$out/coredns.tar" -name "$image" -file "$cache/coredns" -entrypoint /coredns
echo "$image -> $out/coredns.tar"

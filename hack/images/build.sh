#!/usr/bin/env bash
# Builds the images skiff's node needs without a registry, as reproducible
# OCI image-layout tars in OUT (default _output/images):
#   pause.tar    registry.k8s.io/pause:3.10 (the sandbox image; hack/images/pause)
#   busybox.tar  docker.io/library/busybox:latest, from Debian's
#                busybox-static, laid out like the upstream image (no
#                ENTRYPOINT, CMD ["sh"])
#   coredns.tar  registry.k8s.io/coredns/coredns:v1.14.7, the cluster DNS
#                addon's image, from CoreDNS's Go module
#                (hack/images/coredns/build.sh; SKIFF_SKIP_COREDNS=1 skips it)
# `skiff image import OUT/*.tar` loads them; `skiff agent` imports the tars
# of its --images-dir at start.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$root/_output/images}
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$root"

go build -o "$work/mkimage" ./hack/images/mkimage
CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$work/pause" ./hack/images/pause
"$work/mkimage" -o "$out/pause.tar" -name registry.k8s.io/pause:3.10 -file "$work/pause" -entrypoint /pause

bb=${BUSYBOX:-/bin/busybox}
[ -x "$bb" ] && "$bb" --list >/dev/null 2>&1 || { echo "build.sh: $bb is not a static busybox (apt-get install busybox-static)" >&2; exit 1; }
rootfs=$work/busybox
mkdir -p "$rootfs/bin" "$rootfs/etc" "$rootfs/root" "$rootfs/home" "$rootfs/var/www" "$rootfs/usr/bin" "$rootfs/usr/sbin" "$rootfs/sbin"
install -m 0755 "$bb" "$rootfs/bin/busybox"
for name in $("$bb" --list); do
  [ "$name" = busybox ] || ln -sf busybox "$rootfs/bin/$name"
done
printf 'root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/bin/false\nnobody:x:65534:65534:nobody:/home:/bin/false\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\ndaemon:x:1:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
chmod 0700 "$rootfs/root"
"$work/mkimage" -o "$out/busybox.tar" -name docker.io/library/busybox:latest \
  -rootfs "$rootfs" -cmd sh

if [ -z "${SKIFF_SKIP_COREDNS:-}" ]; then
  "$root/hack/images/coredns/build.sh" "$out"
fi

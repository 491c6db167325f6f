#!/usr/bin/env bash
# Installs what building and testing skiff needs on a fresh Debian machine.
# Idempotent: packages already present are skipped.
# The node agent needs a container runtime: Debian's containerd and runc,
# the CNI plugins (bridge, host-local, portmap, loopback in /usr/lib/cni),
# iptables (nft backend), conntrack and iproute2; busybox-static is the
# source of the busybox test image (hack/images/build.sh); gcc, libc6-dev and
# bzip2 build the conformance busybox image (BusyBox 1.37 from source).
set -euo pipefail
pkgs=(ca-certificates curl jq make git gcc libc6-dev bzip2
  containerd runc iptables conntrack containernetworking-plugins busybox-static iproute2)
missing=()
for p in "${pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
command -v go >/dev/null || { echo "Go 1.26 is needed at /usr/local/go (see README)"; exit 1; }

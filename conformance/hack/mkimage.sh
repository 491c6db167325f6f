#!/bin/bash
# mkimage.sh - build a single-layer OCI image-layout tarball without a registry,
# docker or skopeo: only tar, gzip, sha256sum and jq.
# skiff's copy of ../shared/runtime/mkimage.sh, plus -u (User) and -S (StopSignal).
#
# usage: mkimage.sh [-E KEY=VAL]... [-w WORKDIR] [-c CMD_ARG]... [-u USER] \
#                   [-S STOPSIGNAL] NAME:TAG OUT.tar SRC [ENTRYPOINT ARG...]
#
#   SRC is a directory (used as the rootfs, copied as-is) or a single file
#   (a static binary, placed at /<basename>; default entrypoint ["/<basename>"]).
#   -E   add an environment variable (PATH is always set)
#   -w   working directory of the image config
#   -c   append one argument to the image's Cmd
#   -u   user of the image config (e.g. 65535:65535)
#   -S   stop signal of the image config (e.g. SIGQUIT)
#
# Import the result with:
#   ctr --address SOCK -n k8s.io images import OUT.tar
# The image is registered under NAME:TAG exactly (the io.containerd.image.name
# annotation in index.json); a NAME without a registry host is stored as given,
# so refer to it in pod specs by that same full string (e.g.
# registry.k8s.io/pause:3.9 or docker.io/library/busybox:1.35).
set -euo pipefail

ENVS=("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
WORKDIR=/
CMD=()
USER_=""
STOPSIG=""
while getopts "E:w:c:u:S:h" o; do
  case "$o" in
    E) ENVS+=("$OPTARG") ;;
    w) WORKDIR=$OPTARG ;;
    c) CMD+=("$OPTARG") ;;
    u) USER_=$OPTARG ;;
    S) STOPSIG=$OPTARG ;;
    *) sed -n '2,24p' "$0"; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
[ $# -ge 3 ] || { sed -n '2,24p' "$0" >&2; exit 2; }
REF=$1 OUT=$2 SRC=$3
shift 3
ENTRY=("$@")
case "$REF" in *:*) ;; *) echo "mkimage: NAME:TAG required (got '$REF')" >&2; exit 2 ;; esac
TAG=${REF##*:}

for t in tar gzip sha256sum jq; do
  command -v "$t" >/dev/null || { echo "mkimage: missing $t" >&2; exit 1; }
done

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
ROOT=$WORK/rootfs
mkdir -p "$ROOT" "$WORK/oci/blobs/sha256"

if [ -d "$SRC" ]; then
  cp -a "$SRC/." "$ROOT/"
elif [ -f "$SRC" ]; then
  b=$(basename "$SRC")
  install -m 0755 "$SRC" "$ROOT/$b"
  [ ${#ENTRY[@]} -gt 0 ] || ENTRY=("/$b")
else
  echo "mkimage: $SRC is neither a directory nor a file" >&2; exit 1
fi
# runc needs these mount points to exist or be creatable; keep them in the layer.
mkdir -p "$ROOT/proc" "$ROOT/sys" "$ROOT/dev" "$ROOT/etc" "$ROOT/tmp"
chmod 1777 "$ROOT/tmp"

# Reproducible layer: fixed order, owner and mtime.
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
    -C "$ROOT" -cf "$WORK/layer.tar" .
DIFF_ID=$(sha256sum "$WORK/layer.tar" | cut -d' ' -f1)
gzip -n -9 "$WORK/layer.tar"
LAYER_SHA=$(sha256sum "$WORK/layer.tar.gz" | cut -d' ' -f1)
LAYER_SIZE=$(stat -c %s "$WORK/layer.tar.gz")
mv "$WORK/layer.tar.gz" "$WORK/oci/blobs/sha256/$LAYER_SHA"

json_arr() { if [ $# -eq 0 ]; then echo null; else printf '%s\n' "$@" | jq -R . | jq -cs .; fi; }

jq -cn \
  --argjson env "$(json_arr "${ENVS[@]}")" \
  --argjson entry "$(json_arr "${ENTRY[@]}")" \
  --argjson cmd "$(json_arr "${CMD[@]}")" \
  --arg wd "$WORKDIR" --arg diff "sha256:$DIFF_ID" \
  --arg user "$USER_" --arg stopsig "$STOPSIG" \
  '{created:"1970-01-01T00:00:00Z", architecture:"amd64", os:"linux",
    config:({Env:$env, WorkingDir:$wd}
            + (if $entry then {Entrypoint:$entry} else {} end)
            + (if $cmd then {Cmd:$cmd} else {} end)
            + (if $user != "" then {User:$user} else {} end)
            + (if $stopsig != "" then {StopSignal:$stopsig} else {} end)),
    rootfs:{type:"layers", diff_ids:[$diff]},
    history:[{created:"1970-01-01T00:00:00Z", created_by:"mkimage.sh"}]}' \
  > "$WORK/config.json"
case "$(uname -m)" in
  aarch64) jq -c '.architecture="arm64"' "$WORK/config.json" > "$WORK/c2" && mv "$WORK/c2" "$WORK/config.json" ;;
esac
CFG_SHA=$(sha256sum "$WORK/config.json" | cut -d' ' -f1)
CFG_SIZE=$(stat -c %s "$WORK/config.json")
mv "$WORK/config.json" "$WORK/oci/blobs/sha256/$CFG_SHA"

jq -cn --arg c "sha256:$CFG_SHA" --argjson cs "$CFG_SIZE" \
       --arg l "sha256:$LAYER_SHA" --argjson ls "$LAYER_SIZE" \
  '{schemaVersion:2, mediaType:"application/vnd.oci.image.manifest.v1+json",
    config:{mediaType:"application/vnd.oci.image.config.v1+json", digest:$c, size:$cs},
    layers:[{mediaType:"application/vnd.oci.image.layer.v1.tar+gzip", digest:$l, size:$ls}]}' \
  > "$WORK/manifest.json"
MAN_SHA=$(sha256sum "$WORK/manifest.json" | cut -d' ' -f1)
MAN_SIZE=$(stat -c %s "$WORK/manifest.json")
mv "$WORK/manifest.json" "$WORK/oci/blobs/sha256/$MAN_SHA"

ARCH=$(jq -r .architecture "$WORK/oci/blobs/sha256/$CFG_SHA")
jq -cn --arg m "sha256:$MAN_SHA" --argjson ms "$MAN_SIZE" --arg ref "$REF" \
       --arg tag "$TAG" --arg arch "$ARCH" \
  '{schemaVersion:2, mediaType:"application/vnd.oci.image.index.v1+json",
    manifests:[{mediaType:"application/vnd.oci.image.manifest.v1+json",
                digest:$m, size:$ms, platform:{architecture:$arch, os:"linux"},
                annotations:{"io.containerd.image.name":$ref,
                             "org.opencontainers.image.ref.name":$tag}}]}' \
  > "$WORK/oci/index.json"
echo '{"imageLayoutVersion":"1.0.0"}' > "$WORK/oci/oci-layout"

OUT_ABS=$(cd "$(dirname "$OUT")" && pwd)/$(basename "$OUT")
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
    -C "$WORK/oci" -cf "$OUT_ABS" oci-layout index.json blobs
echo "mkimage: $REF -> $OUT (manifest sha256:$MAN_SHA)"

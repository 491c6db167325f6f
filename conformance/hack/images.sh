#!/usr/bin/env bash
# Build the container images that the v1.37 [Conformance] tests use, as OCI
# image-layout tars under their exact upstream names, without any registry:
# Go binaries from conformance/hack/build.sh, Debian packages (apt-get download
# + dpkg-deb -x, from Debian's package archive only) and files from upstream's
# test/images sources in the Go module cache. See conformance/IMAGES.md.
#
# Output: _output/conformance/images/<name>_<tag>.tar (+ images.txt: "ref<TAB>tar").
# An image is rebuilt only when its tar is older than its inputs (this script,
# mkimage.sh, the binaries it packs); FORCE=1 rebuilds all.
# Usage: images.sh [SHORTNAME...]   (default: all; names as in the table below)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

MKIMAGE=$CONF_DIR/hack/mkimage.sh
DEB_CACHE=$OUT_DIR/debs
WORK=$OUT_DIR/rootfs
mkdir -p "$IMG_DIR" "$DEB_CACHE" "$WORK"

for t in apt-get apt-cache dpkg-deb tar gzip sha256sum jq; do
  command -v "$t" >/dev/null || die "missing $t: run hack/install-deps.sh (Debian: apt-get install jq dpkg apt)"
done

KSRC=$(kube_src)
IMAGES_SRC=$KSRC/test/images

# ---- Debian packages --------------------------------------------------------

# Packages a dependency closure may name that a container never needs
# (package management, debconf front ends, installer libraries).
DEB_EXCLUDE=' cdebconf debconf dpkg install-info libdebian-installer4 libnewt0.52 libslang2 libtextwrap1 original-awk gawk init-system-helpers perl-base '

# deb_closure PKG...: the packages PKG... need (Depends/Pre-Depends, no
# Recommends), minus DEB_EXCLUDE, one per line.
deb_closure() {
  local out
  out=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
          --no-breaks --no-replaces --no-enhances "$@" 2>/dev/null | grep -v '^[ <]' | sort -u) ||
    die "apt-cache depends $* failed: run 'apt-get update' first"
  local p
  for p in "$@"; do
    grep -qx "$p" <<<"$out" || die "Debian package '$p' is unknown to apt: run 'apt-get update'"
  done
  local n
  while read -r n; do
    [[ $DEB_EXCLUDE == *" $n "* ]] || echo "$n"
  done <<<"$out"
}

# deb_install ROOTFS PKG...: unpack PKG... and their closure into ROOTFS.
# Maintainer scripts are not run; what they would do (alternatives, users,
# ldconfig) the image functions below do by hand.
deb_install() {
  local root=$1; shift
  local pkgs
  mapfile -t pkgs < <(deb_closure "$@")
  local missing=() p
  for p in "${pkgs[@]}"; do
    ls "$DEB_CACHE/${p}"_*.deb >/dev/null 2>&1 || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    (cd "$DEB_CACHE" && apt-get -o APT::Sandbox::User=root download -q "${missing[@]}" >/dev/null) ||
      die "apt-get download ${missing[*]} failed (Debian's archive unreachable? run apt-get update)"
  fi
  local deb
  for p in "${pkgs[@]}"; do
    deb=$(ls -t "$DEB_CACHE/${p}"_*.deb | head -1)
    dpkg-deb -x "$deb" "$root"
    echo "$p $(dpkg-deb -f "$deb" Version)" >>"$root/.debian-packages"
  done
  # Debian's glibc finds multiarch libraries without a cache, but make one so
  # the image behaves like an installed system.
  if [ -x /sbin/ldconfig ] && [ -d "$root/lib" ]; then /sbin/ldconfig -r "$root" 2>/dev/null || true; fi
  rm -rf "$root/usr/share/doc" "$root/usr/share/man" "$root/usr/share/info" "$root/usr/share/lintian"
}

# deb_version PKG: the candidate version apt would download.
deb_version() { apt-cache policy "$1" | awk '/Candidate:/ {print $2}'; }

# ---- root filesystems ---------------------------------------------------------

# base_etc ROOTFS: /etc files every image gets (root, nobody, the usual groups).
base_etc() {
  local r=$1
  mkdir -p "$r/etc" "$r/root" "$r/tmp" "$r/var/tmp" "$r/home"
  chmod 1777 "$r/tmp" "$r/var/tmp"
  cat >"$r/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
sys:x:3:3:sys:/dev:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
  cat >"$r/etc/group" <<'EOF'
root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
disk:x:6:
wheel:x:10:root
www-data:x:33:
users:x:100:
nogroup:x:65534:
EOF
  printf 'root:*:19000:0:99999:7:::\nnobody:*:19000:0:99999:7:::\n' >"$r/etc/shadow"
  chmod 0640 "$r/etc/shadow"
  printf 'hosts: files dns\nnetworks: files\npasswd: files\ngroup: files\nshadow: files\n' >"$r/etc/nsswitch.conf"
  : >"$r/etc/hosts"
  : >"$r/etc/resolv.conf"
}

# add_user ROOTFS NAME UID GID [GROUPNAME]
add_user() {
  local r=$1 name=$2 uid=$3 gid=$4 group=${5:-$2}
  grep -q "^$group:" "$r/etc/group" || echo "$group:x:$gid:" >>"$r/etc/group"
  echo "$name:x:$uid:$gid::/home/$name:/bin/sh" >>"$r/etc/passwd"
  echo "$name:!:19000:0:99999:7:::" >>"$r/etc/shadow"
  mkdir -p "$r/home/$name"
  chown "$uid:$gid" "$r/home/$name"
}

# busybox_install ROOTFS [all-in-bin]: Debian's busybox-static as
# /bin/busybox plus a link for each applet that ROOTFS does not already have
# (so Debian's real tools, when unpacked first, win over applets), where
# `busybox --list-full` puts it (alpine's layout), or with all-in-bin every
# link in /bin, as the official busybox image has them (tests exec e.g.
# /bin/sysctl, which --list-full puts in /sbin).
# With BUSYBOX_BIN set, that binary is installed instead of Debian's.
busybox_install() {
  local r=$1 flat=${2:-} tmp
  mkdir -p "$r/bin" "$r/sbin" "$r/usr/bin" "$r/usr/sbin"
  if [ -n "${BUSYBOX_BIN:-}" ]; then
    install -m 0755 "$BUSYBOX_BIN" "$r/bin/busybox"
    echo "busybox $BUSYBOX_VERSION (built from $BUSYBOX_SRC_URL, sha256 $BUSYBOX_SRC_SHA256)" >>"$r/.debian-packages"
  else
    tmp=$(mktemp -d)
    deb_install "$tmp" busybox-static
    install -m 0755 "$tmp/bin/busybox" "$r/bin/busybox"
    cat "$tmp/.debian-packages" >>"$r/.debian-packages"
    rm -rf "$tmp"
  fi
  local a dir name
  while read -r a; do
    dir=$(dirname "$a") name=$(basename "$a")
    [ "$name" = busybox ] && continue
    [ "$flat" = all-in-bin ] && dir=/bin
    if [ -e "$r/bin/$name" ] || [ -e "$r/sbin/$name" ] || [ -e "$r/usr/bin/$name" ] || [ -e "$r/usr/sbin/$name" ]; then
      continue
    fi
    mkdir -p "$r$dir"
    ln -s /bin/busybox "$r$dir/$name"
  done < <("$r/bin/busybox" --list-full | sed 's|^|/|')
}

# busybox_upstream: builds (once) and prints the path of BusyBox 1.37.0, the
# version of upstream's busybox image, from its source tarball as Debian's
# archive carries it (checksum pinned), with upstream's defconfig, static.
# Debian bookworm's busybox-static is 1.35, whose ash drops environment
# variables whose names are not shell identifiers (envFrom keys such as
# data-1) before running a command; 1.37's defconfig ash keeps them, as the
# env tests expect, and prints "can't create ...: Read-only file system" as
# the read-only root filesystem test expects.
BUSYBOX_VERSION=1.37.0
BUSYBOX_SRC_URL=${BUSYBOX_SRC_URL:-http://deb.debian.org/debian/pool/main/b/busybox/busybox_1.37.0.orig.tar.bz2}
BUSYBOX_SRC_SHA256=3311dff32e746499f4df0d5df04d7eb396382d7e108bb9250e7b519b837043a4
busybox_upstream() {
  local out=$BIN_DIR/busybox-$BUSYBOX_VERSION src=$DEB_CACHE/busybox_$BUSYBOX_VERSION.orig.tar.bz2 b=$WORK/busybox-src t
  if [ -x "$out" ]; then
    echo "$out"
    return
  fi
  for t in gcc make bzip2 curl; do
    command -v "$t" >/dev/null || die "building busybox $BUSYBOX_VERSION needs $t (Debian: apt-get install gcc libc6-dev make bzip2 curl)"
  done
  if ! echo "$BUSYBOX_SRC_SHA256  $src" | sha256sum -c --quiet >/dev/null 2>&1; then
    log "busybox: fetching $BUSYBOX_SRC_URL"
    curl -fsSL --retry 3 -o "$src.part" "$BUSYBOX_SRC_URL" || die "cannot fetch $BUSYBOX_SRC_URL (set BUSYBOX_SRC_URL to a mirror)"
    echo "$BUSYBOX_SRC_SHA256  $src.part" | sha256sum -c --quiet >/dev/null || die "checksum mismatch for $BUSYBOX_SRC_URL"
    mv "$src.part" "$src"
  fi
  log "busybox: building $BUSYBOX_VERSION (defconfig, static; log: $b.log)"
  rm -rf "$b"
  mkdir -p "$b" "$BIN_DIR"
  tar -xjf "$src" -C "$b" --strip-components=1
  # tc does not build against current kernel headers (the official image
  # leaves it out too).
  (cd "$b" && make defconfig &&
    sed -i 's/^# CONFIG_STATIC is not set/CONFIG_STATIC=y/; s/^CONFIG_TC=y/# CONFIG_TC is not set/' .config &&
    make oldconfig </dev/null && make -j"$(nproc)" busybox) >"$b.log" 2>&1 || die "building busybox failed: see $b.log"
  install -m 0755 "$b/busybox" "$out"
  rm -rf "$b"
  echo "$out"
}

# alpine_like ROOTFS: the base of upstream's alpine-based images: busybox
# applets for the shell and core utilities, /etc basics.
alpine_like() {
  local r=$1
  base_etc "$r"
  busybox_install "$r"
}

# ---- images ------------------------------------------------------------------

ref() { # ref SHORTNAME -> NAME:TAG (the upstream name e2e.test asks for)
  case "$1" in
    agnhost) echo registry.k8s.io/e2e-test-images/agnhost:2.66.1 ;;
    agnhost-prev) echo registry.k8s.io/e2e-test-images/agnhost:2.55 ;;
    busybox) echo registry.k8s.io/e2e-test-images/busybox:1.37.0-2 ;;
    pause) echo registry.k8s.io/pause:3.10.2 ;;
    nginx) echo registry.k8s.io/e2e-test-images/nginx:1.27.0-2 ;;
    kitten) echo registry.k8s.io/e2e-test-images/kitten:1.8 ;;
    nautilus) echo registry.k8s.io/e2e-test-images/nautilus:1.8 ;;
    nonewprivs) echo registry.k8s.io/e2e-test-images/nonewprivs:1.4 ;;
    glibc-dns-testing) echo registry.k8s.io/e2e-test-images/glibc-dns-testing:2.1.1 ;;
    sample-apiserver) echo registry.k8s.io/e2e-test-images/sample-apiserver:1.29.2 ;;
    etcd) echo registry.k8s.io/etcd:3.7.0-0 ;;
    *) die "unknown image '$1' (known: $ALL)" ;;
  esac
}
ALL="agnhost agnhost-prev busybox pause nginx kitten nautilus nonewprivs glibc-dns-testing sample-apiserver etcd"

tar_of() { local r; r=$(ref "$1"); r=${r#*/}; echo "$IMG_DIR/$(echo "$r" | tr '/:' '__').tar"; }

need_bin() {
  local b
  for b in "$@"; do
    [ -x "$BIN_DIR/$b" ] || "$CONF_DIR/hack/build.sh" "$b"
  done
}

# agnhost: upstream is alpine + bind-tools curl netcat-openbsd iproute2 iperf
# bash util-linux-misc socat + /agnhost (ENTRYPOINT /agnhost, CMD pause).
agnhost_rootfs() {
  local r=$1 base=$WORK/agnhost-base
  # agnhost, agnhost-prev, kitten and nautilus share this rootfs: make it once per run.
  if [ -z "${AGNHOST_BASE_DONE:-}" ]; then
    rm -rf "$base"
    mkdir -p "$base"
    agnhost_base "$base"
    AGNHOST_BASE_DONE=1
  fi
  cp -a "$base/." "$r/"
}

agnhost_base() {
  local r=$1
  need_bin agnhost
  base_etc "$r"
  deb_install "$r" dash bash curl netcat-openbsd bind9-dnsutils bind9-host iproute2 iperf socat util-linux libc-bin ca-certificates
  # what the packages' maintainer scripts would have linked
  ln -sf nc.openbsd "$r/bin/nc"
  mkdir -p "$r/usr/local/bin"
  ln -sf /usr/bin/iperf "$r/usr/local/bin/iperf"
  busybox_install "$r"
  # /bin/sh is dash, not busybox: Debian's busybox-static prefers its own
  # applets inside its shell, so `nc` in an sh script would be busybox's nc
  # rather than netcat-openbsd, whose flags the tests use.
  ln -sf dash "$r/bin/sh"
  install -m 0755 "$BIN_DIR/agnhost" "$r/agnhost"
  ln -s agnhost "$r/agnhost-2"
  cp "$IMAGES_SRC/agnhost/porter/localhost.crt" "$IMAGES_SRC/agnhost/porter/localhost.key" "$r/"
  chmod 0644 "$r/localhost.crt" "$r/localhost.key"
  mkdir -p "$r/uploads"
  add_user "$r" user-defined-in-image 1000 1000
  echo "group-defined-in-image:x:50000:user-defined-in-image" >>"$r/etc/group"
}

build_image() {
  local name=$1 out ref r
  out=$(tar_of "$name") ref=$(ref "$name")
  local deps=("$0" "$MKIMAGE" "$CONF_DIR/hack/lib.sh")
  case "$name" in
    agnhost | agnhost-prev | kitten | nautilus) deps+=("$BIN_DIR/agnhost") ;;
    pause) deps+=("$BIN_DIR/pause") ;;
    nonewprivs) deps+=("$BIN_DIR/nnp") ;;
    sample-apiserver) deps+=("$BIN_DIR/sample-apiserver") ;;
    etcd) deps+=("$BIN_DIR/etcd") ;;
  esac
  if [ "${FORCE:-0}" != 1 ] && fresh "$out" "${deps[@]}"; then
    log "$ref: up to date ($out)"
    printf '%s\t%s\n' "$ref" "$out" >>"$IMG_DIR/images.txt.new"
    return
  fi
  log "$ref: building"
  r=$WORK/$name
  rm -rf "$r"
  mkdir -p "$r"
  local opts=() entry=()
  case "$name" in
    agnhost | agnhost-prev)
      agnhost_rootfs "$r"
      opts=(-c pause) entry=(/agnhost)
      ;;
    kitten | nautilus)
      # upstream: FROM agnhost; COPY html/<name>.jpg, html/data.json; CMD ["test-webserver"]
      agnhost_rootfs "$r"
      cp "$IMAGES_SRC/$name/html/$name.jpg" "$IMAGES_SRC/$name/html/data.json" "$r/"
      # Upstream's image is Alpine-based, and the image volume test reads
      # its /etc/os-release ("Alpine Linux"): carry that file as upstream's
      # image has it, in place of Debian's symlink.
      rm -f "$r/etc/os-release"
      printf '%s\n' '# as in upstream'"'"'s image (FROM agnhost, alpine); this rootfs is Debian packages' \
        'NAME="Alpine Linux"' 'ID=alpine' 'PRETTY_NAME="Alpine Linux"' 'HOME_URL="https://alpinelinux.org/"' >"$r/etc/os-release"
      opts=(-c test-webserver) entry=(/agnhost)
      ;;
    busybox)
      # upstream: FROM busybox:1.37.0 (CMD ["sh"]): BusyBox 1.37.0 built
      # from source (busybox_upstream), every applet linked in /bin.
      base_etc "$r"
      local bb
      bb=$(busybox_upstream) || exit 1
      BUSYBOX_BIN=$bb busybox_install "$r" all-in-bin
      mkdir -p "$r/var/www" "$r/var/spool/mail" "$r/usr/sbin"
      opts=(-c sh)
      ;;
    pause)
      # upstream build/pause: USER 65535:65535, ENTRYPOINT ["/pause"]
      need_bin pause
      install -m 0755 "$BIN_DIR/pause" "$r/pause"
      opts=(-u 65535:65535) entry=(/pause)
      ;;
    nginx)
      # upstream: FROM nginx:1.27-alpine: ENTRYPOINT ["/docker-entrypoint.sh"],
      # CMD ["nginx", "-g", "daemon off;"], STOPSIGNAL SIGQUIT, port 80,
      # /usr/share/nginx/html, logs to stdout/stderr, user nginx (101).
      base_etc "$r"
      deb_install "$r" nginx
      busybox_install "$r"
      add_user "$r" nginx 101 101
      nginx_files "$r"
      opts=(-c nginx -c -g -c "daemon off;" -S SIGQUIT) entry=(/docker-entrypoint.sh)
      ;;
    nonewprivs)
      # upstream: alpine + /usr/local/bin/nnp (chmod +s), CMD ["nnp"]
      need_bin nnp
      alpine_like "$r"
      mkdir -p "$r/usr/local/bin"
      install -m 4755 -o 0 -g 0 "$BIN_DIR/nnp" "$r/usr/local/bin/nnp"
      opts=(-c nnp)
      ;;
    glibc-dns-testing)
      # upstream: debian:bookworm-slim + dnsutils (+ an unused coredns 1.5.0)
      base_etc "$r"
      deb_install "$r" bash dash coreutils grep sed findutils gzip tar hostname libc-bin util-linux mawk debianutils bind9-dnsutils
      ln -sf dash "$r/bin/sh"
      ln -sf mawk "$r/usr/bin/awk"
      opts=(-c bash)
      ;;
    sample-apiserver)
      # upstream: alpine + /sample-apiserver, ENTRYPOINT ["/sample-apiserver"]
      need_bin sample-apiserver
      alpine_like "$r"
      install -m 0755 "$BIN_DIR/sample-apiserver" "$r/sample-apiserver"
      entry=(/sample-apiserver)
      ;;
    etcd)
      # upstream cluster/images/etcd: /usr/local/bin/etcd (the test sets the command)
      need_bin etcd
      alpine_like "$r"
      mkdir -p "$r/usr/local/bin" "$r/var/etcd"
      install -m 0755 "$BIN_DIR/etcd" "$r/usr/local/bin/etcd"
      entry=(/usr/local/bin/etcd)
      ;;
  esac
  # Name the image inside it too: agnhost:2.55 and :2.66.1 then differ in digest.
  mkdir -p "$r/etc"
  echo "$ref built by skiff conformance/hack/images.sh" >"$r/etc/skiff-image"
  "$MKIMAGE" "${opts[@]}" "$ref" "$out.tmp" "$r" "${entry[@]}" >/dev/null
  mv "$out.tmp" "$out"
  rm -rf "$r"
  log "$ref: $(du -h "$out" | cut -f1) -> $out"
  printf '%s\t%s\n' "$ref" "$out" >>"$IMG_DIR/images.txt.new"
}

nginx_files() {
  local r=$1
  mkdir -p "$r/etc/nginx/conf.d" "$r/usr/share/nginx/html" "$r/var/log/nginx" "$r/var/cache/nginx" \
    "$r/var/lib/nginx/body" "$r/var/lib/nginx/proxy" "$r/var/lib/nginx/fastcgi" \
    "$r/var/lib/nginx/uwsgi" "$r/var/lib/nginx/scgi" "$r/run"
  rm -f "$r/etc/nginx/sites-enabled/default"
  ln -sf /dev/stdout "$r/var/log/nginx/access.log"
  ln -sf /dev/stderr "$r/var/log/nginx/error.log"
  cat >"$r/etc/nginx/nginx.conf" <<'EOF'
user  nginx;
worker_processes  auto;
error_log  /var/log/nginx/error.log notice;
pid        /run/nginx.pid;
events {
    worker_connections  1024;
}
http {
    include       /etc/nginx/mime.types;
    default_type  application/octet-stream;
    log_format  main  '$remote_addr - $remote_user [$time_local] "$request" '
                      '$status $body_bytes_sent "$http_referer" '
                      '"$http_user_agent" "$http_x_forwarded_for"';
    access_log  /var/log/nginx/access.log  main;
    sendfile        on;
    keepalive_timeout  65;
    include /etc/nginx/conf.d/*.conf;
}
EOF
  cat >"$r/etc/nginx/conf.d/default.conf" <<'EOF'
server {
    listen       80;
    listen  [::]:80;
    server_name  localhost;
    location / {
        root   /usr/share/nginx/html;
        index  index.html index.htm;
    }
    error_page   500 502 503 504  /50x.html;
    location = /50x.html {
        root   /usr/share/nginx/html;
    }
}
EOF
  cat >"$r/usr/share/nginx/html/index.html" <<'EOF'
<!DOCTYPE html>
<html>
<head>
<title>Welcome to nginx!</title>
</head>
<body>
<h1>Welcome to nginx!</h1>
<p>If you see this page, the nginx web server is successfully installed and
working. Further configuration is required.</p>
</body>
</html>
EOF
  cat >"$r/usr/share/nginx/html/50x.html" <<'EOF'
<!DOCTYPE html>
<html>
<head><title>Error</title></head>
<body>
<h1>An error occurred.</h1>
<p>Sorry, the page you are looking for is currently unavailable.</p>
</body>
</html>
EOF
  cat >"$r/docker-entrypoint.sh" <<'EOF'
#!/bin/sh
# Like the official nginx image's entrypoint, minus its optional setup scripts.
set -e
exec "$@"
EOF
  chmod 0755 "$r/docker-entrypoint.sh"
}

if [ $# -eq 0 ]; then set -- $ALL; fi
rm -f "$IMG_DIR/images.txt.new"
trap 'rm -rf "$WORK"' EXIT
for n in "$@"; do build_image "$n"; done
# images.txt lists every tar built so far (this run's plus earlier ones).
{ [ -f "$IMG_DIR/images.txt" ] && cat "$IMG_DIR/images.txt"; cat "$IMG_DIR/images.txt.new"; } |
  sort -u -t $'\t' -k1,1 >"$IMG_DIR/images.txt.tmp"
rm -f "$IMG_DIR/images.txt.new"
mv "$IMG_DIR/images.txt.tmp" "$IMG_DIR/images.txt"
log "images: $(wc -l <"$IMG_DIR/images.txt") in $IMG_DIR (list: images.txt)"

#!/usr/bin/env bash
# Run the upstream v1.37 conformance suite against a skiff cluster.
#   make conformance        all [Conformance] tests (FOCUS/SKIP override)
#   make conformance-quick  the api-only subset in testdata/quick.txt (< 15 min)
#
# Environment:
#   KUBECONFIG       cluster under test. Unset: unless START_CLUSTER=0, a
#                    throw-away cluster is started from bin/skiff (see the
#                    HOOK below), otherwise the run stops with an error.
#   CLUSTER_NODES    nodes of the cluster run.sh starts: 2 (default: the
#                    server's own node plus a second `skiff agent`), 1, or 0
#                    (control plane only; also when not root/no containerd)
#   CLUSTER_PORT, CLUSTER_KUBELET_PORT  its API port (16443) and the first
#                    node's kubelet port (16250; node i uses +i-1)
#   CLUSTER_NETNS    1 (default when nodes run): the cluster and the suite run
#                    in a network namespace of their own (skiff-conf-PORT),
#                    so NodePorts, the service proxy's iptables rules, the
#                    bridges and the ports never touch the host's network;
#                    0: in the host's namespace
#   FOCUS, SKIP      ginkgo regexps (default FOCUS='\[Conformance\]')
#   QUICK=1          focus on testdata/quick.txt instead of FOCUS
#   GINKGO_NODES     parallel ginkgo processes (default 1; [Serial] tests
#                    always run alone, at the end)
#   E2E_TIMEOUT      suite timeout (default 6h; quick: 30m)
#   SKIP_IMAGES=1    do not build/import the test images (api-only runs)
#   E2E_ARGS         extra e2e.test flags
#   IMAGE_IMPORT_ARGS  with KUBECONFIG set: `skiff image import` flags that
#                    reach the node's containerd (--data-dir/--address)
#   VERBOSE=1        copy e2e.test's output to the screen
# Output in _output/conformance/: junit_01.xml, e2e.log, summary.txt.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

cd "$REPO_ROOT"
QUICK=${QUICK:-0}
NODES=${GINKGO_NODES:-1}
if [ "$QUICK" = 1 ]; then
  TIMEOUT=${E2E_TIMEOUT:-30m}
  SKIP_IMAGES=${SKIP_IMAGES:-1}
else
  TIMEOUT=${E2E_TIMEOUT:-6h}
  SKIP_IMAGES=${SKIP_IMAGES:-0}
fi

# 1. The runner (small; go build caches it).
mkdir -p "$BIN_DIR"
(cd "$CONF_DIR" && CGO_ENABLED=0 "$GO" build -o "$BIN_DIR/conformance" ./cmd/conformance) ||
  die "building the conformance runner failed"
RUNNER=$BIN_DIR/conformance

# 2. A cluster. Fail fast when KUBECONFIG names a server that is down.
# When run.sh starts the cluster, it owns these processes (by PID) and the
# node data dirs the test images are imported into.
SERVER_PID=""
AGENT_PIDS=()
NODE_DATA_DIRS=()
NETNS=""  # the network namespace run.sh created for its cluster
NS=()     # the prefix that runs a command in it (nsenter, not `ip netns
          # exec`: that remounts /sys, hiding /sys/fs/cgroup from runc)
stop_pid() { # stop_pid PID WHAT: SIGTERM, then SIGKILL after 90 s
  local pid=$1 what=$2 i
  kill -0 "$pid" 2>/dev/null || return 0
  log "stopping $what (pid $pid)" 2>/dev/null || true
  kill "$pid" 2>/dev/null || true
  for i in $(seq 1 90); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "$what (pid $pid) did not stop in 90 s: killing it; its pods, bridge and cgroups may be left behind" 2>/dev/null || true
    kill -9 "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  trap '' PIPE # the screen may be a closed pipe (| head): stop the cluster regardless
  local pid
  # Agents first: each removes its pods, bridge, guard rules and cgroups
  # (--cleanup-on-exit) while the API server still answers.
  for pid in "${AGENT_PIDS[@]}"; do
    stop_pid "$pid" "skiff agent"
  done
  [ -n "$SERVER_PID" ] && stop_pid "$SERVER_PID" "skiff server"
  if [ -n "$NETNS" ]; then
    ip netns del "$NETNS" 2>/dev/null || true
  fi
  return 0
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP PIPE

# can_run_nodes: root, containerd, runc, iptables and the CNI plugins (what
# `skiff agent` needs; hack/install-deps.sh installs them).
can_run_nodes() {
  [ "$(id -u)" = 0 ] || { log "not root: no node can run"; return 1; }
  local b
  for b in containerd runc iptables openssl ip nsenter; do
    command -v "$b" >/dev/null || { log "$b is not installed (hack/install-deps.sh): no node can run"; return 1; }
  done
  [ -x /usr/lib/cni/bridge ] || { log "the CNI plugins are not in /usr/lib/cni (hack/install-deps.sh): no node can run"; return 1; }
}

# node_kubeconfig NAME DIR SERVER CA_DIR: a kubeconfig for system:node:NAME
# (group system:nodes), its client certificate signed by the cluster CA, so
# that the Node authorizer and NodeRestriction treat the agent as upstream's
# kubelet. Prints the kubeconfig's path.
node_kubeconfig() {
  local name=$1 dir=$2 server=$3 tls=$4 kc=$2/kubelet.kubeconfig
  mkdir -p "$dir/pki"
  openssl ecparam -name prime256v1 -genkey -noout -out "$dir/pki/client.key" 2>/dev/null &&
    openssl req -new -key "$dir/pki/client.key" -subj "/O=system:nodes/CN=system:node:$name" -out "$dir/pki/client.csr" &&
    openssl x509 -req -in "$dir/pki/client.csr" -CA "$tls/ca.crt" -CAkey "$tls/ca.key" -set_serial "0x$(openssl rand -hex 16)" \
      -days 30 -extfile <(printf 'keyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n') \
      -out "$dir/pki/client.crt" 2>/dev/null ||
    die "issuing the client certificate of system:node:$name failed"
  bin/skiff kubectl config --kubeconfig "$kc" set-cluster skiff --server "$server" --certificate-authority "$tls/ca.crt" --embed-certs >/dev/null &&
    bin/skiff kubectl config --kubeconfig "$kc" set-credentials "system:node:$name" --client-certificate "$dir/pki/client.crt" --client-key "$dir/pki/client.key" --embed-certs >/dev/null &&
    bin/skiff kubectl config --kubeconfig "$kc" set-context default --cluster skiff --user "system:node:$name" >/dev/null &&
    bin/skiff kubectl config --kubeconfig "$kc" use-context default >/dev/null ||
    die "writing $kc failed"
  echo "$kc"
}

# ready_nodes: how many nodes are Ready.
ready_nodes() {
  "${NS[@]}" bin/skiff kubectl get nodes -o jsonpath='{range .items[*]}{range .status.conditions[?(@.type=="Ready")]}{.status}{"\n"}{end}{end}' 2>/dev/null |
    grep -c True || true
}

if [ -z "${KUBECONFIG:-}" ]; then
  [ "${START_CLUSTER:-1}" = 1 ] ||
    die "KUBECONFIG is not set and START_CLUSTER=0: point KUBECONFIG at a running cluster (make up; export KUBECONFIG=/var/lib/skiff/admin.kubeconfig), or unset START_CLUSTER to start one from bin/skiff"
  # ---- HOOK(cluster): start a cluster for the run -------------------------
  # `skiff server` (control plane + this host's node) plus, with
  # CLUSTER_NODES=2 (the default), a second `skiff agent` on the same host
  # with its own node name, data dir (containerd), kubelet port, bridge,
  # pod CIDR and cgroup parent, so that two-node tests run. Both guard
  # their pods' egress and remove pods, bridge and cgroups when stopped.
  # CLUSTER_NODES=0 runs the control plane alone (api-only tests).
  [ -x bin/skiff ] || make build
  # The node's own images: the sandbox (pause) and the cluster DNS addon's
  # (coredns); nothing is pulled.
  for t in pause busybox coredns; do
    [ -f "_output/images/$t.tar" ] || { make images; break; }
  done
  CLUSTER_DIR=$OUT_DIR/cluster
  if pids=$(pgrep -f -- "$CLUSTER_DIR/"); then
    die "a previous run's cluster still runs from $CLUSTER_DIR (pids: $(echo $pids)); stop it (kill <pid>) first"
  fi
  rm -rf "$CLUSTER_DIR"
  mkdir -p "$CLUSTER_DIR"
  port=${CLUSTER_PORT:-16443}
  kubelet_port=${CLUSTER_KUBELET_PORT:-16250} # node i listens on kubelet_port+i-1
  nodes=${CLUSTER_NODES:-2}
  if [ "$nodes" -gt 0 ] && ! can_run_nodes; then
    log "starting the control plane only (api-only tests)"
    nodes=0
  fi
  # containerd's socket path (DATA-DIR/agent/containerd/containerd.sock)
  # must fit in a unix socket address.
  sock=$CLUSTER_DIR/node2/agent/containerd/containerd.sock
  [ "$nodes" -lt 2 ] || [ ${#sock} -lt 100 ] ||
    die "$sock is too long for a unix socket: set CONFORMANCE_OUT to a shorter directory"
  if [ "$nodes" -gt 0 ] && [ "${CLUSTER_NETNS:-1}" = 1 ]; then
    # A namespace of its own: loopback for the API and kubelet ports, and a
    # veth pair (no dummy module here) carrying the default route, whose address is the
    # node IP and the API server's advertise address (what pods reach
    # through the kubernetes Service). Nothing leaves it: no uplink.
    NETNS=skiff-conf-$port
    ip netns del "$NETNS" 2>/dev/null || true
    ip netns add "$NETNS" || die "ip netns add $NETNS failed"
    NS=(nsenter --net=/run/netns/"$NETNS")
    "${NS[@]}" sh -c 'ip link set lo up &&
      ip link add conf0 type veth peer name conf1 && ip link set conf1 up &&
      ip addr add 172.31.250.1/24 dev conf0 && ip link set conf0 up &&
      ip route add default dev conf0' || die "setting up the network namespace $NETNS failed"
    log "the cluster and the suite run in the network namespace $NETNS (node IP 172.31.250.1)"
  fi
  host=$(hostname | tr '[:upper:]' '[:lower:]') # node 1: the server names its node (and kubelet identity) after the host
  server_args=(--data-dir "$CLUSTER_DIR" --secure-port "$port")
  if [ "$nodes" -gt 0 ]; then
    server_args+=(--images-dir "$REPO_ROOT/_output/images" --kubelet-port "$kubelet_port"
      --bridge skiffconf1 --pod-cidr 10.244.240.0/24 --cgroup-parent skiff-conf-1 --egress-guard --cleanup-on-exit
      # Each node's pod CIDR is the one given here, and so its bridge's
      # subnet: node IPAM would race the kubelet's own patch of
      # spec.podCIDR (it registers the Node, then sets it), and the loser
      # stops the agent ("node updates may not change podCIDR").
      --controllers '*,-node-ipam-controller,bootstrap-signer-controller,token-cleaner-controller')
    NODE_DATA_DIRS+=("$CLUSTER_DIR")
  else
    server_args+=(--disable-agent)
  fi
  log "starting bin/skiff server ${server_args[*]} (log: $CLUSTER_DIR/skiff.log)"
  "${NS[@]}" bin/skiff server "${server_args[@]}" >"$CLUSTER_DIR/skiff.log" 2>&1 &
  SERVER_PID=$!
  export KUBECONFIG=$CLUSTER_DIR/admin.kubeconfig
  up=0
  for _ in $(seq 1 90); do
    kill -0 "$SERVER_PID" 2>/dev/null || { tail -20 "$CLUSTER_DIR/skiff.log" >&2; die "bin/skiff server exited; see $CLUSTER_DIR/skiff.log"; }
    if [ -f "$KUBECONFIG" ] && "${NS[@]}" "$RUNNER" preflight --kubeconfig "$KUBECONFIG" --timeout 2s >/dev/null 2>&1; then
      up=1
      break
    fi
    sleep 1
  done
  [ "$up" = 1 ] || die "bin/skiff server does not answer after 90 s; see $CLUSTER_DIR/skiff.log"
  for i in $(seq 2 "$nodes"); do
    name=$host-$i
    dir=$CLUSTER_DIR/node$i
    kc=$(node_kubeconfig "$name" "$dir" "https://127.0.0.1:$port" "$CLUSTER_DIR/tls")
    agent_args=(--data-dir "$dir" --kubeconfig "$kc" --client-ca-file "$CLUSTER_DIR/tls/ca.crt"
      --node-name "$name" --kubelet-port $((kubelet_port + i - 1)) --bridge "skiffconf$i"
      --pod-cidr "10.244.$((239 + i)).0/24" --cgroup-parent "skiff-conf-$i"
      --images-dir "$REPO_ROOT/_output/images" --egress-guard --cleanup-on-exit
      # One service proxy per network namespace: the server's node programs
      # the namespace's iptables for every bridge in it; a second proxy
      # would rewrite the same chains. Pods use the cluster DNS addon.
      --disable-kube-proxy --cluster-dns 10.96.0.10)
    log "starting bin/skiff agent ${agent_args[*]} (log: $dir.log)"
    "${NS[@]}" bin/skiff agent "${agent_args[@]}" >"$dir.log" 2>&1 &
    AGENT_PIDS+=($!)
    NODE_DATA_DIRS+=("$dir")
  done
  if [ "$nodes" -gt 0 ]; then
    ready=0
    for _ in $(seq 1 120); do
      kill -0 "$SERVER_PID" 2>/dev/null || { tail -20 "$CLUSTER_DIR/skiff.log" >&2; die "bin/skiff server exited; see $CLUSTER_DIR/skiff.log"; }
      for pid in "${AGENT_PIDS[@]}"; do
        kill -0 "$pid" 2>/dev/null || die "a skiff agent exited; see $CLUSTER_DIR/node*.log"
      done
      ready=$(ready_nodes)
      [ "$ready" -ge "$nodes" ] && break
      sleep 1
    done
    [ "$ready" -ge "$nodes" ] || die "$ready of $nodes nodes Ready after 120 s; see $CLUSTER_DIR/skiff.log and $CLUSTER_DIR/node*.log"
    log "$nodes nodes Ready"
  fi
  # ---- end HOOK(cluster) --------------------------------------------------
fi
"${NS[@]}" "$RUNNER" preflight --kubeconfig "$KUBECONFIG"

# 3. Binaries and images (each skipped when up to date).
if [ "$NODES" -gt 1 ]; then
  "$CONF_DIR/hack/build.sh" e2e.test kubectl ginkgo
else
  "$CONF_DIR/hack/build.sh" e2e.test kubectl
fi
if [ "$SKIP_IMAGES" != 1 ]; then
  "$CONF_DIR/hack/build.sh" agnhost nnp sample-apiserver etcd pause
  "$CONF_DIR/hack/images.sh"
  # ---- HOOK(images): load the test images into every node's containerd ----
  # Nodes this script started are known by their data dirs; for a cluster
  # named by KUBECONFIG, IMAGE_IMPORT_ARGS gives `skiff image import` the
  # node's --data-dir (or --address; default /var/lib/skiff). Images already
  # there are re-imported quickly (content is shared).
  mapfile -t tars < <(cut -f2 "$IMG_DIR/images.txt")
  if [ ${#NODE_DATA_DIRS[@]} -gt 0 ]; then
    for d in "${NODE_DATA_DIRS[@]}"; do
      log "importing ${#tars[@]} images into the node of $d"
      bin/skiff image import --data-dir "$d" "${tars[@]}" >"$d.images.log" 2>&1 ||
        { tail -5 "$d.images.log" >&2; die "bin/skiff image import --data-dir $d failed; see $d.images.log"; }
      # Each reference e2e.test will ask for must now be on the node.
      bin/skiff image ls --data-dir "$d" | "$RUNNER" images-check -node "the node of $d" ||
        die "the images of conformance/IMAGES.md are not all on the node of $d after the import"
    done
  elif [ -n "${CLUSTER_DIR:-}" ]; then
    log "the cluster started for this run has no node: images not imported"
  elif [ -z "${CLUSTER_DIR:-}" ]; then
    log "importing ${#tars[@]} images with bin/skiff image import ${IMAGE_IMPORT_ARGS:-}"
    # shellcheck disable=SC2086
    bin/skiff image import ${IMAGE_IMPORT_ARGS:-} "${tars[@]}" || die "bin/skiff image import failed"
    # shellcheck disable=SC2086
    bin/skiff image ls ${IMAGE_IMPORT_ARGS:-} | "$RUNNER" images-check ||
      die "the images of conformance/IMAGES.md are not all on the node after the import"
  fi
  # ---- end HOOK(images) ---------------------------------------------------
fi

# 4. Run.
args=(-e2e "$BIN_DIR/e2e.test" -ginkgo "$BIN_DIR/ginkgo" -kubectl "$BIN_DIR/kubectl" -kubeconfig "$KUBECONFIG"
  -out "$OUT_DIR" -nodes "$NODES" -timeout "$TIMEOUT"
  -baseline "$CONF_DIR/testdata/conformance-1.37.yaml" -classes "$CONF_DIR/testdata/conformance-1.37.tsv")
if [ "$QUICK" = 1 ]; then
  args+=(-focus-file "$CONF_DIR/testdata/quick.txt")
else
  args+=(-focus "${FOCUS:-\[Conformance\]}")
fi
[ -n "${SKIP:-}" ] && args+=(-skip "$SKIP")
[ "${VERBOSE:-0}" = 1 ] && args+=(-v)
# shellcheck disable=SC2086
"${NS[@]}" "$RUNNER" run "${args[@]}" -- ${E2E_ARGS:-}

#!/usr/bin/env bash
# k8s-bed.sh: a real Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler) on 127.0.0.1, with KWOK simulating the nodes and their kubelets. Every binary is built
# from the Go module proxy (no image, no registry, no download of prebuilt binaries) and cached by version.
#
# Usage: k8s-bed.sh build | up | down | status | env | selftest
#
#   build     build the binaries into $CHAOS_K8S_CACHE/<version>/bin (a no-op when they are there)
#   up        build, then start the cluster with CHAOS_K8S_NODES KWOK nodes (kwok-node-0, ...) and wait
#             until the API answers, the nodes are Ready and default/default ServiceAccount exists;
#             writes $STATE/kubeconfig (admin, client certificate); a no-op when already up
#   down      stop the processes that `up` started (pids in $STATE) and remove $STATE; safe when down
#   status    exit 0 iff the cluster is up and answers
#   env       print `export KUBECONFIG=...`
#   selftest  Deployment, pod re-creation, PDB-refused eviction, DaemonSet, TokenRequest + RBAC (Python
#             kubernetes client); on success writes $CHAOS_K8S_CACHE/bed-ready (the kubeconfig path),
#             which `down` removes
#
# Environment:
#   CHAOS_K8S_BED_DIR        state dir: certs, data, pids, logs/ (default /tmp/chaos-engineering-k8s-bed)
#   CHAOS_K8S_CACHE          binary cache (default ~/.cache/chaos-engineering/k8s)
#   CHAOS_K8S_VERSION        Kubernetes version (default 1.37.2); its staging modules are used at v0.<minor>.<patch>
#   CHAOS_K8S_ETCD_VERSION   etcd server version (default 3.7.3; Debian's etcd-server if the build fails)
#   CHAOS_K8S_KWOK_VERSION   kwok version (default 0.8.0)
#   CHAOS_K8S_NODES          number of KWOK nodes (default 3)
#   CHAOS_K8S_PORT_BASE      first of the fixed ports (default 26380): etcd client +0, etcd peer +1,
#                            apiserver +2, controller-manager +3, scheduler +4, kwok +5
#   CHAOS_K8S_BUILD_JOBS     go build -p (default 2)
#   CHAOS_K8S_PYTHON         python with the `kubernetes` package, for selftest (default: hack/toolchain.sh core219)
set -euo pipefail

readonly PROG=k8s-bed
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly HERE
readonly ASSETS=$HERE/k8s
# shellcheck source=tests/infra/kube-build.sh
source "$HERE/kube-build.sh"
STATE=${CHAOS_K8S_BED_DIR:-/tmp/chaos-engineering-k8s-bed}
STATE=${STATE%/}
readonly STATE
readonly CACHE=${CHAOS_K8S_CACHE:-${HOME:-/root}/.cache/chaos-engineering/k8s}
readonly K8S_VERSION=${CHAOS_K8S_VERSION:-1.37.2}
readonly ETCD_VERSION=${CHAOS_K8S_ETCD_VERSION:-3.7.3}
readonly KWOK_VERSION=${CHAOS_K8S_KWOK_VERSION:-0.8.0}
readonly NODES=${CHAOS_K8S_NODES:-3}
readonly PORT_BASE=${CHAOS_K8S_PORT_BASE:-26380}
readonly BUILD_JOBS=${CHAOS_K8S_BUILD_JOBS:-2}
readonly VDIR=$CACHE/$K8S_VERSION
readonly BIN=$VDIR/bin
# Bump when the build recipe below changes: it is part of each binary's stamp.
readonly RECIPE_VERSION=1
readonly ADDR=127.0.0.1
readonly ETCD_PORT=$((PORT_BASE + 0))
readonly ETCD_PEER_PORT=$((PORT_BASE + 1))
readonly API_PORT=$((PORT_BASE + 2))
readonly KCM_PORT=$((PORT_BASE + 3))
readonly SCHED_PORT=$((PORT_BASE + 4))
readonly KWOK_PORT=$((PORT_BASE + 5))
readonly COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok)

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
  awk 'NR >= 6 && /^#/ { sub(/^# ?/, ""); print; next } NR >= 6 { exit }' "${BASH_SOURCE[0]}"
}

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# ---------------------------------------------------------------- build


stamp_of() { # stamp_of NAME: what the binary NAME must have been built from
  case $1 in
    kube-apiserver | kube-controller-manager | kube-scheduler)
      printf 'recipe=%s k8s.io/kubernetes@v%s\n' "$RECIPE_VERSION" "$K8S_VERSION" ;;
    etcd) printf 'recipe=%s go.etcd.io/etcd/server/v3@v%s\n' "$RECIPE_VERSION" "$ETCD_VERSION" ;;
    kwok) printf 'recipe=%s sigs.k8s.io/kwok@v%s\n' "$RECIPE_VERSION" "$KWOK_VERSION" ;;
  esac
}

have_binary() { # have_binary NAME: built, executable and from the recipe in force
  [[ -x $BIN/$1 && -f $BIN/.$1.stamp && $(<"$BIN/.$1.stamp") == "$(stamp_of "$1")" ]]
}

all_built() {
  local c
  for c in "${COMPONENTS[@]}"; do have_binary "$c" || return 1; done
}

build_kube() {
  local src=$VDIR/src/kube out=$VDIR/tmp ldflags c t0
  t0=$(now)
  log "building Kubernetes v$K8S_VERSION (kube-apiserver, kube-controller-manager, kube-scheduler); cold: 15-25 min"
  rm -rf "$src" "$out"
  write_kube_module "$src" k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler
  (cd "$src" && gobuild mod tidy >/dev/null) || die "go mod tidy for Kubernetes v$K8S_VERSION failed"
  ldflags=$(kube_ldflags)
  mkdir -p "$out" "$BIN"
  (cd "$src" && gobuild build -p "$BUILD_JOBS" -trimpath -ldflags "$ldflags" -o "$out/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler) || die "go build of Kubernetes v$K8S_VERSION failed"
  for c in kube-apiserver kube-controller-manager kube-scheduler; do
    "$out/$c" --version | grep -qx "Kubernetes v$K8S_VERSION" || die "$c --version: $("$out/$c" --version 2>&1)"
    mv -f "$out/$c" "$BIN/$c"
    stamp_of "$c" >"$BIN/.$c.stamp"
  done
  rm -rf "$out"
  log "built Kubernetes v$K8S_VERSION in $(elapsed "$t0") s"
}

build_etcd() {
  local src=$VDIR/src/etcd out=$VDIR/tmp t0
  t0=$(now)
  log "building etcd v$ETCD_VERSION"
  rm -rf "$src" "$out"
  mkdir -p "$src" "$out" "$BIN"
  # The server module's own go.mod replaces its siblings with ../api etc.: `go install` refuses it, a
  # module that requires it builds fine.
  printf 'module chaos.engineering/k8s-bed/etcd\n\ngo 1.26.0\n\nrequire go.etcd.io/etcd/server/v3 v%s\n' \
    "$ETCD_VERSION" >"$src/go.mod"
  printf '//go:build tools\n\npackage tools\n\nimport _ "go.etcd.io/etcd/server/v3"\n' >"$src/tools.go"
  if (cd "$src" && gobuild mod tidy >/dev/null &&
    gobuild build -p "$BUILD_JOBS" -trimpath -ldflags "-s -w" -o "$out/etcd" go.etcd.io/etcd/server/v3) &&
    "$out/etcd" --version | grep -q "etcd Version: $ETCD_VERSION"; then
    mv -f "$out/etcd" "$BIN/etcd"
    stamp_of etcd >"$BIN/.etcd.stamp"
    rm -rf "$out"
    log "built etcd v$ETCD_VERSION in $(elapsed "$t0") s"
    return 0
  fi
  rm -rf "$out"
  log "warning: building etcd v$ETCD_VERSION failed; falling back to Debian's etcd-server"
  if ! [[ -x /usr/bin/etcd ]]; then
    { DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server; } >&2 || die "apt-get install etcd-server failed"
  fi
  [[ -x /usr/bin/etcd ]] || die "no /usr/bin/etcd after installing etcd-server"
  ln -sf /usr/bin/etcd "$BIN/etcd"
  stamp_of etcd >"$BIN/.etcd.stamp"
}

build_kwok() {
  local out=$VDIR/tmp t0
  t0=$(now)
  log "building kwok v$KWOK_VERSION"
  rm -rf "$out"
  mkdir -p "$out" "$BIN"
  GOBIN=$out gobuild install -p "$BUILD_JOBS" -trimpath \
    -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=v$KWOK_VERSION" \
    "sigs.k8s.io/kwok/cmd/kwok@v$KWOK_VERSION" || die "go install sigs.k8s.io/kwok/cmd/kwok@v$KWOK_VERSION failed"
  mv -f "$out/kwok" "$BIN/kwok"
  stamp_of kwok >"$BIN/.kwok.stamp"
  rm -rf "$out"
  log "built kwok v$KWOK_VERSION in $(elapsed "$t0") s"
}

cmd_build() {
  all_built && return 0
  command -v go >/dev/null || die "go is not installed (the binaries are built with the Go toolchain)"
  mkdir -p "$VDIR"
  exec 8>"$VDIR/build.lock"
  flock -w 3600 8 || die "another build holds $VDIR/build.lock"
  local t0
  t0=$(now)
  have_binary kwok || build_kwok
  have_binary etcd || build_etcd
  if ! have_binary kube-apiserver || ! have_binary kube-controller-manager || ! have_binary kube-scheduler; then
    build_kube
  fi
  rm -rf "$VDIR/src"
  exec 8>&-
  log "binaries ready in $BIN ($(elapsed "$t0") s)"
}

# ---------------------------------------------------------------- processes

pid_file() { printf '%s/pids/%s.pid\n' "$STATE" "$1"; }

our_pid() { # our_pid NAME: print the pid of component NAME if it runs and is ours (its command names $STATE)
  local f pid
  f=$(pid_file "$1")
  [[ -f $f ]] || return 1
  pid=$(<"$f")
  [[ $pid =~ ^[0-9]+$ && -r /proc/$pid/cmdline ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$STATE/" || return 1
  printf '%s\n' "$pid"
}

start_proc() { # start_proc NAME CMD...: run detached (own session), log to $STATE/logs/NAME.log
  local name=$1
  shift
  log "starting $name"
  # Close the lock fds: a component must not keep holding them.
  setsid "$@" </dev/null >>"$STATE/logs/$name.log" 2>&1 8>&- 9>&- &
  local pid=$! i
  printf '%s\n' "$pid" >"$(pid_file "$name")"
  # Until the forked child has exec'd, /proc/PID/cmdline is still this script's, and our_pid would call the
  # component dead (a loaded CI machine hit that window). Wait for the exec, or for the child to die.
  for ((i = 0; i < 200; i++)); do
    our_pid "$name" >/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.05
  done
}

stop_proc() { # stop_proc NAME: TERM, then KILL after 15 s; only our own process
  local name=$1 pid i
  pid=$(our_pid "$name") || { rm -f "$(pid_file "$name")"; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 150; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "warning: $name (pid $pid) ignored SIGTERM; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$(pid_file "$name")"
}

port_busy() { (exec 3<>"/dev/tcp/$ADDR/$1") 2>/dev/null; }

# wait_for NAME SECONDS CMD...: poll CMD until it succeeds; fail early if component NAME died
wait_for() {
  local name=$1 secs=$2 deadline
  shift 2
  deadline=$((SECONDS + secs))
  while ! "$@" >/dev/null 2>&1; do
    if [[ $name != - ]] && ! our_pid "$name" >/dev/null; then
      tail -n 30 "$STATE/logs/$name.log" >&2 2>/dev/null || true
      die "$name exited; see $STATE/logs/$name.log"
    fi
    ((SECONDS < deadline)) || return 1
    sleep 0.5
  done
}

# ---------------------------------------------------------------- certificates and kubeconfigs

readonly PKI_DAYS=3650

gen_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

# gen_cert NAME SUBJECT EXTENSIONS [CA]: $PKI/NAME.{key,crt}, signed by $PKI/CA.{crt,key} (default: ca)
gen_cert() {
  local name=$1 subj=$2 ext=$3 ca=${4:-ca} pki=$STATE/pki
  gen_key "$pki/$name.key"
  openssl req -new -key "$pki/$name.key" -subj "$subj" -out "$pki/$name.csr" 2>/dev/null
  printf '%b' "$ext" >"$pki/$name.ext"
  openssl x509 -req -in "$pki/$name.csr" -CA "$pki/$ca.crt" -CAkey "$pki/$ca.key" -set_serial "0x$(openssl rand -hex 16)" \
    -days "$PKI_DAYS" -sha256 -extfile "$pki/$name.ext" -out "$pki/$name.crt" 2>/dev/null
  rm -f "$pki/$name.csr" "$pki/$name.ext"
}

make_pki() {
  local pki=$STATE/pki client server
  mkdir -p "$pki"
  chmod 700 "$pki"
  gen_key "$pki/ca.key"
  openssl req -x509 -new -key "$pki/ca.key" -subj "/CN=chaos-k8s-bed-ca" -days "$PKI_DAYS" -sha256 \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
    -out "$pki/ca.crt" 2>/dev/null
  client='basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n'
  server='basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n'
  server+='subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,'
  server+='DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\n'
  gen_cert apiserver "/CN=kube-apiserver" "$server"
  gen_cert admin "/O=system:masters/CN=chaos-k8s-bed-admin" "$client"
  gen_cert controller-manager "/CN=system:kube-controller-manager" "$client"
  gen_cert scheduler "/CN=system:kube-scheduler" "$client"
  # kwok plays every kubelet and writes their Node, Lease and Pod status: give it cluster-admin.
  gen_cert kwok "/O=system:masters/CN=kwok-controller" "$client"
  # The API server's client certificate for the kubelets (logs, exec, port-forward: nodes/proxy). A real
  # node (node-bed.sh) authenticates it by this CA; system:masters also passes a kubelet's webhook authorization.
  gen_cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" "$client"
  # The front proxy (request-header authentication, as for aggregated API servers): without it the
  # controller-manager and the scheduler log a missing requestheader CA bundle again and again.
  gen_key "$pki/front-proxy-ca.key"
  openssl req -x509 -new -key "$pki/front-proxy-ca.key" -subj "/CN=chaos-k8s-bed-front-proxy-ca" \
    -days "$PKI_DAYS" -sha256 -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" -out "$pki/front-proxy-ca.crt" 2>/dev/null
  gen_cert front-proxy-client "/CN=front-proxy-client" "$client" front-proxy-ca
  # ServiceAccount token signing (TokenRequest API and the controllers' own credentials).
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$pki/sa.key" 2>/dev/null
  openssl pkey -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
  chmod 600 "$pki"/*.key
}

b64() { base64 -w0 <"$1"; }

write_kubeconfig() { # write_kubeconfig FILE CERT_NAME
  local file=$1 name=$2 pki=$STATE/pki
  cat >"$file" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: chaos-k8s-bed
  cluster:
    server: https://$ADDR:$API_PORT
    certificate-authority-data: $(b64 "$pki/ca.crt")
users:
- name: $name
  user:
    client-certificate-data: $(b64 "$pki/$name.crt")
    client-key-data: $(b64 "$pki/$name.key")
contexts:
- name: chaos-k8s-bed
  context:
    cluster: chaos-k8s-bed
    user: $name
current-context: chaos-k8s-bed
KUBECONFIG
  chmod 600 "$file"
}

# api METHOD PATH [JSON]: call the API server as the admin
api() {
  local pki=$STATE/pki args=()
  if (($# > 2)); then args=(-H 'Content-Type: application/json' --data-binary "$3"); fi
  curl -sS --fail --max-time 10 --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" \
    -X "$1" "${args[@]}" "https://$ADDR:$API_PORT$2"
}

# ---------------------------------------------------------------- components

start_etcd() {
  local extra=()
  mkdir -p "$STATE/etcd"
  chmod 700 "$STATE/etcd"
  # A throwaway test store: fsync buys nothing here and costs a lot on a shared disk.
  if "$BIN/etcd" --help 2>&1 | grep -q -- '--unsafe-no-fsync'; then extra+=(--unsafe-no-fsync); fi
  start_proc etcd "$BIN/etcd" --name=bed --data-dir="$STATE/etcd/data" \
    --listen-client-urls="http://$ADDR:$ETCD_PORT" --advertise-client-urls="http://$ADDR:$ETCD_PORT" \
    --listen-peer-urls="http://$ADDR:$ETCD_PEER_PORT" --initial-advertise-peer-urls="http://$ADDR:$ETCD_PEER_PORT" \
    --initial-cluster="bed=http://$ADDR:$ETCD_PEER_PORT" --initial-cluster-state=new \
    --listen-metrics-urls='' --snapshot-count=10000 --log-level=warn "${extra[@]}"
}

etcd_healthy() { curl -sf --max-time 3 "http://$ADDR:$ETCD_PORT/health" | grep -q '"health":"true"'; }

start_apiserver() {
  local pki=$STATE/pki extra=() help
  mkdir -p "$STATE/run/apiserver"
  # Only where the gate exists and may be turned off (CHAOS_K8S_VERSION may name another release). The help is
  # read whole: grep -q leaving early would SIGPIPE it, which pipefail reports as a failure.
  help=$("$BIN/kube-apiserver" --help 2>&1 || true)
  if grep -Eq 'ExtendWebSocketsToKubelet=true\|false \((ALPHA|BETA)' <<<"$help"; then
    extra+=(--feature-gates=ExtendWebSocketsToKubelet=false)
  fi
  # For a real node (node-bed.sh): its kubelet's InternalIP (its name resolves nowhere), a client certificate the
  # kubelet accepts, and exec/attach as SPDY from here: with ExtendWebSocketsToKubelet (beta, on since 1.36) the
  # kubelet proxies websockets to cri-dockerd 0.4.3's scheme-less streaming URL over https, and cri-dockerd answers
  # plain http (Mirantis/cri-dockerd#569).
  start_proc kube-apiserver "$BIN/kube-apiserver" \
    --etcd-servers="http://$ADDR:$ETCD_PORT" \
    --bind-address="$ADDR" --secure-port="$API_PORT" --advertise-address="$ADDR" \
    --cert-dir="$STATE/run/apiserver" \
    --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
    --client-ca-file="$pki/ca.crt" \
    --requestheader-client-ca-file="$pki/front-proxy-ca.crt" --requestheader-allowed-names=front-proxy-client \
    --requestheader-username-headers=X-Remote-User --requestheader-group-headers=X-Remote-Group \
    --requestheader-extra-headers-prefix=X-Remote-Extra- \
    --proxy-client-cert-file="$pki/front-proxy-client.crt" --proxy-client-key-file="$pki/front-proxy-client.key" \
    --kubelet-client-certificate="$pki/apiserver-kubelet-client.crt" \
    --kubelet-client-key="$pki/apiserver-kubelet-client.key" \
    --kubelet-preferred-address-types=InternalIP,Hostname,InternalDNS,ExternalDNS,ExternalIP \
    --authorization-mode=Node,RBAC \
    --enable-admission-plugins=NodeRestriction \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
    --service-cluster-ip-range=10.96.0.0/16 \
    --endpoint-reconciler-type=none \
    --allow-privileged=true --profiling=false \
    --v=1 "${extra[@]}"
}

api_ready() { api GET /readyz | grep -qx ok; }

start_controller_manager() {
  local pki=$STATE/pki kc=$STATE/kubeconfig.controller-manager
  mkdir -p "$STATE/run/controller-manager"
  write_kubeconfig "$kc" controller-manager
  # '*' is every default controller: among them deployment, replicaset, daemonset, statefulset, job,
  # disruption, serviceaccount, serviceaccount-token, namespace, garbage-collector, node-lifecycle,
  # clusterrole-aggregation and root-ca-certificate-publisher.
  start_proc kube-controller-manager "$BIN/kube-controller-manager" \
    --kubeconfig="$kc" --authentication-kubeconfig="$kc" --authorization-kubeconfig="$kc" \
    --bind-address="$ADDR" --secure-port="$KCM_PORT" --cert-dir="$STATE/run/controller-manager" \
    --controllers='*' --leader-elect=false --use-service-account-credentials=true \
    --service-account-private-key-file="$pki/sa.key" --root-ca-file="$pki/ca.crt" \
    --cluster-signing-cert-file="$pki/ca.crt" --cluster-signing-key-file="$pki/ca.key" \
    --cluster-name=chaos-k8s-bed --allocate-node-cidrs=false \
    --profiling=false --v=1
}

start_scheduler() {
  local kc=$STATE/kubeconfig.scheduler
  mkdir -p "$STATE/run/scheduler"
  write_kubeconfig "$kc" scheduler
  start_proc kube-scheduler "$BIN/kube-scheduler" \
    --kubeconfig="$kc" --authentication-kubeconfig="$kc" --authorization-kubeconfig="$kc" \
    --bind-address="$ADDR" --secure-port="$SCHED_PORT" --cert-dir="$STATE/run/scheduler" \
    --leader-elect=false --profiling=false --v=1
}

start_kwok() {
  local kc=$STATE/kubeconfig.kwok stages=$STATE/kwok/stages.yaml f
  mkdir -p "$STATE/kwok/home"
  write_kubeconfig "$kc" kwok
  : >"$stages"
  for f in node-initialize node-heartbeat-with-lease pod-ready pod-complete pod-delete; do
    [[ -f $ASSETS/stages/$f.yaml ]] || die "missing KWOK stage $ASSETS/stages/$f.yaml"
    { printf -- '---\n'; cat "$ASSETS/stages/$f.yaml"; } >>"$stages"
  done
  # HOME is private so that no ~/.kwok/kwok.yaml of the user's is read.
  start_proc kwok env HOME="$STATE/kwok/home" "$BIN/kwok" --config="$stages" --kubeconfig="$kc" \
    --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
    --server-address="$ADDR:$KWOK_PORT" --node-ip="$ADDR" --node-port="$KWOK_PORT" \
    --cidr=10.244.0.0/16 --node-lease-duration-seconds=40
}

component_healthy() { # component_healthy PORT: /healthz of the controller-manager or the scheduler
  curl -sfk --max-time 3 "https://$ADDR:$1/healthz" | grep -qx ok
}

kwok_healthy() { curl -sf --max-time 3 "http://$ADDR:$KWOK_PORT/healthz" | grep -qx ok; }

node_json() {
  cat <<JSON
{"apiVersion":"v1","kind":"Node","metadata":{"name":"$1",
 "labels":{"type":"kwok","kubernetes.io/hostname":"$1","kubernetes.io/os":"linux","kubernetes.io/arch":"amd64"},
 "annotations":{"kwok.x-k8s.io/node":"fake","node.alpha.kubernetes.io/ttl":"0"}},"spec":{}}
JSON
}

create_nodes() {
  local i name
  for ((i = 0; i < NODES; i++)); do
    name=kwok-node-$i
    api GET "/api/v1/nodes/$name" >/dev/null 2>&1 && continue
    api POST /api/v1/nodes "$(node_json "$name")" >/dev/null || die "could not create node $name"
  done
}

# nodes_ready: all NODES kwok nodes report Ready=True and carry no not-ready/unreachable taint
nodes_ready() {
  api GET '/api/v1/nodes?labelSelector=type%3Dkwok' | python3 -c '
import json, sys
want = int(sys.argv[1])
items = json.load(sys.stdin)["items"]
def ready(n):
    conds = {c["type"]: c["status"] for c in n.get("status", {}).get("conditions", [])}
    taints = [t["key"] for t in n.get("spec", {}).get("taints", []) or []]
    return conds.get("Ready") == "True" and not any(
        t in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable") for t in taints)
sys.exit(0 if sum(map(ready, items)) >= want else 1)
' "$NODES"
}

default_sa_exists() { api GET /api/v1/namespaces/default/serviceaccounts/default >/dev/null; }

all_running() {
  local c
  for c in "${COMPONENTS[@]}"; do our_pid "$c" >/dev/null || return 1; done
}

is_up() { [[ -f $STATE/kubeconfig && -f $STATE/up ]] && all_running && api_ready; }

print_env() { printf 'export KUBECONFIG=%q\n' "$STATE/kubeconfig"; }

# ---------------------------------------------------------------- commands

check_tools() {
  local cmd
  for cmd in openssl curl python3 base64 setsid flock; do
    command -v "$cmd" >/dev/null || die "missing command: $cmd"
  done
  if ! [[ $NODES =~ ^[0-9]+$ ]] || ((NODES < 1 || NODES > 50)); then die "CHAOS_K8S_NODES must be 1..50"; fi
  if ! [[ $PORT_BASE =~ ^[0-9]+$ ]] || ((PORT_BASE < 1024 || PORT_BASE > 65530)); then
    die "CHAOS_K8S_PORT_BASE must be 1024..65530"
  fi
}

cmd_up() {
  local t0 p
  t0=$(now)
  check_tools
  if is_up; then
    log "already up: $(print_env)"
    return 0
  fi
  if [[ -e $STATE ]]; then
    log "stale or partial bed found in $STATE; tearing it down first"
    do_down
  fi
  cmd_build
  for p in "$ETCD_PORT" "$ETCD_PEER_PORT" "$API_PORT" "$KCM_PORT" "$SCHED_PORT" "$KWOK_PORT"; do
    port_busy "$p" && die "port $ADDR:$p is in use by another program; choose CHAOS_K8S_PORT_BASE"
  done
  mkdir -p "$STATE/logs" "$STATE/pids"
  make_pki
  start_etcd
  wait_for etcd 60 etcd_healthy || die "etcd did not become healthy; see $STATE/logs/etcd.log"
  start_apiserver
  wait_for kube-apiserver 180 api_ready || die "kube-apiserver not ready; see $STATE/logs/kube-apiserver.log"
  log "API server ready after $(elapsed "$t0") s"
  write_kubeconfig "$STATE/kubeconfig" admin
  start_controller_manager
  start_scheduler
  start_kwok
  wait_for kube-controller-manager 120 component_healthy "$KCM_PORT" ||
    die "kube-controller-manager not healthy; see $STATE/logs/kube-controller-manager.log"
  wait_for kube-scheduler 120 component_healthy "$SCHED_PORT" ||
    die "kube-scheduler not healthy; see $STATE/logs/kube-scheduler.log"
  wait_for kwok 120 kwok_healthy || die "kwok not healthy; see $STATE/logs/kwok.log"
  create_nodes
  wait_for kwok 120 nodes_ready || die "the $NODES KWOK nodes did not become Ready; see $STATE/logs/"
  wait_for kube-controller-manager 120 default_sa_exists ||
    die "no ServiceAccount default/default; see $STATE/logs/kube-controller-manager.log"
  print_env >"$STATE/env.sh"
  : >"$STATE/up"
  log "up in $(elapsed "$t0") s: API https://$ADDR:$API_PORT, $NODES nodes; $(print_env)"
}

do_down() {
  local i
  for ((i = ${#COMPONENTS[@]} - 1; i >= 0; i--)); do stop_proc "${COMPONENTS[i]}"; done
  if [[ -f $CACHE/bed-ready && $(<"$CACHE/bed-ready") == "$STATE/kubeconfig" ]]; then rm -f "$CACHE/bed-ready"; fi
  rm -rf --one-file-system "$STATE"
}

cmd_down() {
  do_down
  log "down"
}

cmd_status() {
  local c pid rc=0
  if [[ ! -d $STATE ]]; then
    echo "not up (no state in $STATE)"
    return 1
  fi
  for c in "${COMPONENTS[@]}"; do
    if pid=$(our_pid "$c"); then
      printf '%-24s running pid=%s\n' "$c" "$pid"
    else
      printf '%-24s DOWN\n' "$c"
      rc=1
    fi
  done
  if ((rc == 0)) && is_up; then
    printf 'API https://%s:%s ready; kubeconfig %s\n' "$ADDR" "$API_PORT" "$STATE/kubeconfig"
  else
    echo "not up"
    rc=1
  fi
  return "$rc"
}

cmd_env() {
  [[ -f $STATE/kubeconfig ]] || die "not up (no kubeconfig in $STATE)"
  print_env
}

find_python() {
  local venv
  if [[ -n ${CHAOS_K8S_PYTHON:-} ]]; then
    printf '%s\n' "$CHAOS_K8S_PYTHON"
    return 0
  fi
  if python3 -c 'import kubernetes' 2>/dev/null; then
    command -v python3
    return 0
  fi
  [[ -x $HERE/../../hack/toolchain.sh ]] || die "no python with the kubernetes package; set CHAOS_K8S_PYTHON"
  venv=$("$HERE/../../hack/toolchain.sh" --path core219) || die "hack/toolchain.sh --path core219 failed"
  printf '%s/bin/python\n' "$venv"
}

cmd_selftest() {
  local py
  is_up || die "not up; run '$0 up' first"
  py=$(find_python)
  "$py" -c 'import kubernetes' 2>/dev/null || die "$py lacks the kubernetes package"
  KUBECONFIG=$STATE/kubeconfig "$py" "$ASSETS/selftest.py" --nodes "$NODES" || die "selftest failed"
  mkdir -p "$CACHE"
  printf '%s\n' "$STATE/kubeconfig" >"$CACHE/bed-ready"
  log "selftest passed; marked $CACHE/bed-ready"
}

main() {
  local cmd=${1:-}
  [[ $# -gt 0 ]] && shift
  case $cmd in
    build | up | down | status | env | selftest) ;;
    -h | --help | help) usage; return 0 ;;
    *) usage >&2; return 2 ;;
  esac
  (($# == 0)) || die "usage: $0 $cmd (no arguments)"
  if [[ $cmd == up || $cmd == down || $cmd == selftest ]]; then
    mkdir -p "$(dirname "$STATE")"
    exec 9>"$STATE.lock"
    flock -w 600 9 || die "another k8s-bed.sh holds $STATE.lock"
  fi
  case $cmd in
    build) cmd_build ;;
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    env) cmd_env ;;
    selftest) cmd_selftest ;;
  esac
}

main "$@"

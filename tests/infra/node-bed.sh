#!/usr/bin/env bash
# node-bed.sh: a REAL Kubernetes node (kubelet + cri-dockerd + a dockerd of its own + CNI bridge plugins + a
# scratch pause image) joined to the control plane of tests/infra/k8s-bed.sh. Its pods run real containers,
# unlike the bed's KWOK nodes. Every binary is built from source (Go module proxy; cri-dockerd from the vendored
# tarball in the shared peers folder) and cached by version.
#
# Usage: node-bed.sh check | build | up | down | status | env
#
#   check     exit 0 iff this machine can run the node; otherwise print why and exit 3 (tests skip on it)
#   build     build kubelet, cri-dockerd (patched), Pumba, the CNI plugins and pause into $CHAOS_NODE_CACHE
#             (a no-op when they are there)
#   up        build, then start the node in a private mount namespace and wait until it is Ready; imports
#             the images registry.k8s.io/pause:3.10, chaos-node/hello:1 and chaos-node/pumba:1.1.2 (FROM
#             scratch, ENTRYPOINT /pumba: the chaos agent's image) into the node's dockerd;
#             a no-op when already up. Needs the k8s bed up (its state dir: CHAOS_K8S_BED_DIR)
#   down      drain the node, delete its Node object, stop every process `up` started (and after a crash, what
#             is left of the node), remove the bridge, the cgroups and $STATE; safe when down
#   status    exit 0 iff every process runs and the node is Ready
#   env       print export lines: CHAOS_NODE_NAME, CHAOS_NODE_IP, CHAOS_NODE_DOCKER_HOST (the node's dockerd),
#             CHAOS_NODE_IMAGE_HELLO, CHAOS_NODE_IMAGE_PUMBA, and the state dir, bridge, cgroup and net in force
#             (also when down)
#
# Environment:
#   CHAOS_NODE_BED_DIR     state dir (default /tmp/chaos-engineering-node-bed). Keep it short: the node's
#                          containerd socket path under it must fit the 107-byte unix socket limit
#   CHAOS_NODE_CACHE       binary cache (default ~/.cache/chaos-engineering/node)
#   CHAOS_SHARED_DIR       the shared folder with peers/ (the source tarballs of cri-dockerd, with its patch, and
#                          of Pumba); default:
#                          ../shared next to the checkout (or next to the main checkout of a git worktree)
#   CHAOS_K8S_BED_DIR      the control plane's state dir, as for k8s-bed.sh (default /tmp/chaos-engineering-k8s-bed)
#   CHAOS_K8S_VERSION      kubelet version, as for k8s-bed.sh (default 1.37.2)
#   CHAOS_NODE_NAME        the Node's name (default chaos-node)
#   CHAOS_NODE_PORT_BASE   kubelet +0, kubelet healthz +1, cri-dockerd streaming +2 (default 26390)
#   CHAOS_NODE_NET         first three octets of the node's /24: bridge = .1 = node IP, pods .10-.250 (default 10.77.0)
#   CHAOS_NODE_BRIDGE      the bridge's name, at most 15 characters (default chaosnode0)
#   CHAOS_NODE_CGROUP      the cgroup made under every v1 hierarchy (default chaos-node-bed)
#                          (bridge, net, cgroup and ports are machine-wide: a second node needs its own)
#   CHAOS_NODE_TAINT       the taint the node registers with, KEY=VALUE:EFFECT, empty for none (default
#                          chaos.engineering/real-node=true:NoSchedule: pods written for the KWOK nodes stay off
#                          it; a pod for the real node tolerates it and selects kubernetes.io/hostname)
#   CHAOS_NODE_BUSYBOX     a STATIC busybox for the hello image (default /bin/busybox; Debian busybox-static)
#
# What it never does to the host (a shared CI machine): no sysctl (the three the kubelet insists on are
# shadowed by plain files in the private mount namespace), no iptables rule or chain (the kubelet runs with no
# iptables on its PATH; dockerd and the CNI bridge have iptables, ip_forward and masquerading off), no mount in
# the host's mount table (everything is mounted in the namespace), no write under /var/lib (in the namespace,
# /var/lib is a folder of $STATE: the kubelet's and libcni's hard-coded /var/lib paths land there). Its dockerd
# has its own socket, roots and containerd namespace and is the only one it ever touches; cri-dockerd is patched
# not to adjust the OOM score of every dockerd/containerd on the machine.
#
# What is ours: the processes whose pids are in $STATE/pids or whose command lines name $STATE, every process in
# the mount namespace of our holder and in the cgroup above (both made by `up`, which refuses a cgroup or bridge
# that exists already), the bridge and the Node object named above.
set -euo pipefail

readonly PROG=node-bed
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly HERE
readonly ASSETS=$HERE/node
# shellcheck source=tests/infra/kube-build.sh
source "$HERE/kube-build.sh"
readonly REPO=$HERE/../..
STATE=${CHAOS_NODE_BED_DIR:-/tmp/chaos-engineering-node-bed}
STATE=${STATE%/}
readonly STATE
CACHE=${CHAOS_NODE_CACHE:-${HOME:-/root}/.cache/chaos-engineering/node}
readonly CACHE=${CACHE%/}
CP=${CHAOS_K8S_BED_DIR:-/tmp/chaos-engineering-k8s-bed}
readonly CP=${CP%/}
readonly K8S_VERSION=${CHAOS_K8S_VERSION:-1.37.2}
readonly CRI_DOCKERD_VERSION=0.4.3
readonly CRI_DOCKERD_COMMIT=d969e29f
readonly CRI_DOCKERD_TARBALL_NAME=cri-dockerd-0.4.3-d969e29.tar.gz
readonly CRI_DOCKERD_PATCH_NAME=cri-dockerd-no-foreign-oom.patch
readonly PUMBA_VERSION=1.1.2
readonly PUMBA_COMMIT=69b78e6
readonly PUMBA_TARBALL_NAME=pumba-1.1.2-69b78e6.tar.gz
readonly CNI_VERSION=v1.9.1
readonly CNI_PLUGINS=(main/bridge main/loopback ipam/host-local)
# Bump when a build recipe below changes: it is part of each binary's stamp.
readonly RECIPE_VERSION=1
readonly NODE=${CHAOS_NODE_NAME:-chaos-node}
readonly NET=${CHAOS_NODE_NET:-10.77.0}
readonly NODE_IP=$NET.1
readonly POD_CIDR=$NET.0/24
readonly BRIDGE=${CHAOS_NODE_BRIDGE:-chaosnode0}
readonly CGROOT=${CHAOS_NODE_CGROUP:-chaos-node-bed}
readonly PORT_BASE=${CHAOS_NODE_PORT_BASE:-26390}
readonly KUBELET_PORT=$((PORT_BASE + 0))
readonly KUBELET_HEALTHZ=$((PORT_BASE + 1))
readonly STREAM_PORT=$((PORT_BASE + 2))
readonly BUSYBOX=${CHAOS_NODE_BUSYBOX:-/bin/busybox}
readonly TAINT=${CHAOS_NODE_TAINT-chaos.engineering/real-node=true:NoSchedule}
readonly PAUSE_IMAGE=registry.k8s.io/pause:3.10   # cri-dockerd's default sandbox image name
readonly HELLO_IMAGE=chaos-node/hello:1
readonly PUMBA_IMAGE=chaos-node/pumba:$PUMBA_VERSION
readonly DOCKER_SOCK=$STATE/docker/docker.sock
readonly CRI_SOCK=$STATE/run/cri-dockerd.sock
readonly PROCS=(holder dockerd cri-dockerd kubelet)
# The kubelet's PATH: no /usr/sbin or /sbin (Debian: /sbin -> usr/sbin), hence no iptables. With iptables the
# kubelet's initNetworkUtil writes KUBE-IPTABLES-HINT, KUBE-KUBELET-CANARY and KUBE-FIREWALL (a DROP of
# non-loopback traffic to 127.0.0.0/8 hooked into INPUT and OUTPUT) into the HOST's tables, every minute.
readonly KUBELET_PATH=/usr/local/bin:/usr/bin:/bin

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
  awk 'NR >= 6 && /^#/ { sub(/^# ?/, ""); print; next } NR >= 6 { exit }' "${BASH_SOURCE[0]}"
}

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

shared_dir() { # the shared folder (peers/), or nothing
  local d common
  if [[ -n ${CHAOS_SHARED_DIR:-} ]]; then printf '%s\n' "${CHAOS_SHARED_DIR%/}"; return 0; fi
  d=$(cd "$REPO/.." && pwd)/shared
  if [[ -d $d/peers ]]; then printf '%s\n' "$d"; return 0; fi
  # a git worktree: next to the main checkout
  common=$(git -C "$REPO" rev-parse --path-format=absolute --git-common-dir 2>/dev/null) || return 0
  d=$(dirname "$(dirname "$common")")/shared
  [[ -d $d/peers ]] && printf '%s\n' "$d"
  return 0
}

# ---------------------------------------------------------------- build

sha8() { cat "$@" | sha256sum | cut -c1-8; } # by content only: the same in every checkout

kubelet_dir() { printf '%s/kubelet-%s-r%s\n' "$CACHE" "$K8S_VERSION" "$RECIPE_VERSION"; }
cni_dir() { printf '%s/cni-%s-r%s\n' "$CACHE" "$CNI_VERSION" "$RECIPE_VERSION"; }
pause_dir() { printf '%s/pause-%s\n' "$CACHE" "$(sha8 "$ASSETS/pause/main.go" "$ASSETS/pause/go.mod")"; }
cri_dockerd_dir() { # keyed by the tarball's and the patch's content
  local peers
  peers=$(shared_dir)/peers
  printf '%s/cri-dockerd-%s-%s-r%s\n' "$CACHE" "$CRI_DOCKERD_VERSION" \
    "$(sha8 "$peers/$CRI_DOCKERD_TARBALL_NAME" "$peers/$CRI_DOCKERD_PATCH_NAME")" "$RECIPE_VERSION"
}

pumba_dir() { # keyed by the tarball's content
  printf '%s/pumba-%s-%s-r%s\n' "$CACHE" "$PUMBA_VERSION" "$(sha8 "$(shared_dir)/peers/$PUMBA_TARBALL_NAME")" \
    "$RECIPE_VERSION"
}

KUBELET_BIN='' CRI_DOCKERD_BIN='' CNI_BIN='' PAUSE_BIN='' PUMBA_BIN=''
resolve_bins() {
  KUBELET_BIN=$(kubelet_dir)/kubelet
  CRI_DOCKERD_BIN=$(cri_dockerd_dir)/cri-dockerd
  PUMBA_BIN=$(pumba_dir)/pumba
  CNI_BIN=$(cni_dir)
  PAUSE_BIN=$(pause_dir)/pause
}

built() { [[ -x $1 && -f $1.ok ]]; } # built BINARY: the build finished (the .ok marker is written last)

build_kubelet() { # the recipe of kube-build.sh, as k8s-bed.sh builds (the bed's packages come from the Go build cache)
  local dir src ldflags t0
  dir=$(kubelet_dir)
  src=$dir/src
  t0=$(now)
  log "building kubelet v$K8S_VERSION (warm Go build cache from the bed: ~1-4 min; cold: 15-25 min)"
  rm -rf "$dir"
  write_kube_module "$src" k8s.io/kubernetes/cmd/kubelet
  (cd "$src" && gobuild mod tidy >/dev/null) || die "go mod tidy for kubelet v$K8S_VERSION failed"
  ldflags=$(kube_ldflags)
  (cd "$src" && gobuild build -p 2 -trimpath -ldflags "$ldflags" -o "$dir/kubelet" k8s.io/kubernetes/cmd/kubelet) ||
    die "go build of kubelet v$K8S_VERSION failed"
  "$dir/kubelet" --version | grep -qx "Kubernetes v$K8S_VERSION" || die "kubelet --version: $("$dir/kubelet" --version 2>&1)"
  rm -rf "$src"
  : >"$dir/kubelet.ok"
  log "built kubelet v$K8S_VERSION in $(elapsed "$t0") s"
}

build_cri_dockerd() { # vendored source (the Go module proxy answers 403 for it) + the patch: no network needed
  local dir peers src t0
  dir=$(cri_dockerd_dir)
  peers=$(shared_dir)/peers
  t0=$(now)
  log "building cri-dockerd $CRI_DOCKERD_VERSION from $peers (cold Go cache: ~9 min; warm: ~25 s)"
  rm -rf "$dir"
  mkdir -p "$dir/src"
  tar -xzf "$peers/$CRI_DOCKERD_TARBALL_NAME" -C "$dir/src"
  src=$dir/src/cri-dockerd-$CRI_DOCKERD_VERSION
  [[ -d $src ]] || die "$CRI_DOCKERD_TARBALL_NAME has no cri-dockerd-$CRI_DOCKERD_VERSION/ folder"
  # the patch: no oom_score_adj (or cgroup move) of every process named dockerd/containerd on the machine
  patch -s -d "$src" -p0 <"$peers/$CRI_DOCKERD_PATCH_NAME" || die "$CRI_DOCKERD_PATCH_NAME does not apply"
  (cd "$src" && gobuild build -mod=vendor -p 2 -trimpath \
    -ldflags "-s -w -X github.com/Mirantis/cri-dockerd/cmd/version.Version=$CRI_DOCKERD_VERSION -X github.com/Mirantis/cri-dockerd/cmd/version.GitCommit=$CRI_DOCKERD_COMMIT" \
    -o "$dir/cri-dockerd" .) || die "go build of cri-dockerd failed"
  "$dir/cri-dockerd" --version 2>&1 | grep -q "$CRI_DOCKERD_VERSION" || die "cri-dockerd --version: $("$dir/cri-dockerd" --version 2>&1)"
  rm -rf "$dir/src"
  : >"$dir/cri-dockerd.ok"
  log "built cri-dockerd $CRI_DOCKERD_VERSION in $(elapsed "$t0") s"
}

build_pumba() { # the pinned source tarball; its modules come from the Go module proxy. Static: a FROM scratch image
  local dir src t0
  dir=$(pumba_dir)
  t0=$(now)
  log "building Pumba $PUMBA_VERSION (modules not yet in the Go module cache: ~1 min; warm: seconds)"
  rm -rf "$dir"
  mkdir -p "$dir/src"
  tar -xzf "$(shared_dir)/peers/$PUMBA_TARBALL_NAME" -C "$dir/src"
  src=$dir/src/pumba-$PUMBA_VERSION
  [[ -d $src ]] || die "$PUMBA_TARBALL_NAME has no pumba-$PUMBA_VERSION/ folder"
  # the Makefile's version stamp (otherwise `pumba --version` says "local - [none:none] none")
  (cd "$src" && gobuild build -p 2 -trimpath \
    -ldflags "-s -w -X main.version=$PUMBA_VERSION -X main.commit=$PUMBA_COMMIT -X main.branch=master -X main.buildTime=1970-01-01T00:00:00Z" \
    -o "$dir/pumba" ./cmd) || die "go build of Pumba failed"
  "$dir/pumba" --version 2>&1 | grep -q "$PUMBA_VERSION" || die "pumba --version: $("$dir/pumba" --version 2>&1)"
  rm -rf "$dir/src"
  : >"$dir/pumba.ok"
  log "built Pumba $PUMBA_VERSION in $(elapsed "$t0") s"
}

build_cni() {
  local dir p t0
  dir=$(cni_dir)
  t0=$(now)
  log "building the CNI plugins $CNI_VERSION"
  rm -rf "$dir"
  mkdir -p "$dir"
  for p in "${CNI_PLUGINS[@]}"; do
    GOBIN=$dir gobuild install -p 2 -trimpath \
      -ldflags "-s -w -X github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion=$CNI_VERSION" \
      "github.com/containernetworking/plugins/plugins/$p@$CNI_VERSION" || die "go install of CNI $p failed"
  done
  : >"$dir/bridge.ok"
  log "built the CNI plugins in $(elapsed "$t0") s"
}

build_pause() { # our static pause (node/pause): the pod sandbox, and the holder of the private mount namespace
  local dir
  dir=$(pause_dir)
  rm -rf "$dir"
  mkdir -p "$dir"
  (cd "$ASSETS/pause" && gobuild build -trimpath -ldflags "-s -w" -o "$dir/pause" .) || die "go build of pause failed"
  : >"$dir/pause.ok"
}

cmd_build() {
  local t0
  check_or_die
  resolve_bins
  built "$KUBELET_BIN" && built "$CRI_DOCKERD_BIN" && built "$CNI_BIN/bridge" && built "$PAUSE_BIN" &&
    built "$PUMBA_BIN" && return 0
  mkdir -p "$CACHE"
  exec 8>"$CACHE/build.lock"
  flock -w 3600 8 || die "another build holds $CACHE/build.lock"
  t0=$(now)
  built "$PAUSE_BIN" || build_pause
  built "$CNI_BIN/bridge" || build_cni
  built "$CRI_DOCKERD_BIN" || build_cri_dockerd
  built "$PUMBA_BIN" || build_pumba
  built "$KUBELET_BIN" || build_kubelet
  exec 8>&-
  log "binaries ready in $CACHE ($(elapsed "$t0") s)"
}

# ---------------------------------------------------------------- checks

# why_not: print every reason this machine cannot run the node (nothing when it can)
why_not() {
  local shared c
  shared=$(shared_dir)
  if [[ -z $shared ]]; then
    echo "no shared folder with peers/ (cri-dockerd's source is not on the Go module proxy): set CHAOS_SHARED_DIR"
  else
    for c in "$CRI_DOCKERD_TARBALL_NAME" "$CRI_DOCKERD_PATCH_NAME" "$PUMBA_TARBALL_NAME"; do
      [[ -f $shared/peers/$c ]] || echo "missing $shared/peers/$c"
    done
  fi
  for c in go dockerd runc unshare nsenter setsid flock ip openssl curl python3 patch tar; do
    command -v "$c" >/dev/null || echo "missing command: $c"
  done
  ((EUID == 0)) || echo "needs root (mount namespace, bridge, cgroups)"
  # a mount point in the namespace for dockerd's key.json (a missing one would be created on the host)
  [[ -d /etc/docker ]] || echo "no /etc/docker (Debian: docker.io)"
  [[ $(stat -f -c %T /sys/fs/cgroup 2>/dev/null) == tmpfs ]] ||
    echo "only a cgroup v1 (or hybrid) host has been tried; /sys/fs/cgroup is not a v1 tmpfs"
  if [[ -x $BUSYBOX ]]; then
    file -L "$BUSYBOX" 2>/dev/null | grep -q 'statically linked' ||
      echo "$BUSYBOX is not a static busybox (Debian: busybox-static), set CHAOS_NODE_BUSYBOX"
  else
    echo "no busybox at $BUSYBOX (Debian: busybox-static), set CHAOS_NODE_BUSYBOX"
  fi
  [[ -z $TAINT || $TAINT =~ ^[A-Za-z0-9./_-]+=[A-Za-z0-9._-]*:(NoSchedule|PreferNoSchedule|NoExecute)$ ]] ||
    echo "CHAOS_NODE_TAINT '$TAINT' is not KEY=VALUE:EFFECT"
  ((${#BRIDGE} <= 15)) || echo "CHAOS_NODE_BRIDGE '$BRIDGE' is longer than 15 characters"
  [[ $NET =~ ^[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$ ]] || echo "CHAOS_NODE_NET '$NET' is not three octets"
  if ! [[ $PORT_BASE =~ ^[0-9]+$ ]] || ((PORT_BASE < 1024 || PORT_BASE > 65530)); then
    echo "CHAOS_NODE_PORT_BASE must be 1024..65530"
  fi
  # the longest socket path we make: dockerd's containerd ttrpc socket
  c=$STATE/docker/exec/containerd/containerd.sock.ttrpc
  ((${#c} <= 107)) || echo "CHAOS_NODE_BED_DIR is too long for unix sockets ($c)"
}

check_or_die() {
  local reasons
  reasons=$(why_not)
  [[ -z $reasons ]] || die "this machine cannot run the node: $(printf '%s' "$reasons" | paste -sd ';' | sed 's/;/; /g')"
}

cmd_check() {
  local reasons
  reasons=$(why_not)
  if [[ -n $reasons ]]; then printf '%s\n' "$reasons"; return 3; fi
  echo "ok"
}

# ---------------------------------------------------------------- processes

pid_file() { printf '%s/pids/%s.pid\n' "$STATE" "$1"; }

our_pid() { # our_pid NAME: print the pid of NAME if it runs and is ours (its command names $STATE)
  local f pid cmdline
  f=$(pid_file "$1")
  [[ -f $f ]] || return 1
  pid=$(<"$f")
  [[ $pid =~ ^[0-9]+$ && -r /proc/$pid/cmdline ]] || return 1
  # read whole, then matched: `tr | grep -q` fails under pipefail when grep quits first; a failed read (an exec
  # under way) is a miss, and the callers look again
  cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  [[ $cmdline == *"$STATE/"* ]] || return 1
  printf '%s\n' "$pid"
}

holder_in_own_ns() { # the holder runs pause, past its unshare (setsid -> unshare -> pause: one pid, three execs)
  local p
  p=$(our_pid holder) || return 1
  [[ $(readlink "/proc/$p/exe") == "$(readlink -f "$PAUSE_BIN")" ]] || return 1
  [[ $(readlink "/proc/$p/ns/mnt") != "$(readlink /proc/self/ns/mnt)" ]]
}

in_ns() { nsenter --target "$(our_pid holder)" --mount -- "$@"; }

start_in_ns() { # start_in_ns NAME CMD...: run detached in the mount namespace, log to $STATE/logs/NAME.log
  local name=$1 holder pid i
  shift
  holder=$(our_pid holder) || die "the mount-namespace holder is not running"
  log "starting $name"
  # setsid and nsenter exec (no fork), so $! is the component itself once it has exec'd
  setsid nsenter --target "$holder" --mount -- "$@" </dev/null >>"$STATE/logs/$name.log" 2>&1 8>&- 9>&- &
  pid=$!
  printf '%s\n' "$pid" >"$(pid_file "$name")"
  for ((i = 0; i < 200; i++)); do # until it has exec'd, /proc/PID/cmdline is still ours
    our_pid "$name" >/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.05
  done
}

stop_proc() { # stop_proc NAME: TERM, then KILL after 20 s; only our own process
  local name=$1 pid i
  pid=$(our_pid "$name") || { rm -f "$(pid_file "$name")"; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 200; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "warning: $name (pid $pid) ignored SIGTERM; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$(pid_file "$name")"
}

leftover_pids() { # every process still ours once the daemons are stopped (never this script)
  local ns p cmd comm
  # in our mount namespace: containerd, its shims (only while the holder lives: a dead namespace's inode number
  # can be reused by someone else's)
  if our_pid holder >/dev/null && [[ -f $STATE/mntns ]]; then
    ns=$(<"$STATE/mntns")
    for p in /proc/[0-9]*; do
      [[ $(readlink "$p/ns/mnt" 2>/dev/null) == "$ns" ]] && printf '%s\n' "${p#/proc/}"
    done
  fi
  # our daemons by name whose command line names the state dir (the shims after a crash of the holder; not,
  # say, someone's `tail -f` of a log here)
  for p in /proc/[0-9]*; do
    { read -r comm <"$p/comm"; } 2>/dev/null || continue
    case $comm in
      containerd | containerd-shim* | dockerd | cri-dockerd | kubelet | pause) ;;
      *) continue ;;
    esac
    cmd=$(tr '\0' ' ' <"$p/cmdline" 2>/dev/null) || continue
    [[ $cmd == *"$STATE/"* ]] && printf '%s\n' "${p#/proc/}"
  done
  # in our cgroups: the pods' processes (each in a mount namespace of its own) and docker's containers
  if [[ -f $STATE/created-cgroup ]]; then
    find /sys/fs/cgroup/*/"$CGROOT" -name cgroup.procs -exec cat {} + 2>/dev/null
  fi
  return 0
}

kill_leftovers() {
  local pids i p alive
  pids=$(leftover_pids | grep -vxE "$$|$(our_pid holder 2>/dev/null || echo none)" | sort -un || true)
  [[ -n $pids ]] || return 0
  log "warning: killing processes of the node left running: $(paste -sd ' ' <<<"$pids")"
  # shellcheck disable=SC2086
  kill -KILL $pids 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do # until they are gone (or zombies: dead, only not yet reaped by their parent)
    alive=0
    for p in $pids; do running "$p" && { alive=1; break; }; done
    ((alive)) || return 0
    sleep 0.1
  done
  log "warning: processes still running after SIGKILL: $pids"
}

running() { # running PID: exists and is no zombie
  local st
  st=$(awk '/^State:/ { print $2 }' "/proc/$1/status" 2>/dev/null) || return 1
  [[ -n $st && $st != Z ]]
}

wait_for() { # wait_for NAME SECONDS CMD...: poll CMD; fail early if NAME (unless -) died
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

port_busy() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

sock_answers() { python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.settimeout(2); s.connect(sys.argv[1])' "$1"; }

dk() { docker -H "unix://$DOCKER_SOCK" "$@"; }

# ---------------------------------------------------------------- the control plane's API (as its admin)

api_server() { awk '$1 == "server:" { print $2; exit }' "$CP/kubeconfig"; }

api() { # api METHOD PATH [JSON]; a PATCH is a JSON merge patch
  local pki=$CP/pki args=() type=application/json
  [[ $1 == PATCH ]] && type=application/merge-patch+json
  if (($# > 2)); then args=(-H "Content-Type: $type" --data-binary "$3"); fi
  curl -sS --fail --max-time 10 --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" \
    -X "$1" "${args[@]}" "$(api_server)$2"
}

control_plane_up() { [[ -f $CP/kubeconfig && -f $CP/pki/ca.key && -f $CP/pki/admin.crt ]] && api GET /readyz >/dev/null; }

node_ready() {
  api GET "/api/v1/nodes/$NODE" | python3 -c '
import json, sys
conds = {c["type"]: c["status"] for c in json.load(sys.stdin).get("status", {}).get("conditions", [])}
sys.exit(0 if conds.get("Ready") == "True" else 1)'
}

pods_on_node() { # "namespace name" of every pod bound to our node
  api GET "/api/v1/pods?fieldSelector=spec.nodeName%3D$NODE" | python3 -c '
import json, sys
for p in json.load(sys.stdin)["items"]:
    print(p["metadata"]["namespace"], p["metadata"]["name"])'
}

node_has_no_pods() { [[ -z $(pods_on_node) ]]; }

# ---------------------------------------------------------------- the node

setup_holder() { # the private mount namespace, held by our pause (its argument names $STATE, so our_pid knows it)
  local p
  mkdir -p "$STATE/sysctl" "$STATE/varlog" "$STATE/etc-docker" "$STATE/varlib/kubelet" "$STATE/varlib/cni"
  # the values the kubelet wants (it would otherwise SET them on the host: 0 -> 1, 1 -> 10, 0 -> 1)
  echo 1 >"$STATE/sysctl/overcommit_memory"
  echo 10 >"$STATE/sysctl/panic"
  echo 1 >"$STATE/sysctl/panic_on_oops"
  log "starting holder"
  setsid unshare --mount --propagation private "$PAUSE_BIN" "$STATE/holder" </dev/null >/dev/null 2>&1 8>&- 9>&- &
  printf '%s\n' "$!" >"$(pid_file holder)"
  # (a bare p=$(our_pid holder) read while the holder was between two execs ended `up` silently under set -e)
  wait_for - 10 holder_in_own_ns || die "the mount-namespace holder did not start in a mount namespace of its own"
  p=$(our_pid holder) || die "the mount-namespace holder is gone"
  readlink "/proc/$p/ns/mnt" >"$STATE/mntns"
  in_ns mount --bind "$STATE/sysctl/overcommit_memory" /proc/sys/vm/overcommit_memory
  in_ns mount --bind "$STATE/sysctl/panic" /proc/sys/kernel/panic
  in_ns mount --bind "$STATE/sysctl/panic_on_oops" /proc/sys/kernel/panic_on_oops
  in_ns mount --bind "$STATE/varlog" /var/log        # the kubelet hard-codes /var/log/containers
  in_ns mount --bind "$STATE/etc-docker" /etc/docker # dockerd's key.json
  # /var/lib: the kubelet hard-codes /var/lib/kubelet/device-plugins (ignores --root-dir), libcni defaults to
  # /var/lib/cni. In the namespace all of /var/lib is a folder of ours, so nothing is created on the host, not even
  # a mount point; every other path the node uses is set to $STATE explicitly.
  in_ns mount --bind "$STATE/varlib" /var/lib
}

setup_net() {
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" type bridge
    : >"$STATE/created-bridge"
  fi
  [[ -f $STATE/created-bridge ]] || die "bridge $BRIDGE exists and is not ours; choose CHAOS_NODE_BRIDGE"
  ip addr replace "$NODE_IP/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up
}

setup_cgroups() { # /$CGROOT in every v1 hierarchy (cpuset copied from the root): kubelet cgroupRoot, docker's parent
  local c
  if [[ -d /sys/fs/cgroup/memory/$CGROOT && ! -f $STATE/created-cgroup ]]; then
    die "cgroup /$CGROOT exists and is not ours; choose CHAOS_NODE_CGROUP"
  fi
  : >"$STATE/created-cgroup" # every process in it is ours: down kills what is left there
  for c in /sys/fs/cgroup/*/; do
    c=${c%/}
    [[ $(stat -f -c %T "$c") == cgroup2fs ]] && continue # hybrid mode's (empty) unified hierarchy
    mkdir -p "$c/$CGROOT"
  done
  cat /sys/fs/cgroup/cpuset/cpuset.cpus >"/sys/fs/cgroup/cpuset/$CGROOT/cpuset.cpus"
  cat /sys/fs/cgroup/cpuset/cpuset.mems >"/sys/fs/cgroup/cpuset/$CGROOT/cpuset.mems"
}

start_dockerd() {
  mkdir -p "$STATE/bin" "$STATE/docker/data" "$STATE/docker/exec"
  install -m 0755 "$ASSETS/runc-no-negative-oom" "$STATE/bin/runc-no-negative-oom"
  echo '{}' >"$STATE/docker/daemon.json" # not /etc/docker/daemon.json
  start_in_ns dockerd dockerd --config-file "$STATE/docker/daemon.json" --host "unix://$DOCKER_SOCK" \
    --data-root "$STATE/docker/data" --exec-root "$STATE/docker/exec" --pidfile "$STATE/docker/docker.pid" \
    --bridge none --iptables=false --ip-forward=false --ip-masq=false --userland-proxy=false \
    --exec-opt native.cgroupdriver=cgroupfs --cgroup-parent "/$CGROOT/docker" \
    --add-runtime "no-negative-oom=$STATE/bin/runc-no-negative-oom" --default-runtime no-negative-oom \
    --containerd-namespace "$CGROOT" --containerd-plugins-namespace "$CGROOT-plugins" \
    --storage-driver overlay2 --log-driver json-file --log-opt max-size=10m
  wait_for dockerd 60 dk info || die "dockerd did not answer; see $STATE/logs/dockerd.log"
}

import_images() { # FROM scratch, out of local binaries: no registry can be reached
  local d=$STATE/images a
  rm -rf "$d"
  mkdir -p "$d/pause" "$d/hello/bin" "$d/hello/www/cgi-bin" "$d/hello/tmp"
  cp "$PAUSE_BIN" "$d/pause/pause"
  tar -C "$d/pause" -c . | dk import --change 'ENTRYPOINT ["/pause"]' - "$PAUSE_IMAGE" >/dev/null
  # hello: busybox httpd on :8080; / answers a fixed page, /cgi-bin/host the pod's name
  cp "$BUSYBOX" "$d/hello/bin/busybox"
  for a in sh hostname httpd sleep cat wget; do ln -s busybox "$d/hello/bin/$a"; done
  echo 'hello from a real node' >"$d/hello/www/index.html"
  printf '#!/bin/sh\nprintf "Content-Type: text/plain\\r\\n\\r\\n"\nhostname\n' >"$d/hello/www/cgi-bin/host"
  chmod 755 "$d/hello/www/cgi-bin/host"
  tar -C "$d/hello" -c . | dk import --change 'ENTRYPOINT ["/bin/busybox", "httpd", "-f", "-p", "8080", "-h", "/www"]' \
    --change 'ENV PATH=/bin' - "$HELLO_IMAGE" >/dev/null
  # the chaos agent: Pumba alone, static (the k8s_agent module's default command runs it)
  mkdir -p "$d/pumba"
  cp "$PUMBA_BIN" "$d/pumba/pumba"
  tar -C "$d/pumba" -c . | dk import --change 'ENTRYPOINT ["/pumba"]' - "$PUMBA_IMAGE" >/dev/null
  rm -rf "$d"
}

write_cni_conf() { # CNI bridge without gateway/masquerade: no ip_forward write, no iptables rule
  mkdir -p "$STATE/cni/cache" "$STATE/cni/ipam" "$STATE/cni/net.d"
  cat >"$STATE/cni/net.d/10-$CGROOT.conflist" <<JSON
{
  "cniVersion": "1.0.0",
  "name": "$CGROOT",
  "plugins": [
    {
      "type": "bridge", "bridge": "$BRIDGE",
      "isGateway": false, "isDefaultGateway": false, "ipMasq": false, "hairpinMode": false,
      "ipam": {
        "type": "host-local", "dataDir": "$STATE/cni/ipam",
        "ranges": [[{"subnet": "$POD_CIDR", "rangeStart": "$NET.10", "rangeEnd": "$NET.250"}]],
        "routes": []
      }
    }
  ]
}
JSON
}

start_cri_dockerd() {
  write_cni_conf
  mkdir -p "$STATE/run" "$STATE/cri-dockerd"
  rm -f "$CRI_SOCK" # a stale socket file would pass for a live one
  start_in_ns cri-dockerd "$CRI_DOCKERD_BIN" --container-runtime-endpoint "unix://$CRI_SOCK" \
    --docker-endpoint "unix://$DOCKER_SOCK" --cri-dockerd-root-directory "$STATE/cri-dockerd" \
    --network-plugin cni --cni-bin-dir "$CNI_BIN" --cni-conf-dir "$STATE/cni/net.d" \
    --cni-cache-dir "$STATE/cni/cache" --pod-infra-container-image "$PAUSE_IMAGE" --hairpin-mode none \
    --streaming-bind-addr "127.0.0.1:$STREAM_PORT" --log-level info
  wait_for cri-dockerd 60 sock_answers "$CRI_SOCK" || die "cri-dockerd does not listen; see $STATE/logs/cri-dockerd.log"
}

kubelet_pki() { # a client certificate from the bed's CA: the Node authorizer and NodeRestriction accept it
  local k=$STATE/kubelet pki=$CP/pki
  mkdir -p "$k/pki"
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$k/pki/kubelet-client.key" 2>/dev/null
  openssl req -new -key "$k/pki/kubelet-client.key" -subj "/O=system:nodes/CN=system:node:$NODE" \
    -out "$k/pki/kubelet-client.csr" 2>/dev/null
  printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n' \
    >"$k/pki/ext"
  openssl x509 -req -in "$k/pki/kubelet-client.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" \
    -set_serial "0x$(openssl rand -hex 16)" -days 30 -sha256 -extfile "$k/pki/ext" \
    -out "$k/pki/kubelet-client.crt" 2>/dev/null || die "could not sign the kubelet's certificate with $pki/ca.key"
  rm -f "$k/pki/kubelet-client.csr" "$k/pki/ext"
  chmod 600 "$k/pki/kubelet-client.key"
  cat >"$k/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: chaos-k8s-bed
  cluster: {server: "$(api_server)", certificate-authority: "$pki/ca.crt"}
users:
- name: kubelet
  user: {client-certificate: "$k/pki/kubelet-client.crt", client-key: "$k/pki/kubelet-client.key"}
contexts:
- name: chaos-k8s-bed
  context: {cluster: chaos-k8s-bed, user: kubelet}
current-context: chaos-k8s-bed
EOF
  chmod 600 "$k/kubeconfig"
}

taint_config() { # registerWithTaints for KubeletConfiguration, from KEY=VALUE:EFFECT
  [[ -n $TAINT ]] || return 0
  local key=${TAINT%%=*} rest=${TAINT#*=}
  printf 'registerWithTaints:\n- {key: "%s", value: "%s", effect: "%s"}\n' "$key" "${rest%%:*}" "${rest##*:}"
}

start_kubelet() {
  local k=$STATE/kubelet
  kubelet_pki
  mkdir -p "$k/lib" "$k/pod-logs" "$k/volume-plugins"
  # failCgroupV1: kubelet 1.37 refuses v1 otherwise. protectKernelDefaults false + the shadowed sysctls: it
  # "sets" them inside the namespace only. Only clients with a certificate of the bed's CA (the API server's
  # kubelet client certificate, for logs/exec) are let in, and then allowed everything (no webhook round trip).
  # podLogsDir (not podLogsDirectory: silently ignored), volumePluginDir: otherwise under /var/log, /usr/libexec.
  # imageGC at 99 %: imported images cannot be pulled back.
  cat >"$k/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: $KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $KUBELET_HEALTHZ
containerRuntimeEndpoint: unix://$CRI_SOCK
imageServiceEndpoint: unix://$CRI_SOCK
cgroupDriver: cgroupfs
cgroupRoot: /$CGROOT
cgroupsPerQOS: true
enforceNodeAllocatable: [pods]
failCgroupV1: false
failSwapOn: false
protectKernelDefaults: false
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: "$CP/pki/ca.crt"}
authorization: {mode: AlwaysAllow}
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
podCIDR: $POD_CIDR
maxPods: 30
podLogsDir: "$k/pod-logs"
volumePluginDir: "$k/volume-plugins"
serializeImagePulls: false
imageGCHighThresholdPercent: 99
imageGCLowThresholdPercent: 98
evictionHard: {memory.available: 100Mi, nodefs.available: 2%, imagefs.available: 2%, nodefs.inodesFree: 2%}
nodeStatusUpdateFrequency: 10s
syncFrequency: 30s
fileCheckFrequency: 20s
rotateCertificates: false
serverTLSBootstrap: false
$(taint_config)
EOF
  if env -i PATH="$KUBELET_PATH" sh -c 'command -v iptables || command -v ip6tables' >/dev/null 2>&1; then
    die "iptables is reachable on the kubelet's PATH ($KUBELET_PATH): it would write KUBE-* chains on the host"
  fi
  start_in_ns kubelet env -i PATH="$KUBELET_PATH" HOME="$k" "$KUBELET_BIN" --config="$k/config.yaml" \
    --kubeconfig="$k/kubeconfig" --root-dir="$k/lib" --cert-dir="$k/pki" --hostname-override="$NODE" \
    --node-ip="$NODE_IP" --node-labels="chaos.engineering/real-node=true" --v=2
  wait_for kubelet 120 curl -sf --max-time 3 "http://127.0.0.1:$KUBELET_HEALTHZ/healthz" ||
    die "kubelet not healthy; see $STATE/logs/kubelet.log"
}

all_running() {
  local c
  for c in "${PROCS[@]}"; do our_pid "$c" >/dev/null || return 1; done
}

is_up() { [[ -f $STATE/up ]] && all_running && node_ready; }

print_env() {
  printf 'export CHAOS_NODE_BED_DIR=%q\n' "$STATE"
  printf 'export CHAOS_NODE_NAME=%q\n' "$NODE"
  printf 'export CHAOS_NODE_IP=%q\n' "$NODE_IP"
  printf 'export CHAOS_NODE_DOCKER_HOST=%q\n' "unix://$DOCKER_SOCK"
  printf 'export CHAOS_NODE_IMAGE_HELLO=%q\n' "$HELLO_IMAGE"
  printf 'export CHAOS_NODE_IMAGE_PUMBA=%q\n' "$PUMBA_IMAGE"
  printf 'export CHAOS_NODE_BRIDGE=%q\n' "$BRIDGE"
  printf 'export CHAOS_NODE_CGROUP=%q\n' "$CGROOT"
  printf 'export CHAOS_NODE_NET=%q\n' "$NET"
  printf 'export CHAOS_NODE_TAINT=%q\n' "$TAINT"
}

cmd_up() {
  local t0 t1 p
  t0=$(now)
  check_or_die
  control_plane_up || die "the k8s bed in $CP is not up (tests/infra/k8s-bed.sh up, same CHAOS_K8S_BED_DIR)"
  if is_up; then
    log "already up: node $NODE"
    return 0
  fi
  if [[ -e $STATE ]]; then
    log "stale or partial node found in $STATE; tearing it down first"
    do_down
  fi
  cmd_build
  # (the kubelet's own port is on the node IP, which exists only once the bridge does; a wildcard listener on it
  # shows on 127.0.0.1 too)
  for p in "$KUBELET_PORT" "$KUBELET_HEALTHZ" "$STREAM_PORT"; do
    port_busy 127.0.0.1 "$p" && die "port 127.0.0.1:$p is in use by another program; choose CHAOS_NODE_PORT_BASE"
  done
  api GET "/api/v1/nodes/$NODE" >/dev/null 2>&1 && die "the cluster already has a node $NODE that is not ours"
  mkdir -p "$STATE/logs" "$STATE/pids"
  t1=$(now)
  setup_holder
  setup_net
  setup_cgroups
  start_dockerd
  import_images
  start_cri_dockerd
  start_kubelet
  wait_for kubelet 180 node_ready || die "node $NODE not Ready; see $STATE/logs/kubelet.log"
  : >"$STATE/up"
  log "node $NODE Ready $(elapsed "$t1") s after the start (up took $(elapsed "$t0") s)"
}

remove_containers() {
  local ids
  our_pid dockerd >/dev/null || return 0
  ids=$(dk ps -aq 2>/dev/null) || return 0
  # shellcheck disable=SC2086
  [[ -z $ids ]] || dk rm -f $ids >/dev/null 2>&1 || log "warning: could not remove every container"
}

do_down() {
  local c
  if our_pid kubelet >/dev/null && control_plane_up; then
    # drain: the kubelet tears the pods' sandboxes down through CNI (host-local leases, veths)
    api PATCH "/api/v1/nodes/$NODE" '{"spec":{"unschedulable":true}}' >/dev/null 2>&1 || true
    pods_on_node 2>/dev/null | while read -r ns name; do
      api DELETE "/api/v1/namespaces/$ns/pods/$name" >/dev/null 2>&1 || true
    done
    wait_for - 60 node_has_no_pods || log "warning: pods still on $NODE after 60 s"
  fi
  stop_proc kubelet # first, so it recreates nothing we remove
  # the Node is ours once `up` got past its checks (they refuse a Node of that name that exists)
  if [[ -d $STATE/pids ]] && control_plane_up; then api DELETE "/api/v1/nodes/$NODE" >/dev/null 2>&1 || true; fi
  remove_containers
  stop_proc cri-dockerd
  stop_proc dockerd
  kill_leftovers # after a crash: shims, containers, pods
  stop_proc holder # the last process in the namespace: its mounts go with it
  if [[ -f $STATE/created-bridge ]] && ip link show "$BRIDGE" >/dev/null 2>&1; then ip link del "$BRIDGE"; fi
  for c in /sys/fs/cgroup/*/"$CGROOT"; do # deepest first
    [[ -f $STATE/created-cgroup && -d $c ]] || continue
    find "$c" -depth -type d -exec rmdir {} \; 2>/dev/null || log "warning: could not remove all of $c"
  done
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
  for c in "${PROCS[@]}"; do
    if pid=$(our_pid "$c"); then
      printf '%-12s running pid=%s rss=%s kB\n' "$c" "$pid" "$(awk '/^VmRSS/ { print $2 }' "/proc/$pid/status")"
    else
      printf '%-12s DOWN\n' "$c"
      rc=1
    fi
  done
  if ((rc == 0)) && control_plane_up && is_up; then
    printf 'node %s Ready, IP %s, docker %s\n' "$NODE" "$NODE_IP" "unix://$DOCKER_SOCK"
  else
    echo "not up"
    rc=1
  fi
  return "$rc"
}

cmd_env() { print_env; } # the configuration in force, up or not (a test records the host before `up`)

main() {
  local cmd=${1:-}
  [[ $# -gt 0 ]] && shift
  case $cmd in
    check | build | up | down | status | env) ;;
    -h | --help | help) usage; return 0 ;;
    *) usage >&2; return 2 ;;
  esac
  (($# == 0)) || die "usage: $0 $cmd (no arguments)"
  resolve_bins_safe
  if [[ $cmd == up || $cmd == down ]]; then
    mkdir -p "$(dirname "$STATE")"
    exec 9>"$STATE.lock"
    flock -w 600 9 || die "another node-bed.sh holds $STATE.lock"
  fi
  case $cmd in
    check) cmd_check ;;
    build) cmd_build ;;
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    env) cmd_env ;;
  esac
}

resolve_bins_safe() { # the binaries' paths, when the sources that key them are there (check reports it otherwise)
  local peers
  peers=$(shared_dir)/peers
  [[ -f $peers/$CRI_DOCKERD_TARBALL_NAME && -f $peers/$CRI_DOCKERD_PATCH_NAME && -f $peers/$PUMBA_TARBALL_NAME ]] &&
    resolve_bins
  return 0
}

main "$@"

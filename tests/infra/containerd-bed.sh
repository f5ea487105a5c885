#!/usr/bin/env bash
# containerd-bed.sh: a private containerd (Debian's containerd 1.6) for the containerd runtime's integration
# tests: its own config, root, state and socket under a state dir, never the system's /run/containerd; no CRI
# plugin. The test images (chaos-busybox, chaos-nethelper, chaos-stresshelper) come from the Docker bed's image cache.
#
# Usage: containerd-bed.sh up | down | status | env | run ID [--label K=V]... [-- CMD...] | rm ID
#
#   up       start containerd and import the test images into namespace k8s.io; idempotent
#   down     remove our containers, stop containerd, delete our netns/veths/bridge and the state dir
#   status   exit 0 when our containerd answers
#   env      print export lines: CHAOS_CONTAINERD_SOCKET, CHAOS_CONTAINERD_NAMESPACE, CHAOS_CONTAINERD_DIR
#   run      create container ID from chaos-busybox (ctr run -d) with its own netns + veth on our bridge;
#            the labels are the container's (io.kubernetes.* for a Kubernetes-style name); CMD defaults to
#            a shell that notes the signals it gets in $STATE/out/ID/signals and exits on TERM
#   rm       remove container ID (its task killed, our stress helpers on it first) and its netns
#
# Environment:
#   CHAOS_CONTAINERD_DIR     state dir (default /tmp/ce-containerd)
#   CHAOS_CONTAINERD_SUBNET  first three octets of the bridge /24 (default 10.239.7)
#   CHAOS_BED_CACHE          the Docker bed's image tarball cache (default ~/.cache/chaos-engineering/images)
#
# Names that are ours: bridge cectrd0, netns cectrd-<ID>, host-side veths cectrd<N>, processes whose command
# line names our state dir. Nothing else is touched.
set -euo pipefail

readonly PROG=containerd-bed
STATE=${CHAOS_CONTAINERD_DIR:-/tmp/ce-containerd}
STATE=${STATE%/}
readonly STATE
readonly SOCK=$STATE/containerd.sock
readonly NS=k8s.io
readonly NET=${CHAOS_CONTAINERD_SUBNET:-10.239.7}
readonly BRIDGE=cectrd0
readonly NETNS_PREFIX=cectrd-
readonly VETH_PREFIX=cectrd
readonly CACHE=${CHAOS_BED_CACHE:-${HOME:-/root}/.cache/chaos-engineering/images}
readonly IMAGE=docker.io/library/chaos-busybox:latest
readonly SYS_PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH=$SYS_PATH:$PATH

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { log "error: $*"; exit 1; }
c() { ctr --address "$SOCK" --namespace "$NS" "$@"; }
answers() { [[ -S $SOCK ]] && timeout 5 ctr --address "$SOCK" version >/dev/null 2>&1; }

ensure_packages() {
  local pkg missing=()
  for pkg in containerd runc iproute2 util-linux; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    # Debian's containerd ships only a systemd unit: without systemd its postinst starts no host containerd.
    { DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"; } >&2 ||
      die "apt-get install ${missing[*]} failed"
  fi
}

images_tarball() {
  # The Docker bed's cache: the newest tarball (the images change only with its recipe).
  local newest
  newest=$(ls -t "$CACHE"/images-*.tar 2>/dev/null | head -1 || true)
  [[ -n $newest ]] || die "no image tarball in $CACHE: run tests/infra/docker-bed.sh up once first"
  printf '%s' "$newest"
}

write_config() {
  mkdir -p "$STATE/root" "$STATE/state" "$STATE/out"
  chmod 700 "$STATE"
  cat >"$STATE/config.toml" <<EOF
version = 2
root = "$STATE/root"
state = "$STATE/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$SOCK"
[ttrpc]
  address = "$SOCK.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
EOF
}

setup_bridge() {
  ip link show "$BRIDGE" >/dev/null 2>&1 && return 0
  if ip -o -4 addr show to "$NET.0/24" | grep -q .; then
    die "subnet $NET.0/24 is already used on this host: set CHAOS_CONTAINERD_SUBNET"
  fi
  ip link add "$BRIDGE" type bridge
  ip addr add "$NET.1/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up
}

up() {
  [[ $(id -u) -eq 0 ]] || die "must run as root"
  ensure_packages
  if answers; then log "already up ($SOCK)"; return 0; fi
  write_config
  setup_bridge
  setsid containerd --config "$STATE/config.toml" --log-level warn >"$STATE/containerd.log" 2>&1 </dev/null &
  echo $! >"$STATE/containerd.pid"
  local i
  # Up to a minute: a loaded CI host has taken more than the usual second (returns as soon as it answers).
  for ((i = 0; i < 600; i++)); do answers && break; sleep 0.1; done
  answers || die "containerd did not answer on $SOCK within 60 s (see $STATE/containerd.log)"
  c images import --all-platforms "$(images_tarball)" >/dev/null
  local image
  for image in chaos-busybox chaos-stresshelper; do # the targets, and container_stress's helper
    c images check | grep -q "$image" || die "$image was not imported (rebuild the Docker bed's image cache)"
  done
  log "up: $SOCK (namespace $NS)"
}

next_index() {
  local n=1
  [[ -f $STATE/veth-n ]] && n=$(($(<"$STATE/veth-n") + 1))
  ((n < 250)) || die "out of addresses"
  echo "$n" >"$STATE/veth-n"
  printf '%s' "$n"
}

run_container() {
  local id=$1 n netns args=()
  shift
  while (($#)); do
    case $1 in
      --label) args+=(--label "$2"); shift 2 ;;
      --) shift; break ;;
      *) die "run: unknown argument $1" ;;
    esac
  done
  local cmd=("$@")
  if ((${#cmd[@]} == 0)); then
    # shellcheck disable=SC2016 # expanded by the container's shell
    cmd=(sh -c 'trap "echo USR1 >>/out/signals" USR1; trap "echo TERM >>/out/signals; exit 0" TERM;
                echo started >>/out/signals; while :; do sleep 1; done')
  fi
  netns=$NETNS_PREFIX$id
  n=$(next_index)
  ip netns add "$netns"
  ip link add "$VETH_PREFIX$n" type veth peer name eth0 netns "$netns"
  ip link set "$VETH_PREFIX$n" master "$BRIDGE" up
  ip -n "$netns" link set lo up
  ip -n "$netns" addr add "$NET.$((n + 1))/24" dev eth0
  ip -n "$netns" link set eth0 up
  mkdir -p "$STATE/out/$id"
  c run -d --with-ns "network:/var/run/netns/$netns" \
    --mount "type=bind,src=$STATE/out/$id,dst=/out,options=rbind:rw" \
    "${args[@]}" "$IMAGE" "$id" "${cmd[@]}" >/dev/null
  printf '%s.%s\n' "$NET" "$((n + 1))"
}

rm_container() {
  local id=$1 helper
  # Our stress helpers of this target first: their cgroups are children of its cgroup.
  for helper in $(c container ls -q "labels.\"chaos.engineering/target\"==$id" 2>/dev/null || true); do
    rm_container "$helper"
  done
  c task kill -s SIGKILL "$id" >/dev/null 2>&1 || true
  local i
  for ((i = 0; i < 50; i++)); do
    c task delete "$id" >/dev/null 2>&1 && break
    c task ls -q | grep -qx "$id" || break
    sleep 0.1
  done
  c container delete "$id" >/dev/null 2>&1 || true
  ip netns del "$NETNS_PREFIX$id" 2>/dev/null || true
}

down() {
  if answers; then
    local id
    for id in $(c container ls -q 2>/dev/null || true); do rm_container "$id"; done
  fi
  if [[ -f $STATE/containerd.pid ]]; then
    local pid
    pid=$(<"$STATE/containerd.pid")
    if [[ -d /proc/$pid ]] && grep -q "$STATE" "/proc/$pid/cmdline" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      for ((i = 0; i < 50; i++)); do [[ -d /proc/$pid ]] || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
  fi
  local ns link
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$NETNS_PREFIX" || true); do
    ip netns del "$ns" 2>/dev/null || true
  done
  for link in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | sed 's/@.*//' |
    grep -E "^${VETH_PREFIX}[0-9]+$" || true); do
    ip link del "$link" 2>/dev/null || true
  done
  ip link del "$BRIDGE" 2>/dev/null || true
  # The shims' mounts live under our root: unmount before removing it.
  if [[ -d $STATE ]]; then
    local m
    for m in $(grep -o " $STATE/[^ ]*" /proc/self/mounts | sort -r || true); do umount -l "$m" 2>/dev/null || true; done
    rm -rf "$STATE"
  fi
  log "down"
}

case ${1:-} in
  up) up ;;
  down) down ;;
  status) answers ;;
  env)
    printf 'export CHAOS_CONTAINERD_DIR=%q\nexport CHAOS_CONTAINERD_SOCKET=%q\nexport CHAOS_CONTAINERD_NAMESPACE=%q\n' \
      "$STATE" "$SOCK" "$NS"
    ;;
  run) shift; [[ $# -ge 1 ]] || die "run ID ..."; answers || die "not up"; run_container "$@" ;;
  rm) shift; [[ $# -eq 1 ]] || die "rm ID"; rm_container "$1" ;;
  *) sed -n '2,24p' "$0" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# A private Podman service for the integration tests: Podman's Docker-compatible API (`podman system service`)
# on a socket under its own state dir, with its own storage, config, network and locks; never the system's
# /run/podman. The test images (chaos-busybox, chaos-nethelper, chaos-stresshelper) come from the Docker bed (docker save) or, when
# that is down, from its image cache.
#
# Usage: podman-bed.sh up|down|status|env
#   up       install podman when missing (apt-get), start the service, load the images; idempotent
#   down     remove every container of this bed, stop the service, remove its network and state dir
#   status   exit 0 when the service answers
#   env      print the variables the tests read (CHAOS_PODMAN_SOCKET, CHAOS_PODMAN_SUBNET...)
#
# Environment:
#   CHAOS_PODMAN_DIR     state dir (default /tmp/ce-podman)
#   CHAOS_PODMAN_SUBNET  the bed network's /24 prefix (default 10.239.13)
#
# Names that are ours: the state dir, the CNI network chaospodman with its bridge cepodman0, and processes whose
# command line names the state dir. The network has no firewall or masquerade plugin: the host's iptables are
# not touched. Cgroups are managed by cgroupfs (this host has cgroup v1 and no systemd).
set -euo pipefail

readonly PROG=podman-bed
STATE=${CHAOS_PODMAN_DIR:-/tmp/ce-podman}
STATE=${STATE%/}
readonly STATE
readonly NET=${CHAOS_PODMAN_SUBNET:-10.239.13}
readonly NETWORK=chaospodman
readonly BRIDGE=cepodman0
readonly SOCK=$STATE/podman.sock
readonly IMAGES=(chaos-busybox:latest chaos-nethelper:latest chaos-stresshelper:latest)
readonly CACHE=${CHAOS_BED_CACHE:-${HOME:-/root}/.cache/chaos-engineering/images}
readonly SYS_PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH=$SYS_PATH:$PATH
# Only our config files: nothing from /etc/containers or the caller's environment redirects this podman.
export CONTAINERS_CONF=$STATE/containers.conf CONTAINERS_STORAGE_CONF=$STATE/storage.conf
unset CONTAINER_HOST CONTAINER_CONNECTION

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { log "error: $*"; exit 1; }
# shellcheck source=tests/infra/_apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/_apt.sh"

# podman on our store, never the system's
readonly PM_FLAGS=(--root "$STATE/root" --runroot "$STATE/runroot" --tmpdir "$STATE/tmp" --cgroup-manager cgroupfs
  --events-backend file --network-config-dir "$STATE/cni" --storage-driver overlay)
pm() { podman "${PM_FLAGS[@]}" "$@"; }

answers() { [[ -S $SOCK ]] && curl -fsS --max-time 3 --unix-socket "$SOCK" http://d/_ping >/dev/null 2>&1; }

ensure_packages() {
  apt_install_missing podman containernetworking-plugins conmon curl
  command -v runc >/dev/null || command -v crun >/dev/null || die "no OCI runtime (runc or crun)"
}

write_config() {
  # The service's own limits, which its containers may not exceed: podman caps its nproc at 32768 here.
  local nofile nproc
  nofile=$(ulimit -Hn)
  nproc=$(ulimit -Hu)
  ((nproc <= 32768)) || nproc=32768
  mkdir -p "$STATE"/{root,runroot,tmp,cni}
  chmod 700 "$STATE"
  cat >"$STATE/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$STATE/root"
runroot = "$STATE/runroot"
EOF
  cat >"$STATE/containers.conf" <<EOF
[containers]
netns = "bridge"
log_driver = "k8s-file"
# Podman raises nofile and nproc for root; a sandbox with lower hard limits makes runc fail (rlimit type 6, 7).
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]

[network]
network_backend = "cni"
network_config_dir = "$STATE/cni"
default_network = "$NETWORK"
default_subnet = "$NET.0/24"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
lock_type = "file"
tmp_dir = "$STATE/tmp"
EOF
  # Our own conflist: a bridge and host-local addresses, no firewall or masquerade (host iptables untouched).
  cat >"$STATE/cni/$NETWORK.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "$NETWORK",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "routes": [{"dst": "0.0.0.0/0"}],
        "ranges": [[{"subnet": "$NET.0/24", "gateway": "$NET.1"}]]
      }
    }
  ]
}
EOF
}

check_names_free() {
  if ip link show "$BRIDGE" >/dev/null 2>&1 && ! answers; then
    log "bridge $BRIDGE exists without a live bed: removing the leftover"
    ip link del "$BRIDGE" || die "cannot remove leftover bridge $BRIDGE"
  fi
  if ip route show | grep -v "dev $BRIDGE" | grep -q "^$NET\."; then
    die "subnet $NET.0/24 is routed elsewhere on this host; set CHAOS_PODMAN_SUBNET"
  fi
}

image_tarball() { # prints a tarball with both images: a docker save from the Docker bed, else its cache
  local host out=$STATE/images.tar
  host=$(bash "$(dirname "${BASH_SOURCE[0]}")/docker-bed.sh" env 2>/dev/null | sed -n 's/^export DOCKER_HOST_1=//p')
  if [[ -n $host ]] && docker -H "$host" save -o "$out.tmp" "${IMAGES[@]}" 2>/dev/null; then
    mv "$out.tmp" "$out"
    printf '%s\n' "$out"
    return
  fi
  rm -f "$out.tmp"
  out=$(ls -t "$CACHE"/images-*.tar 2>/dev/null | head -1) || true
  [[ -n $out ]] || die "no test images: bring the Docker bed up once (tests/infra/docker-bed.sh up)"
  printf '%s\n' "$out"
}

load_images() {
  local image missing=0
  for image in "${IMAGES[@]}"; do pm image exists "$image" || missing=1; done
  ((missing)) || return 0
  local tarball
  tarball=$(image_tarball)
  pm load -q -i "$tarball" >&2 || die "podman load $tarball failed"
  rm -f "$STATE/images.tar"
}

up() {
  [[ $(id -u) -eq 0 ]] || die "must run as root"
  if answers; then load_images; log "up: $SOCK"; return; fi
  ensure_packages
  check_names_free
  write_config
  load_images
  # --time=0: the service never exits on idle.
  setsid podman "${PM_FLAGS[@]}" system service --time=0 "unix://$SOCK" >"$STATE/service.log" 2>&1 </dev/null &
  echo $! >"$STATE/service.pid"
  local i
  for ((i = 0; i < 100; i++)); do
    answers && { log "up: $SOCK"; return; }
    sleep 0.1
  done
  tail -20 "$STATE/service.log" >&2 || true
  die "the podman service did not answer on $SOCK"
}

our_pids() { # processes whose command line names our state dir (the service, conmon)
  local pid
  for pid in $(pgrep -f -- "$STATE/" || true); do
    [[ $pid == "$$" ]] && continue
    # pgrep's own short-lived processes are gone by now: a missing /proc entry is no error.
    if tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -q -- "$STATE/"; then printf '%s\n' "$pid"; fi
  done
  return 0
}

down() {
  [[ -d $STATE ]] || { ip link del "$BRIDGE" 2>/dev/null || true; return 0; }
  # Helpers first: podman refuses to remove a container whose namespace another one joined.
  local helpers
  mapfile -t helpers < <(pm ps -aq --filter label=chaos.engineering/helper=true 2>/dev/null || true)
  ((${#helpers[@]} == 0)) || pm rm -f -t 0 "${helpers[@]}" >/dev/null 2>&1 || true
  pm rm -f -a -t 0 >/dev/null 2>&1 || true
  local pid pids
  pids=$(our_pids)
  for pid in $pids; do kill "$pid" 2>/dev/null || true; done
  for _ in $(seq 50); do
    pids=$(our_pids)
    [[ -z $pids ]] && break
    sleep 0.1
  done
  for pid in $pids; do kill -9 "$pid" 2>/dev/null || true; done
  # overlay and shm mounts under the state dir, deepest first
  awk -v s="$STATE/" 'index($2, s) == 1 { print $2 }' /proc/mounts | sort -r | while read -r mnt; do
    umount -l "$mnt" 2>/dev/null || true
  done
  ip link del "$BRIDGE" 2>/dev/null || true
  rm -rf "/var/lib/cni/networks/$NETWORK"
  rm -rf "$STATE"
  log "down"
}

env_vars() {
  printf 'export CHAOS_PODMAN_DIR=%s\n' "$STATE"
  printf 'export CHAOS_PODMAN_SOCKET=unix://%s\n' "$SOCK"
  printf 'export CHAOS_PODMAN_SUBNET=%s\n' "$NET"
  printf 'export CHAOS_PODMAN_NETWORK=%s\n' "$NETWORK"
}

case ${1:-} in
  up) up ;;
  down) down ;;
  status) answers ;;
  env) env_vars ;;
  *) sed -n '2,16p' "$0" >&2; exit 2 ;;
esac

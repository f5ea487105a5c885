#!/usr/bin/env bash
# tls-bed.sh: one private Docker engine that only speaks TLS with client certificates (dockerd --tlsverify),
# in its own network namespace, for the tests of the TLS connection options. Certificates are made with openssl.
#
# Usage: tls-bed.sh up | down | status | env
#
#   up      make the certificates, start the engine and load chaos-busybox into it; idempotent
#   down    remove its containers, stop the engine, delete its netns/veth and the state dir; safe when not up
#   status  exit 0 when the engine answers over TLS
#   env     print shell export lines (see below)
#
# What `env` prints:
#   CHAOS_TLS_HOST      tcp://ADDR:PORT, ADDR in the server certificate's SAN
#   CHAOS_TLS_ALT_HOST  tcp://ALT:PORT, the same engine at an address NOT in the SAN
#   CHAOS_TLS_NAME      the DNS name in the SAN (for tls_hostname)
#   CHAOS_TLS_CERTS     a DOCKER_CERT_PATH directory: ca.pem, cert.pem, key.pem (client)
#   CHAOS_TLS_WRONG_CA  a CA certificate that signed nothing the engine uses
#   CHAOS_TLS_SOCK      unix:// socket of the same engine, without TLS, for test setup and inspection
#
# Environment:
#   CHAOS_TLS_BED_DIR     state dir (default /tmp/chaos-tls-bed)
#   CHAOS_TLS_BED_SUBNET  first three octets of the host<->netns /24 (default 10.237.0: host .1, engine .2 and .3)
#   CHAOS_TLS_BED_PORT    first TCP port tried (default 2376; the next free one inside the netns is used)
#   CHAOS_BED_CACHE       image tarball cache of docker-bed.sh (default ~/.cache/chaos-engineering/images)
#
# Names that are ours: netns chaostls0, host-side veth cbtls0, cgroup parent chaos-tls-engine, containerd
# namespace chaostls, and processes whose command line names our state dir. None collides with docker-bed.sh.
set -euo pipefail

readonly PROG=tls-bed
STATE=${CHAOS_TLS_BED_DIR:-/tmp/chaos-tls-bed}
STATE=${STATE%/}
readonly STATE
readonly CACHE=${CHAOS_BED_CACHE:-${HOME:-/root}/.cache/chaos-engineering/images}
readonly NET=${CHAOS_TLS_BED_SUBNET:-10.237.0}
readonly FIRST_PORT=${CHAOS_TLS_BED_PORT:-2376}
readonly NS=chaostls0
readonly VETH=cbtls0
readonly CGROUP=chaos-tls-engine
readonly SAN_NAME=chaos-tls-engine
readonly ADDR=$NET.2
readonly ALT_ADDR=$NET.3
readonly SYS_PATH=/usr/sbin:/usr/bin:/sbin:/bin
readonly IMAGE=chaos-busybox:latest
if [[ -x /usr/bin/docker ]]; then DOCKER=/usr/bin/docker; else DOCKER=docker; fi
readonly DOCKER
unset DOCKER_HOST DOCKER_CONTEXT DOCKER_TLS_VERIFY DOCKER_CERT_PATH
export DOCKER_BUILDKIT=0 DOCKER_CLI_HINTS=false

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { log "error: $*"; exit 1; }
usage() { sed -n '5,27p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
need_root() { [[ $(id -u) -eq 0 ]] || die "must run as root (it creates a network namespace and starts dockerd)"; }

sock() { printf 'unix://%s/docker.sock' "$STATE"; }
port() { cat "$STATE/port" 2>/dev/null; }
dk() { "$DOCKER" -H "$(sock)" "$@"; }
answers_tls() {
  [[ -n $(port) ]] || return 1
  timeout 10 "$DOCKER" -H "tcp://$ADDR:$(port)" --tlsverify --tlscacert "$STATE/certs/ca.pem" \
    --tlscert "$STATE/certs/cert.pem" --tlskey "$STATE/certs/key.pem" \
    version --format '{{.Server.Version}}' >/dev/null 2>&1
}

pid_alive() { [[ -n $1 && -d /proc/$1 ]] && kill -0 "$1" 2>/dev/null; }

kill_pids() { # TERM, wait up to 10 s, then KILL
  local pids=() p t
  for p in $1; do pid_alive "$p" && pids+=("$p"); done
  ((${#pids[@]})) || return 0
  kill -TERM "${pids[@]}" 2>/dev/null || true
  for ((t = 0; t < 100; t++)); do
    local left=()
    for p in "${pids[@]}"; do pid_alive "$p" && left+=("$p"); done
    ((${#left[@]})) || return 0
    pids=("${left[@]}")
    sleep 0.1
  done
  kill -KILL "${pids[@]}" 2>/dev/null || true
}

our_procs() { # "PID COMM" of each dockerd/containerd/shim/nsenter whose command line names our state dir
  local d comm cmdline
  for d in /proc/[0-9]*; do
    read -r comm 2>/dev/null <"$d/comm" || continue
    case $comm in dockerd | containerd | containerd-shim* | nsenter) ;; *) continue ;; esac
    cmdline=$(tr '\0' ' ' 2>/dev/null <"$d/cmdline") || continue
    if [[ $cmdline == *"$STATE/"* ]]; then printf '%s %s\n' "${d#/proc/}" "$comm"; fi
  done
  return 0
}

# ---------------------------------------------------------------- certificates

make_certs() {
  local c=$STATE/pki
  [[ -s $STATE/certs/key.pem && -s $STATE/server/server-key.pem && -s $STATE/wrong/ca.pem ]] && return 0
  mkdir -p "$c" "$STATE/certs" "$STATE/server" "$STATE/wrong"
  chmod 700 "$c"
  # The CA, and a second CA that signed nothing the engine uses.
  openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
    -subj '/CN=chaos-tls-bed CA' -keyout "$c/ca-key.pem" -out "$c/ca.pem" 2>/dev/null
  openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
    -subj '/CN=chaos-tls-bed wrong CA' -keyout "$c/wrong-ca-key.pem" -out "$STATE/wrong/ca.pem" 2>/dev/null
  # The engine's certificate: one DNS name and one of its two addresses.
  printf 'subjectAltName=DNS:%s,IP:%s\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature,keyEncipherment\n' \
    "$SAN_NAME" "$ADDR" >"$c/server.ext"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$SAN_NAME" \
    -keyout "$STATE/server/server-key.pem" -out "$c/server.csr" 2>/dev/null
  openssl x509 -req -in "$c/server.csr" -CA "$c/ca.pem" -CAkey "$c/ca-key.pem" -CAcreateserial -days 30 \
    -extfile "$c/server.ext" -out "$STATE/server/server-cert.pem" 2>/dev/null
  # The client's certificate.
  printf 'extendedKeyUsage=clientAuth\nkeyUsage=digitalSignature\n' >"$c/client.ext"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj '/CN=chaos-tls-client' \
    -keyout "$STATE/certs/key.pem" -out "$c/client.csr" 2>/dev/null
  openssl x509 -req -in "$c/client.csr" -CA "$c/ca.pem" -CAkey "$c/ca-key.pem" -CAcreateserial -days 30 \
    -extfile "$c/client.ext" -out "$STATE/certs/cert.pem" 2>/dev/null
  cp "$c/ca.pem" "$STATE/certs/ca.pem"
  cp "$c/ca.pem" "$STATE/server/ca.pem"
  chmod 600 "$STATE/certs/key.pem" "$STATE/server/server-key.pem"
  openssl verify -CAfile "$c/ca.pem" "$STATE/server/server-cert.pem" "$STATE/certs/cert.pem" >/dev/null ||
    die "the certificates made do not verify"
}

# ---------------------------------------------------------------- network and engine

setup_network() {
  if ip -o -4 addr show to "$NET.0/24" | grep -q .; then
    die "subnet $NET.0/24 is already used on this host: set CHAOS_TLS_BED_SUBNET"
  fi
  ip netns add "$NS"
  ip link add "$VETH" type veth peer name eth0 netns "$NS"
  ip addr add "$NET.1/24" dev "$VETH"
  ip link set "$VETH" up
  ip -n "$NS" link set lo up
  ip -n "$NS" addr add "$ADDR/24" dev eth0
  ip -n "$NS" addr add "$ALT_ADDR/24" dev eth0
  ip -n "$NS" link set eth0 up
}

teardown_network() {
  if ip netns list 2>/dev/null | grep -qE "^$NS( |$)"; then
    kill_pids "$(ip netns pids "$NS" 2>/dev/null || true)"
    ip netns del "$NS" 2>/dev/null || log "warning: could not delete netns $NS"
  fi
  if ip link show "$VETH" >/dev/null 2>&1; then ip link del "$VETH" 2>/dev/null || true; fi
}

pick_port() { # the first port from FIRST_PORT on that nothing listens on inside our netns
  local p
  for ((p = FIRST_PORT; p < FIRST_PORT + 100; p++)); do
    if [[ -z $(nsenter --net="/run/netns/$NS" ss -Hltn "sport = :$p" 2>/dev/null) ]]; then
      printf '%s\n' "$p"
      return 0
    fi
  done
  die "no free port in $FIRST_PORT..$((FIRST_PORT + 99)) in netns $NS"
}

start_engine() {
  local p
  p=$(pick_port)
  printf '%s\n' "$p" >"$STATE/port"
  mkdir -p "$STATE/data" "$STATE/exec"
  printf '{}\n' >"$STATE/daemon.json"
  local args=(
    --config-file "$STATE/daemon.json"
    --host "$(sock)"
    --host "tcp://$ADDR:$p"
    --host "tcp://$ALT_ADDR:$p"
    --tlsverify
    --tlscacert "$STATE/server/ca.pem"
    --tlscert "$STATE/server/server-cert.pem"
    --tlskey "$STATE/server/server-key.pem"
    --data-root "$STATE/data"
    --exec-root "$STATE/exec"
    --pidfile "$STATE/docker.pid"
    --bip 10.238.0.1/24
    --default-address-pool "base=10.238.16.0/20,size=24"
    --cgroup-parent "$CGROUP"
    --containerd-namespace chaostls
    --containerd-plugins-namespace chaostls-plugins
  )
  PATH=$SYS_PATH setsid nsenter --net="/run/netns/$NS" -- dockerd "${args[@]}" \
    >>"$STATE/dockerd.log" 2>&1 </dev/null 9>&- &
  printf '%s\n' "$!" >"$STATE/launcher.pid"
  local deadline=$((SECONDS + 30)) pid
  pid=$(<"$STATE/launcher.pid")
  while ((SECONDS < deadline)); do
    answers_tls && return 0
    if ! pid_alive "$pid"; then
      tail -n 25 "$STATE/dockerd.log" >&2 || true
      die "dockerd exited"
    fi
    sleep 0.1
  done
  tail -n 25 "$STATE/dockerd.log" >&2 || true
  die "no answer on tcp://$ADDR:$p over TLS after 30 s"
}

load_image() {
  dk image inspect "$IMAGE" >/dev/null 2>&1 && return 0
  local tarball
  # docker-bed.sh builds and caches the images (images-<key>.tar); the newest tarball is the current one.
  tarball=$(ls -t "$CACHE"/images-*.tar 2>/dev/null | head -n 1 || true)
  [[ -n $tarball ]] || die "no image tarball in $CACHE: run tests/infra/docker-bed.sh up once first"
  dk load -q -i "$tarball" >/dev/null || die "docker load of $tarball failed"
  dk image inspect "$IMAGE" >/dev/null 2>&1 || die "$tarball holds no $IMAGE"
}

print_env() {
  printf 'export CHAOS_TLS_HOST=%q\n' "tcp://$ADDR:$(port)"
  printf 'export CHAOS_TLS_ALT_HOST=%q\n' "tcp://$ALT_ADDR:$(port)"
  printf 'export CHAOS_TLS_NAME=%q\n' "$SAN_NAME"
  printf 'export CHAOS_TLS_CERTS=%q\n' "$STATE/certs"
  printf 'export CHAOS_TLS_WRONG_CA=%q\n' "$STATE/wrong/ca.pem"
  printf 'export CHAOS_TLS_SOCK=%q\n' "$(sock)"
}

# ---------------------------------------------------------------- commands

cmd_up() {
  need_root
  command -v openssl >/dev/null || die "openssl is missing (apt-get install openssl)"
  PATH=$SYS_PATH:$PATH command -v dockerd >/dev/null || die "dockerd is missing (apt-get install docker.io)"
  if answers_tls; then
    load_image
    log "already up: tcp://$ADDR:$(port)"
    return 0
  fi
  if [[ -e $STATE ]] || ip netns list 2>/dev/null | grep -qE "^$NS( |$)" || ip link show "$VETH" >/dev/null 2>&1; then
    log "stale or partial TLS bed found; tearing it down first"
    do_down
  fi
  mkdir -p "$STATE"
  make_certs
  setup_network
  start_engine
  load_image
  log "up: tcp://$ADDR:$(port) (also tcp://$ALT_ADDR:$(port), not in the certificate)"
}

do_down() {
  if [[ -S $STATE/docker.sock ]]; then
    local ids
    ids=$(timeout 30 "$DOCKER" -H "$(sock)" ps -aq 2>/dev/null || true)
    # shellcheck disable=SC2086 # a list of container ids
    if [[ -n $ids ]]; then timeout 60 "$DOCKER" -H "$(sock)" rm -f -v $ids >/dev/null 2>&1 || true; fi
  fi
  local dpids="" cpids="" shims="" p comm
  while read -r p comm; do
    case $comm in
      dockerd | nsenter) dpids+="$p " ;;
      containerd) cpids+="$p " ;;
      containerd-shim*) shims+="$p " ;;
    esac
  done < <(our_procs)
  kill_pids "$dpids"
  kill_pids "$cpids"
  if [[ -n $shims ]]; then
    local kids=""
    for p in $shims; do kids+="$(cat "/proc/$p/task/$p/children" 2>/dev/null || true) "; done
    # shellcheck disable=SC2086 # lists of pids
    if [[ -n ${kids// /} ]]; then kill -KILL $kids 2>/dev/null || true; fi
    kill_pids "$shims"
  fi
  teardown_network
  if [[ -d $STATE ]]; then
    local mp
    awk '{print $5}' /proc/self/mountinfo | while IFS= read -r mp; do
      mp=$(printf '%b' "$mp")
      if [[ $mp == "$STATE"/* ]]; then printf '%s\n' "$mp"; fi
    done | awk '{print length, $0}' | sort -rn | cut -d' ' -f2- | while IFS= read -r mp; do
      umount "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null || log "warning: could not unmount $mp"
    done
    rm -rf --one-file-system "$STATE" || log "warning: could not remove all of $STATE"
  fi
  local d
  find /sys/fs/cgroup -maxdepth 6 -type d -name "$CGROUP" 2>/dev/null | while IFS= read -r d; do
    find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
}

main() {
  local cmd=${1:-}
  case $cmd in
    up | down | status | env) ;;
    -h | --help | help) usage; return 0 ;;
    *) usage >&2; return 2 ;;
  esac
  if [[ $cmd == up || $cmd == down ]]; then
    need_root
    mkdir -p "$(dirname "$STATE")"
    exec 9>"$STATE.lock"
    flock -w 120 9 || die "another tls-bed.sh holds $STATE.lock"
  fi
  case $cmd in
    up) cmd_up ;;
    down) do_down; log "down" ;;
    status)
      if answers_tls; then echo "up: tcp://$ADDR:$(port)"; else echo "not up"; return 1; fi
      ;;
    env) answers_tls || die "not up"; print_env ;;
  esac
}

main "$@"

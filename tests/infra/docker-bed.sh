#!/usr/bin/env bash
# docker-bed.sh: a private test bed of N real Docker engines (Debian's docker.io, Docker 20.10) on one
# Linux machine, each in its own network namespace, wired to a shared bridge. No registry is needed:
# the two test images are made from the host's own binaries.
#
# Usage: docker-bed.sh up [N] | down | status | env | inventory | selftest
#
#   up [N]     start N engines (default 3; at most 15) and load the test images into each;
#              idempotent: when the bed is already up it says so and exits 0
#   down       remove our containers, stop our engines, delete our netns/veths/bridge and the state dir
#              (the image cache is kept); safe when nothing is up
#   status     show which engines are up (exit 1 if not all are)
#   env        print shell export lines: CHAOS_BED_N, CHAOS_BED_DIR, DOCKER_HOST_<i>, CHAOS_BED_IP_<i>,
#              DOCKER_HOST (= engine 1)
#   inventory  print a YAML Ansible inventory (group docker_engines); `up` also writes $STATE/inventory.yml
#   selftest   httpd on engine 1 reached from engine 2 over the bridge; tc/iptables via the helper image
#
# Environment:
#   CHAOS_BED_DIR     state dir (default /tmp/chaos-bed)
#   CHAOS_BED_CACHE   image tarball cache (default ~/.cache/chaos-engineering/images)
#   CHAOS_BED_SUBNET  first three octets of the bridge /24 (default 10.231.0: host .1, engines .11, .12, ...)
#   CHAOS_BED_IPV6    1 (default) gives engines IPv6 (fd00:cb:<i>::/64 for containers), 0 disables it
#   CHAOS_BED_DOCKER  docker CLI to use (default /usr/bin/docker from docker.io, else `docker` on PATH)
#
# Names that are ours: netns chaosbed<i>, host-side veths cbveth<i>, bridge chaosbed0, cgroup parent
# chaos-bed-engine<i>, and processes whose command line names our state dir. Nothing else is touched.
# One bed per machine: those names do not depend on CHAOS_BED_DIR. The bed that owns them is named in
# /tmp/chaos-bed.owner, and `up` or `down` with another state dir refuses while that bed's engines run
# (otherwise it would rebuild or remove the network under a live test run).
set -euo pipefail

readonly PROG=docker-bed
STATE=${CHAOS_BED_DIR:-/tmp/chaos-bed}
STATE=${STATE%/}
readonly STATE
readonly CACHE=${CHAOS_BED_CACHE:-${HOME:-/root}/.cache/chaos-engineering/images}
readonly NET=${CHAOS_BED_SUBNET:-10.231.0}
readonly BRIDGE=chaosbed0
readonly OWNER_FILE=/tmp/chaos-bed.owner
readonly NS_PREFIX=chaosbed
readonly VETH_PREFIX=cbveth
readonly V6_NET=fd00:cb
readonly MAX_N=15
readonly RULE_COMMENT=chaos-bed
# Bump when the image recipe below changes: it is part of the cache key.
readonly RECIPE_VERSION=2
readonly LABEL_TEST=chaos.engineering/test-image
readonly LABEL_KEY=chaos.engineering/bed-key
readonly IMAGES=(chaos-busybox:latest chaos-nethelper:latest chaos-stresshelper:latest)
# dockerd and the tools it runs (containerd, runc, docker-proxy, iptables) come from Debian's packages.
readonly SYS_PATH=/usr/sbin:/usr/bin:/sbin:/bin
# The helper image recipe is the one users get from the chaos.engineering.nethelper_image role.
NETHELPER_BUILDER=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../roles/nethelper_image/files" && pwd)/nethelper-image.sh
readonly NETHELPER_BUILDER
# shellcheck source=roles/nethelper_image/files/nethelper-image.sh
source "$NETHELPER_BUILDER"

if [[ -n ${CHAOS_BED_DOCKER:-} ]]; then
  DOCKER=$CHAOS_BED_DOCKER
elif [[ -x /usr/bin/docker ]]; then
  DOCKER=/usr/bin/docker
else
  DOCKER=docker
fi
readonly DOCKER
# Every docker call below names its engine with -H; nothing from the caller's environment may redirect it.
unset DOCKER_HOST DOCKER_CONTEXT DOCKER_TLS_VERIFY DOCKER_CERT_PATH
export DOCKER_BUILDKIT=0 DOCKER_CLI_HINTS=false

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
  sed -n '5,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

engine_dir() { printf '%s/engine%s' "$STATE" "$1"; }
engine_sock() { printf '%s/engine%s/docker.sock' "$STATE" "$1"; }
engine_host() { printf 'unix://%s' "$(engine_sock "$1")"; }
engine_ip() { printf '%s.%s' "$NET" "$((10 + $1))"; }
engine_ip6() { printf '%s::%s' "$V6_NET" "$((10 + $1))"; }
netns_name() { printf '%s%s' "$NS_PREFIX" "$1"; }

dk() {
  local i=$1
  shift
  "$DOCKER" -H "$(engine_host "$i")" "$@"
}

engine_answers() {
  [[ -S $(engine_sock "$1") ]] || return 1
  timeout 10 "$DOCKER" -H "$(engine_host "$1")" version --format '{{.Server.Version}}' >/dev/null 2>&1
}

recorded_n() {
  local n
  [[ -f $STATE/n ]] || return 1
  n=$(<"$STATE/n")
  [[ $n =~ ^[0-9]+$ ]] || return 1
  printf '%s\n' "$n"
}

need_root() { [[ $(id -u) -eq 0 ]] || die "must run as root (it creates network namespaces and starts dockerd)"; }

ipv6_enabled() { # the choice made at `up` time holds until `down`
  if [[ -f $STATE/ipv6 ]]; then
    [[ $(<"$STATE/ipv6") == 1 ]]
  else
    [[ ${CHAOS_BED_IPV6:-1} == 1 && -e /proc/net/if_inet6 ]]
  fi
}

# ---------------------------------------------------------------- packages

ensure_packages() {
  local pkg missing=() made_policy=0
  for pkg in docker.io busybox-static iproute2 iptables; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
      missing+=("$pkg")
    fi
  done
  if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    # Without systemd, docker.io's postinst would start a host dockerd via invoke-rc.d: forbid that.
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
      printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
      chmod 755 /usr/sbin/policy-rc.d
      made_policy=1
    fi
    local rc=0
    { DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"; } >&2 || rc=$?
    if ((made_policy)); then rm -f /usr/sbin/policy-rc.d; fi
    ((rc == 0)) || die "apt-get install ${missing[*]} failed"
  fi
  local cmd
  for cmd in dockerd containerd runc ip tc iptables nsenter flock setsid ldd; do
    PATH=$SYS_PATH:$PATH command -v "$cmd" >/dev/null || die "missing command: $cmd"
  done
  command -v "$DOCKER" >/dev/null || die "docker CLI not found: $DOCKER"
  [[ -x /bin/busybox ]] || die "/bin/busybox missing (package busybox-static)"
  if ldd /bin/busybox >/dev/null 2>&1; then
    die "/bin/busybox is dynamically linked; install busybox-static"
  fi
}

# ---------------------------------------------------------------- host network

host_rule() { # host_rule CMD ACTION: our two FORWARD rules on the host for the bridge
  local cmd=$1 action=$2
  command -v "$cmd" >/dev/null 2>&1 || return 0
  case $action in
    add)
      # br_netfilter may hand bridged frames to the host FORWARD chain (a host dockerd sets it to DROP):
      # accept engine-to-engine traffic, and never route anything from the bed out of the machine.
      "$cmd" -w 5 -C FORWARD -i "$BRIDGE" ! -o "$BRIDGE" -m comment --comment "$RULE_COMMENT" -j DROP 2>/dev/null ||
        "$cmd" -w 5 -I FORWARD 1 -i "$BRIDGE" ! -o "$BRIDGE" -m comment --comment "$RULE_COMMENT" -j DROP 2>/dev/null ||
        log "warning: could not add host $cmd DROP rule for $BRIDGE"
      "$cmd" -w 5 -C FORWARD -i "$BRIDGE" -o "$BRIDGE" -m comment --comment "$RULE_COMMENT" -j ACCEPT 2>/dev/null ||
        "$cmd" -w 5 -I FORWARD 1 -i "$BRIDGE" -o "$BRIDGE" -m comment --comment "$RULE_COMMENT" -j ACCEPT 2>/dev/null ||
        log "warning: could not add host $cmd ACCEPT rule for $BRIDGE"
      ;;
    del)
      local n
      for n in 1 2 3 4; do
        "$cmd" -w 5 -D FORWARD -i "$BRIDGE" -o "$BRIDGE" -m comment --comment "$RULE_COMMENT" -j ACCEPT 2>/dev/null || break
      done
      for n in 1 2 3 4; do
        "$cmd" -w 5 -D FORWARD -i "$BRIDGE" ! -o "$BRIDGE" -m comment --comment "$RULE_COMMENT" -j DROP 2>/dev/null || break
      done
      ;;
  esac
}

setup_network() {
  local n=$1 i j ns
  if ip -o -4 addr show to "$NET.0/24" | grep -qv " $BRIDGE "; then
    die "subnet $NET.0/24 is already used on this host: set CHAOS_BED_SUBNET"
  fi
  ip link add "$BRIDGE" type bridge
  ip addr add "$NET.1/24" dev "$BRIDGE"
  if ipv6_enabled; then
    ip addr add "$V6_NET::1/64" dev "$BRIDGE" nodad
  fi
  ip link set "$BRIDGE" up
  host_rule iptables add
  if ipv6_enabled; then host_rule ip6tables add; fi
  for ((i = 1; i <= n; i++)); do
    ns=$(netns_name "$i")
    ip netns add "$ns"
    ip link add "$VETH_PREFIX$i" type veth peer name eth0 netns "$ns"
    ip link set "$VETH_PREFIX$i" master "$BRIDGE" up
    ip -n "$ns" link set lo up
    ip -n "$ns" addr add "$(engine_ip "$i")/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" route add default via "$NET.1"
    if ipv6_enabled; then
      ip -n "$ns" addr add "$(engine_ip6 "$i")/64" dev eth0 nodad
      ip -n "$ns" -6 route add default via "$V6_NET::1"
      for ((j = 1; j <= n; j++)); do
        ((j == i)) || ip -n "$ns" -6 route add "$V6_NET:$j::/64" via "$(engine_ip6 "$j")"
      done
      nsenter --net="/run/netns/$ns" sh -c 'echo 1 >/proc/sys/net/ipv6/conf/all/forwarding'
    fi
  done
}

teardown_network() {
  local ns link
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^${NS_PREFIX}[0-9]+$" || true); do
    # Everything left inside our namespaces is ours (docker-proxy, host-network containers).
    kill_pids "$(ip netns pids "$ns" 2>/dev/null || true)"
    ip netns del "$ns" 2>/dev/null || log "warning: could not delete netns $ns"
  done
  for link in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | sed 's/@.*//' |
    grep -E "^${VETH_PREFIX}[0-9]+$" || true); do
    ip link del "$link" 2>/dev/null || true
  done
  if ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link del "$BRIDGE"
  fi
  host_rule iptables del
  host_rule ip6tables del
}

# ---------------------------------------------------------------- processes

pid_alive() { [[ -n $1 && -d /proc/$1 ]] && kill -0 "$1" 2>/dev/null; }

kill_pids() { # kill_pids "PID PID ...": TERM, wait up to 10 s, then KILL
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
  log "killing ${pids[*]} with SIGKILL"
  kill -KILL "${pids[@]}" 2>/dev/null || true
}

# our_procs NEEDLE: "PID COMM" of each dockerd/containerd/shim whose command line contains NEEDLE
our_procs() {
  local needle=$1 d comm cmdline
  for d in /proc/[0-9]*; do
    read -r comm 2>/dev/null <"$d/comm" || continue
    case $comm in
      dockerd | containerd | containerd-shim* | nsenter) ;;
      *) continue ;;
    esac
    cmdline=$(tr '\0' ' ' 2>/dev/null <"$d/cmdline") || continue
    if [[ $cmdline == *"$needle"* ]]; then printf '%s %s\n' "${d#/proc/}" "$comm"; fi
  done
  return 0
}

other_owner() { # print the state dir of another bed whose engines run and own the shared names
  local other
  [[ -f $OWNER_FILE ]] || return 1
  other=$(<"$OWNER_FILE")
  [[ -n $other && $other != "$STATE" ]] || return 1
  [[ -n $(our_procs "$other/") ]] || return 1 # its engines are gone: a stale claim
  printf '%s\n' "$other"
}

refuse_if_other_owner() {
  local other
  if other=$(other_owner); then
    die "another bed ($other) is up and owns $BRIDGE and the ${NS_PREFIX}<i> netns; stop it first with CHAOS_BED_DIR=$other $0 down"
  fi
  return 0
}

children_of() {
  local p
  for p in $1; do
    cat "/proc/$p/task/$p/children" 2>/dev/null || true
  done
}

# ---------------------------------------------------------------- engines

start_engine() {
  local i=$1 dir ns
  dir=$(engine_dir "$i")
  ns=$(netns_name "$i")
  mkdir -p "$dir/data" "$dir/exec"
  # An explicit config file keeps the host's /etc/docker/daemon.json out of our engines.
  printf '{}\n' >"$dir/daemon.json"
  local args=(
    --config-file "$dir/daemon.json"
    --host "$(engine_host "$i")"
    --data-root "$dir/data"
    --exec-root "$dir/exec"
    --pidfile "$dir/docker.pid"
    --bip "10.232.$i.1/24"
    --default-address-pool "base=10.233.$((i * 16)).0/20,size=24"
    --cgroup-parent "chaos-bed-engine$i"
    --containerd-namespace "chaosbed$i"
    --containerd-plugins-namespace "chaosbed$i-plugins"
  )
  if ipv6_enabled; then
    args+=(--ipv6 --fixed-cidr-v6 "$V6_NET:$i::/64")
  fi
  # nsenter --net only (not `ip netns exec`, which remounts /sys and hides the cgroup mounts).
  PATH=$SYS_PATH setsid nsenter --net="/run/netns/$ns" -- dockerd "${args[@]}" \
    >>"$dir/dockerd.log" 2>&1 </dev/null 9>&- &
  printf '%s\n' "$!" >"$dir/launcher.pid"
}

wait_engine() {
  local i=$1 dir pid deadline=$((SECONDS + 30))
  dir=$(engine_dir "$i")
  pid=$(<"$dir/launcher.pid")
  while ((SECONDS < deadline)); do
    if engine_answers "$i"; then return 0; fi
    if ! pid_alive "$pid"; then
      log "engine$i: dockerd exited; last lines of $dir/dockerd.log:"
      tail -n 25 "$dir/dockerd.log" >&2 || true
      return 1
    fi
    sleep 0.1
  done
  log "engine$i: no answer on $(engine_host "$i") after 30 s; last lines of $dir/dockerd.log:"
  tail -n 25 "$dir/dockerd.log" >&2 || true
  return 1
}

remove_containers() {
  local i=$1 sock ids
  sock=$(engine_sock "$i")
  engine_answers "$i" || return 0
  ids=$(timeout 30 "$DOCKER" -H "unix://$sock" ps -aq 2>/dev/null || true)
  [[ -n $ids ]] || return 0
  # shellcheck disable=SC2086 # ids is a list of container ids
  timeout 60 "$DOCKER" -H "unix://$sock" rm -f -v $ids >/dev/null 2>&1 ||
    log "warning: engine$i: could not remove all containers"
}

stop_engines() { # stop_engines I...: all at once, since each dockerd takes ~3 s to shut down
  local i pids=()
  for i in "$@"; do
    remove_containers "$i" &
    pids+=("$!")
  done
  for i in "${pids[@]}"; do wait "$i" || true; done
  # dockerd, its managed containerd and the shims all name our engine dirs on their command lines.
  local dpids="" cpids="" shims="" p comm
  while read -r p comm; do
    case $comm in
      dockerd | nsenter) dpids+="$p " ;;
      containerd) cpids+="$p " ;;
      containerd-shim*) shims+="$p " ;;
    esac
  done < <(our_procs "$STATE/engine")
  kill_pids "$dpids"
  kill_pids "$cpids"
  # Shims outlive a killed containerd: end their containers (the init of each pid namespace) first.
  if [[ -n $shims ]]; then
    local kids
    kids=$(children_of "$shims")
    # shellcheck disable=SC2086 # lists of pids
    if [[ -n $kids ]]; then kill -KILL $kids 2>/dev/null || true; fi
    kill_pids "$shims"
  fi
}

unmount_under() { # lazy-unmount everything mounted below $1, deepest first
  local root=$1 mp
  [[ -e /proc/self/mountinfo ]] || return 0
  awk '{print $5}' /proc/self/mountinfo | while IFS= read -r mp; do
    mp=$(printf '%b' "$mp")
    if [[ $mp == "$root"/* ]]; then printf '%s\n' "$mp"; fi
  done | awk '{print length, $0}' | sort -rn | cut -d' ' -f2- | while IFS= read -r mp; do
    umount "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null || log "warning: could not unmount $mp"
  done
}

remove_cgroups() {
  local d
  [[ -d /sys/fs/cgroup ]] || return 0
  find /sys/fs/cgroup -maxdepth 6 -type d -name 'chaos-bed-engine[0-9]*' 2>/dev/null |
    while IFS= read -r d; do
      find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
    done
}

# ---------------------------------------------------------------- images

cache_key() {
  local multi
  multi=$(readlink -f "$(PATH=$SYS_PATH command -v iptables)")
  {
    printf 'recipe %s\n' "$RECIPE_VERSION"
    dpkg-query -W -f='${Package} ${Version}\n' busybox-static iproute2 iptables dash libc6 2>/dev/null || true
    sha256sum /bin/busybox "$(PATH=$SYS_PATH command -v tc)" "$(PATH=$SYS_PATH command -v ip)" "$multi" /bin/dash \
      "$NETHELPER_BUILDER"
    # container_stress's helper: the host's stress-ng (installed by ensure_stress_ng when missing).
    ensure_stress_ng && sha256sum "$(readlink -f "$(PATH=$SYS_PATH command -v stress-ng)")"
  } | sha256sum | cut -c1-16
}

build_busybox_rootfs() {
  local root=$1 applet
  make_rootfs_base "$root"
  put_file "$root" /bin/busybox
  # The equivalent of `busybox --install -s`, done in the build context.
  while IFS= read -r applet; do
    [[ -e $root/$applet || -L $root/$applet ]] && continue
    mkdir -p "$root/$(dirname "$applet")"
    ln -s /bin/busybox "$root/$applet"
  done < <(/bin/busybox --list-full)
  printf 'chaos-busybox\n' >"$root/var/www/index.html"
}

import_image() { # import_image ENGINE ROOT NAME KEY
  local i=$1 root=$2 name=$3 key=$4
  tar --numeric-owner --owner=0 --group=0 -C "$root" -cf - . |
    dk "$i" import \
      --change 'CMD ["/bin/sh"]' \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change "LABEL $LABEL_TEST=true $LABEL_KEY=$key" \
      --message "chaos-engineering test bed image, built from the host's binaries" \
      - "$name" >/dev/null
}

verify_images() {
  local i=$1 out
  # shellcheck disable=SC2016 # expanded by the container's shell
  dk "$i" run --rm chaos-busybox:latest sh -c \
    'for a in sh sleep nc httpd wget ping top timeout; do command -v $a >/dev/null || { echo "missing $a"; exit 1; }; done' ||
    die "chaos-busybox lacks an applet"
  dk "$i" run --rm --cap-add NET_ADMIN chaos-nethelper:latest tc qdisc show >/dev/null ||
    die "chaos-nethelper: tc qdisc show failed"
  out=$(dk "$i" run --rm --cap-add NET_ADMIN chaos-nethelper:latest \
    sh -c 'tc -V && ip -V && iptables -V && iptables -S && ip6tables -S && sleep 0' 2>&1) ||
    die "chaos-nethelper: tools failed: $out"
  [[ $out == *iproute2* && $out == *"-P INPUT ACCEPT"* ]] || die "chaos-nethelper: unexpected output: $out"
  local host_mode
  host_mode=$(PATH=$SYS_PATH iptables -V | sed -n 's/.*(\(.*\)).*/\1/p')
  [[ $out == *"($host_mode)"* ]] || die "chaos-nethelper: iptables backend differs from the host's ($host_mode)"
  dk "$i" run --rm --network none --cap-drop ALL --entrypoint stress-ng chaos-stresshelper:latest \
    --cpu 1 --timeout 1s --quiet || die "chaos-stresshelper: stress-ng --cpu 1 --timeout 1s failed"
}

build_images() { # builds on engine 1 and writes the cache tarball
  local key=$1 tarball=$2 work t0
  t0=$(now)
  work=$(mktemp -d "$STATE/build.XXXXXX")
  build_busybox_rootfs "$work/busybox"
  build_nethelper_rootfs "$work/nethelper"
  import_image 1 "$work/busybox" chaos-busybox:latest "$key"
  import_image 1 "$work/nethelper" chaos-nethelper:latest "$key"
  build_stresshelper_rootfs "$work/stresshelper"
  import_image 1 "$work/stresshelper" chaos-stresshelper:latest "$key"
  rm -rf "$work"
  verify_images 1
  mkdir -p "$CACHE"
  dk 1 save -o "$tarball.tmp.$$" "${IMAGES[@]}"
  mv -f "$tarball.tmp.$$" "$tarball"
  log "built images on engine1 in $(elapsed "$t0") s; cached as $tarball"
}

engine_has_images() { # engine_has_images ENGINE KEY
  local got
  got=$(dk "$1" image inspect --format "{{index .Config.Labels \"$LABEL_KEY\"}}" "${IMAGES[@]}" 2>/dev/null) ||
    return 1
  [[ $(printf '%s\n' "$got" | grep -cx "$2") -eq ${#IMAGES[@]} ]]
}

ensure_images() {
  local n=$1 key tarball i pids=() t0 rc=0
  key=$(cache_key)
  tarball=$CACHE/images-$key.tar
  if [[ ! -s $tarball ]]; then
    build_images "$key" "$tarball"
  fi
  t0=$(now)
  for ((i = 1; i <= n; i++)); do
    engine_has_images "$i" "$key" && continue
    dk "$i" load -q -i "$tarball" >/dev/null &
    pids+=("$!")
  done
  for i in "${pids[@]}"; do wait "$i" || rc=1; done
  ((rc == 0)) || die "docker load of $tarball failed (delete it to rebuild the images)"
  ((${#pids[@]} == 0)) || log "loaded images into ${#pids[@]} engine(s) in $(elapsed "$t0") s"
}

# ---------------------------------------------------------------- outputs

print_env() {
  local n=$1 i
  printf 'export CHAOS_BED_N=%q\n' "$n"
  printf 'export CHAOS_BED_DIR=%q\n' "$STATE"
  for ((i = 1; i <= n; i++)); do
    printf 'export DOCKER_HOST_%s=%q\n' "$i" "$(engine_host "$i")"
    printf 'export CHAOS_BED_IP_%s=%q\n' "$i" "$(engine_ip "$i")"
  done
  printf 'export DOCKER_HOST=%q\n' "$(engine_host 1)"
}

print_inventory() {
  local n=$1 i
  printf '# Generated by tests/infra/docker-bed.sh: one host per private Docker engine.\n'
  printf 'all:\n  children:\n    docker_engines:\n      hosts:\n'
  for ((i = 1; i <= n; i++)); do
    printf '        engine%s:\n' "$i"
    printf '          ansible_connection: local\n'
    printf '          ansible_python_interpreter: "{{ ansible_playbook_python }}"\n'
    printf '          docker_host: "%s"\n' "$(engine_host "$i")"
    printf '          chaos_bed_ip: "%s"\n' "$(engine_ip "$i")"
    if ipv6_enabled; then
      printf '          chaos_bed_ip6: "%s"\n' "$(engine_ip6 "$i")"
    fi
  done
}

# ---------------------------------------------------------------- commands

all_up() { # all_up N: every engine 1..N answers
  local i
  for ((i = 1; i <= $1; i++)); do engine_answers "$i" || return 1; done
}

cmd_up() {
  local want=${1:-} n cur="" i t0
  t0=$(now)
  if [[ -n $want ]]; then
    if ! [[ $want =~ ^[0-9]+$ ]] || ((want < 1 || want > MAX_N)); then
      die "N must be 1..$MAX_N, got '$want'"
    fi
  fi
  need_root
  refuse_if_other_owner
  ensure_packages
  mkdir -p "$STATE"
  if cur=$(recorded_n) && all_up "$cur"; then
    if [[ -n $want && $want != "$cur" ]]; then
      die "already up with $cur engines; run '$0 down' first to change N"
    fi
    ensure_images "$cur"
    print_inventory "$cur" >"$STATE/inventory.yml"
    log "already up: $cur engine(s) in $STATE"
    return 0
  fi
  n=${want:-${cur:-3}}
  if [[ -e $STATE/n ]] || ip link show "$BRIDGE" >/dev/null 2>&1 ||
    ip netns list 2>/dev/null | grep -qE "^${NS_PREFIX}[0-9]+( |$)"; then
    log "stale or partial bed found; tearing it down first"
    do_down
    mkdir -p "$STATE"
  fi
  local longest="$STATE/engine$n/exec/containerd/containerd.sock.ttrpc"
  ((${#longest} < 100)) || die "CHAOS_BED_DIR is too long for unix socket paths: $longest"
  rm -f "$STATE/ipv6"
  if ipv6_enabled; then echo 1 >"$STATE/ipv6"; else echo 0 >"$STATE/ipv6"; fi
  printf '%s\n' "$n" >"$STATE/n"
  printf '%s\n' "$STATE" >"$OWNER_FILE"
  setup_network "$n"
  for ((i = 1; i <= n; i++)); do start_engine "$i"; done
  for ((i = 1; i <= n; i++)); do
    wait_engine "$i" || die "engine$i did not start (run '$0 down' to clean up)"
  done
  log "$n engine(s) answer after $(elapsed "$t0") s"
  ensure_images "$n"
  print_env "$n" >"$STATE/env.sh"
  print_inventory "$n" >"$STATE/inventory.yml"
  log "up: $n engine(s) in $(elapsed "$t0") s; inventory: $STATE/inventory.yml"
}

do_down() {
  local d i engines=()
  if [[ -d $STATE ]]; then
    for d in "$STATE"/engine*/; do
      [[ -d $d ]] || continue
      i=${d%/}
      i=${i##*/engine}
      if [[ $i =~ ^[0-9]+$ ]]; then engines+=("$i"); fi
    done
  fi
  stop_engines "${engines[@]}"
  teardown_network
  if [[ -d $STATE ]]; then
    unmount_under "$STATE"
    local entry
    for entry in "$STATE"/* "$STATE"/.[!.]*; do
      [[ -e $entry || -L $entry ]] || continue
      # Keep the image cache if somebody put it inside the state dir.
      [[ $CACHE == "$entry" || $CACHE == "$entry"/* ]] && continue
      rm -rf --one-file-system "$entry" || log "warning: could not remove all of $entry"
    done
    rmdir "$STATE" 2>/dev/null || true
  fi
  remove_cgroups
  if [[ -f $OWNER_FILE && $(<"$OWNER_FILE") == "$STATE" ]]; then rm -f "$OWNER_FILE"; fi
}

cmd_down() {
  need_root
  refuse_if_other_owner
  do_down
  log "down"
}

cmd_status() {
  local n i all=0 pid
  if ! n=$(recorded_n); then
    echo "not up (no state in $STATE)"
    return 1
  fi
  for ((i = 1; i <= n; i++)); do
    pid=$(cat "$(engine_dir "$i")/docker.pid" 2>/dev/null || echo -)
    if engine_answers "$i"; then
      printf 'engine%s up   pid=%s ip=%s host=%s containers=%s\n' "$i" "$pid" "$(engine_ip "$i")" \
        "$(engine_host "$i")" "$(dk "$i" ps -q | wc -l)"
    else
      printf 'engine%s DOWN ip=%s host=%s\n' "$i" "$(engine_ip "$i")" "$(engine_host "$i")"
      all=1
    fi
  done
  return "$all"
}

cmd_env() {
  local n
  n=$(recorded_n) || die "not up (no state in $STATE)"
  print_env "$n"
}

cmd_inventory() {
  local n
  n=$(recorded_n) || die "not up (no state in $STATE)"
  print_inventory "$n"
}

cmd_selftest() {
  local n ip1 web target out rc=0
  n=$(recorded_n) || die "not up (no state in $STATE)"
  ((n >= 2)) || die "selftest needs at least 2 engines"
  ip1=$(engine_ip 1)
  web=$(dk 1 run -d --rm -p 18080:80 chaos-busybox:latest httpd -f -p 80 -h /var/www)
  target=$(dk 2 run -d --rm chaos-busybox:latest sleep 120)
  if out=$(dk 2 run --rm chaos-busybox:latest timeout 10 wget -q -O - "http://$ip1:18080/" 2>&1) &&
    [[ $out == chaos-busybox ]]; then
    echo "ok: engine2 container fetched http://$ip1:18080/ from engine1"
  else
    echo "FAIL: engine2 -> http://$ip1:18080/: $out"
    rc=1
  fi
  if ipv6_enabled; then
    if out=$(dk 2 run --rm chaos-busybox:latest timeout 10 wget -q -O - "http://[$(engine_ip6 1)]:18080/" 2>&1) &&
      [[ $out == chaos-busybox ]]; then
      echo "ok: engine2 container fetched http://[$(engine_ip6 1)]:18080/ over IPv6"
    else
      echo "note: IPv6 engine2 -> engine1 failed: $out"
    fi
  fi
  if out=$(dk 2 run --rm --network "container:$target" --cap-add NET_ADMIN chaos-nethelper:latest \
    tc qdisc show dev eth0 2>&1); then
    echo "ok: nethelper in the target's netns: tc qdisc show dev eth0: $out"
  else
    echo "FAIL: nethelper tc: $out"
    rc=1
  fi
  if out=$(dk 2 run --rm --network "container:$target" --cap-add NET_ADMIN chaos-nethelper:latest \
    iptables -S 2>&1); then
    echo "ok: nethelper iptables -S: $(echo "$out" | tr '\n' ' ')"
  else
    echo "FAIL: nethelper iptables: $out"
    rc=1
  fi
  dk 1 rm -f "$web" >/dev/null 2>&1 || true
  dk 2 rm -f "$target" >/dev/null 2>&1 || true
  return "$rc"
}

main() {
  local cmd=${1:-}
  [[ $# -gt 0 ]] && shift
  case $cmd in
    up | down | status | env | inventory | selftest) ;;
    -h | --help | help) usage; return 0 ;;
    *) usage >&2; return 2 ;;
  esac
  if [[ $cmd == up || $cmd == down || $cmd == selftest ]]; then
    need_root
    mkdir -p "$(dirname "$STATE")"
    exec 9>"$STATE.lock"
    flock -w 300 9 || die "another docker-bed.sh holds $STATE.lock"
  fi
  case $cmd in
    up) (($# <= 1)) || die "usage: up [N]"; cmd_up "$@" ;;
    down) cmd_down ;;
    status) cmd_status ;;
    env) cmd_env ;;
    inventory) cmd_inventory ;;
    selftest) cmd_selftest ;;
  esac
}

main "$@"

#!/usr/bin/env bash
# Build the network helper image of chaos.engineering.container_netem from this host's own iproute2 and
# iptables binaries: no registry, no network (the air-gapped answer to "cannot pull the tc image").
#
#   nethelper-image.sh rootfs DIR               write the image's root filesystem into DIR
#   nethelper-image.sh import NAME [--force]    build it and `docker import` it as NAME on $DOCKER_HOST;
#                                               prints "unchanged NAME" when NAME already has this recipe
#   nethelper-image.sh stress-rootfs DIR        the stress helper's root filesystem (container_stress)
#   nethelper-image.sh stress-import NAME [--force]   the same for the stress helper (chaos-stresshelper:latest)
#
# Also sourced by tests/infra/docker-bed.sh, which builds the same image for the test engines.
# The image holds tc, ip, iptables/ip6tables (the host's backend, nft or legacy), sleep, the libraries they
# load (ldd, plus the dlopen'ed xtables and tc modules), and dash as /bin/sh. It runs as a helper that
# joins a target's network namespace with only NET_ADMIN; it never needs a shell, but dash keeps
# `sh -c 'tc ...'` from reaching a busybox applet by mistake.
: "${SYS_PATH:=/usr/sbin:/usr/bin:/sbin:/bin}"

# put_file ROOT PATH: copy PATH (dereferenced) into ROOT at the same path; ROOT replicates the host's
# top-level merged-/usr symlinks, so /lib64/ld-linux-x86-64.so.2 lands where the loader looks for it.
put_file() {
  local root=$1 path=$2
  mkdir -p "$root$(dirname "$path")"
  cp -L "$path" "$root$path"
}

libs_of() { ldd "$@" 2>/dev/null | awk '/=> \//{print $3} /^\t\/[^ ]+ \(/{print $1}' | sort -u; }

make_rootfs_base() {
  local root=$1 top target
  mkdir -p "$root"
  for top in bin sbin lib lib64; do
    if [[ -L /$top ]]; then
      target=$(readlink "/$top")
      ln -s "$target" "$root/$top"
      if [[ $target != /* ]]; then target=$(dirname "/$top")/$target; fi
      mkdir -p "$root/${target#/}"
    fi
  done
  mkdir -p "$root/usr/bin" "$root/usr/sbin" "$root/bin" "$root/sbin" "$root/etc" "$root/tmp" \
    "$root/run" "$root/var/www" "$root/root"
  chmod 1777 "$root/tmp"
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
  local f
  for f in /etc/protocols /etc/services; do
    if [[ -f $f ]]; then cp -L "$f" "$root$f"; fi
  done
  return 0
}

build_nethelper_rootfs() {
  local root=$1 multi name lib p tool
  make_rootfs_base "$root"
  for tool in tc ip iptables; do
    PATH=$SYS_PATH command -v "$tool" >/dev/null || {
      printf 'nethelper-image: %s is not installed on this host (install iproute2 and iptables)\n' "$tool" >&2
      return 1
    }
  done
  multi=$(readlink -f "$(PATH=$SYS_PATH command -v iptables)")
  local bins=(
    "$(readlink -f "$(PATH=$SYS_PATH command -v tc)")"
    "$(readlink -f "$(PATH=$SYS_PATH command -v ip)")"
    "$multi"
  )
  for p in /bin/dash /bin/busybox "$(PATH=$SYS_PATH command -v sleep)"; do
    if [[ -x $p ]]; then bins+=("$(readlink -f "$p")"); fi
  done
  local so=()
  for p in /usr/lib/x86_64-linux-gnu/xtables /usr/lib/x86_64-linux-gnu/tc /usr/lib64/xtables /usr/lib64/tc; do
    [[ -d $p ]] || continue
    mkdir -p "$root$p"
    cp -a "$p/." "$root$p/"
    while IFS= read -r lib; do so+=("$lib"); done < <(find "$p" -name '*.so' -type f)
  done
  for p in "${bins[@]}"; do put_file "$root" "$p"; done
  while IFS= read -r lib; do put_file "$root" "$lib"; done < <(libs_of "${bins[@]}" "${so[@]}")
  for p in /etc/iproute2 /usr/share/iproute2; do
    if [[ -d $p ]]; then mkdir -p "$root$p" && cp -a "$p/." "$root$p/"; fi
  done
  # One iptables backend, the host's choice (the same one its dockerd uses): iptables and ip6tables are
  # both the host's xtables-*-multi.
  for name in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do
    ln -sf "$(basename "$multi")" "$root$(dirname "$multi")/$name"
  done
  [[ $(dirname "$multi") == /usr/sbin ]] || ln -sf "$multi" "$root/usr/sbin/iptables"
  if [[ -x /bin/dash ]]; then
    # /bin/sh is dash, so `sh -c 'tc ...'` runs the real tc, not busybox's applet.
    ln -sf dash "$root/usr/bin/sh"
    [[ -L $root/bin ]] || ln -sf dash "$root/bin/sh"
  fi
  if [[ -x /bin/busybox ]]; then
    # busybox for cat, ls, ... but never shadowing the real ip/tc/iptables/sleep.
    while IFS= read -r name; do
      case $name in sh | ash | ip | tc | iptables* | ip6tables* | busybox) continue ;; esac
      [[ -e $root/usr/sbin/$name || -e $root/usr/bin/$name || -L $root/usr/bin/$name ]] && continue
      ln -s busybox "$root/usr/bin/$name"
    done < <(/bin/busybox --list)
  fi
}

# build_stresshelper_rootfs ROOT: the stress helper of container_stress, the host's own stress-ng (Debian's
# package, installed with apt-get when missing) and the libraries it loads. It runs stress-ng as its entrypoint,
# in the target's cgroup, with no capability and no network; /tmp is its working directory (for --hdd files).
build_stresshelper_rootfs() {
  local root=$1 bin
  ensure_stress_ng || return 1
  make_rootfs_base "$root"
  bin=$(readlink -f "$(PATH=$SYS_PATH command -v stress-ng)")
  put_file "$root" "$bin"
  [[ $bin == /usr/bin/stress-ng ]] || ln -sf "$bin" "$root/usr/bin/stress-ng"
  while IFS= read -r lib; do put_file "$root" "$lib"; done < <(libs_of "$bin")
}

ensure_stress_ng() {
  PATH=$SYS_PATH command -v stress-ng >/dev/null && return 0
  if command -v apt-get >/dev/null && [[ $(id -u) -eq 0 ]]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends stress-ng >&2 || true
  fi
  PATH=$SYS_PATH command -v stress-ng >/dev/null || {
    printf 'stresshelper-image: stress-ng is not installed on this host (install the stress-ng package)\n' >&2
    return 1
  }
}

stresshelper_recipe_key() {
  cat "${BASH_SOURCE[0]}" "$(readlink -f "$(PATH=$SYS_PATH command -v stress-ng)")" | sha256sum | cut -c1-16
}

# nethelper_recipe_key: changes whenever the binaries or this recipe change.
nethelper_recipe_key() {
  local tools=()
  local tool
  for tool in tc ip iptables sleep; do tools+=("$(readlink -f "$(PATH=$SYS_PATH command -v "$tool")")"); done
  # Contents only: the script runs from a different temporary path each time.
  cat "${BASH_SOURCE[0]}" "${tools[@]}" | sha256sum | cut -c1-16
}

# import_helper DOCKER NAME FORCE LABEL KEY BUILD MESSAGE CHANGE...: build a root filesystem with the function
# BUILD and `docker import` it as NAME, with the CHANGEs and LABEL=KEY; prints "unchanged NAME" and returns 1 when
# NAME has KEY already (and FORCE is not --force).
import_helper() {
  local docker=$1 name=$2 force=$3 label=$4 key=$5 build=$6 message=$7 current change
  shift 7
  current=$("$docker" image inspect --format "{{index .Config.Labels \"$label\"}}" "$name" 2>/dev/null || true)
  if [[ $current == "$key" && $force != --force ]]; then
    echo "unchanged $name"
    return 1
  fi
  local args=(--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
    --change "LABEL $label=$key")
  for change in "$@"; do args+=(--change "$change"); done
  (
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    "$build" "$work/root"
    tar --numeric-owner --owner=0 --group=0 -C "$work/root" -cf - . |
      "$docker" import "${args[@]}" --message "$message" - "$name" >/dev/null
  )
}

nethelper_main() {
  set -euo pipefail
  local cmd=${1:-} docker=${NETHELPER_DOCKER:-docker}
  case $cmd in
    rootfs)
      [[ $# -eq 2 ]] || { echo "usage: $0 rootfs DIR" >&2; return 2; }
      build_nethelper_rootfs "$2"
      ;;
    import)
      [[ $# -ge 2 ]] || { echo "usage: $0 import NAME [--force]" >&2; return 2; }
      import_helper "$docker" "$2" "${3:-}" chaos.engineering/nethelper-key "$(nethelper_recipe_key)" \
        build_nethelper_rootfs "chaos.engineering network helper, built from the host's own iproute2 and iptables" \
        'CMD ["sleep", "infinity"]' || return 0
      # Prove the image works before calling it built.
      "$docker" run --rm --network none --cap-drop ALL --cap-add NET_ADMIN "$2" tc qdisc show dev lo >/dev/null
      "$docker" run --rm --network none --cap-drop ALL --cap-add NET_ADMIN "$2" iptables -S >/dev/null
      echo "built $2"
      ;;
    stress-rootfs)
      [[ $# -eq 2 ]] || { echo "usage: $0 stress-rootfs DIR" >&2; return 2; }
      build_stresshelper_rootfs "$2"
      ;;
    stress-import)
      [[ $# -ge 2 ]] || { echo "usage: $0 stress-import NAME [--force]" >&2; return 2; }
      ensure_stress_ng
      import_helper "$docker" "$2" "${3:-}" chaos.engineering/stresshelper-key "$(stresshelper_recipe_key)" \
        build_stresshelper_rootfs "chaos.engineering stress helper, built from the host's own stress-ng" \
        'ENTRYPOINT ["stress-ng"]' 'CMD ["--version"]' 'WORKDIR /tmp' || return 0
      "$docker" run --rm --network none --cap-drop ALL "$2" --cpu 1 --timeout 1s --quiet
      echo "built $2"
      ;;
    *)
      echo "usage: $0 rootfs DIR | import NAME [--force] | stress-rootfs DIR | stress-import NAME [--force]" >&2
      return 2
      ;;
  esac
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  nethelper_main "$@"
fi

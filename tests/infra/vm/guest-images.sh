#!/usr/bin/env bash
# guest-images.sh: runs INSIDE the vm-bed guest (installed there as /usr/local/sbin/chaos-build-images)
# and builds the two test images from the guest's own binaries, without a registry, the same way
# tests/infra/docker-bed.sh does on the host:
#
#   chaos-busybox:latest    FROM scratch + Debian's static /bin/busybox and its applet links (~2 MB)
#   chaos-nethelper:latest  the chaos.engineering.nethelper_image role's recipe (its nethelper-image.sh):
#                           the guest's tc, ip, iptables (xtables-nft-multi), sleep and their ldd libraries,
#                           the dlopen'ed xtables/tc plugin dirs, /bin/sh = dash, busybox for the rest
#
# Usage: chaos-build-images [--force]   prepare + import in one go; without --force, images that
#                                       already carry this recipe's key are kept
#        chaos-build-images prepare DIR  only make the two root trees in DIR (no Docker needed: vm-bed.sh
#                                       runs this in a chroot of the guest's rootfs at build time, at
#                                       native speed, still with the guest's own binaries)
#        chaos-build-images import DIR   docker import the trees made by `prepare`, then verify the images
set -euo pipefail

readonly PROG=chaos-build-images
readonly RECIPE_VERSION=1
readonly LABEL_TEST=chaos.engineering/test-image
readonly LABEL_KEY=chaos.engineering/bed-key
readonly IMAGES=(chaos-busybox:latest chaos-nethelper:latest)
readonly SYS_PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH=$SYS_PATH DOCKER_BUILDKIT=0 DOCKER_CLI_HINTS=false
unset DOCKER_HOST DOCKER_CONTEXT

# The role's image builder (vm-bed.sh installs it here): put_file, make_rootfs_base and build_nethelper_rootfs.
readonly NETHELPER_BUILDER=/usr/local/lib/chaos-engineering/nethelper-image.sh
# shellcheck source=roles/nethelper_image/files/nethelper-image.sh
source "$NETHELPER_BUILDER"

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { log "error: $*"; exit 1; }

cache_key() {
  local multi
  multi=$(readlink -f "$(command -v iptables)")
  {
    printf 'recipe %s\n' "$RECIPE_VERSION"
    dpkg-query -W -f='${Package} ${Version}\n' busybox-static iproute2 iptables dash libc6 2>/dev/null || true
    sha256sum /bin/busybox "$(command -v tc)" "$(command -v ip)" "$multi" /bin/dash "$NETHELPER_BUILDER"
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

import_image() { # import_image ROOT NAME KEY
  local root=$1 name=$2 key=$3
  tar --numeric-owner --owner=0 --group=0 -C "$root" -cf - . |
    docker import \
      --change 'CMD ["/bin/sh"]' \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change "LABEL $LABEL_TEST=true $LABEL_KEY=$key" \
      --message "chaos-engineering test bed image, built from the vm-bed guest's binaries" \
      - "$name" >/dev/null
}

verify_images() { # two container runs: each costs seconds under TCG
  local out mode
  # shellcheck disable=SC2016 # expanded by the container's shell
  docker run --rm chaos-busybox:latest sh -c \
    'for a in sh sleep nc httpd wget ping top timeout; do command -v $a >/dev/null || { echo "missing $a"; exit 1; }; done' ||
    die "chaos-busybox lacks an applet"
  # `sh -c 'tc -V'` also proves that sh is dash and tc the real one (busybox's tc applet has no -V).
  out=$(docker run --rm --cap-add NET_ADMIN chaos-nethelper:latest \
    sh -c 'tc -V && tc qdisc show >/dev/null && ip -V && iptables -V && iptables -S && ip6tables -S && sleep 0' 2>&1) ||
    die "chaos-nethelper: tools failed: $out"
  [[ $out == *iproute2* && $out == *"-P INPUT ACCEPT"* ]] || die "chaos-nethelper: unexpected output: $out"
  mode=$(iptables -V | sed -n 's/.*(\(.*\)).*/\1/p')
  [[ $out == *"($mode)"* ]] || die "chaos-nethelper: iptables backend differs from the guest's ($mode)"
  [[ $mode == nf_tables ]] || log "warning: the guest's iptables backend is $mode, not nf_tables"
}

has_images() {
  local got
  got=$(docker image inspect --format "{{index .Config.Labels \"$LABEL_KEY\"}}" "${IMAGES[@]}" 2>/dev/null) ||
    return 1
  [[ $(printf '%s\n' "$got" | grep -cx "$1") -eq ${#IMAGES[@]} ]]
}

prepare() { # prepare DIR
  local dir=$1
  [[ $(id -u) -eq 0 ]] || die "must run as root"
  local c
  for c in tc ip iptables ldd; do command -v "$c" >/dev/null || die "missing command: $c"; done
  [[ -x /bin/busybox ]] || die "/bin/busybox missing (package busybox-static)"
  if ldd /bin/busybox >/dev/null 2>&1; then die "/bin/busybox is dynamically linked; install busybox-static"; fi
  rm -rf "$dir"
  mkdir -p "$dir"
  build_busybox_rootfs "$dir/busybox"
  build_nethelper_rootfs "$dir/nethelper"
  cache_key >"$dir/key"
}

import_dir() { # import_dir DIR
  local dir=$1 key
  command -v docker >/dev/null || die "missing command: docker"
  [[ -s $dir/key && -d $dir/busybox && -d $dir/nethelper ]] || die "$dir: not made by '$PROG prepare'"
  key=$(<"$dir/key")
  import_image "$dir/busybox" chaos-busybox:latest "$key"
  import_image "$dir/nethelper" chaos-nethelper:latest "$key"
  verify_images
}

main() {
  local t0=$SECONDS key work
  case ${1:-} in
    prepare)
      (($# == 2)) || die "usage: $PROG prepare DIR"
      prepare "$2"
      log "prepared the image trees in $2 in $((SECONDS - t0)) s"
      return 0
      ;;
    import)
      (($# == 2)) || die "usage: $PROG import DIR"
      import_dir "$2"
      log "imported and verified ${IMAGES[*]} (key $(<"$2/key")) in $((SECONDS - t0)) s"
      return 0
      ;;
    "" | --force) ;;
    *) die "usage: $PROG [--force] | prepare DIR | import DIR" ;;
  esac
  key=$(cache_key)
  if [[ ${1:-} != --force ]] && has_images "$key"; then
    log "images already built (key $key)"
    return 0
  fi
  work=$(mktemp -d /var/tmp/chaos-images.XXXXXX)
  # shellcheck disable=SC2064 # expand work now
  trap "rm -rf '$work'" EXIT
  prepare "$work/trees"
  import_dir "$work/trees"
  log "built ${IMAGES[*]} (key $key) in $((SECONDS - t0)) s"
}

main "$@"

#!/usr/bin/env bash
# vm-bed.sh: one Debian VM under QEMU (software emulation, TCG) whose own kernel has sch_netem, with
# Docker (Debian's docker.io) and the two test images chaos-busybox / chaos-nethelper inside, reached
# over ssh on 127.0.0.1. It is the "remote Docker host with real netem" that the host kernel cannot be.
#
# Usage: vm-bed.sh deps | build | up | down | status | ssh -- CMD... | env | inventory [--ini] | selftest
#
#   deps       install the host packages it needs (qemu, debootstrap, ...; apt), nothing else: run it in the
#              foreground before a `build` in the background, so no two apt-get contend for dpkg's lock
#   build      debootstrap the image, make the test images' root trees from the guest's own binaries (in a
#              chroot), boot it once to `docker import` them, shut it down cleanly, and cache the qcow2 +
#              kernel + initrd under $CHAOS_VM_CACHE/<suite>-<recipe hash>/; a no-op when cached
#   up         boot the cached image (building it first if needed) on a throwaway overlay, wait until
#              ssh, `docker info` and the chaos-nethelper image answer; a fast no-op when already up
#   down       stop our qemu (pid in the state dir) and remove the state dir; the image cache is kept
#   status     exit 0 iff the VM is up and ssh answers
#   ssh -- CMD run CMD in the guest as root; each argument stays one argument (use `sh -c '...'` for
#              a pipeline); stdin is passed through
#   env        print shell export lines (CHAOS_VM_SSH_PORT, CHAOS_VM_SSH_KEY, CHAOS_VM_HTTP_PORT, ...)
#   inventory  print an Ansible inventory (YAML; --ini for INI) with host vm1; `up` also writes
#              $STATE/inventory.yml
#   selftest   two chaos-busybox containers in the guest; netem delay 100ms through chaos-nethelper
#              (--network container:<target> --cap-add NET_ADMIN, tc exec'ed directly) must raise the
#              ping RTT and the HTTP time through the port forward by ~100 ms; then it is removed
#
# Environment:
#   CHAOS_VM_BED_DIR        state dir (default /tmp/chaos-engineering-vm-bed): overlay, pid, console.log
#   CHAOS_VM_CACHE          image cache (default ~/.cache/chaos-engineering/vm); the root ssh key
#                           (id_ed25519) lives there too and is generated once
#   CHAOS_VM_SSH_PORT       host port forwarded to the guest's sshd (default 2222, on 127.0.0.1 only)
#   CHAOS_VM_HTTP_PORT      host port forwarded to guest port 8080 (default 18080, on 127.0.0.1 only)
#   CHAOS_VM_MEM, CHAOS_VM_SMP   guest memory in MiB (default 2048) and CPUs (default 2)
#   CHAOS_VM_BOOT_TIMEOUT   seconds to wait for ssh + Docker (default 420; TCG is slow)
#   CHAOS_VM_SUITE, CHAOS_VM_MIRROR   Debian suite and mirror (default: the host's, from its apt sources)
#
# What is ours: the qemu whose pid is in $STATE/qemu.pid (its command line names our overlay), the
# provisioning qemu of a build (its command line names the build dir), and the two directories above.
# One state dir is one VM, shared by whoever uses that dir: `up` finds it up and reuses it, `down` stops
# it for everybody. A second, independent VM needs its own CHAOS_VM_BED_DIR and ports.
set -euo pipefail

readonly PROG=vm-bed
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly HERE
# The role's helper-image builder, which the guest's chaos-build-images sources.
readonly NETHELPER_BUILDER=$HERE/../../roles/nethelper_image/files/nethelper-image.sh
STATE=${CHAOS_VM_BED_DIR:-/tmp/chaos-engineering-vm-bed}
STATE=${STATE%/}
readonly STATE
CACHE=${CHAOS_VM_CACHE:-${HOME:-/root}/.cache/chaos-engineering/vm}
CACHE=${CACHE%/}
readonly CACHE
readonly KEY=$CACHE/id_ed25519
readonly SSH_PORT_WANTED=${CHAOS_VM_SSH_PORT:-2222}
readonly HTTP_PORT_WANTED=${CHAOS_VM_HTTP_PORT:-18080}
readonly GUEST_HTTP_PORT=8080
readonly MEM=${CHAOS_VM_MEM:-2048}
readonly SMP=${CHAOS_VM_SMP:-2}
readonly BOOT_TIMEOUT=${CHAOS_VM_BOOT_TIMEOUT:-420}
readonly GUEST_IP=10.0.2.15
readonly GUEST_GW=10.0.2.2
readonly GUEST_HOSTNAME=chaos-vm
readonly DISK_SIZE=8G
# Bump when the recipe changes in a way the hash below cannot see; the recipe functions, the package
# list, the kernel command line, the guest image builder and the public key are hashed already.
readonly RECIPE_VERSION=1
readonly PACKAGES=(
  systemd-sysv udev kmod dbus iproute2 iptables iputils-ping procps
  openssh-server openssh-sftp-server
  docker.io python3 python3-docker busybox-static
  linux-image-amd64
)
# apparmor=0: without it `docker build` in the guest fails. net.ifnames=0: the NIC is eth0.
# mitigations=off: the guest is a throwaway test bed, and TCG pays dearly for them.
readonly APPEND="root=/dev/vda rw console=ttyS0 apparmor=0 net.ifnames=0 mitigations=off"
readonly SSH_COMMON_OPTS=(-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null)
readonly IMAGES=(chaos-busybox:latest chaos-nethelper:latest)
readonly SELFTEST_PREFIX=chaos-vm-selftest

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { log "error: $*"; exit 1; }
# shellcheck source=tests/infra/_apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/_apt.sh"

usage() { # the header comment from its Usage line on, however long it grows
  awk 'NR >= 6 && !/^#/ { exit } NR >= 6 { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"
}

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

need_root() { [[ $(id -u) -eq 0 ]] || die "must run as root"; }

valid_port() { [[ $1 =~ ^[0-9]+$ ]] && (($1 >= 1 && $1 <= 65535)); }

port_in_use() { # something accepts connections on 127.0.0.1:$1
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

free_port() { # free_port START: first port >= START that nobody listens on
  local p
  for ((p = $1; p < $1 + 200 && p <= 65535; p++)); do
    if ! port_in_use "$p"; then
      printf '%s\n' "$p"
      return 0
    fi
  done
  return 1
}

# ---------------------------------------------------------------- host packages

ensure_host_packages() {
  apt_install_missing qemu-system-x86 qemu-utils debootstrap e2fsprogs openssh-client
  local cmd
  for cmd in qemu-system-x86_64 qemu-img debootstrap mkfs.ext4 ssh ssh-keygen flock; do
    PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH command -v "$cmd" >/dev/null || die "missing command: $cmd"
  done
}

ensure_key() {
  mkdir -p "$CACHE"
  chmod 700 "$CACHE"
  if [[ ! -s $KEY || ! -s $KEY.pub ]]; then
    rm -f "$KEY" "$KEY.pub"
    ssh-keygen -q -t ed25519 -N '' -C "chaos-engineering-vm-bed" -f "$KEY" >/dev/null
    log "generated the guest's root ssh key $KEY"
  fi
  chmod 600 "$KEY"
}

# ---------------------------------------------------------------- recipe

host_suite() {
  if [[ -n ${CHAOS_VM_SUITE:-} ]]; then
    printf '%s\n' "$CHAOS_VM_SUITE"
    return 0
  fi
  local codename
  codename=$(sed -n 's/^VERSION_CODENAME=//p' /etc/os-release 2>/dev/null | tr -d '"')
  [[ -n $codename ]] || die "cannot tell the host's Debian suite; set CHAOS_VM_SUITE"
  printf '%s\n' "$codename"
}

host_mirror() { # host_mirror SUITE: the first apt source (deb822 or one-line) that serves SUITE
  if [[ -n ${CHAOS_VM_MIRROR:-} ]]; then
    printf '%s\n' "$CHAOS_VM_MIRROR"
    return 0
  fi
  local suite=$1 f url=""
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f $f ]] || continue
    url=$(awk -v s="$suite" '
      function flush() { if (ok && deb && uri != "" && !done) { print uri; done = 1 } ok = 0; deb = 0; uri = "" }
      /^[ \t]*$/ { flush(); next }
      /^#/ { next }
      tolower($1) == "types:" { for (i = 2; i <= NF; i++) if ($i == "deb") deb = 1 }
      tolower($1) == "uris:" { uri = $2 }
      tolower($1) == "suites:" { for (i = 2; i <= NF; i++) if ($i == s) ok = 1 }
      END { flush() }' "$f")
    [[ -n $url ]] && break
  done
  if [[ -z $url ]]; then
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
      [[ -f $f ]] || continue
      url=$(awk -v s="$suite" '$1 == "deb" {
          i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
          if ($(i + 1) == s) { print $i; exit } }' "$f")
      [[ -n $url ]] && break
    done
  fi
  printf '%s\n' "${url:-http://deb.debian.org/debian}"
}

# configure_rootfs ROOT: everything the image gets on top of debootstrap. Part of the cache key.
configure_rootfs() {
  local root=$1 suite=$2 mirror=$3
  printf '%s\n' "$GUEST_HOSTNAME" >"$root/etc/hostname"
  printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\tlocalhost ip6-localhost ip6-loopback\n' \
    "$GUEST_HOSTNAME" >"$root/etc/hosts"
  printf '/dev/vda\t/\text4\trw,noatime\t0\t0\n' >"$root/etc/fstab"
  printf 'deb %s %s main\n' "$mirror" "$suite" >"$root/etc/apt/sources.list"
  # slirp's DNS; with restrict=on nothing outside answers anyway.
  rm -f "$root/etc/resolv.conf"
  printf 'nameserver 10.0.2.3\n' >"$root/etc/resolv.conf"

  # Static network through systemd-networkd; nothing waits for "online".
  mkdir -p "$root/etc/systemd/network"
  cat >"$root/etc/systemd/network/10-eth0.network" <<EOF
[Match]
Name=eth0

[Network]
Address=$GUEST_IP/24
Gateway=$GUEST_GW
DNS=10.0.2.3
LinkLocalAddressing=no
IPv6AcceptRA=no
EOF

  # netem (and ifb for ingress shaping) at boot; overlay for containerd's ExecStartPre.
  mkdir -p "$root/etc/modules-load.d"
  printf '# chaos-engineering vm-bed: real netem for the tests\nsch_netem\nifb\noverlay\n' \
    >"$root/etc/modules-load.d/chaos-netem.conf"
  # ifb0/ifb1 appear only when asked for.
  mkdir -p "$root/etc/modprobe.d"
  printf 'options ifb numifbs=0\n' >"$root/etc/modprobe.d/chaos-ifb.conf"
  # Under TCG every module costs seconds: udev would load these for the emulated PC's devices and for
  # `-cpu max`'s features (kvm_amd for SVM, AES-NI, ...), and nothing here needs them.
  local mod
  for mod in kvm kvm_amd kvm_intel ccp cfg80211 rfkill pcspkr floppy psmouse serio_raw evdev i2c_piix4 \
    ata_piix ata_generic qemu_fw_cfg aesni_intel ghash_clmulni_intel crc32_pclmul crct10dif_pclmul \
    sha1_ssse3 sha256_ssse3 sha512_ssse3 powernow_k8 acpi_cpufreq drm bochs; do
    printf 'blacklist %s\n' "$mod"
  done >"$root/etc/modprobe.d/chaos-vm-bed-blacklist.conf"
  # A small initrd (8 MB, not 37): unpacking it is seconds under TCG.
  mkdir -p "$root/etc/initramfs-tools/conf.d"
  printf 'MODULES=list\n' >"$root/etc/initramfs-tools/conf.d/chaos-vm-bed.conf"
  printf 'virtio_pci\nvirtio_blk\ncrc32c_generic\next4\n' >>"$root/etc/initramfs-tools/modules"

  # containerd serves only dockerd: no CRI plugin (as Docker's own containerd.io package ships it).
  mkdir -p "$root/etc/containerd"
  printf 'version = 2\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n' >"$root/etc/containerd/config.toml"

  # root logs in with the cached key only.
  install -d -m 700 "$root/root/.ssh"
  install -m 600 "$KEY.pub" "$root/root/.ssh/authorized_keys"
  mkdir -p "$root/etc/ssh/sshd_config.d"
  printf 'PermitRootLogin prohibit-password\nPasswordAuthentication no\nUseDNS no\nMaxStartups 50:30:100\n' \
    >"$root/etc/ssh/sshd_config.d/chaos-vm-bed.conf"

  # Logs in RAM; the console shows the boot.
  mkdir -p "$root/etc/systemd/journald.conf.d"
  printf '[Journal]\nStorage=volatile\nRuntimeMaxUse=64M\n' >"$root/etc/systemd/journald.conf.d/chaos.conf"

  # The guest's test-image builder.
  install -m 755 "$HERE/vm/guest-images.sh" "$root/usr/local/sbin/chaos-build-images"
  install -D -m 644 "$NETHELPER_BUILDER" "$root/usr/local/lib/chaos-engineering/nethelper-image.sh"

  chroot "$root" systemctl enable systemd-networkd.service ssh.service containerd.service \
    docker.service docker.socket >/dev/null 2>&1 ||
    die "systemctl enable in the image failed"
  local unit
  for unit in systemd-networkd-wait-online.service e2scrub_reap.service e2scrub_all.timer \
    apt-daily.timer apt-daily-upgrade.timer fstrim.timer getty@tty1.service systemd-firstboot.service \
    modprobe@drm.service modprobe@dm_mod.service modprobe@loop.service modprobe@fuse.service \
    modprobe@efi_pstore.service modprobe@configfs.service sys-kernel-config.mount sys-kernel-debug.mount \
    sys-kernel-tracing.mount dev-hugepages.mount sys-fs-fuse-connections.mount systemd-binfmt.service \
    proc-sys-fs-binfmt_misc.automount; do
    ln -sf /dev/null "$root/etc/systemd/system/$unit"
  done

  # The kernel and the initrd are booted from outside the image.
  local kver
  kver=$(find "$root/lib/modules" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort -V | tail -n 1)
  [[ -n $kver ]] || die "no kernel in the image"
  [[ -f $root/lib/modules/$kver/kernel/net/sched/sch_netem.ko || -f $root/lib/modules/$kver/kernel/net/sched/sch_netem.ko.xz ]] ||
    die "the image's kernel $kver has no sch_netem module"
  # /proc for the chroot steps below (bash's process substitution needs /dev/fd); unmounted by the caller.
  mountpoint -q "$root/proc" || mount -t proc proc "$root/proc" || die "cannot mount /proc in the image"
  rm -f "$root/boot/initrd.img-$kver"
  chroot "$root" update-initramfs -c -k "$kver" >"$root.initramfs.log" 2>&1 || {
    cat "$root.initramfs.log" >&2
    die "update-initramfs in the image failed"
  }

  # The test images' root trees, made now at native speed from the guest's own binaries (the
  # provisioning boot only has to `docker import` them).
  chroot "$root" /usr/local/sbin/chaos-build-images prepare /var/lib/chaos-images >&2 ||
    die "chaos-build-images prepare (in a chroot of the image) failed"

  # Smaller image: the .debs stay in the debootstrap cache, the lists are useless offline.
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/var/log/*.log
}

cache_key() {
  local suite=$1 mirror=$2
  {
    printf 'recipe %s\nsuite %s\nmirror %s\nappend %s\ndisk %s\n' "$RECIPE_VERSION" "$suite" "$mirror" \
      "$APPEND" "$DISK_SIZE"
    printf 'package %s\n' "${PACKAGES[@]}"
    printf 'ip %s gw %s host %s\n' "$GUEST_IP" "$GUEST_GW" "$GUEST_HOSTNAME"
    declare -f configure_rootfs debootstrap_rootfs make_disk provision
    sha256sum <"$HERE/vm/guest-images.sh"
    sha256sum <"$NETHELPER_BUILDER"
    cat "$KEY.pub"
  } | sha256sum | cut -c1-16
}

debootstrap_rootfs() {
  local root=$1 suite=$2 mirror=$3 include
  include=$(IFS=,; printf '%s' "${PACKAGES[*]}")
  mkdir -p "$CACHE/debs"
  # --cache-dir keeps the .debs, so a rebuild after a recipe change downloads nothing new.
  DEBIAN_FRONTEND=noninteractive debootstrap --variant=minbase --merged-usr --cache-dir="$CACHE/debs" \
    --include="$include" "$suite" "$root" "$mirror" >"$root.debootstrap.log" 2>&1 || {
    tail -n 30 "$root.debootstrap.log" >&2
    [[ -f $root/debootstrap/debootstrap.log ]] && tail -n 30 "$root/debootstrap/debootstrap.log" >&2
    die "debootstrap failed (log: $root.debootstrap.log)"
  }
}

make_disk() { # make_disk ROOT RAW QCOW2
  local root=$1 raw=$2 qcow=$3
  # Inode tables and journal zeroed now (and then skipped by qemu-img as zeros), so the guest's
  # kernel has no lazy init to do on every boot.
  mkfs.ext4 -q -F -L chaos-vm-root -m 0 -E lazy_itable_init=0,lazy_journal_init=0 -d "$root" "$raw" "$DISK_SIZE" ||
    die "mkfs.ext4 -d failed"
  qemu-img convert -q -O qcow2 "$raw" "$qcow" || die "qemu-img convert failed"
  rm -f "$raw"
}

# provision DIR SSH_PORT: boot DIR/disk.qcow2 itself (no overlay), import the test images in the guest,
# record what the guest has, shut it down cleanly.
provision() {
  local dir=$1 port=$2 out
  start_qemu "$dir" "$dir/disk.qcow2" "$port" "" "$dir" discard
  wait_ssh "$port" "$dir/qemu.pid" "$dir/console.log" ||
    die "the new image did not come up (console: $dir/console.log)"
  wait_docker "$port" 0 || die "Docker did not start in the new image"
  guest "$port" sh -c 'chaos-build-images import /var/lib/chaos-images && rm -rf /var/lib/chaos-images' >&2 ||
    die "importing the test images in the guest failed"
  out=$(guest "$port" sh -c 'docker version --format "{{.Server.Version}} (API {{.Server.APIVersion}})";
    iptables -V; uname -r; lsmod | grep -c "^sch_netem " || true')
  printf '%s\n' "$out" >"$dir/guest-info"
  [[ $(tail -n 1 <<<"$out") == 1 ]] || die "sch_netem is not loaded in the guest"
  guest "$port" sh -c 'docker image ls --format "{{.Repository}}:{{.Tag}} {{.Size}}"; sync; fstrim / || true' >&2
  guest "$port" systemctl poweroff >/dev/null 2>&1 || true
  wait_gone "$(cat "$dir/qemu.pid")" 180 || die "the guest did not power off"
}

do_build() {
  local suite mirror key dir work t0 t1 port
  t0=$(now)
  ensure_host_packages
  ensure_key
  suite=$(host_suite)
  mirror=$(host_mirror "$suite")
  key=$(cache_key "$suite" "$mirror")
  dir=$CACHE/$suite-$key
  IMG=$dir
  if [[ -f $dir/complete ]]; then
    log "image cached: $dir"
    return 0
  fi
  exec 8>"$CACHE/.build.lock"
  flock -w 1800 8 || die "another build holds $CACHE/.build.lock"
  if [[ -f $dir/complete ]]; then
    log "image cached (built meanwhile): $dir"
    exec 8>&-
    return 0
  fi
  work=$(mktemp -d "$CACHE/build.XXXXXX")
  BUILD_WORK=$work
  log "building $suite from $mirror in $work (recipe $key)"
  debootstrap_rootfs "$work/rootfs" "$suite" "$mirror"
  log "debootstrap done after $(elapsed "$t0") s"
  configure_rootfs "$work/rootfs" "$suite" "$mirror"
  unmount_under "$work/rootfs"
  local kver
  kver=$(find "$work/rootfs/lib/modules" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort -V | tail -n 1)
  cp "$work/rootfs/boot/vmlinuz-$kver" "$work/vmlinuz"
  cp "$work/rootfs/boot/initrd.img-$kver" "$work/initrd.img"
  printf '%s\n' "$kver" >"$work/kernel-version"
  t1=$(now)
  make_disk "$work/rootfs" "$work/disk.raw" "$work/disk.qcow2"
  rm -rf --one-file-system "$work/rootfs"
  log "disk made in $(elapsed "$t1") s ($(du -h "$work/disk.qcow2" | cut -f1) qcow2)"
  t1=$(now)
  port=$(free_port 2322) || die "no free port for the provisioning boot"
  provision "$work" "$port"
  log "provisioned (test images imported in the guest, clean shutdown) in $(elapsed "$t1") s"
  rm -f "$work/qemu.pid"
  printf 'suite %s\nmirror %s\nkey %s\nbuilt %s\nbuild_seconds %s\n' "$suite" "$mirror" "$key" \
    "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(elapsed "$t0")" >"$work/recipe"
  touch "$work/complete"
  rm -rf "$dir"
  mv "$work" "$dir"
  BUILD_WORK=""
  # Older recipes' images are 1-2 GB each: keep only this one.
  local old
  for old in "$CACHE"/*-*/; do
    old=${old%/}
    [[ $old == "$dir" || ! -f $old/complete ]] && continue
    rm -rf --one-file-system "$old"
    log "removed the outdated image $old"
  done
  exec 8>&-
  log "built $dir in $(elapsed "$t0") s: $(tr '\n' ' ' <"$dir/guest-info")"
}

BUILD_WORK=""
IMG=""
cleanup_build() { # EXIT trap: a failed build leaves no mounts, no qemu and no half-made dir behind
  [[ -n $BUILD_WORK && -d $BUILD_WORK ]] || return 0
  local pid
  if [[ -f $BUILD_WORK/qemu.pid ]]; then
    pid=$(<"$BUILD_WORK/qemu.pid")
    if our_qemu "$pid" "$BUILD_WORK/disk.qcow2"; then
      kill -TERM "$pid" 2>/dev/null || true
      wait_gone "$pid" 10 || kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  unmount_under "$BUILD_WORK"
  if [[ -n ${CHAOS_VM_KEEP_FAILED:-} ]]; then
    log "kept the failed build dir $BUILD_WORK"
  else
    rm -rf --one-file-system "$BUILD_WORK"
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

# ---------------------------------------------------------------- qemu and ssh

our_qemu() { # our_qemu PID DISK: PID is alive and is a qemu whose command line names DISK
  local pid=$1 disk=$2 cmdline
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  [[ $cmdline == *qemu-system* && $cmdline == *"$disk"* ]]
}

wait_gone() { # wait_gone PID SECONDS
  local pid=$1 deadline=$((SECONDS + $2))
  while kill -0 "$pid" 2>/dev/null; do
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}

# start_qemu IMAGE_DIR DISK SSH_PORT HTTP_PORT RUN_DIR [discard]: kernel and initrd from IMAGE_DIR;
# RUN_DIR gets qemu.pid, console.log and qemu.log
start_qemu() {
  local img=$1 disk=$2 port=$3 http=$4 dir=$5 discard=${6:-}
  local pidfile=$dir/qemu.pid console=$dir/console.log
  local nic="user,model=virtio-net-pci,restrict=on,hostfwd=tcp:127.0.0.1:$port-:22"
  [[ -n $http ]] && nic+=",hostfwd=tcp:127.0.0.1:$http-:$GUEST_HTTP_PORT"
  local drive="file=$disk,if=virtio,format=qcow2,cache=unsafe"
  [[ -n $discard ]] && drive+=",discard=unmap"
  rm -f "$pidfile"
  : >"$console"
  # 8>&- 9>&-: the daemonized qemu must not inherit our flock fds, or it holds the locks for its life.
  qemu-system-x86_64 \
    -name chaos-vm-bed \
    -nodefaults -no-user-config \
    -accel tcg,thread=multi -cpu max -smp "$SMP" -m "$MEM" \
    -kernel "$img/vmlinuz" -initrd "$img/initrd.img" -append "$APPEND" \
    -drive "$drive" \
    -nic "$nic" \
    -device virtio-rng-pci \
    -display none -vga none \
    -serial "file:$console" \
    -monitor none \
    -pidfile "$pidfile" -daemonize \
    >"$dir/qemu.log" 2>&1 </dev/null 8>&- 9>&- || {
    cat "$dir/qemu.log" >&2
    die "qemu failed to start (is port $port${http:+ or $http} on 127.0.0.1 taken?)"
  }
}

ssh_args() { # ssh_args PORT: the ssh options for the guest, user@host last
  printf '%s\n' -i "$KEY" -p "$1" "${SSH_COMMON_OPTS[@]}" -o LogLevel=ERROR -o BatchMode=yes \
    -o IdentitiesOnly=yes -o ConnectTimeout=10 -o ServerAliveInterval=10 -o ServerAliveCountMax=6 \
    root@127.0.0.1
}

guest() { # guest PORT ARGV...: run ARGV in the guest, each argument quoted for the remote shell
  local port=$1 args=() a quoted=()
  shift
  mapfile -t args < <(ssh_args "$port")
  for a in "$@"; do quoted+=("$(printf '%q' "$a")"); done
  ssh "${args[@]}" -- "${quoted[*]}"
}

guest_true() { # guest_true PORT: ssh works, within 30 s
  local args=()
  mapfile -t args < <(ssh_args "$1")
  timeout 30 ssh "${args[@]}" -- true </dev/null >/dev/null 2>&1
}

wait_ssh() { # wait_ssh PORT PIDFILE CONSOLE
  local port=$1 pidfile=$2 console=$3 deadline=$((SECONDS + BOOT_TIMEOUT)) pid=""
  while ((SECONDS < deadline)); do
    [[ -z $pid && -s $pidfile ]] && pid=$(<"$pidfile")
    if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
      log "qemu exited; last console lines:"
      tail -n 30 "$console" >&2 || true
      return 1
    fi
    if guest_true "$port"; then return 0; fi
    sleep 1
  done
  log "no ssh on 127.0.0.1:$port after $BOOT_TIMEOUT s; last console lines:"
  tail -n 30 "$console" >&2 || true
  return 1
}

wait_docker() { # wait_docker PORT NEED_IMAGES: docker info answers (and the images exist)
  local port=$1 need=$2
  # shellcheck disable=SC2016 # expanded in the guest
  guest "$port" sh -c '
    need=$1; shift; i=0
    while [ $i -lt 600 ]; do
      if docker info >/dev/null 2>&1; then
        [ "$need" = 1 ] || exit 0
        docker image inspect "$@" >/dev/null 2>&1 && exit 0
      fi
      i=$((i + 1)); sleep 0.5
    done
    docker info 2>&1 | tail -n 5 >&2; exit 1' sh "$need" "${IMAGES[@]}" </dev/null
}

# ---------------------------------------------------------------- state

recorded() { # recorded NAME: a value written at `up`
  [[ -s $STATE/$1 ]] || return 1
  cat "$STATE/$1"
}

vm_pid() { # prints our qemu's pid if it is running
  local pid
  pid=$(recorded qemu.pid 2>/dev/null) || return 1
  our_qemu "$pid" "$STATE/overlay.qcow2" || return 1
  printf '%s\n' "$pid"
}

cur_ssh_port() { recorded ssh_port 2>/dev/null || printf '%s\n' "$SSH_PORT_WANTED"; }
cur_http_port() { recorded http_port 2>/dev/null || printf '%s\n' "$HTTP_PORT_WANTED"; }

vm_answers() {
  vm_pid >/dev/null || return 1
  guest_true "$(cur_ssh_port)"
}

# ---------------------------------------------------------------- outputs

print_env() {
  local port http
  port=$(cur_ssh_port)
  http=$(cur_http_port)
  printf 'export CHAOS_VM_BED_DIR=%q\n' "$STATE"
  printf 'export CHAOS_VM_HOST=127.0.0.1\n'
  printf 'export CHAOS_VM_SSH_PORT=%q\n' "$port"
  printf 'export CHAOS_VM_SSH_USER=root\n'
  printf 'export CHAOS_VM_SSH_KEY=%q\n' "$KEY"
  printf 'export CHAOS_VM_SSH_OPTS=%q\n' "${SSH_COMMON_OPTS[*]}"
  printf 'export CHAOS_VM_HTTP_PORT=%q\n' "$http"
  printf 'export CHAOS_VM_GUEST_HTTP_PORT=%q\n' "$GUEST_HTTP_PORT"
  printf 'export CHAOS_VM_GUEST_IP=%q\n' "$GUEST_IP"
  printf 'export CHAOS_VM_INVENTORY=%q\n' "$STATE/inventory.yml"
}

print_inventory() {
  local format=${1:-yaml} port http
  port=$(cur_ssh_port)
  http=$(cur_http_port)
  if [[ $format == ini ]]; then
    printf '# Generated by tests/infra/vm-bed.sh: the QEMU VM (real netem, Docker) as a remote host.\n'
    printf '[chaos_vms]\n'
    printf 'vm1 ansible_host=127.0.0.1 ansible_port=%s ansible_user=root ansible_ssh_private_key_file=%s' \
      "$port" "$KEY"
    printf ' ansible_python_interpreter=/usr/bin/python3 ansible_ssh_common_args="%s"' "${SSH_COMMON_OPTS[*]}"
    printf ' chaos_vm_http_port=%s chaos_vm_guest_http_port=%s\n' "$http" "$GUEST_HTTP_PORT"
    return 0
  fi
  printf '# Generated by tests/infra/vm-bed.sh: the QEMU VM (real netem, Docker) as a remote host.\n'
  printf 'all:\n  children:\n    chaos_vms:\n      hosts:\n'
  printf '        vm1:\n'
  printf '          ansible_host: 127.0.0.1\n'
  printf '          ansible_port: %s\n' "$port"
  printf '          ansible_user: root\n'
  printf '          ansible_ssh_private_key_file: "%s"\n' "$KEY"
  printf '          ansible_python_interpreter: /usr/bin/python3\n'
  printf '          ansible_ssh_common_args: "%s"\n' "${SSH_COMMON_OPTS[*]}"
  printf '          chaos_vm_http_port: %s  # on 127.0.0.1, forwarded to the guest port below\n' "$http"
  printf '          chaos_vm_guest_http_port: %s\n' "$GUEST_HTTP_PORT"
}

# ---------------------------------------------------------------- commands

cmd_build() {
  need_root
  do_build
}

cmd_up() {
  local t0 img port http pid
  t0=$(now)
  valid_port "$SSH_PORT_WANTED" || die "bad CHAOS_VM_SSH_PORT: $SSH_PORT_WANTED"
  valid_port "$HTTP_PORT_WANTED" || die "bad CHAOS_VM_HTTP_PORT: $HTTP_PORT_WANTED"
  if pid=$(vm_pid); then
    if vm_answers; then
      print_inventory >"$STATE/inventory.yml"
      log "already up: qemu pid $pid, ssh 127.0.0.1:$(cur_ssh_port)"
      return 0
    fi
    log "qemu $pid runs but ssh does not answer; restarting it"
  fi
  if [[ -e $STATE ]]; then do_down; fi
  do_build
  img=$IMG
  [[ -f $img/complete ]] || die "no built image at $img"
  port=$SSH_PORT_WANTED
  http=$HTTP_PORT_WANTED
  port_in_use "$port" && die "127.0.0.1:$port is taken; set CHAOS_VM_SSH_PORT"
  port_in_use "$http" && die "127.0.0.1:$http is taken; set CHAOS_VM_HTTP_PORT"
  mkdir -p "$STATE"
  printf '%s\n' "$img" >"$STATE/image"
  printf '%s\n' "$port" >"$STATE/ssh_port"
  printf '%s\n' "$http" >"$STATE/http_port"
  qemu-img create -q -f qcow2 -F qcow2 -b "$img/disk.qcow2" "$STATE/overlay.qcow2" ||
    die "qemu-img create of the overlay failed"
  local tb
  tb=$(now)
  start_qemu "$img" "$STATE/overlay.qcow2" "$port" "$http" "$STATE"
  log "qemu started (pid $(<"$STATE/qemu.pid")); console: $STATE/console.log"
  wait_ssh "$port" "$STATE/qemu.pid" "$STATE/console.log" || die "the VM did not come up (run '$0 down' to clean up)"
  log "ssh answers after $(elapsed "$tb") s"
  wait_docker "$port" 1 || die "Docker or the test images are not ready in the guest"
  log "Docker and ${IMAGES[*]} ready after $(elapsed "$tb") s from boot"
  print_env >"$STATE/env.sh"
  print_inventory >"$STATE/inventory.yml"
  log "up in $(elapsed "$t0") s: ssh -p $port root@127.0.0.1 (key $KEY), http 127.0.0.1:$http -> guest:$GUEST_HTTP_PORT;" \
    "inventory: $STATE/inventory.yml"
}

do_down() {
  local pid
  if pid=$(vm_pid); then
    kill -TERM "$pid" 2>/dev/null || true
    if ! wait_gone "$pid" 15; then
      kill -KILL "$pid" 2>/dev/null || true
      wait_gone "$pid" 5 || log "warning: qemu $pid did not exit"
    fi
    log "stopped qemu $pid"
  fi
  if [[ -d $STATE ]]; then
    rm -rf --one-file-system "$STATE" || log "warning: could not remove all of $STATE"
  fi
}

cmd_down() {
  need_root
  do_down
  log "down"
}

cmd_status() {
  local pid
  if ! pid=$(vm_pid); then
    echo "not up (no qemu of ours; state dir $STATE)"
    return 1
  fi
  if vm_answers; then
    printf 'up: qemu pid %s, ssh 127.0.0.1:%s, http 127.0.0.1:%s -> guest:%s, image %s\n' "$pid" \
      "$(cur_ssh_port)" "$(cur_http_port)" "$GUEST_HTTP_PORT" "$(recorded image || echo '?')"
    return 0
  fi
  printf 'qemu pid %s runs but ssh 127.0.0.1:%s does not answer (booting?)\n' "$pid" "$(cur_ssh_port)"
  return 1
}

cmd_ssh() {
  [[ ${1:-} == -- ]] && shift
  (($# > 0)) || die "usage: ssh -- CMD..."
  vm_pid >/dev/null || die "not up (run '$0 up')"
  guest "$(cur_ssh_port)" "$@"
}

# selftest helpers: ping RTT average in ms between two guest containers, HTTP time through the forward
ping_avg() { # ping_avg PORT FROM TO_IP
  local out
  out=$(guest "$1" docker exec "$2" ping -c 8 -i 0.2 -W 3 "$3" </dev/null) || {
    printf '%s\n' "$out" >&2
    return 1
  }
  sed -n 's#.*min/avg/max = [0-9.]*/\([0-9.]*\)/.*#\1#p' <<<"$out"
}

http_ms() { # http_ms PORT: the fastest of 5 GETs of http://127.0.0.1:PORT/ in ms (the host is noisy)
  local t times=()
  for _ in 1 2 3 4 5; do
    t=$(curl -s -o /dev/null -w '%{time_total}' --max-time 15 "http://127.0.0.1:$1/") || return 1
    times+=("$t")
  done
  printf '%s\n' "${times[@]}" | sort -n | head -n 1 | awk '{ printf "%.0f", $1 * 1000 }'
}

cmd_selftest() {
  local port http a b ipb base delayed after out rc=0 hbase="" hdelayed=""
  vm_answers || die "not up (run '$0 up')"
  port=$(cur_ssh_port)
  http=$(cur_http_port)
  a=$SELFTEST_PREFIX-a
  b=$SELFTEST_PREFIX-b
  guest "$port" docker rm -f "$a" "$b" </dev/null >/dev/null 2>&1 || true
  guest "$port" docker run -d --name "$b" -p "$GUEST_HTTP_PORT:$GUEST_HTTP_PORT" chaos-busybox:latest \
    httpd -f -p "$GUEST_HTTP_PORT" -h /var/www </dev/null >/dev/null || die "could not start $b"
  guest "$port" docker run -d --name "$a" chaos-busybox:latest sleep 600 </dev/null >/dev/null ||
    die "could not start $a"
  ipb=$(guest "$port" docker inspect -f '{{.NetworkSettings.IPAddress}}' "$b" </dev/null)
  base=$(ping_avg "$port" "$a" "$ipb") || { echo "FAIL: $a cannot ping $b ($ipb)"; rc=1; }
  if ((rc == 0)); then echo "ok: $a pings $b ($ipb): avg RTT $base ms"; fi
  if command -v curl >/dev/null; then
    if out=$(curl -s --max-time 15 "http://127.0.0.1:$http/") && [[ $out == chaos-busybox ]]; then
      hbase=$(http_ms "$http")
      echo "ok: http://127.0.0.1:$http/ reaches $b in the guest: $hbase ms"
    else
      echo "FAIL: http://127.0.0.1:$http/ -> $b: '$out'"
      rc=1
    fi
  fi
  local helper=(docker run --rm --network "container:$b" --cap-add NET_ADMIN chaos-nethelper:latest)
  if out=$(guest "$port" "${helper[@]}" tc qdisc add dev eth0 root netem delay 100ms </dev/null 2>&1); then
    out=$(guest "$port" "${helper[@]}" tc qdisc show dev eth0 </dev/null 2>&1)
    echo "ok: netem added through chaos-nethelper: $out"
    delayed=$(ping_avg "$port" "$a" "$ipb") || delayed=""
    if [[ -n $delayed && -n $base ]] &&
      awk -v d="$delayed" -v b="$base" 'BEGIN { exit !(d - b >= 80 && d - b <= 250) }'; then
      echo "ok: with netem delay 100ms: avg RTT $delayed ms (was $base ms)"
    else
      echo "FAIL: with netem delay 100ms: avg RTT '$delayed' ms (was '$base' ms)"
      rc=1
    fi
    if [[ -n $hbase ]]; then
      hdelayed=$(http_ms "$http") || hdelayed=""
      if [[ -n $hdelayed ]] && ((hdelayed - hbase >= 90)); then
        echo "ok: HTTP GET through 127.0.0.1:$http with netem: $hdelayed ms (was $hbase ms)"
      else
        echo "FAIL: HTTP GET through 127.0.0.1:$http with netem: '$hdelayed' ms (was $hbase ms)"
        rc=1
      fi
    fi
    if out=$(guest "$port" "${helper[@]}" tc qdisc del dev eth0 root </dev/null 2>&1); then
      after=$(ping_avg "$port" "$a" "$ipb") || after=""
      if [[ -n $after ]] && awk -v d="$after" 'BEGIN { exit !(d < 50) }'; then
        echo "ok: netem removed: avg RTT $after ms"
      else
        echo "FAIL: after removing netem: avg RTT '$after' ms"
        rc=1
      fi
    else
      echo "FAIL: tc qdisc del: $out"
      rc=1
    fi
  else
    echo "FAIL: tc qdisc add ... netem through chaos-nethelper: $out"
    rc=1
  fi
  guest "$port" docker rm -f "$a" "$b" </dev/null >/dev/null 2>&1 || true
  out=$(guest "$port" sh -c 'docker version --format "{{.Server.Version}}"; iptables -V' </dev/null | tr '\n' ' ')
  echo "guest: Docker $out"
  if ((rc == 0)); then echo "selftest passed"; else echo "selftest FAILED"; fi
  return "$rc"
}

main() {
  local cmd=${1:-}
  [[ $# -gt 0 ]] && shift
  case $cmd in
    deps | build | up | down | status | ssh | env | inventory | selftest) ;;
    -h | --help | help) usage; return 0 ;;
    *) usage >&2; return 2 ;;
  esac
  if [[ $cmd == build || $cmd == up || $cmd == down || $cmd == selftest ]]; then
    need_root
    mkdir -p "$(dirname "$STATE")"
    exec 9>"$STATE.lock"
    flock -w 1800 9 || die "another vm-bed.sh holds $STATE.lock"
    trap cleanup_build EXIT
  fi
  case $cmd in
    deps) need_root; ensure_host_packages ;;
    build) (($# == 0)) || die "usage: build"; cmd_build ;;
    up) (($# == 0)) || die "usage: up"; cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    ssh) cmd_ssh "$@" ;;
    env) print_env ;;
    inventory)
      case ${1:-} in
        "") print_inventory yaml ;;
        --ini) print_inventory ini ;;
        --yaml) print_inventory yaml ;;
        *) die "usage: inventory [--ini|--yaml]" ;;
      esac
      ;;
    selftest) cmd_selftest ;;
  esac
}

main "$@"

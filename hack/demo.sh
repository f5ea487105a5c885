#!/usr/bin/env bash
# make demo: on a fresh machine, everything the demo needs, then playbooks/demo.yml.
#   1. the Python toolchain (hack/toolchain.sh: ansible-core, docker SDK, cached);
#   2. a Docker engine: the one DOCKER_HOST names, else the test bed's engine 1 if it is up, else a private engine
#      started in a network namespace (tests/infra/docker-bed.sh up 1, which installs Debian's docker.io if needed);
#   3. the demo images, built from scratch out of the host's own binaries (no registry): chaos-busybox (busybox)
#      and chaos-nethelper (tc and iptables, for container_netem);
#   4. the experiment: three httpd replicas; kill one, limit one's bandwidth, delay one (skipped without netem);
#      it prints the verdict and the path of the HTML report.
# Leaves nothing running (demo containers, and the engine if it started one) unless CHAOS_DEMO_KEEP=1.
# CHAOS_DEMO_PREFIX (container names, default chaos-demo-web-), CHAOS_DEMO_PORT_BASE (first published port, default
# 18081) and CHAOS_JOURNAL_DIR (reports, default build/demo-reports) move the demo out of another one's way.
# With DOCKER_HOST, the published ports are probed on its host (tcp://HOST:...) or 127.0.0.1; CHAOS_DEMO_ADDRESS
# overrides that address.
set -euo pipefail
# shellcheck source=hack/_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
LOG_TAG=demo
cd "${REPO_ROOT}"
start="$(now)"

log "toolchain (ansible-core, docker SDK)"
venv="$(hack/toolchain.sh --path core219)"
collections="${REPO_ROOT}/build/collections"
mkdir -p "${collections}/ansible_collections/chaos"
ln -sfn "${REPO_ROOT}" "${collections}/ansible_collections/chaos/engineering"

started_bed=0
if [[ -n "${DOCKER_HOST:-}" ]]; then
    docker_host="${DOCKER_HOST}"
    case "${docker_host}" in
        tcp://*) address="${docker_host#tcp://}"; address="${address%%:*}" ;;
        *) address=127.0.0.1 ;;
    esac
    address="${CHAOS_DEMO_ADDRESS:-${address}}"
    log "using the Docker engine at ${docker_host}"
    build_images=1
else
    if bash tests/infra/docker-bed.sh status >/dev/null 2>&1; then
        log "using engine 1 of the private test bed, which is up (and stays up)"
    else
        log "starting a private Docker engine (tests/infra/docker-bed.sh up 1; it builds the demo images)"
        bash tests/infra/docker-bed.sh up 1
        started_bed=1
    fi
    bed_env="$(bash tests/infra/docker-bed.sh env)"
    docker_host="$(sed -n 's/^export DOCKER_HOST_1=//p' <<<"${bed_env}" | tr -d "\"'")"
    address="$(sed -n 's/^export CHAOS_BED_IP_1=//p' <<<"${bed_env}" | tr -d "\"'")"
    build_images=0
fi
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
    if [[ "${started_bed}" == 1 && "${CHAOS_DEMO_KEEP:-0}" != 1 ]]; then
        log "stopping the private Docker engine"
        bash tests/infra/docker-bed.sh down
    fi
}
trap cleanup EXIT

if [[ "${build_images}" == 1 ]]; then
    # The same recipes as the test bed: busybox-static, and the helper from the host's iproute2/iptables.
    if ! docker --host "${docker_host}" image inspect chaos-busybox:latest >/dev/null 2>&1; then
        log "building chaos-busybox:latest from the host's /bin/busybox"
        [[ -x /bin/busybox ]] || die "/bin/busybox is missing: apt-get install busybox-static"
        rootfs="$(mktemp -d)"
        mkdir -p "${rootfs}/bin" "${rootfs}/var/www" "${rootfs}/tmp"
        cp /bin/busybox "${rootfs}/bin/busybox"
        while read -r applet; do
            mkdir -p "${rootfs}/$(dirname "${applet}")"
            [[ -e "${rootfs}/${applet}" ]] || ln -s /bin/busybox "${rootfs}/${applet}"
        done < <(/bin/busybox --list-full)
        printf 'chaos-busybox\n' >"${rootfs}/var/www/index.html"
        tar -C "${rootfs}" -c . | docker --host "${docker_host}" import --change 'CMD ["sh"]' - chaos-busybox:latest >/dev/null
        rm -rf "${rootfs}"
    fi
    log "building chaos-nethelper:latest from the host's iproute2 and iptables (no-op when current)"
    DOCKER_HOST="${docker_host}" bash roles/nethelper_image/files/nethelper-image.sh import chaos-nethelper:latest >&2
fi

reports="${CHAOS_JOURNAL_DIR:-${REPO_ROOT}/build/demo-reports}"
log "running playbooks/demo.yml against ${docker_host} (web replicas on ${address}); reports under ${reports}"
rc=0
ANSIBLE_COLLECTIONS_PATH="${collections}" \
ANSIBLE_LOCALHOST_WARNING=False ANSIBLE_INVENTORY_UNPARSED_WARNING=False \
CHAOS_JOURNAL_DIR="${reports}" \
CHAOS_ENGINEERING_LEDGER_DIR="${CHAOS_ENGINEERING_LEDGER_DIR:-${REPO_ROOT}/build/ledger}" \
    "${venv}/bin/ansible-playbook" -i localhost, -c local \
    -e "ansible_python_interpreter=${venv}/bin/python" \
    -e "docker_host=${docker_host}" \
    -e "chaos_demo_address=${address}" \
    -e "chaos_demo_keep=$([[ "${CHAOS_DEMO_KEEP:-0}" == 1 ]] && echo true || echo false)" \
    -e "chaos_demo_prefix=${CHAOS_DEMO_PREFIX:-chaos-demo-web-}" \
    -e "chaos_demo_port_base=${CHAOS_DEMO_PORT_BASE:-18081}" \
    playbooks/demo.yml || rc=$?

# The newest run directory: the one this demo wrote.
report="$(find "${reports}" -mindepth 2 -maxdepth 2 -name journal.json -printf '%T@ %h/\n' 2>/dev/null | sort -n | tail -n 1 | cut -d' ' -f2- || true)"
if [[ -n "${report}" && -f "${report}journal.json" ]]; then
    verdict="$("${venv}/bin/python" -c 'import json, sys; print(json.load(open(sys.argv[1]))["verdict"])' "${report}journal.json")"
    log "verdict: ${verdict}"
    log "report:  ${report}report.html"
fi
log "demo finished in $(elapsed "${start}") (rc=${rc})"
exit "${rc}"

#!/usr/bin/env bash
# Print the path of a Prometheus server binary, fetching Debian's `prometheus` package first if there is none.
#
# Usage:
#   hack/prometheus.sh          prints e.g. ~/.cache/chaos-engineering/prometheus/usr/bin/prometheus on stdout
#
# Looks for $CHAOS_PROMETHEUS, then `prometheus` on PATH, then the cached copy. Otherwise it runs `apt-get download
# prometheus` (with `apt-get update` first, as root, if the package is unknown) and unpacks the .deb into the cache
# with dpkg-deb: the tests run Prometheus as a throwaway process, and installing the package would also start (and
# enable) the system's own Prometheus service. Used by tests/integration/test_probe_prometheus.py and .ci/run.
set -euo pipefail

# shellcheck source=hack/_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
LOG_TAG=prometheus

CACHE="${XDG_CACHE_HOME:-${HOME}/.cache}/chaos-engineering/prometheus"

find_prometheus() {
    if [[ -n "${CHAOS_PROMETHEUS:-}" ]]; then
        [[ -x "${CHAOS_PROMETHEUS}" ]] || die "CHAOS_PROMETHEUS=${CHAOS_PROMETHEUS} is not an executable"
        printf '%s\n' "${CHAOS_PROMETHEUS}"
        return 0
    fi
    if command -v prometheus >/dev/null 2>&1; then
        command -v prometheus
        return 0
    fi
    if [[ -x "${CACHE}/usr/bin/prometheus" ]]; then
        printf '%s\n' "${CACHE}/usr/bin/prometheus"
        return 0
    fi
    return 1
}

main() {
    [[ $# -eq 0 ]] || die "usage: $0   (takes no arguments)"
    if find_prometheus; then
        return 0
    fi
    command -v apt-get >/dev/null 2>&1 || die "no prometheus on PATH and no apt-get to fetch it; set CHAOS_PROMETHEUS"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-cache show prometheus >/dev/null 2>&1; then
        [[ "$(id -u)" -eq 0 ]] || die "the prometheus package is unknown to apt; run apt-get update as root"
        log "apt-get update (the prometheus package is unknown)"
        apt-get update -qq >&2
    fi
    local start
    start="$(now)"
    WORK="$(mktemp -d)"
    trap 'rm -rf "${WORK}"' EXIT
    chmod 755 "${WORK}" # apt's sandbox user writes the download there
    log "fetching Debian's prometheus package"
    (cd "${WORK}" && apt-get download -qq prometheus >&2) || die "apt-get download prometheus failed"
    mkdir -p "${CACHE}.partial"
    dpkg-deb -x "${WORK}"/prometheus_*.deb "${CACHE}.partial" || die "dpkg-deb could not unpack the package"
    rm -rf "${CACHE}"
    mv "${CACHE}.partial" "${CACHE}"
    log "unpacked in $(elapsed "${start}")"
    find_prometheus || die "the package was unpacked but has no usr/bin/prometheus"
}

main "$@"

#!/usr/bin/env bash
# Print the path of a headless-capable Chromium, installing Debian's `chromium` package first if there is none.
#
# Usage:
#   hack/chromium.sh            prints e.g. /usr/bin/chromium on stdout (logs go to stderr)
#
# Looks for $CHAOS_CHROMIUM, then chromium, chromium-browser, google-chrome on PATH. When none is found it runs
# `apt-get install -y --no-install-recommends chromium` (with `apt-get update` first if the package is unknown),
# as root or through sudo. Used by tests/integration/test_report_browser.py, so CI renders the HTML report.
set -euo pipefail

# shellcheck source=hack/_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
LOG_TAG=chromium

find_chromium() {
    local candidate
    if [[ -n "${CHAOS_CHROMIUM:-}" ]]; then
        [[ -x "${CHAOS_CHROMIUM}" ]] || die "CHAOS_CHROMIUM=${CHAOS_CHROMIUM} is not an executable"
        printf '%s\n' "${CHAOS_CHROMIUM}"
        return 0
    fi
    for candidate in chromium chromium-browser google-chrome; do
        if command -v "${candidate}" >/dev/null 2>&1; then
            command -v "${candidate}"
            return 0
        fi
    done
    return 1
}

main() {
    [[ $# -eq 0 ]] || die "usage: $0   (takes no arguments)"
    if find_chromium; then
        return 0
    fi
    command -v apt-get >/dev/null 2>&1 || die "no chromium on PATH and no apt-get to install it; set CHAOS_CHROMIUM"
    local -a sudo=()
    if [[ "$(id -u)" -ne 0 ]]; then
        command -v sudo >/dev/null 2>&1 || die "no chromium on PATH, and installing it needs root or sudo"
        sudo=(sudo -n)
    fi
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-cache show chromium >/dev/null 2>&1; then
        log "apt-get update (the chromium package is unknown)"
        "${sudo[@]}" apt-get update -qq >&2
    fi
    log "installing Debian's chromium package"
    local start
    start="$(now)"
    "${sudo[@]}" apt-get install -y -qq --no-install-recommends chromium >&2 \
        || die "apt-get install chromium failed"
    log "installed in $(elapsed "${start}")"
    find_chromium || die "chromium was installed but is not on PATH"
}

main "$@"

#!/usr/bin/env bash
# Create (once) and cache the Chaos Toolkit venv that bench/k8s_delete measures against, and print its directory.
#
# Usage:
#   hack/chaostoolkit.sh            ensure the venv; print its directory on stdout (progress on stderr)
#
# The venv holds chaostoolkit, chaostoolkit-lib and chaostoolkit-kubernetes from PyPI, pinned exactly in
# hack/requirements-chaostoolkit.txt. It lives outside the repo in
# ${CHAOS_TOOLCHAIN_DIR:-$HOME/.cache/chaos-engineering/toolchain}/chaostoolkit-HASH, where HASH covers the pins
# and the interpreter, so it is built once per machine. chaostoolkit 1.21 needs python >= 3.12:
# CHAOS_PYTHON_3_12 overrides, else the newest pyenv 3.12.x, else python3.12 on PATH.
set -euo pipefail

# shellcheck source=hack/_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
LOG_TAG=chaostoolkit

TOOLCHAIN_DIR="${CHAOS_TOOLCHAIN_DIR:-${HOME}/.cache/chaos-engineering/toolchain}"
PIP_VERSION=26.3
REQUIREMENTS="${HACK_DIR}/requirements-chaostoolkit.txt"

python_minor_of() {
    "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || true
}

find_python312() {
    local candidate best pyenv_versions="${PYENV_ROOT:-${HOME}/.pyenv}/versions"
    if [[ -n "${CHAOS_PYTHON_3_12:-}" ]]; then
        [[ "$(python_minor_of "${CHAOS_PYTHON_3_12}")" == 3.12 ]] || die "CHAOS_PYTHON_3_12=${CHAOS_PYTHON_3_12} is not a python 3.12"
        printf '%s\n' "${CHAOS_PYTHON_3_12}"
        return
    fi
    if [[ -d "${pyenv_versions}" ]]; then
        best="$(find "${pyenv_versions}" -mindepth 1 -maxdepth 1 -name '3.12.*' -printf '%f\n' \
            | grep -E '^3\.12\.[0-9]+$' | sort -V | tail -n 1 || true)"
        if [[ -n "${best}" && "$(python_minor_of "${pyenv_versions}/${best}/bin/python3.12")" == 3.12 ]]; then
            printf '%s\n' "${pyenv_versions}/${best}/bin/python3.12"
            return
        fi
    fi
    if candidate="$(command -v python3.12)" && [[ "$(python_minor_of "${candidate}")" == 3.12 ]]; then
        printf '%s\n' "${candidate}"
        return
    fi
    die "no python 3.12 found (set CHAOS_PYTHON_3_12, or install it with pyenv)"
}

main() {
    [[ $# -eq 0 ]] || die "usage: $0   (takes no arguments)"
    local python real key hash dir start lock_fd
    python="$(find_python312)"
    real="$(readlink -f "${python}")"
    key="$(printf 'python=%s\nversion=%s\npip=%s\nrequirements=%s\n' "${real}" \
        "$("${python}" -c 'import sys; print(sys.version.split()[0])')" "${PIP_VERSION}" \
        "$(sha256sum < "${REQUIREMENTS}" | cut -d' ' -f1)")"
    hash="$(printf '%s' "${key}" | sha256sum | cut -c1-16)"
    dir="${TOOLCHAIN_DIR}/chaostoolkit-${hash}"
    if [[ -f "${dir}/.chaos-complete" ]] && "${dir}/bin/python" -c '' 2>/dev/null; then
        log "cached ${dir}"
        printf '%s\n' "${dir}"
        return
    fi
    mkdir -p "${TOOLCHAIN_DIR}"
    exec {lock_fd}>"${TOOLCHAIN_DIR}/.chaostoolkit-${hash}.lock"
    flock "${lock_fd}"
    if [[ ! -f "${dir}/.chaos-complete" ]]; then
        start="$(now)"
        log "creating ${dir} from ${real}"
        rm -rf "${dir}"
        "${python}" -m venv "${dir}"
        "${dir}/bin/python" -m pip install --quiet --disable-pip-version-check "pip==${PIP_VERSION}" >&2
        "${dir}/bin/python" -m pip install --quiet --disable-pip-version-check -r "${REQUIREMENTS}" >&2
        "${dir}/bin/python" -m pip check >&2
        printf '%s' "${key}" > "${dir}/.chaos-key"
        touch "${dir}/.chaos-complete"
        log "created in $(elapsed "${start}")"
    fi
    exec {lock_fd}>&-
    printf '%s\n' "${dir}"
}

main "$@"

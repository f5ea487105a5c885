#!/usr/bin/env bash
# Create (once) and cache the Python virtualenvs that the other hack/ scripts and CI use.
#
# Usage:
#   hack/toolchain.sh [NAME...]         ensure the venvs (default: all) and print `export VAR=DIR` lines
#   hack/toolchain.sh --path NAME       ensure one venv and print only its directory
#   hack/toolchain.sh --lock [NAME...]  re-resolve hack/requirements-NAME.in into the exact pins in
#                                       hack/requirements-NAME.txt (needs PyPI; commit the result)
#   hack/toolchain.sh --list            print the known names
#
# NAMEs:  core219 -> CHAOS_VENV_219   python 3.11 + ansible-core 2.19 + collection/test requirements
#         core221 -> CHAOS_VENV_221   python 3.12 + ansible-core 2.21 + collection/test requirements
#         lint    -> CHAOS_VENV_LINT  python 3.12 + ansible-lint, antsibull-docs, antsibull-changelog
#
# Venvs live outside the repo in ${CHAOS_TOOLCHAIN_DIR:-$HOME/.cache/chaos-engineering/toolchain}/NAME-HASH,
# where HASH covers the pinned requirements file, the pip version, and the base interpreter (path and
# version). An unchanged set is therefore reused by every clone on the machine. Progress goes to stderr.
#
# Interpreters: CHAOS_PYTHON_3_11 / CHAOS_PYTHON_3_12 override; otherwise the newest pyenv
# ${PYENV_ROOT:-~/.pyenv}/versions/3.X.Y, otherwise python3.X on PATH.
set -euo pipefail

# shellcheck source=hack/_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
LOG_TAG=toolchain

TOOLCHAIN_DIR="${CHAOS_TOOLCHAIN_DIR:-${HOME}/.cache/chaos-engineering/toolchain}"
# pip inside the cached venvs (not the one ansible-test bootstraps into its own sanity venvs).
PIP_VERSION=26.3
# Bump to force every cached venv to be rebuilt after a change to how they are built.
TOOLCHAIN_FORMAT=1
ALL_NAMES=(core219 core221 lint)

venv_minor() {
    case "$1" in
        core219) echo 3.11 ;;
        core221 | lint) echo 3.12 ;;
        *) die "unknown toolchain name '$1' (known: ${ALL_NAMES[*]})" ;;
    esac
}

venv_var() {
    case "$1" in
        core219) echo CHAOS_VENV_219 ;;
        core221) echo CHAOS_VENV_221 ;;
        lint) echo CHAOS_VENV_LINT ;;
        *) die "unknown toolchain name '$1'" ;;
    esac
}

# python_minor_of PYTHON -> "3.12" (empty on failure)
python_minor_of() {
    "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || true
}

# find_python 3.12 -> absolute path of a working interpreter of that minor version
find_python() {
    local minor="$1" var candidate best=""
    var="CHAOS_PYTHON_${minor//./_}"
    if [[ -n "${!var:-}" ]]; then
        [[ "$(python_minor_of "${!var}")" == "${minor}" ]] || die "${var}=${!var} is not a working python ${minor}"
        printf '%s\n' "${!var}"
        return
    fi
    local pyenv_versions="${PYENV_ROOT:-${HOME}/.pyenv}/versions"
    if [[ -d "${pyenv_versions}" ]]; then
        best="$(find "${pyenv_versions}" -mindepth 1 -maxdepth 1 -name "${minor}.*" -printf '%f\n' \
            | grep -E "^${minor//./\\.}\.[0-9]+$" | sort -V | tail -n 1 || true)"
        if [[ -n "${best}" ]]; then
            candidate="${pyenv_versions}/${best}/bin/python${minor}"
            if [[ "$(python_minor_of "${candidate}")" == "${minor}" ]]; then
                printf '%s\n' "${candidate}"
                return
            fi
        fi
    fi
    if candidate="$(command -v "python${minor}")" && [[ "$(python_minor_of "${candidate}")" == "${minor}" ]]; then
        printf '%s\n' "${candidate}"
        return
    fi
    die "no python ${minor} found (set ${var}, or install it with pyenv)"
}

# Hash of the loose inputs (the .in file and any `-r FILE` it includes), recorded in the .txt header
# so that a stale lock can be detected.
input_hash() {
    local name="$1" infile ref
    infile="${HACK_DIR}/requirements-${name}.in"
    [[ -f "${infile}" ]] || die "missing ${infile}"
    {
        cat "${infile}"
        while read -r ref; do
            cat "${HACK_DIR}/${ref}"
        done < <(sed -n -E 's/^-r[[:space:]]+([^[:space:]#]+).*/\1/p' "${infile}")
    } | sha256sum | cut -d' ' -f1
}

check_lock_fresh() {
    local name="$1" txt want have
    txt="${HACK_DIR}/requirements-${name}.txt"
    [[ -f "${txt}" ]] || die "missing ${txt}; run: hack/toolchain.sh --lock ${name}"
    want="$(input_hash "${name}")"
    have="$(sed -n -E 's/^# input-sha256: ([0-9a-f]+)$/\1/p' "${txt}")"
    if [[ "${want}" != "${have}" ]]; then
        log "WARNING: hack/requirements-${name}.txt is stale against its .in / requirements.txt;" \
            "run: hack/toolchain.sh --lock ${name}"
    fi
}

# ensure_venv NAME -> prints the venv directory on stdout
ensure_venv() {
    local name="$1" minor python real version txt key hash dir start lock_fd
    minor="$(venv_minor "${name}")"
    python="$(find_python "${minor}")"
    real="$(readlink -f "${python}")"
    version="$("${python}" -c 'import platform, sys; print(platform.python_implementation(), sys.version.split()[0])')"
    txt="${HACK_DIR}/requirements-${name}.txt"
    check_lock_fresh "${name}"

    key="$(printf 'format=%s\nname=%s\npython=%s\nversion=%s\npip=%s\nrequirements=%s\n' \
        "${TOOLCHAIN_FORMAT}" "${name}" "${real}" "${version}" "${PIP_VERSION}" \
        "$(sha256sum < "${txt}" | cut -d' ' -f1)")"
    hash="$(printf '%s' "${key}" | sha256sum | cut -c1-16)"
    dir="${TOOLCHAIN_DIR}/${name}-${hash}"

    if [[ -f "${dir}/.chaos-complete" ]] && "${dir}/bin/python" -c '' 2>/dev/null; then
        log "${name}: cached ${dir}"
        printf '%s\n' "${dir}"
        return
    fi

    mkdir -p "${TOOLCHAIN_DIR}"
    exec {lock_fd}>"${TOOLCHAIN_DIR}/.${name}-${hash}.lock"
    flock "${lock_fd}"
    # Another process may have finished it while we waited for the lock.
    if [[ -f "${dir}/.chaos-complete" ]] && "${dir}/bin/python" -c '' 2>/dev/null; then
        exec {lock_fd}>&-
        log "${name}: cached ${dir}"
        printf '%s\n' "${dir}"
        return
    fi

    start="$(now)"
    log "${name}: creating ${dir} (${version} from ${real})"
    rm -rf "${dir}"
    "${python}" -m venv "${dir}"
    "${dir}/bin/python" -m pip install --quiet --disable-pip-version-check "pip==${PIP_VERSION}" >&2
    "${dir}/bin/python" -m pip install --quiet --disable-pip-version-check -r "${txt}" >&2
    "${dir}/bin/python" -m pip check >&2
    printf '%s' "${key}" > "${dir}/.chaos-key"
    cp "${txt}" "${dir}/.chaos-requirements.txt"
    touch "${dir}/.chaos-complete"
    exec {lock_fd}>&-
    log "${name}: created in $(elapsed "${start}")"
    printf '%s\n' "${dir}"
}

lock_one() {
    local name="$1" minor python tmp start infile txt
    minor="$(venv_minor "${name}")"
    python="$(find_python "${minor}")"
    infile="${HACK_DIR}/requirements-${name}.in"
    txt="${HACK_DIR}/requirements-${name}.txt"
    start="$(now)"
    tmp="${LOCK_TMP}/${name}"
    log "${name}: resolving ${infile} with $("${python}" -V 2>&1)"
    "${python}" -m venv "${tmp}/venv"
    "${tmp}/venv/bin/python" -m pip install --quiet --disable-pip-version-check "pip==${PIP_VERSION}" >&2
    (cd "${HACK_DIR}" && "${tmp}/venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "${infile}") >&2
    "${tmp}/venv/bin/python" -m pip check >&2
    {
        printf '# Exact pins for the "%s" toolchain venv. Generated by: hack/toolchain.sh --lock %s\n' "${name}" "${name}"
        printf '# Edit hack/requirements-%s.in instead, then re-run the command above.\n' "${name}"
        printf '# python: %s\n' "$("${python}" -c 'import sys; print(sys.version.split()[0])')"
        printf '# input-sha256: %s\n' "$(input_hash "${name}")"
        "${tmp}/venv/bin/python" -m pip freeze --disable-pip-version-check
    } > "${txt}.tmp"
    mv "${txt}.tmp" "${txt}"
    log "${name}: wrote ${txt} in $(elapsed "${start}")"
}

main() {
    local names=() name dir
    case "${1:-}" in
        --path)
            [[ $# -eq 2 ]] || die "usage: $0 --path NAME"
            ensure_venv "$2"
            return
            ;;
        --lock)
            shift
            names=("$@")
            [[ ${#names[@]} -gt 0 ]] || names=("${ALL_NAMES[@]}")
            LOCK_TMP="$(mktemp -d)"
            trap 'rm -rf "${LOCK_TMP}"' EXIT
            for name in "${names[@]}"; do
                lock_one "${name}"
            done
            return
            ;;
        --list)
            printf '%s\n' "${ALL_NAMES[@]}"
            return
            ;;
        -h | --help)
            sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
            return
            ;;
        -*) die "unknown option $1 (see --help)" ;;
    esac
    names=("$@")
    [[ ${#names[@]} -gt 0 ]] || names=("${ALL_NAMES[@]}")
    for name in "${names[@]}"; do
        dir="$(ensure_venv "${name}")"
        printf 'export %s=%q\n' "$(venv_var "${name}")" "${dir}"
    done
}

main "$@"

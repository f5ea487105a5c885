#!/usr/bin/env bash
# Run `ansible-test sanity --venv` against the collection, once per ansible-core line.
#
# Usage:
#   hack/sanity.sh [core219|core221 ...] [-- EXTRA-ANSIBLE-TEST-ARGS...]
#     default: core219 core221.  Example: hack/sanity.sh core221 -- --test validate-modules -v
#
# For each core it:
#   1. gets the toolchain venv (hack/toolchain.sh --path coreNNN) and the collection tree
#      (hack/collection-tree.sh);
#   2. writes hack/get_pip_standin.py to ~/.ansible/test/cache/get_pip_<pip version ansible-test
#      wants>.py, so that ansible-test does not try to download get-pip.py (unreachable here);
#   3. runs `ansible-test sanity --venv --python <venv's python X.Y> --color no` in the tree.
# The sanity venvs ansible-test builds are cached by ansible-test in ~/.ansible/test/venv
# (cache that directory in CI along with the toolchain dir).
#
# Fails if any sanity test fails for any core, or if tests/sanity/ignore-*.txt has any entry
# (the collection keeps zero ignores). Timings are printed at the end.
set -euo pipefail

# shellcheck source=hack/_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
LOG_TAG=sanity

# install_get_pip VENV -> writes the stand-in where that venv's ansible-test looks for it
install_get_pip() {
    local venv="$1" pip_version cache target
    pip_version="$("${venv}/bin/python" -c '
import types
from ansible_test._internal.python_requirements import get_venv_packages
print(get_venv_packages(types.SimpleNamespace(version="%d.%d" % __import__("sys").version_info[:2]))["pip"])
')" || die "cannot read the pip version ansible-test bootstraps from ${venv}"
    [[ "${pip_version}" =~ ^[0-9]+(\.[0-9]+)*$ ]] || die "unexpected pip version '${pip_version}' from ansible-test"
    cache="${HOME}/.ansible/test/cache"
    target="${cache}/get_pip_${pip_version//./_}.py"
    mkdir -p "${cache}"
    if ! cmp -s "${HACK_DIR}/get_pip_standin.py" "${target}"; then
        cp "${HACK_DIR}/get_pip_standin.py" "${target}.tmp"
        mv "${target}.tmp" "${target}"
        log "wrote ${target} (stand-in for get-pip ${pip_version})"
    fi
}

# check_ignores TREE -> prints the ignore entries, returns 1 if there are any
check_ignores() {
    local tree="$1" f found=0
    shopt -s nullglob
    for f in "${tree}"/tests/sanity/ignore-*.txt; do
        if grep -n -v -E '^[[:space:]]*(#|$)' "${f}" | sed "s|^|${f#"${tree}/"}:|" >&2; then
            found=1
        fi
    done
    shopt -u nullglob
    return "${found}"
}

main() {
    local -a cores=() extra=()
    while [[ $# -gt 0 ]]; do
        case "$1" in
            core219 | core221) cores+=("$1") ;;
            --) shift; extra=("$@"); break ;;
            -h | --help) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; return ;;
            *) die "unknown argument '$1' (see --help)" ;;
        esac
        shift
    done
    [[ ${#cores[@]} -gt 0 ]] || cores=(core219 core221)

    local start_all tree core venv pyver start rc failed=0 ignores_ok=1
    local -a summary=()
    start_all="$(now)"
    tree="$("${HACK_DIR}/collection-tree.sh")"

    if ! check_ignores "${tree}"; then
        log "FAIL: tests/sanity/ignore-*.txt must stay empty; the entries above must be fixed in the code instead"
        ignores_ok=0
        failed=1
    fi

    for core in "${cores[@]}"; do
        venv="$("${HACK_DIR}/toolchain.sh" --path "${core}")"
        pyver="$("${venv}/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
        install_get_pip "${venv}"
        log "${core}: $("${venv}/bin/ansible-test" --version) / python ${pyver}: ansible-test sanity in ${tree}"
        start="$(now)"
        rc=0
        (
            cd "${tree}"
            PATH="${venv}/bin:${PATH}" "${venv}/bin/ansible-test" sanity --venv --python "${pyver}" --color no "${extra[@]}"
        ) || rc=$?
        summary+=("${core} (python ${pyver}): $([[ ${rc} -eq 0 ]] && echo passed || echo "FAILED rc=${rc}") in $(elapsed "${start}")")
        [[ ${rc} -eq 0 ]] || failed=1
    done

    log "---- summary"
    local line
    for line in "${summary[@]}"; do
        log "${line}"
    done
    [[ ${ignores_ok} -eq 1 ]] || log "ignore files: FAILED (entries present)"
    log "total $(elapsed "${start_all}")"
    return "${failed}"
}

main "$@"

#!/usr/bin/env bash
# Lint the collection with the "lint" toolchain venv (hack/toolchain.sh --path lint).
#
# Usage:
#   hack/lint.sh [ansible-lint|docs|changelog|ee ...]     default: all four
#
#   ansible-lint  ansible-lint --offline --profile production (settings in .ansible-lint)
#   docs          antsibull-docs lint-collection-docs --plugin-docs .
#   changelog     antsibull-changelog lint, lint-changelog-yaml changelogs/changelog.yaml, and a trial release
#                 (hack/changelog_trial.py: a release summary, each module, role and playbook listed once)
#   ee            ansible-builder create on docs/execution-environment.yml and the build's introspection on the
#                 collection installed from its tarball (hack/ee_check.py)
#
# Everything runs in the collection tree from hack/collection-tree.sh, with ANSIBLE_COLLECTIONS_PATH
# set to the directory holding its ansible_collections/, so chaos.engineering.* FQCNs resolve.
# Runs every selected linter, prints timings, and exits non-zero if any of them failed.
set -euo pipefail

# shellcheck source=hack/_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
LOG_TAG=lint

main() {
    local -a linters=()
    while [[ $# -gt 0 ]]; do
        case "$1" in
            ansible-lint | docs | changelog | ee) linters+=("$1") ;;
            -h | --help) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; return ;;
            *) die "unknown argument '$1' (see --help)" ;;
        esac
        shift
    done
    [[ ${#linters[@]} -gt 0 ]] || linters=(ansible-lint docs changelog ee)

    local start_all venv tree linter start rc failed=0 line
    local -a summary=()
    start_all="$(now)"
    venv="$("${HACK_DIR}/toolchain.sh" --path lint)"
    tree="$("${HACK_DIR}/collection-tree.sh")"

    # ansible-lint warns unless its own bin dir is on PATH; antsibull-docs needs ansible-doc from it.
    export PATH="${venv}/bin:${PATH}"
    export ANSIBLE_COLLECTIONS_PATH
    ANSIBLE_COLLECTIONS_PATH="$(build_dir)"
    export NO_COLOR=1 ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0
    cd "${tree}"

    for linter in "${linters[@]}"; do
        start="$(now)"
        rc=0
        log "${linter}: running in ${tree}"
        case "${linter}" in
            ansible-lint)
                ansible-lint --offline --profile production --nocolor || rc=$?
                ;;
            docs)
                antsibull-docs lint-collection-docs --plugin-docs . || rc=$?
                ;;
            changelog)
                antsibull-changelog lint || rc=$?
                if [[ -f changelogs/changelog.yaml ]]; then
                    antsibull-changelog lint-changelog-yaml changelogs/changelog.yaml || rc=$?
                fi
                # A trial release in a copy: a summary, and every module, role and playbook listed once.
                "${venv}/bin/python" "${HACK_DIR}/changelog_trial.py" . || rc=$?
                ;;
            ee)
                "${venv}/bin/python" "${HACK_DIR}/ee_check.py" . || rc=$?
                ;;
        esac
        summary+=("${linter}: $([[ ${rc} -eq 0 ]] && echo passed || echo "FAILED rc=${rc}") in $(elapsed "${start}")")
        [[ ${rc} -eq 0 ]] || failed=1
    done

    log "---- summary"
    for line in "${summary[@]}"; do
        log "${line}"
    done
    log "total $(elapsed "${start_all}")"
    return "${failed}"
}

main "$@"

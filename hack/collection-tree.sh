#!/usr/bin/env bash
# Make (or refresh) a copy of the collection at a path ansible-test accepts:
#   ${CHAOS_BUILD_DIR:-<repo>/build}/ansible_collections/<namespace>/<name>
# and print that path on stdout.
#
# The copy holds exactly the repo's git-tracked plus untracked-but-not-ignored files
# (`git ls-files -co --exclude-standard`); files that have since left that set are removed.
# tests/output/ in the copy (ansible-test's results and caches) is kept.
#
# The copy gets its own (empty) git repository: ansible-test picks its file list from the nearest
# .git upwards, and without one it would find the outer repo, where build/ is ignored, and see no files.
# ansible-test and ansible-lint only list files (`git ls-files --cached --others --exclude-standard`),
# so nothing is ever committed there.
set -euo pipefail

# shellcheck source=hack/_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
LOG_TAG=collection-tree

main() {
    [[ $# -eq 0 ]] || die "usage: $0   (takes no arguments; set CHAOS_BUILD_DIR to move the tree)"
    local start dest build rel_build="" f n_copied n_removed
    start="$(now)"
    build="$(build_dir)"
    mkdir -p "${build}"
    build="$(cd "${build}" && pwd -P)"
    dest="${build}/ansible_collections/$(galaxy_field namespace)/$(galaxy_field name)"
    mkdir -p "${dest}"

    local repo
    repo="$(cd "${REPO_ROOT}" && pwd -P)"
    # A build dir inside the repo that is not git-ignored would otherwise be copied into itself.
    case "${build}/" in
        "${repo}/"*) rel_build="${build#"${repo}/"}/" ;;
    esac

    # Source file list: tracked + untracked-not-ignored, minus files deleted from the work tree.
    local -a files=()
    while IFS= read -r -d '' f; do
        [[ -n "${rel_build}" && "${f}/" == "${rel_build}"* ]] && continue
        [[ -e "${repo}/${f}" || -L "${repo}/${f}" ]] || continue
        [[ -d "${repo}/${f}" && ! -L "${repo}/${f}" ]] && continue # a submodule/nested repo
        files+=("${f}")
    done < <(git -C "${repo}" ls-files -z -co --exclude-standard)
    [[ ${#files[@]} -gt 0 ]] || die "git ls-files found no files in ${repo}"

    # Remove files in the copy that are no longer in the source list (keep .git and tests/output).
    local wanted present
    wanted="$(mktemp)"
    present="$(mktemp)"
    # shellcheck disable=SC2064  # expand now: remove these very files
    trap "rm -f '${wanted}' '${present}'" EXIT
    printf '%s\0' "${files[@]}" | LC_ALL=C sort -z > "${wanted}"
    (cd "${dest}" && find . \( -path ./.git -o -path ./tests/output \) -prune -o \( -type f -o -type l \) -printf '%P\0') \
        | LC_ALL=C sort -z > "${present}"
    n_removed=0
    while IFS= read -r -d '' f; do
        rm -f -- "${dest:?}/${f}"
        n_removed=$((n_removed + 1))
    done < <(LC_ALL=C comm -z -13 "${wanted}" "${present}")
    find "${dest}" -mindepth 1 -type d -empty \
        -not \( -path "${dest}/.git" -o -path "${dest}/.git/*" -o -path "${dest}/tests/output" -o -path "${dest}/tests/output/*" \) \
        -delete

    # Copy only what differs, judged like rsync's quick check: type, size, mode and mtime (cp -p keeps
    # the source's mtime, so an unchanged file matches exactly). A refresh is then cheap, and tools that
    # look at mtimes see unchanged files as unchanged.
    local -A have=()
    local meta name
    while IFS= read -r -d '' meta; do
        have["${meta#*|*|*|*|}"]="${meta}"
    done < <(cd "${dest}" || exit; printf '%s\0' "${files[@]}" | xargs -0 -r stat --printf '%s|%.9Y|%a|%F|%n\0' -- 2>/dev/null; true)
    n_copied=0
    while IFS= read -r -d '' meta; do
        name="${meta#*|*|*|*|}"
        [[ "${have[${name}]:-}" == "${meta}" ]] && continue
        mkdir -p -- "$(dirname -- "${dest}/${name}")"
        rm -rf -- "${dest:?}/${name}"
        cp -P -p -- "${repo}/${name}" "${dest}/${name}"
        n_copied=$((n_copied + 1))
    done < <(cd "${repo}" && printf '%s\0' "${files[@]}" | xargs -0 -r stat --printf '%s|%.9Y|%a|%F|%n\0' --)

    if [[ ! -d "${dest}/.git" ]]; then
        git init -q "${dest}"
        log "initialised an empty git repository in ${dest}"
    fi

    log "${#files[@]} files, ${n_copied} copied, ${n_removed} removed, in $(elapsed "${start}")"
    printf '%s\n' "${dest}"
}

main "$@"

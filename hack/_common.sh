# shellcheck shell=bash
# Helpers shared by the hack/*.sh scripts. Source it; do not execute it.

# Make `set -e` apply inside $(...) too, so that `x="$(f)"` stops when f fails.
shopt -s inherit_errexit

HACK_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "${HACK_DIR}/.." && pwd)"

# Log to stderr so that stdout stays machine-readable.
log() {
    printf '[%s] %s\n' "${LOG_TAG:-hack}" "$*" >&2
}

die() {
    log "ERROR: $*"
    exit 1
}

# Wall-clock seconds with millisecond precision.
now() {
    date +%s.%N
}

# elapsed START -> "12.3s"
elapsed() {
    local start="$1" end
    end="$(now)"
    awk -v s="${start}" -v e="${end}" 'BEGIN { printf "%.1fs", e - s }'
}

# galaxy_field NAME -> value of a top-level scalar key in galaxy.yml
galaxy_field() {
    local key="$1" value
    value="$(awk -v k="${key}" -F: '$1 == k { sub(/^[^:]*:[ \t]*/, ""); gsub(/["'"'"' \t\r]/, ""); print; exit }' "${REPO_ROOT}/galaxy.yml")"
    [[ -n "${value}" ]] || die "galaxy.yml has no '${key}'"
    printf '%s\n' "${value}"
}

build_dir() {
    printf '%s\n' "${CHAOS_BUILD_DIR:-${REPO_ROOT}/build}"
}

collection_tree_path() {
    printf '%s/ansible_collections/%s/%s\n' "$(build_dir)" "$(galaxy_field namespace)" "$(galaxy_field name)"
}

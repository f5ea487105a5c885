#!/usr/bin/env bash
# make bench: the benchmarks in bench/, with the core219 toolchain. They print times and ratios against
# baselines measured in the same run; they never assert on time. Extra arguments go to every benchmark.
set -euo pipefail
# shellcheck source=hack/_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
LOG_TAG="bench"
cd "${REPO_ROOT}"
venv="$(hack/toolchain.sh --path core219)"
for bench in kill pending_reverts; do
    log "bench/${bench}"
    "${venv}/bin/python" "bench/${bench}" "$@"
done

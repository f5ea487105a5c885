#!/usr/bin/env bash
# make bench: the benchmarks in bench/, with the core219 toolchain. They print times and ratios against
# baselines measured in the same run; they never assert on time. Extra arguments go to every Docker benchmark
# (kill, pending_reverts); bench/k8s_delete (on the k8s bed, or $KUBECONFIG) takes its own from
# CHAOS_BENCH_K8S_DELETE_ARGS, for example CHAOS_BENCH_K8S_DELETE_ARGS='--repeats 1'; bench/netem and
# bench/experiment from CHAOS_BENCH_NETEM_ARGS and CHAOS_BENCH_EXPERIMENT_ARGS, bench/sigkill and bench/observe from
# CHAOS_BENCH_SIGKILL_ARGS and CHAOS_BENCH_OBSERVE_ARGS, bench/pumba (against real Pumba) from CHAOS_BENCH_PUMBA_ARGS.
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
log "bench/k8s_delete"
# shellcheck disable=SC2086  # word splitting of the argument string is intended
"${venv}/bin/python" bench/k8s_delete ${CHAOS_BENCH_K8S_DELETE_ARGS:-}
log "bench/netem"
# shellcheck disable=SC2086  # word splitting of the argument string is intended
"${venv}/bin/python" bench/netem ${CHAOS_BENCH_NETEM_ARGS:-}
log "bench/sigkill"
# shellcheck disable=SC2086  # word splitting of the argument string is intended
"${venv}/bin/python" bench/sigkill ${CHAOS_BENCH_SIGKILL_ARGS:-}
log "bench/experiment"
# shellcheck disable=SC2086  # word splitting of the argument string is intended
"${venv}/bin/python" bench/experiment ${CHAOS_BENCH_EXPERIMENT_ARGS:-}
log "bench/observe"
# shellcheck disable=SC2086  # word splitting of the argument string is intended
"${venv}/bin/python" bench/observe ${CHAOS_BENCH_OBSERVE_ARGS:-}
log "bench/pumba"
# shellcheck disable=SC2086  # word splitting of the argument string is intended
"${venv}/bin/python" bench/pumba ${CHAOS_BENCH_PUMBA_ARGS:-}

#!/usr/bin/env bash
# make test: every check the project holds itself to, on a fresh machine.
#   hack/test-all.sh [unit|integration|sanity|lint ...]   (default: all of them, in that order)
# Unit and integration tests run under both supported ansible-core lines (2.19/Python 3.11 and
# 2.21/Python 3.12). Integration tests start the private Docker engines (tests/infra/docker-bed.sh), the
# Kubernetes control plane (tests/infra/k8s-bed.sh), its real node (tests/infra/node-bed.sh) and the netem VM
# (tests/infra/vm-bed.sh), and stop what they started when done.
set -euo pipefail
# shellcheck source=hack/_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
LOG_TAG="test"
cd "${REPO_ROOT}"

stages=("$@")
[[ ${#stages[@]} -gt 0 ]] || stages=(unit integration sanity lint)
read -ra cores <<<"${CHAOS_TEST_CORES:-core219 core221}"

declare -A venv
for core in "${cores[@]}"; do
    venv[${core}]="$(hack/toolchain.sh --path "${core}")"
done

bed_started=0
stop_bed() {
    if [[ "${bed_started}" == 1 && "${CHAOS_BED_KEEP:-0}" != 1 ]]; then
        bash tests/infra/docker-bed.sh down >&2 || true
    fi
}
trap stop_bed EXIT

for stage in "${stages[@]}"; do
    start="$(now)"
    case "${stage}" in
        unit)
            for core in "${cores[@]}"; do
                log "unit tests, ${core}"
                "${venv[${core}]}/bin/python" -m pytest -q tests/unit
            done
            ;;
        integration)
            # Three engines: the fleet tests run an experiment across three inventory hosts.
            if ! bash tests/infra/docker-bed.sh status >/dev/null 2>&1; then
                bash tests/infra/docker-bed.sh up 3 >&2
                bed_started=1
            fi
            first=1
            for core in "${cores[@]}"; do
                if [[ "${first}" == 1 ]]; then
                    # The real kubelet node (tests/infra/node-bed.sh) too, where this machine can run one; where
                    # it cannot (no shared peers/ folder: a user's clone), its tests say why they skip.
                    if bash tests/infra/node-bed.sh check >/dev/null 2>&1; then
                        export CHAOS_NODE_BED=1
                    fi
                    # Everything, once: the Docker engines, the Kubernetes control plane (tests/infra/k8s-bed.sh,
                    # or $KUBECONFIG), the QEMU VM with real netem (tests/infra/vm-bed.sh) and the browser test.
                    log "integration tests (Docker, Kubernetes, VM, browser), ${core}"
                    "${venv[${core}]}/bin/python" -m pytest -q --durations=15 tests/integration
                    first=0
                else
                    # The other ansible-core line: the Docker modules and playbooks again, on the private engines.
                    # Not again, because their outcome does not depend on the ansible-core line: the fuzzing
                    # campaign, the fleet roll-outs, the ledger's file-trust checks, the browser's rendering of a
                    # report; the other runtimes (containerd, Podman: the runtime layer under the same module code);
                    # and the timing campaigns of the detached processes (the sampler's continuous observation,
                    # SIGKILL at the moment a fault shows, SIGTERM/SIGINT of the controller, faults that coexist
                    # until their own deadlines, reverts against their settled deadlines), which the first line runs;
                    # nor the faults whose work is below Ansible (tc and iptables in the target's netns, stress-ng in
                    # its cgroup, TLS and ssh to the engine, the lease's timing, the Prometheus query): their module plumbing is the same as that
                    # of kill, pause, exec and restart, which run here. This keeps CI well under its 90 minutes.
                    log "integration tests on the private Docker engines, ${core}"
                    "${venv[${core}]}/bin/python" -m pytest -q --durations=15 tests/integration \
                        --ignore=tests/integration/k8s --ignore=tests/integration/vm \
                        --ignore=tests/integration/test_fuzz.py --ignore=tests/integration/test_experiment_fleet.py \
                        --ignore=tests/integration/test_ledger_trust.py \
                        --ignore=tests/integration/test_report_browser.py \
                        --ignore=tests/integration/test_runtime_containerd.py \
                        --ignore=tests/integration/test_runtime_podman.py \
                        --ignore=tests/integration/test_observe.py --ignore=tests/integration/test_sigkill.py \
                        --ignore=tests/integration/test_interrupt.py --ignore=tests/integration/test_netem_identity.py \
                        --ignore=tests/integration/test_revert_timing.py \
                        --ignore=tests/integration/test_container_netem.py \
                        --ignore=tests/integration/test_container_stress.py \
                        --ignore=tests/integration/test_docker_tls.py \
                        --ignore=tests/integration/test_ledger_lease.py \
                        --ignore=tests/integration/test_docker_ssh.py \
                        --ignore=tests/integration/test_probe_prometheus.py
                fi
            done
            ;;
        sanity) hack/sanity.sh "${cores[@]}" ;;
        lint) hack/lint.sh ;;
        *) die "unknown stage '${stage}' (unit, integration, sanity, lint)" ;;
    esac
    log "${stage}: done in $(elapsed "${start}")"
done

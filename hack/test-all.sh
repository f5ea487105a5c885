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
prebuild_pid=""
stop_bed() {
    if [[ -n "${prebuild_pid}" ]]; then
        kill -- "-${prebuild_pid}" 2>/dev/null || true
    fi
    if [[ "${bed_started}" == 1 && "${CHAOS_BED_KEEP:-0}" != 1 ]]; then
        bash tests/infra/docker-bed.sh down >&2 || true
    fi
}
trap stop_bed EXIT

# start_prebuild: build the Kubernetes control plane, the real node and the VM image from source in the background
# (on a cold machine, minutes of Go builds and a debootstrap), while the Docker tests, which need none of them, run.
# Each build is a no-op when its cache holds it; the host packages go in first, in the foreground, so that no two
# apt-get contend for dpkg's lock. A build that fails here is retried by its tests' fixture, which reports the error.
start_prebuild() {
    bash tests/infra/vm-bed.sh deps >&2 || log "WARNING: the VM bed's host packages did not install; its tests will say why"
    mkdir -p tests/output
    prebuild_log="tests/output/prebuild.log"
    set -m  # its own process group, so that stop_bed can stop it whole
    (
        bash tests/infra/k8s-bed.sh build
        if [[ "${CHAOS_NODE_BED:-0}" == 1 ]]; then bash tests/infra/node-bed.sh build; fi
        bash tests/infra/vm-bed.sh build
    ) >"${prebuild_log}" 2>&1 &
    prebuild_pid=$!
    set +m
    log "building the Kubernetes bed, the real node and the VM image in the background (${prebuild_log})"
}

wait_prebuild() {
    local rc=0
    wait "${prebuild_pid}" || rc=$?
    prebuild_pid=""
    if [[ "${rc}" != 0 ]]; then
        log "WARNING: the background build failed (rc ${rc}); its tests' fixtures build again and report why:"
        tail -n 20 "${prebuild_log}" >&2
    fi
}

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
                    # Everything, once: the Docker engines and the browser test while the other beds build, then
                    # the Kubernetes control plane (tests/infra/k8s-bed.sh, or $KUBECONFIG) and the QEMU VM with
                    # real netem (tests/infra/vm-bed.sh).
                    start_prebuild
                    log "integration tests (Docker, browser), ${core}"
                    "${venv[${core}]}/bin/python" -m pytest -q --durations=15 tests/integration \
                        --ignore=tests/integration/k8s --ignore=tests/integration/vm
                    wait_prebuild
                    log "integration tests (Kubernetes, VM), ${core}"
                    "${venv[${core}]}/bin/python" -m pytest -q --durations=15 tests/integration/k8s tests/integration/vm
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

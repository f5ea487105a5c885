#!/usr/bin/env bash
# make demo: a private Docker engine (unless DOCKER_HOST names one to use), the demo images,
# then playbooks/demo.yml kills and pauses demo containers on it. Leaves nothing running
# unless CHAOS_DEMO_KEEP=1.
set -euo pipefail
# shellcheck source=hack/_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
LOG_TAG=demo
cd "${REPO_ROOT}"

venv="$(hack/toolchain.sh --path core219)"
collections="${REPO_ROOT}/build/collections"
mkdir -p "${collections}/ansible_collections/chaos"
ln -sfn "${REPO_ROOT}" "${collections}/ansible_collections/chaos/engineering"

started_bed=0
if [[ -z "${DOCKER_HOST:-}" ]]; then
    if ! bash tests/infra/docker-bed.sh status >/dev/null 2>&1; then
        bash tests/infra/docker-bed.sh up 1
        started_bed=1
    fi
    docker_host="$(bash tests/infra/docker-bed.sh env | sed -n 's/^export DOCKER_HOST_1=//p' | tr -d "\"'")"
else
    docker_host="${DOCKER_HOST}"
fi
cleanup() {
    if [[ "${started_bed}" == 1 && "${CHAOS_DEMO_KEEP:-0}" != 1 ]]; then
        bash tests/infra/docker-bed.sh down
    fi
}
trap cleanup EXIT

log "running playbooks/demo.yml against ${docker_host}"
ANSIBLE_COLLECTIONS_PATH="${collections}" \
CHAOS_ENGINEERING_LEDGER_DIR="${CHAOS_ENGINEERING_LEDGER_DIR:-${REPO_ROOT}/build/ledger}" \
    "${venv}/bin/ansible-playbook" -i localhost, -c local \
    -e "ansible_python_interpreter=${venv}/bin/python" \
    -e "docker_host=${docker_host}" \
    -e "chaos_demo_keep=${CHAOS_DEMO_KEEP:-0}" \
    playbooks/demo.yml

#!/usr/bin/env bash
# make demo-k8s: the seed's story on a real Kubernetes node, in one command, on a fresh machine.
#   1. the Python toolchain (hack/toolchain.sh core221: ansible-core, the kubernetes client, cached);
#   2. a private control plane (tests/infra/k8s-bed.sh up, one KWOK node) and a real kubelet node joined to it
#      (tests/infra/node-bed.sh up: kubelet, cri-dockerd, Pumba and the CNI plugins are built from source the first
#      time, which takes minutes, and cached in ~/.cache/chaos-engineering);
#   3. a hello Deployment on the real node, then playbooks/seed_experiment.yml twice: with 1 replica (Pumba's kills
#      leave no ready pod: deviated) and with 5 (a ready pod is always left while RESTARTS climb: passed);
#   4. prints each verdict and the path of its HTML report.
# Cleans up everything it started (namespace, node, control plane) unless CHAOS_DEMO_KEEP=1. Beds that were
# already up are used and left up. Needs root and the shared peers/ folder (see tests/infra/node/README.md).
# CHAOS_DEMO_SECONDS (fault time per run, default 30), CHAOS_DEMO_INTERVAL (Pumba's interval, default 10s) and
# CHAOS_JOURNAL_DIR (reports, default build/demo-k8s-reports); the beds' own variables (CHAOS_K8S_BED_DIR,
# CHAOS_K8S_PORT_BASE, CHAOS_NODE_*) move them out of another bed's way (defaults below differ from the test beds').
set -euo pipefail
# shellcheck source=hack/_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
LOG_TAG=demo-k8s
cd "${REPO_ROOT}"
start="$(now)"

export CHAOS_K8S_BED_DIR="${CHAOS_K8S_BED_DIR:-/tmp/chaos-demo-k8s}"
export CHAOS_K8S_PORT_BASE="${CHAOS_K8S_PORT_BASE:-28380}"
export CHAOS_K8S_NODES="${CHAOS_K8S_NODES:-1}"
export CHAOS_NODE_BED_DIR="${CHAOS_NODE_BED_DIR:-/tmp/chaos-demo-node}"
export CHAOS_NODE_NAME="${CHAOS_NODE_NAME:-chaos-demo-node}"
export CHAOS_NODE_PORT_BASE="${CHAOS_NODE_PORT_BASE:-28390}"
export CHAOS_NODE_NET="${CHAOS_NODE_NET:-10.79.0}"
export CHAOS_NODE_BRIDGE="${CHAOS_NODE_BRIDGE:-chdemonode0}"
export CHAOS_NODE_CGROUP="${CHAOS_NODE_CGROUP:-chaos-demo-node}"
seconds="${CHAOS_DEMO_SECONDS:-30}"
interval="${CHAOS_DEMO_INTERVAL:-10s}"
reports="${CHAOS_JOURNAL_DIR:-${REPO_ROOT}/build/demo-k8s-reports}"
namespace=chaos-demo-seed

reason="$(bash tests/infra/node-bed.sh check 2>&1)" || die "this machine cannot run the real node: ${reason}"

log "toolchain (ansible-core, kubernetes client)"
venv="$(hack/toolchain.sh --path core221)"
collections="${REPO_ROOT}/build/collections"
mkdir -p "${collections}/ansible_collections/chaos"
ln -sfn "${REPO_ROOT}" "${collections}/ansible_collections/chaos/engineering"

started_k8s=0
started_node=0
kubeconfig=""
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
    if [[ "${CHAOS_DEMO_KEEP:-0}" == 1 ]]; then
        log "CHAOS_DEMO_KEEP=1: leaving the beds up (tests/infra/node-bed.sh down, then tests/infra/k8s-bed.sh down)"
        return 0
    fi
    if [[ -n "${kubeconfig}" ]]; then
        "${venv}/bin/python" - "${kubeconfig}" "${namespace}" <<'PY' >/dev/null 2>&1 || true
import sys
from kubernetes import client, config
api = client.CoreV1Api(config.new_client_from_config(config_file=sys.argv[1]))
api.delete_namespace(sys.argv[2])
PY
    fi
    if [[ "${started_node}" == 1 ]]; then bash tests/infra/node-bed.sh down || true; fi
    if [[ "${started_k8s}" == 1 ]]; then bash tests/infra/k8s-bed.sh down || true; fi
}
trap cleanup EXIT

# bed_up BED WHAT DIR FIRST: use the bed (k8s or node) when it is up, and leave it up; else bring it up and set
# started_BED=1, so that cleanup takes it down (even when up fails half-way).
bed_up() {
    local bed="$1" what="$2" dir="$3" first="$4"
    if bash "tests/infra/${bed}-bed.sh" status >/dev/null 2>&1; then
        log "using the ${what} in ${dir}, which is up (and stays up)"
        return 0
    fi
    log "${what} (tests/infra/${bed}-bed.sh up; ${first})"
    printf -v "started_${bed}" 1
    bash "tests/infra/${bed}-bed.sh" up >&2
}

bed_up k8s "control plane" "${CHAOS_K8S_BED_DIR}" "the first run builds it"
kubeconfig="${CHAOS_K8S_BED_DIR}/kubeconfig"
bed_up node "real node" "${CHAOS_NODE_BED_DIR}" "the first run builds kubelet, cri-dockerd, Pumba: minutes"
eval "$(bash tests/infra/node-bed.sh env)"

# hello REPLICAS: the Deployment on the real node (tolerating its taint), at REPLICAS ready pods
hello() {
    "${venv}/bin/python" - "${kubeconfig}" "${namespace}" "$1" <<'PY'
import os, sys, time
from kubernetes import client, config
from kubernetes.client.rest import ApiException
kubeconfig, namespace, replicas = sys.argv[1], sys.argv[2], int(sys.argv[3])
api_client = config.new_client_from_config(config_file=kubeconfig)
core, apps = client.CoreV1Api(api_client), client.AppsV1Api(api_client)
try:
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
except ApiException as exc:
    if exc.status != 409:
        raise
key, _, rest = os.environ.get('CHAOS_NODE_TAINT', '').partition('=')
value, _, effect = rest.rpartition(':')
tolerations = [client.V1Toleration(key=key, operator='Equal', value=value, effect=effect)] if key else None
container = client.V1Container(
    name='hello', image=os.environ['CHAOS_NODE_IMAGE_HELLO'], image_pull_policy='Never',
    ports=[client.V1ContainerPort(container_port=8080)],
    readiness_probe=client.V1Probe(http_get=client.V1HTTPGetAction(path='/', port=8080), period_seconds=2,
                                   failure_threshold=1))
body = client.V1Deployment(
    metadata=client.V1ObjectMeta(name='hello', labels={'app': 'hello'}),
    spec=client.V1DeploymentSpec(replicas=replicas, selector=client.V1LabelSelector(match_labels={'app': 'hello'}),
        template=client.V1PodTemplateSpec(metadata=client.V1ObjectMeta(labels={'app': 'hello'}), spec=client.V1PodSpec(
            containers=[container], node_selector={'kubernetes.io/hostname': os.environ['CHAOS_NODE_NAME']},
            tolerations=tolerations, automount_service_account_token=False, termination_grace_period_seconds=2))))
# A fresh Deployment each run: pods still in the kubelet's restart back-off from the run before would weigh on it.
try:
    apps.delete_namespaced_deployment('hello', namespace, propagation_policy='Foreground')
except ApiException as exc:
    if exc.status != 404:
        raise
give_up = time.monotonic() + 120
while core.list_namespaced_pod(namespace, label_selector='app=hello').items and time.monotonic() < give_up:
    time.sleep(1)
apps.create_namespaced_deployment(namespace, body)
# The Service the seed's HTTP probe requests (a ready endpoint of it: there is no kube-proxy on the bed).
try:
    core.create_namespaced_service(namespace, client.V1Service(
        metadata=client.V1ObjectMeta(name='hello'), spec=client.V1ServiceSpec(
            selector={'app': 'hello'}, ports=[client.V1ServicePort(name='web', port=80, target_port=8080)])))
except ApiException as exc:
    if exc.status != 409:
        raise
give_up = time.monotonic() + 300
while time.monotonic() < give_up:
    found = core.list_namespaced_pod(namespace, label_selector='app=hello').items
    ready = [p for p in found if not p.metadata.deletion_timestamp and any(
        c.type == 'Ready' and c.status == 'True' for c in p.status.conditions or [])]
    if len(ready) == replicas and len(found) == replicas:
        sys.exit(0)
    time.sleep(1)
sys.exit('hello: %d pods not ready after 300 s' % replicas)
PY
}

mkdir -p "${reports}"
vars="$(mktemp)"
for replicas in 1 5; do
    log "hello with ${replicas} replica(s); Pumba kills its containers every ${interval} for ${seconds} s"
    hello "${replicas}"
    cat >"${vars}" <<YAML
experiment_kubeconfig: ${kubeconfig}
experiment_name: "seed: Pumba every ${interval} against hello with ${replicas} replica(s)"
experiment_duration: ${seconds}
experiment_recovery_timeout: 120
experiment_fail_unless_passed: false
seed_namespace: ${namespace}
seed_selector: app=hello
seed_service: hello
seed_service_path: /cgi-bin/host
seed_agent_image: ${CHAOS_NODE_IMAGE_PUMBA}
seed_agent_interval: ${interval}
seed_agent_options:
  image_pull_policy: Never
  runtime_socket: ${CHAOS_NODE_DOCKER_HOST#unix://}
  wait_timeout: 180
  tolerations: [{operator: Exists}]
YAML
    ANSIBLE_LOCALHOST_WARNING=False ANSIBLE_INVENTORY_UNPARSED_WARNING=False \
    CHAOS_JOURNAL_DIR="${reports}" ANSIBLE_COLLECTIONS_PATH="${collections}" KUBECONFIG=/nonexistent \
        "${venv}/bin/ansible-playbook" -i localhost, -c local -e "ansible_python_interpreter=${venv}/bin/python" \
        playbooks/seed_experiment.yml -e "@${vars}" >&2
    report="$(find "${reports}" -mindepth 2 -maxdepth 2 -name journal.json -printf '%T@ %h/\n' | sort -n | tail -n 1 | cut -d' ' -f2-)"
    verdict="$("${venv}/bin/python" -c 'import json, sys; print(json.load(open(sys.argv[1]))["verdict"])' "${report}journal.json")"
    printf 'seed with %d replica(s): verdict %s, report %sreport.html\n' "${replicas}" "${verdict}" "${report}"
done
rm -f "${vars}"
log "done in $(elapsed "${start}")"

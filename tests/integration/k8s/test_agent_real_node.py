"""The chaos agent for real: playbooks/agent.yml (the chaos.engineering.agent role) runs Pumba, built from the pinned
source into the node bed's chaos-node/pumba image, as a DaemonSet on the real node of tests/infra/node-bed.sh.

Its defaults stay, apart from the image, the node's docker socket, the toleration of the node's taint, the target
namespace (the test's own) and a short interval. It must kill the target Deployment's app containers (their restarts
climb) and nothing else: not a pod in kube-system, not a pod in another namespace, not the agent's own pod, and no
pod sandbox (k8s_POD_), the hello pods' included (kill_sandboxes is off by default).
"""
import os
import subprocess
import time

import pytest
import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException

from helpers import ROOT, ansible_playbook_argv, playbook_env
from k8s_helpers import pods, wait_for, wait_ready
from node_helpers import hello_deployment, node_docker_socket, restarts, sandboxes_on_node, tolerations

pytestmark = [pytest.mark.integration, pytest.mark.k8s, pytest.mark.node_bed]

AGENT = 'chaos.engineering/agent'


@pytest.fixture
def kube_system_bystander(api, real_node, run_id):
    """A hello pod in kube-system on the real node (deleted afterwards)."""
    name = 'bystander-%s' % run_id
    deployment = hello_deployment(name, real_node, 1)
    pod = client.V1Pod(metadata=client.V1ObjectMeta(name=name, labels={'app': name}),
                       spec=deployment.spec.template.spec)
    api['core'].create_namespaced_pod('kube-system', pod)
    yield name
    try:
        api['core'].delete_namespaced_pod(name, 'kube-system', grace_period_seconds=0)
    except ApiException:
        pass


def test_agent_kills_only_the_target_deployments_app_containers(api, real_node, make_namespace, run_id, tmp_path,
                                                                agent_ns, kube_system_bystander):
    cfg = real_node
    target, other = make_namespace(), make_namespace()
    api['apps'].create_namespaced_deployment(target, hello_deployment('hello', cfg, 2))
    api['apps'].create_namespaced_deployment(other, hello_deployment('hello', cfg, 1))
    wait_ready(api, target, 'app=hello', 2)
    wait_ready(api, other, 'app=hello', 1)
    wait_ready(api, 'kube-system', 'app=%s' % kube_system_bystander, 1)
    sandboxes_before = dict((ns, sandboxes_on_node(cfg, ns)) for ns in (target, other))
    bystander_sandbox = sandboxes_on_node(cfg, 'kube-system')[kube_system_bystander]
    assert len(sandboxes_before[target]) == 2 and all(len(v) == 1 for v in sandboxes_before[target].values())
    ips_before = dict((p.metadata.name, p.status.pod_ip) for p in pods(api, target, 'app=hello'))

    extra = str(tmp_path / 'agent-vars.yml')
    with open(extra, 'w') as handle:
        yaml.safe_dump(dict(
            agent_kubeconfig=api['kubeconfig'], agent_name='agent-%s' % run_id, agent_namespace=agent_ns,
            agent_image=cfg['CHAOS_NODE_IMAGE_PUMBA'], agent_image_pull_policy='Never',
            agent_runtime_socket=node_docker_socket(cfg), agent_tolerations=tolerations(cfg),
            agent_target_namespace=target, agent_interval='3s', agent_wait_timeout=180,
            chaos_agent_seconds=24), handle)
    env = dict((k, v) for k, v in playbook_env().items() if not k.startswith('K8S_AUTH_'))
    env['KUBECONFIG'] = str(tmp_path / 'no-such-kubeconfig')
    log = open(str(tmp_path / 'agent-play.log'), 'w+')
    play = subprocess.Popen(ansible_playbook_argv(os.path.join(ROOT, 'playbooks', 'agent.yml'), extra),
                            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=str(tmp_path))
    agent_on_node = {}
    try:
        # While the agent runs: its pod on the real node, and its restart count, as the API server reports them.
        give_up = time.monotonic() + 600
        while play.poll() is None and time.monotonic() < give_up:
            try:
                for pod in pods(api, agent_ns, '%s=agent-%s' % (AGENT, run_id)):
                    if pod.spec.node_name == cfg['CHAOS_NODE_NAME'] and pod.status.container_statuses:
                        agent_on_node[pod.metadata.name] = max(agent_on_node.get(pod.metadata.name, 0),
                                                               restarts(pod))
            except ApiException:
                pass
            time.sleep(1)
    finally:
        if play.poll() is None:
            play.kill()
        play.wait()
        log.seek(0)
        output = log.read()
        log.close()
    assert play.returncode == 0, output[-6000:]

    # The agent ran on the real node (it tolerates the taint), and Pumba never killed it.
    assert len(agent_on_node) == 1 and list(agent_on_node.values()) == [0], agent_on_node
    # The target's app containers were killed: RESTARTS climbed...
    after = pods(api, target, 'app=hello')
    assert sum(restarts(p) for p in after) >= 2, [(p.metadata.name, restarts(p)) for p in after]
    # ...in the same pods, behind the same sandboxes (no k8s_POD_ was killed: the pods kept their IPs).
    assert dict((p.metadata.name, p.status.pod_ip) for p in after) == ips_before
    assert sandboxes_on_node(cfg, target) == sandboxes_before[target]
    # Nothing else was touched: the pod in another namespace and the one in kube-system.
    for namespace, selector in ((other, 'app=hello'), ('kube-system', 'app=%s' % kube_system_bystander)):
        untouched = pods(api, namespace, selector)
        assert len(untouched) == 1 and restarts(untouched[0]) == 0, (namespace, untouched[0].status)
    assert sandboxes_on_node(cfg, other) == sandboxes_before[other]
    assert sandboxes_on_node(cfg, 'kube-system')[kube_system_bystander] == bystander_sandbox
    # The agent is gone with the play.
    assert not [p for p in pods(api, agent_ns) if not p.metadata.deletion_timestamp] or wait_for(
        'the agent pods to be gone', lambda: not pods(api, agent_ns), timeout=60)

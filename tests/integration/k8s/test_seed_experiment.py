"""The seed as an experiment, on the real node of tests/infra/node-bed.sh: playbooks/seed_experiment.yml deploys Pumba
(the chaos agent, image chaos-node/pumba:1.1.2 built from the pinned source) as the fault for a while, the experiment
role's sampler watches a ready-pods probe and a Service probe (HTTP to a ready endpoint of the hello Service:
there is no kube-proxy here) before, during and after, and the agent's removal is the revert.

One replica: every kill leaves no ready pod, so the verdict is deviated. Five: a ready pod is always left, and the
Service answers (a client that retries once on another endpoint when a connection gets no answer, the playbook's
default) while RESTARTS climb, so it passes. Both verdicts rest on samples of both probes taken inside the agent's
window (from the moment it was ready on every node to its removal).
"""
import json
import os
import subprocess

import pytest
import yaml
from kubernetes import client

from helpers import ROOT, ansible_playbook_argv, playbook_env
from k8s_helpers import pod_ready, pods, wait_for
from node_helpers import hello_deployment, node_docker_socket, restarts, tolerations

pytestmark = [pytest.mark.integration, pytest.mark.k8s, pytest.mark.node_bed]


@pytest.mark.parametrize('replicas, verdict', [(1, 'deviated'), (5, 'passed')])
def test_seed_experiment_verdict_follows_the_replicas(api, real_node, namespace, agent_ns, run_id, tmp_path,
                                                      replicas, verdict):
    cfg = real_node
    api['apps'].create_namespaced_deployment(namespace, hello_deployment('hello', cfg, replicas))
    api['core'].create_namespaced_service(namespace, client.V1Service(
        metadata=client.V1ObjectMeta(name='hello-svc'), spec=client.V1ServiceSpec(
            selector={'app': 'hello'}, ports=[client.V1ServicePort(name='web', port=80, target_port=8080)])))
    wait_for('%d hello pods ready' % replicas,
             lambda: len([p for p in pods(api, namespace, 'app=hello') if pod_ready(p)]) == replicas, timeout=180)
    extra = str(tmp_path / 'seed-vars.yml')
    with open(extra, 'w') as handle:
        yaml.safe_dump(dict(
            experiment_kubeconfig=api['kubeconfig'], experiment_journal_dir=str(tmp_path / 'journal'),
            experiment_duration=24, experiment_recovery_timeout=120, experiment_fail_unless_passed=False,
            seed_namespace=namespace, seed_selector='app=hello', seed_min_ready=1,
            seed_service='hello-svc', seed_service_port='web', seed_service_path='/cgi-bin/host',
            seed_agent_name='seed-%s' % run_id, seed_agent_namespace=agent_ns,
            seed_agent_image=cfg['CHAOS_NODE_IMAGE_PUMBA'], seed_agent_interval='5s',
            seed_agent_options=dict(image_pull_policy='Never', runtime_socket=node_docker_socket(cfg),
                                    tolerations=tolerations(cfg), wait_timeout=180)), handle)
    env = dict((k, v) for k, v in playbook_env().items() if not k.startswith('K8S_AUTH_'))
    env['KUBECONFIG'] = str(tmp_path / 'no-such-kubeconfig')
    proc = subprocess.run(ansible_playbook_argv(os.path.join(ROOT, 'playbooks', 'seed_experiment.yml'), extra),
                          capture_output=True, text=True, env=env, cwd=str(tmp_path), timeout=900, check=False)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]

    base = str(tmp_path / 'journal')
    (run,) = os.listdir(base)
    with open(os.path.join(base, run, 'journal.json')) as handle:
        data = json.load(handle)
    record = data['hosts']['localhost']
    assert record['verdict'] == verdict, record['reason']
    # The agent was the fault, on the real node, and its window is where the verdict comes from.
    (fault,) = record['faults']
    assert fault['fault'] == 'k8s_agent'
    (window,) = record['windows']
    assert window['seconds'] >= 20, window
    seen = dict((p['probe'], p) for p in window['probes'])
    ready, service = seen['at least 1 pod(s) app=hello ready'], seen['Service %s/hello-svc answers' % namespace]
    assert ready['samples'] >= 3 and service['samples'] >= 3, window
    if verdict == 'deviated':
        # The only pod is down after each kill: no ready pod, and the Service has no ready endpoint or no answer.
        assert ready['failed'] >= 1 and not ready['held'], window
        assert service['failed'] >= 1 and not service['held'], window
    else:
        assert all(p['failed'] == 0 and p['held'] for p in (ready, service)), window
    # The Service probe's samples name the pod that answered, one of the hello pods.
    answered = [s for s in record['probes'] if s['probe'] == service['probe'] and s['ok']]
    assert answered and all(s['detail'].startswith('pod hello-') and 'HTTP 200' in s['detail'] for s in answered)
    # Pumba was killing inside the window: the hello containers restarted; and the agent is gone with the revert.
    assert sum(restarts(p) for p in pods(api, namespace, 'app=hello')) >= 2
    assert not [p for p in pods(api, agent_ns) if not p.metadata.deletion_timestamp]
    assert not api['apps'].list_namespaced_daemon_set(agent_ns).items
    # The report is there.
    assert os.path.exists(os.path.join(base, run, 'report.html')), os.listdir(os.path.join(base, run))

"""The experiment, agent and teardown playbooks against a real Kubernetes API server (the k8s bed, or KUBECONFIG):
a passing k8s_pod_chaos experiment with pods probes and measured recovery, an experiment aborted by a pods probe,
the agent playbook (deploy, run, tear down), and the teardown playbook removing an agent left behind.
"""
import json
import os
import subprocess
import uuid

import pytest
import yaml
from kubernetes.client.rest import ApiException

from helpers import ROOT, ansible_playbook_argv, playbook_env, write
from k8s_helpers import IMAGE, TEST_LABEL, create_deployment, create_pod, pods, ready_pods, wait_for, wait_ready

pytestmark = [pytest.mark.integration, pytest.mark.k8s]

PLAYBOOKS = os.path.join(ROOT, 'playbooks')


def run(name, tmp_path, extra_vars, check=False):
    """playbooks/<name>.yml on localhost; the cluster is named only by the variables (KUBECONFIG is cleared)."""
    path = str(tmp_path / ('vars-%s-%s.yml' % (name, uuid.uuid4().hex[:6])))
    with open(path, 'w') as handle:
        yaml.safe_dump(extra_vars, handle)
    env = dict((k, v) for k, v in playbook_env().items() if not k.startswith('K8S_AUTH_'))
    env['KUBECONFIG'] = str(tmp_path / 'no-such-kubeconfig')
    return subprocess.run(ansible_playbook_argv(os.path.join(PLAYBOOKS, name + '.yml'), path, check=check),
                          capture_output=True, text=True, env=env, cwd=str(tmp_path), timeout=900, check=False)


def journal_of(tmp_path):
    base = str(tmp_path / 'journal')
    runs = os.listdir(base)
    assert len(runs) == 1, runs
    with open(os.path.join(base, runs[0], 'journal.json')) as handle:
        return json.load(handle)


def samples(record, phase):
    return [s for s in record['probes'] if s['phase'] == phase]


def test_k8s_experiment_deletes_a_pod_and_measures_recovery(api, namespace, run_id, tmp_path):
    labels = {'app': 'web', TEST_LABEL: run_id}
    create_deployment(api, namespace, 'web', 3, labels)
    before = wait_ready(api, namespace, 'app=web', 3)
    proc = run('k8s_experiment', tmp_path, dict(
        experiment_kubeconfig=api['kubeconfig'], experiment_name='lose a web pod',
        experiment_journal_dir=str(tmp_path / 'journal'), experiment_duration=4, experiment_probe_interval=2,
        experiment_recovery_timeout=60,
        experiment_probes=[
            dict(name='3 web pods ready', type='pods', namespace=namespace, label_selector='app=web', min_ready=3,
                 phases=['before', 'after']),
            dict(name='a quorum of web pods ready', type='pods', namespace=namespace, label_selector='app=web',
                 min_ready=2, phases=['during'])],
        experiment_faults=[dict(name='delete one web pod', module='k8s_pod_chaos',
                                args=dict(namespace=namespace, label_selector='app=web', count=1,
                                          wait_for_recovery=True, recovery_timeout=60))]))
    # KWOK's replacement pod is Ready about 0.1 s after the deletion: shorter than a probe sampling every 2 s can
    # see, so the verdict cannot rest on the deletion's window. It is inconclusive, as it must be, never passed
    # (on a real node the replacement takes seconds: issue 11).
    assert proc.returncode != 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    data = journal_of(tmp_path)
    record = data['hosts']['localhost']
    assert data['verdict'] == 'inconclusive' and record['verdict'] == 'inconclusive', record['reason']
    assert 'Not enough observation' in record['reason'] and 'delete one web pod' in record['reason']
    fault, = record['faults']
    deleted, = [t for t in fault['targets'] if t['result'] == 'deleted']
    assert deleted['pod'] in before
    # The pod is gone for good (the ReplicaSet made a new one), and the recovery the module measured is in the journal.
    assert deleted['pod'] not in [p.metadata.name for p in pods(api, namespace, 'app=web')]
    owner = [r for r in record['recovery'] if r['what'].startswith('Deployment ')]
    assert owner and owner[0]['what'] == 'Deployment %s/web' % namespace and owner[0]['recovered'] is True
    # Every probe held in the phases it judges (each is sampled all the time), and the quorum probe was sampled
    # at least twice inside the deletion's window (the deletion to the recovery the module measured).
    judged = dict((p['name'], p['phases']) for p in data['experiment']['probes'])
    assert all(s['ok'] for s in record['probes'] if s['phase'] in judged[s['probe']])
    assert samples(record, 'before') and samples(record, 'during') and samples(record, 'after')
    (window,) = record['windows']
    assert window['end_by'] == 'recovered' and window['probes'][0]['samples'] < 2, window
    assert len(ready_pods(api, namespace, 'app=web')) == 3


def test_k8s_experiment_aborts_when_the_steady_state_breaks(api, namespace, run_id, tmp_path):
    # A pod without a controller: once deleted, nothing brings it back, so the pods probe must fail.
    create_pod(api, namespace, 'lonely', {'app': 'lonely', TEST_LABEL: run_id})
    wait_ready(api, namespace, 'app=lonely', 1)
    proc = run('k8s_experiment', tmp_path, dict(
        experiment_kubeconfig=api['kubeconfig'], experiment_journal_dir=str(tmp_path / 'journal'),
        experiment_duration=30, experiment_iterations=2, experiment_probe_interval=0.5, experiment_recovery_timeout=2,
        experiment_probes=[dict(name='lonely ready', type='pods', namespace=namespace, label_selector='app=lonely')],
        experiment_faults=[dict(module='k8s_pod_chaos', args=dict(namespace=namespace, label_selector='app=lonely',
                                                                  grace_period=0))]))
    assert proc.returncode != 0
    assert 'ABORTED' in proc.stdout, proc.stdout[-6000:]
    record = journal_of(tmp_path)['hosts']['localhost']
    assert record['verdict'] == 'aborted'
    assert 'broke during iteration 1: lonely ready failed' in record['reason']
    assert [f['iteration'] for f in record['faults']] == [1]
    assert [s for s in samples(record, 'during') if not s['ok']]
    # Nothing brought it back: the after-samples all failed.
    assert samples(record, 'after') and not any(s['ok'] for s in samples(record, 'after'))
    wait_for('the lonely pod to be gone', lambda: not pods(api, namespace, 'app=lonely'))


def agent_daemonsets(api, namespace):
    return [d for d in api['apps'].list_namespaced_daemon_set(namespace).items
            if (d.metadata.labels or {}).get('app.kubernetes.io/managed-by') == 'chaos.engineering']


def test_agent_playbook_runs_the_agent_for_a_while_then_removes_it(api, make_namespace, run_id, tmp_path):
    namespace = make_namespace()
    proc = run('agent', tmp_path, dict(
        agent_kubeconfig=api['kubeconfig'], agent_name='agent-%s' % run_id, agent_namespace=namespace,
        agent_image=IMAGE, agent_wait_timeout=180, chaos_agent_seconds=1))
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    assert 'Deploy the agent DaemonSet and wait until it runs on every node' in proc.stdout
    assert 'Let the agent strike, for this many seconds - 1' in proc.stdout
    assert 'changed: [localhost]' in proc.stdout.split('Tear the agent down')[1]
    assert not agent_daemonsets(api, namespace)
    assert not pods(api, namespace)


def test_teardown_playbook_removes_an_agent_left_behind(api, make_namespace, run_id, tmp_path):
    namespace = make_namespace()
    playbook = write(str(tmp_path / 'leave-agent.yml'), '''\
        - name: Deploy an agent and leave it behind (as a controller that died would)
          hosts: localhost
          gather_facts: false
          roles:
            - role: chaos.engineering.agent
        ''')
    extra = str(tmp_path / 'agent-vars.json')
    with open(extra, 'w') as handle:
        json.dump(dict(agent_kubeconfig=api['kubeconfig'], agent_name='left-%s' % run_id, agent_namespace=namespace,
                       agent_image=IMAGE, agent_wait_timeout=180, agent_duration=3600), handle)
    left = subprocess.run(ansible_playbook_argv(playbook, extra), capture_output=True, text=True, env=playbook_env(),
                          cwd=str(tmp_path), timeout=900, check=False)
    assert left.returncode == 0, left.stdout[-4000:]
    assert [d.metadata.name for d in agent_daemonsets(api, namespace)] == ['left-%s' % run_id]

    proc = run('teardown', tmp_path, dict(chaos_k8s_teardown=True, teardown_kubeconfig=api['kubeconfig'],
                                          teardown_agent_namespace=namespace))
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    assert "agents removed: ['%s/left-%s']" % (namespace, run_id) in proc.stdout, proc.stdout[-3000:]
    assert not agent_daemonsets(api, namespace)
    wait_for('the agent pods to be gone', lambda: not pods(api, namespace))
    try:
        api['apps'].read_namespaced_daemon_set('left-%s' % run_id, namespace)
        raise AssertionError('the agent DaemonSet is still there')
    except ApiException as exc:
        assert exc.status == 404

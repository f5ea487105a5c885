"""chaos.engineering.probe `pods` probes against a real Kubernetes API server (see conftest.py for which one).

The cluster is set up and checked with the official client; the probe must agree with it.
"""
import json
import os
import subprocess
import tempfile
import threading
import uuid

import pytest
from kubernetes import client

from helpers import ansible_playbook_argv, playbook_env, wait_until, write
from k8s_helpers import create_deployment, create_pod, pods, ready_pods, wait_for, wait_ready

pytestmark = [pytest.mark.integration, pytest.mark.k8s]


def test_pods_probe_counts_ready_pods(api, namespace, run_module):
    create_deployment(api, namespace, 'web', 3, {'app': 'web'})
    create_deployment(api, namespace, 'db', 1, {'app': 'db'})
    wait_ready(api, namespace, 'app=web', 3)
    wait_ready(api, namespace, 'app=db', 1)

    result = run_module('probe', dict(phase='before', probes=[
        dict(name='web', type='pods', namespace=namespace, label_selector='app=web', min_ready=3),
        dict(name='all', type='pods', namespace=namespace, min_ready=4),
        dict(name='none', type='pods', namespace=namespace, label_selector='app=nothing', min_ready=0),
    ]))
    assert not result.get('failed'), result
    assert result['ok'] is True and result['changed'] is False
    values = dict((s['probe'], s['value']) for s in result['samples'])
    assert values == {'web': len(ready_pods(api, namespace, 'app=web')), 'all': 4, 'none': 0}
    assert values['web'] == 3

    result = run_module('probe', dict(probes=[
        dict(name='web', type='pods', namespace=namespace, label_selector='app=web', min_ready=4)]))
    assert result['ok'] is False and result['failed_probes'] == ['web']
    assert result['samples'][0]['detail'].startswith('3 ready of 3 (min 4): web-')


def test_a_terminating_or_unready_pod_does_not_count(api, namespace, run_module):
    create_deployment(api, namespace, 'web', 2, {'app': 'web'})
    ready = wait_ready(api, namespace, 'app=web', 2)
    # A pod with a finalizer stays, terminating, after its delete: it must not count as ready.
    victim = sorted(ready)[0]
    api['core'].patch_namespaced_pod(victim, namespace, {'metadata': {'finalizers': ['chaos.engineering/test']}})
    try:
        api['core'].delete_namespaced_pod(victim, namespace)
        wait_for('%s to be terminating' % victim, lambda: [
            p for p in pods(api, namespace, 'app=web') if p.metadata.name == victim and p.metadata.deletion_timestamp])
        # Stop the Deployment from replacing it, so the count is deterministic.
        api['apps'].patch_namespaced_deployment_scale('web', namespace, {'spec': {'replicas': 1}})
        wait_for('one ready, non-terminating web pod', lambda: len(
            [p for p in ready_pods(api, namespace, 'app=web') if not p.metadata.deletion_timestamp]) == 1)
        result = run_module('probe', dict(probes=[
            dict(name='web', type='pods', namespace=namespace, label_selector='app=web', min_ready=2)]))
        assert result['ok'] is False and result['samples'][0]['value'] == 1, result
        assert victim not in result['samples'][0]['detail'].split(': ', 1)[1]
    finally:
        api['core'].patch_namespaced_pod(victim, namespace, {'metadata': {'finalizers': None}})


def test_pods_probe_waits_for_recovery(api, namespace, kubeconfig, tmp_path):
    """No pod is ready when the probe starts; the Deployment is scaled up while it samples."""
    create_deployment(api, namespace, 'web', 0, {'app': 'web'})
    marker = str(tmp_path / 'probe-starting')
    result_file = str(tmp_path / 'result.json')
    playbook = write(str(tmp_path / 'recover.yml'), '''\
        - name: Verify recovery of the web pods
          hosts: localhost
          gather_facts: false
          module_defaults:
            group/chaos.engineering.k8s:
              kubeconfig: "{{ kubeconfig }}"
          tasks:
            - name: Tell the test the probe starts now
              ansible.builtin.file:
                path: "{{ marker }}"
                state: touch
                mode: "0600"
            - name: Wait for two ready web pods
              chaos.engineering.probe:
                phase: after
                retries_until_ok: true
                duration: 180
                interval: 0.5
                probes:
                  - name: web
                    type: pods
                    namespace: "{{ namespace }}"
                    label_selector: app=web
                    min_ready: 2
              register: outcome
            - name: Keep the result
              ansible.builtin.copy:
                content: "{{ outcome | to_json }}"
                dest: "{{ result_file }}"
                mode: "0600"
        ''')
    extra = str(tmp_path / 'vars.json')
    with open(extra, 'w') as handle:
        json.dump(dict(marker=marker, kubeconfig=kubeconfig, namespace=namespace, result_file=result_file), handle)

    def scale_later():
        # Long enough after the marker for the module to start and take its first samples (0 ready).
        if wait_until(lambda: os.path.exists(marker), 120):
            threading.Event().wait(6)
            api['apps'].patch_namespaced_deployment_scale('web', namespace, {'spec': {'replicas': 2}})
    worker = threading.Thread(target=scale_later, daemon=True)
    worker.start()
    env = dict((k, v) for k, v in playbook_env().items() if not k.startswith('K8S_AUTH_'))
    env['KUBECONFIG'] = os.path.join(tempfile.gettempdir(), 'no-such-kubeconfig-%s' % uuid.uuid4().hex)
    proc = subprocess.run(ansible_playbook_argv(playbook, extra), capture_output=True, text=True, env=env,
                          cwd=str(tmp_path), timeout=600, check=False)
    worker.join(30)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with open(result_file) as handle:
        result = json.load(handle)
    samples = result['samples']
    assert samples[0]['ok'] is False and samples[0]['value'] == 0
    assert samples[-1]['ok'] is True and samples[-1]['value'] == 2
    assert result['ok'] is True and result['recovered_after'] > 0 and result['rounds'] == len(samples)
    assert len(ready_pods(api, namespace, 'app=web')) == 2


def test_pods_probe_with_a_token_and_forbidden_namespace(api, namespace, make_namespace, run_module):
    """A token that may not list pods in a namespace: the sample fails with the API's reason, the task does not."""
    other = make_namespace()
    create_pod(api, other, 'lone', {'app': 'lone'})
    api['core'].create_namespaced_service_account(namespace, client.V1ServiceAccount(
        metadata=client.V1ObjectMeta(name='prober')))
    token = api['core'].create_namespaced_service_account_token('prober', namespace, client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=3600))).status.token
    auth = dict(host=api['host'], api_key=token, validate_certs=api['validate_certs'])
    if api['ca_cert']:
        auth['ca_cert'] = api['ca_cert']
    result = run_module('probe', dict(probes=[dict(name='lone', type='pods', namespace=other)]), auth=auth)
    assert not result.get('failed'), result
    assert result['ok'] is False and result['samples'][0]['value'] is None
    assert result['samples'][0]['detail'].startswith('error listing pods: ')
    assert '403' in result['samples'][0]['detail'] or 'forbidden' in result['samples'][0]['detail'].lower()


def test_the_sampler_keeps_its_own_credentials_files_and_removes_them(api, namespace, ledger_dir, tmp_path):
    # The bed's kubeconfig embeds its certificates and key, which the client writes to temporary files. The sampler
    # module checks the connection before it forks the daemon, and its own exit removes the files it wrote: a daemon
    # that reused them failed its first sample now and then (CI, 2026-12-01). Its files must be its own, private,
    # and gone with it. Three starts, each sampled from its very first sample on.
    create_pod(api, namespace, 'one', {'app': 'one'})
    wait_ready(api, namespace, 'app=one', 1)
    probe = dict(name='one ready', type='pods', namespace=namespace, label_selector='app=one')
    tasks = []
    for trial in range(3):
        run_id = 'k8s-scratch-%s-%d' % (uuid.uuid4().hex[:6], trial)
        scratch = os.path.join(ledger_dir, 'samplers', run_id, 'tmp')
        tasks += [
            {'chaos.engineering.sampler': dict(run_id=run_id, probes=[probe], interval=0.2)},
            {'ansible.builtin.find': dict(paths=scratch), 'register': 'scratch_%d' % trial},
            {'ansible.builtin.stat': dict(path=scratch), 'register': 'scratch_dir_%d' % trial},
            {'chaos.engineering.sampler': dict(run_id=run_id, state='watched', wait=1.5)},
            {'chaos.engineering.sampler': dict(run_id=run_id, state='stopped'), 'register': 'stopped_%d' % trial},
            {'ansible.builtin.stat': dict(path=scratch), 'register': 'gone_%d' % trial}]
    results = str(tmp_path / 'results.json')
    tasks.append({'ansible.builtin.copy': dict(content='{{ results | to_json }}', dest=results, mode='0600'),
                  'vars': {'results': dict((name % trial, '{{ %s }}' % (name % trial)) for trial in range(3) for name in
                                           ('scratch_%d', 'scratch_dir_%d', 'stopped_%d', 'gone_%d'))}})
    play = dict(hosts='localhost', gather_facts=False, tasks=tasks, module_defaults={
        'group/chaos.engineering.k8s': dict(kubeconfig=api['kubeconfig'], ledger_dir=ledger_dir)})
    playbook = str(tmp_path / 'play.yml')
    with open(playbook, 'w') as handle:
        json.dump([play], handle)
    extra = str(tmp_path / 'vars.json')
    with open(extra, 'w') as handle:
        json.dump({}, handle)
    proc = subprocess.run(ansible_playbook_argv(playbook, extra), capture_output=True, text=True, env=playbook_env(),
                          cwd=str(tmp_path), timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    with open(results) as handle:
        data = json.load(handle)
    for trial in range(3):
        assert data['scratch_%d' % trial]['matched'] >= 1, data['scratch_%d' % trial]  # the daemon's own files
        assert data['scratch_dir_%d' % trial]['stat']['mode'] == '0700'
        samples = data['stopped_%d' % trial]['samples']
        assert len(samples) >= 3, samples
        assert all(sample['ok'] for sample in samples), [s for s in samples if not s['ok']]
        assert not data['gone_%d' % trial]['stat']['exists']

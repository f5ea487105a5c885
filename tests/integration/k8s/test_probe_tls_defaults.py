"""One module_defaults block for both action groups, with a different TLS setup per connection, against real
engines: the TLS Docker engine of tests/infra/tls-bed.sh (its own CA, client certificate required) and the API server
of the k8s bed (another CA, the admin's client certificate). The docker_* and k8s_* names reach their own connection
in probe (a containers and a pods probe in one task) and, as aliases, in the container and Kubernetes modules.

The old names were shared: validate_certs, client_cert and client_key set both connections, and ca_cert was the
Kubernetes CA in probe but the Docker CA in the container modules, so no single block could be right for both.
"""
import base64
import json
import os
import tempfile
import uuid

import docker
import pytest
import yaml

from helpers import TEST_LABEL, playbook_env, run_plays, start_containers
from k8s_helpers import create_pod, wait_ready

pytestmark = [pytest.mark.integration, pytest.mark.k8s]


def _k8s_tls_files(kubeconfig, folder):
    """Server URL, CA, client certificate and key files of the kubeconfig's current context."""
    with open(kubeconfig.split(os.pathsep)[0]) as handle:
        data = yaml.safe_load(handle)
    context = [c['context'] for c in data['contexts'] if c['name'] == data['current-context']][0]
    cluster = [c['cluster'] for c in data['clusters'] if c['name'] == context['cluster']][0]
    user = [u['user'] for u in data['users'] if u['name'] == context['user']][0]
    files = {}
    for key, cfg, name in (('ca', cluster, 'certificate-authority'), ('cert', user, 'client-certificate'),
                           ('key', user, 'client-key')):
        if cfg.get(name + '-data'):
            files[key] = os.path.join(folder, key + '.pem')
            with open(files[key], 'wb') as handle:
                handle.write(base64.b64decode(cfg[name + '-data']))
            os.chmod(files[key], 0o600)
        else:
            files[key] = cfg.get(name)
    if not all(files.values()):
        pytest.skip('the kubeconfig has no client certificate (this test needs one): %s' % kubeconfig)
    return cluster['server'], files


def _env():
    """Nothing but the play may carry a connection: no KUBECONFIG, K8S_AUTH_* or DOCKER_* from the environment."""
    env = dict((k, v) for k, v in playbook_env().items() if not k.startswith(('K8S_AUTH_', 'DOCKER_')))
    env['KUBECONFIG'] = os.path.join(tempfile.gettempdir(), 'no-such-kubeconfig-%s' % uuid.uuid4().hex)
    return env


def test_one_module_defaults_block_sets_each_connection(api, namespace, tls_bed, tmp_path):
    tls_engine = docker.DockerClient(base_url=tls_bed['CHAOS_TLS_SOCK'])
    run_id = uuid.uuid4().hex[:10]
    start_containers(tls_engine, run_id, ['tls-web'], labels={'app': 'tls-web'})
    try:
        create_pod(api, namespace, 'web-0', {'app': 'web'})
        wait_ready(api, namespace, 'app=web', 1)
        server, k8s = _k8s_tls_files(api['kubeconfig'], str(tmp_path))
        certs = tls_bed['CHAOS_TLS_CERTS']
        defaults = {
            'group/chaos.engineering.docker': dict(
                docker_host=tls_bed['CHAOS_TLS_HOST'], docker_validate_certs=True,
                docker_ca_path=os.path.join(certs, 'ca.pem'), docker_client_cert=os.path.join(certs, 'cert.pem'),
                docker_client_key=os.path.join(certs, 'key.pem')),
            'group/chaos.engineering.k8s': dict(
                host=server, k8s_validate_certs=True, k8s_ca_cert=k8s['ca'], k8s_client_cert=k8s['cert'],
                k8s_client_key=k8s['key']),
        }
        probes = [dict(name='containers', type='containers', selection=dict(labels={TEST_LABEL: run_id}),
                       min_running=1),
                  dict(name='pods', type='pods', namespace=namespace, label_selector='app=web', min_ready=1)]
        results = str(tmp_path / 'results.json')
        tasks = [
            {'name': 'Both probes, each over its own TLS', 'chaos.engineering.probe': dict(probes=probes),
             'register': 'both'},
            # The aliases in the other members of the groups (check mode: they connect, and change nothing).
            {'name': 'A container module', 'chaos.engineering.container_kill': dict(
                names=['tls-web-%s' % run_id], ledger_dir=str(tmp_path / 'ledger')),
             'check_mode': True, 'register': 'kill'},
            {'name': 'A Kubernetes module', 'chaos.engineering.k8s_pod_chaos': dict(
                namespace=namespace, label_selector='app=web'),
             'check_mode': True, 'register': 'pod_chaos'},
            # The deprecated shared name still applies (true is right for both here), with a warning.
            {'name': 'The old shared name', 'chaos.engineering.probe': dict(probes=probes, validate_certs=True),
             'register': 'shared'},
            # The Docker CA reaches Docker only: the API server's CA there fails the Docker connection alone.
            {'name': 'The Kubernetes CA as the Docker CA', 'chaos.engineering.probe': dict(
                probes=probes, docker_ca_path=k8s['ca']), 'register': 'wrong_ca', 'ignore_errors': True},
            {'ansible.builtin.copy': dict(content='{{ dict(both=both, kill=kill, pod_chaos=pod_chaos, shared=shared, '
                                                  'wrong_ca=wrong_ca) | to_json }}', dest=results, mode='0600')},
        ]
        proc = run_plays(tmp_path, [dict(hosts='localhost', gather_facts=False, module_defaults=defaults, tasks=tasks)],
                         env=_env())
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-3000:]
        with open(results) as handle:
            data = json.load(handle)

        both = data['both']
        assert both['ok'] is True, both
        assert dict((s['probe'], s['value']) for s in both['samples']) == {'containers': 1, 'pods': 1}

        assert not data['kill'].get('failed'), data['kill']
        assert data['kill']['changed'] is True  # would kill: it saw the container over TLS
        assert tls_engine.containers.get('tls-web-%s' % run_id).status == 'running'
        assert not data['pod_chaos'].get('failed'), data['pod_chaos']
        assert [t['name'] for t in data['pod_chaos']['chaos']['targets']] == [namespace + '/web-0'], data['pod_chaos']

        assert data['shared']['ok'] is True, data['shared']
        assert 'validate_certs is deprecated, use docker_validate_certs (Docker) and k8s_validate_certs ' \
               '(Kubernetes) instead.' in ' '.join(proc.stdout.split() + proc.stderr.split())

        wrong = data['wrong_ca']
        assert wrong['failed'] is True and 'docker_host=%s' % tls_bed['CHAOS_TLS_HOST'] in wrong['msg'], wrong
        assert 'ca_path=%s' % k8s['ca'] in wrong['msg'], wrong
    finally:
        for container in tls_engine.containers.list(all=True, filters={'label': '%s=%s' % (TEST_LABEL, run_id)}):
            container.remove(force=True)

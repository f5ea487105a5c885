"""The Docker TLS connection options against a real engine that only speaks TLS with client certificates
(tests/infra/tls-bed.sh: dockerd --tlsverify, certificates made by openssl, plus a second CA that signed nothing).

The modules reach the engine only over TLS (tcp://); the test itself sets up and inspects containers through the
same engine's unix socket, which does not depend on the code under test.
"""
import json
import os
import time
import uuid

import docker
import pytest

from helpers import TEST_LABEL, engine_events, playbook_env, run_module_play, start_containers, status_of, wait_until

pytestmark = pytest.mark.integration

# Generous: the reverter acts at the deadline; this only bounds how long a broken revert keeps the test waiting.
REVERT_WAIT = 60


@pytest.fixture(scope='module')
def tls_engine(tls_bed):
    """The TLS engine through its unix socket (no TLS): for setting up and checking, not for the code under test."""
    return docker.DockerClient(base_url=tls_bed['CHAOS_TLS_SOCK'])


@pytest.fixture
def tls_run_id(tls_engine):
    value = uuid.uuid4().hex[:10]
    yield value
    for container in tls_engine.containers.list(all=True, filters={'label': '%s=%s' % (TEST_LABEL, value)}):
        try:
            if container.status == 'paused':
                container.unpause()
            container.remove(force=True)
        except docker.errors.APIError:
            pass


def certs(tls_bed, name):
    return os.path.join(tls_bed['CHAOS_TLS_CERTS'], name)


def verified(tls_bed, **extra):
    """Every TLS option given: verify against our CA, send our client certificate."""
    conn = dict(docker_host=tls_bed['CHAOS_TLS_HOST'], tls=True, validate_certs=True,
                ca_path=certs(tls_bed, 'ca.pem'), client_cert=certs(tls_bed, 'cert.pem'),
                client_key=certs(tls_bed, 'key.pem'))
    conn.update(extra)
    return dict((key, value) for key, value in conn.items() if value is not None)


# Many hosts set this (it is set on ours). requests lets it replace a session's CA file and turn verification back
# on (psf/requests#3829): the modules and the reverter must keep to the connection's own TLS options regardless.
SYSTEM_CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt'


def module_env(extra=None):
    env = dict(extra or {})
    if os.path.isfile(SYSTEM_CA_BUNDLE):
        env.setdefault('REQUESTS_CA_BUNDLE', SYSTEM_CA_BUNDLE)
    return playbook_env(env)


def pause(tmp_path, ledger_dir, name, connection, duration=2, env=None):
    env = env or module_env()
    args = dict(names=[name], duration=duration, ledger_dir=ledger_dir)
    if connection is None:  # the environment alone
        return run_module_play(tmp_path, 'container_pause', args, env=env)
    return run_module_play(tmp_path, 'container_pause', args, 'docker', connection, env=env)


def done_entries(ledger_dir):
    folder = os.path.join(ledger_dir, 'done')
    if not os.path.isdir(folder):
        return []
    entries = []
    for name in sorted(os.listdir(folder)):
        with open(os.path.join(folder, name)) as handle:
            entries.append(json.load(handle))
    return entries


def assert_paused_then_reverted(tls_engine, container, since, result, ledger_dir):
    """Paused by the module, unpaused by the ledger's detached reverter (over TLS, from the ledger's connection)."""
    assert not result.get('failed'), result
    assert result['changed'] is True
    assert result['chaos']['revert']['armed'] is True
    assert wait_until(lambda: [e['status'] for e in done_entries(ledger_dir)] == ['reverted'], REVERT_WAIT), \
        'the reverter did not revert: %s' % done_entries(ledger_dir)
    assert status_of(tls_engine, container) == 'running'
    # The engine's own record: one pause (the module) and one unpause (the reverter).
    assert len(engine_events(tls_engine, container, since, 'pause')) == 1
    assert len(engine_events(tls_engine, container, since, 'unpause')) == 1
    return done_entries(ledger_dir)[0]


def assert_tls_failure(result, tls_engine, container, starts):
    assert result.get('failed') is True, result
    assert result['msg'].startswith(starts), result['msg']
    assert 'Traceback' not in json.dumps(result)
    assert status_of(tls_engine, container) == 'running', 'a failed connection changed something'


def test_pause_with_every_tls_option_is_unpaused_by_the_reverter(tmp_path, ledger_dir, tls_bed, tls_engine,
                                                                 tls_run_id):
    target = start_containers(tls_engine, tls_run_id, ['db'])['db']
    since = time.time()
    result = pause(tmp_path, ledger_dir, target.name, verified(tls_bed))
    entry = assert_paused_then_reverted(tls_engine, target, since, result, ledger_dir)
    # The reverter rebuilt its client from this: the TLS engine's tcp:// address and the certificate files.
    assert entry['docker']['docker_host'] == tls_bed['CHAOS_TLS_HOST']
    assert entry['docker']['validate_certs'] is True
    assert entry['docker']['client_cert'] == certs(tls_bed, 'cert.pem')


def test_the_docker_environment_variables_alone_are_enough(tmp_path, ledger_dir, tls_bed, tls_engine, tls_run_id):
    target = start_containers(tls_engine, tls_run_id, ['db'])['db']
    since = time.time()
    env = module_env(dict(DOCKER_HOST=tls_bed['CHAOS_TLS_HOST'], DOCKER_TLS_VERIFY='1',
                          DOCKER_CERT_PATH=tls_bed['CHAOS_TLS_CERTS']))
    result = pause(tmp_path, ledger_dir, target.name, None, env=env)
    entry = assert_paused_then_reverted(tls_engine, target, since, result, ledger_dir)
    assert entry['docker']['ca_path'] == certs(tls_bed, 'ca.pem')


def test_tls_hostname_checks_a_name_in_the_certificate_not_the_address(tmp_path, ledger_dir, tls_bed, tls_engine,
                                                                       tls_run_id):
    target = start_containers(tls_engine, tls_run_id, ['db'])['db']
    alt = tls_bed['CHAOS_TLS_ALT_HOST']  # the same engine, at an address its certificate does not name
    refused = pause(tmp_path, ledger_dir, target.name, verified(tls_bed, docker_host=alt))
    assert_tls_failure(refused, tls_engine, target, 'TLS verification of the Docker engine at docker_host=%s '
                       "failed: the engine's certificate does not name the address connected to" % alt)
    since = time.time()
    result = pause(tmp_path, ledger_dir, target.name,
                   verified(tls_bed, docker_host=alt, tls_hostname=tls_bed['CHAOS_TLS_NAME']))
    assert_paused_then_reverted(tls_engine, target, since, result, ledger_dir)


def test_a_wrong_tls_hostname_says_tls(tmp_path, ledger_dir, tls_bed, tls_engine, tls_run_id):
    target = start_containers(tls_engine, tls_run_id, ['db'])['db']
    result = pause(tmp_path, ledger_dir, target.name, verified(tls_bed, tls_hostname='not-the-engine.example'))
    assert_tls_failure(result, tls_engine, target, 'TLS verification of the Docker engine at docker_host=%s failed: '
                       "the engine's certificate does not name not-the-engine.example" % tls_bed['CHAOS_TLS_HOST'])


def test_a_wrong_ca_says_tls(tmp_path, ledger_dir, tls_bed, tls_engine, tls_run_id):
    target = start_containers(tls_engine, tls_run_id, ['db'])['db']
    wrong = tls_bed['CHAOS_TLS_WRONG_CA']
    result = pause(tmp_path, ledger_dir, target.name, verified(tls_bed, ca_path=wrong))
    assert_tls_failure(result, tls_engine, target, 'TLS verification of the Docker engine at docker_host=%s failed: '
                       "the engine's certificate is not signed by the CA in ca_path=%s"
                       % (tls_bed['CHAOS_TLS_HOST'], wrong))


def test_no_client_certificate_says_tls(tmp_path, ledger_dir, tls_bed, tls_engine, tls_run_id):
    target = start_containers(tls_engine, tls_run_id, ['db'])['db']
    result = pause(tmp_path, ledger_dir, target.name, verified(tls_bed, client_cert=None, client_key=None))
    assert_tls_failure(result, tls_engine, target, 'TLS verification of the Docker engine at docker_host=%s failed: '
                       'the engine requires a client certificate' % tls_bed['CHAOS_TLS_HOST'])


def test_a_client_certificate_file_that_is_not_there_fails_before_connecting(tmp_path, ledger_dir, tls_bed,
                                                                             tls_engine, tls_run_id):
    target = start_containers(tls_engine, tls_run_id, ['db'])['db']
    missing = str(tmp_path / 'no-such-cert.pem')
    result = pause(tmp_path, ledger_dir, target.name, verified(tls_bed, client_cert=missing))
    assert_tls_failure(result, tls_engine, target, 'TLS configuration for docker_host=%s: client_cert=%s is not a '
                       'file.' % (tls_bed['CHAOS_TLS_HOST'], missing))


@pytest.mark.parametrize('given, missing', [('client_cert', 'client_key'), ('client_key', 'client_cert')])
def test_half_a_client_key_pair_fails_before_connecting(tmp_path, ledger_dir, tls_bed, tls_engine, tls_run_id,
                                                        given, missing):
    target = start_containers(tls_engine, tls_run_id, ['db'])['db']
    result = pause(tmp_path, ledger_dir, target.name, verified(tls_bed, **{missing: None}))
    assert_tls_failure(result, tls_engine, target, 'TLS configuration for docker_host=%s: %s is set but %s is not'
                       % (tls_bed['CHAOS_TLS_HOST'], given, missing))


def test_a_ca_path_that_is_not_there_fails_before_connecting(tmp_path, ledger_dir, tls_bed, tls_engine, tls_run_id):
    target = start_containers(tls_engine, tls_run_id, ['db'])['db']
    missing = str(tmp_path / 'no-such-ca.pem')
    result = pause(tmp_path, ledger_dir, target.name, verified(tls_bed, ca_path=missing))
    assert_tls_failure(result, tls_engine, target, 'TLS configuration for docker_host=%s: ca_path=%s is not a file.'
                       % (tls_bed['CHAOS_TLS_HOST'], missing))


def test_tls_without_verification_works(tmp_path, ledger_dir, tls_bed, tls_engine, tls_run_id):
    # The alternative address is not in the certificate, and the CA given is the wrong one: neither is checked.
    target = start_containers(tls_engine, tls_run_id, ['db'])['db']
    since = time.time()
    result = pause(tmp_path, ledger_dir, target.name,
                   verified(tls_bed, docker_host=tls_bed['CHAOS_TLS_ALT_HOST'], validate_certs=False,
                            ca_path=tls_bed['CHAOS_TLS_WRONG_CA']))
    assert_paused_then_reverted(tls_engine, target, since, result, ledger_dir)


def test_plain_http_to_the_tls_engine_says_it_expects_tls(tmp_path, ledger_dir, tls_bed, tls_engine, tls_run_id):
    target = start_containers(tls_engine, tls_run_id, ['db'])['db']
    result = pause(tmp_path, ledger_dir, target.name, dict(docker_host=tls_bed['CHAOS_TLS_HOST']))
    assert_tls_failure(result, tls_engine, target, 'Cannot reach the Docker engine at docker_host=%s: the engine '
                       'expects TLS' % tls_bed['CHAOS_TLS_HOST'])


def test_probe_counts_containers_over_tls(tmp_path, tls_bed, tls_engine, tls_run_id):
    start_containers(tls_engine, tls_run_id, ['web-1', 'web-2'])
    probes = [dict(name='web', type='containers', selection={'labels': {TEST_LABEL: tls_run_id}}, min_running=2)]
    result = run_module_play(tmp_path, 'probe', dict(verified(tls_bed), probes=probes), env=module_env())
    assert not result.get('failed'), result
    assert result['ok'] is True and result['samples'][0]['value'] == 2
    refused = run_module_play(tmp_path, 'probe', dict(verified(tls_bed, ca_path=tls_bed['CHAOS_TLS_WRONG_CA']),
                                                      probes=probes), env=module_env())
    assert refused['failed'] is True
    assert refused['msg'].startswith('TLS verification of the Docker engine at docker_host=%s failed'
                                     % tls_bed['CHAOS_TLS_HOST']), refused['msg']


def test_the_documented_minikube_inventory_runs_an_experiment_over_tls(tmp_path, ledger_dir, tls_bed, tls_engine,
                                                                       tls_run_id):
    """docs/docsite/rst/experiments.rst, "A minikube host": the same inventory shape, with the TLS engine's address
    and a DOCKER_CERT_PATH-style directory (ca.pem, cert.pem, key.pem) as minikube's ~/.minikube/certs."""
    from experiment_helpers import journal, run_playbook, write_yaml  # pylint: disable=import-outside-toplevel
    target = start_containers(tls_engine, tls_run_id, ['worker'], labels={'app': 'worker-' + tls_run_id})['worker']
    inventory = write_yaml(tmp_path / 'inventory-minikube.yml', {'all': {'children': {'chaos_docker_hosts': {
        'hosts': {'minikube': {
            'ansible_connection': 'local',
            'ansible_python_interpreter': '{{ ansible_playbook_python }}',
            'experiment_docker_host': tls_bed['CHAOS_TLS_HOST'],
            'experiment_docker_options': {'validate_certs': True, 'ca_path': certs(tls_bed, 'ca.pem'),
                                          'client_cert': certs(tls_bed, 'cert.pem'),
                                          'client_key': certs(tls_bed, 'key.pem')}}}}}}})
    since = time.time()
    selection = dict(labels={'app': 'worker-' + tls_run_id})
    proc = run_playbook('docker_experiment', tmp_path, dict(
        experiment_name='minikube-tls', experiment_duration=1, experiment_ledger_dir=ledger_dir,
        experiment_journal_dir=str(tmp_path / 'journal'), experiment_probe_interval=0.5,
        experiment_probes=[dict(name='worker runs', type='containers', selection=selection, phases=['before', 'after'])],
        experiment_faults=[dict(name='pause worker', module='container_pause', args=dict(names=[target.name]))]),
        inventory=inventory, env=dict(REQUESTS_CA_BUNDLE=SYSTEM_CA_BUNDLE) if os.path.isfile(SYSTEM_CA_BUNDLE) else None)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    # The role hands probe and sampler the Docker TLS options under their docker_* names: no shared name, no warning.
    assert 'validate_certs is deprecated' not in ' '.join((proc.stdout + proc.stderr).split()), proc.stdout[-6000:]
    record = journal(str(tmp_path / 'journal'))['hosts']['minikube']
    assert record['verdict'] == 'passed', record
    assert status_of(tls_engine, target) == 'running'
    assert len(engine_events(tls_engine, target, since, 'pause')) == 1
    assert len(engine_events(tls_engine, target, since, 'unpause')) == 1

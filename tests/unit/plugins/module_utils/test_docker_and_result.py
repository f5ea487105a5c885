from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

from ansible_collections.chaos.engineering.plugins.module_utils import _docker
from ansible_collections.chaos.engineering.plugins.module_utils._result import FaultResult
from ansible_collections.chaos.engineering.plugins.module_utils._timefmt import iso_utc
from ansible_collections.chaos.engineering.plugins.modules.container_kill import normalize_signal, valid_signals


def test_docker_cert_path_fills_in_missing_tls_files(monkeypatch):
    monkeypatch.setenv('DOCKER_CERT_PATH', '/certs')
    conn = _docker.connection_params(dict(docker_host='tcp://h:2376', client_key='/mine/key.pem'))
    assert conn['ca_path'] == '/certs/ca.pem'
    assert conn['client_cert'] == '/certs/cert.pem'
    assert conn['client_key'] == '/mine/key.pem'


def test_tcp_becomes_https_only_with_tls():
    assert _docker.docker_host_url(dict(docker_host='tcp://h:2376')) == 'tcp://h:2376'
    assert _docker.docker_host_url(dict(docker_host='tcp://h:2376', tls=True)) == 'https://h:2376'
    assert _docker.docker_host_url(dict(docker_host='tcp://h:2376', validate_certs=True)) == 'https://h:2376'
    assert _docker.docker_host_url(dict(docker_host=None)) == _docker.DEFAULT_DOCKER_HOST


def test_unreachable_engine_message_names_the_host():
    try:
        _docker.make_client(dict(docker_host='unix:///nonexistent/docker.sock', timeout=2))
    except _docker.DockerConnectionError as exc:
        assert 'docker_host=unix:///nonexistent/docker.sock' in str(exc)
    else:
        raise AssertionError('expected a DockerConnectionError')


def test_connection_options_use_community_docker_environment_variables():
    envs = dict((key, spec['fallback'][1]) for key, spec in _docker.DOCKER_ARGUMENT_SPEC.items() if 'fallback' in spec)
    assert envs['docker_host'] == ['DOCKER_HOST']
    assert envs['validate_certs'] == ['DOCKER_TLS_VERIFY']
    assert envs['api_version'] == ['DOCKER_API_VERSION']


def test_signals_by_name_short_name_and_number():
    assert normalize_signal('SIGKILL') == 'SIGKILL'
    assert normalize_signal('term') == 'SIGTERM'
    assert normalize_signal('9') == 'SIGKILL'
    assert normalize_signal(15) == 'SIGTERM'
    assert normalize_signal('SIGBOGUS') is None
    assert normalize_signal('999') is None
    assert 'SIGUSR1' in valid_signals() and 'SIG_DFL' not in valid_signals()


def test_result_schema_keys_and_iso_times():
    result = FaultResult('container_pause', dry_run=False,
                         selection=dict(candidates=3, matched=2, selected=[{'id': 'a'}], protected=[], missing=[],
                                        seed=5))
    result.add_target('a', 'web-1', 'pause', changed=True)
    result.set_revert(1795773630.5, 'ledger-reverter', armed=True)
    chaos = result.as_dict()
    assert set(chaos) == {'fault', 'targets', 'started_at', 'finished_at', 'dry_run', 'selection', 'expires_at',
                          'revert'}
    assert chaos['revert'] == dict(armed=True, method='ledger-reverter', deadline=chaos['expires_at'])
    assert chaos['expires_at'].endswith('Z')
    assert datetime.datetime.strptime(chaos['expires_at'], '%Y-%m-%dT%H:%M:%S.%fZ')
    assert chaos['selection']['selected'] == 1
    assert iso_utc(None) is None


def test_applied_at_is_the_first_target_that_went_in_and_absent_otherwise():
    result = FaultResult('container_pause', dry_run=False)
    assert 'applied_at' not in result.as_dict(), 'nothing went in'
    result.mark_applied(1795773612.5)
    result.mark_applied(1795773610.25)  # a worker thread that finished later, with an earlier change
    result.mark_applied(1795773615.0)
    assert result.as_dict()['applied_at'] == iso_utc(1795773610.25) == '2026-11-27T10:00:10.250Z'
    dry = FaultResult('container_pause', dry_run=True)
    dry.mark_applied(1795773610.25)
    assert 'applied_at' not in dry.as_dict(), 'check mode changes nothing'


def test_exec_stream_frames_are_split_into_stdout_and_stderr():
    import struct
    from ansible_collections.chaos.engineering.plugins.module_utils._docker_helpers import _demux
    data = struct.pack('>BxxxL', 1, 3) + b'out' + struct.pack('>BxxxL', 2, 4) + b'err\n' + struct.pack('>BxxxL', 1, 1)
    assert _demux(data + b'!') == ('out!', 'err\n')
    assert _demux(b'') == ('', '')

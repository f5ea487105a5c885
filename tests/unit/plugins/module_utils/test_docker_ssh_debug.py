"""The Docker connection options use_ssh_client and debug: the spec, the checks made before any connection, the ssh
command line, and what debug returns (and never returns). The real sshd and engine are in
tests/integration/test_docker_ssh.py."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest
import requests

from ansible_collections.chaos.engineering.plugins.module_utils import _docker, _docker_ssh, _runtime_select

SSH_HOST = 'ssh://ops@192.0.2.7:2222'


def test_the_options_are_named_typed_and_defaulted_as_in_community_docker():
    spec = _docker.DOCKER_ARGUMENT_SPEC
    assert spec['use_ssh_client'] == dict(type='bool', default=False)  # community.docker: no environment variable
    assert spec['debug'] == dict(type='bool', default=False)


def test_the_ledger_keeps_use_ssh_client_and_not_debug():
    assert 'use_ssh_client' in _docker.CONNECTION_KEYS
    assert 'debug' not in _docker.CONNECTION_KEYS
    conn = _runtime_select.connection_params(dict(docker_host=SSH_HOST, use_ssh_client=True, debug=True))
    assert conn['use_ssh_client'] is True and 'debug' not in conn


def test_the_ssh_command_line_is_an_argv_that_never_prompts():
    assert _docker_ssh.ssh_argv(SSH_HOST, 30) == [
        'ssh', '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=30', '-l', 'ops', '-p', '2222', '--', '192.0.2.7',
        'docker system dial-stdio']
    assert _docker_ssh.ssh_argv('ssh://engine.example', 60)[-3:] == ['--', 'engine.example', 'docker system dial-stdio']


@pytest.mark.parametrize('conn, message', [
    (dict(docker_host='unix:///var/run/docker.sock', use_ssh_client=True),
     'use_ssh_client=true applies to an ssh:// docker_host only; docker_host=unix:///var/run/docker.sock.'),
    (dict(docker_host='ssh://ops:s3cret@192.0.2.7:2222', use_ssh_client=True),
     'docker_host must not carry a password (it would be written to the ledger): give ssh://ops@192.0.2.7:2222 '
     'and let ssh authenticate with a key (ssh-agent or the ssh configuration).'),
    (dict(docker_host='ssh://192.0.2.7:port', use_ssh_client=True),
     'docker_host=ssh://192.0.2.7:port is not an ssh://[user@]host[:port] URL: '),
    (dict(docker_host='ssh://192.0.2.7/var/run/docker.sock', use_ssh_client=True),
     'docker_host=ssh://192.0.2.7/var/run/docker.sock is not an ssh://[user@]host[:port] URL.'),
    (dict(docker_host=SSH_HOST, use_ssh_client=True, validate_certs=True),
     'tls and validate_certs do not apply to docker_host=%s: the ssh connection is encrypted' % SSH_HOST),
])
def test_options_that_cannot_work_together_fail_before_any_connection(conn, message):
    with pytest.raises(_docker.DockerConnectionError) as caught:
        _docker.build_api_client(conn)
    assert str(caught.value).startswith(message), str(caught.value)
    assert 's3cret' not in str(caught.value)


def test_the_ssh_command_missing_says_so(monkeypatch):
    monkeypatch.setenv('PATH', '/nonexistent')
    with pytest.raises(_docker.DockerConnectionError) as caught:
        _docker.build_api_client(dict(docker_host=SSH_HOST, use_ssh_client=True))
    assert str(caught.value) == ('use_ssh_client=true needs the ssh command on the PATH (/nonexistent) of the host '
                                 'the module runs on.')


def test_without_the_ssh_command_paramiko_is_named(monkeypatch):
    monkeypatch.setattr(_docker, 'has_paramiko', lambda: False)
    with pytest.raises(_docker.DockerConnectionError) as caught:
        _docker.build_api_client(dict(docker_host=SSH_HOST))
    assert 'paramiko' in str(caught.value)
    assert 'or set use_ssh_client=true to use the ssh command instead' in str(caught.value)


def test_a_failed_ssh_connection_quotes_what_ssh_said(tmp_path, monkeypatch):
    fake_ssh = tmp_path / 'ssh'
    fake_ssh.write_text('#!/bin/sh\necho "ops@192.0.2.7: Permission denied (publickey)." >&2\nexit 255\n')
    fake_ssh.chmod(0o755)
    monkeypatch.setenv('PATH', str(tmp_path))
    with pytest.raises(_docker.DockerConnectionError) as caught:
        _docker.make_client(dict(docker_host=SSH_HOST, use_ssh_client=True, timeout=5))
    text = str(caught.value)
    assert text.startswith('Cannot reach the Docker engine at docker_host=%s: ' % SSH_HOST), text
    assert text.endswith('(ssh said: ops@192.0.2.7: Permission denied (publickey).)'), text


def test_debug_details_name_paths_never_contents(tmp_path):
    key = tmp_path / 'key.pem'
    key.write_text('-----BEGIN PRIVATE KEY-----\nTOPSECRET\n')
    conn = dict(docker_host='tcp://192.0.2.10:2376', validate_certs=True, tls_hostname='engine.example',
                ca_path='/certs/ca.pem', client_cert='/certs/cert.pem', client_key=str(key), api_version='auto')
    details = _docker.debug_details(conn)
    assert details['transport'] == 'https (certificate verified)'
    assert details['client_key'] == str(key)
    assert 'TOPSECRET' not in json.dumps(details)
    plain = _docker.debug_details(dict(conn, validate_certs=False))  # no TLS: its files are not used, not shown
    assert plain['transport'] == 'http (no TLS)'
    assert plain['client_key'] is None and plain['ca_path'] is None and plain['ssh_command'] is None
    ssh = _docker.debug_details(dict(docker_host=SSH_HOST, use_ssh_client=True, timeout=30))
    assert ssh['transport'] == 'ssh (the ssh command)'
    assert ssh['ssh_command'] == _docker_ssh.ssh_argv(SSH_HOST, 30)
    assert _docker.debug_details(dict(docker_host='unix:///run/docker.sock'))['transport'] == 'unix socket'


def test_debug_notes_method_path_and_status_never_bodies_or_headers(monkeypatch):
    monkeypatch.setattr(_docker, '_API_CALLS', None)
    _docker.record_api_calls()
    request = requests.Request('POST', 'http+docker://ssh/v1.47/exec/abc/start', data='{"Env": ["TOKEN=s3cret"]}',
                               headers={'X-Registry-Auth': 's3cret'}).prepare()
    response = requests.Response()
    response.request, response.status_code = request, 200
    _docker._record_api_call(response)  # pylint: disable=protected-access
    response.request = requests.Request('GET', 'https://192.0.2.10:2376/v1.47/containers/json?all=1').prepare()
    _docker._record_api_call(response)  # pylint: disable=protected-access
    assert _docker.api_calls() == ['POST /v1.47/exec/abc/start -> 200', 'GET /v1.47/containers/json?all=1 -> 200']
    assert 's3cret' not in json.dumps(_docker.api_calls())


def test_clients_note_their_calls_only_while_recording(monkeypatch):
    monkeypatch.setattr(_docker, '_API_CALLS', None)
    quiet = _docker.build_api_client(dict(docker_host='unix:///nonexistent.sock', api_version='1.41'))
    assert _docker._record_api_call not in quiet.hooks['response']  # pylint: disable=protected-access
    _docker.record_api_calls()
    noted = _docker.build_api_client(dict(docker_host='unix:///nonexistent.sock', api_version='1.41'))
    assert _docker._record_api_call in noted.hooks['response']  # pylint: disable=protected-access


def test_a_module_with_use_ssh_client_and_a_socket_fails_clearly(run_module, tmp_path):
    result = run_module('container_pause', docker_host='unix:///nonexistent.sock', use_ssh_client=True,
                        names=['web'], duration=5, ledger_dir=str(tmp_path / 'ledger'))
    assert result['failed'] is True
    assert result['msg'] == 'use_ssh_client=true applies to an ssh:// docker_host only; docker_host=unix:///nonexistent.sock.'

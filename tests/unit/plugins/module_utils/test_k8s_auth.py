"""_k8s auth options, configuration sources and the JSON client, without a cluster.

The client tests talk to a throwaway HTTP server on 127.0.0.1 that answers like an API server.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from k8s_fakes import http_server, send_json

from ansible_collections.chaos.engineering.plugins.module_utils import _k8s_client


def no_params():
    return dict((key, None) for key in _k8s_client.AUTH_KEYS)


def test_auth_options_have_kubernetes_core_names_aliases_and_no_log():
    spec = _k8s_client.K8S_AUTH_ARGUMENT_SPEC
    assert spec['api_key']['no_log'] is True
    assert spec['kubeconfig']['type'] == 'raw'
    assert spec['validate_certs']['aliases'] == ['verify_ssl', 'k8s_validate_certs']
    assert spec['ca_cert']['aliases'] == ['ssl_ca_cert', 'k8s_ca_cert']
    assert spec['client_cert']['aliases'] == ['cert_file', 'k8s_client_cert']
    assert spec['client_key']['aliases'] == ['key_file', 'k8s_client_key']
    assert set(spec) == set(_k8s_client.AUTH_ENV)


def test_environment_fills_in_what_params_leave_out_with_awx_variable_names():
    env = {'K8S_AUTH_HOST': 'https://env.example:6443', 'K8S_AUTH_API_KEY': 'env-token',
           'K8S_AUTH_VERIFY_SSL': 'false', 'K8S_AUTH_SSL_CA_CERT': '/env/ca.crt',
           'K8S_AUTH_CERT_FILE': '/env/c.crt', 'K8S_AUTH_KEY_FILE': '/env/c.key', 'K8S_AUTH_CONTEXT': 'ctx'}
    params = no_params()
    params['host'] = 'https://param.example:6443'
    auth = _k8s_client.auth_params(params, env)
    assert auth['host'] == 'https://param.example:6443'   # a param beats the environment
    assert auth['api_key'] == 'env-token'
    assert auth['validate_certs'] is False
    assert auth['ca_cert'] == '/env/ca.crt'
    assert auth['client_cert'] == '/env/c.crt'
    assert auth['client_key'] == '/env/c.key'
    assert auth['context'] == 'ctx'


@pytest.mark.parametrize('text, expected', [('0', False), ('false', False), ('No', False), ('off', False),
                                            ('1', True), ('true', True), ('yes', True)])
def test_booleans_from_the_environment(text, expected):
    assert _k8s_client.auth_params(no_params(), {'K8S_AUTH_VALIDATE_CERTS': text})['validate_certs'] is expected


def test_option_named_variables_win_over_client_named_ones():
    env = {'K8S_AUTH_CA_CERT': '/a', 'K8S_AUTH_SSL_CA_CERT': '/b'}
    assert _k8s_client.auth_params(no_params(), env)['ca_cert'] == '/a'


def test_a_false_param_is_not_replaced_by_the_environment():
    params = no_params()
    params['validate_certs'] = False
    assert _k8s_client.auth_params(params, {'K8S_AUTH_VERIFY_SSL': 'true'})['validate_certs'] is False


def test_kubeconfig_paths_are_expanded_and_dicts_kept(monkeypatch):
    monkeypatch.setenv('HOME', '/home/tester')
    assert _k8s_client.auth_params(no_params(), {'K8S_AUTH_KUBECONFIG': '~/kc'})['kubeconfig'] == '/home/tester/kc'
    params = no_params()
    params['kubeconfig'] = {'apiVersion': 'v1'}
    assert _k8s_client.auth_params(params, {})['kubeconfig'] == {'apiVersion': 'v1'}


def sa_dir(tmp_path):
    path = tmp_path / 'sa'
    path.mkdir()
    (path / 'token').write_text('t')
    return str(path)


def test_sources_follow_kubernetes_core_order(tmp_path):
    auth = no_params()
    inside = {'KUBERNETES_SERVICE_HOST': '10.0.0.1'}
    pod_sa = sa_dir(tmp_path)
    assert _k8s_client.config_source(dict(auth, host='https://h', api_key='t'), inside, pod_sa) == ('explicit', None)
    assert _k8s_client.config_source(dict(auth, kubeconfig='/kc'), inside, pod_sa) == ('kubeconfig', '/kc')
    assert _k8s_client.config_source(dict(auth, kubeconfig={'a': 1}), {}, pod_sa) == ('kubeconfig', '<dict>')
    # Nothing given: the service account inside a pod...
    assert _k8s_client.config_source(auth, inside, pod_sa) == ('in-cluster', None)
    # ...but not when KUBECONFIG says otherwise, or when there is no token.
    assert _k8s_client.config_source(auth, dict(inside, KUBECONFIG='/x'), pod_sa) == ('kubeconfig', '/x')
    assert _k8s_client.config_source(auth, inside, str(tmp_path / 'none')) == ('kubeconfig', _k8s_client.default_kubeconfig({}))
    # A context alone reads the default kubeconfig.
    assert _k8s_client.config_source(dict(auth, context='c'), {'KUBECONFIG': '/y'}, pod_sa) == ('kubeconfig', '/y')


def kubeconfig_dict(server='https://192.0.2.10:6443', token='kc-token', insecure=False):
    cluster = {'server': server}
    if insecure:
        cluster['insecure-skip-tls-verify'] = True
    return {
        'apiVersion': 'v1', 'kind': 'Config', 'current-context': 'one',
        'clusters': [{'name': 'c1', 'cluster': cluster}],
        'users': [{'name': 'u1', 'user': {'token': token}}, {'name': 'u2', 'user': {'token': 'other-token'}}],
        'contexts': [{'name': 'one', 'context': {'cluster': 'c1', 'user': 'u1'}},
                     {'name': 'two', 'context': {'cluster': 'c1', 'user': 'u2'}}],
    }


def bearer(configuration):
    return configuration.auth_settings()['BearerToken']['value']


def test_kubeconfig_dict_and_context_are_loaded():
    config, source = _k8s_client.build_configuration(dict(no_params(), kubeconfig=kubeconfig_dict()), {})
    assert source == ('kubeconfig', '<dict>')
    assert config.host == 'https://192.0.2.10:6443'
    assert bearer(config) == 'Bearer kc-token'
    config, dummy = _k8s_client.build_configuration(dict(no_params(), kubeconfig=kubeconfig_dict(), context='two'), {})
    assert bearer(config) == 'Bearer other-token'


def test_explicit_options_override_the_kubeconfig(tmp_path):
    ca = tmp_path / 'ca.crt'
    ca.write_text('not checked here')
    auth = dict(no_params(), kubeconfig=kubeconfig_dict(insecure=True), host='https://203.0.113.5:443/',
                api_key='explicit', validate_certs=True, ca_cert=str(ca), proxy='http://127.0.0.1:3128')
    config, dummy = _k8s_client.build_configuration(auth, {})
    assert config.host == 'https://203.0.113.5:443'
    assert bearer(config) == 'Bearer explicit'
    assert config.verify_ssl is True
    assert config.ssl_ca_cert == str(ca)
    assert config.proxy == 'http://127.0.0.1:3128'


def test_host_and_api_key_never_read_a_kubeconfig(tmp_path):
    env = {'KUBECONFIG': str(tmp_path / 'broken')}
    (tmp_path / 'broken').write_text('this: is: not: yaml')
    config, source = _k8s_client.build_configuration(dict(no_params(), host='https://h:6443', api_key='tok'), env)
    assert source == ('explicit', None)
    assert bearer(config) == 'Bearer tok'


def test_missing_kubeconfig_message_names_the_file_and_the_alternatives(tmp_path):
    missing = str(tmp_path / 'nope')
    with pytest.raises(_k8s_client.K8sConfigError) as err:
        _k8s_client.build_configuration(no_params(), {'KUBECONFIG': missing}, sa_dir=str(tmp_path))
    assert missing in str(err.value)
    assert 'host and api_key' in str(err.value)


def test_unknown_context_message_names_the_source():
    with pytest.raises(_k8s_client.K8sConfigError) as err:
        _k8s_client.build_configuration(dict(no_params(), kubeconfig=kubeconfig_dict(), context='nope'), {})
    assert 'kubeconfig=<dict>, context=nope' in str(err.value)


def test_missing_certificate_files_are_named(tmp_path):
    with pytest.raises(_k8s_client.K8sConfigError, match='ca_cert=/no/such/ca.crt'):
        _k8s_client.build_configuration(dict(no_params(), host='https://h', api_key='t', ca_cert='/no/such/ca.crt'), {})


def test_unreachable_api_message_names_host_and_source():
    auth = dict(no_params(), host='http://127.0.0.1:9', api_key='t')
    with pytest.raises(_k8s_client.K8sConnectionError) as err:
        _k8s_client.make_client(auth, {}, timeout=3)
    assert 'Cannot reach the Kubernetes API at http://127.0.0.1:9 (host=http://127.0.0.1:9)' in str(err.value)


def test_a_refused_certificate_is_not_called_unreachable(tmp_path):
    """A TLS server whose self-signed certificate this client does not trust: reached, but not verified."""
    cert, key = tmp_path / 'server.crt', tmp_path / 'server.key'
    subprocess.run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
                    '-keyout', str(key), '-out', str(cert)], check=True, capture_output=True)
    server = HTTPServer(('127.0.0.1', 0), FakeApiServer)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = 'https://127.0.0.1:%d' % server.server_address[1]
        with pytest.raises(_k8s_client.K8sConnectionError) as err:
            _k8s_client.make_client(dict(no_params(), host=url, api_key='t'), {}, timeout=5)
    finally:
        server.shutdown()
        server.server_close()
    message = str(err.value)
    assert message.startswith('TLS verification of the Kubernetes API at %s failed' % url), message
    assert 'ca_cert' in message and 'Cannot reach' not in message


def test_api_error_text_ends_a_sentence_before_a_hint():
    exc = _k8s_client.K8sApiError(403, 'Forbidden', 'pods is forbidden: User "u" cannot list resource "pods" in API '
                                  'group "" at the cluster scope', {}, 'GET', '/api/v1/pods')
    assert _k8s_client.api_error_text(exc, 'listing pods').endswith('at the cluster scope.')


class FakeApiServer(BaseHTTPRequestHandler):
    """Answers like an API server: /api ok, 403 Status for a forbidden path, records requests."""
    seen = []

    def log_message(self, *args):  # pylint: disable=arguments-differ
        pass

    def _answer(self):
        length = int(self.headers.get('Content-Length') or 0)
        body = self.rfile.read(length) if length else b''
        FakeApiServer.seen.append(dict(method=self.command, path=self.path,
                                       auth=self.headers.get('Authorization'),
                                       body=json.loads(body) if body else None))
        if self.headers.get('Authorization') != 'Bearer good':
            status, payload = 401, {'kind': 'Status', 'message': 'Unauthorized', 'reason': 'Unauthorized'}
        elif self.path.startswith('/api/v1/namespaces/other/'):
            status, payload = 403, {'kind': 'Status', 'reason': 'Forbidden', 'message':
                                    'pods is forbidden: User "system:serviceaccount:a:b" cannot list resource '
                                    '"pods" in API group "" in the namespace "other"'}
        elif self.path.startswith('/api/v1/namespaces/a/pods?'):
            token = 'next' if 'continue=' not in self.path else None
            status, payload = 200, {'items': [{'metadata': {'name': 'p-%d' % len(FakeApiServer.seen)}}],
                                    'metadata': {'continue': token} if token else {}}
        else:
            status, payload = 200, {'kind': 'APIVersions', 'versions': ['v1']}
        send_json(self, status, payload)

    do_GET = do_POST = do_DELETE = _answer


@pytest.fixture
def fake_api():
    FakeApiServer.seen = []
    with http_server(FakeApiServer) as url:
        yield url


def test_bearer_token_is_sent_and_lists_follow_continue_tokens(fake_api):
    client = _k8s_client.make_client(dict(no_params(), host=fake_api, api_key='good'), {})
    pods = client.list_pods('a', label_selector='app=web', field_selector='status.phase=Running')
    assert len(pods) == 2
    assert all(r['auth'] == 'Bearer good' for r in FakeApiServer.seen)
    assert 'labelSelector=app%3Dweb' in FakeApiServer.seen[1]['path']
    assert 'continue=next' in FakeApiServer.seen[2]['path']


def test_a_rejected_token_fails_at_connect_with_a_clear_message(fake_api):
    with pytest.raises(_k8s_client.K8sApiError) as err:
        _k8s_client.make_client(dict(no_params(), host=fake_api, api_key='bad'), {})
    assert err.value.status == 401
    assert 'rejected the credentials from host=%s' % fake_api in err.value.message


def test_forbidden_carries_the_servers_message(fake_api):
    client = _k8s_client.make_client(dict(no_params(), host=fake_api, api_key='good'), {})
    with pytest.raises(_k8s_client.K8sApiError) as err:
        client.list_pods('other')
    assert err.value.status == 403
    text = _k8s_client.api_error_text(err.value, 'listing pods in namespace other')
    assert text.startswith('Permission denied listing pods in namespace other (403 Forbidden): pods is forbidden')


def test_delete_and_evict_send_uid_preconditions_grace_and_dry_run(fake_api):
    client = _k8s_client.make_client(dict(no_params(), host=fake_api, api_key='good'), {})
    client.delete_pod('a', 'web-1', uid='u-1', grace_period=0, dry_run=True)
    client.evict_pod('a', 'web-2', uid='u-2', dry_run=False)
    delete, evict = FakeApiServer.seen[-2:]
    assert delete['method'] == 'DELETE' and delete['path'] == '/api/v1/namespaces/a/pods/web-1?dryRun=All'
    assert delete['body']['preconditions'] == {'uid': 'u-1'}
    assert delete['body']['gracePeriodSeconds'] == 0 and delete['body']['dryRun'] == ['All']
    assert evict['method'] == 'POST' and evict['path'] == '/api/v1/namespaces/a/pods/web-2/eviction'
    assert evict['body']['apiVersion'] == 'policy/v1' and evict['body']['kind'] == 'Eviction'
    assert evict['body']['metadata'] == {'name': 'web-2', 'namespace': 'a'}
    assert evict['body']['deleteOptions'] == {'preconditions': {'uid': 'u-2'}}

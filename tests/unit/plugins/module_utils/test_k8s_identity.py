"""The Kubernetes auth options that become headers: username/password, impersonation, proxy_headers.

Names, types and environment variables as kubernetes.core has them; the headers checked where they arrive, on a
throwaway HTTP server (and a forward proxy) on 127.0.0.1. Against the real API server:
tests/integration/k8s/test_k8s_identity.py.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
from http.server import BaseHTTPRequestHandler

import pytest

from k8s_fakes import http_server, send_json

from ansible_collections.chaos.engineering.plugins.module_utils import _k8s_client, _k8s_identity


def no_params(**given):
    params = dict((key, None) for key in _k8s_client.AUTH_KEYS)
    params.update(given)
    return params


def auth_of(env=None, **given):
    return _k8s_client.auth_params(no_params(**given), env or {})


def test_options_have_kubernetes_core_names_types_and_no_log():
    spec = _k8s_client.K8S_AUTH_ARGUMENT_SPEC
    assert spec['username'] == dict(type='str')
    assert spec['password'] == dict(type='str', no_log=True)
    assert spec['impersonate_user'] == dict(type='str')
    assert spec['impersonate_groups'] == dict(type='list', elements='str')
    assert spec['proxy_headers']['type'] == 'dict'
    assert spec['proxy_headers']['options'] == dict(
        proxy_basic_auth=dict(type='str', no_log=True), basic_auth=dict(type='str', no_log=True),
        user_agent=dict(type='str'))


def test_the_environment_fills_in_with_kubernetes_core_variable_names():
    env = {'K8S_AUTH_USERNAME': 'bob', 'K8S_AUTH_PASSWORD': 'env-pw', 'K8S_AUTH_IMPERSONATE_USER': 'alice',
           'K8S_AUTH_IMPERSONATE_GROUPS': 'ops,, devs ,', 'K8S_AUTH_PROXY_HEADERS_PROXY_BASIC_AUTH': 'p:q',
           'K8S_AUTH_PROXY_HEADERS_USER_AGENT': 'chaos/1.0'}
    auth = auth_of(env)
    assert auth['username'] == 'bob' and auth['password'] == 'env-pw'
    assert auth['impersonate_user'] == 'alice' and auth['impersonate_groups'] == ['ops', 'devs']
    assert auth['proxy_headers'] == {'proxy_basic_auth': 'p:q', 'user_agent': 'chaos/1.0'}
    # Options win over the environment; proxy_headers as a whole (as in kubernetes.core).
    auth = auth_of(env, impersonate_user='carol', impersonate_groups=[], proxy_headers={'user_agent': 'x'})
    assert auth['impersonate_user'] == 'carol' and auth['impersonate_groups'] == []
    assert auth['proxy_headers'] == {'user_agent': 'x'}
    assert auth_of({})['proxy_headers'] is None and auth_of({})['impersonate_groups'] is None


@pytest.mark.parametrize('given, expected', [
    (dict(username='bob'), 'username and password go together: give both (or K8S_AUTH_USERNAME and '
                           'K8S_AUTH_PASSWORD), or neither; password is missing.'),
    (dict(password='s3cret-pw'), 'username and password go together: give both (or K8S_AUTH_USERNAME and '
                                 'K8S_AUTH_PASSWORD), or neither; username is missing.'),
    (dict(username='a:b', password='s3cret-pw'), 'username must not contain a colon: basic authentication separates '
                                                 'the username from the password with one.'),
    (dict(username='bob', password='s3cret-pw', api_key='tok3n-value'),
     'api_key and username/password are two ways to log in: give one of them.'),
    (dict(impersonate_user=' '), 'impersonate_user must not be empty.'),
    (dict(impersonate_user='alice', impersonate_groups=['ops', '']),
     'impersonate_groups must be a list of group names, none of them empty.'),
    (dict(proxy_headers={'proxy_basic_auth': 's3cret-pw'}),
     'proxy_headers.proxy_basic_auth must be username:password (colon-separated).'),
    (dict(proxy_headers={'basic_auth': 's3cret-pw'}),
     'proxy_headers.basic_auth must be username:password (colon-separated).'),
])
def test_settings_that_cannot_work_fail_before_connecting_with_a_clear_message(given, expected):
    auth = auth_of(**given)
    assert _k8s_identity.auth_errors(auth) == [expected]
    with pytest.raises(_k8s_client.K8sConfigError) as err:
        _k8s_client.make_client(auth, {}, check=False)
    assert str(err.value) == expected
    assert 's3cret-pw' not in str(err.value) and 'tok3n-value' not in str(err.value)


def test_groups_without_a_user_fail_as_the_api_server_would_refuse_them():
    for env, given in (({}, dict(impersonate_groups=['ops'])), ({'K8S_AUTH_IMPERSONATE_GROUPS': 'ops'}, {})):
        with pytest.raises(_k8s_client.K8sConfigError) as err:
            _k8s_client.make_client(auth_of(env, host='http://127.0.0.1:1', api_key='t', **given), {}, check=False)
        assert str(err.value) == ('Cannot use the Kubernetes credentials from host=http://127.0.0.1:1: '
                                  'impersonate_groups needs impersonate_user: the API server impersonates groups '
                                  'only together with a user.')


def test_request_headers():
    assert _k8s_identity.request_headers(auth_of()) == []
    assert _k8s_identity.request_headers(auth_of(username='bob', password='pw')) == [
        ('Authorization', 'Basic Ym9iOnB3')]
    assert _k8s_identity.request_headers(auth_of(impersonate_user='alice', impersonate_groups=['a', 'b'])) == [
        ('Impersonate-User', 'alice'), ('Impersonate-Group', 'a'), ('Impersonate-Group', 'b')]


def test_the_kubeconfigs_as_and_as_groups_apply_and_the_options_override_each():
    entry = {'token': 't', 'as': 'kc-user', 'as-groups': ['kc-group']}
    assert _k8s_identity.impersonation(auth_of(), entry) == ('kc-user', ['kc-group'])
    assert _k8s_identity.impersonation(auth_of(impersonate_user='alice'), entry) == ('alice', ['kc-group'])
    assert _k8s_identity.impersonation(auth_of(impersonate_groups=['ops']), entry) == ('kc-user', ['ops'])
    assert _k8s_identity.impersonation(auth_of(impersonate_groups=[]), entry) == ('kc-user', [])
    with pytest.raises(ValueError) as err:
        _k8s_identity.impersonation(auth_of(), {'as': 'kc-user', 'as-uid': '42'})
    assert 'as-uid' in str(err.value)


def test_secrets_include_the_environments_and_the_basic_token():
    auth = auth_of({'K8S_AUTH_PASSWORD': 'env-pw', 'K8S_AUTH_API_KEY': 'env-token'}, username='bob',
                   proxy_headers={'proxy_basic_auth': 'pu:proxy-pw', 'basic_auth': None})
    secrets = _k8s_identity.auth_secrets(auth)
    for value in ('env-pw', 'env-token', 'pu:proxy-pw', 'proxy-pw', 'Ym9iOmVudi1wdw=='):
        assert value in secrets
    assert 'bob' not in secrets


def test_secrets_include_a_host_urls_userinfo_from_the_environment():
    secrets = _k8s_identity.auth_secrets(auth_of({'K8S_AUTH_HOST': 'https://ops:host-pw@api.example:6443'}))
    assert 'host-pw' in secrets and 'ops:host-pw' in secrets
    assert 'api.example' not in secrets


class RecordingServer(BaseHTTPRequestHandler):
    """Records each request's headers (every line of a repeated header); answers as ``answer`` says."""
    seen = []
    answer = (200, {'kind': 'APIVersions', 'versions': ['v1']})

    def log_message(self, *args):  # pylint: disable=arguments-differ
        pass

    def do_GET(self):  # pylint: disable=invalid-name
        RecordingServer.seen.append(dict(path=self.path, headers=dict(
            (name.lower(), self.headers.get_all(name)) for name in set(self.headers.keys()))))
        send_json(self, *RecordingServer.answer)


@pytest.fixture
def recording_server():
    RecordingServer.seen = []
    RecordingServer.answer = (200, {'kind': 'APIVersions', 'versions': ['v1']})
    with http_server(RecordingServer) as url:
        yield url


def kubeconfig_for(url, user):
    return {'apiVersion': 'v1', 'kind': 'Config', 'current-context': 'c',
            'clusters': [{'name': 'k', 'cluster': {'server': url}}],
            'users': [{'name': 'u', 'user': user}],
            'contexts': [{'name': 'c', 'context': {'cluster': 'k', 'user': 'u'}}]}


def test_impersonation_headers_reach_the_server_one_line_per_group(recording_server):
    client = _k8s_client.make_client(auth_of(host=recording_server, api_key='tok', impersonate_user='alice',
                                             impersonate_groups=['ops', 'devs']), {})
    client.list_pods('a')
    assert len(RecordingServer.seen) == 2
    for request in RecordingServer.seen:
        assert request['headers']['impersonate-user'] == ['alice']
        assert request['headers']['impersonate-group'] == ['ops', 'devs']
        assert request['headers']['authorization'] == ['Bearer tok']


def test_basic_auth_replaces_the_kubeconfigs_token_and_as_is_applied(recording_server):
    kubeconfig = kubeconfig_for(recording_server, {'token': 'kc-token', 'as': 'kc-user', 'as-groups': ['g']})
    _k8s_client.make_client(auth_of(kubeconfig=kubeconfig, username='bob', password='pw'), {})
    headers = RecordingServer.seen[-1]['headers']
    assert headers['authorization'] == ['Basic Ym9iOnB3']
    assert headers['impersonate-user'] == ['kc-user'] and headers['impersonate-group'] == ['g']
    # Without the options, the kubeconfig's token, and no impersonation when it asks for none.
    _k8s_client.make_client(auth_of(kubeconfig=kubeconfig_for(recording_server, {'token': 'kc-token'})), {})
    headers = RecordingServer.seen[-1]['headers']
    assert headers['authorization'] == ['Bearer kc-token'] and 'impersonate-user' not in headers


def test_a_kubeconfig_file_with_as_is_applied_too(recording_server, tmp_path):
    path = tmp_path / 'kubeconfig'
    path.write_text(json.dumps(kubeconfig_for(recording_server, {'token': 'kc-token', 'as': 'kc-user'})))
    _k8s_client.make_client(auth_of(kubeconfig=str(path)), {})
    headers = RecordingServer.seen[-1]['headers']
    assert headers['authorization'] == ['Bearer kc-token'] and headers['impersonate-user'] == ['kc-user']
    assert 'impersonate-group' not in headers


@pytest.mark.parametrize('status, message', [
    (401, 'Unauthorized'),
    (403, 'forbidden: User "system:anonymous" cannot get path "/api"'),
])
def test_a_server_without_basic_auth_says_so_naming_no_password(recording_server, status, message):
    RecordingServer.answer = (status, {'kind': 'Status', 'message': message})
    with pytest.raises(_k8s_client.K8sConfigError) as err:
        _k8s_client.make_client(auth_of(host=recording_server, username='bob', password='s3cret-pw'), {})
    text = str(err.value)
    assert text.startswith('The Kubernetes API at %s did not accept username/password from host=%s, username=bob '
                           '(HTTP %d' % (recording_server, recording_server, status)), text
    assert 'no basic authentication since Kubernetes 1.19' in text and message in text
    assert 's3cret-pw' not in text and 'Ym9i' not in text


def test_a_refused_impersonation_names_who_may_not_impersonate_whom(recording_server):
    RecordingServer.answer = (403, {'kind': 'Status', 'message': 'users "alice" is forbidden: User "bob" cannot '
                                    'impersonate resource "users" in API group "" at the cluster scope'})
    with pytest.raises(_k8s_client.K8sConfigError) as err:
        _k8s_client.make_client(auth_of(host=recording_server, api_key='t', impersonate_user='alice',
                                        impersonate_groups=['ops']), {})
    assert str(err.value) == (
        'The Kubernetes API at %s refused to let the credentials from host=%s impersonate user alice (groups ops) '
        '(403 Forbidden): users "alice" is forbidden: User "bob" cannot impersonate resource "users" in API group "" '
        'at the cluster scope. They need the impersonate verb on that user (and groups) in a ClusterRole bound to '
        'them.' % (recording_server, recording_server))


def test_proxy_headers_need_a_proxy():
    with pytest.raises(_k8s_client.K8sConfigError) as err:
        _k8s_client.make_client(auth_of(host='http://127.0.0.1:1', api_key='t',
                                        proxy_headers={'user_agent': 'x'}), {}, check=False)
    assert str(err.value) == ('proxy_headers are headers for the proxy, but there is none: give proxy (or '
                              'K8S_AUTH_PROXY, or a proxy-url in the kubeconfig).')


def test_proxy_headers_reach_the_proxy(recording_server):
    # The recording server acts as a forward proxy: an http:// API server is asked for with its absolute URL.
    auth = auth_of(host='http://192.0.2.1:6443', api_key='t', proxy=recording_server,
                   proxy_headers={'proxy_basic_auth': 'pu:proxy-pw', 'user_agent': 'chaos/1.0'})
    _k8s_client.make_client(auth, {})
    request = RecordingServer.seen[-1]
    assert request['path'] == 'http://192.0.2.1:6443/api'
    assert request['headers']['proxy-authorization'] == ['Basic cHU6cHJveHktcHc=']
    assert request['headers']['authorization'] == ['Bearer t']


def module_args(module, **connection):
    """The arguments of a k8s_pod_chaos or probe task on namespace a, with this connection."""
    if module == 'probe':
        return dict(connection, probes=[dict(name='p', type='pods', namespace='a')])
    return dict(connection, namespace='a', label_selector='app=web')


@pytest.mark.parametrize('module', ['k8s_pod_chaos', 'probe'])
def test_the_modules_fail_with_the_message_before_connecting(run_module, module):
    result = run_module(module, **module_args(module, host='http://127.0.0.1:1', api_key='a-long-token',
                                              impersonate_groups=['ops']))
    assert result['failed'] is True
    assert result['msg'].endswith('impersonate_groups needs impersonate_user: the API server impersonates groups '
                                  'only together with a user.'), result['msg']


@pytest.mark.parametrize('module', ['k8s_pod_chaos', 'probe'])
def test_the_modules_mask_secrets_from_the_environment(run_module, recording_server, monkeypatch, module):
    # A server that echoes the password back: the module's result must not carry it.
    RecordingServer.answer = (403, {'kind': 'Status', 'message': 'no access for env-pw-s3cret'})
    monkeypatch.setenv('K8S_AUTH_PASSWORD', 'env-pw-s3cret')
    monkeypatch.setenv('K8S_AUTH_USERNAME', 'bob')
    result = run_module(module, **module_args(module, host=recording_server))
    assert result['failed'] is True
    assert RecordingServer.seen[-1]['headers']['authorization'] == ['Basic Ym9iOmVudi1wdy1zM2NyZXQ=']
    assert 'no access for ********' in result['msg'], result['msg']
    assert 'env-pw-s3cret' not in json.dumps(result)

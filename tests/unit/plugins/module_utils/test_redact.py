"""Secrets stay secret: the redaction function, the HTTP probe's credentials (URL userinfo, headers, url_password)
against a real local server, and what the probe and journal modules return and write."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import json
import os
import stat
import threading

from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.chaos.engineering.plugins.module_utils import _probe_http
from ansible_collections.chaos.engineering.plugins.module_utils._journal import write_journal
from ansible_collections.chaos.engineering.plugins.module_utils._report_html import render_html
from ansible_collections.chaos.engineering.plugins.module_utils._report_junit import render_junit
from ansible_collections.chaos.engineering.plugins.module_utils._probe_http import http_sample
from ansible_collections.chaos.engineering.plugins.module_utils._probe_spec import (
    ProbeError,
    split_userinfo,
    validate_probes,
)
from ansible_collections.chaos.engineering.plugins.module_utils._redact import (
    MARKER,
    is_secret_key,
    redact,
    secret_values,
    strip_userinfo,
)
from ansible_collections.chaos.engineering.plugins.modules import experiment_journal
from ansible_collections.chaos.engineering.plugins.modules import probe as probe_module

PASSWORD = 'pa55-w0rd-XYZZY'
TOKEN = 'tok-3141592653-QWERTY'
API_KEY = 'k8s-api-key-ZXCVBN'


def b64(text):
    return base64.b64encode(text.encode()).decode()


# ---------------------------------------------------------------------------------------------
# redact


def test_secret_keys_any_case_and_separator_but_not_paths():
    for key in ('api_key', 'API_KEY', 'Api-Key', 'password', 'url_password', 'db_password', 'token', 'bearer_token',
                'secret', 'client_secret', 'Authorization', 'proxy-authorization', 'Cookie', 'Set-Cookie',
                'X-API-Key', 'x-auth-token', 'client_key_data', 'passphrase', 'private_key'):
        assert is_secret_key(key), key
    for key in ('client_key', 'client_cert', 'ca_cert', 'name', 'url', 'tokens_used', 'keyboard', 'host',
                'url_username', 'headers', 'revert', 'targets'):
        assert not is_secret_key(key), key


def test_redact_nested_structures_headers_and_urls():
    data = dict(
        probes=[dict(name='shop', url='http://bob:%s@shop.example:8080/health?x=1' % PASSWORD,
                     headers={'Authorization': 'Bearer ' + TOKEN, 'X-Custom-Token': TOKEN, 'Accept': 'text/plain',
                              'X-Session': 's-123456'},
                     url_username='bob', url_password=PASSWORD)],
        faults=[dict(module='k8s_pod_chaos', args=dict(api_key=API_KEY, host='https://k8s:6443', client_key='/k.pem',
                                                       nested=[dict(Password=PASSWORD)]))],
        reason='the api said no to %s and to Bearer %s' % (API_KEY, TOKEN),
        count=3, ok=True, nothing=None,
    )
    out = redact(data)
    text = json.dumps(out)
    for secret in (PASSWORD, TOKEN, API_KEY, 's-123456'):
        assert secret not in text
    probe = out['probes'][0]
    assert probe['url'] == 'http://%s@shop.example:8080/health?x=1' % MARKER
    assert probe['headers'] == {'Authorization': MARKER, 'X-Custom-Token': MARKER, 'Accept': 'text/plain',
                                'X-Session': MARKER}
    assert probe['url_password'] == MARKER and probe['url_username'] == 'bob'
    args = out['faults'][0]['args']
    assert args['api_key'] == MARKER and args['nested'] == [dict(Password=MARKER)]
    assert args['host'] == 'https://k8s:6443' and args['client_key'] == '/k.pem'
    # The whole header value goes (longest first), and the credential alone wherever else it is.
    assert out['reason'] == 'the api said no to %s and to %s' % (MARKER, MARKER)
    assert redact(dict(headers={'Authorization': 'Bearer ' + TOKEN}, note='t=' + TOKEN))['note'] == 't=' + MARKER
    assert (out['count'], out['ok'], out['nothing']) == (3, True, None)
    # The input is left as it was, and redacting twice changes nothing more.
    assert data['faults'][0]['args']['api_key'] == API_KEY
    assert redact(out) == out


def test_strip_userinfo_in_any_text():
    assert strip_userinfo('http://user:pass@host/') == 'http://%s@host/' % MARKER
    assert strip_userinfo('see https://tok@git.example/x and ftp://a:b@c:21/') == \
        'see https://%s@git.example/x and ftp://%s@c:21/' % (MARKER, MARKER)
    assert strip_userinfo('http://u:p@ss@host/p?q=a@b') == 'http://%s@host/p?q=a@b' % MARKER
    for text in ('http://host/path@x', 'mail me at bob@example.com', 'http://host:80/', 'http://@host/'):
        assert strip_userinfo(text) == text


def test_secret_values_for_no_log_values():
    found = secret_values([dict(url='http://u:%s@h/' % PASSWORD, headers={'Authorization': 'Bearer ' + TOKEN},
                                api_key=API_KEY, name='shop')])
    assert {PASSWORD, 'u:' + PASSWORD, 'Bearer ' + TOKEN, TOKEN, API_KEY} <= found
    assert 'shop' not in found and 'u' not in found


# ---------------------------------------------------------------------------------------------
# The HTTP probe's credentials, against a real local server


class Recorder(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        self.server.seen.append(dict(line=self.requestline, host=self.headers.get('Host'),
                                     authorization=self.headers.get('Authorization'),
                                     api_key=self.headers.get('X-Api-Key')))
        if self.path == '/away':
            # A redirect to another origin (another port of the same server).
            self.send_response(302)
            self.send_header('Location', 'http://localhost:%d/ok' % self.server.server_address[1])
            self.send_header('Content-Length', '0')
            self.end_headers()
            return
        if self.path == '/here':
            self.send_response(302)
            self.send_header('Location', '/ok')
            self.send_header('Content-Length', '0')
            self.end_headers()
            return
        status = 200 if self.path == '/ok' or self.path.startswith('/ok?') else 404
        self.send_response(status)
        self.send_header('Content-Length', '3')
        self.end_headers()
        self.wfile.write(b'ok\n')


@pytest.fixture
def recorder():
    httpd = ThreadingHTTPServer(('127.0.0.1', 0), Recorder)
    httpd.daemon_threads = True
    httpd.seen = []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield 'http://127.0.0.1:%d' % httpd.server_address[1], httpd
    httpd.shutdown()
    httpd.server_close()


def one(url, **extra):
    raw = dict(name='web', type='http', url=url)
    raw.update(extra)
    return validate_probes([raw])[0]


def test_split_userinfo():
    assert split_userinfo('http://a%40b:p%3Aw@h:8/x?y#z') == ('http://h:8/x?y#z', 'a@b', 'p:w')
    assert split_userinfo('https://tok@h/') == ('https://h/', 'tok', None)
    assert split_userinfo('http://h/a@b') == ('http://h/a@b', None, None)


def test_url_userinfo_becomes_basic_auth_and_is_not_resolved(recorder, monkeypatch):
    base, server = recorder
    resolved = []
    real = _probe_http.socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        resolved.append(host)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(_probe_http.socket, 'getaddrinfo', getaddrinfo)
    probe = one(base.replace('http://', 'http://bob:%s@' % PASSWORD) + '/ok')
    assert PASSWORD not in json.dumps(probe['url'])
    ok, dummy, detail = http_sample(probe)
    assert ok is True and detail == 'HTTP 200'
    seen, = server.seen
    assert seen['authorization'] == 'Basic ' + b64('bob:' + PASSWORD)
    assert seen['line'] == 'GET /ok HTTP/1.1' and '@' not in seen['host']
    assert all(PASSWORD not in str(host) for host in resolved)


def test_url_username_password_and_headers(recorder):
    base, server = recorder
    assert http_sample(one(base + '/ok', url_username='alice', url_password=PASSWORD))[0] is True
    assert http_sample(one(base + '/ok', headers={'Authorization': 'Bearer ' + TOKEN, 'X-Api-Key': API_KEY}))[0]
    # url_password wins over the URL's; an Authorization header wins over both.
    assert http_sample(one(base.replace('http://', 'http://x:y@') + '/ok', url_password=PASSWORD))[0]
    assert http_sample(one(base.replace('http://', 'http://x:y@') + '/ok', headers={'authorization': 'Token t'}))[0]
    assert [s['authorization'] for s in server.seen] == [
        'Basic ' + b64('alice:' + PASSWORD), 'Bearer ' + TOKEN, 'Basic ' + b64('x:' + PASSWORD), 'Token t']
    assert server.seen[1]['api_key'] == API_KEY


def test_credentials_follow_same_origin_redirects_only(recorder):
    base, server = recorder
    assert http_sample(one(base + '/here', headers={'Authorization': 'Bearer ' + TOKEN}))[0] is True
    assert [s['authorization'] for s in server.seen] == ['Bearer ' + TOKEN] * 2
    del server.seen[:]
    assert http_sample(one(base + '/away', headers={'Authorization': 'Bearer ' + TOKEN, 'X-Api-Key': API_KEY,
                                                    'Accept': 'text/plain'}))[0] is True
    assert [s['authorization'] for s in server.seen] == ['Bearer ' + TOKEN, None]
    assert server.seen[1]['api_key'] is None


def test_errors_never_echo_the_password():
    # Refused port on loopback: the error text comes from the socket, the URL is already clean.
    ok, dummy, detail = http_sample(one('http://bob:%s@127.0.0.1:1/' % PASSWORD, timeout=2))
    assert ok is False and PASSWORD not in detail
    with pytest.raises(ProbeError) as info:
        validate_probes([dict(name='x', type='http', url='ftp://bob:%s@host/' % PASSWORD)])
    assert PASSWORD not in str(info.value) and MARKER in str(info.value)
    for headers, message in (('Bearer x', 'must be a dictionary'), ({'Bad Name': 'x'}, 'not an HTTP header name'),
                             ({'X-A': 'a\r\nInjected: 1'}, 'line break'), ({'X-A': None}, 'string value')):
        with pytest.raises(ProbeError, match=message):
            validate_probes([dict(name='x', type='http', url='http://h/', headers=headers)])


@pytest.fixture
def run_probe(capsys):
    def run(**args):
        with patch_module_args(args):
            with pytest.raises(SystemExit):
                probe_module.main()
        return capsys.readouterr().out
    return run


def test_probe_module_returns_no_secret(recorder, run_probe):
    base, dummy = recorder
    out = run_probe(probes=[
        dict(name='basic', type='http', url=base.replace('http://', 'http://bob:%s@' % PASSWORD) + '/ok'),
        dict(name='bearer', type='http', url=base + '/ok', headers={'Authorization': 'Bearer ' + TOKEN}),
        dict(name='up', type='http', url=base + '/ok', url_username='u', url_password=PASSWORD),
        dict(name='refused', type='http', url='http://bob:%s@127.0.0.1:1/' % PASSWORD, timeout=2)])
    result = json.loads(out)
    assert [s['ok'] for s in result['samples']] == [True, True, True, False]
    for secret in (PASSWORD, TOKEN, b64('bob:' + PASSWORD), b64('u:' + PASSWORD)):
        assert secret not in out
    # A definition the module refuses: the invocation it echoes is masked too.
    out = run_probe(probes=[dict(name='bad', type='http', url='http://u:%s@h/' % PASSWORD, method='BREW',
                                 headers={'X-Api-Key': API_KEY})])
    assert json.loads(out)['failed'] is True and PASSWORD not in out and API_KEY not in out


# ---------------------------------------------------------------------------------------------
# The journal


def secret_record():
    return dict(started_at='2026-11-27T10:00:00.000Z', finished_at='2026-11-27T10:00:30.000Z', verdict='aborted',
                reason='Fault k failed: 401 for Bearer %s' % TOKEN,
                faults=[dict(fault='k8s_pod_chaos', name='k', started_at='2026-11-27T10:00:01.000Z', targets=[],
                             args=dict(api_key=API_KEY))],
                probes=[dict(probe='basic', type='http', phase='before', at='2026-11-27T10:00:01.000Z', ok=False,
                             value=None, detail='error: http://bob:%s@h/ refused' % PASSWORD)],
                recovery=[], skipped=[])


SECRET_EXPERIMENT = dict(
    name='secrets', faults=[dict(module='k8s_pod_chaos', args=dict(api_key=API_KEY, client_key='/keys/k.pem'))],
    probes=[dict(name='basic', type='http', url='http://bob:%s@h/' % PASSWORD, headers={'Authorization': 'Bearer ' + TOKEN},
                 url_password=PASSWORD)])


def test_journal_files_hold_no_secret_and_are_0600_whatever_the_umask(tmp_path):
    path = str(tmp_path / 'run')
    old = os.umask(0o022)
    try:
        result = write_journal(path, 'r', SECRET_EXPERIMENT, 'h1', secret_record())
    finally:
        os.umask(old)
    for key in ('journal', 'junit', 'html'):
        with open(result[key]) as handle:
            text = handle.read()
        for secret in (PASSWORD, TOKEN, API_KEY):
            assert secret not in text, (key, secret)
        assert MARKER in text
        assert stat.S_IMODE(os.stat(result[key]).st_mode) == 0o600, key
    with open(result['journal']) as handle:
        data = json.load(handle)
    assert data['experiment']['faults'][0]['args'] == dict(api_key=MARKER, client_key='/keys/k.pem')
    assert data['experiment']['probes'][0]['url'] == 'http://%s@h/' % MARKER
    # Renderers given an unredacted journal redact it themselves.
    raw = dict(experiment=SECRET_EXPERIMENT, hosts=dict(h1=secret_record()), verdict='aborted', run_id='r')
    for text in (render_html(raw), render_junit(raw)):
        assert PASSWORD not in text and TOKEN not in text and API_KEY not in text


@pytest.fixture
def run_journal(capsys):
    def run(check_mode=False, **args):
        if check_mode:
            args['_ansible_check_mode'] = True
        with patch_module_args(args):
            with pytest.raises(SystemExit):
                experiment_journal.main()
        return capsys.readouterr().out
    return run


def test_journal_module_mode_option_and_masked_invocation(tmp_path, run_journal):
    path = str(tmp_path / 'run')
    out = run_journal(path=path, run_id='r', host='h1', experiment=SECRET_EXPERIMENT, record=secret_record())
    assert PASSWORD not in out and TOKEN not in out and API_KEY not in out
    result = json.loads(out)
    assert stat.S_IMODE(os.stat(result['html']).st_mode) == 0o600
    # Same content, wider mode asked: only the mode changes.
    preview = json.loads(run_journal(check_mode=True, path=path, run_id='r', host='h1', experiment=SECRET_EXPERIMENT,
                                     record=secret_record(), mode='0640'))
    assert preview['changed'] is True and stat.S_IMODE(os.stat(result['html']).st_mode) == 0o600
    result = json.loads(run_journal(path=path, run_id='r', host='h1', experiment=SECRET_EXPERIMENT,
                                    record=secret_record(), mode='0640'))
    assert result['changed'] is True
    assert all(stat.S_IMODE(os.stat(result[k]).st_mode) == 0o640 for k in ('journal', 'junit', 'html'))
    assert json.loads(run_journal(path=path, run_id='r', host='h1', experiment=SECRET_EXPERIMENT,
                                  record=secret_record(), mode=0o640))['changed'] is False
    for bad in ('rw-r--r--', '0800', '10000', True):
        failed = json.loads(run_journal(path=path, run_id='r', host='h1', record=secret_record(), mode=bad))
        assert failed['failed'] is True and 'mode must be a file mode' in failed['msg']

"""Secrets stay secret: the chaos.engineering.experiment role, run at -vvv through the docker_experiment playbook on a
private Docker engine, with HTTP probes that carry credentials (a URL with user:pass@, an Authorization header and an
X-Api-Key, url_username/url_password) against a local HTTP server that records what it received, and a Kubernetes
api_key in the connection options.

No secret may appear in ansible-playbook's output or in journal.json, junit.xml and report.html, which must be 0600;
the server must have got the right Authorization headers, and no request line or Host header may carry userinfo.
"""
import base64
import os
import socket
import stat
import subprocess
import threading

from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import docker
import pytest

from experiment_helpers import journal, output, samples, write_yaml
from helpers import ansible_playbook_argv, playbook_env, start_containers

pytestmark = pytest.mark.integration

PLAYBOOK = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), 'playbooks',
                        'docker_experiment.yml')
MARKER = '********'


class Recorder(BaseHTTPRequestHandler):
    """Answers 200 to everything and records the request line and the credential headers."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.server.seen.append(dict(line=self.requestline, path=self.path, host=self.headers.get('Host'),
                                     authorization=self.headers.get('Authorization'),
                                     api_key=self.headers.get('X-Api-Key')))
        self.send_response(200)
        self.send_header('Content-Length', '3')
        self.end_headers()
        self.wfile.write(b'ok\n')


def free_loopback_port():
    """A loopback port nothing listens on now (connect refused), picked by the kernel."""
    while True:
        with socket.socket() as probe:
            probe.bind(('127.0.0.1', 0))
            port = probe.getsockname()[1]
        with socket.socket() as check:
            if check.connect_ex(('127.0.0.1', port)) != 0:
                return port


@pytest.fixture
def recorder():
    httpd = None
    for dummy in range(10):
        try:
            httpd = ThreadingHTTPServer(('127.0.0.1', free_loopback_port()), Recorder)
            break
        except OSError:  # taken between the check and the bind
            continue
    assert httpd is not None
    httpd.daemon_threads = True
    httpd.seen = []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(10)


def b64(text):
    return base64.b64encode(text.encode()).decode()


def test_experiment_at_vvv_leaks_no_secret(bed, run_id, ledger_dir, tmp_path, recorder):
    secrets = dict(url_password='UrlPass-%s' % run_id, header_token='HdrTok-%s' % run_id,
                   api_key_header='HdrKey-%s' % run_id, url_password_option='OptPass-%s' % run_id,
                   k8s_api_key='K8sKey-%s' % run_id)
    base = 'http://127.0.0.1:%d' % recorder.server_address[1]
    client = docker.DockerClient(base_url=bed['hosts'][0])
    box = start_containers(client, run_id, ['box'])['box']
    extra = dict(
        chaos_hosts='localhost', experiment_name='secrets', experiment_docker_host=bed['hosts'][0],
        experiment_ledger_dir=ledger_dir, experiment_journal_dir=str(tmp_path / 'journal'),
        experiment_duration=1, experiment_probe_interval=0.5, experiment_recovery_timeout=20,
        experiment_k8s_options=dict(api_key=secrets['k8s_api_key']),
        experiment_probes=[
            dict(name='basic auth in the url', type='http', timeout=5,
                 url='http://probe-user:%s@127.0.0.1:%d/basic' % (secrets['url_password'], recorder.server_address[1])),
            dict(name='bearer and api key headers', type='http', url=base + '/bearer', timeout=5,
                 headers={'Authorization': 'Bearer ' + secrets['header_token'], 'X-Api-Key': secrets['api_key_header']}),
            dict(name='url_username and url_password', type='http', url=base + '/options', timeout=5,
                 url_username='alice', url_password=secrets['url_password_option'])],
        experiment_faults=[dict(name='pause box', module='container_pause', args=dict(names=[box.name]))])
    argv = ansible_playbook_argv(PLAYBOOK, write_yaml(tmp_path / 'vars.yml', extra)) + ['-vvv']
    proc = subprocess.run(argv, capture_output=True, text=True, env=playbook_env(), cwd=str(tmp_path), timeout=600,
                          check=False)
    assert proc.returncode == 0, output(proc)

    # The useful output is still there: task names and the verdict.
    assert 'TASK [chaos.engineering.experiment : Steady state before any fault]' in proc.stdout
    assert 'experiment secrets on localhost: PASSED' in proc.stdout, output(proc)

    forbidden = list(secrets.values()) + [
        b64('probe-user:' + secrets['url_password']), b64('alice:' + secrets['url_password_option'])]
    streams = dict(stdout=proc.stdout, stderr=proc.stderr)
    data = journal(str(tmp_path / 'journal'))
    for name in ('journal.json', 'junit.xml', 'report.html'):
        path = os.path.join(data['_dir'], name)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, name
        with open(path) as handle:
            streams[name] = handle.read()
    for where, text in streams.items():
        for secret in forbidden:
            assert secret not in text, (where, secret)
    # The journal keeps the probes, with the credentials replaced.
    probes = dict((p['name'], p) for p in data['experiment']['probes'])
    assert probes['basic auth in the url']['url'] == 'http://%s@127.0.0.1:%d/basic' % (MARKER, recorder.server_address[1])
    assert probes['bearer and api key headers']['headers'] == {'Authorization': MARKER, 'X-Api-Key': MARKER}
    assert probes['url_username and url_password']['url_password'] == MARKER

    # Every probe passed, so the server got every request, each with the right credentials and no userinfo.
    record = data['hosts']['localhost']
    assert record['verdict'] == 'passed'
    for phase in ('before', 'during', 'after'):
        assert samples(record, phase) and all(s['ok'] for s in samples(record, phase)), phase
    seen = recorder.seen
    assert set(s['path'] for s in seen) == {'/basic', '/bearer', '/options'}
    for request in seen:
        assert '@' not in request['line'] and '@' not in request['host'], request
        assert request['line'] == 'GET %s HTTP/1.1' % request['path']
        assert request['host'] == '127.0.0.1:%d' % recorder.server_address[1]
        expected = {'/basic': 'Basic ' + b64('probe-user:' + secrets['url_password']),
                    '/bearer': 'Bearer ' + secrets['header_token'],
                    '/options': 'Basic ' + b64('alice:' + secrets['url_password_option'])}[request['path']]
        assert request['authorization'] == expected, request
        assert request['api_key'] == (secrets['api_key_header'] if request['path'] == '/bearer' else None)

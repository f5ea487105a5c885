"""chaos.engineering.probe with json_query, run by ansible-playbook against a real HTTP server that this test starts
on a free local port and whose JSON changes from one request to the next.

Every expectation on a sample is checked against what the server says it served for that request. No Docker engine
is needed: an http probe connects to nothing else.
"""
import json
import os
import subprocess
import sys
import threading

from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from helpers import playbook_env, run_module_play

pytestmark = pytest.mark.integration


class ScriptedJson(BaseHTTPRequestHandler):
    """GET /metrics answers the next body of the server's script (the last one again once it runs out), and records
    which one it served."""

    def log_message(self, *args):  # keep pytest output clean
        pass

    def do_GET(self):
        server = self.server
        with server.lock:
            index = min(len(server.served), len(server.script) - 1)
            body = server.script[index]
            server.served.append(body)
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(200)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def json_server():
    # Port 0: the kernel picks a port no one listens on, at the bind itself (no window for another process).
    httpd = ThreadingHTTPServer(('127.0.0.1', 0), ScriptedJson)
    httpd.daemon_threads = True
    httpd.lock = threading.Lock()
    httpd.script = []
    httpd.served = []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd, 'http://127.0.0.1:%d/metrics' % httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()
    thread.join(10)


def run_probe(tmp_path, args, env=None):
    return run_module_play(tmp_path, 'probe', args, env=env)


def test_range_fails_while_the_queue_is_long_and_recovers_when_it_drains(json_server, tmp_path):
    server, url = json_server
    server.script = [dict(queue=dict(depth=depth)) for depth in (500, 250, 101, 100, 7)]
    result = run_probe(tmp_path, dict(phase='after', retries_until_ok=True, duration=60, interval=0.2, probes=[
        dict(name='queue', type='http', url=url, json_query='queue.depth', json_range=[0, 100])]))
    assert not result.get('failed'), result
    samples = result['samples']
    # One request per sample, and each sample judged the body served for it: 100 passes (inclusive).
    assert [s['detail'] for s in samples] == [
        'HTTP 200, queue.depth = 500, expected a number from 0 to 100',
        'HTTP 200, queue.depth = 250, expected a number from 0 to 100',
        'HTTP 200, queue.depth = 101, expected a number from 0 to 100',
        'HTTP 200, queue.depth = 100']
    assert server.served == server.script[:4]
    assert [s['ok'] for s in samples] == [False, False, False, True]
    assert all(isinstance(s['value'], float) and s['value'] >= 0 for s in samples)  # still the latency in ms
    assert result['ok'] is True and result['rounds'] == 4 and result['recovered_after'] > 0


def test_equals_stops_at_the_first_answer_that_differs(json_server, tmp_path):
    server, url = json_server
    server.script = [dict(status='up', ready=True), dict(status='up', ready=True), dict(status='up', ready=1),
                     dict(status='down', ready=True)]
    result = run_probe(tmp_path, dict(phase='during', duration=60, interval=0.2, fail_fast=True, probes=[
        dict(name='ready', type='http', url=url, json_query='ready', json_equals=True)]))
    assert not result.get('failed'), result
    # ready: 1 is a number, not true: the third sample fails and sampling stops there.
    assert [(s['ok'], s['detail']) for s in result['samples']] == [
        (True, 'HTTP 200, ready = true'), (True, 'HTTP 200, ready = true'),
        (False, 'HTTP 200, ready = 1, expected true')]
    assert len(server.served) == 3 and result['ok'] is False and result['failed_probes'] == ['ready']


def test_a_missing_key_and_a_body_that_is_not_json_fail_the_task(json_server, tmp_path):
    server, url = json_server
    server.script = [dict(status='up'), b'<html>maintenance</html>']
    result = run_probe(tmp_path, dict(fail_on_failure=True, probes=[
        dict(name='gone', type='http', url=url, json_query='queue.depth', json_equals=None),
        dict(name='status', type='http', url=url, json_query='status', json_equals='up')]))
    assert result['failed'] is True and result['failed_probes'] == ['status']
    assert [(s['probe'], s['ok'], s['detail']) for s in result['samples']] == [
        ('gone', True, 'HTTP 200, queue.depth = null'),  # the key is not there: null, not an error
        ('status', False, 'HTTP 200, the body is not JSON: Expecting value: line 1 column 1 (char 0)')]
    assert result['msg'].startswith('Steady state not met (phase steady): status: HTTP 200, the body is not JSON')


def test_an_invalid_expression_fails_before_any_request(json_server, tmp_path):
    server, url = json_server
    server.script = [dict(status='up')]
    result = run_probe(tmp_path, dict(probes=[dict(name='bad', type='http', url=url, json_query='status[?',
                                                   json_equals='up')]))
    assert result['failed'] is True and server.served == []
    assert result['msg'].startswith("probe 'bad': json_query 'status[?' is not a valid JMESPath expression: ")


def test_without_jmespath_on_the_host_the_task_fails_clearly(json_server, tmp_path):
    """The module runs on an interpreter with no jmespath (a bare venv: AnsiballZ carries the module_utils)."""
    server, url = json_server
    server.script = [dict(status='up')]
    bare = str(tmp_path / 'bare')
    subprocess.run([sys.executable, '-m', 'venv', '--without-pip', bare], check=True, timeout=120)
    python = os.path.join(bare, 'bin', 'python')
    assert subprocess.run([python, '-c', 'import jmespath'], capture_output=True, check=False).returncode != 0
    env = playbook_env(dict(ANSIBLE_PYTHON_INTERPRETER=python))
    result = run_probe(tmp_path, dict(probes=[dict(name='api', type='http', url=url, json_query='status',
                                                   json_equals='up')]), env=env)
    assert result['failed'] is True and server.served == []
    assert result['msg'].startswith('Failed to import the required Python library (jmespath) on ')
    assert "This is required for the json_query of probe 'api'." in result['msg']
    assert 'Traceback' not in result['msg'] and 'module_stderr' not in result
    # The same interpreter runs a probe without json_query.
    result = run_probe(tmp_path, dict(probes=[dict(name='api', type='http', url=url)]), env=env)
    assert not result.get('failed'), result
    assert result['ok'] is True and result['samples'][0]['detail'] == 'HTTP 200' and len(server.served) == 1

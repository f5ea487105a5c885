"""HTTP probes with a json_query: definitions, matching (on bodies, and through a real local HTTP server), and the
module's answer when jmespath is missing."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import subprocess
import sys
import threading

from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ansible_collections.chaos.engineering.plugins.module_utils import _probe_spec
from ansible_collections.chaos.engineering.plugins.module_utils._probe_http import http_sample, json_check, json_equal
from ansible_collections.chaos.engineering.plugins.module_utils._probe_spec import (
    MAX_BODY_BYTES,
    MissingLibraryError,
    ProbeError,
    validate_probes,
)
from ansible_collections.chaos.engineering.plugins.module_utils._redact import MARKER
from ansible_collections.chaos.engineering.plugins.modules import probe as probe_module

HEALTH = {'status': 'up', 'queue': {'depth': 12, 'ratio': 0.5}, 'ready': True, 'count': 1, 'version': '12',
          'workers': [{'name': 'w1', 'state': 'up'}, {'name': 'w2', 'state': 'down'}, {'name': 'w3', 'state': 'up'}]}


def probe(query='status', **check):
    raw = dict(name='api', type='http', url='http://127.0.0.1:1/', json_query=query)
    raw.update(check)
    return validate_probes([raw])[0]


def check(query, body, **expected):
    """json_check of a probe with this query and expectation on a body (a JSON value, or bytes as they are)."""
    return json_check(probe(query, **expected), body if isinstance(body, bytes) else json.dumps(body).encode())


# ---------------------------------------------------------------------------------------------
# Definitions


def test_a_json_check_is_normalized():
    equals = probe('queue.depth', json_equals=(1, 2.5, None))
    assert equals['json_query'] == 'queue.depth' and equals['json_equals'] == [1, 2.5, None]
    assert 'json_range' not in equals
    ranged = probe('queue.depth', json_range=['0', 100])
    assert ranged['json_range'] == [0.0, 100.0] and 'json_equals' not in ranged
    assert probe(json_range=[None, 5])['json_range'] == [None, 5.0]
    # null is a value to expect, not an absent key
    assert probe('missing', json_equals=None)['json_equals'] is None
    plain = validate_probes([dict(name='a', type='http', url='http://x/')])[0]
    assert not set(plain) & set(['json_query', 'json_equals', 'json_range'])


@pytest.mark.parametrize('extra, message', [
    (dict(json_equals='up'), "probe 'api': json_equals and json_range need a json_query."),
    (dict(json_range=[0, 1]), "probe 'api': json_equals and json_range need a json_query."),
    (dict(json_equals=None), "probe 'api': json_equals and json_range need a json_query."),
    (dict(json_query='status'), "probe 'api': a json_query needs exactly one of json_equals and json_range."),
    (dict(json_query='status', json_equals='up', json_range=[0, 1]), 'exactly one of json_equals and json_range'),
    (dict(json_query='', json_equals='up'), "probe 'api': json_query must be a JMESPath expression, got ''."),
    (dict(json_query=['status'], json_equals='up'), 'json_query must be a JMESPath expression'),
    (dict(json_query='status[', json_equals='up'), "probe 'api': json_query 'status[' is not a valid JMESPath"),
    (dict(json_query='a ||| b', json_equals='up'), "probe 'api': json_query 'a ||| b' is not a valid JMESPath"),
    (dict(json_query='nofunc(@)', json_equals=1),
     "probe 'api': json_query 'nofunc(@)' is not a valid JMESPath expression: Unknown function: nofunc()."),
    (dict(json_query="a[?length(b) > `1`] | sort_by(@, &c) | nope(@)", json_equals=1), 'Unknown function: nope().'),
    (dict(json_query='status', json_equals='up', method='HEAD'), 'the answer to HEAD has none'),
    (dict(json_query='n', json_equals=float('nan')), "probe 'api': json_equals must be a JSON value, got nan."),
    (dict(json_query='n', json_equals=set([1])), 'json_equals must be a JSON value'),
    (dict(json_query='n', json_range=5), "probe 'api': json_range must be [low, high] (either may be null), got 5."),
    (dict(json_query='n', json_range=[1, 2, 3]), 'json_range must be [low, high]'),
    (dict(json_query='n', json_range=[None]), 'json_range must be [low, high]'),
    (dict(json_query='n', json_range=[5, 1]), 'with low <= high, got [5, 1]'),
    (dict(json_query='n', json_range=[True, 5]), "probe 'api': json_range must be a number, got True."),
    (dict(json_query='n', json_range=['low', 5]), "json_range must be a number, got 'low'."),
    (dict(json_query='n', json_range=[0, float('inf')]), 'json_range must be a finite number'),
])
def test_bad_json_checks_are_refused_naming_the_probe(extra, message):
    raw = dict(name='api', type='http', url='http://x/')
    raw.update(extra)
    with pytest.raises(ProbeError) as info:
        validate_probes([raw])
    assert message in str(info.value)


def test_missing_jmespath_fails_only_probes_with_a_json_query(monkeypatch):
    monkeypatch.setattr(_probe_spec, 'jmespath', None)
    monkeypatch.setattr(_probe_spec, 'JMESPATH_IMPORT_ERROR', 'Traceback: No module named jmespath')
    assert validate_probes([dict(name='plain', type='http', url='http://x/')])[0]['url'] == 'http://x/'
    with pytest.raises(MissingLibraryError) as info:
        probe(json_equals='up')
    assert str(info.value) == ("probe 'api': json_query needs the Python library jmespath, which cannot be "
                               "imported (pip install jmespath).")
    assert info.value.library == 'jmespath' and info.value.reason == "for the json_query of probe 'api'"
    assert info.value.error == 'Traceback: No module named jmespath'


def test_the_import_of_jmespath_is_guarded():
    """In a fresh interpreter where jmespath cannot be imported, _probe_spec imports and says so when it is needed."""
    code = '\n'.join([
        'import sys',
        'sys.modules["jmespath"] = None  # an import of it raises ImportError',
        'from ansible_collections.chaos.engineering.plugins.module_utils import _probe_spec',
        'assert _probe_spec.jmespath is None and "jmespath" in _probe_spec.JMESPATH_IMPORT_ERROR',
        '_probe_spec.validate_probes([dict(name="plain", type="http", url="http://x/")])',
        'try:',
        '    _probe_spec.validate_probes([dict(name="a", type="http", url="http://x/", json_query="s", json_equals=1)])',
        'except _probe_spec.MissingLibraryError as exc:',
        '    print(exc)',
    ])
    collections = [p for p in sys.path if p.endswith(os.path.join('build', 'collections'))]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(collections))
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, env=env, timeout=60,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ("probe 'a': json_query needs the Python library jmespath, which cannot be "
                                   "imported (pip install jmespath).")


# ---------------------------------------------------------------------------------------------
# Matching a body


def test_equals_a_string_a_number_a_list():
    assert check('status', HEALTH, json_equals='up') == (True, 'status = "up"')
    assert check('status', dict(HEALTH, status='down'), json_equals='up') == (
        False, 'status = "down", expected "up"')
    assert check('queue.depth', HEALTH, json_equals=12) == (True, 'queue.depth = 12')
    assert check("workers[?state=='up'].name", HEALTH, json_equals=['w1', 'w3']) == (
        True, 'workers[?state==\'up\'].name = ["w1", "w3"]')
    assert check('queue', HEALTH, json_equals={'ratio': 0.5, 'depth': 12.0})[0] is True
    assert check('queue', HEALTH, json_equals={'depth': 12})[0] is False


def test_equals_is_json_equality_numbers_by_value_booleans_apart():
    assert check('count', HEALTH, json_equals=1.0)[0] is True  # 1 == 1.0
    assert check('count', HEALTH, json_equals=True) == (False, 'count = 1, expected true')  # Python says 1 == True
    assert check('ready', HEALTH, json_equals=1) == (False, 'ready = true, expected 1')
    assert check('ready', HEALTH, json_equals=True)[0] is True
    assert check('version', HEALTH, json_equals=12) == (False, 'version = "12", expected 12')
    assert check('[ready]', HEALTH, json_equals=[1])[0] is False
    assert check('{r: ready}', HEALTH, json_equals={'r': 1})[0] is False
    assert json_equal(0, False) is False and json_equal(None, False) is False and json_equal([], {}) is False
    assert json_equal({'a': [1, None]}, {'a': [1.0, None]}) is True


def test_a_missing_key_is_null():
    assert check('queue.missing', HEALTH, json_equals=None) == (True, 'queue.missing = null')
    assert check('queue.missing', HEALTH, json_equals=0) == (False, 'queue.missing = null, expected 0')
    assert check('queue.missing', HEALTH, json_range=[0, 10]) == (
        False, 'queue.missing = null, expected a number from 0 to 10')


def test_range_is_inclusive_and_needs_a_number():
    assert check('queue.depth', HEALTH, json_range=[0, 100]) == (True, 'queue.depth = 12')
    assert check('queue.depth', HEALTH, json_range=[12, 12])[0] is True
    assert check('queue.ratio', HEALTH, json_range=[0.5, 0.75])[0] is True
    assert check('queue.depth', HEALTH, json_range=[0, 11.5]) == (
        False, 'queue.depth = 12, expected a number from 0 to 11.5')
    assert check('queue.depth', HEALTH, json_range=[13, 100])[0] is False
    # A boolean is not a number, nor is a string of digits.
    assert check('ready', HEALTH, json_range=[0, 5]) == (False, 'ready = true, expected a number from 0 to 5')
    assert check('version', HEALTH, json_range=[0, 100]) == (
        False, 'version = "12", expected a number from 0 to 100')
    assert check('workers', HEALTH, json_range=[0, 100])[0] is False
    assert check('length(workers)', HEALTH, json_range=[3, 3]) == (True, 'length(workers) = 3')


def test_open_ranges():
    assert check('queue.depth', HEALTH, json_range=[None, 12])[0] is True
    assert check('queue.depth', HEALTH, json_range=[None, 11]) == (
        False, 'queue.depth = 12, expected a number of at most 11')
    assert check('queue.depth', HEALTH, json_range=[12, None])[0] is True
    assert check('queue.depth', HEALTH, json_range=[13, None]) == (
        False, 'queue.depth = 12, expected a number of at least 13')
    assert check('queue.depth', dict(HEALTH, queue={'depth': -1e300}), json_range=[None, None])[0] is True
    assert check('status', HEALTH, json_range=[None, None]) == (False, 'status = "up", expected a number')


def test_a_body_that_is_not_json():
    assert check('status', b'<html>down</html>', json_equals='up') == (
        False, 'the body is not JSON: Expecting value: line 1 column 1 (char 0)')
    assert check('status', b'', json_equals='up')[0] is False
    assert check('status', b'{"status": "up"', json_equals='up')[0] is False
    assert check('n', b'{"n": NaN}', json_range=[None, None]) == (
        False, 'the body is not JSON: NaN is not a JSON number')
    assert check('status', b'\xff\xfe\x00garbage', json_equals='up')[0] is False
    assert check('@', b'[' * 100000 + b']' * 100000, json_equals=[])[0] is False  # too deep: no RecursionError
    ok, detail = check('n', b'{"n": "' + b'x' * MAX_BODY_BYTES + b'"}', json_equals='x')
    assert ok is False and detail == 'the body is over %d bytes, too long to query' % MAX_BODY_BYTES
    # A JSON scalar is JSON too.
    assert check('@', b'42', json_range=[40, 50]) == (True, '@ = 42')


def test_a_query_that_fails_on_this_body():
    ok, detail = check('length(queue.depth)', HEALTH, json_equals=1)
    assert ok is False and detail.startswith('json_query length(queue.depth) failed: ')
    assert 'invalid type' in detail


def test_the_result_shown_is_cut_and_redacted():
    body = dict(HEALTH, blob='x' * 500, creds={'token': 'tok-very-secret', 'user': 'bob'},
                link='http://bob:pa55word@db.example.com/')
    ok, detail = check('blob', body, json_equals='y')
    shown = detail[len('blob = '):detail.index(', expected')]
    assert ok is False and len(shown) == 120 and shown.endswith('...') and shown.startswith('"xxx')
    ok, detail = check('creds', body, json_equals=None)
    assert 'tok-very-secret' not in detail and '"token": "%s"' % MARKER in detail and '"user": "bob"' in detail
    ok, detail = check('link', body, json_equals=None)
    assert 'pa55word' not in detail and 'db.example.com' in detail
    # A secret of the probe itself (a credential header) is masked in the result too.
    with_secret = validate_probes([dict(name='api', type='http', url='http://127.0.0.1:1/', json_query='echo',
                                        json_equals=None, headers={'X-Api-Key': 'key-hunter22'})])[0]
    ok, detail = json_check(with_secret, b'{"echo": "your key is key-hunter22"}', _probe_spec.probe_secrets([with_secret]))
    assert ok is False and 'hunter22' not in detail and detail == 'echo = "your key is %s", expected null' % MARKER


# ---------------------------------------------------------------------------------------------
# Through a real local HTTP server


class JsonHandler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass

    def do_GET(self):
        code, body = self.server.answers.get(self.path, (404, b'{"error": "not found"}'))
        self.send_response(code)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope='module')
def json_server():
    httpd = ThreadingHTTPServer(('127.0.0.1', 0), JsonHandler)
    httpd.daemon_threads = True
    httpd.answers = {
        '/health': (200, json.dumps(HEALTH).encode()),
        '/down': (503, json.dumps(dict(HEALTH, status='down')).encode()),
        '/html': (200, b'<html>up</html>'),
    }
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield 'http://127.0.0.1:%d' % httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


def http(url, **extra):
    raw = dict(name='api', type='http', url=url)
    raw.update(extra)
    return validate_probes([raw])[0]


def test_http_sample_judges_the_body_and_its_value_stays_the_latency(json_server):
    ok, value, detail = http_sample(http(json_server + '/health', json_query='queue.depth', json_range=[0, 100]))
    assert (ok, detail) == (True, 'HTTP 200, queue.depth = 12')
    assert isinstance(value, float) and value >= 0
    ok, value, detail = http_sample(http(json_server + '/health', json_query='status', json_equals='down'))
    assert (ok, detail) == (False, 'HTTP 200, status = "up", expected "down"') and isinstance(value, float)
    ok, value, detail = http_sample(http(json_server + '/html', json_query='status', json_equals='up'))
    assert (ok, detail) == (False, 'HTTP 200, the body is not JSON: Expecting value: line 1 column 1 (char 0)')


def test_http_sample_the_status_comes_first(json_server):
    # The body would match, but the status does not pass: the status is the reason, as without a json_query.
    ok, value, detail = http_sample(http(json_server + '/down', json_query='queue.depth', json_range=[0, 100]))
    assert (ok, detail) == (False, 'HTTP 503, expected 200') and value is not None
    # With 503 accepted, the body is judged.
    ok, dummy, detail = http_sample(http(json_server + '/down', status=[503], json_query='status', json_equals='up'))
    assert (ok, detail) == (False, 'HTTP 503, status = "down", expected "up"')
    ok, dummy, detail = http_sample(http(json_server + '/nope', status=[404], json_query='error',
                                         json_equals='not found'))
    assert (ok, detail) == (True, 'HTTP 404, error = "not found"')


def test_module_reports_the_json_check(json_server, run_module):
    result = run_module(probe_module, probes=[
        dict(name='depth', type='http', url=json_server + '/health', json_query='queue.depth', json_range=[None, 10]),
        dict(name='status', type='http', url=json_server + '/health', json_query='status', json_equals='up')],
        fail_fast=False)
    assert not result.get('failed') and result['ok'] is False and result['failed_probes'] == ['depth']
    by_probe = dict((s['probe'], s) for s in result['samples'])
    assert by_probe['depth']['detail'] == 'HTTP 200, queue.depth = 12, expected a number of at most 10'
    assert by_probe['status']['detail'] == 'HTTP 200, status = "up"' and by_probe['status']['ok'] is True


def test_module_bad_json_check_fails_clearly(run_module):
    result = run_module(probe_module, probes=[dict(name='api', type='http', url='http://x/', json_query='a[', json_equals=1)])
    assert result['failed'] is True and result['msg'].startswith(
        "probe 'api': json_query 'a[' is not a valid JMESPath expression: ")


def test_module_without_jmespath_fails_with_missing_required_lib(run_module, monkeypatch):
    monkeypatch.setattr(_probe_spec, 'jmespath', None)
    monkeypatch.setattr(_probe_spec, 'JMESPATH_IMPORT_ERROR', 'Traceback: No module named jmespath')
    result = run_module(probe_module, probes=[dict(name='api', type='http', url='http://x/', json_query='a', json_equals=1)])
    assert result['failed'] is True
    assert result['msg'].startswith('Failed to import the required Python library (jmespath) on ')
    assert "This is required for the json_query of probe 'api'." in result['msg']

"""Probes: definitions, one sample of each type (HTTP against a real local server), and the round logic."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import socket
import threading
import time

from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ansible_collections.chaos.engineering.plugins.module_utils import _docker, _k8s_client, _k8s_pods
from ansible_collections.chaos.engineering.plugins.module_utils._probe import (
    container_matches,
    containers_sample,
    pods_sample,
    ProbeRunner,
)
from ansible_collections.chaos.engineering.plugins.module_utils._probe_http import http_sample
from ansible_collections.chaos.engineering.plugins.module_utils._probe_spec import (
    needed_clients,
    ProbeError,
    validate_probes,
)
from ansible_collections.chaos.engineering.plugins.modules import probe as probe_module

ISO_MS = re.compile(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$')


# ---------------------------------------------------------------------------------------------
# A local HTTP server: /ok, /status/<code>, /slow/<ms>, /redirect, /hang


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass

    def _answer(self, code, body=b'ok\n', headers=None):
        self.send_response(code)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        if self.command != 'HEAD':
            self.wfile.write(body)

    def do_GET(self):
        self.server.seen.append((self.command, self.path))
        path = self.path
        if path == '/ok':
            self._answer(200)
        elif path.startswith('/status/'):
            self._answer(int(path.rsplit('/', 1)[1]))
        elif path.startswith('/slow/'):
            time.sleep(int(path.rsplit('/', 1)[1]) / 1000.0)
            self._answer(200)
        elif path == '/redirect':
            self._answer(302, b'', {'Location': '/ok'})
        elif path == '/hang':
            time.sleep(3)
            self._answer(200)
        else:
            self._answer(404)

    do_HEAD = do_GET
    do_POST = do_GET


@pytest.fixture(scope='module')
def server():
    httpd = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    httpd.daemon_threads = True
    httpd.seen = []
    httpd.handle_error = lambda request, address: None  # a client that timed out on /hang is expected
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield 'http://127.0.0.1:%d' % httpd.server_address[1], httpd
    httpd.shutdown()
    httpd.server_close()


def http(url, **extra):
    raw = dict(name='web', type='http', url=url)
    raw.update(extra)
    return validate_probes([raw])[0]


def test_http_200_passes_with_latency_value(server):
    base, dummy = server
    ok, value, detail = http_sample(http(base + '/ok'))
    assert ok is True and detail == 'HTTP 200'
    assert isinstance(value, float) and value >= 0


def test_http_unexpected_status_fails_and_expected_status_passes(server):
    base, dummy = server
    ok, value, detail = http_sample(http(base + '/status/503'))
    assert ok is False and detail == 'HTTP 503, expected 200'
    assert value is not None  # an answer came: its latency is known
    assert http_sample(http(base + '/status/503', status=[200, 503]))[0] is True
    assert http_sample(http(base + '/status/204', status=204))[0] is True


def test_http_latency_budget(server):
    base, dummy = server
    ok, value, detail = http_sample(http(base + '/slow/300', latency_ms=100))
    assert ok is False
    assert value >= 300  # the server slept 300 ms before answering
    assert 'over the 100 ms budget' in detail and detail.startswith('HTTP 200 in ')
    assert http_sample(http(base + '/slow/50', latency_ms=5000))[0] is True


def test_http_timeout_fails_without_value(server):
    base, dummy = server
    ok, value, detail = http_sample(http(base + '/hang', timeout=0.3))
    assert (ok, value, detail) == (False, None, 'timed out after 0.3s')


def test_http_connection_refused_fails_with_the_error():
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    ok, value, detail = http_sample(http('http://127.0.0.1:%d/' % port))
    assert ok is False and value is None
    assert detail.startswith('error: ') and 'refused' in detail.lower()


def test_http_method_and_redirects(server):
    base, httpd = server
    assert http_sample(http(base + '/ok', method='head'))[0] is True
    assert ('HEAD', '/ok') in httpd.seen
    ok, dummy, detail = http_sample(http(base + '/redirect'))
    assert ok is True and detail == 'HTTP 200'  # followed to /ok


def test_https_against_a_plain_http_server_is_an_error_not_a_crash(server):
    base, dummy = server
    ok, value, detail = http_sample(http(base.replace('http://', 'https://') + '/ok', timeout=2, validate_certs=False))
    assert ok is False and value is None and detail.startswith('error: ')


# ---------------------------------------------------------------------------------------------
# Definitions


def test_defaults_are_filled_in():
    probes = validate_probes([
        dict(name='a', type='http', url='http://x/'),
        dict(name='b', type='containers'),
        dict(name='c', type='pods', namespace='shop', label_selector='app=web'),
    ])
    assert probes[0] == dict(name='a', type='http', url='http://x/', method='GET', status=[200], latency_ms=None,
                             timeout=5.0, validate_certs=True)
    assert probes[1] == dict(name='b', type='containers', min_running=1,
                             selection=dict(names=None, name_pattern=None, labels=None, exclude_labels=None))
    assert probes[2] == dict(name='c', type='pods', namespace='shop', label_selector='app=web', min_ready=1)


@pytest.mark.parametrize('raw, message', [
    (dict(name='a', type='tcp'), "probe 'a': type must be one of http, containers, pods, prometheus, got 'tcp'."),
    (dict(name='a'), "probe 'a': type must be one of http, containers, pods, prometheus, got None."),
    (dict(type='http', url='http://x/'), 'probes[0] needs a name.'),
    (dict(name='a', type='http'), "probe 'a': an http probe needs a url or a service."),
    (dict(name='a', type='http', url='ftp://x/'), "url must start with http:// or https://"),
    (dict(name='a', type='http', url='http://x/', status=[99]), 'status must be at least 100'),
    (dict(name='a', type='http', url='http://x/', latency_ms=0), 'latency_ms must be greater than 0'),
    (dict(name='a', type='http', url='http://x/', timeout='soon'), 'timeout must be a number'),
    (dict(name='a', type='http', url='http://x/', method='FETCH'), 'method must be one of'),
    (dict(name='a', type='http', url='http://x/', min_running=2), 'unknown keys for a http probe: min_running'),
    (dict(name='a', type='containers', selection=dict(label={'app': 'web'})), 'unknown selection keys label'),
    (dict(name='a', type='containers', selection=dict(name_pattern='(')), 'is not a valid regular expression'),
    (dict(name='a', type='containers', min_running=-1), 'min_running must be at least 0'),
    (dict(name='a', type='pods', min_ready='x'), 'min_ready must be an integer'),
    (dict(name='a', type='pods', namespace=['a']), 'namespace must be a string'),
    ('http://x/', 'probes[0] must be a dictionary'),
])
def test_bad_definitions_are_refused_clearly(raw, message):
    with pytest.raises(ProbeError) as info:
        validate_probes([raw])
    assert message in str(info.value)


def test_names_are_unique_and_a_probe_is_required():
    with pytest.raises(ProbeError, match='used twice'):
        validate_probes([dict(name='a', type='containers'), dict(name='a', type='pods')])
    with pytest.raises(ProbeError, match='at least one probe'):
        validate_probes([])


def test_only_the_needed_connections():
    assert needed_clients(validate_probes([dict(name='a', type='http', url='http://x/')])) == set()
    assert needed_clients(validate_probes([dict(name='a', type='containers'), dict(name='b', type='pods')])) == \
        set(['docker', 'k8s'])


# ---------------------------------------------------------------------------------------------
# Containers and pods, with fakes

RUNNING = [
    dict(id='a' * 64, name='web-1', labels={'app': 'web'}, state='running'),
    dict(id='b' * 64, name='web-2', labels={'app': 'web', 'chaos.engineering/protected': 'true'}, state='running'),
    dict(id='c' * 64, name='web-canary', labels={'app': 'web', 'track': 'canary'}, state='running'),
    dict(id='d' * 64, name='db-1', labels={'app': 'db'}, state='running'),
    dict(id='e' * 64, name='chaos-helper', labels={'app': 'web', 'chaos.engineering/helper': 'true'}, state='running'),
]


def containers(selection=None, min_running=1):
    return validate_probes([dict(name='c', type='containers', selection=selection, min_running=min_running)])[0]


def test_containers_count_matching_running_containers_protected_included_helpers_not():
    ok, value, detail = containers_sample(containers(dict(labels={'app': 'web'}), min_running=3), lambda: RUNNING)
    assert (ok, value) == (True, 3)
    assert detail == '3 running (min 3): web-1, web-2, web-canary'
    ok, value, detail = containers_sample(containers(dict(labels={'app': 'web'}), min_running=4), lambda: RUNNING)
    assert (ok, value) == (False, 3)


def test_container_selection_keys():
    assert containers_sample(containers(dict(labels={'app': 'web'}, exclude_labels={'track': 'canary'})),
                             lambda: RUNNING)[1] == 2
    assert containers_sample(containers(dict(name_pattern='^web-\\d')), lambda: RUNNING)[1] == 2
    assert containers_sample(containers(dict(names=['db-1', 'c' * 12])), lambda: RUNNING)[1] == 2
    assert containers_sample(containers(None), lambda: RUNNING)[1] == 4  # everything but the helper
    assert not container_matches(RUNNING[4], dict())


def test_containers_zero_minimum_and_listing_errors():
    assert containers_sample(containers(dict(labels={'app': 'none'}), min_running=0), lambda: RUNNING) == \
        (True, 0, '0 running (min 0)')

    def broken():
        raise RuntimeError('engine gone')
    assert containers_sample(containers(), broken) == (False, None, 'error listing containers: engine gone')


def pod(name, ready=True, terminating=False, phase='Running'):
    meta = dict(name=name, namespace='shop')
    if terminating:
        meta['deletionTimestamp'] = '2026-11-27T10:00:00Z'
    return dict(metadata=meta, status=dict(phase=phase, conditions=[dict(type='Ready', status='True' if ready else 'False')]))


def test_pods_count_ready_not_terminating():
    pods = [pod('web-0'), pod('web-1', ready=False), pod('web-2', terminating=True), pod('web-3')]
    calls = []

    def list_pods(namespace, selector):
        calls.append((namespace, selector))
        return pods
    probe = validate_probes([dict(name='p', type='pods', namespace='shop', label_selector='app=web', min_ready=2)])[0]
    ok, value, detail = pods_sample(probe, list_pods, _k8s_pods.pod_is_ready)
    assert (ok, value, detail) == (True, 2, '2 ready of 4 (min 2): web-0, web-3')
    assert calls == [('shop', 'app=web')]
    probe['min_ready'] = 3
    assert pods_sample(probe, list_pods, _k8s_pods.pod_is_ready)[0] is False


def test_pods_listing_error_fails_the_sample():
    def list_pods(namespace, selector):
        raise _k8s_client.K8sConnectionError('Cannot reach the Kubernetes API')
    probe = validate_probes([dict(name='p', type='pods')])[0]
    assert pods_sample(probe, list_pods, _k8s_pods.pod_is_ready) == (False, None, 'error listing pods: Cannot reach the Kubernetes API')


# ---------------------------------------------------------------------------------------------
# Rounds, with a fake clock


class FakeClock:
    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def clock(self):
        return self.now

    def wall(self):
        return 1795000000.0 + self.now

    def sleep(self, seconds):
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


def scripted(outcomes, clock, cost=0.0):
    """A sampler returning the scripted outcomes (True/False/Exception) per probe name, round after round."""
    counters = {}

    def sample(probe):
        index = counters.get(probe['name'], 0)
        counters[probe['name']] = index + 1
        clock.now += cost
        script = outcomes[probe['name']]
        outcome = script[min(index, len(script) - 1)]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome, index, 'sample %d' % index
    return sample


PROBES = [dict(name='a', type='http'), dict(name='b', type='http')]


def runner(outcomes, clock, cost=0.0, **kwargs):
    return ProbeRunner(PROBES, dict(http=scripted(outcomes, clock, cost)), clock=clock.clock, wall=clock.wall,
                       sleep=clock.sleep, **kwargs)


def test_one_round_without_duration():
    clock = FakeClock()
    result = runner(dict(a=[True], b=[True]), clock, phase='before').run()
    assert result['ok'] is True and result['rounds'] == 1 and result['failed_probes'] == []
    assert result['recovered_after'] is None and clock.sleeps == []
    assert [(s['probe'], s['phase'], s['ok'], s['value'], s['type']) for s in result['samples']] == \
        [('a', 'before', True, 0, 'http'), ('b', 'before', True, 0, 'http')]
    assert all(ISO_MS.match(s['at']) for s in result['samples'])


def test_duration_and_interval_give_rounds_on_a_fixed_cadence():
    clock = FakeClock()
    result = runner(dict(a=[True], b=[True]), clock, cost=0.1, duration=3, interval=1).run()
    assert result['ok'] is True and result['rounds'] == 4  # at 0, 1, 2 and 3 s
    assert len(result['samples']) == 8
    assert clock.sleeps == [0.8, 0.8, 0.8]  # each round took 0.2 s of the 1 s interval


def test_a_slow_round_is_followed_at_once():
    clock = FakeClock()
    result = runner(dict(a=[True], b=[True]), clock, cost=0.75, duration=3, interval=1).run()
    # Each round takes 1.5 s: rounds start at 0, 1.5 and 3.0 s (late for their 1 s cadence: no sleep), and
    # the round at 3.0 s is the last one within the 3 s duration.
    assert clock.sleeps == []
    assert result['rounds'] == 3


def test_fail_fast_stops_at_the_first_failed_sample():
    clock = FakeClock()
    result = runner(dict(a=[True, False, True], b=[True]), clock, duration=10, interval=1).run()
    assert result['ok'] is False and result['rounds'] == 2 and result['failed_probes'] == ['a']
    # Round 2 stopped at a's failure: b was not sampled again.
    assert [(s['probe'], s['ok']) for s in result['samples']] == [('a', True), ('b', True), ('a', False)]


def test_without_fail_fast_every_round_runs_and_all_failures_count():
    clock = FakeClock()
    result = runner(dict(a=[True, False, True], b=[True, True, True, False]), clock, duration=3, interval=1,
                    fail_fast=False).run()
    assert result['rounds'] == 4 and len(result['samples']) == 8
    assert result['ok'] is False and result['failed_probes'] == ['a', 'b']
    assert result['recovered_after'] is None


def test_retries_until_ok_reports_the_first_all_ok_round():
    clock = FakeClock()
    result = runner(dict(a=[False, True, True], b=[False, False, True]), clock, duration=30, interval=1,
                    retries_until_ok=True).run()
    assert result['ok'] is True and result['failed_probes'] == []
    assert result['rounds'] == 3 and result['recovered_after'] == 2.0
    assert len(result['samples']) == 6  # whole rounds, even when a probe failed (fail_fast does not apply)


def test_retries_until_ok_already_fine_is_zero():
    clock = FakeClock()
    result = runner(dict(a=[True], b=[True]), clock, duration=30, retries_until_ok=True).run()
    assert (result['ok'], result['rounds'], result['recovered_after']) == (True, 1, 0.0)


def test_retries_until_ok_that_never_recovers():
    clock = FakeClock()
    result = runner(dict(a=[False, True], b=[True, True, False]), clock, duration=4, interval=2,
                    retries_until_ok=True).run()
    # Rounds at 0 (a fails), 2 (ok!) -> recovered.
    assert result['recovered_after'] == 2.0 and result['ok'] is True
    clock = FakeClock()
    result = runner(dict(a=[False], b=[True, False]), clock, duration=4, interval=2, retries_until_ok=True).run()
    assert result['rounds'] == 3 and result['ok'] is False
    assert result['recovered_after'] is None
    assert result['failed_probes'] == ['a', 'b']  # those failing in the last round


def test_a_sampler_exception_is_a_failed_sample():
    clock = FakeClock()
    result = runner(dict(a=[RuntimeError('boom')], b=[True]), clock, fail_fast=False).run()
    assert result['ok'] is False
    assert result['samples'][0]['detail'] == 'error: boom' and result['samples'][0]['value'] is None


def test_zero_interval_still_ends():
    clock = FakeClock()
    result = runner(dict(a=[True], b=[True]), clock, cost=0.5, duration=2, interval=0).run()
    assert result['rounds'] == 3  # at 0, 1 and 2 s: each round takes 1 s


# ---------------------------------------------------------------------------------------------
# The module


def refuse(*args, **kwargs):
    raise AssertionError('no connection should be made')


def test_module_http_only_connects_to_nothing(server, run_module, monkeypatch):
    base, dummy = server
    monkeypatch.setattr(_docker, 'make_client', refuse)
    monkeypatch.setattr(_k8s_client, 'make_client', refuse)
    result = run_module(probe_module, check_mode=True, phase='before',
                        probes=[dict(name='web', type='http', url=base + '/ok', latency_ms=5000)])
    assert result['changed'] is False and result['ok'] is True and not result.get('failed')
    assert result['rounds'] == 1 and result['failed_probes'] == [] and result['recovered_after'] is None
    assert result['samples'][0]['phase'] == 'before' and result['samples'][0]['detail'] == 'HTTP 200'


def test_module_reports_or_raises_a_failed_probe(server, run_module):
    base, dummy = server
    probes = [dict(name='web', type='http', url=base + '/status/500')]
    result = run_module(probe_module, probes=probes)
    assert not result.get('failed') and result['ok'] is False and result['failed_probes'] == ['web']
    result = run_module(probe_module, probes=probes, fail_on_failure=True)
    assert result['failed'] is True and result['failed_probes'] == ['web']
    assert result['msg'] == 'Steady state not met (phase steady): web: HTTP 500, expected 200.'


def test_module_bad_definition_fails_clearly(run_module):
    result = run_module(probe_module, probes=[dict(name='web', type='http')])
    assert result['failed'] is True and result['msg'] == "probe 'web': an http probe needs a url or a service."
    result = run_module(probe_module, probes=[dict(name='web', type='http', url='http://x/')], interval=0)
    assert result['failed'] is True and 'interval must be more than 0' in result['msg']


def test_module_containers_use_the_docker_connection(run_module, monkeypatch):
    seen = {}

    class FakeClient:
        def containers(self, all=False):  # pylint: disable=redefined-builtin
            seen['all'] = all
            return [dict(Id='a' * 64, Names=['/web-1'], Labels={'app': 'web'}, State='running'),
                    dict(Id='b' * 64, Names=['/web-2'], Labels={'app': 'web'}, State='running')]

    def make_client(conn, pool_size=10):
        seen['conn'] = conn
        return FakeClient()
    monkeypatch.setattr(_docker, 'make_client', make_client)
    monkeypatch.setattr(_k8s_client, 'make_client', refuse)
    monkeypatch.setenv('DOCKER_TLS_VERIFY', '1')
    result = run_module(probe_module, docker_host='tcp://engine:2376', ledger_dir='/tmp/unused',
                        probes=[dict(name='web', type='containers', selection=dict(labels=dict(app='web')),
                                     min_running=2)])
    assert result['ok'] is True and result['samples'][0]['value'] == 2
    assert seen['conn']['docker_host'] == 'tcp://engine:2376'
    assert seen['conn']['validate_certs'] is True  # from DOCKER_TLS_VERIFY, as the container modules read it
    assert seen['all'] is False


def test_module_pods_use_the_k8s_connection(run_module, monkeypatch):
    seen = {}

    class FakeK8s:
        def list_pods(self, namespace=None, label_selector=None, field_selector=None):
            seen['list'] = (namespace, label_selector)
            return [pod('web-0'), pod('web-1', ready=False)]

    monkeypatch.setattr(_docker, 'make_client', refuse)
    monkeypatch.setattr(_k8s_client, 'make_client', lambda auth, **kwargs: (seen.setdefault('auth', auth), FakeK8s())[1])
    result = run_module(probe_module, kubeconfig='/nowhere/kubeconfig', context='bed', verify_ssl=False,
                        probes=[dict(name='web', type='pods', namespace='shop', label_selector='app=web')])
    assert result['ok'] is True and result['samples'][0]['value'] == 1
    assert seen['list'] == ('shop', 'app=web')
    assert seen['auth']['kubeconfig'] == '/nowhere/kubeconfig' and seen['auth']['validate_certs'] is False

"""prometheus probes against a real Prometheus (Debian's package, through hack/prometheus.sh), run as a throwaway
process on a free local port, scraping every second a tiny exporter that this test controls.

Each change of the exported value is waited for in Prometheus itself (a query until it answers the new value), and
a change while a module samples is made once Prometheus' query log shows the module's first query: no fixed sleeps.
"""
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading

from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlencode
from urllib.request import urlopen

import pytest

from helpers import ROOT, run_module_play, run_plays, wait_until

pytestmark = pytest.mark.integration

# Two series: every one must pass.
METRIC = 'chaos_test_value'


class Exporter:
    """Serves METRIC{series="a"} and METRIC{series="b"} in Prometheus' text format, with values the test sets."""

    def __init__(self):
        self.values = dict(a=5, b=7)
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                body = ''.join('%s{series="%s"} %s\n' % (METRIC, name, value)
                               for name, value in sorted(exporter.values.items())).encode()
                self.send_response(200)
                self.send_header('Content-Type', 'text/plain; version=0.0.4')
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def address(self):
        return '127.0.0.1:%d' % self.server.server_address[1]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def free_port():
    """A port of 127.0.0.1 that nothing listens on (checked: a connection to it is refused)."""
    for dummy in range(20):
        with socket.socket() as probe:
            probe.bind(('127.0.0.1', 0))
            port = probe.getsockname()[1]
        with socket.socket() as check:
            check.settimeout(1)
            if check.connect_ex(('127.0.0.1', port)) != 0:
                return port
    raise AssertionError('no free port found on 127.0.0.1')


def prometheus_binary():
    proc = subprocess.run(['bash', os.path.join(ROOT, 'hack', 'prometheus.sh')], capture_output=True, text=True,
                          check=False, timeout=600)
    if proc.returncode != 0:
        pytest.skip('no Prometheus: hack/prometheus.sh says %s' % proc.stderr.strip()[-500:])
    return proc.stdout.strip().splitlines()[-1]


class Prometheus:
    def __init__(self, binary, exporter):
        self.exporter = exporter
        self.dir = tempfile.mkdtemp(prefix='chaos-prometheus-')
        self.query_log = os.path.join(self.dir, 'query.log')
        config = os.path.join(self.dir, 'prometheus.yml')
        settings = {'global': {'scrape_interval': '1s', 'evaluation_interval': '1s', 'query_log_file': self.query_log},
                    'scrape_configs': [{'job_name': 'chaos-test', 'static_configs': [{'targets': [exporter.address]}]}]}
        with open(config, 'w') as handle:
            json.dump(settings, handle)  # JSON is YAML
        self.port = free_port()
        self.url = 'http://127.0.0.1:%d' % self.port
        self.log = open(os.path.join(self.dir, 'prometheus.log'), 'w')
        self.proc = subprocess.Popen(
            [binary, '--config.file=' + config, '--storage.tsdb.path=' + os.path.join(self.dir, 'data'),
             '--web.listen-address=127.0.0.1:%d' % self.port, '--log.level=warn'],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def query(self, promql):
        with urlopen('%s/api/v1/query?%s' % (self.url, urlencode({'query': promql})), timeout=5) as answer:
            return json.load(answer)['data']['result']

    def scraped(self, **values):
        """Whether Prometheus answers exactly these values of the exporter's series now."""
        try:
            seen = dict((s['metric']['series'], float(s['value'][1])) for s in self.query(METRIC))
        except OSError:
            return False
        return seen == dict((k, float(v)) for k, v in values.items())

    def export(self, timeout=30, **values):
        """Export these values and wait until Prometheus has scraped them."""
        self.exporter.values.update(values)
        assert wait_until(lambda: self.scraped(**self.exporter.values), timeout, interval=0.2), (
            'Prometheus did not scrape %s within %s s' % (self.exporter.values, timeout))

    def queried(self, promql):
        """Whether Prometheus' query log has a query of exactly this expression."""
        try:
            with open(self.query_log) as handle:
                return any(json.loads(line).get('params', {}).get('query') == promql for line in handle if line.strip())
        except (OSError, ValueError):
            return False

    def export_once_queried(self, promql, timeout=60, **values):
        """In a thread: once ``promql`` was queried, export these values (the module is then sampling)."""
        def change():
            if wait_until(lambda: self.queried(promql), timeout, interval=0.1):
                self.exporter.values.update(values)
        thread = threading.Thread(target=change, daemon=True)
        thread.start()
        return thread

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope='module')
def prometheus():
    binary = prometheus_binary()
    exporter = Exporter()
    server = Prometheus(binary, exporter)
    try:
        def ready():
            assert server.proc.poll() is None, 'Prometheus exited: see %s' % server.log.name
            try:
                with urlopen(server.url + '/-/ready', timeout=2) as answer:
                    return answer.status == 200
            except OSError:
                return False
        assert wait_until(ready, 60, interval=0.1)
        server.export(**exporter.values)
        yield server
    finally:
        server.close()
        exporter.close()


def samples_of(result, name):
    return [s for s in result['samples'] if s['probe'] == name]


def test_pass_a_syntax_error_and_an_unreachable_prometheus_in_one_round(prometheus, tmp_path):
    prometheus.export(a=5, b=7)
    nobody = 'http://127.0.0.1:%d' % free_port()
    result = run_module_play(tmp_path, 'probe', dict(fail_fast=False, probes=[
        dict(name='every series', type='prometheus', url=prometheus.url, query=METRIC, value_range=[0, 10]),
        dict(name='by POST', type='prometheus', url=prometheus.url + '/', method='POST',
             query='sum(%s)' % METRIC, value_equals=12),
        dict(name='typo', type='prometheus', url=prometheus.url, query='rate(%s[1m' % METRIC, value_range=[0, 1]),
        dict(name='nobody', type='prometheus', url=nobody, query=METRIC, value_range=[0, 10], timeout=3),
        dict(name='nothing', type='prometheus', url=prometheus.url, query='%s{series="z"}' % METRIC,
             value_range=[0, 10]),
    ]))
    assert 'exception' not in result, result
    assert result['changed'] is False and result['ok'] is False
    assert result['failed_probes'] == ['typo', 'nobody', 'nothing']
    every, post, typo, nobody_sample, nothing = result['samples']
    # Both series pass; the value is the one closest to the edge of [0, 10], 7.
    assert (every['ok'], every['value'], every['type']) == (True, 7.0, 'prometheus')
    assert every['detail'].startswith('%s: 2 series, all from 0 to 10; the closest to the edge' % METRIC)
    assert 'series="b"' in every['detail']
    assert (post['ok'], post['value'], post['detail']) == (True, 12.0, 'sum(%s) = 12' % METRIC)
    assert (typo['ok'], typo['value']) == (False, None)
    assert typo['detail'].startswith('rate(%s[1m: HTTP 400, Prometheus error bad_data: ' % METRIC)
    assert 'parse error' in typo['detail']
    assert (nobody_sample['ok'], nobody_sample['value']) == (False, None)
    assert nobody_sample['detail'].startswith('no answer from Prometheus at %s: ' % nobody)
    assert (nothing['ok'], nothing['detail']) == (False, '%s{series="z"}: query returned no series' % METRIC)


def test_sampling_sees_the_value_go_out_of_range_and_come_back(prometheus, tmp_path):
    """One play: a probe with duration (fail_fast) while a goes 5 -> 50, then one with retries_until_ok while it goes
    back 50 -> 5. Each change is made once Prometheus has seen that task's first query."""
    prometheus.export(a=5, b=7)
    out_query, back_query = '%s + 0' % METRIC, '%s * 1' % METRIC
    changer = prometheus.export_once_queried(out_query, a=50)
    result_file = str(tmp_path / 'probes.json')

    def probe_task(phase, query, **args):
        return {'chaos.engineering.probe': dict(args, phase=phase, duration=30, interval=0.5, probes=[
            dict(name='value', type='prometheus', url=prometheus.url, query=query, value_range=[None, 10])]),
            'register': phase}

    def back_when_queried():
        changer.join(60)
        prometheus.export_once_queried(back_query, a=5).join(60)
    back = threading.Thread(target=back_when_queried, daemon=True)
    back.start()
    proc = run_plays(tmp_path, [dict(name='probes', hosts='localhost', gather_facts=False, tasks=[
        probe_task('during', out_query), probe_task('after', back_query, retries_until_ok=True),
        {'ansible.builtin.copy': dict(content='{{ dict(during=during, after=after) | to_json }}', dest=result_file,
                                      mode='0600')}])])
    back.join(5)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    with open(result_file) as handle:
        outcome = json.load(handle)

    during = outcome['during']
    assert during['ok'] is False and during['failed_probes'] == ['value'], during
    samples = samples_of(during, 'value')
    # fail_fast: sampled while a=5 (passing, the worst 7), then stopped at the first sample that saw a=50.
    assert len(samples) >= 2 and all(s['ok'] and s['value'] == 7.0 for s in samples[:-1]), samples
    last = samples[-1]
    assert (last['ok'], last['value'], last['phase']) == (False, 50.0, 'during')
    assert last['detail'] == '%s: 1 of 2 series fail (expected at most 10): {instance="%s", job="chaos-test", ' \
        'series="a"} = 50' % (out_query, prometheus.exporter.address)

    after = outcome['after']
    assert after['ok'] is True and after['failed_probes'] == [], after
    samples = samples_of(after, 'value')
    assert samples[0]['ok'] is False and samples[0]['value'] == 50.0
    assert samples[-1]['ok'] is True and samples[-1]['value'] == 7.0
    assert after['recovered_after'] is not None and after['recovered_after'] > 0


def test_the_sampler_samples_a_prometheus_probe_in_the_background(prometheus, tmp_path):
    prometheus.export(a=5, b=7)
    ledger = str(tmp_path / 'ledger')
    run_id = 'prom-%d' % os.getpid()
    probes = [dict(name='value', type='prometheus', url=prometheus.url, query='max(%s)' % METRIC,
                   value_range=[None, 10])]
    common = dict(run_id=run_id, ledger_dir=ledger)
    result_file = str(tmp_path / 'sampler.json')
    proc = run_plays(tmp_path, [dict(name='sampler', hosts='localhost', gather_facts=False, tasks=[
        {'chaos.engineering.sampler': dict(common, state='started', probes=probes, interval=0.5, lease=0)},
        {'chaos.engineering.sampler': dict(common, state='watched', wait=30, until='held', min_samples=2),
         'register': 'watched'},
        {'chaos.engineering.sampler': dict(common, state='stopped'), 'register': 'stopped'},
        {'ansible.builtin.copy': dict(content='{{ dict(watched=watched, stopped=stopped) | to_json }}',
                                      dest=result_file, mode='0600')}])])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    with open(result_file) as handle:
        outcome = json.load(handle)
    samples = outcome['stopped']['samples']
    assert len(samples) >= 2, outcome
    assert all(s['probe'] == 'value' and s['type'] == 'prometheus' and s['ok'] and s['value'] == 7.0
               for s in samples), samples
    assert samples[0]['detail'] == 'max(%s) = 7' % METRIC

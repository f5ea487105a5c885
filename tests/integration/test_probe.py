"""chaos.engineering.probe against the private Docker engines: real containers, a real HTTP server in a container.

Every expectation is checked against what the engine says (the Docker SDK), never against the module alone.
"""
import json
import os
import threading
import uuid

import pytest

from helpers import BUSYBOX, TEST_LABEL, ansible_playbook_argv, playbook_env, start_containers, wait_until, write

pytestmark = pytest.mark.integration

HTTPD = 'mkdir -p /www && echo steady > /www/index.html && exec httpd -f -p 80 -h /www'


def running_by_label(engine, run_id, extra=None):
    """How many containers of this test are running, as the engine says."""
    filters = {'label': ['%s=%s' % (TEST_LABEL, run_id)] + ['%s=%s' % kv for kv in (extra or {}).items()],
               'status': 'running'}
    return len(engine.containers.list(filters=filters))


def test_containers_probe_counts_running_containers_on_the_engine(engine, run_id, run_module):
    web = start_containers(engine, run_id, ['web-1', 'web-2', 'web-3'], labels={'app': 'web'})
    start_containers(engine, run_id, ['shield'], labels={'app': 'web', 'chaos.engineering/protected': 'true'})
    start_containers(engine, run_id, ['db'], labels={'app': 'db'})
    selection = {'labels': {TEST_LABEL: run_id, 'app': 'web'}}
    assert running_by_label(engine, run_id, {'app': 'web'}) == 4

    result = run_module('probe', dict(phase='before', probes=[
        dict(name='web', type='containers', selection=selection, min_running=4),
        dict(name='db', type='containers', selection={'labels': {TEST_LABEL: run_id}, 'name_pattern': '^db-'}),
    ]))
    assert not result.get('failed'), result
    assert result['changed'] is False and result['ok'] is True and result['rounds'] == 1
    by_probe = dict((s['probe'], s) for s in result['samples'])
    # The protected container counts: a probe only looks.
    assert by_probe['web']['value'] == 4 and by_probe['web']['phase'] == 'before'
    assert by_probe['db']['value'] == 1 and by_probe['db']['ok'] is True

    # Kill one and pause one: the engine says 2 are running, and so must the probe.
    web['web-1'].kill()
    web['web-2'].pause()
    assert wait_until(lambda: running_by_label(engine, run_id, {'app': 'web'}) == 2, 30)
    result = run_module('probe', dict(phase='during', probes=[
        dict(name='web', type='containers', selection=selection, min_running=3)]))
    assert not result.get('failed'), result
    assert result['ok'] is False and result['failed_probes'] == ['web']
    sample = result['samples'][0]
    assert (sample['ok'], sample['value'], sample['phase']) == (False, 2, 'during')
    assert sample['detail'].startswith('2 running (min 3): ')
    assert 'web-1-%s' % run_id not in sample['detail'] and 'web-3-%s' % run_id in sample['detail']

    # fail_on_failure turns the same observation into a failed task.
    result = run_module('probe', dict(fail_on_failure=True, probes=[
        dict(name='web', type='containers', selection=selection, min_running=3)]))
    assert result['failed'] is True and result['failed_probes'] == ['web']
    assert result['msg'].startswith('Steady state not met (phase steady): web: 2 running (min 3)')
    web['web-2'].unpause()


def test_probe_in_check_mode_runs_and_reports_the_same(engine, run_id, run_module):
    start_containers(engine, run_id, ['one'], labels={'app': 'checked'})
    result = run_module('probe', dict(probes=[dict(name='one', type='containers', selection={
        'labels': {TEST_LABEL: run_id, 'app': 'checked'}})]), check=True)
    assert not result.get('failed'), result
    assert result['ok'] is True and result['samples'][0]['value'] == 1


@pytest.fixture
def httpd(engine, run_id, bed):
    """busybox httpd in a container on engine 1 with a published port; returns (container, base URL)."""
    container = engine.containers.run(BUSYBOX, ['sh', '-c', HTTPD], name='httpd-%s' % run_id, detach=True,
                                      labels={TEST_LABEL: run_id, 'app': 'httpd'}, ports={'80/tcp': None})
    container.reload()
    port = container.attrs['NetworkSettings']['Ports']['80/tcp'][0]['HostPort']
    base = 'http://%s:%s' % (bed['env']['CHAOS_BED_IP_1'], port)

    def answers():
        import urllib.request  # pylint: disable=import-outside-toplevel
        try:
            return urllib.request.urlopen(base + '/', timeout=1).status == 200
        except OSError:
            return False
    assert wait_until(answers, 30), 'httpd in %s never answered at %s' % (container.name, base)
    return container, base


def test_http_probe_against_a_container_with_a_published_port(httpd, run_module):
    dummy, base = httpd
    result = run_module('probe', dict(duration=1, interval=0.5, probes=[
        dict(name='home', type='http', url=base + '/', latency_ms=5000),
        dict(name='missing', type='http', url=base + '/nope', status=[404]),
    ]))
    assert not result.get('failed'), result
    assert result['ok'] is True and result['rounds'] == 3 and len(result['samples']) == 6
    home = [s for s in result['samples'] if s['probe'] == 'home']
    assert all(s['detail'] == 'HTTP 200' and s['value'] > 0 for s in home)
    assert [s['detail'] for s in result['samples'] if s['probe'] == 'missing'] == ['HTTP 404'] * 3

    result = run_module('probe', dict(probes=[dict(name='missing', type='http', url=base + '/nope')]))
    assert result['ok'] is False and result['samples'][0]['detail'] == 'HTTP 404, expected 200'


def test_http_probe_fails_fast_on_a_paused_server(httpd, run_module):
    container, base = httpd
    container.pause()
    try:
        result = run_module('probe', dict(phase='during', duration=30, interval=1, probes=[
            dict(name='home', type='http', url=base + '/', timeout=1)]))
    finally:
        container.unpause()
    assert not result.get('failed'), result
    # The first sample timed out and sampling stopped there, long before the 30 s duration.
    assert result['ok'] is False and result['rounds'] == 1 and len(result['samples']) == 1
    assert result['samples'][0]['detail'] == 'timed out after 1s' and result['samples'][0]['value'] is None


def test_retries_until_ok_measures_recovery_of_a_paused_server(httpd, run_module, tmp_path, bed):
    """The server is paused when the probe starts and unpaused while it samples."""
    container, base = httpd
    container.pause()
    marker = str(tmp_path / 'probe-starting')
    result_file = str(tmp_path / 'result.json')
    playbook = write(str(tmp_path / 'recover.yml'), '''\
        - name: Verify recovery
          hosts: localhost
          gather_facts: false
          tasks:
            - name: Tell the test the probe starts now
              ansible.builtin.file:
                path: "{{ marker }}"
                state: touch
                mode: "0600"
            - name: Wait for the steady state to come back
              chaos.engineering.probe:
                phase: after
                retries_until_ok: true
                duration: 120
                interval: 0.5
                probes:
                  - name: home
                    type: http
                    url: "{{ url }}"
                    timeout: 1
              register: outcome
            - name: Keep the result
              ansible.builtin.copy:
                content: "{{ outcome | to_json }}"
                dest: "{{ result_file }}"
                mode: "0600"
        ''')
    extra = str(tmp_path / 'vars.json')
    with open(extra, 'w') as handle:
        json.dump(dict(marker=marker, url=base + '/', result_file=result_file), handle)
    unpaused = threading.Event()

    def unpause_later():
        # Long enough after the marker for the module to start and take its first (timed-out) samples.
        if wait_until(lambda: os.path.exists(marker), 120) and not unpaused.wait(6):
            container.unpause()
            unpaused.set()
    worker = threading.Thread(target=unpause_later, daemon=True)
    worker.start()
    import subprocess  # pylint: disable=import-outside-toplevel
    proc = subprocess.run(ansible_playbook_argv(playbook, extra), capture_output=True, text=True,
                          env=playbook_env(), cwd=str(tmp_path), timeout=300, check=False)
    worker.join(10)
    if not unpaused.is_set():
        unpaused.set()
        container.unpause()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with open(result_file) as handle:
        result = json.load(handle)
    samples = result['samples']
    assert samples[0]['ok'] is False and samples[0]['detail'] == 'timed out after 1s'
    assert samples[-1]['ok'] is True and samples[-1]['detail'] == 'HTTP 200'
    assert result['ok'] is True and result['failed_probes'] == [] and result['rounds'] == len(samples) >= 2
    assert result['recovered_after'] > 0
    assert all(s['phase'] == 'after' for s in samples)


def test_probe_on_another_engine_sees_only_that_engine(bed, run_module):
    """docker_host picks the engine: containers started on engine 2 are not on engine 1."""
    import docker  # pylint: disable=import-outside-toplevel
    second = docker.DockerClient(base_url=bed['hosts'][1])
    run = uuid.uuid4().hex[:10]
    try:
        start_containers(second, run, ['far'], labels={'app': 'far'})
        probes = [dict(name='far', type='containers', selection={'labels': {TEST_LABEL: run}})]
        on_second = run_module('probe', dict(probes=probes), docker_host=bed['hosts'][1])
        on_first = run_module('probe', dict(probes=probes))
    finally:
        for container in second.containers.list(all=True, filters={'label': '%s=%s' % (TEST_LABEL, run)}):
            container.remove(force=True)
    assert on_second['ok'] is True and on_second['samples'][0]['value'] == 1
    assert on_first['ok'] is False and on_first['samples'][0]['value'] == 0

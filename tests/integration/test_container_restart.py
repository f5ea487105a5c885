"""container_restart against a real Docker engine: the stop timeout, the recovery, the write-ahead start."""
import glob
import json
import os

import pytest

from helpers import parse_iso, start_containers, status_of

pytestmark = pytest.mark.integration

# PID 1 of a container ignores SIGTERM unless it handles it: this one exits on it at once.
TERM_AWARE = ('sh', '-c', 'trap "exit 0" TERM; while true; do sleep 0.2; done')


def started_at(container):
    container.reload()
    return container.attrs['State']['StartedAt']


def done_entries(ledger_dir):
    entries = []
    for path in glob.glob(os.path.join(ledger_dir, 'done', '*.json')):
        with open(path) as handle:
            entries.append(json.load(handle))
    return entries


def test_restart_with_recovery_measured_and_the_stop_timeout_honoured(engine, run_id, run_module, ledger_dir):
    boxes = start_containers(engine, run_id, ['polite'], command=TERM_AWARE)
    boxes.update(start_containers(engine, run_id, ['stubborn']))  # sleep as PID 1: only the SIGKILL ends it
    before = dict((name, started_at(c)) for name, c in boxes.items())
    polite = run_module('container_restart', dict(names=[boxes['polite'].name], stop_timeout=30,
                                                  wait_for_recovery=True))
    stubborn = run_module('container_restart', dict(names=[boxes['stubborn'].name], stop_timeout=2,
                                                    wait_for_recovery=True))
    for result in (polite, stubborn):
        assert result['changed'] is True and not result.get('failed'), result
        target = result['chaos']['targets'][0]
        assert target['action'] == 'restart' and 'error' not in target
        recovery = result['chaos']['recovery'][0]
        assert recovery['recovered'] is True and recovery['measured_by'] == 'container', recovery
        assert recovery['state'] == 'running'
        # Nothing left for the reverter: the write-ahead start was closed once the restart returned.
        assert 'revert' not in result['chaos']
    # SIGTERM first: the polite one was back long before its 30 s; the stubborn one waited its 2 s for the SIGKILL.
    assert polite['chaos']['recovery'][0]['seconds'] < 15
    assert 2 <= stubborn['chaos']['recovery'][0]['seconds'] < 30
    for name, container in boxes.items():
        assert status_of(engine, container) == 'running'
        assert parse_iso(started_at(container)) > parse_iso(before[name])
    closed = [e for e in done_entries(ledger_dir) if e['fault'] == 'container_restart']
    assert sorted(e['status'] for e in closed) == ['restarted', 'restarted']
    assert all(e['action'] == 'start' for e in closed)


def test_check_mode_and_protected_and_kubelet_containers_are_left_alone(engine, run_id, run_module):
    boxes = start_containers(engine, run_id, ['app'], labels={'tier': 'r'})
    boxes.update(start_containers(engine, run_id, ['guarded'], labels={
        'tier': 'r', 'chaos.engineering/protected': 'true'}))
    before = dict((name, started_at(c)) for name, c in boxes.items())
    selector = dict(labels={'tier': 'r', 'chaos.engineering/test-run': run_id})
    preview = run_module('container_restart', dict(selector, wait_for_recovery=True), check=True)
    assert preview['changed'] is True and preview['chaos']['dry_run'] is True
    assert [t['name'] for t in preview['chaos']['targets']] == [boxes['app'].name]
    assert preview['chaos']['recovery'] == []
    assert started_at(boxes['app']) == before['app']
    result = run_module('container_restart', dict(selector, stop_timeout=0))
    assert result['chaos']['selection']['protected'] == [boxes['guarded'].name]
    assert started_at(boxes['app']) != before['app']
    assert started_at(boxes['guarded']) == before['guarded']
    kubelet = start_containers(engine, run_id, ['k8s_hello'], labels={
        'io.kubernetes.pod.uid': 'u-1', 'io.kubernetes.pod.name': 'hello', 'io.kubernetes.pod.namespace': 'default',
        'io.kubernetes.container.name': 'hello'})['k8s_hello']
    kept = started_at(kubelet)
    refused = run_module('container_restart', dict(names=[kubelet.name]))
    assert refused['failed'] is True and 'Nothing was restarted' in refused['msg'] and 'kubelet' in refused['msg']
    assert started_at(kubelet) == kept


@pytest.mark.parametrize('args, message', [
    (dict(stop_timeout=-1), 'stop_timeout must be from 0 to 86400 seconds'),
    (dict(recovery_timeout=0), 'recovery_timeout must be from 1 to 86400 seconds'),
    (dict(stop_timeout='soon'), 'stop_timeout'),
])
def test_bad_input_fails_clearly(run_id, run_module, args, message):
    result = run_module('container_restart', dict(names=['nothing-%s' % run_id], **args))
    assert result['failed'] is True and message in result['msg'], result
    assert 'Traceback' not in json.dumps(result)

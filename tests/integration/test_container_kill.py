"""container_kill against a real Docker engine."""
import json
import os
import time

import pytest

from helpers import BUSYBOX, TEST_LABEL, parse_iso, start_containers, status_of, wait_until

pytestmark = pytest.mark.integration

WEB = ['web-1', 'web-2', 'web-3', 'web-4']


def labelled(run_id, extra=None):
    labels = {'chaos.engineering/test-run': run_id}
    labels.update(extra or {})
    return labels


def states(engine, containers):
    return dict((name, status_of(engine, c)) for name, c in containers.items())


def killed_names(result):
    return sorted(t['name'].rsplit('-', 1)[0] for t in result['chaos']['targets'])


def test_kill_by_name(engine, run_id, run_module):
    web = start_containers(engine, run_id, WEB, labels={'app': 'web'})
    result = run_module('container_kill', dict(names=['web-2-%s' % run_id]))
    assert result['changed'] is True, result
    assert killed_names(result) == ['web-2']
    assert result['chaos']['targets'][0]['signal'] == 'SIGKILL'
    assert states(engine, web) == {'web-1': 'running', 'web-2': 'exited', 'web-3': 'running', 'web-4': 'running'}
    web['web-2'].reload()
    assert web['web-2'].attrs['State']['ExitCode'] == 137


def test_kill_by_pattern_with_a_signal_number(engine, run_id, run_module):
    web = start_containers(engine, run_id, WEB)
    result = run_module('container_kill', dict(name_pattern='^web-[13]-%s$' % run_id, signal='9'))
    assert killed_names(result) == ['web-1', 'web-3']
    assert states(engine, web) == {'web-1': 'exited', 'web-2': 'running', 'web-3': 'exited', 'web-4': 'running'}


def test_kill_by_labels_spares_protected(engine, run_id, run_module):
    web = start_containers(engine, run_id, WEB[:3], labels={'app': 'web'})
    guarded = start_containers(engine, run_id, ['guarded'],
                               labels={'app': 'web', 'chaos.engineering/protected': 'true'})
    result = run_module('container_kill', dict(labels={'app': 'web', 'chaos.engineering/test-run': run_id}))
    assert killed_names(result) == ['web-1', 'web-2', 'web-3']
    assert result['chaos']['selection']['protected'] == ['guarded-%s' % run_id]
    assert set(states(engine, web).values()) == {'exited'}
    assert status_of(engine, guarded['guarded']) == 'running'


def test_protected_container_named_explicitly_is_refused(engine, run_id, run_module):
    guarded = start_containers(engine, run_id, ['guarded'], labels={'chaos.engineering/protected': 'true'})
    result = run_module('container_kill', dict(names=['guarded-%s' % run_id]))
    assert result['failed'] is True
    assert 'Protected or chaos helpers, never touched: guarded-%s' % run_id in result['msg']
    assert status_of(engine, guarded['guarded']) == 'running'


def test_count_and_percent_with_seed(engine, run_id, run_module):
    web = start_containers(engine, run_id, WEB, labels={'app': 'web'})
    selector = {'chaos.engineering/test-run': run_id}
    preview = run_module('container_kill', dict(labels=selector, count=2, seed=7), check=True)
    result = run_module('container_kill', dict(labels=selector, count=2, seed=7))
    assert len(result['chaos']['targets']) == 2
    # The same seed over the same candidates: check mode predicted exactly these.
    assert killed_names(preview) == killed_names(result)
    assert sorted(n for n, s in states(engine, web).items() if s == 'exited') == killed_names(result)
    # 25 % of the two still running rounds up to one.
    result = run_module('container_kill', dict(labels=selector, percent=25))
    assert len(result['chaos']['targets']) == 1
    assert list(states(engine, web).values()).count('running') == 1


def test_check_mode_touches_nothing(engine, run_id, run_module):
    web = start_containers(engine, run_id, WEB[:2], labels={'app': 'web'})
    result = run_module('container_kill', dict(labels={'chaos.engineering/test-run': run_id}, remove=True),
                        check=True)
    assert result['changed'] is True
    assert result['chaos']['dry_run'] is True
    assert killed_names(result) == ['web-1', 'web-2']
    assert set(states(engine, web).values()) == {'running'}


def test_unknown_signal_fails_listing_valid_ones(engine, run_id, run_module):
    web = start_containers(engine, run_id, ['web-1'])
    result = run_module('container_kill', dict(names=['web-1-%s' % run_id], signal='SIGBOGUS'))
    assert result['failed'] is True
    assert "Unknown signal 'SIGBOGUS'" in result['msg'] and 'SIGTERM' in result['msg']
    assert status_of(engine, web['web-1']) == 'running'


def test_no_selector_and_empty_selection_fail_clearly(run_module):
    result = run_module('container_kill', dict())
    assert result['failed'] is True and 'allow_all' in result['msg']
    result = run_module('container_kill', dict(names=['no-such-container']))
    assert result['failed'] is True
    assert 'No running container matched' in result['msg'] and 'no-such-container' in result['msg']
    result = run_module('container_kill', dict(names=['no-such-container'], allow_no_targets=True))
    assert result.get('failed') is not True and result['changed'] is False


def test_unreachable_engine_names_the_host(run_module):
    result = run_module('container_kill', dict(names=['x']), docker_host='unix:///nonexistent/docker.sock')
    assert result['failed'] is True
    assert 'docker_host=unix:///nonexistent/docker.sock' in result['msg']


def test_graceful_stop(engine, run_id, run_module):
    # Exits 0 on SIGTERM: a graceful stop lets it; a SIGKILL would give 137.
    polite = start_containers(engine, run_id, ['polite'],
                              command=['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 0.2; done'])
    result = run_module('container_kill', dict(names=['polite-%s' % run_id], stop_timeout=20))
    assert result['chaos']['targets'][0]['action'] == 'stop'
    polite['polite'].reload()
    assert polite['polite'].status == 'exited'
    assert polite['polite'].attrs['State']['ExitCode'] == 0


def test_stop_escalates_to_sigkill_after_the_timeout(engine, run_id, run_module):
    stubborn = start_containers(engine, run_id, ['stubborn'],
                                command=['sh', '-c', 'trap "" TERM; while true; do sleep 0.2; done'])
    run_module('container_kill', dict(names=['stubborn-%s' % run_id], stop_timeout=1))
    stubborn['stubborn'].reload()
    assert stubborn['stubborn'].attrs['State']['ExitCode'] == 137


def test_remove_with_volumes(engine, run_id, run_module):
    # An anonymous volume at /data: remove_volumes must take it along with the container.
    created = engine.api.create_container(BUSYBOX, ['sleep', '3600'], name='doomed-%s' % run_id,
                                          labels={TEST_LABEL: run_id}, volumes=['/data'])
    engine.api.start(created['Id'])
    mounts = engine.api.inspect_container(created['Id'])['Mounts']
    volume = [m['Name'] for m in mounts if m['Destination'] == '/data'][0]
    result = run_module('container_kill', dict(names=['doomed-%s' % run_id], remove=True, remove_volumes=True))
    assert result['chaos']['targets'][0]['removed'] is True
    assert not engine.containers.list(all=True, filters={'name': 'doomed-%s' % run_id})
    assert volume not in [v.name for v in engine.volumes.list()]


def test_remove_takes_containers_in_any_state_as_pumba_rm_does(engine, run_id, run_module):
    boxes = start_containers(engine, run_id, ['up', 'done', 'frozen'], labels={'app': 'rm'})
    boxes['done'].stop(timeout=0)
    boxes['frozen'].pause()
    engine.api.create_container(BUSYBOX, ['sleep', '3600'], name='fresh-%s' % run_id,
                                labels={TEST_LABEL: run_id, 'app': 'rm'})
    start_containers(engine, run_id, ['guarded'], labels={'app': 'rm', 'chaos.engineering/protected': 'true'})
    engine.api.stop('guarded-%s' % run_id, timeout=0)
    selector = dict(labels={'app': 'rm', TEST_LABEL: run_id}, remove=True)
    preview = run_module('container_kill', selector, check=True)
    assert killed_names(preview) == ['done', 'fresh', 'frozen', 'up']
    result = run_module('container_kill', selector)
    assert not result.get('failed'), result
    actions = dict((t['name'].rsplit('-', 1)[0], (t['action'], t['removed'])) for t in result['chaos']['targets'])
    assert actions == {'up': ('kill', True), 'done': ('remove', True), 'frozen': ('remove', True),
                       'fresh': ('remove', True)}
    assert result['chaos']['selection']['protected'] == ['guarded-%s' % run_id]
    left = [c.name for c in engine.containers.list(all=True, filters={'label': '%s=%s' % (TEST_LABEL, run_id)})]
    assert left == ['guarded-%s' % run_id]


def test_without_remove_only_running_containers_are_candidates(engine, run_id, run_module):
    done = start_containers(engine, run_id, ['done'])['done']
    done.stop(timeout=0)
    result = run_module('container_kill', dict(names=[done.name]))
    assert result['failed'] is True and 'not in a state this fault applies to' in result['msg']
    assert status_of(engine, done) == 'exited'


def test_restart_after(engine, run_id, run_module, ledger_dir):
    web = start_containers(engine, run_id, ['web-1'])
    started = time.time()
    result = run_module('container_kill', dict(names=['web-1-%s' % run_id], restart_after=3))
    revert = result['chaos']['revert']
    assert revert['armed'] is True and revert['method'] == 'ledger-reverter'
    assert result['chaos']['expires_at'] == revert['deadline']
    assert wait_until(lambda: status_of(engine, web['web-1']) == 'running', timeout=20), \
        'the killed container was not started again'
    # Read the engine's own record, not a racy poll: it died of SIGKILL, then started again at the deadline.
    events = list(engine.api.events(since=int(started) - 1, until=int(time.time()) + 1, decode=True,
                                    filters={'container': web['web-1'].id}))
    died = [e for e in events if e['Action'] == 'die']
    restarts = [e['timeNano'] / 1e9 for e in events if e['Action'] == 'start' and e['timeNano'] / 1e9 > started]
    assert [e['Actor']['Attributes']['exitCode'] for e in died] == ['137']
    deadline = parse_iso(revert['deadline'])
    assert len(restarts) == 1
    # The reverter began the start at the deadline; the engine itself may take a while to start a container.
    done = [json.load(open(os.path.join(ledger_dir, 'done', f))) for f in os.listdir(os.path.join(ledger_dir, 'done'))]
    assert [d['status'] for d in done] == ['reverted']
    assert deadline <= done[0]['began_at'] <= deadline + 1.0
    assert deadline <= restarts[0] <= deadline + 10


def test_parallel_kill_of_many(engine, run_id, run_module):
    many = start_containers(engine, run_id, ['m%d' % i for i in range(12)], labels={'batch': run_id})
    result = run_module('container_kill', dict(labels={'batch': run_id}, parallelism=6))
    assert len(result['chaos']['targets']) == 12
    assert set(states(engine, many).values()) == {'exited'}


# --- wait_for_recovery ---------------------------------------------------------------------------------------------

HEALTHY = dict(test=['CMD', 'true'], interval=500 * 1000 * 1000)
NEVER_HEALTHY = dict(test=['CMD', 'false'], interval=500 * 1000 * 1000, retries=1)


def engine_actions(engine, container, since, actions):
    """(action, engine time) of the container's events since ``since``, from the engine's own record."""
    events = engine.api.events(since=int(since) - 1, until=int(time.time()) + 1, decode=True,
                               filters={'container': container.id})
    return [(e['Action'], e['timeNano'] / 1e9) for e in events if e['Action'] in actions and e['timeNano'] / 1e9 >= since]


def test_wait_for_recovery_measures_the_armed_restart_and_the_health_check(engine, run_id, run_module, ledger_dir):
    web = start_containers(engine, run_id, ['web-1'], restart_policy={'Name': 'always'}, healthcheck=HEALTHY)['web-1']
    assert wait_until(lambda: web.reload() or web.attrs['State']['Health']['Status'] == 'healthy', timeout=20)
    since = time.time()
    result = run_module('container_kill', dict(names=[web.name], restart_after=1, wait_for_recovery=True,
                                               recovery_timeout=60))
    assert result['changed'] is True and not result.get('failed'), result
    recovery = result['chaos']['recovery']
    assert [(r['what'], r['container']['id'], r['recovered'], r['state'], r['health']) for r in recovery] == [
        ('container ' + web.name, web.id, True, 'running', 'healthy')]
    # The engine saw it die, and start again only at the armed restart: its restart policy did not act on a kill
    # through the API. Recovery counts from the kill to healthy, so it covers the whole gap and the start-up.
    actions = engine_actions(engine, web, since, ('die', 'start'))
    assert [a for a, dummy in actions] == ['die', 'start'], actions
    assert recovery[0]['seconds'] >= max(1.0, round(actions[1][1] - actions[0][1], 2) - 0.01)
    web.reload()
    assert web.attrs['State']['Health']['Status'] == 'healthy'


def test_wait_for_recovery_without_restart_after_or_with_remove_is_refused(engine, run_id, run_module):
    box = start_containers(engine, run_id, ['kept'], restart_policy={'Name': 'always'})['kept']
    plain = run_module('container_kill', dict(names=[box.name], wait_for_recovery=True))
    assert plain['failed'] is True and plain['changed'] is False
    assert 'wait_for_recovery needs restart_after' in plain['msg'] and 'manual stop' in plain['msg']
    removed = run_module('container_kill', dict(names=[box.name], remove=True, wait_for_recovery=True))
    assert removed['failed'] is True and 'a removed container never comes back' in removed['msg']
    short = run_module('container_kill', dict(names=[box.name], restart_after=5, wait_for_recovery=True,
                                              recovery_timeout=2))
    assert short['failed'] is True and 'recovery_timeout (2 s) must be longer than restart_after (5 s)' in short['msg']
    assert status_of(engine, box) == 'running'
    # Check mode names the target, arms nothing, and measures nothing.
    preview = run_module('container_kill', dict(names=[box.name], restart_after=5, wait_for_recovery=True), check=True)
    assert preview['changed'] is True and preview['chaos']['recovery'] == []
    assert status_of(engine, box) == 'running'


def test_wait_for_recovery_times_out_with_a_clear_message_and_partial_data(engine, run_id, run_module, ledger_dir):
    sick = start_containers(engine, run_id, ['sick'], healthcheck=NEVER_HEALTHY)['sick']
    result = run_module('container_kill', dict(names=[sick.name], restart_after=1, wait_for_recovery=True,
                                               recovery_timeout=3))
    assert result['failed'] is True and result['changed'] is True
    assert result['msg'].startswith('Recovery timed out after 3 s: %s (running, health ' % sick.name), result['msg']
    recovery = result['chaos']['recovery']
    assert [(r['recovered'], r['seconds'], r['state']) for r in recovery] == [(False, None, 'running')]
    assert recovery[0]['health'] in ('starting', 'unhealthy')

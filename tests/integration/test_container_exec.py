"""container_exec against a real Docker engine: exit codes and output, the timeout, Pumba's default, the selection."""
import json

import pytest

from helpers import start_containers, status_of, wait_until

pytestmark = pytest.mark.integration

# PID 1 of a container ignores SIGTERM unless it handles it: this one exits on it, as a real service does.
TERM_AWARE = ('sh', '-c', 'trap "exit 0" TERM; while true; do sleep 0.2; done')


def the_target(result):
    assert len(result['chaos']['targets']) == 1, result
    return result['chaos']['targets'][0]


def test_rc_output_user_workdir_and_env(engine, run_id, run_module):
    start_containers(engine, run_id, ['app'])
    result = run_module('container_exec', dict(
        names=['app-%s' % run_id], command=['sh', '-c', 'id -u; pwd; echo "$CHAOS_SECRET" | wc -c; echo oops >&2; exit 3'],
        user='1234', workdir='/tmp', env=dict(CHAOS_SECRET='hunter2-very-secret'), expected_rc=[0, 3]))
    assert result['changed'] is True and not result.get('failed'), result
    target = the_target(result)
    assert target['rc'] == 3 and target['timed_out'] is False
    # uid 1234, in /tmp, and the variable was there (20 bytes with its newline), but its value is nowhere.
    assert target['stdout'].split() == ['1234', '/tmp', '20']
    assert target['stderr'] == 'oops\n'
    assert target['command'][0] == 'sh' and 0 <= target['duration'] < 30
    assert 'hunter2-very-secret' not in json.dumps(result)
    assert 'applied_at' in result['chaos'] and 'revert' not in result['chaos']


def test_unexpected_rc_fails_the_task_and_long_output_is_cut(engine, run_id, run_module):
    start_containers(engine, run_id, ['app'])
    result = run_module('container_exec', dict(
        names=['app-%s' % run_id], command=['sh', '-c', 'head -c 40000 /dev/zero | tr "\\0" x; exit 2']))
    assert result['failed'] is True and result['changed'] is True
    target = the_target(result)
    assert target['rc'] == 2 and 'exit code 2, expected 0' in target['error']
    assert len(target['stdout']) == 16384 and target['stdout_truncated'] is True
    assert '1 of 1 targets failed' in result['msg']


def test_timeout_reports_and_kills_the_process(engine, run_id, run_module):
    app = start_containers(engine, run_id, ['app'])['app']
    result = run_module('container_exec', dict(names=['app-%s' % run_id], command=['sleep', '47'], exec_timeout=1))
    assert result['failed'] is True
    target = the_target(result)
    assert target['timed_out'] is True and target['rc'] is None and target['stopped'] is True, target
    assert 1 <= target['duration'] < 20
    assert 'timed out' in target['error']
    # The exec'd sleep is gone; the container's own process runs on.
    processes = [' '.join(p) for p in app.top()['Processes']]
    assert not [p for p in processes if 'sleep 47' in p], processes
    assert status_of(engine, app) == 'running'


def test_default_is_kill_1_and_count_is_pumbas_limit(engine, run_id, run_module):
    apps = start_containers(engine, run_id, ['a', 'b', 'c'], labels={'tier': 'term'}, command=TERM_AWARE)
    result = run_module('container_exec', dict(labels={'tier': 'term', 'chaos.engineering/test-run': run_id},
                                               count=2, seed=3))
    assert not result.get('failed'), result
    assert len(result['chaos']['targets']) == 2 and result['chaos']['selection']['matched'] == 3
    assert all(t['command'] == ['kill', '1'] and t['rc'] == 0 for t in result['chaos']['targets'])
    hit = set(t['name'] for t in result['chaos']['targets'])
    assert wait_until(lambda: all(status_of(engine, c) == 'exited' for c in apps.values()
                                  if c.name in hit), 20)
    assert [status_of(engine, c) for c in apps.values() if c.name not in hit] == ['running']


def test_check_mode_runs_nothing_and_protected_is_never_a_target(engine, run_id, run_module):
    apps = start_containers(engine, run_id, ['app'], labels={'tier': 'x'})
    start_containers(engine, run_id, ['guarded'], labels={'tier': 'x', 'chaos.engineering/protected': 'true'})
    selector = {'tier': 'x', 'chaos.engineering/test-run': run_id}
    marker = ['touch', '/tmp/ran']
    preview = run_module('container_exec', dict(labels=selector, command=marker), check=True)
    assert preview['changed'] is True and preview['chaos']['dry_run'] is True
    assert [t['name'] for t in preview['chaos']['targets']] == ['app-%s' % run_id]
    assert 'rc' not in preview['chaos']['targets'][0]
    assert apps['app'].exec_run(['test', '-e', '/tmp/ran']).exit_code == 1
    result = run_module('container_exec', dict(labels=selector, command=marker))
    assert result['chaos']['selection']['protected'] == ['guarded-%s' % run_id]
    assert apps['app'].exec_run(['test', '-e', '/tmp/ran']).exit_code == 0
    refused = run_module('container_exec', dict(names=['guarded-%s' % run_id], command=marker))
    assert refused['failed'] is True and 'never touched: guarded-%s' % run_id in refused['msg']


@pytest.mark.parametrize('args, message', [
    (dict(command=[]), 'command must be a non-empty list'),
    (dict(command=['']), 'command must be a non-empty list'),
    (dict(exec_timeout=0), 'exec_timeout must be from 1 to 86400 seconds'),
    (dict(expected_rc=[]), 'expected_rc must list at least one exit code'),
    (dict(env={'A=B': 'c'}), 'env must map variable names'),
])
def test_bad_input_fails_clearly(run_id, run_module, args, message):
    result = run_module('container_exec', dict(names=['nothing-%s' % run_id], **args))
    assert result['failed'] is True and message in result['msg'], result
    assert 'Traceback' not in json.dumps(result)

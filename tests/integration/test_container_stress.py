"""container_stress against a real Docker engine: the stressor runs inside the target's cgroup (its CPU use shows
there, and the target's CPU limit throttles it), it ends by its deadline, a second run is ok, state=absent stops it,
protected containers are never touched, and bad input fails clearly before anything starts.

The CPU is measured from the kernel's own accounting (cgroup v1 cpuacct.usage of the target's cgroup), on the bed's
host, over a couple of seconds; the bounds are generous, because 2 cores are shared by many test runs."""
import os
import time

import pytest

from helpers import parse_iso, start_containers, wait_until

pytestmark = pytest.mark.integration

CPUACCT = '/sys/fs/cgroup/cpuacct'
GRACE_SECONDS = 3.0


def cpu_seconds(cgroup_path):
    with open(os.path.join(CPUACCT, cgroup_path.lstrip('/'), 'cpuacct.usage')) as handle:
        return int(handle.read()) / 1e9


def throttled(cgroup_path):
    """How often the kernel throttled the cgroup for its CPU quota (cpu.stat nr_throttled)."""
    with open(os.path.join('/sys/fs/cgroup/cpu', cgroup_path.lstrip('/'), 'cpu.stat')) as handle:
        return dict(line.split() for line in handle)['nr_throttled']


def cores_used(cgroup_path, seconds=2.0):
    """The target cgroup's CPU use, in cores, over ``seconds``."""
    before, start = cpu_seconds(cgroup_path), time.time()
    time.sleep(seconds)
    return (cpu_seconds(cgroup_path) - before) / (time.time() - start)


def our_stressors(engine, target_id):
    return engine.api.containers(all=True, filters={'label': ['chaos.engineering/fault=container_stress',
                                                              'chaos.engineering/target=%s' % target_id]})


def cgroup_of_pid(pid):
    with open('/proc/%d/cgroup' % pid) as handle:
        return dict((line.split(':', 2)[1], line.split(':', 2)[2].strip()) for line in handle if line.strip())


@pytest.fixture(scope='module', autouse=True)
def _needs_cgroup_v1_cpuacct():
    if not os.path.isdir(CPUACCT):
        pytest.skip('these measurements read cgroup v1 cpuacct on the bed host')


def test_stress_runs_in_the_targets_cgroup_is_throttled_by_its_limit_and_ends_at_the_deadline(
        engine, run_id, run_module):
    started = start_containers(engine, run_id, ['free'], labels={'app': 'stress-free'})
    started.update(start_containers(engine, run_id, ['capped'], labels={'app': 'stress-capped'},
                                    nano_cpus=int(0.1 * 1e9)))
    args = dict(labels={'chaos.engineering/test-run': run_id}, cpu=2, duration=20)
    result = run_module('container_stress', args)
    assert result['changed'] is True, result
    assert result['chaos']['revert']['armed'] is True
    by_name = dict((t['name'].rsplit('-', 1)[0], t) for t in result['chaos']['targets'])
    assert set(by_name) == {'free', 'capped'}
    for name, target in by_name.items():
        assert target['action'] == 'stress', target
        assert target['argv'][:2] == ['--cpu', '2'] and '--timeout' in target['argv']
        # The helper's cgroup is a child of the target's: the kernel says so.
        helper = engine.api.inspect_container(target['helper'])
        assert helper['State']['Running'], 'the stressor ended early: %r' % helper['State']
        assert target['id'] in target['cgroup_parent']
        assert cgroup_of_pid(helper['State']['Pid'])['cpuacct'].startswith(target['cgroup_parent'] + '/')
    free = by_name['free']['cgroup']['path']
    capped = by_name['capped']['cgroup']['path']
    throttled_before = int(throttled(capped))
    free_load, capped_load = cores_used(free), cores_used(capped)
    # The target's own accounting shows the stressor (the target itself only sleeps). On a machine shared by
    # many test runs the stressor gets a small share at worst, never none.
    assert free_load > 0.01, 'the stressor did not load the target: %.3f cores' % free_load
    assert capped_load < 0.1 * 1.5 + 0.02, 'the target\'s --cpus 0.1 did not throttle it: %.2f cores' % capped_load
    if free_load > 0.2:  # the stressor could exceed the quota, so the kernel must have throttled the target
        assert int(throttled(capped)) > throttled_before, 'the capped target was never throttled'
    deadline = max(parse_iso(t['deadline']) for t in result['chaos']['targets'])
    assert wait_until(lambda: not any(our_stressors(engine, t['id']) for t in by_name.values()),
                      timeout=deadline - time.time() + GRACE_SECONDS), 'a stressor outlived its deadline'
    assert time.time() >= deadline - 1.0, 'the stressor ended before its duration'
    after = cores_used(free, seconds=1.0)
    assert after < max(0.005, free_load / 4), 'the target still uses %.3f cores after the stress (%.3f during)' % (
        after, free_load)


def test_again_is_ok_absent_stops_our_stressor_now_and_check_mode_changes_nothing(engine, run_id, run_module):
    target = start_containers(engine, run_id, ['abs'])['abs']
    args = dict(names=[target.name], memory='16m', duration=60)
    predicted = run_module('container_stress', args, check=True)
    assert predicted['changed'] is True and predicted['chaos']['dry_run'] is True
    assert predicted['chaos']['targets'][0]['argv'][:4] == ['--vm', '1', '--vm-bytes', str(16 * 1024 * 1024)]
    assert not our_stressors(engine, target.id), 'check mode started a stressor'
    result = run_module('container_stress', args)
    assert result['changed'] is True
    assert our_stressors(engine, target.id)
    # A second identical run while they run: ok, same helper, same deadline.
    again = run_module('container_stress', args)
    assert again['changed'] is False, [(t['action'], t.get('note'), t.get('error')) for t in again['chaos']['targets']]
    for seen in again['chaos']['targets']:
        first = [t for t in result['chaos']['targets'] if t['id'] == seen['id']][0]
        assert seen['action'] == 'unchanged' and seen['helper'] == first['helper']
        assert seen['deadline'] == first['deadline']
    removed = run_module('container_stress', dict(names=[target.name], state='absent'))
    assert removed['changed'] is True and removed['chaos']['targets'][0]['action'] == 'remove'
    assert wait_until(lambda: not our_stressors(engine, target.id), timeout=10)
    again = run_module('container_stress', dict(names=[target.name], state='absent'))
    assert again['changed'] is False and again['chaos']['targets'][0]['action'] == 'none'


def test_protected_targets_are_untouched(engine, run_id, run_module):
    guarded = start_containers(engine, run_id, ['guard'], labels={'chaos.engineering/protected': 'true'})['guard']
    result = run_module('container_stress', dict(labels={'chaos.engineering/test-run': run_id}, cpu=1,
                                                 duration=5, allow_no_targets=True))
    assert result['changed'] is False
    assert guarded.name in result['chaos']['selection']['protected']
    assert not our_stressors(engine, guarded.id)


@pytest.mark.parametrize('args, message', [
    (dict(stressors=['--cpu', '1; rm -rf /']), 'never a shell string'),
    (dict(stressors=['--cpu', '1', '--timeout', '999']), 'may not give --timeout'),
    (dict(stressors=['--timeout=999s', '--cpu', '1']), 'may not give --timeout'),
    (dict(image='chaos-no-such-image:latest', cpu=1), 'is not on docker_host'),
])
def test_bad_input_fails_clearly_and_starts_nothing(engine, run_id, run_module, args, message):
    target = start_containers(engine, run_id, ['bad'])['bad']
    result = run_module('container_stress', dict(args, names=[target.name], duration=5))
    assert result.get('failed') is True, result
    assert message in result['msg'], result['msg']
    assert 'Traceback' not in result['msg'] and 'module_stderr' not in result
    assert not our_stressors(engine, target.id)

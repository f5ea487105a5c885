"""container_pause against a real Docker engine, including a controller killed with SIGKILL."""
import json
import os
import subprocess
import time

import docker
import pytest

from helpers import (ansible_playbook_argv, engine_events, kill_controller, parse_iso, playbook_env, start_containers,
                     status_of, wait_until, write)

pytestmark = pytest.mark.integration

# Slack for "by its deadline": the reverter polls every 50 ms; the rest is the engine on a busy 2-core machine.
GRACE_SECONDS = 1.5


def deadline_of(target):
    return parse_iso(target['deadline'])


def test_pause_auto_unpauses_at_the_deadline(engine, run_id, run_module):
    frozen = start_containers(engine, run_id, ['db-1', 'db-2'], labels={'app': 'db'})
    since = time.time()
    result = run_module('container_pause', dict(labels={'chaos.engineering/test-run': run_id}, duration=3))
    assert result['changed'] is True
    assert result['chaos']['revert']['armed'] is True
    assert wait_until(lambda: all(status_of(engine, c) == 'running' for c in frozen.values()), timeout=20), \
        'still paused long after the deadline'
    # The engine's own record, free of polling races on a busy machine: one pause, one unpause at the deadline.
    for target in result['chaos']['targets']:
        container = [c for c in frozen.values() if c.id == target['id']][0]
        deadline = deadline_of(target)
        paused = engine_events(engine, container, since, 'pause')
        unpaused = engine_events(engine, container, since, 'unpause')
        assert len(paused) == 1 and len(unpaused) == 1
        assert deadline - 0.1 <= unpaused[0] <= deadline + GRACE_SECONDS, 'unpaused %.2f s from the deadline' % (
            unpaused[0] - deadline)
        assert unpaused[0] - paused[0] >= 3 - 0.1


def test_pause_again_is_ok_and_keeps_the_deadline(engine, run_id, run_module):
    start_containers(engine, run_id, ['db-1'])
    args = dict(names=['db-1-%s' % run_id], duration=30)
    first = run_module('container_pause', args)
    second = run_module('container_pause', args)
    assert first['changed'] is True
    assert second['changed'] is False, second
    assert second['chaos']['targets'][0]['deadline'] == first['chaos']['targets'][0]['deadline']


def test_container_paused_by_someone_else_is_left_alone(engine, run_id, run_module):
    theirs = start_containers(engine, run_id, ['theirs'])
    theirs['theirs'].pause()
    result = run_module('container_pause', dict(names=['theirs-%s' % run_id], duration=1))
    assert result['changed'] is False
    assert result['chaos']['targets'][0]['action'] == 'none'
    time.sleep(2)
    assert status_of(engine, theirs['theirs']) == 'paused', 'we armed an unpause for a pause that is not ours'


def test_state_unpaused_undoes_at_once_and_cancels_the_armed_revert(engine, run_id, run_module, ledger_dir):
    frozen = start_containers(engine, run_id, ['db-1'])
    run_module('container_pause', dict(names=['db-1-%s' % run_id], duration=60))
    assert status_of(engine, frozen['db-1']) == 'paused'
    result = run_module('container_pause', dict(names=['db-1-%s' % run_id], state='unpaused'))
    assert result['changed'] is True
    assert status_of(engine, frozen['db-1']) == 'running'
    pending = os.listdir(os.path.join(ledger_dir, 'pending'))
    assert pending == []
    done = [json.load(open(os.path.join(ledger_dir, 'done', f))) for f in os.listdir(os.path.join(ledger_dir, 'done'))]
    assert [d['status'] for d in done] == ['reverted-by-module']
    again = run_module('container_pause', dict(names=['db-1-%s' % run_id], state='unpaused', allow_no_targets=True))
    assert again['changed'] is False


def test_check_mode_pauses_nothing(engine, run_id, run_module, ledger_dir):
    frozen = start_containers(engine, run_id, ['db-1'])
    result = run_module('container_pause', dict(names=['db-1-%s' % run_id], duration=5), check=True)
    assert result['changed'] is True and result['chaos']['dry_run'] is True
    assert result['chaos']['revert']['armed'] is False
    assert result['chaos']['targets'][0]['deadline']
    assert status_of(engine, frozen['db-1']) == 'running'
    assert not os.path.exists(os.path.join(ledger_dir, 'pending')) or not os.listdir(
        os.path.join(ledger_dir, 'pending'))


def test_duration_is_required_to_pause(run_module):
    result = run_module('container_pause', dict(names=['x']))
    assert result['failed'] is True and 'duration' in result['msg']


def test_sigkill_of_the_controller_during_a_pause(bed, engine, run_id, ledger_dir, tmp_path):
    """ansible-playbook is SIGKILLed while the pause is in place; the container runs again by its deadline."""
    frozen = start_containers(engine, run_id, ['victim-1', 'victim-2'], labels={'app': 'victim'})
    duration = 10
    result_file = str(tmp_path / 'pause.json')
    playbook = write(str(tmp_path / 'experiment.yml'), '''\
        - name: A pause whose controller dies mid-experiment
          hosts: localhost
          gather_facts: false
          tasks:
            - name: Pause the victims
              chaos.engineering.container_pause:
                docker_host: "{{ docker_host }}"
                ledger_dir: "{{ ledger_dir }}"
                labels:
                  chaos.engineering/test-run: "{{ run_id }}"
                duration: %d
              register: paused
            - name: Record the pause
              ansible.builtin.copy:
                content: "{{ paused | to_json }}"
                dest: "{{ result_file }}"
                mode: "0600"
            - name: Observe for longer than the pause lasts (the controller is killed here)
              ansible.builtin.pause:
                seconds: 120
        ''' % duration)
    extra = str(tmp_path / 'vars.json')
    with open(extra, 'w') as handle:
        json.dump(dict(docker_host=bed['hosts'][0], ledger_dir=ledger_dir, run_id=run_id,
                       result_file=result_file), handle)
    proc = subprocess.Popen(ansible_playbook_argv(playbook, extra), env=playbook_env(), cwd=str(tmp_path),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        assert wait_until(lambda: os.path.exists(result_file), timeout=120), 'the pause task never finished'
        # Kill the whole controller: ansible-playbook and every worker it forked.
        kill_controller(proc.pid)
        killed_at = time.time()
        proc.wait(10)
    finally:
        if proc.poll() is None:
            kill_controller(proc.pid)
    with open(result_file) as handle:
        paused = json.load(handle)
    assert paused['changed'] is True
    deadline = max(deadline_of(t) for t in paused['chaos']['targets'])
    assert killed_at < deadline, 'the controller must die before the deadline for this test to mean anything'
    back = wait_until(lambda: all(status_of(engine, c) == 'running' for c in frozen.values()),
                      timeout=deadline - time.time() + 30)
    assert back is not None, 'the containers were never unpaused after the controller died'
    for container in frozen.values():
        unpaused = engine_events(engine, container, killed_at - 60, 'unpause')
        assert len(unpaused) == 1
        # Unpaused after the controller was gone, and by the deadline plus a small grace.
        assert killed_at < unpaused[0] <= deadline + GRACE_SECONDS, 'unpaused %.2f s after the deadline' % (
            unpaused[0] - deadline)


def test_pause_across_two_engines_as_inventory_hosts(bed, run_id, ledger_dir, tmp_path):
    """One play, two engines as two inventory hosts, the connection set once by module_defaults."""
    clients = [docker.DockerClient(base_url=h) for h in bed['hosts'][:2]]
    frozen = [start_containers(c, run_id, ['fleet'])['fleet'] for c in clients]
    since = time.time()
    inventory = write(str(tmp_path / 'hosts.yml'), '''\
        docker_engines:
          hosts:
            engine1: {docker_host: "%s"}
            engine2: {docker_host: "%s"}
          vars:
            ansible_connection: local
        ''' % tuple(bed['hosts'][:2]))
    playbook = write(str(tmp_path / 'fleet.yml'), '''\
        - name: Pause across the fleet
          hosts: docker_engines
          gather_facts: false
          module_defaults:
            group/chaos.engineering.docker:
              docker_host: "{{ docker_host }}"
              ledger_dir: "{{ ledger_dir }}"
          tasks:
            - name: Pause this engine's test container
              chaos.engineering.container_pause:
                labels:
                  chaos.engineering/test-run: "{{ run_id }}"
                duration: 2
        ''')
    extra = str(tmp_path / 'vars.json')
    with open(extra, 'w') as handle:
        json.dump(dict(ledger_dir=ledger_dir, run_id=run_id), handle)
    proc = subprocess.run(ansible_playbook_argv(playbook, extra, inventory=inventory), capture_output=True,
                          text=True, env=playbook_env(), timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert 'engine1' in proc.stdout and 'engine2' in proc.stdout
    assert wait_until(lambda: all(c.reload() is None and c.status == 'running' for c in frozen), timeout=15)
    for client, container in zip(clients, frozen):
        paused = engine_events(client, container, since, 'pause')
        unpaused = engine_events(client, container, since, 'unpause')
        assert len(paused) == 1 and len(unpaused) == 1, 'each engine paused and unpaused its own container'
        assert unpaused[0] - paused[0] >= 2 - 0.1

"""The controller SIGKILLed at the worst moment: the instant the fault shows on the engine or in the target's
network namespace, before the module could report anything. Every fault must still be reverted by its deadline,
and nothing of ours (paused or stopped target, qdisc, rule, helper) may be left. bench/sigkill runs 30 trials per
fault type and prints the lateness; here a few trials of each keep CI short."""
import json
import subprocess

import docker
import pytest

from helpers import ansible_playbook_argv, kill_controller, playbook_env, wait_until, write
from ansible_collections.chaos.engineering.plugins.module_utils._container_restart import RESTART_GRACE_SECONDS
from sigkill_trial import (RESTART_STOP_TIMEOUT, FAULT_TYPES, clean_up, done_entries, helpers_of, run_trial,
                           start_containers_labelled, stop_reverter)

TRIALS = 2


@pytest.mark.parametrize('fault_type', [f for f in FAULT_TYPES if f != 'restart'])
def test_sigkill_the_moment_the_fault_shows_leaves_nothing(bed, run_id, tmp_path, fault_type):
    client = docker.APIClient(base_url=bed['hosts'][0])
    results = []
    try:
        for trial in range(TRIALS):
            ledger_dir = str(tmp_path / ('ledger-%d' % trial))
            results.append(run_trial(client, bed['hosts'][0], fault_type, run_id, str(tmp_path), ledger_dir))
    finally:
        clean_up(client, run_id)
    for result in results:
        assert result['visible_at'] is not None, 'the fault never showed: %r' % result
        assert result['killed_at'] >= result['visible_at']
        assert not result['leak'], 'the fault outlived the controller: %r' % result
        # The entry was written ahead and performed: its deadline is never later than the fault's own.
        assert result['entries'] >= 1, result
        assert result['deadline'] <= result['visible_at'] + 3 + 1, result


def test_sigkill_the_moment_a_restart_stopped_the_container_leaves_it_running(bed, run_id, tmp_path):
    """container_restart's entry is written ahead: killed the moment the container is down, it runs again by the
    entry's deadline (the engine may finish the restart by itself; the reverter's start then finds it running).
    One trial: the entry is due stop timeout + 30 s after the arming, and the trial waits for it."""
    client = docker.APIClient(base_url=bed['hosts'][0])
    try:
        result = run_trial(client, bed['hosts'][0], 'restart', run_id, str(tmp_path), str(tmp_path / 'ledger'))
        (entry,) = done_entries(str(tmp_path / 'ledger'), client.containers(
            all=True, filters={'label': 'chaos.engineering/test-run=%s' % run_id})[0]['Id'])
    finally:
        clean_up(client, run_id)
    assert result['visible_at'] is not None, 'the container never showed stopped: %r' % result
    assert result['killed_at'] >= result['visible_at']
    assert not result['leak'], 'the container was not running again by its deadline: %r' % result
    # The reverter performed the written-ahead start, at its deadline, not before.
    assert entry['status'] == 'reverted' and not entry.get('applied'), entry
    assert entry['began_at'] >= entry['deadline'], entry
    assert result['deadline'] <= result['visible_at'] + RESTART_STOP_TIMEOUT + RESTART_GRACE_SECONDS, result


def test_a_controller_killed_while_reading_leaves_only_helpers_that_expire_by_themselves(bed, run_id, tmp_path):
    """Killed the moment its first helper exists (the read phase, before any entry): whatever helper is left
    carries its expiry and sleeps only until then, with auto-remove, so the engine removes it by itself."""
    client = docker.APIClient(base_url=bed['hosts'][0])
    duration = 30
    try:
        target = start_containers_labelled(client, run_id, ['sk-read'], 'chaos.engineering/test-run')[0]
        name = client.inspect_container(target)['Name'].lstrip('/')
        playbook = write(str(tmp_path / 'read.yml'), '''\
            - name: A fault whose controller is killed while it reads
              hosts: localhost
              gather_facts: false
              tasks:
                - name: The fault
                  chaos.engineering.container_netem: "{{ fault_args }}"
            ''')
        extra = str(tmp_path / 'read.json')
        with open(extra, 'w') as handle:
            json.dump(dict(fault_args=dict(docker_host=bed['hosts'][0], ledger_dir=str(tmp_path / 'ledger'),
                                           names=[name], drop=dict(probability=0.5), duration=duration)), handle)
        proc = subprocess.Popen(ansible_playbook_argv(playbook, extra), env=playbook_env(), cwd=str(tmp_path),
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        try:
            assert wait_until(lambda: helpers_of(client, target), timeout=120, interval=0.005)
            kill_controller(proc.pid)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        left = helpers_of(client, target)
        assert left
        for helper in left:
            info = client.inspect_container(helper['Id'])
            assert info['HostConfig']['AutoRemove'] is True
            command = info['Config']['Cmd']
            assert command[0] == 'sleep' and int(command[1]) <= duration + 3600 + 2, command
            assert info['Config']['Labels'].get('chaos.engineering/expires'), info['Config']['Labels']
        stop_reverter(str(tmp_path / 'ledger'))
    finally:
        clean_up(client, run_id)

"""One trial of "the controller is SIGKILLed the moment the fault becomes visible", shared by
tests/integration/test_sigkill.py (a few trials per fault) and bench/sigkill (30 per fault, with lateness).

A trial starts ansible-playbook with one fault task (and a long pause after it), watches the target from outside
(the engine's state; the target's network namespace through the host's own tc and iptables) and kills the whole
controller tree the instant the fault shows. Then it waits past the deadline and reports what of ours is left.
"""
import json
import os
import random
import subprocess
import time
import uuid

from helpers import ansible_playbook_argv, kill_controller, playbook_env, write

OUR_QDISC = 'c4a0:'
OUR_RULE = 'chaos.engineering:netem:'
FAULT_TYPES = ('pause', 'kill', 'restart', 'bandwidth', 'drop', 'partition', 'stress')
# Faults whose target is stopped while they show, and whose revert starts it again (the engine's 'start' event).
STOPPING = ('kill', 'restart')
# container_restart's stop timeout: busybox's sleep ignores SIGTERM, so the target stops after this long.
RESTART_STOP_TIMEOUT = 1


def fault_task(fault_type, duration, peer=None):
    """(module, args) of a timed fault of ``fault_type`` lasting ``duration`` seconds."""
    if fault_type == 'pause':
        return 'container_pause', dict(duration=duration)
    if fault_type == 'kill':
        return 'container_kill', dict(restart_after=duration)
    if fault_type == 'restart':
        # Its entry is due stop_timeout + the module's grace after the arming, whatever ``duration`` says.
        return 'container_restart', dict(stop_timeout=RESTART_STOP_TIMEOUT)
    if fault_type == 'bandwidth':
        return 'container_netem', dict(bandwidth=dict(rate='1mbit'), duration=duration)
    if fault_type == 'drop':
        return 'container_netem', dict(drop=dict(probability=0.5), duration=duration)
    if fault_type == 'partition':
        return 'container_netem', dict(drop=dict(direction='both'), destinations=[peer], duration=duration)
    if fault_type == 'stress':
        return 'container_stress', dict(cpu=1, duration=duration)
    raise ValueError(fault_type)


def _host_netns(pid, argv):
    proc = subprocess.run(['nsenter', '-t', str(pid), '-n', '--'] + argv, capture_output=True, text=True,
                          check=False)
    return proc.stdout


def netns_has_ours(pid):
    """Is a qdisc or rule of ours in the namespace of ``pid`` (read with the host's own tools)?"""
    return (OUR_QDISC in _host_netns(pid, ['tc', 'qdisc', 'show'])
            or OUR_RULE in _host_netns(pid, ['iptables', '-S'])
            or OUR_RULE in _host_netns(pid, ['ip6tables', '-S']))


def helpers_of(client, target_id):
    return client.containers(all=True, filters={'label': 'chaos.engineering/target=%s' % target_id})


def fault_visible(client, fault_type, target_id, pid):
    state = client.inspect_container(target_id)['State']
    if fault_type == 'pause':
        return bool(state.get('Paused'))
    if fault_type in STOPPING:
        return not state.get('Running')
    if fault_type == 'stress':
        return any(h['State'] == 'running' for h in helpers_of(client, target_id))
    return netns_has_ours(pid)


def leftovers(client, fault_type, target_id, pid):
    """What of ours is still there: a paused or stopped target, a qdisc or rule, a helper."""
    left = []
    state = client.inspect_container(target_id)['State']
    if state.get('Paused'):
        left.append('target paused')
    if fault_type in STOPPING and not state.get('Running'):
        left.append('target not running')
    if fault_type not in ('pause', 'stress') + STOPPING and pid and netns_has_ours(pid):
        left.append('qdisc or rule of ours')
    helpers = helpers_of(client, target_id)
    if helpers:
        left.append('%d helper(s)' % len(helpers))
    return left


def done_entries(ledger_dir, target_id, state='done'):
    directory = os.path.join(ledger_dir, state)
    found = []
    for name in sorted(os.listdir(directory)) if os.path.isdir(directory) else []:
        if not name.endswith('.json'):
            continue  # the reverter's temporary file, renamed into place in a moment
        try:
            with open(os.path.join(directory, name)) as handle:
                entry = json.load(handle)
        except OSError:
            continue  # moved on (pending -> claimed -> done) as we read
        if entry.get('target', {}).get('id') == target_id:
            found.append(entry)
    return found


def _event_time(client, target_id, since, action):
    events = client.events(since=int(since) - 1, until=int(time.time()) + 1, decode=True,
                           filters={'container': target_id, 'event': action})
    times = [e['timeNano'] / 1e9 for e in events if e['timeNano'] / 1e9 >= since]
    return times[0] if times else None


def run_trial(client, docker_host, fault_type, run_id, workdir, ledger_dir, duration=3, grace=1.5, when='visible',
              label='chaos.engineering/test-run', settle_timeout=20):
    """Run one trial; returns a dict: killed (bool), visible_at, deadline, ended_at, lateness, left (list), and
    leak (True when something of ours outlived deadline + grace)."""
    names = ['sk-%s' % fault_type]
    if fault_type == 'partition':
        names.append('sk-peer')
    created = start_containers_labelled(client, run_id, names, label)
    target_id = created[0]
    pid = client.inspect_container(target_id)['State']['Pid']
    peer = client.inspect_container(created[1])['Name'].lstrip('/') if len(created) > 1 else None
    module, args = fault_task(fault_type, duration, peer)
    target_name = client.inspect_container(target_id)['Name'].lstrip('/')
    args.update(docker_host=docker_host, ledger_dir=ledger_dir, names=[target_name])
    playbook = write(os.path.join(workdir, 'sigkill-%s.yml' % fault_type), '''\
        - name: A fault whose controller is SIGKILLed the moment it shows
          hosts: localhost
          gather_facts: false
          tasks:
            - name: The fault
              chaos.engineering.%s: "{{ fault_args }}"
            - name: Wait far past the deadline (never reached, or killed here)
              ansible.builtin.pause:
                seconds: 300
        ''' % module)
    extra = os.path.join(workdir, 'sigkill-vars.json')
    with open(extra, 'w') as handle:
        json.dump(dict(fault_args=args), handle)
    since = time.time()
    proc = subprocess.Popen(ansible_playbook_argv(playbook, extra), env=playbook_env(), cwd=workdir,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    visible_at = None
    kill_at = time.time() + random.uniform(1.0, 6.0) if when == 'random' else None
    try:
        give_up = time.time() + 180
        while time.time() < give_up and proc.poll() is None:
            if fault_visible(client, fault_type, target_id, pid):
                visible_at = visible_at or time.time()
                if when == 'visible':
                    break
            if kill_at is not None and time.time() >= kill_at:
                break
        kill_controller(proc.pid)
        killed_at = time.time()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    result = dict(fault=fault_type, visible_at=visible_at, killed_at=killed_at)
    # Wait until the fault is over (or far past when it had to be): deadline + grace at the latest.
    # The deadline written ahead, when it is later (a restart's: stop timeout + the module's grace).
    ahead = [e['deadline'] for state in ('pending', 'claimed', 'done')
             for e in done_entries(ledger_dir, target_id, state)]
    bound = max([(visible_at or killed_at) + duration + 1] + ahead) + grace
    ended = None
    while time.time() < bound + settle_timeout:
        if not leftovers(client, fault_type, target_id, pid):
            ended = time.time()
            break
        time.sleep(0.05)
    entries = done_entries(ledger_dir, target_id)
    give_up = max(time.time(), bound) + 10
    while not entries and time.time() < give_up:  # the reverter files the entry just after its revert
        time.sleep(0.05)
        entries = done_entries(ledger_dir, target_id)
    result['left'] = leftovers(client, fault_type, target_id, pid)
    result['entries'] = len(entries)
    deadline = max(e['deadline'] for e in entries) if entries else None
    result['deadline'] = deadline
    if fault_type == 'pause':
        end = _event_time(client, target_id, since, 'unpause')
    elif fault_type in STOPPING:
        end = _event_time(client, target_id, since, 'start')
    else:
        gone = [e.get('details', {}).get('fault_gone_at') for e in entries]
        end = max([g for g in gone if g] or [None]) if any(gone) else None
    result['ended_at'] = end
    # The reverter's own part: when it began the revert (the engine's start or unpause may take a while after).
    began = [e.get('began_at') for e in entries if e.get('began_at')]
    result['dispatch'] = (max(began) - deadline) if (began and deadline and visible_at) else None
    result['lateness'] = (end - deadline) if (end and deadline and visible_at) else None
    result['leak'] = visible_at is not None and (bool(result['left']) or ended is None or ended > bound)
    stop_reverter(ledger_dir)
    return result


def stop_reverter(ledger_dir):
    """SIGTERM the trial's reverter (it would exit by itself after a few idle seconds)."""
    try:
        with open(os.path.join(ledger_dir, 'reverter.pid')) as handle:
            os.kill(int(handle.read().strip()), 15)
    except (OSError, ValueError):
        pass


def start_containers_labelled(client, run_id, names, label):
    """Busybox targets for a trial (low-level API), labelled so only they can be selected and cleaned up."""
    ids = []
    for name in names:
        created = client.create_container('chaos-busybox:latest', ['sleep', '3600'],
                                          name='%s-%s-%s' % (name, run_id, uuid.uuid4().hex[:4]),
                                          labels={label: run_id})
        client.start(created['Id'])
        ids.append(created['Id'])
    return ids


def clean_up(client, run_id, label='chaos.engineering/test-run'):
    """Remove the trial's containers and any helper of ours that targets them."""
    for container in client.containers(all=True, filters={'label': '%s=%s' % (label, run_id)}):
        for helper in helpers_of(client, container['Id']):
            try:
                client.remove_container(helper['Id'], force=True)
            except Exception:  # pylint: disable=broad-exception-caught
                pass
        try:
            client.remove_container(container['Id'], force=True)
        except Exception:  # pylint: disable=broad-exception-caught
            pass

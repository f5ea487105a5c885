"""runtime=containerd against a real, private containerd (tests/infra/containerd-bed.sh): kill, pause with the
reverter's deadline (and a SIGKILLed controller), remove, netem through nsenter in the task's netns, protected and
sandbox containers, Kubernetes-style names, and an unreachable socket."""
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid

import pytest

from helpers import ROOT, ansible_playbook_argv, kill_controller, playbook_env, run_module_play, wait_until

CONTAINERD_BED = os.path.join(ROOT, 'tests', 'infra', 'containerd-bed.sh')

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason='the containerd bed needs root')


def _bed(*args):
    return subprocess.run(['bash', CONTAINERD_BED] + list(args), check=True, capture_output=True,
                          text=True).stdout


@pytest.fixture(scope='module')
def ctrd(bed):
    """The private containerd: started for this module unless it is up, and taken down if it was started here.
    Its images come from the cache the Docker bed (``bed``) fills."""
    started = subprocess.run(['bash', CONTAINERD_BED, 'status'], check=False).returncode != 0
    if started:
        _bed('up')
    env = {}
    for line in _bed('env').splitlines():
        key, dummy, value = line[len('export '):].partition('=')
        env[key] = value
    yield env
    if started and not os.environ.get('CHAOS_BED_KEEP'):
        _bed('down')


def ctr(env, *args, check=True):
    return subprocess.run(['ctr', '--address', env['CHAOS_CONTAINERD_SOCKET'], '--namespace',
                           env['CHAOS_CONTAINERD_NAMESPACE']] + list(args),
                          check=check, capture_output=True, text=True).stdout


def task_status(env, cid):
    for line in ctr(env, 'tasks', 'ls').splitlines()[1:]:
        fields = line.split()
        if fields and fields[0] == cid:
            return fields[2], int(fields[1])
    return None, None


def signals_seen(env, cid):
    path = os.path.join(env['CHAOS_CONTAINERD_DIR'], 'out', cid, 'signals')
    if not os.path.exists(path):
        return []  # the shell has not started yet
    with open(path) as handle:
        return handle.read().split()


@pytest.fixture
def containers(ctrd):
    """make(labels=None) -> a new container's id (task running); all removed after the test."""
    made = []

    def make(labels=None):
        cid = 'ce-%s' % uuid.uuid4().hex[:8]
        argv = ['run', cid]
        for key, value in sorted((labels or {}).items()):
            argv += ['--label', '%s=%s' % (key, value)]
        _bed(*argv)
        made.append(cid)
        # The shell notes "started" once its traps are set.
        assert wait_until(lambda: 'started' in signals_seen(ctrd, cid), 10)
        return cid
    yield make
    for cid in made:
        _bed('rm', cid)


class TaskEvents:
    """containerd's own task events (ctr events: paused, resumed, exit, start), with the time each was seen."""

    def __init__(self, env):
        self.seen = []
        self.proc = subprocess.Popen(['ctr', '--address', env['CHAOS_CONTAINERD_SOCKET'], 'events'],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            for topic in ('/tasks/paused', '/tasks/resumed', '/tasks/exit', '/tasks/start'):
                if topic in line:
                    self.seen.append((time.time(), topic, line))

    def times(self, topic, cid):
        return [t for t, seen_topic, line in self.seen if seen_topic == topic and '"%s"' % cid in line
                and '"exec_id"' not in line]  # the task's own process, not an exec

    def close(self):
        self.proc.terminate()
        self.proc.wait()


@pytest.fixture
def task_events(ctrd):
    events = TaskEvents(ctrd)
    time.sleep(0.5)  # subscribed before the fault
    yield events
    events.close()


def pod_labels(namespace, pod, container='app'):
    return {'io.kubernetes.pod.namespace': namespace, 'io.kubernetes.pod.name': pod,
            'io.kubernetes.container.name': container, 'io.kubernetes.pod.uid': 'uid-' + pod,
            'io.cri-containerd.kind': 'container'}


def stop_reverter(ledger):
    """Stop a reverter the test started, so no process outlives it."""
    pid_file = os.path.join(ledger, 'reverter.pid')
    try:
        with open(pid_file) as handle:
            os.kill(int(handle.read().strip()), signal.SIGTERM)
    except (OSError, ValueError):
        pass


@pytest.fixture
def run(ctrd, tmp_path):
    ledger = str(tmp_path / 'ledger')

    def run_module(module, args, check=False):
        connection = dict(runtime='containerd', containerd_socket=ctrd['CHAOS_CONTAINERD_SOCKET'],
                          containerd_namespace=ctrd['CHAOS_CONTAINERD_NAMESPACE'], ledger_dir=ledger)
        return run_module_play(tmp_path, module, args, 'docker', connection, check=check)
    yield run_module
    stop_reverter(ledger)


def test_kill_by_kubernetes_name_sends_the_signal_and_stops_the_task(ctrd, containers, run):
    pod = 'web-%s' % uuid.uuid4().hex[:6]
    cid = containers(pod_labels('shop', pod, 'web'))
    other = containers()
    result = run('container_kill', dict(names=['shop/%s/web' % pod], signal='SIGTERM'))
    assert not result.get('failed'), result
    assert [t['name'] for t in result['chaos']['targets']] == ['shop/%s/web' % pod]
    assert wait_until(lambda: task_status(ctrd, cid)[0] == 'STOPPED', 10)
    assert 'TERM' in signals_seen(ctrd, cid)
    assert task_status(ctrd, other)[0] == 'RUNNING'  # not selected: a plain container is named by its id


def test_kill_with_restart_after_gets_a_new_task_from_the_reverter(ctrd, containers, run, task_events):
    cid = containers()
    pid = task_status(ctrd, cid)[1]
    result = run('container_kill', dict(names=[cid], signal='SIGKILL', restart_after=2))
    assert not result.get('failed'), result

    def restarts():
        exited = task_events.times('/tasks/exit', cid)
        return exited and [t - exited[0] for t in task_events.times('/tasks/start', cid) if t > exited[0]]
    assert wait_until(restarts, 2 + 20), 'never started again'
    assert restarts()[0] >= 2 - 0.5  # not before restart_after
    assert wait_until(lambda: task_status(ctrd, cid)[0] == 'RUNNING', 10)
    assert task_status(ctrd, cid)[1] != pid


def test_pause_is_resumed_by_the_reverter_at_its_deadline(ctrd, containers, run, task_events):
    cid = containers()
    result = run('container_pause', dict(names=[cid], duration=3))
    assert not result.get('failed'), result
    assert result['chaos']['revert']['armed'] is True
    assert wait_until(lambda: task_events.times('/tasks/resumed', cid), 3 + 20)
    paused, resumed = task_events.times('/tasks/paused', cid), task_events.times('/tasks/resumed', cid)
    assert len(paused) == 1 and len(resumed) == 1
    assert resumed[0] - paused[0] >= 3 - 0.5  # not before its deadline
    assert task_status(ctrd, cid)[0] == 'RUNNING'


def test_a_controller_sigkilled_the_moment_it_paused_is_resumed_by_the_deadline(ctrd, containers, tmp_path):
    cid = containers()
    ledger = str(tmp_path / 'ledger')
    play = [dict(hosts='localhost', gather_facts=False, tasks=[{'chaos.engineering.container_pause': dict(
        runtime='containerd', containerd_socket=ctrd['CHAOS_CONTAINERD_SOCKET'], names=[cid], duration=3,
        ledger_dir=ledger)}, {'ansible.builtin.pause': dict(seconds=60)}])]
    playbook = str(tmp_path / 'play.yml')
    extra = str(tmp_path / 'vars.json')

    with open(playbook, 'w') as handle:
        json.dump(play, handle)
    with open(extra, 'w') as handle:
        json.dump({}, handle)
    proc = subprocess.Popen(ansible_playbook_argv(playbook, extra), env=playbook_env(), cwd=str(tmp_path),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        assert wait_until(lambda: task_status(ctrd, cid)[0] == 'PAUSED', 60), 'never paused'
    finally:
        kill_controller(proc.pid)
        proc.wait()
    assert wait_until(lambda: task_status(ctrd, cid)[0] == 'RUNNING', 3 + 20), 'not resumed after the deadline'
    stop_reverter(ledger)


def test_remove_deletes_the_container(ctrd, containers, run):
    cid = containers()
    result = run('container_kill', dict(names=[cid], remove=True))
    assert not result.get('failed'), result
    assert cid not in ctr(ctrd, 'containers', 'ls', '-q').split()


def in_task_netns(ctrd, cid, *argv):
    pid = task_status(ctrd, cid)[1]
    return subprocess.run(['nsenter', '-t', str(pid), '-n', '--'] + list(argv),
                          check=True, capture_output=True, text=True).stdout


def netem_state(ctrd, cid):
    """Our tc qdisc (tbf) and our iptables rules in the task's netns (this kernel has no sch_netem)."""
    qdisc = in_task_netns(ctrd, cid, 'tc', 'qdisc', 'show', 'dev', 'eth0')
    rules = [r for r in in_task_netns(ctrd, cid, 'iptables', '-S').splitlines() if 'chaos.engineering:netem:' in r]
    return 'tbf' in qdisc, rules


def test_bandwidth_and_drop_go_into_the_task_netns_and_are_reverted(ctrd, containers, run):
    cid = containers()
    assert netem_state(ctrd, cid) == (False, [])
    args = dict(names=[cid], bandwidth=dict(rate='8mbit'), drop=dict(probability=0.3), duration=120)
    result = run('container_netem', args)
    assert not result.get('failed'), result
    shaped, rules = netem_state(ctrd, cid)
    assert shaped and rules, (shaped, rules)
    again = run('container_netem', args)
    assert not again.get('failed') and not again['changed'], again  # ours, the same: idempotent
    # Another spec replaces ours; its short deadline is met by the ledger's nsenter revert (the task's pid then).
    args.update(drop=dict(probability=0.5), duration=1)
    replaced = run('container_netem', args)
    assert replaced['changed'], replaced
    assert wait_until(lambda: netem_state(ctrd, cid) == (False, []), 1 + 20)


def test_protected_and_sandbox_containers_are_never_targets(ctrd, containers, run):
    system = containers(pod_labels('kube-system', 'coredns-%s' % uuid.uuid4().hex[:6]))
    sandbox_labels = pod_labels('shop', 'cart-%s' % uuid.uuid4().hex[:6])
    sandbox_labels['io.cri-containerd.kind'] = 'sandbox'
    sandbox = containers(sandbox_labels)
    result = run('container_pause', dict(names=[system, sandbox], duration=1, allow_no_targets=True))
    assert not result.get('failed'), result
    assert result['chaos']['targets'] == []
    assert task_status(ctrd, system)[0] == 'RUNNING'
    assert task_status(ctrd, sandbox)[0] == 'RUNNING'
    named = run('container_kill', dict(names=['kube-system/%s/app' % system_pod(system, ctrd)], signal='SIGKILL'))
    assert named.get('failed') and 'kube-system is protected' in named['msg'], named
    assert task_status(ctrd, system)[0] == 'RUNNING'


def system_pod(cid, ctrd):

    return json.loads(ctr(ctrd, 'containers', 'info', cid))['Labels']['io.kubernetes.pod.name']


def test_the_containers_probe_counts_running_tasks_by_kubernetes_name(ctrd, containers, run):
    pod = 'api-%s' % uuid.uuid4().hex[:6]
    cid = containers(pod_labels('shop', pod, 'api'))
    ctr(ctrd, 'tasks', 'pause', cid)  # paused is not running
    probes = [dict(name='api', type='containers', selection={'names': ['shop/%s/api' % pod]}, min_running=1)]
    paused = run('probe', dict(probes=probes))
    ctr(ctrd, 'tasks', 'resume', cid)
    running = run('probe', dict(probes=probes))
    assert paused['ok'] is False and running['ok'] is True, (paused, running)
    assert running['samples'][0]['value'] == 1, running


def test_an_unreachable_socket_fails_clearly(ctrd, run, tmp_path):
    result = run_module_play(tmp_path, 'container_kill', dict(
        runtime='containerd', containerd_socket=str(tmp_path / 'no.sock'), names=['x'],
        ledger_dir=str(tmp_path / 'ledger')))
    assert result.get('failed')
    assert 'Cannot reach containerd at containerd_socket=%s' % (tmp_path / 'no.sock') in result['msg'], result
    assert 'Traceback' not in result.get('module_stderr', '')


if __name__ == '__main__':
    sys.exit(pytest.main([__file__]))

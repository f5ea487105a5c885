"""runtime=containerd against a real, private containerd (tests/infra/containerd-bed.sh): kill, pause with the
reverter's deadline (and a SIGKILLed controller), remove, netem through nsenter in the task's netns, stress in the
task's cgroup, recovery after a kill and a restart, protected and sandbox containers, Kubernetes-style names, and
an unreachable socket."""
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid

import pytest

from helpers import ROOT, ansible_playbook_argv, kill_controller, parse_iso, playbook_env, run_module_play, wait_until

CONTAINERD_BED = os.path.join(ROOT, 'tests', 'infra', 'containerd-bed.sh')

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason='the containerd bed needs root')


def _bed(*args):
    done = subprocess.run(['bash', CONTAINERD_BED] + list(args), check=False, capture_output=True, text=True)
    # The bed's own words (which step failed) in the test's report, not only its exit status.
    assert done.returncode == 0, 'containerd-bed.sh %s: exit %d\n%s%s' % (
        ' '.join(args), done.returncode, done.stdout, done.stderr)
    return done.stdout


@pytest.fixture(scope='module')
def ctrd(bed):
    """The private containerd: started for this module unless it is up, and taken down if it was started here.
    Its images come from the cache the Docker bed (``bed``) fills."""
    started = subprocess.run(['bash', CONTAINERD_BED, 'status'], check=False).returncode != 0
    if started:
        try:
            _bed('up')
        except AssertionError:
            _bed('down')  # what a failed start left running (containerd, its bridge)
            raise
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


CPUACCT = '/sys/fs/cgroup/cpuacct'


def cpu_seconds(cgroup_path):
    with open(os.path.join(CPUACCT, cgroup_path.lstrip('/'), 'cpuacct.usage')) as handle:
        return int(handle.read()) / 1e9


def cores_used(cgroup_path, seconds):
    """The cgroup's CPU use (its children's included), in cores, over ``seconds``."""
    before, start = cpu_seconds(cgroup_path), time.time()
    time.sleep(seconds)
    return (cpu_seconds(cgroup_path) - before) / (time.time() - start)


def proc_status(pid):
    with open('/proc/%d/status' % pid) as handle:
        return dict(line.rstrip('\n').split(':\t', 1) for line in handle if ':\t' in line)


def our_stressors(ctrd, target_id):
    """Our stress helpers on ``target_id``: {id: labels}."""
    found = {}
    for helper in ctr(ctrd, 'containers', 'ls', '-q', 'labels."chaos.engineering/target"==%s' % target_id).split():
        info = ctr(ctrd, 'containers', 'info', helper, check=False)
        if info:  # not removed since the listing (the reverter removes it at its deadline)
            found[helper] = json.loads(info)['Labels']
    return found


def start_controller(ctrd, tmp_path, fault):
    """ansible-playbook running container_stress on the bed, then pausing: its controller is to be killed."""
    ledger = str(tmp_path / 'ledger')
    play = [dict(hosts='localhost', gather_facts=False, tasks=[{'chaos.engineering.container_stress': dict(
        fault, runtime='containerd', containerd_socket=ctrd['CHAOS_CONTAINERD_SOCKET'], ledger_dir=ledger)},
        {'ansible.builtin.pause': dict(seconds=120)}])]
    playbook, extra = str(tmp_path / 'stress.yml'), str(tmp_path / 'stress-vars.json')
    with open(playbook, 'w') as handle:
        json.dump(play, handle)
    with open(extra, 'w') as handle:
        json.dump({}, handle)
    return ledger, subprocess.Popen(ansible_playbook_argv(playbook, extra), env=playbook_env(), cwd=str(tmp_path),
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


@pytest.mark.skipif(not os.path.isdir(CPUACCT), reason='the load is read from cgroup v1 cpuacct')
def test_stress_in_a_child_of_the_task_cgroup_is_removed_by_its_deadline_after_a_sigkilled_controller(
        ctrd, containers, tmp_path):
    cid = containers()
    with open('/proc/%d/cgroup' % task_status(ctrd, cid)[1]) as handle:
        path = [line for line in handle if ':cpu,' in line or ':cpu:' in line][0].strip().split(':', 2)[2]
    ledger, proc = start_controller(ctrd, tmp_path, dict(names=[cid], cpu=1, duration=15))
    try:
        assert wait_until(lambda: any(task_status(ctrd, h)[0] == 'RUNNING' for h in our_stressors(ctrd, cid)),
                          60), 'no stressor started'
    finally:
        kill_controller(proc.pid)
        proc.wait()
    stressors = our_stressors(ctrd, cid)
    assert len(stressors) == 1, stressors
    helper, labels = stressors.popitem()
    assert labels['chaos.engineering/helper'] == 'true' and labels['chaos.engineering/fault'] == 'container_stress'
    status, pid = task_status(ctrd, helper)
    assert status == 'RUNNING', 'the stressor is not running: %s' % status
    with open('/proc/%d/cgroup' % pid) as handle:
        cpu_line = [line for line in handle if ':cpu,' in line or ':cpu:' in line][0]
    assert cpu_line.strip().split(':', 2)[2] == '%s/%s' % (path, helper)  # a child of the target's cgroup
    seen = proc_status(pid)
    assert seen['CapEff'] == seen['CapBnd'] == '0000000000000000' and seen['NoNewPrivs'] == '1', seen
    links = subprocess.run(['nsenter', '-t', str(pid), '-n', '--', 'ip', '-o', 'link'], check=True,
                           capture_output=True, text=True).stdout.splitlines()
    assert [line.split(':')[1].strip() for line in links] == ['lo'], links  # no network
    during = cores_used(path, 2.0)
    assert during > 0.01, 'the stressor did not load the target: %.3f cores' % during
    # containerd has no auto-remove, and the controller is dead: only the detached reverter removes the helper.
    deadline = parse_iso(labels['chaos.engineering/expires'])
    assert wait_until(lambda: not our_stressors(ctrd, cid), deadline - time.time() + 5), 'outlived its deadline'
    assert time.time() >= deadline - 1.0, 'the stressor was removed before its duration'
    after = cores_used(path, 1.0)
    assert after < max(0.005, during / 4), 'still %.3f cores after the stress (%.3f during)' % (after, during)
    stop_reverter(ledger)


def test_stress_again_is_ok_absent_removes_it_now_and_a_missing_image_changes_nothing(ctrd, containers, run):
    cid = containers()
    args = dict(names=[cid], memory='8m', duration=60)
    missing = run('container_stress', dict(args, image='chaos-no-such-image:latest'), check=True)
    assert missing.get('failed') and 'is not on containerd_socket=' in missing['msg'], missing  # check mode too
    result = run('container_stress', args)
    assert result['changed'] is True and not result.get('failed'), result
    target = result['chaos']['targets'][0]
    helper = target['helper']
    assert task_status(ctrd, helper)[0] == 'RUNNING' and list(our_stressors(ctrd, cid)) == [helper]
    assert target['cgroup']['source'].startswith('/proc/'), target
    assert target['cgroup_parent'] == target['cgroup']['path'] and cid in target['cgroup_parent']
    again = run('container_stress', args)  # found again by its labels: ok, the same helper and deadline
    assert again['changed'] is False, again['chaos']['targets']
    assert again['chaos']['targets'][0]['helper'] == helper
    assert again['chaos']['targets'][0]['deadline'] == target['deadline']
    removed = run('container_stress', dict(names=[cid], state='absent'))
    assert removed['changed'] is True and removed['chaos']['targets'][0]['removed'] == [helper], removed
    assert not our_stressors(ctrd, cid)
    assert task_status(ctrd, cid)[0] == 'RUNNING'  # the target itself is untouched


def test_kill_with_restart_after_waits_for_the_new_task(ctrd, containers, run):
    cid = containers()
    pid = task_status(ctrd, cid)[1]
    result = run('container_kill', dict(names=[cid], signal='SIGKILL', restart_after=1, wait_for_recovery=True,
                                        recovery_timeout=30))
    assert not result.get('failed'), result
    recovery = result['chaos']['recovery']
    assert [(r['container']['id'], r['recovered'], r['state']) for r in recovery] == [(cid, True, 'running')], recovery
    assert recovery[0]['seconds'] >= 1 - 0.5, recovery  # not back before restart_after
    status, new_pid = task_status(ctrd, cid)
    assert status == 'RUNNING' and new_pid != pid


def test_restart_waits_for_recovery_and_the_task_got_sigterm_first(ctrd, containers, run):
    cid = containers()
    pid = task_status(ctrd, cid)[1]
    result = run('container_restart', dict(names=[cid], stop_timeout=5, wait_for_recovery=True,
                                           recovery_timeout=30))
    assert not result.get('failed'), result
    assert [t['action'] for t in result['chaos']['targets']] == ['restart'], result['chaos']['targets']
    recovery = result['chaos']['recovery']
    assert [(r['container']['id'], r['recovered'], r['state']) for r in recovery] == [(cid, True, 'running')], recovery
    status, new_pid = task_status(ctrd, cid)
    assert status == 'RUNNING' and new_pid != pid
    assert signals_seen(ctrd, cid)[:2] == ['started', 'TERM']  # a stop, not a bare SIGKILL


def test_an_unreachable_socket_fails_clearly(ctrd, run, tmp_path):
    result = run_module_play(tmp_path, 'container_kill', dict(
        runtime='containerd', containerd_socket=str(tmp_path / 'no.sock'), names=['x'],
        ledger_dir=str(tmp_path / 'ledger')))
    assert result.get('failed')
    assert 'Cannot reach containerd at containerd_socket=%s' % (tmp_path / 'no.sock') in result['msg'], result
    assert 'Traceback' not in result.get('module_stderr', '')


if __name__ == '__main__':
    sys.exit(pytest.main([__file__]))

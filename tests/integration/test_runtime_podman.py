"""The container modules with runtime=podman, on the private Podman service of tests/infra/podman-bed.sh (Podman's
Docker-compatible API, Debian's podman 4.3): kill, remove, pause reverted by its deadline even when the controller is
SIGKILLed the moment the pause shows, an iptables drop in the target's namespace through our helper and its revert,
protected and helper containers untouched, check mode, clear failures for a socket with no Podman behind it, and
stress-ng inside the target's own cgroup (Podman's cgroupfs naming) until its deadline; and the experiment and
teardown roles with runtime=podman (the teardown's ledger filter leaves another engine's faults alone)."""
import json
import os
import subprocess
import time
import uuid

import docker
import pytest

from experiment_helpers import journal, output, run_playbook, samples
from helpers import (BUSYBOX, ROOT, TEST_LABEL, kill_controller, parse_iso, run_module_play, run_plays,
                     start_containers, start_fault_play, status_of, wait_until)
from sigkill_trial import helpers_of

from ansible_collections.chaos.engineering.plugins.module_utils import _runtime_docker
from ansible_collections.chaos.engineering.plugins.module_utils._runtime_podman import PODMAN_CGROUP_LAYOUT

PODMAN_BED = os.path.join(ROOT, 'tests', 'infra', 'podman-bed.sh')
HELPER_LABEL = 'chaos.engineering/helper'
PROTECTED_LABEL = 'chaos.engineering/protected'


def _podman_bed(*args):
    return subprocess.run(['bash', PODMAN_BED] + list(args), check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope='module')
def podman(bed):  # pylint: disable=unused-argument
    """The Podman service's socket URL; the bed is started for this module unless it is up, and then taken down.
    Its images come from the Docker bed (``bed``)."""
    started = subprocess.run(['bash', PODMAN_BED, 'status'], check=False).returncode != 0
    if started:
        _podman_bed('up')
    env = dict(line[len('export '):].split('=', 1) for line in _podman_bed('env').splitlines()
               if line.startswith('export '))
    yield env['CHAOS_PODMAN_SOCKET']
    if started and not os.environ.get('CHAOS_BED_KEEP'):
        _podman_bed('down')


@pytest.fixture(scope='module')
def pclient(podman):
    return docker.APIClient(base_url=podman, version='auto')


@pytest.fixture
def prun(pclient):
    """A label value for one test's containers on Podman, removed afterwards (our helpers first: Podman does
    not remove a container whose namespace another joined)."""
    value = uuid.uuid4().hex[:10]
    yield value
    ours = [c['Id'] for c in pclient.containers(all=True, filters={'label': ['%s=%s' % (TEST_LABEL, value)]})]
    for container_id in [h['Id'] for target in ours for h in helpers_of(pclient, target)] + ours:
        try:
            pclient.remove_container(container_id, force=True)
        except docker.errors.APIError:
            pass


def start(pclient, run, names, labels=None):
    """Busybox containers on Podman labelled for this test run: name -> id."""
    ids = {}
    for name in names:
        all_labels = {TEST_LABEL: run}
        all_labels.update(labels or {})
        created = pclient.create_container(BUSYBOX, ['sleep', '3600'], name='%s-%s' % (name, run), labels=all_labels)
        pclient.start(created['Id'])
        ids[name] = created['Id']
    return ids


def state_of(pclient, container_id):
    try:
        return pclient.inspect_container(container_id)['State']['Status']
    except docker.errors.NotFound:
        return 'removed'


@pytest.fixture
def run_podman(podman, ledger_dir, tmp_path):
    """Run a container module against the Podman service (runtime and socket through module_defaults)."""
    def run(module, args, check=False, socket=None):
        return run_module_play(tmp_path, module, args, 'docker',
                               dict(runtime='podman', podman_socket=socket or podman, ledger_dir=ledger_dir),
                               check=check)
    return run


def test_kill_and_remove_spare_protected_containers_and_our_helpers(pclient, prun, run_podman):
    ids = start(pclient, prun, ['victim', 'doomed'])
    ids.update(start(pclient, prun, ['guarded'], labels={PROTECTED_LABEL: 'true'}))
    ids.update(start(pclient, prun, ['fakehelper'], labels={HELPER_LABEL: 'true'}))
    result = run_podman('container_kill', dict(labels={TEST_LABEL: prun}, names=['victim-%s' % prun],
                                               signal='SIGKILL'))
    assert not result.get('failed'), result
    assert [t['name'] for t in result['chaos']['targets']] == ['victim-%s' % prun]
    assert wait_until(lambda: state_of(pclient, ids['victim']) == 'exited', timeout=20)

    # Everything of this run, in any state (the exited victim too, as `pumba rm`), but the protected one and the
    # helper-labelled one are never candidates.
    result = run_podman('container_kill', dict(labels={TEST_LABEL: prun}, remove=True))
    assert not result.get('failed'), result
    assert sorted(t['name'] for t in result['chaos']['targets']) == ['doomed-%s' % prun, 'victim-%s' % prun]
    assert state_of(pclient, ids['doomed']) == 'removed'
    assert state_of(pclient, ids['victim']) == 'removed'
    assert state_of(pclient, ids['guarded']) == 'running'
    assert state_of(pclient, ids['fakehelper']) == 'running'
    assert 'guarded-%s' % prun in result['chaos']['selection']['protected']


def test_check_mode_pauses_nothing(pclient, prun, run_podman):
    ids = start(pclient, prun, ['still'])
    result = run_podman('container_pause', dict(labels={TEST_LABEL: prun}, duration=30), check=True)
    assert not result.get('failed'), result
    assert result['changed'] and [t['name'] for t in result['chaos']['targets']] == ['still-%s' % prun]
    assert result['chaos']['revert']['armed'] is False
    assert state_of(pclient, ids['still']) == 'running'


def test_pause_is_undone_by_its_deadline_when_the_controller_is_sigkilled(
        pclient, prun, podman, ledger_dir, tmp_path):
    duration = 4
    target = start(pclient, prun, ['frozen'])['frozen']
    proc = start_fault_play(tmp_path, 'container_pause', dict(
        runtime='podman', podman_socket=podman, ledger_dir=ledger_dir, labels={TEST_LABEL: prun}, duration=duration))
    try:
        assert wait_until(lambda: state_of(pclient, target) == 'paused', timeout=120, interval=0.01)
        paused_at = time.time()
    finally:
        kill_controller(proc.pid)
        proc.wait()
    # The written-ahead entry's reverter unpauses it by the deadline (generous bound for a loaded machine).
    assert wait_until(lambda: state_of(pclient, target) == 'running', timeout=duration + 20, interval=0.05)
    assert time.time() - paused_at < duration + 20
    # The reverter records the entry done just after its unpause returned (under load, seconds after).
    done_dir = os.path.join(ledger_dir, 'done')
    assert wait_until(lambda: os.path.isdir(done_dir) and os.listdir(done_dir), timeout=30), 'the unpause never ended'
    entries = [json.load(open(os.path.join(done_dir, name))) for name in os.listdir(done_dir)]
    assert [(e['action'], e['status'], e['docker']['runtime']) for e in entries] == [
        ('unpause', 'reverted', 'podman')], entries


def pings(address):
    """How many of 3 pings from this host to ``address`` were answered (busybox ping)."""
    out = subprocess.run(['/bin/busybox', 'ping', '-c', '3', '-i', '0.2', '-W', '1', address],
                         capture_output=True, text=True, check=False).stdout
    summary = [line for line in out.splitlines() if 'packets received' in line]
    assert summary, out
    return int(summary[0].split(',')[1].split()[0])


def test_netem_drop_through_our_helper_is_reverted_at_its_deadline(pclient, prun, run_podman):
    """iptables in the target's namespace, from our helper joined to it (network_mode container:<id>); this
    host's kernel has no sch_netem, so the loss is iptables', not tc's."""
    duration = 15  # the fault must still be in when the module (a whole ansible-playbook) has returned
    target = start(pclient, prun, ['lossy'])['lossy']
    address = pclient.inspect_container(target)['NetworkSettings']['Networks'].popitem()[1]['IPAddress']
    assert pings(address) == 3
    result = run_podman('container_netem', dict(labels={TEST_LABEL: prun}, drop=dict(probability=1.0),
                                                duration=duration))
    assert not result.get('failed'), result
    assert [t['name'] for t in result['chaos']['targets']] == ['lossy-%s' % prun]
    assert helpers_of(pclient, target), 'no helper of ours in the target namespace'
    assert pings(address) == 0
    # Reverted by the deadline: the rule gone, and the helper with it.
    assert wait_until(lambda: not helpers_of(pclient, target), timeout=duration + 30, interval=0.2)
    assert pings(address) == 3
    assert state_of(pclient, target) == 'running'


def test_a_socket_without_podman_fails_clearly(run_podman, bed, tmp_path):
    missing = 'unix://%s' % (tmp_path / 'no-such.sock')
    result = run_podman('container_kill', dict(allow_all=True), socket=missing)
    assert result.get('failed')
    assert 'Cannot reach the Podman service at podman_socket=%s' % missing in result['msg'], result['msg']
    assert 'Traceback' not in json.dumps(result)
    # A Docker engine at the Podman socket is refused before anything is listed.
    result = run_podman('container_kill', dict(allow_all=True), socket=bed['hosts'][0])
    assert result.get('failed')
    assert 'is not Podman' in result['msg'], result['msg']


CPUACCT = '/sys/fs/cgroup/cpuacct'


def cpu_seconds(cgroup_path):
    with open(os.path.join(CPUACCT, cgroup_path.lstrip('/'), 'cpuacct.usage')) as handle:
        return int(handle.read()) / 1e9


def cores_used(cgroup_path, seconds=2.0):
    """The cgroup's CPU use, in cores, over ``seconds`` (the kernel's cpuacct, so the stressor's children count)."""
    before, start = cpu_seconds(cgroup_path), time.time()
    time.sleep(seconds)
    return (cpu_seconds(cgroup_path) - before) / (time.time() - start)


def cpuacct_cgroup_of(pid):
    with open('/proc/%d/cgroup' % pid) as handle:
        return [line.split(':', 2)[2].strip() for line in handle if 'cpuacct' in line.split(':', 2)[1].split(',')][0]


def stressors_on(pclient, target_id):
    return pclient.containers(all=True, filters={'label': ['chaos.engineering/fault=container_stress',
                                                           'chaos.engineering/target=%s' % target_id]})


@pytest.mark.skipif(not os.path.isdir(CPUACCT), reason='the measurement reads cgroup v1 cpuacct on this host')
def test_stress_loads_the_targets_own_cgroup_and_ends_by_its_deadline(
        pclient, prun, podman, ledger_dir, run_podman, tmp_path):
    """stress-ng in a helper whose cgroup is a child of the target's (Podman's cgroupfs manager): the target's
    own accounting shows the load during the stress, and not after; the stressor is gone by the deadline. The
    module runs in the background and the load is measured as soon as the stressor runs: a loaded controller may
    take longer than the stress to return."""
    duration = 12
    target = start(pclient, prun, ['busy'])['busy']
    target_cgroup = cpuacct_cgroup_of(pclient.inspect_container(target)['State']['Pid'])
    # Where the module cannot read the kernel's word (an engine on another host), Podman's own naming says the same.
    engines_word = _runtime_docker.target_cgroup(pclient, target, proc_root=str(tmp_path), layout=PODMAN_CGROUP_LAYOUT)
    assert engines_word['path'] == target_cgroup, engines_word
    missing = run_podman('container_stress', dict(labels={TEST_LABEL: prun}, cpu=1, duration=duration,
                                                  image='chaos-no-such-image:latest'))
    assert missing.get('failed') and 'is not on podman_socket=' in missing['msg'], missing
    idle = cores_used(target_cgroup, seconds=1.0)
    proc = start_fault_play(tmp_path, 'container_stress', dict(
        runtime='podman', podman_socket=podman, ledger_dir=ledger_dir, labels={TEST_LABEL: prun}, cpu=1,
        duration=duration))
    try:
        assert wait_until(lambda: [h for h in stressors_on(pclient, target) if h['State'] == 'running'],
                          timeout=120, interval=0.1), 'no stressor of ours started'
        [stressor] = stressors_on(pclient, target)
        helper = pclient.inspect_container(stressor['Id'])
        # The kernel puts the stressor under the target's cgroup.
        assert cpuacct_cgroup_of(helper['State']['Pid']).startswith(target_cgroup + '/'), helper['State']['Pid']
        during = cores_used(target_cgroup)
        assert proc.wait(timeout=120) == 0, 'the stress task failed'
    finally:
        if proc.poll() is None:
            kill_controller(proc.pid)
            proc.wait()
    # 2 cores shared by many test runs: a small share at worst, never none (the target itself only sleeps).
    assert during > max(0.05, 10 * idle), 'the stressor did not load the target: %.3f cores (%.3f idle)' % (
        during, idle)
    deadline = parse_iso(helper['Config']['Labels']['chaos.engineering/expires'])
    assert wait_until(lambda: not stressors_on(pclient, target), timeout=max(0, deadline - time.time()) + 5), \
        'the stressor outlived its deadline'
    assert time.time() >= deadline - 1.0, 'the stressor ended before its duration'
    after = cores_used(target_cgroup, seconds=1.0)
    assert after < during / 4, 'the target still uses %.3f cores after the stress (%.3f during)' % (after, during)
    assert state_of(pclient, target) == 'running'
    # The ledger's removal was performed at the deadline too (nothing left to remove, if --timeout came first).
    done_dir = os.path.join(ledger_dir, 'done')
    assert wait_until(lambda: os.path.isdir(done_dir) and os.listdir(done_dir), timeout=30), 'the removal never ended'
    done = [json.load(open(os.path.join(done_dir, name))) for name in os.listdir(done_dir)]
    assert [(e['action'], e['docker']['runtime']) for e in done] == [('remove_stressor', 'podman')], done


def run_tasks(tmp_path, tasks):
    """Several chaos.engineering modules, [(module, args)], as the tasks of one playbook (one start of
    ansible-playbook); returns their registered results in order."""
    results = str(tmp_path / 'results.json')
    names = ['result_%d' % index for index in range(len(tasks))]
    steps = [{'chaos.engineering.' + module: args, 'register': name, 'ignore_errors': True}
             for name, (module, args) in zip(names, tasks)]
    steps.append({'ansible.builtin.copy': dict(content='{{ [%s] | to_json }}' % ', '.join(names), dest=results,
                                               mode='0600')})
    play = dict(hosts='localhost', gather_facts=False, tasks=steps)
    proc = run_plays(tmp_path, [play])
    assert proc.returncode == 0, output(proc)
    with open(results) as handle:
        return json.load(handle)


def test_experiment_role_runs_its_faults_and_probes_on_podman_and_reverts_them(
        pclient, prun, podman, ledger_dir, tmp_path):
    """docker_experiment with experiment_runtime=podman: the kill, its restart and the probe are all on Podman
    (the connection run_context builds carries the runtime to every module of the role)."""
    victim = start(pclient, prun, ['victim'])['victim']
    started_at = pclient.inspect_container(victim)['State']['StartedAt']
    proc = run_playbook('docker_experiment', tmp_path, dict(
        chaos_hosts='localhost', experiment_runtime='podman', experiment_podman_socket=podman,
        experiment_ledger_dir=ledger_dir, experiment_journal_dir=str(tmp_path / 'journal'), experiment_name='podman',
        experiment_duration=2, experiment_probe_interval=0.5, experiment_recovery_timeout=60,
        experiment_probes=[dict(name='victim runs', type='containers', selection=dict(names=['victim-%s' % prun]),
                                phases=['before', 'after'])],
        experiment_faults=[dict(module='container_kill', args=dict(names=['victim-%s' % prun], restart_after=1))]))
    assert proc.returncode == 0, output(proc)
    record = journal(str(tmp_path / 'journal'))['hosts']['localhost']
    assert record['verdict'] == 'passed', record
    (window,) = record['windows']
    assert window['end_by'] == 'restarted', window
    assert [t['name'] for f in record['faults'] for t in f['targets']] == ['victim-%s' % prun]
    # The probe counted the Podman container (a Docker engine has no container of that name).
    assert samples(record, 'before') and all(s['ok'] for s in samples(record, 'before'))
    state = pclient.inspect_container(victim)['State']
    assert state['Status'] == 'running' and state['StartedAt'] != started_at, state
    done = [json.load(open(os.path.join(ledger_dir, 'done', name)))
            for name in os.listdir(os.path.join(ledger_dir, 'done'))]
    assert [(e['action'], e['docker']['runtime']) for e in done if e.get('action')] == [('start', 'podman')], done


def test_teardown_with_runtime_podman_reverts_podmans_faults_and_leaves_the_docker_engines(
        pclient, prun, podman, ledger_dir, tmp_path, bed, engine, run_id):
    """One ledger, faults on Podman and on a Docker engine: the teardown for runtime=podman reverts the Podman
    pause and removes the untimed Podman drop, and leaves the Docker pause alone (the ledger filter compares
    engines); the ledger filtered for that Docker engine then reverts it."""
    ids = start(pclient, prun, ['frozen', 'cut'])
    docker_victim = start_containers(engine, run_id, ['dpaused'])['dpaused']
    podman_conn = dict(runtime='podman', podman_socket=podman, ledger_dir=ledger_dir)
    results = run_tasks(tmp_path, [
        ('container_pause', dict(podman_conn, names=['frozen-%s' % prun], duration=300)),
        ('container_netem', dict(podman_conn, names=['cut-%s' % prun], drop=dict(probability=1.0), untimed=True)),
        ('container_pause', dict(docker_host=bed['hosts'][0], ledger_dir=ledger_dir, names=[docker_victim.name],
                                 duration=300))])
    for result in results:
        assert not result.get('failed') and result['changed'], result
    assert state_of(pclient, ids['frozen']) == 'paused' and helpers_of(pclient, ids['cut'])
    assert status_of(engine, docker_victim) == 'paused'

    teardown = dict(chaos_hosts='localhost', teardown_runtime='podman', teardown_podman_socket=podman,
                    teardown_ledger_dir=ledger_dir, teardown_halt=False)
    proc = run_playbook('teardown', tmp_path, teardown)
    assert proc.returncode == 0, output(proc)
    assert state_of(pclient, ids['frozen']) == 'running'
    assert not helpers_of(pclient, ids['cut']), 'the untimed drop is still in place'
    pending = [json.load(open(os.path.join(ledger_dir, 'pending', name)))
               for name in os.listdir(os.path.join(ledger_dir, 'pending'))]
    assert [(e['target']['name'], e['docker'].get('runtime')) for e in pending] == [(docker_victim.name, 'docker')]
    assert not os.listdir(os.path.join(ledger_dir, 'untimed'))
    assert status_of(engine, docker_victim) == 'paused', 'the Podman teardown reverted a Docker fault'

    # The Docker engine's entry, reverted by the ledger filtered for that engine (not a whole teardown there: the
    # bed's engines are shared, and the teardown's sweeps take every helper of ours on them).
    reverted = run_module_play(tmp_path, 'ledger', dict(state='reverted', ledger_dir=ledger_dir,
                                                        docker_host=bed['hosts'][0]))
    assert not reverted.get('failed'), reverted
    assert [e['target']['name'] for e in reverted['reverted']] == [docker_victim.name]
    assert status_of(engine, docker_victim) == 'running'
    assert not os.listdir(os.path.join(ledger_dir, 'pending'))

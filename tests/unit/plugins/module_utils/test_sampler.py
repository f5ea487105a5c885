"""_sampler: who owns an experiment, what a wait looks for, the sample file reader, and a real daemon's life
(fork, fixed-period samples, lease renewal, halt, owner death) with a fake probe."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from ansible_collections.chaos.engineering.plugins.module_utils import _ledger_store, _process_identity, _sampler


def test_find_owner_takes_the_topmost_ansible_process():
    # module 40 <- sh 30 <- worker 20 (ansible-playbook fork) <- main 10 (ansible-playbook) <- bash 5
    parents = {40: 30, 30: 20, 20: 10, 10: 5, 5: 1}
    argv = {30: ['/bin/sh', '-c', 'x'], 20: ['/venv/bin/python', '/venv/bin/ansible-playbook', 'site.yml'],
            10: ['/venv/bin/python', '/venv/bin/ansible-playbook', 'site.yml'], 5: ['bash']}
    owner = _sampler.find_owner(40, parent_of=parents.get, argv_of=lambda p: argv.get(p, []),
                                comm_of=lambda p: '', start_of=lambda p: p * 100)
    assert owner == dict(kind='controller', pid=10, start=1000)


def test_find_owner_falls_back_to_the_ssh_session_then_none():
    parents = {40: 30, 30: 20, 20: 10, 10: 1}
    comm = {30: 'sh', 20: 'sshd-session', 10: 'sshd'}
    owner = _sampler.find_owner(40, parent_of=parents.get, argv_of=lambda p: [], comm_of=lambda p: comm.get(p, ''),
                                start_of=lambda p: 7)
    assert owner == dict(kind='ssh', pid=20, start=7)
    assert _sampler.find_owner(40, parent_of={40: 30, 30: 1}.get, argv_of=lambda p: [], comm_of=lambda p: 'sh',
                               start_of=lambda p: 7) is None


def test_owner_alive_compares_start_times():
    assert _sampler.owner_alive(None)
    assert _sampler.owner_alive(dict(pid=1, start=5), start_of=lambda p: 5)
    assert not _sampler.owner_alive(dict(pid=1, start=5), start_of=lambda p: 6)
    assert not _sampler.owner_alive(dict(pid=1, start=5), start_of=lambda p: None)


@pytest.mark.parametrize('bad', ['', '-x', 'a/b', '../up', 'a' * 129, None, 3])
def test_run_ids_are_checked(bad):
    with pytest.raises(_sampler.SamplerError):
        _sampler.check_run_id(bad)


def s(probe, at, ok=True):
    return dict(probe=probe, at='2026-12-01T10:00:%06.3fZ' % at, ok=ok)


def test_watch_status_counts_failures_and_holding_since_a_time():
    samples = [s('a', 1), s('a', 2, ok=False), s('a', 3), s('a', 4), s('b', 1), s('b', 3)]
    status = _sampler.watch_status(samples, ['a', 'b'], since='2026-12-01T10:00:01.500Z', min_samples=2)
    assert status['counts'] == dict(a=3, b=1) and status['failed_probes'] == ['a']
    assert status['sampled'] is False and status['held'] is False
    assert status['first_failure']['probe'] == 'a'
    status = _sampler.watch_status(samples, ['a'], since='2026-12-01T10:00:02.500Z', min_samples=2)
    assert status['held'] is True and status['failed_probes'] == [] and status['first_failure'] is None
    assert _sampler.watch_status(samples, [], min_samples=2)['held'] is True


def test_sample_reader_takes_only_complete_lines(tmp_path):
    root = _ledger_store.check_root(str(tmp_path / 'ledger'))
    directory = _sampler.run_dir(root, 'run-1')
    path = os.path.join(directory, _sampler.SAMPLES_FILE)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b'{"probe": "a", "ok": true}\n{"probe": "b", "o')
    reader = _sampler.SampleReader(directory)
    assert [x['probe'] for x in reader.read()] == ['a']
    os.write(fd, b'k": false}\nnot json\n')
    os.close(fd)
    assert [x['probe'] for x in reader.read()] == ['a', 'b']


OWNER_SCRIPT = r'''
import sys, time
sys.path[:0] = %(path)r
from ansible_collections.chaos.engineering.plugins.module_utils import _sampler
owner = dict(kind='controller', pid=%(pid)d, start=_sampler._process_identity.process_start(%(pid)d))
counter = {'n': 0}
def make(probe):
    def take():
        counter['n'] += 1
        return dict(probe=probe['name'], type='http', phase=None, at='2026-12-01T10:00:00.000Z', ok=True, value=counter['n'])
    return take
state, started = _sampler.start(%(root)r, 'run-x', [dict(name='p', type='http')], make, 0.05, 1.0, 60, owner)
print(state['pid'])
'''


def _start_daemon(root, owner_pid):
    code = OWNER_SCRIPT % dict(path=sys.path, pid=owner_pid, root=root)
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=30, check=True)
    return int(out.stdout.strip())


def _wait(predicate, timeout):
    give_up = time.time() + timeout
    while time.time() < give_up:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_a_real_daemon_samples_renews_and_stops(tmp_path):
    root = _ledger_store.check_root(str(tmp_path / 'ledger'))
    pid = _start_daemon(root, os.getpid())
    try:
        assert _wait(lambda: len(_sampler.SampleReader(_sampler.run_dir(root, 'run-x')).read()) >= 5, 10)
        assert not _ledger_store.lease_expired(root, 'run-x')
        time.sleep(1.5)  # longer than the lease: only renewals keep it
        assert not _ledger_store.lease_expired(root, 'run-x')
    finally:
        samples, halt, running = _sampler.stop(root, 'run-x')
    assert running and halt is None and len(samples) >= 5
    assert _ledger_store.lease_expired(root, 'run-x')
    assert _wait(lambda: not os.path.exists('/proc/%d' % pid) or open('/proc/%d/stat' % pid).read().split()[2] == 'Z', 5)


def test_a_halt_drops_the_lease_and_is_reported(tmp_path):
    root = _ledger_store.check_root(str(tmp_path / 'ledger'))
    _start_daemon(root, os.getpid())
    try:
        _ledger_store.write_halt(root, 'stop it')
        status = _sampler.watch(root, 'run-x', ['p'], wait=5)
        assert status['halted'] is True and status['reached'] is False
        # The lease keeper sees the marker within a tick, and drops the lease.
        assert _wait(lambda: _ledger_store.lease_expired(root, 'run-x'), 2)
    finally:
        samples, halt, running = _sampler.stop(root, 'run-x')
    assert halt['reason'] == 'stop it'


def test_the_owner_s_death_drops_the_lease_and_ends_the_daemon(tmp_path):
    root = _ledger_store.check_root(str(tmp_path / 'ledger'))
    owner = subprocess.Popen(['sleep', '60'])
    try:
        pid = _start_daemon(root, owner.pid)
        assert not _ledger_store.lease_expired(root, 'run-x')
        owner.send_signal(signal.SIGKILL)
        owner.wait()
        assert _wait(lambda: _ledger_store.lease_expired(root, 'run-x'), 3)
        state = _sampler.read_state(_sampler.run_dir(root, 'run-x'))
        assert state['pid'] == pid
        assert _wait(lambda: not _sampler.sampler_alive(state), 5)
    finally:
        owner.kill()
        _sampler.stop(root, 'run-x')
    assert json.loads(json.dumps(state))['lease'] == 'run-x'


def test_a_dead_ssh_session_may_be_replaced_by_the_next_task_s_within_the_grace(tmp_path):
    root = _ledger_store.check_root(str(tmp_path / 'ledger'))
    directory = _sampler.run_dir(root, 'run-ssh')
    gone = subprocess.Popen(['true'])
    gone.wait()
    dead = dict(kind='ssh', pid=gone.pid, start=1)
    sampler = _sampler.Sampler(root, directory, [], None, 1.0, 'run-ssh', 2.0, dead, 60, time.time())
    assert not sampler._owner_gone(100.0)       # the grace starts
    assert not sampler._owner_gone(104.9)
    assert sampler._owner_gone(105.0)           # 5 s (at least) without a new session
    me = dict(kind='ssh', pid=os.getpid(), start=_process_identity.process_start(os.getpid()))
    sampler.owner, sampler.owner_lost_at = dead, None
    assert not sampler._owner_gone(200.0)
    _sampler.adopt(directory, me)
    assert not sampler._owner_gone(300.0) and sampler.owner == me and sampler.owner_lost_at is None
    # A controller's death is final, no grace.
    sampler.owner = dict(kind='controller', pid=gone.pid, start=1)
    assert sampler._owner_gone(400.0)
    # Only an SSH owner is recorded for adoption.
    _sampler.adopt(directory, dict(kind='controller', pid=1, start=1))
    assert json.loads(open(os.path.join(directory, _sampler.OWNER_FILE)).read())['kind'] == 'ssh'

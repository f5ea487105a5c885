from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import subprocess
import sys
import threading
import time

import pytest

from ansible_collections.chaos.engineering.plugins.module_utils import _ledger


@pytest.fixture
def fake_actions(monkeypatch):
    """Replace the Docker-facing revert actions with recorders."""
    calls = []
    failures = {}

    def record(entry):
        calls.append((entry['target']['id'], time.time()))
        if failures.get(entry['target']['id'], 0) > 0:
            failures[entry['target']['id']] -= 1
            raise RuntimeError('engine unreachable')
        return 'reverted'

    monkeypatch.setitem(_ledger.REVERT_ACTIONS, 'fake', record)
    monkeypatch.setattr(_ledger, 'RETRY_BACKOFF_SECONDS', (0.05,))
    return calls, failures


def entry(target, deadline, action='fake'):
    return _ledger.new_entry('test_fault', action, dict(id=target, name=target), dict(docker_host='unix:///x'),
                             deadline)


def run_reverter(root, idle_exit=0.3):
    reverter = _ledger.Reverter(str(root), idle_exit=idle_exit)
    thread = threading.Thread(target=reverter.run)
    thread.start()
    return reverter, thread


def test_entries_round_trip_and_claim_is_exclusive(tmp_path):
    e = entry('a', time.time() + 60)
    _ledger.record(str(tmp_path), [e])
    assert [x['id'] for x in _ledger.list_entries(str(tmp_path))] == [e['id']]
    assert _ledger.claim(str(tmp_path), e['id']) is True
    assert _ledger.claim(str(tmp_path), e['id']) is False
    done = _ledger.finish(str(tmp_path), e, 'reverted')
    assert done['status'] == 'reverted'
    assert _ledger.list_entries(str(tmp_path)) == []
    assert [x['status'] for x in _ledger.list_entries(str(tmp_path), 'done')] == ['reverted']
    assert oct(os.stat(os.path.join(str(tmp_path), 'done')).st_mode & 0o777) == '0o700'


def test_reverter_performs_each_entry_once_at_its_deadline(tmp_path, fake_actions):
    calls, dummy = fake_actions
    now = time.time()
    entries = [entry('t%d' % i, now + 0.2 + i * 0.1) for i in range(5)]
    _ledger.record(str(tmp_path), entries)
    reverter, thread = run_reverter(tmp_path)
    thread.join(10)
    assert not thread.is_alive(), 'the reverter must exit once nothing is pending'
    assert sorted(t for t, dummy in calls) == ['t0', 't1', 't2', 't3', 't4']
    by_target = dict(calls)
    for e in entries:
        lateness = by_target[e['target']['id']] - e['deadline']
        assert lateness >= 0, 'never early'
    done = _ledger.list_entries(str(tmp_path), 'done')
    assert sorted(d['status'] for d in done) == ['reverted'] * 5
    assert reverter.lock_fd is None


def test_entry_added_while_running_is_picked_up(tmp_path, fake_actions):
    calls, dummy = fake_actions
    _ledger.record(str(tmp_path), [entry('first', time.time() + 0.5)])
    dummy_reverter, thread = run_reverter(tmp_path)
    time.sleep(0.1)
    _ledger.record(str(tmp_path), [entry('second', time.time() + 0.1)])
    thread.join(10)
    assert [t for t, dummy in calls] == ['second', 'first']


def test_failed_revert_is_retried_then_recorded(tmp_path, fake_actions):
    calls, failures = fake_actions
    failures['flaky'] = 2
    _ledger.record(str(tmp_path), [entry('flaky', time.time())])
    dummy_reverter, thread = run_reverter(tmp_path)
    thread.join(10)
    assert [t for t, dummy in calls] == ['flaky'] * 3
    done = _ledger.list_entries(str(tmp_path), 'done')
    assert done[0]['status'] == 'reverted' and done[0]['attempts'] == 2


def test_second_reverter_on_the_same_ledger_stands_down(tmp_path, fake_actions):
    _ledger.record(str(tmp_path), [entry('x', time.time() + 0.5)])
    first, thread = run_reverter(tmp_path)
    time.sleep(0.1)
    assert _ledger.reverter_running(str(tmp_path))
    assert _ledger.Reverter(str(tmp_path)).run() == 0  # returns at once: lock held
    thread.join(10)
    assert not _ledger.reverter_running(str(tmp_path))
    assert len(fake_actions[0]) == 1


def test_claimed_entries_of_a_dead_reverter_go_back_to_pending(tmp_path, fake_actions):
    e = entry('orphan', time.time())
    _ledger.record(str(tmp_path), [e])
    assert _ledger.claim(str(tmp_path), e['id'])  # claimed, then the reverter "died"
    dummy_reverter, thread = run_reverter(tmp_path)
    thread.join(10)
    assert [t for t, dummy in fake_actions[0]] == ['orphan']


def test_unknown_action_fails_without_retry(tmp_path):
    e = entry('z', time.time(), action='no-such-action')
    _ledger.record(str(tmp_path), [e])
    finished = _ledger.revert_now(str(tmp_path), [e])
    assert finished[0]['status'] == 'failed' and 'unknown revert action' in finished[0]['error']


def test_discard_closes_entries_the_module_reverted_itself(tmp_path):
    e = entry('y', time.time() + 60)
    _ledger.record(str(tmp_path), [e])
    closed = _ledger.discard(str(tmp_path), [e])
    assert closed[0]['status'] == 'reverted-by-module'
    assert _ledger.list_entries(str(tmp_path)) == []


def test_default_ledger_dir_honours_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(_ledger.ENV_LEDGER_DIR, str(tmp_path))
    assert _ledger.default_ledger_dir() == str(tmp_path)


def test_runtime_copy_is_importable_without_ansible(tmp_path):
    runtime = _ledger._install_runtime(str(tmp_path))
    module = os.path.join(runtime, *_ledger.REVERTER_MODULE.split('.')) + '.py'
    assert os.path.exists(module)
    assert os.path.exists(os.path.join(os.path.dirname(module), '_docker.py'))
    # Installing again with the same code reuses the copy.
    assert _ledger._install_runtime(str(tmp_path)) == runtime
    # The copy imports with Ansible unavailable, as on a managed host.
    code = ('import sys; sys.modules["ansible"] = None; '
            'import %s as m; print(m.__file__)' % _ledger.REVERTER_MODULE)
    out = subprocess.check_output([sys.executable, '-c', code], env=dict(os.environ, PYTHONPATH=runtime), cwd='/')
    assert out.decode().strip().startswith(runtime)


class FakeStdinExec:
    """Stands in for _docker.StdinExec: records when it was started and fed."""
    log = []

    def __init__(self, argv, rc):
        self.argv, self.rc, self.text = argv, rc, None
        FakeStdinExec.log.append(('start', argv[0], time.time()))

    def send(self, text, timeout=30.0):
        self.text = text
        FakeStdinExec.log.append(('send', self.argv[0], time.time()))

    def result(self, timeout=30.0):
        from ansible_collections.chaos.engineering.plugins.module_utils._docker import ExecResult
        return ExecResult(self.argv, self.rc, '', '' if self.rc == 0 else 'Bad rule')

    def close(self):
        pass


@pytest.fixture
def fake_engine(monkeypatch):
    """A helper_exec revert against fakes: prearmed processes, plain execs and helper removal are recorded."""
    FakeStdinExec.log = []
    rcs = {}
    execs = []
    removed = []

    class Client:
        def remove_container(self, container_id, force=False):
            removed.append(container_id)

    monkeypatch.setattr(_ledger, 'docker_client', lambda conn: Client())
    monkeypatch.setattr(_ledger._docker.StdinExec, 'start',
                        classmethod(lambda cls, client, cid, argv: FakeStdinExec(argv, rcs.get(argv[0], 0))))

    def exec_in(client, cid, argv):
        execs.append((argv, time.time()))
        return _ledger._docker.ExecResult(argv, 0, '', '')

    monkeypatch.setattr(_ledger._docker, 'exec_in', exec_in)
    return rcs, execs, removed


def helper_entry(deadline, batches=True):
    steps = [['tc', 'qdisc', 'del', 'dev', 'eth0', 'root', 'handle', 'c4a0:'],
             ['iptables', '-w', '5', '-D', 'INPUT', '-j', 'DROP']]
    return _ledger.new_entry('container_netem', 'helper_exec', dict(id='target', name='target'),
                             dict(docker_host='unix:///x'), deadline, steps=steps, ok_if=['Bad rule'],
                             helper_id='helper1', helper_image='img',
                             batches=[[['tc', '-batch', '-'], 'qdisc del dev eth0 root handle c4a0:\n'],
                                      [['iptables-restore', '--noflush'], '*filter\n-D INPUT -j DROP\nCOMMIT\n']]
                             if batches else None)


def test_reverter_starts_batched_reverts_early_and_feeds_them_at_the_deadline(tmp_path, fake_engine):
    rcs, execs, removed = fake_engine
    e = helper_entry(time.time() + 1.0)
    _ledger.record(str(tmp_path), [e])
    dummy_reverter, thread = run_reverter(tmp_path)
    thread.join(10)
    starts = [t for what, dummy, t in FakeStdinExec.log if what == 'start']
    sends = [t for what, dummy, t in FakeStdinExec.log if what == 'send']
    assert len(starts) == 2 and len(sends) == 2
    assert max(starts) < e['deadline'], 'the processes start before the deadline'
    assert min(sends) >= e['deadline'], 'and get their input no earlier than it'
    assert execs == [], 'no exec is started at the deadline'
    assert removed == ['helper1']
    done = _ledger.list_entries(str(tmp_path), 'done')[0]
    assert done['status'] == 'reverted' and done['details']['revert_path'] == 'batched'
    assert done['details']['fault_gone_at'] >= e['deadline']


def test_a_failed_batch_falls_back_to_the_steps(tmp_path, fake_engine):
    rcs, execs, removed = fake_engine
    rcs['iptables-restore'] = 1  # e.g. a rule already removed by hand: the whole commit fails
    e = helper_entry(time.time() + 0.5)
    _ledger.record(str(tmp_path), [e])
    dummy_reverter, thread = run_reverter(tmp_path)
    thread.join(10)
    assert [argv for argv, dummy in execs] == e['details']['steps']
    assert min(t for dummy, t in execs) >= e['deadline']
    done = _ledger.list_entries(str(tmp_path), 'done')[0]
    assert done['status'] == 'reverted' and done['details']['revert_path'] == 'steps'
    assert removed == ['helper1']


def test_entries_without_batches_are_not_prearmed(tmp_path, fake_engine):
    rcs, execs, removed = fake_engine
    e = helper_entry(time.time() + 0.3, batches=False)
    _ledger.record(str(tmp_path), [e])
    dummy_reverter, thread = run_reverter(tmp_path)
    thread.join(10)
    assert FakeStdinExec.log == []
    assert [argv for argv, dummy in execs] == e['details']['steps']


# --- write-ahead arming -----------------------------------------------------------------------------------

def test_an_unsettled_entry_waits_for_its_live_module_then_counts_from_the_apply(tmp_path, fake_actions):
    calls, dummy = fake_actions
    e = entry('slow-apply', time.time() + 0.2)
    e['armed_by'] = _ledger.arming_owner()  # this process: alive, and not settled yet
    _ledger.record(str(tmp_path), [e])
    dummy_reverter, thread = run_reverter(tmp_path)
    time.sleep(0.6)
    assert calls == [], 'the fault may be going in right now: the revert waits for the live module'
    applied_at = time.time()
    _ledger.settle(str(tmp_path), e, applied_at + 0.3)
    thread.join(10)
    assert [t for t, dummy in calls] == ['slow-apply']
    assert calls[0][1] >= applied_at + 0.3, 'the deadline counts from the apply'


def test_an_unsettled_entry_of_a_dead_module_is_performed_at_its_provisional_deadline(tmp_path, fake_actions):
    calls, dummy = fake_actions
    dead = subprocess.Popen([sys.executable, '-c', 'pass'])
    owner = dict(pid=dead.pid, start=_ledger._process_start(dead.pid))
    dead.wait()
    e = entry('killed-mid-apply', time.time() + 0.2)
    e['armed_by'] = owner
    _ledger.record(str(tmp_path), [e])
    dummy_reverter, thread = run_reverter(tmp_path)
    thread.join(10)
    assert [t for t, dummy in calls] == ['killed-mid-apply']
    assert calls[0][1] >= e['deadline']


def test_settling_an_entry_the_reverter_already_performed_arms_it_again(tmp_path, fake_actions):
    calls, dummy = fake_actions
    e = entry('late-settle', time.time())
    _ledger.record(str(tmp_path), [e])
    assert _ledger.revert_now(str(tmp_path), [dict(e)])[0]['status'] == 'reverted'
    _ledger.settle(str(tmp_path), e, time.time() + 0.2)  # the fault went in after that revert
    dummy_reverter, thread = run_reverter(tmp_path)
    thread.join(10)
    assert [t for t, dummy in calls] == ['late-settle', 'late-settle']


def test_arm_waits_until_a_real_reverter_has_listed_the_entries(tmp_path):
    root = str(tmp_path / 'ledger')
    _ledger.check_root(root)
    e = entry('confirmed', time.time() + 60, action='start')
    # A module probing the lock all the time must not make the starting reverter give up.
    stop = threading.Event()

    def probe():
        while not stop.is_set():
            _ledger.reverter_running(root)
    prober = threading.Thread(target=probe)
    prober.start()
    try:
        armed, pid = _ledger.arm(root, [e])
    finally:
        stop.set()
        prober.join()
    try:
        assert armed and pid
        state = _ledger.reverter_state(root)
        assert state['pid'] == pid and state['listed_at'] > e['created_at'] * 1e9
        assert os.path.exists(os.path.join(root, 'pending', e['id'] + '.json'))
    finally:
        _ledger.discard(root, [e])
        os.kill(pid, 15)


# --- trust and malformed entries ---------------------------------------------------------------------------

def test_relative_and_foreign_ledger_dirs_are_refused(tmp_path):
    with pytest.raises(_ledger.LedgerError, match='absolute'):
        _ledger.check_root('relative/ledger')
    loose = tmp_path / 'loose'
    loose.mkdir()
    os.chmod(str(loose), 0o755)
    with pytest.raises(_ledger.LedgerError, match='mode 0755'):
        _ledger.check_root(str(loose))
    os.symlink(str(loose), str(tmp_path / 'link'))
    with pytest.raises(_ledger.LedgerError, match='symlink'):
        _ledger.check_root(str(tmp_path / 'link'))
    open_dir = tmp_path / 'open'
    open_dir.mkdir()
    os.chmod(str(open_dir), 0o777)  # writable by anyone, not sticky
    with pytest.raises(_ledger.LedgerError, match='can be changed by another user'):
        _ledger.check_root(str(open_dir / 'ledger'))


def test_missing_parents_are_made_private_whatever_the_umask(tmp_path):
    old = os.umask(0)
    try:
        root = _ledger.check_root(str(tmp_path / 'a' / 'b' / 'ledger'))
        _ledger.record(root, [entry('m', time.time())])
    finally:
        os.umask(old)
    for path in (tmp_path / 'a', tmp_path / 'a' / 'b', tmp_path / 'a' / 'b' / 'ledger',
                 tmp_path / 'a' / 'b' / 'ledger' / 'pending'):
        assert oct(os.stat(str(path)).st_mode & 0o777) == '0o700', path
    for name in os.listdir(os.path.join(root, 'pending')):
        assert oct(os.stat(os.path.join(root, 'pending', name)).st_mode & 0o777) == '0o600'


@pytest.mark.parametrize('text', ['{"id": "x"}', '[1, 2]', 'garbage', '{"id": "bad", "action": "start"}', 'null'])
def test_a_malformed_entry_is_quarantined_and_blocks_nothing(tmp_path, fake_actions, text):
    calls, dummy = fake_actions
    root = str(tmp_path)
    good = entry('good', time.time() + 0.2)
    _ledger.record(root, [good])
    bad = os.path.join(root, 'pending', 'bad.json')
    with open(bad, 'w') as handle:
        handle.write(text)
    assert [os.path.basename(i['file']) for i in _ledger.list_invalid(root)] == ['bad.json']
    assert [e['id'] for e in _ledger.list_entries(root)] == [good['id']]
    dummy_reverter, thread = run_reverter(tmp_path)
    thread.join(10)
    assert [t for t, dummy in calls] == ['good']
    assert os.path.exists(os.path.join(root, 'quarantine', 'bad.json'))
    assert [i['reason'] for i in _ledger.list_invalid(root)] != ['quarantined']


def test_a_symlinked_entry_lock_or_runtime_file_is_refused(tmp_path):
    root = _ledger.check_root(str(tmp_path / 'ledger'))
    victim = tmp_path / 'victim'
    victim.write_text('precious')
    os.symlink(str(victim), os.path.join(root, 'reverter.lock'))
    assert _ledger.reverter_running(root) is False
    with pytest.raises(_ledger.LedgerError, match='symlink'):
        _ledger.Reverter(root).acquire()
    assert victim.read_text() == 'precious'
    runtime = _ledger._install_runtime(str(tmp_path / 'other'))
    module = os.path.join(runtime, *_ledger.REVERTER_MODULE.split('.')) + '.py'
    with open(module, 'a') as handle:
        handle.write('\nraise SystemExit("swapped")\n')
    _ledger._install_runtime(str(tmp_path / 'other'))
    with open(module) as handle:
        assert 'swapped' not in handle.read(), 'a changed runtime copy is rewritten before it runs'

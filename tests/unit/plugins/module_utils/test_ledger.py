from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import subprocess
import sys
import threading
import time

import pytest

from ansible_collections.chaos.engineering.plugins.module_utils import (
    _docker_helpers,
    _host_exec,
    _ledger_store,
    _process_identity,
    _revert_client,
    _reverter,
)


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

    monkeypatch.setitem(_reverter.REVERT_ACTIONS, 'fake', record)
    monkeypatch.setattr(_reverter, 'RETRY_BACKOFF_SECONDS', (0.05,))
    return calls, failures


def entry(target, deadline, action='fake'):
    return _ledger_store.new_entry('test_fault', action, dict(id=target, name=target), dict(docker_host='unix:///x'),
                                   deadline)


def run_reverter(root, idle_exit=0.3):
    reverter = _reverter.Reverter(str(root), idle_exit=idle_exit)
    thread = threading.Thread(target=reverter.run)
    thread.start()
    return reverter, thread


def test_entries_round_trip_and_claim_is_exclusive(tmp_path):
    e = entry('a', time.time() + 60)
    _ledger_store.record(str(tmp_path), [e])
    assert [x['id'] for x in _ledger_store.list_entries(str(tmp_path))] == [e['id']]
    assert _ledger_store.claim(str(tmp_path), e['id']) is True
    assert _ledger_store.claim(str(tmp_path), e['id']) is False
    done = _ledger_store.finish(str(tmp_path), e, 'reverted')
    assert done['status'] == 'reverted'
    assert _ledger_store.list_entries(str(tmp_path)) == []
    assert [x['status'] for x in _ledger_store.list_entries(str(tmp_path), 'done')] == ['reverted']
    assert oct(os.stat(os.path.join(str(tmp_path), 'done')).st_mode & 0o777) == '0o700'


def test_reverter_performs_each_entry_once_at_its_deadline(tmp_path, fake_actions):
    calls, dummy = fake_actions
    now = time.time()
    entries = [entry('t%d' % i, now + 0.2 + i * 0.1) for i in range(5)]
    _ledger_store.record(str(tmp_path), entries)
    reverter, thread = run_reverter(tmp_path)
    thread.join(10)
    assert not thread.is_alive(), 'the reverter must exit once nothing is pending'
    assert sorted(t for t, dummy in calls) == ['t0', 't1', 't2', 't3', 't4']
    by_target = dict(calls)
    for e in entries:
        lateness = by_target[e['target']['id']] - e['deadline']
        assert lateness >= 0, 'never early'
    done = _ledger_store.list_entries(str(tmp_path), 'done')
    assert sorted(d['status'] for d in done) == ['reverted'] * 5
    assert reverter.lock_fd is None


def test_entry_added_while_running_is_picked_up(tmp_path, fake_actions):
    calls, dummy = fake_actions
    _ledger_store.record(str(tmp_path), [entry('first', time.time() + 0.5)])
    dummy_reverter, thread = run_reverter(tmp_path)
    time.sleep(0.1)
    _ledger_store.record(str(tmp_path), [entry('second', time.time() + 0.1)])
    thread.join(10)
    assert [t for t, dummy in calls] == ['second', 'first']


def test_failed_revert_is_retried_then_recorded(tmp_path, fake_actions):
    calls, failures = fake_actions
    failures['flaky'] = 2
    _ledger_store.record(str(tmp_path), [entry('flaky', time.time())])
    dummy_reverter, thread = run_reverter(tmp_path)
    thread.join(10)
    assert [t for t, dummy in calls] == ['flaky'] * 3
    done = _ledger_store.list_entries(str(tmp_path), 'done')
    assert done[0]['status'] == 'reverted' and done[0]['attempts'] == 2


def test_second_reverter_on_the_same_ledger_stands_down(tmp_path, fake_actions):
    _ledger_store.record(str(tmp_path), [entry('x', time.time() + 0.5)])
    first, thread = run_reverter(tmp_path)
    time.sleep(0.1)
    assert _reverter.reverter_running(str(tmp_path))
    assert _reverter.Reverter(str(tmp_path)).run() == 0  # returns at once: lock held
    thread.join(10)
    assert not _reverter.reverter_running(str(tmp_path))
    assert len(fake_actions[0]) == 1


def test_claimed_entries_of_a_dead_reverter_go_back_to_pending(tmp_path, fake_actions):
    e = entry('orphan', time.time())
    _ledger_store.record(str(tmp_path), [e])
    assert _ledger_store.claim(str(tmp_path), e['id'])  # claimed, then the reverter "died"
    dummy_reverter, thread = run_reverter(tmp_path)
    thread.join(10)
    assert [t for t, dummy in fake_actions[0]] == ['orphan']


def test_unknown_action_fails_without_retry(tmp_path):
    e = entry('z', time.time(), action='no-such-action')
    _ledger_store.record(str(tmp_path), [e])
    finished = _reverter.revert_now(str(tmp_path), [e])
    assert finished[0]['status'] == 'failed' and 'unknown revert action' in finished[0]['error']


def test_revert_now_waits_for_an_entry_the_reverter_is_performing(tmp_path):
    # The deadline came as the module reverted: the reverter claimed the entry first. revert_now must not return
    # before it is done there, or "reverted" would not mean reverted (and a fault window would miss its end).
    root = str(tmp_path)
    e = entry('busy', time.time())
    _ledger_store.record(root, [e])
    assert _ledger_store.claim(root, e['id'])  # the reverter has it
    finishing = threading.Timer(0.5, lambda: _ledger_store.finish(root, e, 'reverted'))
    finishing.start()
    try:
        assert _reverter.revert_now(root, [e], wait_seconds=20) == []
        assert not os.path.exists(os.path.join(root, 'claimed', e['id'] + '.json'))
        assert os.path.exists(os.path.join(root, 'done', e['id'] + '.json'))
    finally:
        finishing.join(10)


def test_revert_now_gives_up_on_a_claimed_entry_after_its_wait(tmp_path):
    root = str(tmp_path)
    e = entry('stuck', time.time())
    _ledger_store.record(root, [e])
    assert _ledger_store.claim(root, e['id'])
    returned = []
    waiting = threading.Thread(target=lambda: returned.append(_reverter.revert_now(root, [e], wait_seconds=0.3)))
    waiting.start()
    waiting.join(30)  # a wait that never ends would leave the thread alive
    assert returned == [[]] and not waiting.is_alive()
    assert os.path.exists(os.path.join(root, 'claimed', e['id'] + '.json'))  # still the reverter's: untouched


def test_discard_closes_entries_the_module_reverted_itself(tmp_path):
    e = entry('y', time.time() + 60)
    _ledger_store.record(str(tmp_path), [e])
    closed = _ledger_store.discard(str(tmp_path), [e])
    assert closed[0]['status'] == 'reverted-by-module'
    assert _ledger_store.list_entries(str(tmp_path)) == []


def test_default_ledger_dir_honours_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(_ledger_store.ENV_LEDGER_DIR, str(tmp_path))
    assert _ledger_store.default_ledger_dir() == str(tmp_path)


def test_runtime_copy_is_importable_without_ansible(tmp_path):
    runtime = _reverter._install_runtime(str(tmp_path))
    module = os.path.join(runtime, *_reverter.REVERTER_MODULE.split('.')) + '.py'
    assert os.path.exists(module)
    assert os.path.exists(os.path.join(os.path.dirname(module), '_docker.py'))
    for name in ('_docker_helpers.py', '_errors.py', '_host_exec.py', '_kubelet.py'):
        assert os.path.exists(os.path.join(os.path.dirname(module), name))
    # Installing again with the same code reuses the copy.
    assert _reverter._install_runtime(str(tmp_path)) == runtime
    # The copy imports with Ansible unavailable, as on a managed host.
    code = ('import sys; sys.modules["ansible"] = None; '
            'import %s as m; print(m.__file__)' % _reverter.REVERTER_MODULE)
    out = subprocess.check_output([sys.executable, '-c', code], env=dict(os.environ, PYTHONPATH=runtime), cwd='/')
    assert out.decode().strip().startswith(runtime)


class FakeStdinExec:
    """Stands in for _docker_helpers.StdinExec: records when it was started and fed."""
    log = []

    def __init__(self, argv, rc):
        self.argv, self.rc, self.text = argv, rc, None
        FakeStdinExec.log.append(('start', argv[0], time.time()))

    def send(self, text, timeout=30.0):
        self.text = text
        FakeStdinExec.log.append(('send', self.argv[0], time.time()))

    def result(self, timeout=30.0):
        from ansible_collections.chaos.engineering.plugins.module_utils._host_exec import ExecResult
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

    monkeypatch.setattr(_revert_client, 'docker_client', lambda conn: Client())
    monkeypatch.setattr(_docker_helpers.StdinExec, 'start',
                        classmethod(lambda cls, client, cid, argv: FakeStdinExec(argv, rcs.get(argv[0], 0))))

    def exec_in(client, cid, argv):
        execs.append((argv, time.time()))
        return _host_exec.ExecResult(argv, 0, '', '')

    monkeypatch.setattr(_docker_helpers, 'exec_in', exec_in)
    return rcs, execs, removed


def helper_entry(deadline, batches=True):
    steps = [['tc', 'qdisc', 'del', 'dev', 'eth0', 'root', 'handle', 'c4a0:'],
             ['iptables', '-w', '5', '-D', 'INPUT', '-j', 'DROP']]
    return _ledger_store.new_entry('container_netem', 'helper_exec', dict(id='target', name='target'),
                                   dict(docker_host='unix:///x'), deadline, steps=steps, ok_if=['Bad rule'],
                                   helper_id='helper1', helper_image='img',
                                   batches=[[['tc', '-batch', '-'], 'qdisc del dev eth0 root handle c4a0:\n'],
                                            [['iptables-restore', '--noflush'], '*filter\n-D INPUT -j DROP\nCOMMIT\n']]
                                   if batches else None)


def test_reverter_starts_batched_reverts_early_and_feeds_them_at_the_deadline(tmp_path, fake_engine):
    rcs, execs, removed = fake_engine
    e = helper_entry(time.time() + 1.0)
    _ledger_store.record(str(tmp_path), [e])
    dummy_reverter, thread = run_reverter(tmp_path)
    thread.join(10)
    starts = [t for what, dummy, t in FakeStdinExec.log if what == 'start']
    sends = [t for what, dummy, t in FakeStdinExec.log if what == 'send']
    assert len(starts) == 2 and len(sends) == 2
    assert max(starts) < e['deadline'], 'the processes start before the deadline'
    assert min(sends) >= e['deadline'], 'and get their input no earlier than it'
    assert execs == [], 'no exec is started at the deadline'
    assert removed == ['helper1']
    done = _ledger_store.list_entries(str(tmp_path), 'done')[0]
    assert done['status'] == 'reverted' and done['details']['revert_path'] == 'batched'
    assert done['details']['fault_gone_at'] >= e['deadline']


def test_a_failed_batch_falls_back_to_the_steps(tmp_path, fake_engine):
    rcs, execs, removed = fake_engine
    rcs['iptables-restore'] = 1  # e.g. a rule already removed by hand: the whole commit fails
    e = helper_entry(time.time() + 0.5)
    _ledger_store.record(str(tmp_path), [e])
    dummy_reverter, thread = run_reverter(tmp_path)
    thread.join(10)
    assert [argv for argv, dummy in execs] == e['details']['steps']
    assert min(t for dummy, t in execs) >= e['deadline']
    done = _ledger_store.list_entries(str(tmp_path), 'done')[0]
    assert done['status'] == 'reverted' and done['details']['revert_path'] == 'steps'
    assert removed == ['helper1']


def test_entries_without_batches_are_not_prearmed(tmp_path, fake_engine):
    rcs, execs, removed = fake_engine
    e = helper_entry(time.time() + 0.3, batches=False)
    _ledger_store.record(str(tmp_path), [e])
    dummy_reverter, thread = run_reverter(tmp_path)
    thread.join(10)
    assert FakeStdinExec.log == []
    assert [argv for argv, dummy in execs] == e['details']['steps']


# --- write-ahead arming -----------------------------------------------------------------------------------

def test_an_unsettled_entry_waits_for_its_live_module_then_counts_from_the_apply(tmp_path, fake_actions):
    calls, dummy = fake_actions
    e = entry('slow-apply', time.time() + 0.2)
    e['armed_by'] = _process_identity.this_process()  # this process: alive, and not settled yet
    _ledger_store.record(str(tmp_path), [e])
    dummy_reverter, thread = run_reverter(tmp_path)
    time.sleep(0.6)
    assert calls == [], 'the fault may be going in right now: the revert waits for the live module'
    applied_at = time.time()
    _ledger_store.settle(str(tmp_path), e, applied_at + 0.3)
    thread.join(10)
    assert [t for t, dummy in calls] == ['slow-apply']
    assert calls[0][1] >= applied_at + 0.3, 'the deadline counts from the apply'


def test_an_unsettled_entry_of_a_dead_module_is_performed_at_its_provisional_deadline(tmp_path, fake_actions):
    calls, dummy = fake_actions
    dead = subprocess.Popen([sys.executable, '-c', 'pass'])
    owner = dict(pid=dead.pid, start=_process_identity.process_start(dead.pid))
    dead.wait()
    e = entry('killed-mid-apply', time.time() + 0.2)
    e['armed_by'] = owner
    _ledger_store.record(str(tmp_path), [e])
    dummy_reverter, thread = run_reverter(tmp_path)
    thread.join(10)
    assert [t for t, dummy in calls] == ['killed-mid-apply']
    assert calls[0][1] >= e['deadline']


def test_a_module_that_settles_and_exits_between_listing_and_check_gets_its_settled_deadline(
        tmp_path, fake_actions, monkeypatch):
    # The reverter listed the entry unsettled (its provisional deadline passed: a slow arm and kill); the module
    # then settled it and exited before the reverter checked whether it lives. The provisional deadline must not
    # be acted on: the revert comes at the settled one, counted from the apply.
    calls, dummy = fake_actions
    root = str(tmp_path)
    module = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])
    try:
        e = entry('settled-meanwhile', time.time() - 0.5)
        e['armed_by'] = dict(pid=module.pid, start=_process_identity.process_start(module.pid))
        _ledger_store.record(root, [e])
        reverter = _reverter.Reverter(root)
        listed = reverter.pending()
        assert listed[0].get('applied') is None
        settled = {}
        real_alive = _reverter.arming_alive

        def settle_then_exit(checked):
            if not settled:  # the module's last moments, just after our listing
                settled['deadline'] = time.time() + 0.5
                _ledger_store.settle(root, dict(e), settled['deadline'])
                module.kill()
                module.wait()
            return real_alive(checked)
        monkeypatch.setattr(_reverter, 'arming_alive', settle_then_exit)
        reverter.pending = lambda: listed  # the listing from before the settle
        reverter.step()
        time.sleep(0.2)
        assert calls == [], 'reverted at the provisional deadline, before the settled one'
        monkeypatch.setattr(_reverter, 'arming_alive', real_alive)
        del reverter.pending  # list pending/ again
        give_up = time.time() + 10
        while not calls and time.time() < give_up:
            reverter.step()
            time.sleep(0.02)
        assert [t for t, dummy in calls] == ['settled-meanwhile']
        assert calls[0][1] >= settled['deadline']
        if reverter._pool is not None:  # pylint: disable=protected-access
            reverter._pool.shutdown(wait=True)  # pylint: disable=protected-access
    finally:
        if module.poll() is None:
            module.kill()
            module.wait()


def test_settling_an_entry_the_reverter_already_performed_arms_it_again(tmp_path, fake_actions):
    calls, dummy = fake_actions
    e = entry('late-settle', time.time())
    _ledger_store.record(str(tmp_path), [e])
    assert _reverter.revert_now(str(tmp_path), [dict(e)])[0]['status'] == 'reverted'
    _ledger_store.settle(str(tmp_path), e, time.time() + 0.2)  # the fault went in after that revert
    dummy_reverter, thread = run_reverter(tmp_path)
    thread.join(10)
    assert [t for t, dummy in calls] == ['late-settle', 'late-settle']


def test_arm_waits_until_a_real_reverter_has_listed_the_entries(tmp_path):
    root = str(tmp_path / 'ledger')
    _ledger_store.check_root(root)
    e = entry('confirmed', time.time() + 60, action='start')
    # A module probing the lock all the time must not make the starting reverter give up.
    stop = threading.Event()

    def probe():
        while not stop.is_set():
            _reverter.reverter_running(root)
    prober = threading.Thread(target=probe)
    prober.start()
    try:
        armed, pid = _reverter.arm(root, [e])
    finally:
        stop.set()
        prober.join()
    try:
        assert armed and pid
        state = _reverter.reverter_state(root)
        assert state['pid'] == pid and state['listed_at'] > e['created_at'] * 1e9
        assert os.path.exists(os.path.join(root, 'pending', e['id'] + '.json'))
    finally:
        _ledger_store.discard(root, [e])
        os.kill(pid, 15)


def test_arm_is_confirmed_by_a_running_reverter_when_writing_the_entries_is_slow(tmp_path, monkeypatch):
    # A reverter already runs (container_netem starts one early). The module's fsyncs after the renames take longer
    # than the listing's trust margin (20 entries on a loaded host): the reverter's last listing then predates the
    # moment the module asks about, and an unchanged pending/ was never listed (nor confirmed) again. The module
    # waited its 120 s and changed nothing: "no reverter confirmed the revert within 120 s".
    root = str(tmp_path / 'ledger')
    _ledger_store.check_root(root)
    reverter = _reverter.Reverter(root, idle_exit=30)
    thread = threading.Thread(target=reverter.run)
    thread.start()
    try:
        assert wait_for(lambda: _reverter.reverter_state(root) is not None, 10)
        real_record = _reverter.record

        def slow_record(*args, **kwargs):
            real_record(*args, **kwargs)
            time.sleep(0.4)  # the fsyncs of many entries under load, after their renames
        monkeypatch.setattr(_reverter, 'record', slow_record)
        monkeypatch.setattr(_reverter, 'START_WAIT_MAX_SECONDS', 3.0)
        entries = [entry('slow-%d' % i, time.time() + 60) for i in range(20)]
        started = time.time()
        armed, pid = _reverter.arm(root, entries)
        assert armed and pid == os.getpid(), 'the running reverter never confirmed the entries'
        assert time.time() - started < 2.5
    finally:
        _ledger_store.discard(root, _ledger_store.list_entries(root))
        reverter.idle_exit = 0
        thread.join(20)


def test_entries_listed_before_the_arming_module_took_its_confirm_time_are_confirmed_again(tmp_path):
    # Under load the reverter can list freshly written entries before the module, still fsyncing them, takes
    # its confirm time; the directory then stays unchanged, and a listing that is never said again leaves the
    # module waiting 120 s ("no reverter confirmed the revert").
    root = _ledger_store.check_root(str(tmp_path / 'ledger'))
    reverter = _reverter.Reverter(root)
    assert reverter.acquire()
    try:
        e = entry('racing', time.time() + 60)
        _ledger_store.record(root, [e])
        pending = os.path.join(root, 'pending')
        written = time.time_ns() - 200 * 1000 * 1000
        os.utime(pending, ns=(written, written))  # the writes were a while ago: the listing will be trusted
        assert [x['id'] for x in reverter.pending()] == [e['id']]
        confirm_after = time.time_ns()  # the module, done with its fsyncs
        time.sleep(0.1)  # RECONFIRM_NS
        assert [x['id'] for x in reverter.pending()] == [e['id']]
        assert reverter.listing[1] < confirm_after  # not listed again: the directory did not change
        assert _reverter.reverter_state(root)['listed_at'] > confirm_after
        # Settled entries wait for no module: nothing more is said.
        _ledger_store.settle(root, e)
        os.utime(pending, ns=(written, written))
        reverter.listing = None
        reverter.pending()
        said = _reverter.reverter_state(root)['listed_at']
        time.sleep(0.1)  # RECONFIRM_NS
        reverter.pending()
        assert _reverter.reverter_state(root)['listed_at'] == said
    finally:
        reverter.release_lock()


# --- trust and malformed entries ---------------------------------------------------------------------------

def test_relative_and_foreign_ledger_dirs_are_refused(tmp_path):
    with pytest.raises(_ledger_store.LedgerError, match='absolute'):
        _ledger_store.check_root('relative/ledger')
    loose = tmp_path / 'loose'
    loose.mkdir()
    os.chmod(str(loose), 0o755)
    with pytest.raises(_ledger_store.LedgerError, match='mode 0755'):
        _ledger_store.check_root(str(loose))
    os.symlink(str(loose), str(tmp_path / 'link'))
    with pytest.raises(_ledger_store.LedgerError, match='symlink'):
        _ledger_store.check_root(str(tmp_path / 'link'))
    open_dir = tmp_path / 'open'
    open_dir.mkdir()
    os.chmod(str(open_dir), 0o777)  # writable by anyone, not sticky
    with pytest.raises(_ledger_store.LedgerError, match='can be changed by another user'):
        _ledger_store.check_root(str(open_dir / 'ledger'))


def test_missing_parents_are_made_private_whatever_the_umask(tmp_path):
    old = os.umask(0)
    try:
        root = _ledger_store.check_root(str(tmp_path / 'a' / 'b' / 'ledger'))
        _ledger_store.record(root, [entry('m', time.time())])
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
    _ledger_store.record(root, [good])
    bad = os.path.join(root, 'pending', 'bad.json')
    with open(bad, 'w') as handle:
        handle.write(text)
    assert [os.path.basename(i['file']) for i in _ledger_store.list_invalid(root)] == ['bad.json']
    assert [e['id'] for e in _ledger_store.list_entries(root)] == [good['id']]
    dummy_reverter, thread = run_reverter(tmp_path)
    thread.join(10)
    assert [t for t, dummy in calls] == ['good']
    assert os.path.exists(os.path.join(root, 'quarantine', 'bad.json'))
    assert [i['reason'] for i in _ledger_store.list_invalid(root)] != ['quarantined']


def test_a_symlinked_entry_lock_or_runtime_file_is_refused(tmp_path):
    root = _ledger_store.check_root(str(tmp_path / 'ledger'))
    victim = tmp_path / 'victim'
    victim.write_text('precious')
    os.symlink(str(victim), os.path.join(root, 'reverter.lock'))
    assert _reverter.reverter_running(root) is False
    with pytest.raises(_ledger_store.LedgerError, match='symlink'):
        _reverter.Reverter(root).acquire()
    assert victim.read_text() == 'precious'
    runtime = _reverter._install_runtime(str(tmp_path / 'other'))
    module = os.path.join(runtime, *_reverter.REVERTER_MODULE.split('.')) + '.py'
    with open(module, 'a') as handle:
        handle.write('\nraise SystemExit("swapped")\n')
    _reverter._install_runtime(str(tmp_path / 'other'))
    with open(module) as handle:
        assert 'swapped' not in handle.read(), 'a changed runtime copy is rewritten before it runs'


# --- leases -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize('name', ['a', 'run-42', 'exp_1.2', 'A' * 128, '9lives'])
def test_valid_lease_names(name):
    assert _ledger_store.valid_lease_name(name) is True


@pytest.mark.parametrize('name', ['', '.hidden', '-x', '_x', 'a/b', '../up', 'a b', 'a\n', 'é', 'A' * 129, None, 7])
def test_invalid_lease_names(name):
    assert _ledger_store.valid_lease_name(name) is False


def test_a_lease_is_held_while_renewed_and_expires_after_its_seconds(tmp_path):
    root = str(tmp_path / 'ledger')
    assert _ledger_store.lease_expired(root, 'run-1') is True, 'missing means expired'
    lease = _ledger_store.renew_lease(root, 'run-1', 2)
    assert lease['name'] == 'run-1' and lease['seconds'] == 2.0
    path = os.path.join(root, 'leases', 'run-1.json')
    assert oct(os.stat(path).st_mode & 0o777) == '0o600'
    assert oct(os.stat(os.path.dirname(path)).st_mode & 0o777) == '0o700'
    now = lease['renewed_at']
    assert _ledger_store.lease_expired(root, 'run-1', now=now + 1.9) is False
    assert _ledger_store.lease_expired(root, 'run-1', now=now + 2.1) is True
    renewed = _ledger_store.renew_lease(root, 'run-1', 2)
    assert _ledger_store.lease_expired(root, 'run-1', now=renewed['renewed_at'] + 1.9) is False
    assert _ledger_store.lease_expired(root, 'other') is True
    _ledger_store.drop_lease(root, 'run-1')
    assert not os.path.exists(path)
    assert _ledger_store.lease_expired(root, 'run-1') is True
    _ledger_store.drop_lease(root, 'run-1')  # missing: no error


@pytest.mark.parametrize('name, seconds, match', [('a/b', 5, 'Invalid lease name'), ('', 5, 'Invalid lease name'),
                                                  ('ok', 0, 'positive'), ('ok', -1, 'positive'),
                                                  ('ok', float('inf'), 'positive'), ('ok', True, 'positive'),
                                                  ('ok', '5', 'positive')])
def test_renew_refuses_bad_names_and_seconds(tmp_path, name, seconds, match):
    with pytest.raises(_ledger_store.LedgerError, match=match):
        _ledger_store.renew_lease(str(tmp_path / 'ledger'), name, seconds)
    assert not os.path.exists(str(tmp_path / 'ledger' / 'leases'))


def test_drop_refuses_a_bad_name(tmp_path):
    with pytest.raises(_ledger_store.LedgerError, match='Invalid lease name'):
        _ledger_store.drop_lease(str(tmp_path), '../pending/x')


def test_a_lease_that_is_not_ours_counts_as_expired(tmp_path):
    root = str(tmp_path / 'ledger')
    _ledger_store.renew_lease(root, 'mine', 600)
    path = os.path.join(root, 'leases', 'mine.json')
    assert _ledger_store.lease_expired(root, 'mine') is False
    # A symlink to a lease that would be held is never followed.
    os.rename(path, os.path.join(root, 'leases', 'real.json'))
    os.symlink(os.path.join(root, 'leases', 'real.json'), path)
    assert _ledger_store.lease_expired(root, 'mine') is True
    os.unlink(path)
    os.rename(os.path.join(root, 'leases', 'real.json'), path)
    os.chmod(path, 0o644)  # others may read it: not private
    assert _ledger_store.lease_expired(root, 'mine') is True
    os.chmod(path, 0o600)
    assert _ledger_store.lease_expired(root, 'mine') is False
    if os.geteuid() == 0:
        os.chown(path, 4242, 4242)  # another owner
        assert _ledger_store.lease_expired(root, 'mine') is True
        os.chown(path, 0, 0)
        assert _ledger_store.lease_expired(root, 'mine') is False
    # A leases directory others can enter is not trusted either.
    os.chmod(os.path.join(root, 'leases'), 0o755)
    assert _ledger_store.lease_expired(root, 'mine') is True


@pytest.mark.parametrize('text', ['garbage', '[]', '{"name": "mine", "seconds": 600}',
                                  '{"name": "other", "seconds": 600, "renewed_at": 9e18}',
                                  '{"name": "mine", "seconds": "600", "renewed_at": 9e18}',
                                  '{"name": "mine", "seconds": 600, "renewed_at": true}',
                                  '{"name": "mine", "seconds": 0, "renewed_at": 9e18}'])
def test_a_malformed_lease_counts_as_expired(tmp_path, text):
    root = _ledger_store.check_root(str(tmp_path / 'ledger'))
    leases = _ledger_store._subdir(root, 'leases')
    fd = os.open(os.path.join(leases, 'mine.json'), os.O_WRONLY | os.O_CREAT, 0o600)
    with os.fdopen(fd, 'w') as handle:
        handle.write(text)
    assert _ledger_store.lease_expired(root, 'mine') is True


def test_renewing_replaces_a_symlink_instead_of_writing_through_it(tmp_path):
    root = _ledger_store.check_root(str(tmp_path / 'ledger'))
    leases = _ledger_store._subdir(root, 'leases')
    victim = tmp_path / 'victim'
    victim.write_text('precious')
    os.symlink(str(victim), os.path.join(leases, 'mine.json'))
    _ledger_store.renew_lease(root, 'mine', 5)
    assert victim.read_text() == 'precious'
    assert not os.path.islink(os.path.join(leases, 'mine.json'))
    assert _ledger_store.lease_expired(root, 'mine') is False


def test_a_symlinked_leases_directory_is_refused(tmp_path):
    root = _ledger_store.check_root(str(tmp_path / 'ledger'))
    elsewhere = tmp_path / 'elsewhere'
    elsewhere.mkdir(mode=0o700)
    os.symlink(str(elsewhere), os.path.join(root, 'leases'))
    with pytest.raises(_ledger_store.LedgerError, match='symlink'):
        _ledger_store.renew_lease(root, 'mine', 5)
    assert os.listdir(str(elsewhere)) == []
    assert _ledger_store.lease_expired(root, 'mine') is True


def test_entry_validation_checks_the_lease():
    good = entry('t', time.time() + 60)
    good['lease'] = 'run-1'
    assert _ledger_store.invalid_reason(good) is None
    for bad in ('../x', '', 42, ['run-1']):
        wrong = dict(good, lease=bad)
        assert 'lease' in _ledger_store.invalid_reason(wrong), bad
    assert _ledger_store.invalid_reason(dict(good, lease=None)) is None, 'no lease'


def test_due_is_now_when_the_lease_expired_and_the_deadline_otherwise(tmp_path):
    root = str(tmp_path / 'ledger')
    reverter = _reverter.Reverter(_ledger_store.check_root(root))
    now = time.time()
    e = entry('t', now + 600)
    e['lease'] = 'run-1'
    assert reverter._due(e, now) == now, 'never renewed: at once'
    _ledger_store.renew_lease(root, 'run-1', 30)
    assert reverter._due(e, time.time()) == e['deadline'], 'held: at the deadline'
    assert reverter._due(e, time.time() + 31) <= time.time() + 31, 'expired: at once'
    # A failed attempt keeps its backoff, lease or not: a failing revert is not retried every poll.
    assert reverter._due(dict(e, retry_at=now + 100), now + 40) == now + 100
    # An entry without a lease is unaffected.
    assert reverter._due(entry('u', now + 600), now) == now + 600


def test_due_with_an_expired_lease_still_waits_for_a_live_arming_module(tmp_path):
    root = _ledger_store.check_root(str(tmp_path / 'ledger'))
    reverter = _reverter.Reverter(root)
    now = time.time()
    e = entry('t', now + 600)
    e.update(lease='gone', armed_by=_process_identity.this_process())  # this process: alive and not settled
    assert reverter._due(e, now) > now, 'the fault may be going in right now'
    assert reverter._due(dict(e, applied=True), now) == now, 'settled: at once'
    late = now + _reverter.ARMING_PATIENCE_SECONDS + 1
    assert reverter._due(e, late) == late, 'the patience counts from the entry, not from the far deadline'


def test_each_lease_is_read_once_per_step(tmp_path, monkeypatch, fake_actions):
    root = _ledger_store.check_root(str(tmp_path / 'ledger'))
    _ledger_store.renew_lease(root, 'shared', 60)
    entries = [entry('t%d' % i, time.time() + 600) for i in range(5)]
    for e in entries:
        e['lease'] = 'shared'
    _ledger_store.record(root, entries)
    reads = []
    real = _ledger_store.lease_expired
    monkeypatch.setattr(_reverter, 'lease_expired', lambda *args, **kwargs: reads.append(args[1]) or real(*args, **kwargs))
    reverter = _reverter.Reverter(root)
    reverter.step()
    assert reads == ['shared']
    reverter.step()
    assert reads == ['shared', 'shared'], 'read again at the next step: a lease can expire between two'


def test_the_reverter_performs_an_entry_at_once_when_its_lease_expires(tmp_path, fake_actions):
    calls, dummy = fake_actions
    root = _ledger_store.check_root(str(tmp_path / 'ledger'))
    _ledger_store.renew_lease(root, 'run-1', 0.5)
    held = entry('held', time.time() + 600)
    held['lease'] = 'run-1'
    other = entry('no-lease', time.time() + 600)
    _ledger_store.record(root, [held, other])
    reverter, thread = run_reverter(root)
    try:
        time.sleep(0.2)
        assert calls == [], 'the lease is held'
        assert wait_for(lambda: calls, 10), 'the lease expired: the revert comes long before the deadline'
        assert [t for t, dummy in calls] == ['held']
        # The done record is written once the action returns: a look in between sees none yet.
        assert wait_for(lambda: _ledger_store.list_entries(root, 'done'), 10), 'the revert was never recorded'
        done = _ledger_store.list_entries(root, 'done')
        assert [(d['id'], d['status'], d['ended_by']) for d in done] == [(held['id'], 'reverted', 'lease')]
        assert [e['id'] for e in _ledger_store.list_entries(root)] == [other['id']]
    finally:
        _reverter.revert_now(root, _ledger_store.list_entries(root))
        thread.join(10)


def wait_for(condition, timeout):
    give_up = time.time() + timeout
    while time.time() < give_up:
        if condition():
            return True
        time.sleep(0.02)
    return False


# --- the halt marker --------------------------------------------------------------------------------------

def test_the_halt_marker_is_written_private_and_read_back(tmp_path):
    root = str(tmp_path / 'ledger')
    assert _ledger_store.halted_at(root) is None
    before = time.time()
    marker = _ledger_store.write_halt(root, 'stop now')
    assert marker['reason'] == 'stop now' and '@' in marker['by']
    assert before <= marker['at'] <= time.time()
    assert _ledger_store.halted_at(root) == marker['at']
    path = os.path.join(root, 'halt.json')
    assert oct(os.stat(path).st_mode & 0o777) == '0o600'
    later = _ledger_store.write_halt(root, 'again')
    assert _ledger_store.halted_at(root) == later['at'] >= marker['at']
    with pytest.raises(_ledger_store.LedgerError, match='reason'):
        _ledger_store.write_halt(root, None)


def test_a_halt_marker_that_is_not_ours_is_ignored(tmp_path):
    root = _ledger_store.check_root(str(tmp_path / 'ledger'))
    path = os.path.join(root, 'halt.json')
    real = tmp_path / 'real.json'
    real.write_text('{"at": 1, "by": "x@y", "reason": "r"}')
    os.chmod(str(real), 0o600)
    os.symlink(str(real), path)
    assert _ledger_store.halted_at(root) is None
    os.unlink(path)
    for text in ('garbage', '[]', '{"reason": "r"}', '{"at": "now"}', '{"at": true}'):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, 'w') as handle:
            handle.write(text)
        assert _ledger_store.halted_at(root) is None, text
    _ledger_store.write_halt(root, 'ok')
    os.chmod(path, 0o644)
    assert _ledger_store.halted_at(root) is None
    if os.geteuid() == 0:
        os.chmod(path, 0o600)
        os.chown(path, 4242, 4242)
        assert _ledger_store.halted_at(root) is None

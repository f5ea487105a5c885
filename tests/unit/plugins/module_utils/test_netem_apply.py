"""_netem_apply: the reverter removing our helper between our read and our cleanup is no error.

The fake engine holds one target namespace (tc and iptables text) and helper containers. Its "reverter"
fires on the first cleanup exec into the fault's helper: it reverts the fault and removes that helper, as
the ledger's reverter does at a deadline, and the engine then answers 409 like Docker does.
"""
import os

import pytest

from ansible_collections.chaos.engineering.plugins.module_utils import (
    _docker_helpers, _host_exec, _netem_apply, _netem_plan, _runtime_docker)
from ansible_collections.chaos.engineering.plugins.module_utils._result import FaultResult

FIXTURES = os.path.join(os.path.dirname(__file__), 'fixtures')
DEFAULT_TC = 'qdisc noqueue 0: dev lo root refcnt 2 \nqdisc noqueue 0: dev eth0 root refcnt 2 \n'
FOREIGN_ROOT_TC = 'qdisc noqueue 0: dev lo root refcnt 2 \nqdisc prio 1: dev eth0 root refcnt 2 bands 3\n'
EMPTY_RULES = '-P INPUT ACCEPT\n-P FORWARD ACCEPT\n-P OUTPUT ACCEPT\n'


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as handle:
        return handle.read()


class FakeAPIError(Exception):
    def __init__(self, status, text):
        super().__init__(text)
        self.response = type('Response', (), dict(status_code=status))()


class FakeEngine:
    def __init__(self, reverter_fires=True):
        self.tc = fixture('netem_filtered_tc_qdisc_show.txt')
        self.iptables = fixture('netem_filtered_iptables_-S.txt')
        self.running = {'old-helper'}
        self.reverter_fires = reverter_fires
        self.execs = []  # (container, argv)
        self.started = 0

    def revert_fault(self, tc=DEFAULT_TC):
        self.tc, self.iptables = tc, EMPTY_RULES
        self.running.discard('old-helper')

    # _docker functions, patched in
    def exec_in(self, client, container_id, argv):
        if container_id not in self.running:
            raise FakeAPIError(409, 'Container %s is not running' % container_id)
        cleanup = argv[:3] == ['tc', 'qdisc', 'del'] or '-D' in argv
        if cleanup and container_id == 'old-helper' and self.reverter_fires:
            self.revert_fault()
            raise FakeAPIError(409, 'Container %s is not running' % container_id)
        self.execs.append((container_id, argv))
        if argv[:3] == ['tc', 'qdisc', 'show']:
            return _host_exec.ExecResult(argv, 0, self.tc, '')
        if argv[0] == 'iptables':
            if '-S' in argv:
                return _host_exec.ExecResult(argv, 0, self.iptables, '')
            self.iptables = EMPTY_RULES
            return _host_exec.ExecResult(argv, 0, '', '')
        if argv[0] == 'ip6tables':
            return _host_exec.ExecResult(argv, 0, EMPTY_RULES, '')
        if cleanup:
            self.tc = DEFAULT_TC
        return _host_exec.ExecResult(argv, 0, '', '')

    def start_helper(self, client, image, target_id, labels, network_mode=None, name=None, expires_at=None):
        self.started += 1
        helper_id = 'new-helper-%d' % self.started
        self.running.add(helper_id)
        return helper_id

    def remove_helper(self, client, helper_id):
        self.running.discard(helper_id)


class FakeFault:
    fault = 'container_netem'
    check_mode = False

    def __init__(self, tmp_path, **params):
        self.params = dict(state='absent', interface='eth0', method='helper', duration=None, force=False,
                           helper_image='chaos-nethelper:latest')
        self.params.update(params)
        self.runtime = _runtime_docker.DockerRuntime(object())
        self.ledger_dir = str(tmp_path)
        self.module = type('Module', (), dict(_diff=False))()
        self.result = FaultResult(self.fault, self.check_mode)


@pytest.fixture
def engine(monkeypatch):
    fake = FakeEngine()
    for name in ('exec_in', 'start_helper', 'remove_helper'):
        monkeypatch.setattr(_docker_helpers, name, getattr(fake, name))
    return fake


TARGET = dict(id='target-id', name='db')
OLD_HELPERS = [dict(Id='old-helper', State='running', Names=['/old'], Labels={})]


def test_absent_finishes_through_a_new_helper_when_the_reverter_removed_ours_meanwhile(engine, tmp_path):
    fault = _netem_apply.NetworkFault(FakeFault(tmp_path))
    outcome = fault._absent_one(TARGET, OLD_HELPERS, [])
    assert outcome['changed'] is True and outcome['action'] == 'remove'
    # It read through the old helper, found it gone at the cleanup, read again through a new one and found
    # nothing of ours left: no cleanup ran after the reverter's, and no helper of ours is left.
    assert [c for c, argv in engine.execs if argv[:3] == ['tc', 'qdisc', 'show']] == ['old-helper', 'new-helper-1']
    assert not [argv for c, argv in engine.execs if argv[:3] == ['tc', 'qdisc', 'del'] or '-D' in argv]
    assert engine.running == set()


def test_absent_removes_what_the_reverter_left_through_the_new_helper(engine, tmp_path):
    # The reverter removed the helper but not (yet) every rule: the new helper removes the rest.
    engine.revert_fault = lambda: engine.running.discard('old-helper')
    fault = _netem_apply.NetworkFault(FakeFault(tmp_path))
    fault._absent_one(TARGET, OLD_HELPERS, [])
    cleanups = [c for c, argv in engine.execs if argv[:3] == ['tc', 'qdisc', 'del'] or '-D' in argv]
    assert cleanups and set(cleanups) == {'new-helper-1'}
    assert engine.tc == DEFAULT_TC and engine.iptables == EMPTY_RULES
    assert engine.running == set()


def test_a_real_cleanup_failure_is_still_an_error(engine, tmp_path, monkeypatch):
    engine.reverter_fires = False
    failing = engine.exec_in

    def exec_in(client, container_id, argv):
        if argv[:3] == ['tc', 'qdisc', 'del']:
            return _host_exec.ExecResult(argv, 2, '', 'RTNETLINK answers: Operation not supported')
        return failing(client, container_id, argv)
    monkeypatch.setattr(_docker_helpers, 'exec_in', exec_in)
    fault = _netem_apply.NetworkFault(FakeFault(tmp_path))
    with pytest.raises(_netem_apply.TargetError, match='removing the fault: tc qdisc del'):
        fault._absent_one(TARGET, OLD_HELPERS, [])
    assert engine.started == 0  # the helper was still running: no second reader was tried


def test_force_replacement_recomputed_after_the_reverter_still_needs_force(engine, tmp_path):
    # Our fault was reverted under us, and a foreign root qdisc shows up in the fresh read: without force it
    # is left alone with a clear message, and the reader made for the retry is removed again.
    engine.revert_fault = lambda: (FakeEngine.revert_fault(engine, tc=FOREIGN_ROOT_TC))
    fault = _netem_apply.NetworkFault(FakeFault(tmp_path))
    with pytest.raises(_netem_apply.TargetError, match='root qdisc on eth0 is not ours'):
        fault._clear(TARGET, _netem_apply.HelperExecutor(fault.runtime, 'old-helper'),
                     [['tc', 'qdisc', 'del', 'dev', 'eth0', 'root', 'handle', 'c4a0:']], 'removing the previous fault',
                     replace_root=True)
    assert engine.running == set()


def test_replacing_our_fault_goes_on_through_a_new_helper_when_the_reverter_removed_ours_meanwhile(engine, tmp_path):
    fault = _netem_apply.NetworkFault(FakeFault(tmp_path, state='present', untimed=True,
                                                bandwidth=dict(rate='1mbit')))
    fault.plan = _netem_plan.Plan(fault._spec(), 'eth0', [], None, None, None)
    work = fault._inspect_one(TARGET, OLD_HELPERS, [])
    assert work.reader.helper_id == 'old-helper' and work.steps
    outcome = fault._apply_one(fault._prepare_one(work))
    assert outcome['changed'] is True
    # The new fault went in through the helper made for the retry, which stays as the fault's helper.
    assert outcome['helper'] == 'new-helper-1' and engine.running == {'new-helper-1'}
    applied = [(c, argv) for c, argv in engine.execs if argv[:3] == ['tc', 'qdisc', 'add']]
    assert applied and set(c for c, argv in applied) == {'new-helper-1'}
    fault._release([work])
    assert engine.running == {'new-helper-1'}


def drop_fault(tmp_path, diff=False):
    fault = _netem_apply.NetworkFault(FakeFault(tmp_path, state='present', untimed=True, drop=dict(probability=0.3)))
    fault.fault.module._diff = diff
    fault.plan = _netem_plan.Plan(fault._spec(), 'eth0', [], None, None, None)
    assert not fault.plan.uses_tc
    return fault


def qdisc_reads(engine):
    return [c for c, argv in engine.execs if argv[:3] == ['tc', 'qdisc', 'show']]


def test_a_fault_without_tc_does_not_read_the_qdiscs_of_a_namespace_where_it_holds_no_tc_tree(engine, tmp_path):
    # Each read is a container exec; the qdiscs change nothing for a drop that holds no tc tree there.
    work = drop_fault(tmp_path)._inspect_one(TARGET, OLD_HELPERS, [])
    assert qdisc_reads(engine) == [] and [argv[0] for c, argv in engine.execs] == ['iptables', 'ip6tables']
    assert work.before['root'] is None and work.steps is not None


def test_the_qdiscs_are_read_where_the_fault_holds_a_tc_tree_and_for_the_diff(engine, tmp_path):
    holding = [dict(OLD_HELPERS[0], Labels={_docker_helpers.TC_INTERFACE_LABEL: 'eth0'})]
    work = drop_fault(tmp_path)._inspect_one(TARGET, holding, [])
    assert qdisc_reads(engine) == ['old-helper'] and work.tc_devices == ['eth0']
    # Our root qdisc on eth0 belongs to this fault: the drop replaces it.
    assert ['tc', 'qdisc', 'del', 'dev', 'eth0', 'root', 'handle', 'c4a0:'] in work.steps
    engine.execs = []
    drop_fault(tmp_path, diff=True)._inspect_one(TARGET, OLD_HELPERS, [])
    assert qdisc_reads(engine) == ['old-helper']


def test_a_lease_removes_its_helper_once_unless_the_fault_adopted_it(engine, monkeypatch):
    runtime = _runtime_docker.DockerRuntime(object())
    engine.running.update({'read-only', 'kept'})
    removed = []
    monkeypatch.setattr(_docker_helpers, 'remove_helper', lambda client, helper_id: (
        removed.append(helper_id), engine.remove_helper(client, helper_id)))
    reader = _netem_apply.HelperLease(runtime, 'read-only')
    reader.release()
    reader.release()
    kept = _netem_apply.HelperLease(runtime, 'kept')
    kept.adopt()
    kept.release()
    assert engine.running == {'old-helper', 'kept'} and removed == ['read-only']
    # A helper found in the namespace has no lease: it is the earlier fault's, never removed by release().
    found = _netem_apply.HelperExecutor(runtime, 'old-helper')
    found.release()
    assert not found.transient and 'old-helper' in engine.running and removed == ['read-only']


def test_target_and_ledger_errors_read_as_they_are():
    from ansible_collections.chaos.engineering.plugins.module_utils import _errors, _ledger_store
    assert _errors.error_text(_netem_apply.TargetError('its root qdisc is not ours')) == 'its root qdisc is not ours'
    assert _errors.error_text(_ledger_store.LedgerError('ledger not private')) == 'ledger not private'
    assert _errors.error_text(_netem_plan.FaultSpecError('bad delay')) == 'bad delay'
    assert _errors.error_text(KeyError('x')) == "KeyError: 'x'"

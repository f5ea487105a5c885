"""container_exec and container_restart without an engine: the timed exec's timeout and kill, what a target's result
says, the runtime seam's default restart, and the restart's write-ahead start."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import threading

import pytest

from ansible_collections.chaos.engineering.plugins.module_utils import (
    _container_exec, _container_restart, _docker_exec, _ledger_store)
from ansible_collections.chaos.engineering.plugins.module_utils._host_exec import ExecResult
from ansible_collections.chaos.engineering.plugins.module_utils._runtime import ContainerRuntime
from ansible_collections.chaos.engineering.plugins.module_utils._runtime_docker import DockerRuntime

CID = 'c0ffee' * 10


class ExecClient:
    """A docker.APIClient's exec calls: the process ends at once, or when ``release`` is set (or killed)."""

    def __init__(self, blocks=False, rc=0):
        self.release = threading.Event()
        if not blocks:
            self.release.set()
        self.rc = rc
        self.created = None

    def exec_create(self, container_id, cmd, **options):
        self.created = dict(container_id=container_id, cmd=cmd, **options)
        return {'Id': 'exec-1'}

    def exec_start(self, exec_id, demux=False):
        self.release.wait(30)
        return (b'out\n', b'err\n')

    def exec_inspect(self, exec_id):
        running = not self.release.is_set()
        return {'Running': running, 'Pid': 4242, 'ExitCode': None if running else self.rc}


def test_timed_exec_passes_the_options_and_returns_rc_and_output():
    client = ExecClient(rc=3)
    result = _docker_exec.timed_exec(client, CID, ['sh', '-c', 'exit 3'], timeout=5, user='1000', workdir='/tmp',
                                     env={'A': 1})
    seen = (result.rc, result.stdout, result.stderr, result.timed_out, result.stopped)
    assert seen == (3, 'out\n', 'err\n', False, None)
    assert client.created == dict(container_id=CID, cmd=['sh', '-c', 'exit 3'], stdout=True, stderr=True,
                                  user='1000', workdir='/tmp', environment={'A': '1'})
    assert result.duration >= 0


def test_a_timed_out_exec_is_killed_only_when_the_pid_is_that_containers_here(monkeypatch):
    killed = []
    client = ExecClient(blocks=True)
    monkeypatch.setattr(_docker_exec, 'DRAIN_SECONDS', 0.1)
    # The engine's pid is no process of this container on this host (a remote engine): never signalled.
    monkeypatch.setattr(_docker_exec.os, 'kill', lambda pid, sig: killed.append(pid))
    result = _docker_exec.timed_exec(client, CID, ['sleep', '60'], timeout=0.2)
    assert result.timed_out is True and result.rc is None and result.stopped is False
    assert killed == []
    # Here it is: killed, and the stream ends.
    monkeypatch.setattr(_docker_exec, '_own_process', lambda pid, cid: pid == 4242 and cid == CID)
    monkeypatch.setattr(_docker_exec.os, 'kill', lambda pid, sig: (killed.append(pid), client.release.set()))
    client.release.clear()
    result = _docker_exec.timed_exec(client, CID, ['sleep', '60'], timeout=0.2)
    assert result.timed_out is True and result.stopped is True and killed == [4242]
    client.release.set()


def test_docker_runtime_exec_keeps_the_helpers_plain_path(monkeypatch):
    calls = []
    monkeypatch.setattr(_docker_exec, 'timed_exec', lambda *a, **k: calls.append(('timed', k)))
    from ansible_collections.chaos.engineering.plugins.module_utils import _docker_helpers
    monkeypatch.setattr(_docker_helpers, 'exec_in', lambda *a: calls.append(('plain', a[2])))
    runtime = DockerRuntime(object())
    runtime.exec('h', ['tc', 'qdisc'])
    runtime.exec('t', ['kill', '1'], timeout=3)
    assert calls == [('plain', ['tc', 'qdisc']),
                     ('timed', dict(timeout=3, user=None, workdir=None, env=None))]


def test_target_outcome_cuts_output_and_names_the_failure():
    long_text = 'x' * (_container_exec.OUTPUT_LIMIT + 5)
    ok = _container_exec.target_outcome(ExecResult(['a'], 1, long_text, 'e', duration=0.5), [0, 1])
    assert 'error' not in ok and ok['stdout_truncated'] is True and len(ok['stdout']) == _container_exec.OUTPUT_LIMIT
    assert ok['stderr_truncated'] is False and ok['rc'] == 1 and ok['changed'] is True
    bad = _container_exec.target_outcome(ExecResult(['a'], 2, '', ''), [0])
    assert bad['error'] == 'exit code 2, expected 0'
    late = _container_exec.target_outcome(ExecResult(['a'], None, '', '', timed_out=True, stopped=False,
                                                     duration=1.0), [0])
    assert late['timed_out'] is True and late['stopped'] is False and 'may still run' in late['error']


class StopStart(ContainerRuntime):
    def __init__(self):
        self.calls = []

    def stop(self, container_id, timeout):
        self.calls.append(('stop', container_id, timeout))

    def start(self, container_id):
        self.calls.append(('start', container_id))


def test_the_seams_default_restart_is_stop_then_start():
    runtime = StopStart()
    runtime.restart('c1', 7)
    assert runtime.calls == [('stop', 'c1', 7), ('start', 'c1')]


class Failed(Exception):
    pass


class FakeResult:
    def __init__(self):
        self.targets = []
        self.recovery = None
        self.started_at = None

    def mark_applied(self, moment):
        pass

    def add_target(self, target_id, name, action, **extra):
        self.targets.append(dict(id=target_id, name=name, action=action, **extra))


class FakeFault:
    """What _container_restart.run asks of ContainerFaultModule, recording the order of the calls."""

    check_mode = False
    ledger_dir = '/nonexistent'
    connection = dict(docker_host='unix:///x.sock')

    def __init__(self, targets, fail_on=()):
        self.params = dict(stop_timeout=4, wait_for_recovery=False, recovery_timeout=30)
        self.targets = targets
        self.log = []
        self.result = FakeResult()
        fault = self

        class Runtime:
            def restart(self, container_id, timeout):
                fault.log.append(('restart', container_id, timeout))
                if container_id in fail_on:
                    raise Failed('engine said no')
        self.runtime = Runtime()

    def select(self, states):
        self.log.append(('select', tuple(states)))
        return self.targets

    def fail(self, msg):
        raise AssertionError(msg)

    def arm_ahead(self, entries):
        self.log.append(('arm', sorted(e['target']['id'] for e in entries)))
        self.armed = entries

    def arm_and_run(self, targets, entries, action):
        self.arm_ahead(entries)
        return self.run_each(targets, action)

    def run_each(self, targets, action):
        outcomes = []
        for target in targets:
            try:
                outcomes.append(action(target))
            except Failed as exc:
                outcomes.append(dict(error=str(exc)))
        return outcomes

    def report_revert(self, entries):
        self.log.append(('kept', sorted(e['target']['id'] for e in entries)))

    def exit(self, problem=None):
        self.log.append(('exit', problem))


def test_restart_arms_the_start_before_it_and_closes_it_after(monkeypatch):
    discarded = []
    monkeypatch.setattr(_ledger_store, 'discard', lambda root, entries, status: discarded.append(
        (sorted(e['target']['id'] for e in entries), status)))
    fault = FakeFault([dict(id='a', name='a', labels={}), dict(id='b', name='b', labels={})], fail_on=('b',))
    _container_restart.run(fault)
    assert fault.log == [('select', ('running',)), ('arm', ['a', 'b']), ('restart', 'a', 4), ('restart', 'b', 4),
                         ('kept', ['b']), ('exit', None)]
    assert discarded == [(['a'], 'restarted')]
    entry = [e for e in fault.armed if e['target']['id'] == 'b'][0]
    assert entry['action'] == 'start' and entry['fault'] == 'container_restart'
    # Due after the stop timeout and the grace, counted from before the restart began.
    assert entry['deadline'] - entry['created_at'] == pytest.approx(4 + _container_restart.RESTART_GRACE_SECONDS,
                                                                    abs=1)
    assert [t.get('error') for t in fault.result.targets] == [None, 'engine said no']


def test_restart_refuses_the_kubelets_containers_before_anything():
    labels = {'io.kubernetes.pod.uid': 'u', 'io.kubernetes.pod.name': 'p', 'io.kubernetes.pod.namespace': 'n'}
    fault = FakeFault([dict(id='k', name='k8s_p', labels=labels)])
    with pytest.raises(AssertionError, match='Nothing was restarted: k8s_p is managed by the kubelet'):
        _container_restart.run(fault)
    assert fault.log == [('select', ('running',))]

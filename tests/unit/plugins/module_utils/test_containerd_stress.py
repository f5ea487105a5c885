"""_containerd_stress: the stress helper's ctr argv (no shell, no capability, a child of the target's cgroup, our
labels), image names as containerd stores them, the target's cgroup from /proc or the runtime spec, our helpers
listed by label, and a removal that never takes a container that is not ours; the reverter's removal by name."""
import json

import pytest

from ansible_collections.chaos.engineering.plugins.module_utils import (
    _containerd_stress,
    _revert_client,
    _revert_stress,
    _runtime_containerd,
    _stress_apply,
)
from ansible_collections.chaos.engineering.plugins.module_utils._host_exec import ExecResult

HELPER = 'chaos-stress-ce-1-abc'
TASKS = 'TASK    PID    STATUS    \nce-1    566    RUNNING\n%s    700    STOPPED\n' % HELPER
INFOS = {
    'ce-1': dict(ID='ce-1', Labels={'app': 'web'}, Spec=dict(linux=dict(cgroupsPath='/k8s.io/ce-1'))),
    HELPER: dict(ID=HELPER, Labels={'chaos.engineering/helper': 'true', 'chaos.engineering/target': 'ce-1'}),
}


class FakeCtr:
    """Answers ctr from INFOS and TASKS (containers removed by delete), and records every argv after the flags."""

    def __init__(self):
        self.calls = []
        self.infos = dict(INFOS)

    def __call__(self, argv):
        args = argv[argv.index('--connect-timeout') + 2:]
        self.calls.append(args)
        if args[:2] == ['tasks', 'ls']:
            return ExecResult(argv, 0, TASKS, '')
        if args[:2] == ['containers', 'ls']:
            wanted = [i for i in sorted(self.infos)
                      if len(args) < 4 or (self.infos[i]['Labels'] or {}).get('chaos.engineering/helper')]
            return ExecResult(argv, 0, '\n'.join(wanted) + '\n', '')
        if args[:2] == ['containers', 'info']:
            if args[2] not in self.infos:
                return ExecResult(argv, 1, '', 'ctr: container "%s" in namespace "k8s.io": not found' % args[2])
            return ExecResult(argv, 0, json.dumps(self.infos[args[2]]), '')
        if args[:2] == ['containers', 'delete']:
            self.infos.pop(args[2], None)
        return ExecResult(argv, 0, '', '')


@pytest.fixture
def runtime():
    """A runtime over a FakeCtr (its ``_run``, with the calls it saw)."""
    return _runtime_containerd.ContainerdRuntime('/run/x.sock', 'k8s.io', run=FakeCtr())


def test_containerd_serves_stress_now():
    assert _stress_apply._supports_stress(_runtime_containerd.ContainerdRuntime('/s', 'k8s.io', run=FakeCtr()))


@pytest.mark.parametrize('short, full', [
    ('chaos-stresshelper:latest', 'docker.io/library/chaos-stresshelper:latest'),
    ('chaos-stresshelper', 'docker.io/library/chaos-stresshelper:latest'),
    ('team/stress:1', 'docker.io/team/stress:1'),
    ('registry.local:5000/stress', 'registry.local:5000/stress:latest'),
    ('localhost/stress:2', 'localhost/stress:2'),
    ('docker.io/library/x:1', 'docker.io/library/x:1'),
    ('x@sha256:ab', 'docker.io/library/x@sha256:ab'),
])
def test_image_names_are_the_references_containerd_stores(short, full):
    assert _containerd_stress.image_ref(short) == full


def test_the_helper_is_started_in_a_child_cgroup_with_no_capability_and_our_labels(runtime):
    fake = runtime._run
    argv = ['--cpu', '1', '--timeout', '5s', '--metrics-brief']
    helper_id = runtime.start_stressor('chaos-stresshelper:latest', HELPER, argv, '/k8s.io/ce-1/',
                                       {'chaos.engineering/target': 'ce-1'}, 0)
    assert helper_id == HELPER
    run = [c for c in fake.calls if c[0] == 'run'][0]
    assert run[run.index('--cgroup') + 1] == '/k8s.io/ce-1/' + HELPER
    assert run[-len(argv) - 3:] == ['docker.io/library/chaos-stresshelper:latest', HELPER, 'stress-ng'] + argv
    dropped = [run[i + 1] for i, a in enumerate(run) if a == '--cap-drop']
    assert {'CAP_SYS_ADMIN', 'CAP_NET_ADMIN', 'CAP_CHOWN', 'CAP_KILL', 'CAP_NET_RAW'} <= set(dropped)
    labels = [run[i + 1] for i, a in enumerate(run) if a == '--label']
    assert 'chaos.engineering/helper=true' in labels and 'chaos.engineering/target=ce-1' in labels
    assert 'chaos.engineering/expires=1970-01-01T00:00:00.000Z' in labels
    for flag in ('--net-host', '--privileged', '--allow-new-privs', '--cap-add', '--rm'):
        assert flag not in run


def test_a_helper_that_failed_to_start_is_removed(runtime):
    fake = runtime._run

    def failing(argv):
        if 'run' in argv:
            return ExecResult(argv, 1, '', 'ctr: failed to create shim task')
        return fake(argv)
    runtime._run = failing
    with pytest.raises(_runtime_containerd.CtrError, match='failed to create shim task'):
        runtime.start_stressor('img', HELPER, ['--cpu', '1'], '/k8s.io/ce-1', {}, 0)
    assert ['containers', 'delete', HELPER] in fake.calls


def test_helpers_are_listed_by_label_in_the_docker_shape(runtime):
    fake = runtime._run
    assert runtime.list_helpers() == [dict(Id=HELPER, Names=[HELPER], Labels=INFOS[HELPER]['Labels'], State='exited')]
    assert ['containers', 'ls', '-q', 'labels."chaos.engineering/helper"==true'] in fake.calls


def test_removal_takes_only_our_helpers_and_a_gone_one_is_fine(runtime):
    fake = runtime._run
    runtime.remove_helper(HELPER)
    assert ['tasks', 'delete', HELPER] in fake.calls and ['containers', 'delete', HELPER] in fake.calls
    runtime.remove_helper(HELPER)  # gone already
    with pytest.raises(_containerd_stress.NotOurHelper, match='not a helper of ours'):
        runtime.remove_helper('ce-1')
    assert ['containers', 'delete', 'ce-1'] not in fake.calls


def test_the_reverter_removes_a_containerd_helper_by_name(monkeypatch):
    fake = FakeCtr()
    monkeypatch.setattr(_runtime_containerd._host_exec, 'run_argv', fake)
    entry = dict(docker=dict(runtime='containerd', containerd_socket='/run/x.sock'),
                 details=dict(helper_name=HELPER))
    assert isinstance(_revert_client.runtime_for(entry['docker']), _runtime_containerd.ContainerdRuntime)
    assert _revert_stress.REVERT_ACTIONS['remove_stressor'](entry) == 'reverted'
    assert ['containers', 'delete', HELPER] in fake.calls


def test_the_cgroup_comes_from_proc_when_it_names_the_container(runtime, tmp_path):
    (tmp_path / '566').mkdir()
    (tmp_path / '566' / 'cgroup').write_text('2:cpuacct:/k8s.io/ce-1\n1:cpu:/k8s.io/ce-1\n0::/k8s.io/ce-1\n')
    found = _containerd_stress.target_cgroup(runtime, 'ce-1', proc_root=str(tmp_path), sys_root=str(tmp_path))
    assert found == dict(version=1, driver='cgroupfs', path='/k8s.io/ce-1', source='/proc/566/cgroup')
    (tmp_path / 'cgroup.controllers').write_text('cpu memory\n')
    (tmp_path / '566' / 'cgroup').write_text('0::/kubepods.slice/kubepods-pod1.slice/cri-containerd-ce-1.scope\n')
    found = _containerd_stress.target_cgroup(runtime, 'ce-1', proc_root=str(tmp_path), sys_root=str(tmp_path))
    assert (found['version'], found['driver']) == (2, 'systemd')


def test_without_proc_the_cgroup_is_the_runtime_specs(runtime, tmp_path):
    found = _containerd_stress.target_cgroup(runtime, 'ce-1', proc_root=str(tmp_path), sys_root=str(tmp_path))
    assert found['path'] == '/k8s.io/ce-1' and found['source'] == "the runtime spec's cgroupsPath"
    assert _containerd_stress.driver_of('kubepods-pod1.slice:cri-containerd:ce-1') == 'systemd'

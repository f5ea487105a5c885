"""container_stress's plan: the spec -> stress-ng argv, the refused stressors, the cgroup path and parent."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.chaos.engineering.plugins.module_utils import _runtime_docker, _stress_plan
from ansible_collections.chaos.engineering.plugins.module_utils._stress_plan import PlanError

TARGET = 'f7ac3d584d658d58629dbfb2a750336d4473680f221dbac9638d61590a79cdcb'


def argv(duration=30, **spec):
    return _stress_plan.stress_argv(spec, duration)


def test_cpu_load_memory_and_io_become_stress_ng_options_ending_at_the_duration():
    assert argv(cpu=2, cpu_load=80, memory='256m', io=1) == [
        '--cpu', '2', '--cpu-load', '80', '--vm', '1', '--vm-bytes', str(256 * 1024 ** 2), '--vm-keep',
        '--hdd', '1', '--hdd-bytes', '64m', '--timeout', '30s', '--metrics-brief']


def test_cpu_load_alone_is_one_worker_and_raw_stressors_are_appended():
    assert argv(cpu_load=50)[:4] == ['--cpu', '1', '--cpu-load', '50']
    assert argv(stressors=['--matrix', '1'], duration=5) == ['--matrix', '1', '--timeout', '5s', '--metrics-brief']


@pytest.mark.parametrize('text, size', [('256m', 256 * 1024 ** 2), ('1G', 1024 ** 3), ('65536k', 65536 * 1024),
                                        ('4096', 4096), ('10b', 10)])
def test_memory_sizes(text, size):
    assert _stress_plan.memory_bytes(text) == size


@pytest.mark.parametrize('spec, message', [
    (dict(), 'at least one of'),
    (dict(cpu=0), 'cpu must be from 1'),
    (dict(cpu=5000), 'cpu must be from 1'),
    (dict(cpu_load=0), 'cpu_load must be from 1 to 100'),
    (dict(cpu_load=101), 'cpu_load must be from 1 to 100'),
    (dict(io=0), 'io must be from 1'),
    (dict(memory='lots'), 'memory must be a size'),
    (dict(memory='0m'), 'memory must be a size'),
    (dict(memory='-1m'), 'memory must be a size'),
    (dict(stressors=['--cpu', '1; rm -rf /']), 'never a shell string'),
    (dict(stressors=['--cpu', '$(id)']), 'never a shell string'),
    (dict(stressors=['--cpu', '1', '--timeout', '1h']), 'may not give --timeout'),
    (dict(stressors=['--timeout=1h']), 'may not give --timeout'),
    (dict(stressors=['-t', '1h']), 'may not give -t'),
    (dict(stressors=['--job', '/etc/passwd']), 'may not give --job'),
    (dict(stressors=['cpu', '1']), 'must start with a stress-ng option'),
    (dict(stressors=['']), 'non-empty strings'),
])
def test_bad_specs_are_refused_with_a_clear_message(spec, message):
    with pytest.raises(PlanError, match=message.replace('$', r'\$').replace('(', r'\(')):
        argv(**spec)


def test_duration_is_required():
    with pytest.raises(PlanError, match='duration'):
        _stress_plan.stress_argv(dict(cpu=1), 0)


def test_the_fault_id_names_the_exact_stress():
    assert _stress_plan.fault_id(argv(cpu=1)) == _stress_plan.fault_id(argv(cpu=1))
    assert _stress_plan.fault_id(argv(cpu=1)) != _stress_plan.fault_id(argv(cpu=2))
    assert _stress_plan.helper_name(TARGET, 'abc') == 'chaos-stress-f7ac3d584d65-abc'


V1 = '''9:name=systemd:/chaos-bed-engine1/%(id)s
4:memory:/process_api/11ab/chaos-bed-engine1/%(id)s
2:cpuacct:/chaos-bed-engine1/%(id)s
1:cpu:/chaos-bed-engine1/%(id)s
0::/chaos-bed-engine1/%(id)s
''' % dict(id=TARGET)


def test_the_cgroup_path_is_the_cpu_controllers_on_v1_and_the_unified_one_on_v2():
    assert _stress_plan.parse_proc_cgroup(V1) == '/chaos-bed-engine1/' + TARGET
    assert _stress_plan.parse_proc_cgroup('3:cpu,cpuacct:/docker/x\n0::/\n') == '/docker/x'
    assert _stress_plan.parse_proc_cgroup('0::/system.slice/docker-x.scope\n') == '/system.slice/docker-x.scope'
    assert _stress_plan.parse_proc_cgroup('garbage') is None


def test_the_cgroup_parent_is_the_targets_own_cgroup_and_systemd_is_refused():
    cgroup = dict(driver='cgroupfs', version=1, path='/docker/' + TARGET)
    assert _stress_plan.cgroup_parent(cgroup, TARGET) == '/docker/' + TARGET
    with pytest.raises(PlanError, match='systemd cgroup driver is not supported'):
        _stress_plan.cgroup_parent(dict(cgroup, driver='systemd'), TARGET)
    with pytest.raises(PlanError, match='could not be found'):
        _stress_plan.cgroup_parent(dict(cgroup, path='/docker/someone-else'), TARGET)


class FakeClient:
    def __init__(self, parent='', pid=4242):
        self.parent, self.pid = parent, pid

    def info(self):
        return dict(CgroupDriver='cgroupfs', CgroupVersion='1')

    def inspect_container(self, container_id):
        return dict(Id=TARGET, State=dict(Pid=self.pid), HostConfig=dict(CgroupParent=self.parent))


def test_target_cgroup_trusts_proc_only_when_it_names_the_container(tmp_path):
    (tmp_path / '4242').mkdir()
    (tmp_path / '4242' / 'cgroup').write_text(V1)
    found = _runtime_docker.target_cgroup(FakeClient(), TARGET, proc_root=str(tmp_path))
    assert found == dict(driver='cgroupfs', version=1, path='/chaos-bed-engine1/' + TARGET,
                         source='/proc/4242/cgroup')
    # Another host's pid names another process: the engine's word is taken instead.
    (tmp_path / '4242' / 'cgroup').write_text('1:cpu:/user.slice\n')
    assert _runtime_docker.target_cgroup(FakeClient(), TARGET, proc_root=str(tmp_path))['path'] == '/docker/' + TARGET
    assert _runtime_docker.target_cgroup(FakeClient(parent='/mine'), TARGET, proc_root=str(tmp_path))['path'] == \
        '/mine/' + TARGET


V2_SYSTEMD = '0::/system.slice/docker-%s.scope\n' % TARGET


def test_on_cgroup_v2_the_path_is_the_unified_line_of_either_driver():
    assert _stress_plan.parse_proc_cgroup(V2_SYSTEMD) == '/system.slice/docker-%s.scope' % TARGET
    assert _stress_plan.parse_proc_cgroup('0::/docker/%s\n' % TARGET) == '/docker/' + TARGET


class FakeV2Client(FakeClient):
    def info(self):
        return dict(CgroupDriver='systemd', CgroupVersion='2')


def test_target_cgroup_on_a_systemd_v2_host_is_the_scope_from_proc(tmp_path):
    (tmp_path / '4242').mkdir()
    (tmp_path / '4242' / 'cgroup').write_text(V2_SYSTEMD)
    assert _runtime_docker.target_cgroup(FakeV2Client(), TARGET, proc_root=str(tmp_path)) == dict(
        driver='systemd', version=2, path='/system.slice/docker-%s.scope' % TARGET, source='/proc/4242/cgroup')
    # Without the process (a remote engine) it is the engine's word, which placement refuses for systemd.
    found = _runtime_docker.target_cgroup(FakeV2Client(pid=0), TARGET, proc_root=str(tmp_path))
    assert found['source'] == "the systemd driver's default"


def test_placement_cgroupfs_is_a_cgroup_parent_on_v1_and_v2():
    for version in (1, 2):
        cgroup = dict(driver='cgroupfs', version=version, path='/docker/' + TARGET, source='/proc/1/cgroup')
        assert _stress_plan.placement(cgroup, TARGET, 'abc', local_v2=version == 2) == ('/docker/' + TARGET, None)


def test_placement_systemd_v2_on_the_engines_host_is_a_child_of_the_targets_scope():
    scope = '/system.slice/docker-%s.scope' % TARGET
    cgroup = dict(driver='systemd', version=2, path=scope, source='/proc/4242/cgroup')
    assert _stress_plan.placement(cgroup, TARGET, 'abc', local_v2=True) == (None, scope + '/chaos-stress-abc')


@pytest.mark.parametrize('change, local_v2', [
    (dict(version=1), True),  # v1: a move would be needed in every controller's hierarchy
    (dict(), False),  # this host's tree is not v2
    (dict(source="the systemd driver's default"), True),  # the module is not on the engine's host
])
def test_placement_systemd_is_refused_unless_v2_on_the_engines_host(change, local_v2):
    cgroup = dict(dict(driver='systemd', version=2, path='/system.slice/docker-%s.scope' % TARGET,
                       source='/proc/4242/cgroup'), **change)
    with pytest.raises(PlanError, match="needs cgroup v2 and the module running on the engine's host"):
        _stress_plan.placement(cgroup, TARGET, 'abc', local_v2=local_v2)

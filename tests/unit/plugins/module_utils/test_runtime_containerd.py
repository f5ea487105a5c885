"""_runtime_containerd: ctr's output parsed (task list, container info, addresses), the argv it runs (never a
shell, always --address and --namespace), its candidates (names, sandboxes, protection), error kinds; and
_runtime_select's runtime option, connection dicts and engine keys."""
import json

import pytest

from ansible_collections.chaos.engineering.plugins.module_utils import _runtime_containerd, _runtime_select
from ansible_collections.chaos.engineering.plugins.module_utils._errors import FaultError
from ansible_collections.chaos.engineering.plugins.module_utils._host_exec import ExecResult

# As ctr 1.6.20 prints them (captured from tests/infra/containerd-bed.sh).
TASKS = 'TASK    PID    STATUS    \nu1      566    RUNNING\nu2      698    PAUSED\nu3      0      STOPPED\n'
ADDR = '2: eth0    inet 10.239.7.18/24 scope global eth0\\       valid_lft forever preferred_lft forever\n' \
       '2: eth0    inet6 fd00::5/64 scope global \\       valid_lft forever preferred_lft forever\n'


def pod(namespace, name, container='app', kind='container'):
    return {'io.kubernetes.pod.namespace': namespace, 'io.kubernetes.pod.name': name,
            'io.kubernetes.container.name': container, 'io.kubernetes.pod.uid': 'uid-' + name,
            'io.cri-containerd.kind': kind}


INFOS = {
    'u1': dict(ID='u1', Image='docker.io/library/chaos-busybox:latest', Labels=pod('shop', 'cart-0')),
    'u2': dict(ID='u2', Image='docker.io/library/chaos-busybox:latest', Labels={'app': 'plain'}),
    'u3': dict(ID='u3', Image='img', Labels=None),
    'u4': dict(ID='u4', Image='img', Labels=pod('shop', 'cart-0', 'POD', kind='sandbox')),
    'u5': dict(ID='u5', Image='img', Labels=pod('kube-system', 'coredns-1')),
    'u6': dict(ID='u6', Image='img', Labels=pod('shop', 'web-0')),
    'u7': dict(ID='u7', Image='img',
               Labels=dict(pod('shop', 'web-0', 'POD', kind='sandbox'), **{'chaos.engineering/protected': 'true'})),
}
TASKS_ALL = TASKS + 'u4      10     RUNNING\nu5      11     RUNNING\nu6      12     RUNNING\nu7      13     RUNNING\n'


class FakeCtr:
    """Answers ctr argv from INFOS and TASKS_ALL, and records every argv."""

    def __init__(self, fail=None):
        self.calls = []
        self.fail = fail or {}

    def __call__(self, argv):
        self.calls.append(argv)
        args = argv[argv.index('--connect-timeout') + 2:]
        if tuple(args[:2]) in self.fail:
            return ExecResult(argv, 1, '', self.fail[tuple(args[:2])])
        if args[:2] == ['tasks', 'ls']:
            return ExecResult(argv, 0, TASKS_ALL, '')
        if args[:2] == ['containers', 'ls']:
            return ExecResult(argv, 0, '\n'.join(sorted(INFOS)) + '\n', '')
        if args[:2] == ['containers', 'info']:
            if args[2] not in INFOS:
                return ExecResult(argv, 1, '', 'ctr: container "%s" in namespace "k8s.io": not found' % args[2])
            return ExecResult(argv, 0, json.dumps(INFOS[args[2]]), '')
        return ExecResult(argv, 0, '', '')


@pytest.fixture
def fake():
    return FakeCtr()


@pytest.fixture
def runtime(fake):
    return _runtime_containerd.ContainerdRuntime('/run/x.sock', 'k8s.io', run=fake)


def test_task_list_is_parsed_with_pids_and_statuses():
    assert _runtime_containerd.parse_task_list(TASKS) == {
        'u1': (566, 'RUNNING'), 'u2': (698, 'PAUSED'), 'u3': (0, 'STOPPED')}
    assert _runtime_containerd.parse_task_list('TASK    PID    STATUS    \n') == {}
    assert _runtime_containerd.parse_task_list('') == {}


def test_addresses_are_parsed_without_prefix_lengths():
    assert _runtime_containerd.parse_addresses(ADDR) == ['10.239.7.18', 'fd00::5']


def test_kubernetes_containers_are_named_namespace_pod_container_and_others_by_id():
    assert _runtime_containerd.kubernetes_name(pod('shop', 'cart-0')) == 'shop/cart-0/app'
    assert _runtime_containerd.kubernetes_name({'io.kubernetes.pod.name': 'x'}) is None
    assert _runtime_containerd.kubernetes_name(None) is None


def test_candidates_have_states_names_and_protection_and_never_a_sandbox(runtime):
    found = dict((c['id'], c) for c in runtime.candidates(['running', 'paused', 'exited']))
    assert sorted(found) == ['u1', 'u2', 'u3', 'u5', 'u6']  # u4 and u7 are sandboxes
    assert found['u1']['name'] == 'shop/cart-0/app' and found['u1']['state'] == 'running'
    assert found['u2']['name'] == 'u2' and found['u2']['state'] == 'paused'
    assert found['u3']['state'] == 'exited' and found['u3']['labels'] == {}
    assert 'protected_reason' not in found['u1']
    assert 'kube-system is protected' in found['u5']['protected_reason']
    # The pod's sandbox carries its protection mark, as a CRI sandbox carries the pod's labels.
    assert 'chaos.engineering/protected' in found['u6']['protected_reason']
    assert sorted(c['id'] for c in runtime.candidates(['running'])) == ['u1', 'u5', 'u6']


def test_a_container_removed_after_the_listing_is_no_candidate(fake, runtime):
    del INFOS['u3']
    try:
        assert 'u3' not in [c['id'] for c in runtime.candidates(['exited'])]
    finally:
        INFOS['u3'] = dict(ID='u3', Image='img', Labels=None)


def test_every_call_is_an_argv_naming_the_socket_and_namespace(fake, runtime):
    runtime.kill('u1', 'SIGUSR1')
    runtime.pause('u1')
    runtime.unpause('u1')
    for argv in fake.calls:
        assert isinstance(argv, list)
        assert argv[1:5] == ['--address', '/run/x.sock', '--namespace', 'k8s.io']
    assert [c[7:] for c in fake.calls] == [['tasks', 'kill', '--signal', 'SIGUSR1', 'u1'],
                                           ['tasks', 'pause', 'u1'], ['tasks', 'resume', 'u1']]


def test_start_deletes_a_stopped_task_first(fake, runtime):
    runtime.start('u3')
    assert [c[7:] for c in fake.calls if c[7] != 'tasks' or c[8] != 'ls'] == [
        ['tasks', 'delete', 'u3'], ['tasks', 'start', '--detach', 'u3']]


def test_exec_has_a_unique_exec_id_and_no_shell(fake, runtime):
    runtime.exec('u1', ['tc', 'qdisc', 'show'], user='0', workdir='/tmp', env={'A': 'b c'}, timeout=5)
    runtime.exec('u1', ['true'])
    first, second = fake.calls
    assert first[0].endswith('timeout') and first[1:3] == ['--kill-after=5', '5']
    tail = first[first.index('exec'):]
    assert tail[1] == '--exec-id' and tail[3:] == ['--user', '0', '--cwd', '/tmp', 'u1', 'env', 'A=b c',
                                                   'tc', 'qdisc', 'show']
    assert second[second.index('--exec-id') + 1] != tail[2]


def test_netns_pid_is_the_running_or_paused_tasks_pid(runtime):
    assert runtime.netns_pid('u1') == 566
    assert runtime.netns_pid('u2') == 698
    assert runtime.netns_pid('u3') is None  # stopped: no namespace left
    assert runtime.netns_pid('nope') is None


def test_error_kinds_from_ctr_messages():
    kind = _runtime_containerd.error_kind_of
    assert kind(_runtime_containerd.CtrError(['x'], 1, 'ctr: container "n" in namespace "k8s.io": not found')) == 'gone'
    assert kind(_runtime_containerd.CtrError(['x'], 1, 'ctr: cannot resume a running process: unknown')) == 'wrong-state'
    assert kind(_runtime_containerd.CtrError(['x'], 1, 'ctr: cannot pause a paused container: unknown')) == 'wrong-state'
    assert kind(_runtime_containerd.CtrError(['x'], 1, 'ctr: permission denied')) is None


def test_the_owner_pod_comes_from_the_labels(runtime):
    assert runtime.owner_pod('u1')['uid'] == 'uid-cart-0'
    assert runtime.owner_pod('u2') is None


def test_runtime_option_defaults_and_connection_dicts():
    spec = _runtime_select.RUNTIME_ARGUMENT_SPEC
    assert spec['runtime']['choices'] == ['docker', 'containerd', 'podman'] and spec['runtime']['default'] == 'docker'
    assert spec['containerd_socket']['default'] == '/run/containerd/containerd.sock'
    assert spec['containerd_namespace']['default'] == 'k8s.io'
    conn = _runtime_select.connection_params(dict(runtime='containerd', containerd_socket='/s',
                                                  containerd_namespace='default', docker_host='unix:///d'))
    assert conn == dict(runtime='containerd', containerd_socket='/s', containerd_namespace='default')
    docker = _runtime_select.connection_params(dict(runtime='docker', docker_host='unix:///d'))
    assert docker['runtime'] == 'docker' and docker['docker_host'] == 'unix:///d'


def test_engine_keys_tell_engines_apart_and_an_old_entry_is_dockers():
    key = _runtime_select.engine_key
    assert key(dict(docker_host='unix:///d')) == key(dict(runtime='docker', docker_host='unix:///d'))
    assert key(dict(runtime='containerd', containerd_socket='/s', containerd_namespace='a')) != \
        key(dict(runtime='containerd', containerd_socket='/s', containerd_namespace='b'))
    assert _runtime_select.describe(dict(runtime='containerd', containerd_socket='/s',
                                         containerd_namespace='k8s.io')) == 'containerd_socket=/s (namespace k8s.io)'


def test_an_unreachable_containerd_is_a_clear_fault_error(tmp_path):
    with pytest.raises(FaultError) as caught:
        _runtime_select.runtime_from_params(dict(runtime='containerd', containerd_socket=str(tmp_path / 'no.sock'),
                                                 containerd_namespace='k8s.io'), pool_size=10)
    assert caught.value.msg == 'Cannot reach containerd at containerd_socket=%s (namespace k8s.io): no such socket: %s' % (
        tmp_path / 'no.sock', tmp_path / 'no.sock')


def test_the_revert_client_dispatches_on_the_runtime_key():
    from ansible_collections.chaos.engineering.plugins.module_utils import _revert_client
    runtime = _revert_client.runtime_for(dict(runtime='containerd', containerd_socket='/s',
                                              containerd_namespace='k8s.io'))
    assert isinstance(runtime, _runtime_containerd.ContainerdRuntime) and runtime.socket == '/s'

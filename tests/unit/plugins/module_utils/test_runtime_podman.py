"""PodmanRuntime against a fake client that answers as Podman 4.3's compat API does (measured on the podman bed):
its error statuses and texts, its listings, its refusal to remove a container that another joined; and the
runtime options: the ledger's connection dict, which engine an entry names, and the reverter's dispatch."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.chaos.engineering.plugins.module_utils import _revert_client, _runtime_select
from ansible_collections.chaos.engineering.plugins.module_utils._docker import DockerConnectionError
from ansible_collections.chaos.engineering.plugins.module_utils._runtime_docker import DockerRuntime
from ansible_collections.chaos.engineering.plugins.module_utils._runtime_podman import (
    PodmanRuntime,
    make_podman_client,
    podman_error_kind,
)


class ApiError(Exception):
    """An error as the Docker SDK raises it: a message and a response with its status."""

    def __init__(self, status, text):
        super(ApiError, self).__init__('%d Server Error: (%s)' % (status, text))
        self.response = type('Response', (), {'status_code': status})()


def podman_summary(cid, name, state, labels=None, infra=False, pod=''):
    return dict(Id=cid, Names=[name], State=state, Labels=labels or {}, Image='localhost/chaos-busybox:latest',
                IsInfra=infra, PodName=pod)


class FakePodman:
    """The compat API's answers that PodmanRuntime relies on, from the podman bed."""

    base_url = 'http+docker://localhost'

    def __init__(self, listing, modes=None, helpers=None):
        self.listing = listing
        self.modes = modes or {}
        self.helpers = helpers or []
        self.removed = []

    def _get(self, url, params=None):
        assert url.endswith('/libpod/containers/json') and params == {'all': 'true'}
        return self.listing

    def _result(self, response, json=False):  # pylint: disable=redefined-outer-name
        assert json
        return response

    def inspect_container(self, cid):
        if cid not in self.modes:
            raise ApiError(404, 'no container with name or ID "%s" found: no such container' % cid)
        return dict(HostConfig=dict(NetworkMode=self.modes[cid]))

    def containers(self, all=False, filters=None):  # pylint: disable=redefined-builtin
        assert all and filters == {'label': ['chaos.engineering/helper=true']}
        return [h for h in self.helpers if h['Id'] not in self.removed]

    def remove_container(self, cid, v=False, force=False):
        assert force
        dependents = [h['Id'] for h in self.helpers
                      if h['Labels']['chaos.engineering/target'] == cid and h['Id'] not in self.removed]
        if dependents:
            raise ApiError(500, 'container %s has dependent containers which must be removed before it: %s: '
                                'container already exists' % (cid, dependents[0]))
        self.removed.append(cid)


def helper(hid, target):
    return dict(Id=hid, Names=['/h'], State='running',
                Labels={'chaos.engineering/helper': 'true', 'chaos.engineering/target': target})


@pytest.mark.parametrize('status, text, kind', [
    (500, '"abc" is already paused: container state improper', 'wrong-state'),
    (500, '"abc" is not paused, can\'t unpause: container state improper', 'wrong-state'),
    (500, 'can only kill running containers. abc is in state exited: container state improper', 'wrong-state'),
    (404, 'no container with name or ID "abc" found: no such container', 'gone'),
    (409, 'conflict', 'wrong-state'),
    (500, 'runc: runc create failed', None),
])
def test_error_kinds_of_podman(status, text, kind):
    assert podman_error_kind(ApiError(status, text)) == kind
    assert PodmanRuntime(None).error_kind(ApiError(status, text)) == kind


def test_candidates_in_every_state_with_podman_names_and_infra_containers_protected():
    client = FakePodman([
        podman_summary('a', 'web', 'running'),
        podman_summary('b', 'frozen', 'paused'),
        podman_summary('c', 'new', 'configured'),
        podman_summary('d', 'done', 'stopped'),
        podman_summary('e', 'shop-infra', 'running', infra=True, pod='shop'),
    ])
    runtime = PodmanRuntime(client)
    running = runtime.candidates(['running', 'paused'])
    assert [(c['name'], c['state']) for c in running] == [('web', 'running'), ('frozen', 'paused'),
                                                          ('shop-infra', 'running')]
    assert running[2]['protected_reason'] == 'the infra container of Podman pod shop'
    assert 'protected_reason' not in running[0]
    assert [c['name'] for c in runtime.candidates(['created', 'exited'])] == ['new', 'done']


def test_running_containers_have_network_modes_from_inspect_and_skip_the_vanished():
    client = FakePodman([podman_summary('a', 'web', 'running'), podman_summary('b', 'frozen', 'paused'),
                         podman_summary('g', 'gone', 'running'), podman_summary('x', 'old', 'exited')],
                        modes=dict(a='bridge', b='container:a'))
    assert PodmanRuntime(client).running_containers() == [dict(id='a', name='web', network_mode='bridge'),
                                                          dict(id='b', name='frozen', network_mode='container:a')]


def test_remove_takes_our_helpers_out_of_the_targets_namespace_first():
    client = FakePodman([], helpers=[helper('h1', 'target'), helper('h2', 'other')])
    PodmanRuntime(client).remove('target')
    assert client.removed == ['h1', 'target']


def test_remove_still_fails_for_a_container_of_the_users_in_its_namespace():
    client = FakePodman([], helpers=[])
    client.helpers = [dict(helper('theirs', 'target'), Labels={'chaos.engineering/target': 'target'})]
    client.containers = lambda all=False, filters=None: []  # not labelled as ours: never listed as a helper
    with pytest.raises(ApiError, match='dependent containers'):
        PodmanRuntime(client).remove('target')


def test_no_kubelet_owns_a_podman_container():
    assert PodmanRuntime(None).owner_pod('abc') is None


def test_a_docker_engine_at_the_podman_socket_is_refused(monkeypatch):
    class Docker:
        def version(self):
            return dict(Components=[dict(Name='Engine'), dict(Name='containerd')])
    monkeypatch.setattr('ansible_collections.chaos.engineering.plugins.module_utils._runtime_podman.'
                        'build_api_client', lambda conn, pool_size: Docker())
    with pytest.raises(DockerConnectionError, match='is not Podman .it reports Engine, containerd.'):
        make_podman_client(dict(podman_socket='unix:///run/docker.sock'))


def test_an_unreachable_socket_names_it(tmp_path):
    socket = 'unix://%s' % (tmp_path / 'none.sock')
    with pytest.raises(DockerConnectionError, match='Cannot reach the Podman service at podman_socket=%s' % socket):
        make_podman_client(dict(podman_socket=socket, timeout=5))


def test_the_ledger_connection_names_the_runtime_and_its_socket():
    params = dict(docker_host='unix:///var/run/docker.sock', runtime='docker', podman_socket='unix:///p.sock')
    assert 'podman_socket' not in _runtime_select.connection_params(params)
    conn = _runtime_select.connection_params(dict(params, runtime='podman'))
    assert conn['runtime'] == 'podman' and conn['podman_socket'] == 'unix:///p.sock'
    assert _runtime_select.engine_key(conn) == ('podman', 'unix:///p.sock')
    # An entry written before runtimes existed is a Docker one, on its docker_host.
    assert _runtime_select.engine_key(dict(docker_host='unix:///d.sock')) == ('docker', 'unix:///d.sock')
    assert _runtime_select.describe(conn) == 'podman_socket=unix:///p.sock'


def test_the_reverter_reaches_podman_on_its_socket(monkeypatch):
    built = []
    monkeypatch.setattr(_revert_client, 'build_api_client', lambda conn, pool_size: built.append(conn) or object())
    monkeypatch.setattr(_revert_client, '_CLIENTS', {})
    conn = dict(docker_host='unix:///var/run/docker.sock', runtime='podman', podman_socket='unix:///p.sock',
                api_version='auto', timeout=60, tls=True)
    assert isinstance(_revert_client.runtime_for(conn), PodmanRuntime)
    assert built == [dict(docker_host='unix:///p.sock', api_version='auto', timeout=60)]  # plain HTTP, no TLS
    assert _revert_client.engine_url(conn) == 'unix:///p.sock'
    docker_runtime = _revert_client.runtime_for(dict(docker_host='unix:///d.sock'))
    assert type(docker_runtime) is DockerRuntime  # pylint: disable=unidiomatic-typecheck


class FakeCgroupPodman:
    """Podman's info and inspect as the cgroup lookup reads them (podman bed: cgroupfs, v1)."""

    def __init__(self, parent='', driver='cgroupfs'):
        self.parent, self.driver = parent, driver

    def info(self):
        return dict(CgroupDriver=self.driver, CgroupVersion='1')

    def inspect_container(self, container_id):
        return dict(Id='c' * 64, State=dict(Pid=4242), HostConfig=dict(CgroupParent=self.parent))


def test_target_cgroup_without_the_kernels_word_uses_podmans_naming_not_dockers():
    # No process of this host names container c*64: the engine's word is all there is (as for a remote engine).
    cid = 'c' * 64
    assert PodmanRuntime(FakeCgroupPodman()).target_cgroup(cid)['path'] == '/libpod_parent/libpod-' + cid
    assert PodmanRuntime(FakeCgroupPodman(parent='/mine/')).target_cgroup(cid)['path'] == '/mine/libpod-' + cid
    assert PodmanRuntime(FakeCgroupPodman(driver='systemd')).target_cgroup(cid)['path'] == \
        '/machine.slice/libpod-%s.scope' % cid
    assert DockerRuntime(FakeCgroupPodman()).target_cgroup(cid)['path'] == '/docker/' + cid

"""The ledger module's engine filter: runtime, docker_host, podman_socket, containerd_socket and
containerd_namespace select the entries (and untimed notes) of one engine, compared by engine (as
_runtime_select.engine_key names it); none of them selects every engine; options of two runtimes without runtime
fail clearly and change nothing."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest

from ansible_collections.chaos.engineering.plugins.module_utils import _ledger_engine, _ledger_store

DOCKER_A = dict(runtime='docker', docker_host='unix:///a.sock')
DOCKER_B = dict(docker_host='unix:///b.sock')  # an entry written before there was a runtime option
PODMAN = dict(runtime='podman', docker_host='unix:///a.sock', podman_socket='unix:///run/podman/podman.sock')
PODMAN_OTHER = dict(runtime='podman', docker_host='unix:///a.sock', podman_socket='unix:///other/podman.sock')
CONTAINERD = dict(runtime='containerd', containerd_socket='/run/containerd/containerd.sock',
                  containerd_namespace='k8s.io')
ENGINES = dict(docker_a=DOCKER_A, docker_b=DOCKER_B, podman=PODMAN, podman_other=PODMAN_OTHER, containerd=CONTAINERD)


@pytest.fixture
def ledger(tmp_path):
    """A ledger with one pending pause and one untimed netem note on each engine; target names are the engines'."""
    root = str(tmp_path / 'ledger')
    os.mkdir(root, 0o700)
    _ledger_store.record(root, [_ledger_store.new_entry('container_pause', 'unpause', dict(id=name, name=name),
                                                        conn, 4102444800) for name, conn in ENGINES.items()])
    for name, conn in ENGINES.items():
        _ledger_store.note_untimed(root, 'container_netem', dict(id=name, name=name), conn)
    return root


def listed(run_module, ledger, **filters):
    result = run_module('ledger', ledger_dir=ledger, **filters)
    assert not result.get('failed'), result
    pending = sorted(e['target']['name'] for e in result['pending'])
    assert pending == sorted(n['target']['name'] for n in result['untimed']), result
    return pending


@pytest.mark.parametrize('filters, names', [
    (dict(), sorted(ENGINES)),
    (dict(docker_host='unix:///a.sock'), ['docker_a']),  # not the Podman entries that carry the same docker_host
    (dict(docker_host='unix:///b.sock'), ['docker_b']),  # an old entry without runtime is Docker's
    (dict(runtime='docker', docker_host='unix:///b.sock', podman_socket='unix:///other/podman.sock'), ['docker_b']),
    (dict(runtime='podman'), ['podman']),  # the default socket, as the modules take it
    (dict(podman_socket='unix:///other/podman.sock'), ['podman_other']),  # runtime implied
    (dict(runtime='podman', podman_socket='unix:///other/podman.sock', docker_host='unix:///a.sock'),
     ['podman_other']),
    (dict(runtime='containerd'), ['containerd']),
    (dict(containerd_namespace='default'), []),
])
def test_the_filter_selects_the_entries_and_notes_of_one_engine(run_module, ledger, filters, names):
    assert listed(run_module, ledger, **filters) == names


def test_runtime_docker_without_docker_host_is_docker_hosts_engine(run_module, ledger, monkeypatch):
    monkeypatch.setenv('DOCKER_HOST', 'unix:///b.sock')
    assert listed(run_module, ledger, runtime='docker') == ['docker_b']
    monkeypatch.delenv('DOCKER_HOST')
    assert listed(run_module, ledger, runtime='docker') == []  # the local socket: no entry here


def test_reverted_with_a_filter_reverts_only_that_engines_entries(run_module, ledger, monkeypatch):
    from ansible_collections.chaos.engineering.plugins.module_utils import _reverter
    performed = []
    monkeypatch.setattr(_reverter, 'revert_now', lambda root, entries: performed.extend(entries) or [
        dict(id=e['id'], status='reverted') for e in entries])
    result = run_module('ledger', ledger_dir=ledger, state='reverted', runtime='podman')
    assert result['changed'] is True and not result.get('failed'), result
    assert [e['target']['name'] for e in performed] == ['podman']


def test_options_of_two_runtimes_without_runtime_fail_clearly_and_halt_nothing(run_module, ledger):
    result = run_module('ledger', ledger_dir=ledger, state='halted', podman_socket='unix:///x.sock',
                        containerd_namespace='k8s.io')
    assert result['failed'] is True
    assert 'name engines of different runtimes (containerd and podman); give runtime' in result['msg']
    assert 'Traceback' not in result['msg']
    assert _ledger_store.read_halt(ledger) is None


def test_engine_filter_is_none_without_options_and_an_engine_key_otherwise():
    assert _ledger_engine.engine_filter(dict(runtime=None, docker_host='', podman_socket=None)) is None
    assert _ledger_engine.engine_filter(dict(docker_host='tcp://h:2375')) == ('docker', 'tcp://h:2375')
    assert _ledger_engine.engine_filter(dict(runtime='docker'), environ={}) == ('docker', 'unix:///var/run/docker.sock')
    assert _ledger_engine.engine_filter(dict(containerd_socket='/c.sock')) == ('containerd', '/c.sock', 'k8s.io')
    assert _ledger_engine.on_engine(None, None)
    assert _ledger_engine.on_engine(('docker', 'unix:///var/run/docker.sock'), None)  # an entry without docker

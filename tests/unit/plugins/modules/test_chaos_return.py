"""The `chaos` RETURN docs: each module's copy agrees with docs/chaos_return.yml, and with what the module returns.

ansible-core has no doc fragments for RETURN, so the shared text is copied into every module by
hack/sync_return_docs.py. Here the copies are compared with the source, and the documented keys with real results:
each module runs against the fakes of the other unit tests (a fake Docker engine here, the fake Kubernetes APIs of
test_k8s_pod_chaos and test_k8s_agent) in the runs that between them return every key it may return.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import importlib
import os
import sys

import pytest
import yaml


HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, '..', '..', '..', '..'))
sys.path.insert(0, os.path.join(ROOT, 'hack'))
sys.path.insert(0, os.path.join(HERE, '..', 'module_utils'))

import sync_return_docs  # noqa: E402  pylint: disable=wrong-import-position,import-error
from k8s_fakes import deployment_pods, FakeCluster  # noqa: E402  pylint: disable=wrong-import-position
from test_k8s_agent import FakeApi  # noqa: E402  pylint: disable=wrong-import-position
from test_netem_apply import FakeEngine  # noqa: E402  pylint: disable=wrong-import-position

from ansible_collections.chaos.engineering.plugins.module_utils import (  # noqa: E402  pylint: disable=wrong-import-position
    _container_fault, _docker_exec, _docker_helpers, _k8s_fault, _reverter, _runtime_docker)
from ansible_collections.chaos.engineering.plugins.module_utils._host_exec import (  # noqa: E402  pylint: disable=wrong-import-position
    ExecResult)
from ansible_collections.chaos.engineering.plugins.modules import (  # noqa: E402  pylint: disable=wrong-import-position
    container_exec, container_kill, container_netem, container_pause, container_restart, container_stress, k8s_agent,
    k8s_pod_chaos)

SOURCE = sync_return_docs.load_source()
SPEC = yaml.safe_load(SOURCE)
MODULES = sorted(SPEC['modules'])
PY_TYPES = dict(str=str, bool=bool, int=int, float=(int, float), dict=dict, list=list, raw=object)


def chaos_doc(module):
    return yaml.safe_load(importlib.import_module(
        'ansible_collections.chaos.engineering.plugins.modules.' + module).RETURN)['chaos']


# --- The copies agree with the source ------------------------------------------------------------------------------

def test_every_module_that_returns_chaos_is_in_the_source():
    returning = set()
    for name in os.listdir(os.path.join(ROOT, 'plugins', 'modules')):
        if name.endswith('.py') and not name.startswith('_'):
            module = importlib.import_module('ansible_collections.chaos.engineering.plugins.modules.' + name[:-3])
            if 'chaos' in (yaml.safe_load(module.RETURN) or {}):
                returning.add(name[:-3])
    assert returning == set(MODULES)


@pytest.mark.parametrize('module', MODULES)
def test_the_copy_of_the_shared_keys_is_the_source(module):
    doc = chaos_doc(module)
    assert dict((k, v) for k, v in doc.items() if k != 'contains') == SPEC['chaos']
    declared = SPEC['modules'][module]
    assert sorted(doc['contains']) == sorted(list(declared['shared']) + list(declared['own'])), (
        'keys documented in %s but neither shared nor its own in docs/chaos_return.yml, or missing' % module)
    for key, expected in sync_return_docs.expected_shared(SOURCE, module).items():
        assert doc['contains'][key] == expected, (
            '%s documents chaos.%s differently from docs/chaos_return.yml: run python hack/sync_return_docs.py' % (module, key))
    for key, types in declared['own'].items():
        assert dict((k, doc['contains'][key].get(k)) for k in types) == types, (module, key)


def test_the_rewrite_is_the_files_as_they_are():
    for module in MODULES:
        with open(sync_return_docs.module_path(module)) as handle:
            text = handle.read()
        assert sync_return_docs.rewrite(text, module, SOURCE) == text, (
            '%s: run python hack/sync_return_docs.py' % module)


def test_a_drifted_copy_fails_and_is_rewritten():
    with open(sync_return_docs.module_path('container_pause')) as handle:
        text = handle.read()
    drifted = text.replace('Whether this was a check-mode run that changed nothing.', 'Whether it was check mode.')
    drifted = drifted.replace("      type: dict\n      returned: with O(state=paused)",
                              "      type: list\n      returned: with O(state=paused)")
    assert drifted.count('Whether it was check mode.') == 1 and drifted.count('type: list\n      returned: with') == 1
    assert sync_return_docs.rewrite(drifted, 'container_pause', SOURCE) == text


# --- The documented keys are the returned keys ------------------------------------------------------------------------

class FakeDocker:
    """The docker.APIClient calls of the container modules, on two running containers."""

    def __init__(self):
        self.listing = [dict(Id='c%d' % i * 8, Names=['/web-%d' % i], State='running', Labels={}, Image='web')
                        for i in range(2)]
        self.calls = []

    def containers(self, all=False, filters=None):  # pylint: disable=redefined-builtin
        if filters:  # our helpers: none but those the fake engine starts
            return []
        return [dict(c) for c in self.listing]

    def inspect_container(self, container_id):
        return dict(Id=container_id, State=dict(Running=True, Status='running', Pid=4242,
                                                StartedAt='2026-11-27T10:00:00.000000000Z'),
                    HostConfig=dict(NetworkMode='default'))

    def inspect_image(self, image):
        return dict(Id=image)

    def __getattr__(self, name):  # kill, stop, pause, unpause: recorded, and done
        if name in ('kill', 'stop', 'pause', 'unpause', 'start'):
            return lambda *args, **kwargs: self.calls.append((name, args))
        raise AttributeError(name)


@pytest.fixture
def run_main(run_module):
    """Run a module's main() with ``args``, and return its ``chaos``."""
    def runner(module, **args):
        result = run_module(module, **args)
        assert 'chaos' in result, result
        return result['chaos']
    return runner


@pytest.fixture
def docker(monkeypatch, tmp_path):
    client = FakeDocker()
    monkeypatch.setattr(_container_fault, 'runtime_from_params',
                        lambda params, pool_size=10: _runtime_docker.DockerRuntime(client))
    # A reverter that confirms at once, so that the real ledger in tmp_path arms the reverts.
    monkeypatch.setattr(_reverter, 'ensure_reverter', lambda root, confirm_after=None, **kw: 4242)
    engine = FakeEngine()
    engine.revert_fault()  # the targets' namespaces start without faults
    for name in ('exec_in', 'start_helper', 'remove_helper'):
        monkeypatch.setattr(_docker_helpers, name, getattr(engine, name))
    ledger = tmp_path / 'ledger'
    ledger.mkdir(mode=0o700)
    return dict(docker_host='unix:///fake.sock', ledger_dir=str(ledger), allow_all=True)


def k8s_cluster():
    rs, pods = deployment_pods('shop', 'web', 3)
    return FakeCluster(pods, [rs], workloads={('Deployment', 'shop', 'web'): {'spec': {'replicas': 3}}})


def results_of(module, run_main, docker, monkeypatch):
    """The ``chaos`` results of the runs that between them return every key ``module`` may return."""
    if module == 'container_kill':
        return [run_main(container_kill, **docker),
                run_main(container_kill, restart_after=30, **docker),
                run_main(container_kill, check_mode=True, debug=True, restart_after=30, wait_for_recovery=True, **docker)]
    if module == 'container_pause':
        return [run_main(container_pause, duration=30, **docker),
                run_main(container_pause, check_mode=True, debug=True, duration=30, **docker)]
    if module == 'container_netem':
        return [run_main(container_netem, duration=30, delay=dict(time='100ms'), **docker),
                run_main(container_netem, check_mode=True, debug=True, state='absent', **docker),
                run_main(container_netem, untimed=True, names=['web-1'], delay=dict(time='50ms'),
                         **dict(docker, allow_all=False))]
    if module == 'container_exec':
        def timed_exec(client, container_id, argv, **options):
            if container_id.startswith('c1'):  # the second container's command outlives exec_timeout
                return ExecResult(argv, None, '', '', timed_out=True, stopped=True, duration=10.0)
            return ExecResult(argv, 0, 'ok', '', duration=0.1)
        monkeypatch.setattr(_docker_exec, 'timed_exec', timed_exec)
        # With exec_timeout, the runtime runs the command through timed_exec (without it, through exec_in).
        return [run_main(container_exec, exec_timeout=10, **docker),
                run_main(container_exec, check_mode=True, debug=True, **docker)]
    if module == 'container_restart':
        done = run_main(container_restart, check_mode=True, debug=True, wait_for_recovery=True, **docker)

        def refused(self, container_id, timeout):
            raise RuntimeError('engine said no')
        monkeypatch.setattr(_runtime_docker.DockerRuntime, 'restart', refused)
        return [done, run_main(container_restart, **docker)]  # a failed restart keeps its start armed
    if module == 'k8s_pod_chaos':
        cluster = k8s_cluster()
        monkeypatch.setattr(_k8s_fault, 'make_client', lambda auth, pool_size=10: cluster)
        return [run_main(k8s_pod_chaos, namespace='shop', label_selector='app=web'),
                run_main(k8s_pod_chaos, check_mode=True, namespace='shop', label_selector='app=web',
                         wait_for_recovery=True)]
    if module == 'container_stress':
        monkeypatch.setattr(FakeDocker, 'info', lambda self: dict(CgroupDriver='cgroupfs', CgroupVersion='1'),
                            raising=False)
        monkeypatch.setattr(_docker_helpers, 'start_stressor', lambda client, image, name, *a: 'stress-' + name)
        return [run_main(container_stress, duration=30, cpu=1, **docker),
                run_main(container_stress, check_mode=True, debug=True, duration=30, cpu=1, **docker),
                run_main(container_stress, state='absent', **docker)]
    assert module == 'k8s_agent'
    api = FakeApi()
    monkeypatch.setattr(k8s_agent, 'POLL', 0.01)
    monkeypatch.setattr(_k8s_fault, 'make_client', lambda auth, pool_size=10: api)
    return [run_main(k8s_agent, name='a1', namespace='chaos-x', duration=600),
            run_main(k8s_agent, name='a1', namespace='chaos-x', state='absent')]


def check_value(where, doc, value):
    if value is None:
        return  # a documented key may be null (for example an unknown seed)
    assert isinstance(value, PY_TYPES[doc['type']]), '%s is %r, documented as %s' % (where, value, doc['type'])
    if doc['type'] == 'list' and doc.get('elements') in PY_TYPES:
        assert all(isinstance(v, PY_TYPES[doc['elements']]) for v in value), where


def walk(where, docs, value, seen):
    """Check ``value`` (a dict returned where ``docs``, a `contains`, documents its keys) at every depth: each key
    documented, each value of its documented type. Adds the path of every key returned to ``seen``
    (C(targets[].kubelet.pod)); a list of dicts is walked item by item."""
    undocumented = sorted(set(value) - set(docs))
    assert not undocumented, 'returned, but not documented in the RETURN: %s' % (
        ', '.join('%s.%s' % (where, k) for k in undocumented))
    for key, sub in value.items():
        here = '%s.%s' % (where, key)
        check_value(here, docs[key], sub)
        seen.add(here)
        inner = docs[key].get('contains')
        if not inner or sub is None:
            continue
        if docs[key]['type'] == 'dict':
            walk(here, inner, sub, seen)
        elif docs[key]['type'] == 'list' and docs[key].get('elements') == 'dict':
            for item in sub:
                walk(here + '[]', inner, item, seen)


def documented(where, docs):
    """The path of every documented key, at every depth, as walk() names them."""
    paths = set()
    for key, doc in docs.items():
        here = '%s.%s' % (where, key)
        paths.add(here)
        if doc.get('contains'):
            nested = here + '[]' if doc['type'] == 'list' else here
            paths.update(documented(nested, doc['contains']))
    return paths


# The documented keys that the runs of results_of() never reach with these fakes (an engine error, a timeout, a
# kubelet's container, a teardown of orphans, a real recovery...). Naming a key covers what it contains; a name
# ending in [] says a list is returned but never with an item. Each must stay unreached: once a run returns one,
# the test fails until it is taken out.
NOT_REACHED = dict(
    container_kill=['targets[].error', 'targets[].kubelet', 'targets[].restarted_by', 'targets[].stop_timeout',
                    'recovery[]'],
    container_pause=['targets[].error'],
    container_netem=['targets[].removed', 'targets[].note', 'targets[].error', 'spec.faults.loss',
                     'spec.faults.loss_state', 'spec.faults.loss_gemodel', 'spec.faults.duplicate',
                     'spec.faults.corrupt', 'spec.faults.reorder', 'spec.faults.rate', 'spec.faults.bandwidth',
                     'spec.faults.drop', 'spec.faults.delay.jitter', 'spec.faults.delay.correlation',
                     'spec.faults.delay.distribution', 'spec.filters.local_addresses'],
    container_stress=['targets[].child_cgroup', 'targets[].note', 'targets[].error'],
    container_restart=['recovery[]'],
    k8s_pod_chaos=['targets[].error', 'recovery[]'],
    k8s_agent=['targets[].error', 'targets[].pods[].reason'],
)


def covers(name, path):
    return path == name or path.startswith(name + '.') or path.startswith(name + '[]') or (
        name.endswith('[]') and path.startswith(name))


@pytest.mark.parametrize('module', MODULES)
def test_the_documented_keys_are_the_returned_keys(module, run_main, docker, monkeypatch):
    doc = chaos_doc(module)['contains']
    results = results_of(module, run_main, docker, monkeypatch)
    seen = set()
    for result in results:
        walk('chaos', doc, result, seen)
    names = ['chaos.' + name for name in NOT_REACHED.get(module, [])]
    never = sorted(p for p in documented('chaos', doc) - seen if not any(covers(n, p) for n in names))
    assert not never, '%s documents %s, never returned in these runs' % (module, ', '.join(never))
    reached = [n for n in names if any(covers(n, p) for p in seen)]
    assert not reached, '%s: %s returned now; take it out of NOT_REACHED' % (module, ', '.join(reached))


# --- The ledger's entries, as M(ledger) returns them ---------------------------------------------------------------

def test_the_ledger_returns_only_documented_keys(run_main, run_module, docker):
    """The entries the fault modules write (a pause, a network fault, a kill's restart), listed, reverted (each
    fails: the fake engine's socket does not exist) and done, and the halt marker: every key they return, at every
    depth, is documented in ledger's RETURN (its entries' details differ by fault; not all are reached here)."""
    docs = yaml.safe_load(importlib.import_module(
        'ansible_collections.chaos.engineering.plugins.modules.ledger').RETURN)
    ids = []
    for module, args in ((container_pause, dict(duration=30)),
                         (container_netem, dict(duration=30, delay=dict(time='100ms'))),
                         (container_kill, dict(restart_after=30, names=['web-0']))):
        ids.extend(run_main(module, **dict(docker, **args))['revert']['entries'])
    ledger_dir = docker['ledger_dir']
    listed = run_module('ledger', ledger_dir=ledger_dir, ids=ids)
    reverted = run_module('ledger', ledger_dir=ledger_dir, ids=ids, state='halted', reason='test')
    assert len(listed['pending']) == len(ids) and len(reverted['reverted']) == len(ids)
    assert listed['pending'] == reverted['pending'], 'pending is what was there before the reverts'
    assert sorted(e['id'] for e in reverted['done']) == sorted(ids)
    seen = set()
    for result in (listed, reverted):
        walk('ledger', docs, dict((k, v) for k, v in result.items() if k in docs), seen)
    for path in ('ledger.pending[].details.steps', 'ledger.pending[].details.pod', 'ledger.pending[].armed_by.pid',
                 'ledger.reverted[].status', 'ledger.reverted[].began_at', 'ledger.done[].began_at',
                 'ledger.halt.by'):
        assert path in seen, path

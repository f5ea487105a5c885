"""container_stress's seam: a runtime without the stress methods is refused clearly; the ledger's revert removes
the helper by the name it was given before it started."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.chaos.engineering.plugins.module_utils import (
    _cgroup_v2_move, _revert_client, _revert_stress, _stress_apply)
from ansible_collections.chaos.engineering.plugins.module_utils._errors import FaultError
from ansible_collections.chaos.engineering.plugins.module_utils._runtime import ContainerRuntime
from ansible_collections.chaos.engineering.plugins.module_utils._runtime_docker import DockerRuntime


class PodmanRuntime(ContainerRuntime):
    """A runtime that has not implemented stress yet."""


class Fault:
    fault = 'container_stress'

    def __init__(self, runtime):
        self.runtime = runtime
        self.params = dict(state='absent')


def test_a_runtime_without_the_stress_methods_is_refused_by_name():
    assert _stress_apply._supports_stress(DockerRuntime(None))
    stress = _stress_apply.StressFault(Fault(PodmanRuntime()))
    with pytest.raises(FaultError, match='stress is not supported on runtime Podman'):
        stress._check_runtime()


def test_the_revert_removes_the_helper_by_name(monkeypatch):
    removed = []

    class Runtime:
        def remove_helper(self, name):
            removed.append(name)
    monkeypatch.setattr(_revert_client, 'runtime_for', lambda conn: Runtime())
    entry = dict(docker={}, details=dict(helper_name='chaos-stress-abc-123'))
    assert _revert_stress.REVERT_ACTIONS['remove_stressor'](entry) == 'reverted'
    assert removed == ['chaos-stress-abc-123'] and entry['details']['fault_gone_at'] > 0


def test_the_revert_also_removes_the_child_cgroup_and_retries_while_it_is_busy(monkeypatch):
    removed, busy = [], [['/t.scope/chaos-stress-1']]

    class Runtime:
        def remove_helper(self, name):
            removed.append(name)
    monkeypatch.setattr(_revert_client, 'runtime_for', lambda conn: Runtime())
    monkeypatch.setattr(_cgroup_v2_move, 'remove_children', lambda paths: busy.pop() if busy else [])
    entry = dict(docker={}, details=dict(helper_name='chaos-stress-abc-1', child_cgroup='/t.scope/chaos-stress-1'))
    with pytest.raises(OSError, match='still has processes'):
        _revert_stress.REVERT_ACTIONS['remove_stressor'](entry)
    assert 'fault_gone_at' not in entry['details']
    assert _revert_stress.REVERT_ACTIONS['remove_stressor'](entry) == 'reverted'
    assert removed == ['chaos-stress-abc-1'] * 2

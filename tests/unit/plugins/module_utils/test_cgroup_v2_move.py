"""_cgroup_v2_move on a fake cgroup tree (plain directories): every process of the helper's cgroup is moved into the
child, including those that appear while moving; the child is removed once empty, and kept while busy."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os

import pytest

from ansible_collections.chaos.engineering.plugins.module_utils import _cgroup_v2_move
from ansible_collections.chaos.engineering.plugins.module_utils._cgroup_v2_move import MoveError

HELPER = '/system.slice/docker-helper.scope'
CHILD = '/system.slice/docker-target.scope/chaos-stress-abc'


class FakeKernel:
    """cgroup.procs files in a directory tree: a write moves the pid (the kernel's semantics, roughly)."""

    def __init__(self, root, helper_pids, forks=None):
        self.root = str(root)
        self.forks = list(forks or [])  # pids the helper forks after its first pid moved
        for path, pids in ((HELPER, helper_pids), ('/system.slice/docker-target.scope', ['1'])):
            os.makedirs(self.dir(path))
            self.write_pids(path, pids)

    def dir(self, path):
        return os.path.join(self.root, path.lstrip('/'))

    def pids(self, path):
        with open(os.path.join(self.dir(path), 'cgroup.procs')) as handle:
            return handle.read().split()

    def write_pids(self, path, pids):
        with open(os.path.join(self.dir(path), 'cgroup.procs'), 'w') as handle:
            handle.write('\n'.join(pids) + ('\n' if pids else ''))


def fake_open(kernel, real_open):
    def opener(path, mode='r'):
        if mode == 'w' and path.endswith('cgroup.procs'):
            return Mover(kernel, os.path.dirname(path))
        return real_open(path, mode)
    return opener


class Mover:
    def __init__(self, kernel, target_dir):
        self.kernel, self.target = kernel, target_dir

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def write(self, pid):
        left = [p for p in self.kernel.pids(HELPER) if p != pid]
        if self.kernel.forks:  # a worker forked before its parent moved stays behind
            left.append(self.kernel.forks.pop())
        self.kernel.write_pids(HELPER, left)
        moved = os.path.join(self.target, 'cgroup.procs')
        existing = open(moved).read().split() if os.path.exists(moved) else []
        with open(moved, 'w') as handle:
            handle.write('\n'.join(existing + [pid]) + '\n')


@pytest.fixture
def kernel(tmp_path, monkeypatch):
    made = FakeKernel(tmp_path, ['10', '11'], forks=['12'])
    monkeypatch.setattr(_cgroup_v2_move, 'open', fake_open(made, open), raising=False)
    return made


def test_every_process_is_moved_into_the_new_child_even_one_forked_meanwhile(kernel):
    assert _cgroup_v2_move.move_processes(HELPER, CHILD, root=kernel.root, pause=0) == 3
    assert kernel.pids(HELPER) == []
    assert sorted(kernel.pids(CHILD)) == ['10', '11', '12']


def test_an_emptied_and_removed_helper_scope_is_no_error(kernel):
    os.remove(os.path.join(kernel.dir(HELPER), 'cgroup.procs'))
    os.rmdir(kernel.dir(HELPER))
    assert _cgroup_v2_move.move_processes(HELPER, CHILD, root=kernel.root) == 0


def test_a_refused_move_is_an_error_that_names_the_process(tmp_path, monkeypatch):
    made = FakeKernel(tmp_path, ['10'])
    monkeypatch.setattr(_cgroup_v2_move, 'open', lambda path, mode='r': (
        _Refuse() if mode == 'w' else open(path, mode)), raising=False)
    with pytest.raises(MoveError, match='cannot move process 10'):
        _cgroup_v2_move.move_processes(HELPER, CHILD, root=made.root)


class _Refuse:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def write(self, pid):
        raise OSError(errno.EACCES, 'Permission denied')


def test_the_child_is_removed_when_empty_kept_while_busy_and_gone_is_fine(tmp_path):
    os.makedirs(os.path.join(str(tmp_path), CHILD.lstrip('/')))
    busy = CHILD + '-busy'
    os.makedirs(os.path.join(str(tmp_path), busy.lstrip('/'), 'a-process'))  # rmdir fails like EBUSY
    assert _cgroup_v2_move.remove_children([CHILD, busy, CHILD + '-gone'], root=str(tmp_path), wait=0.2) == [busy]
    assert not os.path.exists(os.path.join(str(tmp_path), CHILD.lstrip('/')))


def test_only_a_unified_tree_is_v2(tmp_path):
    assert not _cgroup_v2_move.is_local_v2(str(tmp_path))
    (tmp_path / 'cgroup.controllers').write_text('cpu memory\n')
    assert _cgroup_v2_move.is_local_v2(str(tmp_path))

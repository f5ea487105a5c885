"""ensure_reverter gives up at once when waiting cannot help: a reverter.lock we cannot trust (a symlink), or
reverters that die as soon as they start."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import time

import pytest

from ansible_collections.chaos.engineering.plugins.module_utils import _ledger_store, _reverter


def private_ledger(tmp_path):
    root = tmp_path / 'ledger'
    root.mkdir(mode=0o700)
    return str(root)


def test_a_symlinked_lock_fails_at_once(tmp_path, monkeypatch):
    root = private_ledger(tmp_path)
    victim = tmp_path / 'victim'
    victim.write_text('precious\n')
    os.symlink(str(victim), os.path.join(root, 'reverter.lock'))
    spawned = []
    monkeypatch.setattr(_reverter, '_spawn_detached', lambda *args: spawned.append(args))
    started = time.time()
    with pytest.raises(_ledger_store.LedgerError, match='symlink'):
        _reverter.ensure_reverter(root, confirm_after=time.time_ns())
    assert time.time() - started < 5 and spawned == []
    assert victim.read_text() == 'precious\n'


def test_reverters_that_die_at_once_are_not_respawned_until_the_longest_wait(tmp_path, monkeypatch):
    root = private_ledger(tmp_path)
    spawned = []
    monkeypatch.setattr(_reverter, '_install_runtime', lambda root: str(tmp_path))
    monkeypatch.setattr(_reverter, '_spawn_detached', lambda *args: spawned.append(args) or 999999999)
    monkeypatch.setattr(_reverter, 'pid_alive', lambda pid: False)  # each dies before it confirms
    started = time.time()
    assert _reverter.ensure_reverter(root, confirm_after=time.time_ns(), wait_seconds=60) is None
    assert time.time() - started < 5 and len(spawned) == _reverter.SPAWN_ATTEMPTS

"""Safe by default: container_netem refuses a fault without a duration unless the task says untimed=true; an untimed
fault is noted in the ledger, and its removal (state=absent, the teardown's sweep) closes the note."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, '..', 'module_utils'))

from test_chaos_return import docker, run_main  # noqa: E402,F401  pylint: disable=wrong-import-position,unused-import

from ansible_collections.chaos.engineering.plugins.module_utils import _ledger_store, _private_files  # noqa: E402  pylint: disable=wrong-import-position
from ansible_collections.chaos.engineering.plugins.modules import container_netem  # noqa: E402  pylint: disable=wrong-import-position


def one_target(docker_args):
    return dict(docker_args, allow_all=False, names=['web-1'])


def test_a_fault_without_duration_or_untimed_is_refused_and_changes_nothing(run_module, docker):
    result = run_module(container_netem, delay=dict(time='100ms'), **one_target(docker))
    assert result['failed'] is True and result.get('changed') is not True
    assert result['msg'].startswith('Nothing was changed: a network fault needs a duration'), result['msg']
    assert 'untimed=true' in result['msg']
    assert not os.path.exists(os.path.join(docker['ledger_dir'], 'untimed'))
    assert _ledger_store.list_entries(docker['ledger_dir']) == []


def test_duration_and_untimed_together_are_refused(run_module, docker):
    result = run_module(container_netem, delay=dict(time='100ms'), duration=30, untimed=True, **one_target(docker))
    assert result['failed'] is True
    assert result['msg'] == 'Nothing was changed: give either duration or untimed=true, not both.'


def test_an_untimed_fault_is_noted_in_the_ledger_and_its_removal_closes_the_note(run_module, docker):
    ledger = docker['ledger_dir']
    result = run_module(container_netem, delay=dict(time='100ms'), untimed=True, **one_target(docker))
    assert result.get('failed') is not True, result.get('msg')
    assert result['changed'] is True and result['chaos']['untimed'] is True
    assert 'revert' not in result['chaos'] or not result['chaos']['revert'].get('armed')
    (note,) = _ledger_store.list_untimed(ledger)
    assert note['untimed'] is True and note['target']['name'] == 'web-1' and note['fault'] == 'container_netem'
    assert _ledger_store.list_entries(ledger) == []  # nothing for the reverter to perform
    # The ledger module lists it (and has nothing to revert for it).
    listed = run_module('ledger', ledger_dir=ledger)
    assert [n['id'] for n in listed['untimed']] == [note['id']] and listed['pending'] == []
    # Put in again (this fake engine keeps no helper, so it is a replacement): still one note, the new one.
    again = run_module(container_netem, delay=dict(time='100ms'), untimed=True, **one_target(docker))
    assert again.get('failed') is not True, again.get('msg')
    (note,) = _ledger_store.list_untimed(ledger)
    # The teardown's sweep (state=absent, allow_all) removes it and closes its note.
    removed = run_module(container_netem, state='absent', allow_no_targets=True, **docker)
    assert removed.get('failed') is not True, removed.get('msg')
    assert _ledger_store.list_untimed(ledger) == []
    assert run_module('ledger', ledger_dir=ledger)['untimed'] == []
    done = _private_files.read_json(os.path.join(ledger, 'done', note['id'] + '.json'))
    assert done['status'] == 'removed' and done['untimed'] is True

# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The reverts of the container-state faults: unpause (container_pause) and start (container_kill restart_after).

Each is a revert action of the ledger (see REVERT_ACTIONS): it takes an entry and returns its status, or raises
to be retried later. Imports nothing from Ansible: the detached reverter runs it (see _reverter.py).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.chaos.engineering.plugins.module_utils import _revert_client


def _revert_unpause(entry):
    runtime = _revert_client.runtime_for(entry['docker'])
    try:
        runtime.unpause(entry['target']['id'])
    except Exception as exc:  # pylint: disable=broad-exception-caught
        kind = runtime.error_kind(exc)
        if kind == 'gone':
            return 'target-gone'
        if kind == 'wrong-state':
            return 'already-reverted'  # not paused any more: someone unpaused it
        raise
    return 'reverted'


def _revert_start(entry):
    runtime = _revert_client.runtime_for(entry['docker'])
    details = entry.setdefault('details', {})
    try:
        if 'pod' not in details:  # an entry written before container_kill said whether the kubelet owns it
            details['pod'] = runtime.owner_pod(entry['target']['id'])
        if details['pod']:
            # The kubelet replaces a dead container with a new one: starting the old one would run it outside
            # the kubelet's control (and fail on the ports the replacement holds). Nothing is ours to do.
            status, seen = runtime.kubelet_restart_verdict(details['pod'], entry['target']['id'])
            details.update(seen)
            return status
        runtime.start(entry['target']['id'])
    except Exception as exc:  # pylint: disable=broad-exception-caught
        if runtime.error_kind(exc) == 'gone':
            return 'target-gone'
        raise
    return 'reverted'


# action name -> callable(entry) returning a status string; raising means "retry later".
REVERT_ACTIONS = {
    'unpause': _revert_unpause,
    'start': _revert_start,
}

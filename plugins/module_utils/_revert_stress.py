# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The revert of container_stress: remove the stress helper, by the name it was given before it started, and the
child cgroup of the target's it was moved into (systemd driver).

A revert action of the ledger (see REVERT_ACTIONS): it takes an entry and returns its status, or raises to be
retried later. Imports nothing from Ansible: the detached reverter runs it (see _reverter.py).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.chaos.engineering.plugins.module_utils import _cgroup_v2_move, _revert_client


def _remove_stressor(entry):
    # The name, not the id: the entry is written before the helper exists. A helper gone already (its own
    # --timeout ended it, and the engine removed it) is fine: remove_helper ignores "no such container".
    runtime = _revert_client.runtime_for(entry['docker'])
    runtime.remove_helper(entry['details']['helper_name'])
    child = entry['details'].get('child_cgroup')
    if child and _cgroup_v2_move.remove_children([child]):
        # Its processes are not reaped yet: the reverter retries.
        raise OSError('the child cgroup %s still has processes' % child)
    entry['details']['fault_gone_at'] = time.time()
    return 'reverted'


# action name -> callable(entry) returning a status string; raising means "retry later".
REVERT_ACTIONS = {
    'remove_stressor': _remove_stressor,
}

# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How long until harmed containers are back: the ``wait_for_recovery`` of container_kill and container_restart.

Reads each container's baseline through the runtime seam before the fault, then polls (_poll.wait_until_recovered)
``runtime.container_back`` and fills ``chaos.recovery``, one item per container.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.chaos.engineering.plugins.module_utils import _kubelet
from ansible_collections.chaos.engineering.plugins.module_utils._poll import wait_until_recovered


def recovery_baselines(fault, targets, verb='killed'):
    """Per target id, when it last started, to tell its restart from it (read before anything is harmed)."""
    baselines = dict(zip([t['id'] for t in targets], fault.run_each(
        targets, lambda target: fault.runtime.recovery_baseline(target['id']))))
    unreadable = ['%s: %s' % (t['name'], baselines[t['id']]['error']) for t in targets if baselines[t['id']].get('error')]
    if unreadable:
        fault.fail('Nothing was %s: reading the containers for wait_for_recovery failed: %s.' % (
            verb, '; '.join(unreadable)))
    return baselines


def _recovery_item(entry):
    item = dict(what='container ' + entry['name'], container=dict(id=entry['id'], name=entry['name']),
                recovered=entry.get('recovered', False), seconds=entry.get('seconds'), state=entry.get('state'),
                health=entry.get('health'))
    if entry.get('pod'):
        item.update(measured_by='replacement', replacement=entry.get('replacement'),
                    pod=_kubelet.describe(entry['pod']))
    else:
        item.update(measured_by='container')
    return item


def measure_recovery(fault, targets, outcomes, baselines, pods, done='the kill was done'):
    """Wait for the harmed containers to be back, from each outcome's ``acted_at``; fills chaos.recovery.
    Returns the timeout message, or None."""
    fault.result.recovery = []
    if fault.check_mode:
        return None
    entries = [dict(id=t['id'], name=t['name'], since=o['acted_at'], pod=pods[t['id']],
                    started_at=None if pods[t['id']] else baselines[t['id']]['started_at'])
               for t, o in zip(targets, outcomes) if not o.get('error')]
    failure = None
    try:
        wait_until_recovered(entries, lambda pending: [fault.runtime.container_back(e) for e in pending],
                             fault.params['recovery_timeout'])
    except Exception as exc:  # pylint: disable=broad-exception-caught
        failure = 'Waiting for recovery failed (%s): %s' % (done, exc)
    fault.result.recovery = [_recovery_item(e) for e in entries]
    if failure:
        return failure
    late = [e for e in entries if not e['recovered']]
    if not late:
        return None
    return 'Recovery timed out after %d s: %s not back.' % (fault.params['recovery_timeout'], ', '.join(
        '%s (%s%s)' % (e['name'], e.get('state'), ', health %s' % e['health'] if e.get('health') else '')
        for e in late))

# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How far a chaos agent's rollout is: a DaemonSet's readiness verdict and what each of its pods is waiting for.
Pure.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.chaos.engineering.plugins.module_utils._k8s_pods import pod_is_ready, pod_is_terminating


def rollout(obj):
    """(ready, counts) for a DaemonSet: ready when the controller has seen the current generation and every
    node that should run it runs an updated, ready pod."""
    meta = obj.get('metadata') or {}
    status = obj.get('status') or {}
    counts = dict(
        generation=meta.get('generation'),
        observed_generation=status.get('observedGeneration'),
        desired=status.get('desiredNumberScheduled', 0),
        current=status.get('currentNumberScheduled', 0),
        updated=status.get('updatedNumberScheduled', 0),
        ready=status.get('numberReady', 0),
        available=status.get('numberAvailable', 0),
        misscheduled=status.get('numberMisscheduled', 0),
    )
    observed = counts['observed_generation'] is not None and counts['generation'] is not None \
        and counts['observed_generation'] >= counts['generation']
    ready = observed and counts['desired'] == counts['updated'] == counts['ready'] == counts['available']
    return ready, counts


def describe_rollout(counts):
    return ('desired %(desired)s, updated %(updated)s, ready %(ready)s, available %(available)s '
            '(generation %(generation)s observed %(observed_generation)s)' % counts)


def pod_summary(pod):
    """name, node, phase, ready and, when not ready, the reason (a waiting container or a pod condition)."""
    meta = pod.get('metadata') or {}
    status = pod.get('status') or {}
    entry = dict(name=meta.get('name'), node=(pod.get('spec') or {}).get('nodeName'), phase=status.get('phase'),
                 ready=pod_is_ready(pod), terminating=pod_is_terminating(pod))
    if not entry['ready']:
        reason = None
        for cstatus in status.get('containerStatuses') or []:
            state = cstatus.get('state') or {}
            waiting = state.get('waiting') or state.get('terminated')
            if waiting and (waiting.get('reason') or waiting.get('message')):
                reason = ': '.join(x for x in (waiting.get('reason'), waiting.get('message')) if x)
                break
        if reason is None:
            for condition in status.get('conditions') or []:
                if condition.get('status') != 'True' and (condition.get('reason') or condition.get('message')):
                    reason = ': '.join(x for x in (condition.get('reason'), condition.get('message')) if x)
                    break
        if reason is None and entry['terminating']:
            reason = 'terminating'
        entry['reason'] = reason
    return entry

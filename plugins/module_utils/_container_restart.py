# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""container_restart's fault: a one-shot restart of each selected running container (``pumba restart --timeout``)
through the runtime seam's ``restart``, with the recovery measured as container_kill measures it.

Why a module of its own and not an action of container_kill: a restart brings the container back by itself, in
one engine call, so it has none of container_kill's signal, restart_after or remove, and its wait_for_recovery needs
no restart_after. As an action of container_kill every one of those options would need a "not with action=restart"
rule; here the argument spec is three options, and the two faults stay easy to tell apart in a journal.

Write-ahead all the same: between the stop and the start the container is down, and a restart cut short (the
controller killed, the engine's call dropped) could leave it so. Each target's ``start`` is in the ledger before the
restart, due RESTART_GRACE_SECONDS after the stop timeout; the module closes it once the restart returned, and if it
never does, the reverter starts the container at that deadline.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.chaos.engineering.plugins.module_utils import _kubelet, _ledger_store, _validate
from ansible_collections.chaos.engineering.plugins.module_utils._container_recovery import (
    measure_recovery,
    recovery_baselines,
)

FAULT = 'container_restart'
# Pumba's --timeout default for restart is 1 s; Docker's own (and ours) is 10 s before the SIGKILL.
DEFAULT_STOP_TIMEOUT = 10
# How long after the stop timeout a restart may take before the reverter starts the container itself.
RESTART_GRACE_SECONDS = 30

ARGUMENT_SPEC = dict(
    stop_timeout=dict(type='int', default=DEFAULT_STOP_TIMEOUT),
    wait_for_recovery=dict(type='bool', default=False),
    recovery_timeout=dict(type='int', default=120),
)
# The documented ranges (see _validate.py), checked before anything connects.
BOUNDS = dict(stop_timeout=_validate.seconds(_validate.GRACE), recovery_timeout=_validate.seconds(_validate.TIMEOUT))


def refuse_kubelet_containers(fault, targets, pods):
    """A kubelet's container is the kubelet's to start: restarting it behind the kubelet's back runs it outside its
    control (and the kubelet may start a replacement too). Fails before anything is restarted."""
    owned = [t['name'] for t in targets if pods[t['id']]]
    if owned:
        fault.fail('Nothing was restarted: %s %s managed by the kubelet, which replaces its own containers. Use '
                   'chaos.engineering.container_kill (with wait_for_recovery to measure the replacement) or '
                   'chaos.engineering.k8s_pod_chaos instead.' % (', '.join(owned), 'is' if len(owned) == 1 else 'are'))


def run(fault):
    """The module's whole run after the argument spec: select, arm, restart each target, measure, report."""
    params = fault.params
    stop_timeout = params['stop_timeout']
    targets = fault.select(['running'])
    runtime = fault.runtime
    pods = dict((t['id'], _kubelet.pod_of(t['labels'])) for t in targets)
    refuse_kubelet_containers(fault, targets, pods)
    baselines = recovery_baselines(fault, targets, verb='restarted') if params['wait_for_recovery'] else {}
    now = time.time()
    entries = dict((t['id'], _ledger_store.new_entry(
        FAULT, 'start', dict(id=t['id'], name=t['name']), fault.connection,
        now + stop_timeout + RESTART_GRACE_SECONDS)) for t in targets)

    def act(target):
        acted_at = time.time()  # the container goes down now: its recovery counts from here
        fault.result.mark_applied(acted_at)
        runtime.restart(target['id'], stop_timeout)
        return dict(changed=True, acted_at=acted_at)

    outcomes = fault.arm_and_run(targets, list(entries.values()), act)
    if not fault.check_mode:
        # Back up: nothing left for the reverter. A failed restart keeps its entry: the container may be down.
        _ledger_store.discard(fault.ledger_dir, [entries[t['id']] for t, o in zip(targets, outcomes)
                                                 if not o.get('error')], status='restarted')
    for target, outcome in zip(targets, outcomes):
        fault.result.add_target(target['id'], target['name'], 'restart', stop_timeout=stop_timeout, **outcome)
    kept = [entries[t['id']] for t, o in zip(targets, outcomes) if o.get('error')]
    if kept and not fault.check_mode:
        fault.report_revert(kept)
    problem = None
    if params['wait_for_recovery']:
        problem = measure_recovery(fault, targets, outcomes, baselines, pods, done='the restart was done')
    fault.exit(problem)

# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""container_stress's work on one engine: start, keep or remove our stress helpers, through the runtime seam.

The argv and the helper's placement come from _stress_plan: a cgroup parent for the engine (cgroupfs), or a
child cgroup of the target's that the helper's processes are moved into here (systemd, cgroup v2:
_cgroup_v2_move). Each helper's removal is written ahead in the ledger before the helper starts, by the name it
will get. Whether a stressor of ours runs on a target is read from our
helpers' labels, never from memory of an earlier run. Failures are raised as FaultError.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.chaos.engineering.plugins.module_utils import (
    _cgroup_v2_move, _docker_helpers, _ledger_store, _stress_plan)
from ansible_collections.chaos.engineering.plugins.module_utils._errors import FaultError
from ansible_collections.chaos.engineering.plugins.module_utils._runtime import ContainerRuntime
from ansible_collections.chaos.engineering.plugins.module_utils._selection import SELECTOR_KEYS
from ansible_collections.chaos.engineering.plugins.module_utils._timefmt import iso_utc as iso

REVERT_ACTION = 'remove_stressor'


def _supports_stress(runtime):
    cls = type(runtime)
    return all(getattr(cls, name) is not getattr(ContainerRuntime, name)
               for name in ('target_cgroup', 'start_stressor'))


def _runtime_name(runtime):
    return type(runtime).__name__.replace('Runtime', '') or type(runtime).__name__


class StressFault:
    """container_stress on the engine of one ContainerFaultModule."""

    def __init__(self, fault):
        self.fault = fault
        self.params = params = fault.params
        self.argv = self.fault_id = None
        if params['state'] == 'present':
            try:
                self.argv = _stress_plan.stress_argv(
                    dict((k, params.get(k)) for k in _stress_plan.SPEC_KEYS), params['duration'])
            except _stress_plan.PlanError as exc:
                raise FaultError(str(exc))
            self.fault_id = _stress_plan.fault_id(self.argv)

    @property
    def runtime(self):
        return self.fault.runtime

    def _check_runtime(self):
        if not _supports_stress(self.runtime):
            raise FaultError('stress is not supported on runtime %s: it has no target_cgroup/start_stressor.'
                             % _runtime_name(self.runtime))

    def _ours_by_target(self, running_only):
        """target id -> our stress helpers on it (running ones only, with ``running_only``)."""
        found = {}
        for helper in self.runtime.list_helpers():
            labels = helper.get('Labels') or {}
            if labels.get(_docker_helpers.FAULT_LABEL) != self.fault.fault:
                continue
            if running_only and helper.get('State') != 'running':
                continue
            found.setdefault(labels.get(_docker_helpers.TARGET_LABEL), []).append(helper)
        return found

    def _pending_by_target(self, targets):
        """target id -> our pending removals (ledger entries) for it."""
        pending = {}
        for entry in self.fault.pending_for([t['id'] for t in targets], REVERT_ACTION):
            pending.setdefault(entry['target']['id'], []).append(entry)
        return pending

    def _labels(self, target):
        return {_docker_helpers.FAULT_LABEL: self.fault.fault, _docker_helpers.FAULT_ID_LABEL: self.fault_id,
                _docker_helpers.TARGET_LABEL: target['id'], _docker_helpers.TARGET_NAME_LABEL: target['name']}

    @staticmethod
    def _children(target_path, helpers):
        """The child cgroups that ``helpers`` (of ours, on the target of ``target_path``) were moved into."""
        fids = set((h.get('Labels') or {}).get(_docker_helpers.FAULT_ID_LABEL) for h in helpers)
        return [_stress_plan.child_cgroup(target_path, fid) for fid in sorted(f for f in fids if f)]

    def _move_into(self, helper_id, child):
        """Move the helper just started into the target's ``child`` cgroup, or remove it: a stressor outside the
        target's limits is not the fault asked for."""
        try:
            found = self.runtime.target_cgroup(helper_id)
            if not str(found.get('source') or '').startswith('/proc/'):
                raise _cgroup_v2_move.MoveError('the helper has no running process (did stress-ng exit at once?)')
            _cgroup_v2_move.move_processes(found['path'], child)
        except Exception as exc:  # pylint: disable=broad-exception-caught
            self.runtime.remove_helper(helper_id)
            _cgroup_v2_move.remove_children([child])
            raise FaultError('the stressor was removed: it could not be moved into the target\'s cgroup %s: %s'
                             % (child, exc))

    # --- state=present --------------------------------------------------------------------------------

    def present(self):
        fault = self.fault
        duration = self.params['duration']
        targets = fault.select(['running'])
        self._check_runtime()
        ours = self._ours_by_target(running_only=True)
        pending = self._pending_by_target(targets)

        local_v2 = _cgroup_v2_move.is_local_v2()

        def plan_one(target):
            cgroup = self.runtime.target_cgroup(target['id'])
            try:
                return (cgroup,) + _stress_plan.placement(cgroup, target['id'], self.fault_id, local_v2)
            except _stress_plan.PlanError as exc:
                raise FaultError(str(exc))

        same, acting = {}, []
        for target in targets:
            mine = [h for h in ours.get(target['id'], [])
                    if (h.get('Labels') or {}).get(_docker_helpers.FAULT_ID_LABEL) == self.fault_id]
            if mine:
                same[target['id']] = mine[0]
            else:
                acting.append(target)
        planned = dict(zip([t['id'] for t in acting], fault.map_each(acting, plan_one)))
        now = time.time()
        entries = {}
        for target in acting:
            plan, error = planned[target['id']]
            if error is None:
                entries[target['id']] = _ledger_store.new_entry(
                    fault.fault, REVERT_ACTION, dict(id=target['id'], name=target['name']), fault.connection,
                    now + duration, helper_name=_stress_plan.helper_name(target['id'], self.fault_id),
                    fault_id=self.fault_id, image=self.params['image'], argv=self.argv, cgroup_parent=plan[1],
                    child_cgroup=plan[2])

        def act(target):
            entry = entries[target['id']]
            name = entry['details']['helper_name']
            # A different stressor of ours is replaced: its revert is closed first, so it cannot remove ours.
            _ledger_store.discard(fault.ledger_dir, pending.get(target['id'], []), status='replaced')
            for helper in ours.get(target['id'], []):
                self.runtime.remove_helper(helper['Id'])
            self.runtime.remove_helper(name)  # an exited one of the same name, not yet removed by the engine
            child = entry['details']['child_cgroup']
            if child:  # the replaced stressors' child cgroups, empty now
                _cgroup_v2_move.remove_children(self._children(child.rsplit('/', 1)[0], ours.get(target['id'], [])))
            helper_id = self.runtime.start_stressor(self.params['image'], name, self.argv,
                                                    entry['details']['cgroup_parent'], self._labels(target),
                                                    time.time() + duration)
            if child:
                self._move_into(helper_id, child)
            acted_at = time.time()
            fault.result.mark_applied(acted_at)
            fault.settle(entry, acted_at + duration)
            entry['deadline'] = acted_at + duration
            return dict(changed=True, acted_at=acted_at, helper=helper_id)

        ready = [t for t in acting if t['id'] in entries]
        # Read-only, so check mode says it too: a run without the image would change nothing.
        if ready and not self.runtime.has_image(self.params['image']):
            raise FaultError('Nothing was changed: the stress helper image %s is not on %s; the '
                             'chaos.engineering.stresshelper_image role builds it from the host\'s stress-ng.'
                             % (self.params['image'], fault.engine))
        if fault.check_mode:
            outcomes = dict((t['id'], dict(changed=True)) for t in ready)
        else:
            fault.arm_ahead(list(entries.values()))
            outcomes = dict(zip([t['id'] for t in ready], fault.run_each(ready, act)))
            fault.close_unapplied([e for tid, e in entries.items() if outcomes[tid].get('error')])

        armed = []
        for target in targets:
            tid = target['id']
            if tid in same:
                kept = pending.get(tid) or []
                deadline = max(e['deadline'] for e in kept) if kept else None
                labels = same[tid].get('Labels') or {}
                fault.result.add_target(tid, target['name'], 'unchanged', changed=False, helper=same[tid]['Id'],
                                        argv=self.argv, deadline=iso(deadline) if deadline else
                                        labels.get(_docker_helpers.EXPIRES_LABEL),
                                        note='this stressor of ours runs already; deadline unchanged')
                continue
            plan, error = planned[tid]
            if error is not None:
                fault.result.add_target(tid, target['name'], 'stress', error=error)
                continue
            entry = entries[tid]
            outcome = outcomes[tid]
            details = dict(argv=self.argv, cgroup_parent=plan[1], cgroup=plan[0],
                           helper_name=entry['details']['helper_name'])
            if plan[2]:
                details['child_cgroup'] = plan[2]
            if outcome.get('error'):
                fault.result.add_target(tid, target['name'], 'stress', **dict(details, **outcome))
                continue
            fault.result.add_target(tid, target['name'], 'stress', deadline=iso(entry['deadline']),
                                    **dict(details, **outcome))
            armed.append(entry)
        fault.result.extra['spec'] = dict(fault_id=self.fault_id, argv=self.argv, image=self.params['image'])
        if armed:
            fault.report_revert(armed)

    # --- state=absent ---------------------------------------------------------------------------------

    def absent(self):
        fault = self.fault
        targets = fault.select(['running', 'paused'])
        self._check_runtime()
        ours = self._ours_by_target(running_only=False)
        pending = self._pending_by_target(targets)

        local_v2 = _cgroup_v2_move.is_local_v2()

        def remove(target):
            helpers = ours.get(target['id'], [])
            if not fault.check_mode:
                _ledger_store.discard(fault.ledger_dir, pending.get(target['id'], []), status='reverted-by-module')
                for helper in helpers:
                    self.runtime.remove_helper(helper['Id'])
                if local_v2 and helpers:  # the child cgroups our helpers were moved into (systemd driver)
                    path = self.runtime.target_cgroup(target['id']).get('path')
                    if path:
                        _cgroup_v2_move.remove_children(self._children(path, helpers))
            return dict(changed=True, removed=[(h.get('Names') or [h['Id'][:12]])[0].lstrip('/') for h in helpers])

        acting = [t for t in targets if ours.get(t['id']) or pending.get(t['id'])]
        if self.params['allow_all'] and not any(self.params.get(k) for k in SELECTOR_KEYS):
            # The teardown: also our stressors whose target is gone (they would end by their own --timeout).
            alive = set(c['id'] for c in self.runtime.running_containers())
            orphans = [h for tid, found in ours.items() if tid not in alive for h in found]
            if orphans:
                if not fault.check_mode:
                    for helper in orphans:
                        self.runtime.remove_helper(helper['Id'])
                fault.result.targets.append(dict(id=None, name='(orphaned stressors)', action='remove', changed=True,
                                                 removed=[(h.get('Names') or [h['Id'][:12]])[0].lstrip('/')
                                                          for h in orphans]))
        outcomes = dict(zip([t['id'] for t in acting], fault.run_each(acting, remove)))
        for target in targets:
            if target['id'] in outcomes:
                fault.result.add_target(target['id'], target['name'], 'remove', **outcomes[target['id']])
            else:
                fault.result.add_target(target['id'], target['name'], 'none', changed=False,
                                        note='no stressor of ours here')

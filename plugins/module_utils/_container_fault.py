# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every container fault module does the same way.

Argument spec (connection + selection + ledger), client, candidates, selection,
concurrent actions and the ``chaos`` result, so each module only says what its
fault does to one container.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time
from concurrent.futures import ThreadPoolExecutor

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.chaos.engineering.plugins.module_utils import _ledger, _validate
from ansible_collections.chaos.engineering.plugins.module_utils._docker import (
    DOCKER_ARGUMENT_SPEC,
    client_or_fail,
    connection_params,
    container_candidates,
)
from ansible_collections.chaos.engineering.plugins.module_utils._result import FaultResult
from ansible_collections.chaos.engineering.plugins.module_utils._selection import (
    SELECTION_ARGUMENT_SPEC,
    SELECTION_MUTUALLY_EXCLUSIVE,
    SelectionError,
    criteria_from_params,
    require_targets,
    select_targets,
)

LEDGER_ARGUMENT_SPEC = dict(
    ledger_dir=dict(type='path'),
)

PARALLELISM_ARGUMENT_SPEC = dict(
    parallelism=dict(type='int', default=8),
)


class ContainerFaultModule:
    """An AnsibleModule for a fault on Docker containers."""

    def __init__(self, fault, argument_spec, mutually_exclusive=None, required_if=None, bounds=None):
        spec = dict(DOCKER_ARGUMENT_SPEC)
        spec.update(SELECTION_ARGUMENT_SPEC)
        spec.update(LEDGER_ARGUMENT_SPEC)
        spec.update(PARALLELISM_ARGUMENT_SPEC)
        spec.update(argument_spec)
        self.module = AnsibleModule(
            argument_spec=spec,
            mutually_exclusive=SELECTION_MUTUALLY_EXCLUSIVE + list(mutually_exclusive or []),
            required_if=required_if or [],
            supports_check_mode=True,
        )
        self.fault = fault
        self.params = self.module.params
        self.client = None
        self.result = None
        self.diffs = []  # diff mode: one before/after per target
        # Before anything connects: explicit nulls, and every duration, timeout and count in its documented range.
        _validate.fail_on_errors(self.module, _validate.validate_params(
            self.params, spec, dict(_validate.DOCKER_BOUNDS, **dict(_validate.PARALLELISM_BOUNDS, **(bounds or {}))),
            api_versions=_validate.DOCKER_API_VERSIONS, required_if=required_if))

    @property
    def check_mode(self):
        return self.module.check_mode

    @property
    def ledger_dir(self):
        return self.params.get('ledger_dir') or _ledger.default_ledger_dir()

    @property
    def connection(self):
        return connection_params(self.params)

    def fail(self, msg, **extra):
        if self.result is not None:
            extra.setdefault('chaos', self.result.as_dict())
        self.module.fail_json(msg=msg, **extra)

    def select(self, states, what='running container'):
        """Connect, list containers in ``states`` and apply the selection; fails clearly on bad input."""
        # Up to three requests per target at once (container_netem reads tc, iptables and ip6tables together).
        self.client = client_or_fail(self.module, pool_size=3 * self.params['parallelism'])
        try:
            candidates = container_candidates(self.client, states)
            selection = select_targets(candidates, criteria_from_params(self.params))
            require_targets(selection, self.params['allow_no_targets'], what=what)
        except SelectionError as exc:
            self.fail(str(exc))
        except Exception as exc:  # pylint: disable=broad-exception-caught
            self.fail('Listing containers on docker_host=%s failed: %s' % (self.params['docker_host'], exc))
        self.result = FaultResult(self.fault, self.check_mode, selection)
        return selection['selected']

    def run_each(self, targets, action):
        """Call ``action(target)`` for each target, ``parallelism`` at a time.

        ``action`` returns a dict of extra result fields; an exception becomes that
        target's ``error``. Returns the targets' results in selection order.
        """
        def guarded(target):
            try:
                extra = action(target) or {}
            except Exception as exc:  # pylint: disable=broad-exception-caught
                # Errors we raise on purpose already read well; others get their type for context.
                text = str(exc) if getattr(exc, 'user_facing', False) else '%s: %s' % (type(exc).__name__, exc)
                extra = dict(error=text)
            # When the fault took effect: timed reverts count their duration from here.
            extra.setdefault('acted_at', time.time())
            return extra

        workers = min(self.params['parallelism'], max(1, len(targets)))
        if workers == 1:
            outcomes = [guarded(t) for t in targets]
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                outcomes = list(pool.map(guarded, targets))
        return outcomes

    def arm_reverts(self, entries):
        """Record timed reverts in the ledger and start the reverter; sets the result's revert block."""
        if not entries:
            return None
        deadline = max(e['deadline'] for e in entries)
        if self.check_mode:
            self.result.set_revert(deadline, _ledger.METHOD, armed=False)
            return None
        try:
            armed, pid = _ledger.arm(self.ledger_dir, entries)
        except (OSError, IOError) as exc:
            self.fail('Could not arm the revert in the ledger at %s: %s' % (self.ledger_dir, exc))
        self.result.set_revert(deadline, _ledger.METHOD, armed=armed)
        self.result.revert.update(ledger_dir=self.ledger_dir, reverter_pid=pid,
                                  entries=[e['id'] for e in entries])
        if not armed:
            self.fail('The fault is in place but its reverter did not start (see %s/reverter.log). '
                      'Revert it now with the matching undo state.' % self.ledger_dir)
        return pid

    def pending_for(self, target_ids, action=None):
        """Pending ledger entries of this fault for these containers (on this engine)."""
        wanted = set(target_ids)
        host = self.params['docker_host']
        return [e for e in _ledger.list_entries(self.ledger_dir)
                if e.get('fault') == self.fault and e['target']['id'] in wanted
                and (action is None or e.get('action') == action)
                and e.get('docker', {}).get('docker_host') == host]

    def exit(self, problem=None):
        """Exit with the result; fail when a target failed, or with ``problem`` (for example a recovery timeout)."""
        failed = self.result.failed_targets
        chaos = self.result.as_dict()
        changed = any(t.get('changed') for t in self.result.targets)
        for target in chaos['targets']:
            target.pop('changed', None)
            target.pop('acted_at', None)
        extra = dict(diff=self.diffs) if self.diffs and self.module._diff else {}
        problems = ['%d of %d targets failed: %s' % (
            len(failed), len(self.result.targets), '; '.join('%s: %s' % (t['name'], t['error']) for t in failed))
        ] if failed else []
        if problem:
            problems.append(problem)
        if problems:
            self.module.fail_json(msg='; '.join(problems), changed=changed, chaos=chaos, **extra)
        self.module.exit_json(changed=changed, chaos=chaos, **extra)

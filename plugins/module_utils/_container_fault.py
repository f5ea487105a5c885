# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every container fault module does the same way.

Argument spec (connection + selection + ledger), the runtime, candidates, selection,
concurrent actions and the ``chaos`` result, so each module only says what its
fault does to one container. The fault code raises _errors.FaultError; ``run``
reports it once.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.chaos.engineering.plugins.module_utils import _docker, _ledger_store, _reverter, _validate
from ansible_collections.chaos.engineering.plugins.module_utils._docker import DOCKER_ARGUMENT_SPEC
from ansible_collections.chaos.engineering.plugins.module_utils._errors import FaultError, error_text
from ansible_collections.chaos.engineering.plugins.module_utils._parallel import map_parallel
from ansible_collections.chaos.engineering.plugins.module_utils._result import FaultResult
from ansible_collections.chaos.engineering.plugins.module_utils._runtime_select import (
    CONTAINERD,
    RUNTIME_ARGUMENT_SPEC,
    connection_params,
    describe,
    engine_key,
    runtime_from_params,
    runtime_name,
)
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
    lease=dict(type='str'),
)

PARALLELISM_ARGUMENT_SPEC = dict(
    parallelism=dict(type='int', default=8),
)


class ContainerFaultModule:
    """An AnsibleModule for a fault on the containers of one engine (Docker or containerd: the runtime option)."""

    def __init__(self, fault, argument_spec, mutually_exclusive=None, required_if=None, bounds=None):
        spec = dict(DOCKER_ARGUMENT_SPEC)
        spec.update(RUNTIME_ARGUMENT_SPEC)
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
        self.runtime = None  # a _runtime.ContainerRuntime, once select() connected
        self.result = None
        self.diffs = []  # diff mode: one before/after per target
        self._ledger_dir = None
        if self.params.get('debug'):
            _docker.record_api_calls()  # before any client is made
        # Before anything connects: explicit nulls, and every duration, timeout and count in its documented range.
        _validate.fail_on_errors(self.module, _validate.validate_params(
            self.params, spec, dict(_validate.DOCKER_BOUNDS, **dict(_validate.PARALLELISM_BOUNDS, **(bounds or {}))),
            api_versions=_validate.DOCKER_API_VERSIONS, required_if=required_if))
        lease = self.params.get('lease')
        if lease is not None and not _ledger_store.valid_lease_name(lease):
            self.fail('lease must be 1 to 128 letters, digits, dots, dashes or underscores, starting with a letter '
                      'or a digit; got %r.' % (lease,))

    @property
    def check_mode(self):
        return self.module.check_mode

    @property
    def ledger_dir(self):
        """The ledger, checked (absolute, private, ours) on first use; a ledger we cannot trust fails the task."""
        if self._ledger_dir is None:
            try:
                root = self.params.get('ledger_dir') or _ledger_store.default_ledger_dir()
                self._ledger_dir = _ledger_store.check_root(root, create=not self.check_mode)
            except (_ledger_store.LedgerError, OSError) as exc:
                self.fail('Nothing was changed: %s' % exc)
        return self._ledger_dir

    @property
    def connection(self):
        return connection_params(self.params)

    @property
    def engine(self):
        """The engine, for messages: docker_host=... or containerd_socket=... (namespace ...)."""
        return describe(self.connection)

    def fail(self, msg, **extra):
        if self.result is not None:
            extra.setdefault('chaos', self.with_debug(self.result.as_dict()))
        self.module.fail_json(msg=msg, **extra)

    def with_debug(self, chaos):
        """``chaos`` with ``docker_debug`` (the connection as used, the engine API calls made) under debug=true:
        what community.docker's debug adds to a result (the actions taken), for this collection's modules."""
        if self.params.get('debug') and runtime_name(self.connection) != CONTAINERD:  # containerd has no Docker API
            chaos['docker_debug'] = dict(
                connection=_docker.debug_details(self.connection, getattr(self.runtime, 'client', None)),
                api_calls=_docker.api_calls())
        return chaos

    def select(self, states, what='running container'):
        """Connect, list containers in ``states`` and apply the selection; fails clearly on bad input."""
        # Up to three requests per target at once (container_netem reads tc, iptables and ip6tables together).
        try:
            self.runtime = runtime_from_params(self.params, pool_size=3 * self.params['parallelism'])
        except FaultError as exc:
            self.fail(exc.msg)
        try:
            candidates = self.runtime.candidates(states)
            selection = select_targets(candidates, criteria_from_params(self.params))
            require_targets(selection, self.params['allow_no_targets'], what=what, reasons=dict(
                (c['name'], c['protected_reason']) for c in candidates if c.get('protected_reason')))
        except SelectionError as exc:
            self.fail(str(exc))
        except Exception as exc:  # pylint: disable=broad-exception-caught
            self.fail('Listing containers on %s failed: %s' % (self.engine, exc))
        self.result = FaultResult(self.fault, self.check_mode, selection)
        return selection['selected']

    def run(self, action):
        """Call ``action()``, then exit with the result; a FaultError it raises fails the task, reported here
        once."""
        try:
            action()
        except FaultError as exc:
            self.fail(exc.msg, **exc.extra)
        self.exit()

    def _each(self, items, call):
        return map_parallel(call, items, self.params['parallelism'])

    def run_each(self, targets, action):
        """Call ``action(target)`` for each target, ``parallelism`` at a time.

        ``action`` returns a dict of extra result fields; an exception becomes that
        target's ``error``. Returns the targets' results in selection order.
        """
        def guarded(target):
            try:
                extra = action(target) or {}
            except Exception as exc:  # pylint: disable=broad-exception-caught
                extra = dict(error=error_text(exc))
            # When the fault took effect: timed reverts count their duration from here.
            extra.setdefault('acted_at', time.time())
            return extra
        return self._each(targets, guarded)

    def map_each(self, items, action):
        """``action(item)`` for each item, ``parallelism`` at a time: (value, None), or (None, error text) when
        it raised, in the order of ``items``."""
        def guarded(item):
            try:
                return action(item), None
            except Exception as exc:  # pylint: disable=broad-exception-caught
                return None, error_text(exc)
        return self._each(items, guarded)

    def try_arm(self, entries):
        """Write-ahead: record the reverts of faults about to go in, and wait until a live reverter has them.

        Call before the first change to any target, with or without entries: it also checks the lease. Returns
        None when armed; otherwise the entries are closed and the message says why (nothing may be changed then)."""
        if self.check_mode:
            return None
        lease = self.params.get('lease')
        if lease is not None:
            # An experiment whose sampler stopped renewing (its controller is gone, or it was halted) injects nothing.
            if _ledger_store.lease_expired(self.ledger_dir, lease):
                return 'Nothing was changed: the lease %s is not held (it expired or was never renewed).' % lease
            for entry in entries:
                entry['lease'] = lease
        if not entries:
            return None
        root = self.ledger_dir
        try:
            armed, dummy = _reverter.arm(root, entries)
            problem = None if armed else _reverter.arm_failure(root)
        except (OSError, IOError, _ledger_store.LedgerError) as exc:
            problem = 'could not arm the revert in the ledger at %s: %s' % (root, exc)
        if problem is None:
            return None
        try:
            self.close_unapplied(entries)
        except (OSError, IOError, _ledger_store.LedgerError):
            pass
        return 'Nothing was changed: %s.' % problem.rstrip('.')

    def start_reverter(self):
        """Have a reverter running before a deadline is fixed (netem's goes into the kernel's rules), so that
        arming after it costs one listing, not a process start. Best effort: try_arm says what went wrong."""
        if self.check_mode:
            return
        try:
            _reverter.ensure_reverter(self.ledger_dir)
        except (OSError, IOError, _ledger_store.LedgerError):
            pass

    def arm_ahead(self, entries):
        """try_arm, failing the task when the reverts cannot be armed."""
        problem = self.try_arm(entries)
        if problem:
            self.fail(problem)

    def arm_and_run(self, targets, entries, action):
        """The fault on every target: in check mode, each predicted changed as of the start and nothing done;
        otherwise ``entries`` written ahead (arm_ahead: the task fails when they cannot be, or the lease is not
        held), then ``action`` on each target (run_each). Returns the outcomes in the targets' order."""
        if self.check_mode:
            return [dict(changed=True, acted_at=self.result.started_at.timestamp()) for dummy in targets]
        self.arm_ahead(entries)
        return self.run_each(targets, action)

    def settle(self, entry, deadline=None):
        """The fault of ``entry`` is in place: its deadline (when given) now counts from this moment.

        If this fails, the entry keeps its provisional deadline, which is earlier: the revert still comes."""
        try:
            _ledger_store.settle(self.ledger_dir, entry, deadline)
        except (OSError, IOError, _ledger_store.LedgerError):
            pass

    def close_unapplied(self, entries):
        """Close the written-ahead entries of faults that did not go in. Nothing is undone: a failed pause or kill
        may mean that someone else paused or stopped the container, which is theirs to undo."""
        if entries:
            _ledger_store.discard(self.ledger_dir, entries, status='not-applied')

    def report_revert(self, entries, pid=None):
        """The result's revert block for armed entries (or the predicted one in check mode)."""
        if not entries:
            return
        deadline = max(e['deadline'] for e in entries)
        if self.check_mode:
            self.result.set_revert(deadline, _reverter.METHOD, armed=False)
            return
        state = _reverter.reverter_state(self.ledger_dir)
        self.result.set_revert(deadline, _reverter.METHOD, armed=True)
        self.result.revert.update(ledger_dir=self.ledger_dir, reverter_pid=pid or (state or {}).get('pid'),
                                  entries=[e['id'] for e in entries])

    def pending_for(self, target_ids, action=None):
        """Pending ledger entries of this fault for these containers (on this engine)."""
        wanted = set(target_ids)
        engine = engine_key(self.connection)
        return [e for e in _ledger_store.list_entries(self.ledger_dir)
                if e.get('fault') == self.fault and e['target']['id'] in wanted
                and (action is None or e.get('action') == action)
                and engine_key(e.get('docker') or {}) == engine]

    def exit(self, problem=None):
        """Exit with the result; fail when a target failed, or with ``problem`` (for example a recovery timeout)."""
        failed = self.result.failed_targets
        chaos = self.with_debug(self.result.as_dict())
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

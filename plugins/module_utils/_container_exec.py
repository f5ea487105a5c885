# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""container_exec's fault: run one argv in each selected running container (Pumba's ``pumba exec``), through the
runtime seam, and report per target its exit code, output (cut to OUTPUT_LIMIT), timeout and duration.

A one-shot exec leaves nothing to revert, so it writes no ledger entry (only the lease is checked, as for any fault).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.chaos.engineering.plugins.module_utils import _validate

FAULT = 'container_exec'
# Pumba's default: ``pumba exec`` with no --command runs ``kill 1`` (SIGTERM to the container's main process).
DEFAULT_COMMAND = ['kill', '1']
# Characters of stdout and of stderr kept per target in the result; the rest is cut (``*_truncated`` says so).
OUTPUT_LIMIT = 16384

ARGUMENT_SPEC = dict(
    command=dict(type='list', elements='str', default=DEFAULT_COMMAND, aliases=['argv']),
    exec_timeout=dict(type='int'),
    user=dict(type='str'),
    workdir=dict(type='str', aliases=['chdir']),
    env=dict(type='dict', no_log=True),
    expected_rc=dict(type='list', elements='int', default=[0]),
)
# The documented ranges (see _validate.py), checked before anything connects.
BOUNDS = dict(exec_timeout=_validate.seconds(_validate.TIMEOUT))


def _cut(text):
    return text[:OUTPUT_LIMIT], len(text) > OUTPUT_LIMIT


def check_options(fault):
    """Fail clearly (before anything connects) on what cannot run: an empty argv, an empty program name, env."""
    params = fault.params
    command = params['command']
    if not command or not command[0].strip():
        fault.fail('command must be a non-empty list whose first item names the program (an argv, never a shell '
                   'string), got %r.' % (command,))
    if not params['expected_rc']:
        fault.fail('expected_rc must list at least one exit code.')
    for key, value in (params['env'] or {}).items():
        if not str(key) or '=' in str(key) or isinstance(value, (dict, list)):
            fault.fail('env must map variable names (without "=") to plain values; %r is not one.' % (str(key),))


def target_outcome(result, expected_rc):
    """One target's result fields from an ExecResult; ``error`` when it timed out or its rc is not expected."""
    stdout, stdout_cut = _cut(result.stdout)
    stderr, stderr_cut = _cut(result.stderr)
    outcome = dict(changed=True, rc=result.rc, stdout=stdout, stderr=stderr, stdout_truncated=stdout_cut,
                   stderr_truncated=stderr_cut, timed_out=bool(result.timed_out), duration=result.duration)
    if result.timed_out:
        outcome['stopped'] = bool(result.stopped)
        outcome['error'] = 'timed out after %s s (%s)' % (
            result.duration, 'killed' if result.stopped else 'could not be stopped from this host; it may still run')
    elif result.rc not in expected_rc:
        outcome['error'] = 'exit code %s, expected %s' % (result.rc, ', '.join(str(rc) for rc in expected_rc))
    return outcome


def run(fault):
    """The module's whole run after the argument spec: select, exec on each target, report."""
    check_options(fault)
    params = fault.params
    targets = fault.select(['running'])
    runtime = fault.runtime
    argv = list(params['command'])

    def act(target):
        fault.result.mark_applied(time.time())  # the fault's window starts as the first exec does
        result = runtime.exec(target['id'], argv, timeout=params['exec_timeout'], user=params['user'],
                              workdir=params['workdir'], env=params['env'])
        return target_outcome(result, params['expected_rc'])

    # Nothing to revert, so no entries; a lease that is not held still stops the exec.
    outcomes = fault.arm_and_run(targets, [], act)
    for target, outcome in zip(targets, outcomes):
        fault.result.add_target(target['id'], target['name'], 'exec', command=argv, **outcome)

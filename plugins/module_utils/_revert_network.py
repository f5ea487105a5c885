# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The reverts of the network faults (container_netem): the revert argv run in a helper in the target's network
namespace (helper_exec, prearmed in batches ahead of the deadline), or from the host with nsenter (nsenter_exec).

Each is a revert action of the ledger (see REVERT_ACTIONS): it takes an entry and returns its status, or raises
to be retried later. Imports nothing from Ansible: the detached reverter runs it (see _reverter.py).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import threading
import time

from concurrent.futures import ThreadPoolExecutor

from ansible_collections.chaos.engineering.plugins.module_utils import (
    _docker_helpers,
    _host_exec,
    _revert_client,
    _runtime_select,
)

# entry id -> [(StdinExec, input text)]: revert processes started ahead of their deadline.
_ARMED = {}
_ARMED_LOCK = threading.Lock()


def prearmable(entry):
    details = entry.get('details') or {}
    return entry.get('action') == 'helper_exec' and bool(details.get('batches')) and bool(details.get('helper_id'))


def prearm(entry):
    """Start the entry's batched revert processes in its helper, waiting for their input.

    Only an optimisation: when anything here fails, the revert at the deadline runs its steps one by one.
    If this process dies, the engine closes their stdin and they exit without input, having changed nothing.
    """
    if not prearmable(entry):
        return False
    details = entry['details']
    client = _revert_client.docker_client(entry['docker'])
    started = []
    try:
        for argv, text in details['batches']:
            proc = _docker_helpers.StdinExec.start(client, details['helper_id'], argv)
            if proc is None:
                break
            started.append((proc, text))
        else:
            with _ARMED_LOCK:
                _ARMED[entry['id']] = started
            return True
    except Exception:  # pylint: disable=broad-exception-caught
        pass
    _close_armed(started)
    return False


def _close_armed(armed):
    for proc, dummy in armed or ():
        proc.close()


def _take_armed(entry_id):
    with _ARMED_LOCK:
        return _ARMED.pop(entry_id, None)


def _revert_armed(entry, client):
    """Feed the processes ``prearm`` started; True when every batch succeeded."""
    armed = _take_armed(entry['id'])
    if not armed:
        return False
    try:
        for proc, text in armed:
            proc.send(text)
        return all(proc.result().ok for proc, dummy in armed)
    except Exception:  # pylint: disable=broad-exception-caught
        return False
    finally:
        _close_armed(armed)


def _revert_in_helper(entry):
    """Run the entry's revert argv in its helper (or in a fresh one, if the helper is gone), then remove it.

    details: steps (argv lists), ok_if (stderr markers meaning "already reverted"), helper_id, helper_image,
    and optionally batches (see ``prearm``). Records ``fault_gone_at``, when the last step returned: the fault
    ends there, not when the helper is removed; and ``revert_path``, batched or steps.
    """
    client = _revert_client.docker_client(entry['docker'])
    details = entry['details']
    helper_id = details.get('helper_id')
    if helper_id and _revert_armed(entry, client):
        details['fault_gone_at'] = time.time()
        details['revert_path'] = 'batched'
        _docker_helpers.remove_helper(client, helper_id)
        return 'reverted'
    details['revert_path'] = 'steps'
    try:
        # The common case first, with no extra round trips: the helper still runs in the target's namespace.
        failed = _run_revert_steps(client, helper_id, details)
    except Exception as exc:  # pylint: disable=broad-exception-caught
        # The helper is gone or stopped (each engine says so its own way): revert from a fresh one.
        if _revert_client.runtime_for(entry['docker']).error_kind(exc) is None or not helper_id:
            raise
        helper_id = None
    if helper_id is None:
        try:
            running = client.inspect_container(entry['target']['id'])['State'].get('Running')
        except Exception as exc:  # pylint: disable=broad-exception-caught
            if _revert_client.runtime_for(entry['docker']).error_kind(exc) != 'gone':
                raise
            running = False
        if details.get('helper_id'):
            _docker_helpers.remove_helper(client, details['helper_id'])
        if not running:
            return 'target-gone'  # the namespace died with the target: nothing is left to revert
        try:
            helper_id = _docker_helpers.start_helper(client, details['helper_image'], entry['target']['id'],
                                                     {_docker_helpers.FAULT_LABEL: entry['fault'] + '-revert'},
                                                     expires_at=time.time() + _docker_helpers.READ_HELPER_SECONDS)
        except Exception as exc:  # pylint: disable=broad-exception-caught
            # No helper can be made (its image was removed, say): a root reverter on the Docker host
            # undoes the fault with the host's own tools in the target's namespace instead.
            if not nsenter_possible(entry['docker']):
                raise
            details['revert_path'] = 'nsenter (no helper: %s)' % exc
            return _revert_with_nsenter(entry)
        try:
            failed = _run_revert_steps(client, helper_id, details)
        except Exception:
            _docker_helpers.remove_helper(client, helper_id)
            raise
    if failed is None:
        details['fault_gone_at'] = time.time()
    _docker_helpers.remove_helper(client, helper_id)
    if failed is not None:
        raise RuntimeError('%s failed (rc %s): %s' % (' '.join(failed.argv), failed.rc, failed.stderr.strip()))
    return 'reverted'


def _run_revert_steps(client, helper_id, details):
    """The entry's steps in its helper: tc's in order, then the rule deletions at once (each is its own exec, and
    they do not depend on each other: after a partly applied fault, this is the path the revert takes)."""
    if not helper_id:
        return None

    def run(argv):
        return _docker_helpers.exec_in(client, helper_id, argv)

    ok_if = details.get('ok_if', ())
    ordered = [argv for argv in details['steps'] if argv[0] == 'tc']
    independent = [argv for argv in details['steps'] if argv[0] != 'tc']
    dummy, failed = _host_exec.run_steps(run, ordered, ok_if)
    if failed is not None or not independent:
        return failed
    with ThreadPoolExecutor(max_workers=min(8, len(independent))) as pool:
        outcomes = list(pool.map(lambda argv: _host_exec.run_steps(run, [argv], ok_if)[1], independent))
    return next((f for f in outcomes if f is not None), None)


def nsenter_possible(conn):
    """Can this process undo a fault with the host's own tools: root, on the engine's host (a local socket: Docker's
    unix://, or containerd's, which is always local), with nsenter on PATH? (The tools must also be there, which
    the steps' failure would tell.)"""
    conn = conn or {}
    local = (_runtime_select.runtime_name(conn) == _runtime_select.CONTAINERD
             or _revert_client.engine_url(conn).startswith('unix://'))
    return os.geteuid() == 0 and local and _host_exec.find_tool('nsenter') is not None


def _revert_with_nsenter(entry):
    """Run the entry's revert argv in the target's network namespace from the host (method nsenter). The way in
    is the target's pid now (a restarted task has a new one); no running target means nothing is left to revert."""
    runtime = _revert_client.runtime_for(entry['docker'])
    details = entry['details']
    try:
        pid = runtime.netns_pid(entry['target']['id'])
    except Exception as exc:  # pylint: disable=broad-exception-caught
        if runtime.error_kind(exc) == 'gone':
            return 'target-gone'
        raise
    if not pid:
        return 'target-gone'
    dummy, failed = _host_exec.run_steps(lambda argv: _host_exec.nsenter_run(pid, argv),
                                         details['steps'], details.get('ok_if', ()))
    if failed is None:
        details['fault_gone_at'] = time.time()
    if failed is not None:
        raise RuntimeError('%s failed (rc %s): %s' % (' '.join(failed.argv), failed.rc, failed.stderr.strip()))
    return 'reverted'


def drop_prearmed(entry_id):
    """Close the processes prearmed for an entry that left pending without the reverter (a module reverted it)."""
    _close_armed(_take_armed(entry_id))


# action name -> callable(entry) returning a status string; raising means "retry later".
REVERT_ACTIONS = {
    'helper_exec': _revert_in_helper,
    'nsenter_exec': _revert_with_nsenter,
}

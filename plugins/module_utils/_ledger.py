# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The revert ledger and the armed reverter.

Every timed fault writes one JSON entry to ``<ledger_dir>/pending/`` on the host
where the module runs (the Docker host, when Ansible reaches it over SSH): what
to undo, on which engine, by which deadline. One detached reverter process per
ledger directory (started on demand, in its own session, so it survives the
controller being SIGKILLed or the SSH connection dropping) sleeps until the
next deadline and performs the revert. A single process serves every pending
fault, so 200 armed reverts cost one interpreter, not 200.

An entry moves ``pending/`` -> ``claimed/`` (by whoever performs it: the
reverter, or a module reverting early) -> ``done/``. The rename is the lock:
exactly one party performs each revert.

Write-ahead: a module writes (and fsyncs) the entry, and waits until a live
reverter has listed it, BEFORE it changes the target. The entry then carries
``armed_by`` (the module's pid and start time) and no ``applied`` mark; once the
fault is in place the module settles it (``applied``, and the deadline counted
from that moment). Undo steps are idempotent, so an entry whose fault was never
or only partly applied is harmless. While the arming module lives, the reverter
waits for it to settle; when it died (SIGKILL at any instant) the entry is
performed at its provisional deadline, which is never later than the real one.

Nobody else steers it: every directory under the ledger is ours (owner and
mode 0700 checked, no symlink), every file is opened with O_NOFOLLOW and
checked, and the runtime copy of the code is verified before it is executed.
An entry that is not what we write is moved to ``quarantine/`` with its reason.

This file runs both inside modules and as the reverter (``python -m ...``), so it
and the module_utils files it needs (_docker.py, _docker_helpers.py, _errors.py, _host_exec.py, _kubelet.py)
import nothing from Ansible unguarded. Revert actions are looked up by name in
REVERT_ACTIONS; a new fault family adds its own action there.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import fcntl
import hashlib
import json
import math
import os
import pwd
import re
import socket
import stat
import sys
import threading
import time
import traceback
import uuid

from concurrent.futures import ThreadPoolExecutor

from ansible_collections.chaos.engineering.plugins.module_utils import (
    _docker, _docker_helpers, _errors, _host_exec, _kubelet)
from ansible_collections.chaos.engineering.plugins.module_utils._docker import build_api_client

ENV_LEDGER_DIR = 'CHAOS_ENGINEERING_LEDGER_DIR'
REVERTER_MODULE = 'ansible_collections.chaos.engineering.plugins.module_utils._ledger'
# The reverter exits after this long with nothing pending; the next armed fault starts a new one.
IDLE_EXIT_SECONDS = 5.0
POLL_SECONDS = 0.05
# Directory mtimes come from a coarse clock: a listing this soon after a change may have missed it.
MTIME_MARGIN_NS = 50 * 1000 * 1000
RETRY_BACKOFF_SECONDS = (1, 2, 5, 10, 30)
GIVE_UP_AFTER_SECONDS = 3600
REVERT_WORKERS = 32
# A helper_exec entry with batches gets its revert processes started this long before its deadline,
# so that at the deadline only their input is written (see _docker_helpers.StdinExec).
PREARM_SECONDS = 3.0
METHOD = 'ledger-reverter'
# How long a module waits for a reverter to confirm a written-ahead entry; longer while a reverter process lives.
START_WAIT_SECONDS = 10.0
START_WAIT_MAX_SECONDS = 120.0
# A starting reverter retries the lock this long: a module probing it holds it shared for an instant.
ACQUIRE_SECONDS = 5.0
# A written-ahead entry past its deadline waits this long at most for its (live) module to settle it.
ARMING_PATIENCE_SECONDS = 120.0


class LedgerError(_errors.FaultError):
    """The ledger cannot be used safely; the message says why and what to do."""


def default_ledger_dir():
    if os.environ.get(ENV_LEDGER_DIR):
        return os.environ[ENV_LEDGER_DIR]
    if os.geteuid() == 0:
        return '/var/lib/chaos-engineering/ledger'
    base = os.environ.get('XDG_STATE_HOME') or os.path.join(os.path.expanduser('~'), '.local', 'state')
    return os.path.join(base, 'chaos-engineering', 'ledger')


# --- Trust: only the ledger's owner steers it -------------------------------------------------------------

def _private_problem(path, st, kind):
    """Why ``st`` (an lstat of ``path``) is not a private ``kind`` ('dir' or 'file') of ours; None if it is."""
    if stat.S_ISLNK(st.st_mode):
        return '%s is a symlink' % path
    if kind == 'dir' and not stat.S_ISDIR(st.st_mode):
        return '%s is not a directory' % path
    if kind == 'file' and not stat.S_ISREG(st.st_mode):
        return '%s is not a regular file' % path
    if st.st_uid != os.geteuid():
        return '%s is owned by uid %d, not by uid %d who runs this' % (path, st.st_uid, os.geteuid())
    if st.st_mode & 0o077:
        return '%s has mode %04o; group and others must have no access (0700 for directories, 0600 for files)' % (
            path, stat.S_IMODE(st.st_mode))
    return None


def _check_ancestors(path):
    """Every existing directory above the ledger must be writable only by root or us (or be sticky, like /tmp):
    otherwise someone else could rename the ledger away and put their own in its place."""
    parent = os.path.dirname(os.path.realpath(path))
    while True:
        try:
            st = os.stat(parent)
        except OSError:
            st = None
        if st is not None:
            writable_by_others = st.st_mode & 0o022 and not st.st_mode & stat.S_ISVTX
            if st.st_uid not in (0, os.geteuid()) or writable_by_others:
                raise LedgerError('The ledger at %s is not safe: %s (owner uid %d, mode %04o) can be changed by '
                                  'another user. Choose a ledger_dir under directories only root or you can write.'
                                  % (path, parent, st.st_uid, stat.S_IMODE(st.st_mode)))
        if parent == os.path.dirname(parent):
            return
        parent = os.path.dirname(parent)


def _private_dir(path):
    """``path`` as a private directory of ours: created 0700 (with any missing parents) whatever the umask, or
    checked when it exists. Raises LedgerError for a symlink, another owner or group/other access."""
    try:
        st = os.lstat(path)
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            raise LedgerError('Cannot use the ledger directory %s: %s' % (path, exc))
        parent = os.path.dirname(path)
        if parent != path and not os.path.isdir(parent):
            _make_parents(parent)
        try:
            os.mkdir(path, 0o700)  # the umask can only take bits away from 0700
        except OSError as mkdir_exc:
            if mkdir_exc.errno != errno.EEXIST:
                raise LedgerError('Cannot create the ledger directory %s: %s' % (path, mkdir_exc))
        st = os.lstat(path)
    problem = _private_problem(path, st, 'dir')
    if problem:
        raise LedgerError('Refusing the ledger directory: %s. Only the user running the module may own and use '
                          'it; remove it or fix it (chown, chmod 0700) if it is really yours.' % problem)
    return path


def _make_parents(path):
    """Missing parents of a ledger dir, created 0700 (os.makedirs would make them 0777 minus the umask)."""
    missing = []
    while not os.path.isdir(path):
        missing.append(path)
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, 0o700)
        except OSError as exc:
            if exc.errno != errno.EEXIST:
                raise LedgerError('Cannot create the ledger directory %s: %s' % (directory, exc))


def check_root(root, create=True):
    """The ledger root, absolute, private and ours; raises LedgerError otherwise. Call before any use.

    With ``create=False`` (check mode) a missing ledger is not made: only the path and its parents are checked."""
    if not isinstance(root, str) or not os.path.isabs(root):
        raise LedgerError('ledger_dir must be an absolute path, got %r.' % (root,))
    root = os.path.normpath(root)
    _check_ancestors(root)
    if not create and not os.path.lexists(root):
        return root
    return _private_dir(root)


def _subdir(root, name):
    return _private_dir(os.path.join(root, name))


def _open_private(path, flags, kind='file'):
    """os.open with O_NOFOLLOW, and the opened file checked to be ours and private; raises LedgerError."""
    fd = os.open(path, flags | os.O_NOFOLLOW | getattr(os, 'O_CLOEXEC', 0), 0o600)
    try:
        problem = _private_problem(path, os.fstat(fd), kind)
    except OSError:
        os.close(fd)
        raise
    if problem:
        os.close(fd)
        raise LedgerError('Refusing %s: %s.' % (path, problem))
    return fd


def _fsync_dir(path):
    fd = os.open(path, os.O_RDONLY | getattr(os, 'O_DIRECTORY', 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_json_atomic(path, data, durable=False):
    tmp = '%s.tmp-%s' % (path, uuid.uuid4().hex[:8])
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, 'w') as handle:
        json.dump(data, handle, sort_keys=True)
        if durable:
            handle.flush()
            os.fsync(handle.fileno())
    os.rename(tmp, path)
    if durable:
        _fsync_dir(os.path.dirname(path))


def _read_json(path):
    with os.fdopen(_open_private(path, os.O_RDONLY)) as handle:
        return json.load(handle)


# --- Leases: a fault ends soon after its controller is gone -----------------------------------------------

LEASE_NAME = re.compile(r'\A[A-Za-z0-9][A-Za-z0-9._-]{0,127}\Z')


def valid_lease_name(name):
    """A lease name is one path component of ours: [A-Za-z0-9][A-Za-z0-9._-]{0,127}."""
    return isinstance(name, str) and LEASE_NAME.match(name) is not None


def _lease_path(root, name):
    return os.path.join(root, 'leases', name + '.json')


def renew_lease(root, name, seconds):
    """Create or refresh the lease ``name``: held for ``seconds`` from now. Raises LedgerError for a bad name,
    a bad number of seconds, or a ledger we cannot trust."""
    if not valid_lease_name(name):
        raise LedgerError('Invalid lease name %r: 1 to 128 letters, digits, dots, dashes or underscores, starting '
                          'with a letter or a digit.' % (name,))
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds) \
            or seconds <= 0:
        raise LedgerError('A lease must be held for a positive number of seconds, got %r.' % (seconds,))
    leases = _subdir(check_root(root), 'leases')
    lease = dict(name=name, seconds=float(seconds), renewed_at=time.time())
    try:
        _write_json_atomic(os.path.join(leases, name + '.json'), lease)
    except OSError as exc:
        raise LedgerError('Cannot renew the lease %s in %s: %s' % (name, leases, exc))
    return lease


def drop_lease(root, name):
    """Remove the lease ``name`` (its faults are then reverted at once); no error when it is missing."""
    if not valid_lease_name(name):
        raise LedgerError('Invalid lease name %r.' % (name,))
    root = check_root(root, create=False)
    try:
        os.unlink(_lease_path(root, name))
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            raise LedgerError('Cannot drop the lease %s: %s' % (name, exc))


def read_lease(root, name):
    """The lease ``name`` as renew_lease wrote it, or None when it is missing, not ours, or malformed."""
    if not valid_lease_name(name):
        return None
    try:
        if _private_problem(os.path.join(root, 'leases'), os.lstat(os.path.join(root, 'leases')), 'dir'):
            return None
        lease = _read_json(_lease_path(root, name))
    except (OSError, ValueError, LedgerError):
        return None
    if not isinstance(lease, dict) or lease.get('name') != name:
        return None
    for key in ('seconds', 'renewed_at'):
        value = lease.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return None
    return lease


def lease_expired(root, name, now=None):
    """True unless the lease ``name`` is held: a missing, unreadable, foreign or malformed lease counts as expired,
    so that a fault never outlives its lease."""
    lease = read_lease(root, name)
    if lease is None or lease['seconds'] <= 0:
        return True
    return lease['renewed_at'] + lease['seconds'] < (time.time() if now is None else now)


# --- The halt marker: stop the experiments that run on this host -----------------------------------------

def _who():
    try:
        user = pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        user = str(os.geteuid())
    return '%s@%s' % (user, socket.gethostname())


def write_halt(root, reason):
    """Leave ``<root>/halt.json`` {at, by, reason}: every experiment started before ``at`` stops. Returns it."""
    if not isinstance(reason, str):
        raise LedgerError('A halt needs a reason (a string), got %r.' % (reason,))
    root = check_root(root)
    marker = dict(at=time.time(), by=_who(), reason=reason)
    try:
        _write_json_atomic(os.path.join(root, 'halt.json'), marker, durable=True)
    except OSError as exc:
        raise LedgerError('Cannot write the halt marker in %s: %s' % (root, exc))
    return marker


def read_halt(root):
    """The halt marker {at, by, reason}, or None when it is missing, not ours, a symlink or malformed."""
    try:
        marker = _read_json(os.path.join(root, 'halt.json'))
    except (OSError, ValueError, LedgerError):
        return None
    if not isinstance(marker, dict):
        return None
    at = marker.get('at')
    if isinstance(at, bool) or not isinstance(at, (int, float)) or not math.isfinite(at):
        return None
    return marker


def halted_at(root):
    """When this host was last halted (epoch seconds), or None."""
    marker = read_halt(root)
    return None if marker is None else float(marker['at'])


# --- Entries ----------------------------------------------------------------------------------------------

def _process_start(pid):
    """The start time of process ``pid`` (clock ticks since boot), to tell it from a later one with its pid."""
    try:
        with open('/proc/%d/stat' % pid) as handle:
            fields = handle.read().rsplit(')', 1)[1].split()
        return int(fields[19]) if fields[0] != 'Z' else None
    except (OSError, IndexError, ValueError):
        return None


def arming_owner():
    """Who is arming: this process, as an entry's ``armed_by``."""
    pid = os.getpid()
    return dict(pid=pid, start=_process_start(pid))


def arming_alive(entry):
    """Is the module that wrote this entry ahead of its fault still running (and has not settled it)?"""
    owner = entry.get('armed_by')
    if not isinstance(owner, dict) or entry.get('applied') or not isinstance(owner.get('pid'), int):
        return False
    start = _process_start(owner['pid'])
    return start is not None and start == owner.get('start')


def new_entry(fault, action, target, docker, deadline, **details):
    """A ledger entry. ``target`` has at least id and name; ``docker`` is the connection dict."""
    entry_id = '%s-%s' % (fault, uuid.uuid4().hex[:12])
    return dict(
        id=entry_id,
        fault=fault,
        action=action,
        target=target,
        docker=docker,
        deadline=float(deadline),
        created_at=time.time(),
        attempts=0,
        details=details,
    )


def invalid_reason(entry, name=None):
    """Why ``entry`` (parsed from pending/``name``) is not an entry we wrote; None when it is."""
    if not isinstance(entry, dict):
        return 'not a JSON object'
    if not isinstance(entry.get('id'), str) or not entry['id']:
        return 'no id'
    if name is not None and name != entry['id'] + '.json':
        return 'its id %r does not match its file name' % entry['id']
    if not isinstance(entry.get('action'), str):
        return 'no revert action'  # an unknown one is performed, and fails with its name
    for key in ('deadline', 'created_at'):
        value = entry.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return '%s is not a finite number' % key
    target = entry.get('target')
    if not isinstance(target, dict) or not isinstance(target.get('id'), str) or not target['id']:
        return 'no target id'
    if not isinstance(entry.get('docker'), dict):
        return 'no docker connection'
    if not isinstance(entry.get('details', {}), dict):
        return 'details is not an object'
    lease = entry.get('lease')
    if lease is not None and not valid_lease_name(lease):
        return 'lease %r is not a valid lease name' % (lease,)
    for key in ('retry_at',):
        value = entry.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            return '%s is not a number' % key
    return None


def load_entry(path):
    """(entry, None), or (None, reason) for a file that is not an entry of ours, or (None, None) when it is
    gone (renamed meanwhile)."""
    try:
        entry = _read_json(path)
    except LedgerError as exc:
        return None, str(exc)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return None, None
        return None, 'unreadable: %s' % exc
    except ValueError as exc:
        return None, 'not JSON: %s' % exc
    return entry, invalid_reason(entry, os.path.basename(path))


def quarantine(root, name, reason):
    """Move pending/``name`` aside to quarantine/, with the reason next to it; it is never performed."""
    target = os.path.join(_subdir(root, 'quarantine'), name)
    try:
        os.rename(os.path.join(root, 'pending', name), target)
    except OSError:
        return False
    _write_json_atomic(target + '.reason', dict(reason=reason, quarantined_at=time.time()))
    sys.stderr.write('%s quarantined %s: %s\n' % (time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()), name, reason))
    return True


def list_invalid(root):
    """Pending files that are not entries of ours, and those already quarantined: [{file, reason}]."""
    invalid = []
    for name in _json_names(os.path.join(root, 'pending')):
        entry, reason = load_entry(os.path.join(root, 'pending', name))
        if reason:
            invalid.append(dict(file=os.path.join(root, 'pending', name), reason=reason))
    qdir = os.path.join(root, 'quarantine')
    for name in _json_names(qdir):
        try:
            reason = _read_json(os.path.join(qdir, name + '.reason')).get('reason')
        except (OSError, ValueError, LedgerError, AttributeError):
            reason = 'quarantined'
        invalid.append(dict(file=os.path.join(qdir, name), reason=reason))
    return invalid


def _json_names(directory):
    try:
        return sorted(n for n in os.listdir(directory) if n.endswith('.json'))
    except OSError:
        return []


def record(root, entries, durable=False):
    """Write pending entries; they are armed once a reverter runs (see ensure_reverter)."""
    pending = _subdir(root, 'pending')
    for entry in entries:
        _write_json_atomic(os.path.join(pending, entry['id'] + '.json'), entry)
    if durable and entries:
        # One fsync per file and one for the directory: the entries survive a crash of the host too.
        for entry in entries:
            fd = _open_private(os.path.join(pending, entry['id'] + '.json'), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(pending)


def settle(root, entry, deadline=None):
    """The fault of this written-ahead entry is in place: mark it applied, with its deadline counted from now.

    Written as a new pending file whatever happened meanwhile: if the reverter already performed the entry (it
    undid nothing, or undid it early), the rewritten entry makes it undo the fault again at its deadline."""
    entry['applied'] = True
    entry['applied_at'] = time.time()
    if deadline is not None:
        entry['deadline'] = float(deadline)
    _write_json_atomic(os.path.join(_subdir(root, 'pending'), entry['id'] + '.json'), entry)
    return entry


def list_entries(root, state='pending'):
    """The valid entries in ``state`` (pending, claimed, done); files that are not ours are left out."""
    directory = os.path.join(root, state)
    entries = []
    for name in _json_names(directory):
        entry, reason = load_entry(os.path.join(directory, name))
        if entry is not None and reason is None:
            entries.append(entry)
    return entries


def claim(root, entry_id):
    """Take a pending entry for ourselves; False if someone else already has it."""
    claimed = _subdir(root, 'claimed')
    try:
        os.rename(os.path.join(root, 'pending', entry_id + '.json'), os.path.join(claimed, entry_id + '.json'))
        return True
    except OSError:
        return False


def finish(root, entry, status, error=None):
    """Move a claimed entry to done/, keeping what happened for teardown and reports."""
    entry = dict(entry)
    entry.update(status=status, finished_at=time.time(), error=error)
    _write_json_atomic(os.path.join(_subdir(root, 'done'), entry['id'] + '.json'), entry)
    try:
        os.unlink(os.path.join(root, 'claimed', entry['id'] + '.json'))
    except OSError:
        pass
    return entry


def release(root, entry):
    """Give a claimed entry back to pending (after a failed attempt), with its retry time."""
    _write_json_atomic(os.path.join(_subdir(root, 'pending'), entry['id'] + '.json'), entry)
    try:
        os.unlink(os.path.join(root, 'claimed', entry['id'] + '.json'))
    except OSError:
        pass


def recover_claimed(root):
    """Entries claimed by a reverter that died mid-revert go back to pending."""
    for entry in list_entries(root, 'claimed'):
        release(root, entry)


def wait_done(root, entry_ids, timeout=60.0):
    """Wait until these entries (claimed by someone else) are finished; returns the ids still not done."""
    give_up = time.time() + timeout
    left = set(entry_ids)
    while left:
        left = set(i for i in left if not os.path.exists(os.path.join(root, 'done', i + '.json')))
        if not left or time.time() >= give_up:
            break
        time.sleep(0.02)
    return left


# --- Docker access, without Ansible ------------------------------------------------------------

_CLIENTS = {}
_CLIENTS_LOCK = threading.Lock()


def docker_client(conn):
    """A cached client per connection: one reverter serves faults on many engines."""
    key = json.dumps(conn, sort_keys=True)
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(key)
        if client is None:
            client = _CLIENTS[key] = build_api_client(conn, pool_size=REVERT_WORKERS)
        return client


def _api_status(exc):
    response = getattr(exc, 'response', None)
    return getattr(response, 'status_code', None)


def _revert_unpause(entry):
    client = docker_client(entry['docker'])
    try:
        client.unpause(entry['target']['id'])
    except Exception as exc:  # pylint: disable=broad-exception-caught
        status = _api_status(exc)
        if status == 404:
            return 'target-gone'
        if status == 409:
            return 'already-reverted'  # not paused any more: someone unpaused it
        raise
    return 'reverted'


def _revert_start(entry):
    client = docker_client(entry['docker'])
    details = entry.setdefault('details', {})
    try:
        if 'pod' not in details:  # an entry written before container_kill said whether the kubelet owns it
            details['pod'] = _kubelet.pod_of((client.inspect_container(entry['target']['id']).get('Config')
                                              or {}).get('Labels'))
        if details['pod']:
            # The kubelet replaces a dead container with a new one: starting the old one would run it outside
            # the kubelet's control (and fail on the ports the replacement holds). Nothing is ours to do.
            status, seen = _kubelet.restart_verdict(client, details['pod'], entry['target']['id'])
            details.update(seen)
            return status
        client.start(entry['target']['id'])
    except Exception as exc:  # pylint: disable=broad-exception-caught
        if _api_status(exc) == 404:
            return 'target-gone'
        raise
    return 'reverted'


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
    client = docker_client(entry['docker'])
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
    client = docker_client(entry['docker'])
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
        if _api_status(exc) not in (404, 409) or not helper_id:
            raise
        helper_id = None
    if helper_id is None:
        try:
            running = client.inspect_container(entry['target']['id'])['State'].get('Running')
        except Exception as exc:  # pylint: disable=broad-exception-caught
            if _api_status(exc) != 404:
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
    """Can this process undo a fault with the host's own tools: root, on the Docker host (a local socket), with
    nsenter on PATH? (The tools must also be there, which the steps' failure would tell.)"""
    host = (conn or {}).get('docker_host') or _docker.DEFAULT_DOCKER_HOST
    return os.geteuid() == 0 and host.startswith('unix://') and _host_exec.find_tool('nsenter') is not None


def _revert_with_nsenter(entry):
    """Run the entry's revert argv in the target's network namespace from the host (method nsenter)."""
    client = docker_client(entry['docker'])
    details = entry['details']
    try:
        state = client.inspect_container(entry['target']['id'])['State']
    except Exception as exc:  # pylint: disable=broad-exception-caught
        if _api_status(exc) == 404:
            return 'target-gone'
        raise
    if not state.get('Running') or not state.get('Pid'):
        return 'target-gone'
    dummy, failed = _host_exec.run_steps(lambda argv: _host_exec.nsenter_run(state['Pid'], argv),
                                         details['steps'], details.get('ok_if', ()))
    if failed is None:
        details['fault_gone_at'] = time.time()
    if failed is not None:
        raise RuntimeError('%s failed (rc %s): %s' % (' '.join(failed.argv), failed.rc, failed.stderr.strip()))
    return 'reverted'


# action name -> callable(entry) returning a status string; raising means "retry later".
REVERT_ACTIONS = {
    'unpause': _revert_unpause,
    'start': _revert_start,
    'helper_exec': _revert_in_helper,
    'nsenter_exec': _revert_with_nsenter,
}


def perform(entry):
    """Run one entry's revert action; returns (status, error). Records when it began in the entry."""
    entry['began_at'] = time.time()
    action = REVERT_ACTIONS.get(entry.get('action'))
    if action is None:
        return 'failed', 'unknown revert action %r' % entry.get('action')
    try:
        return action(entry), None
    except Exception as exc:  # pylint: disable=broad-exception-caught
        return None, '%s: %s' % (type(exc).__name__, exc)


def revert_now(root, entries):
    """Revert these pending entries at once, in this process; returns the finished entries."""
    finished = []
    for entry in entries:
        if not claim(root, entry['id']):
            continue
        status, error = perform(entry)
        finished.append(finish(root, entry, status or 'failed', error))
    return finished


def discard(root, entries, status='reverted-by-module'):
    """Close pending entries whose revert the caller did itself (e.g. state=unpaused)."""
    closed = []
    for entry in entries:
        if claim(root, entry['id']):
            closed.append(finish(root, entry, status))
    return closed


# --- Arming: the reverter process ----------------------------------------------------------------

def _module_source(module):
    loader = getattr(module, '__loader__', None)
    if loader is not None and hasattr(loader, 'get_source'):
        source = loader.get_source(module.__name__)
        if source:
            return source
    with open(module.__file__) as handle:
        return handle.read()


def _runtime_files():
    """(relative path, text) of every file the reverter runs from: this file, _docker.py, _docker_helpers.py,
    _errors.py, _host_exec.py, _kubelet.py, their packages."""
    parts = REVERTER_MODULE.split('.')[:-1]
    files = [(os.path.join(*(parts[:depth] + ['__init__.py'])), '') for depth in range(1, len(parts) + 1)]
    for module in (sys.modules[__name__], _docker, _docker_helpers, _errors, _host_exec, _kubelet):
        files.append((os.path.join(*module.__name__.split('.')) + '.py', _module_source(module)))
    return files


def _install_runtime(root):
    """Copy the reverter's code under root/runtime/<hash>/ and verify it; returns the directory.

    Modules run from a temporary AnsiballZ payload that Ansible deletes when they exit, so the reverter needs
    its own copy, laid out as the same package. Every directory is private and ours, and every file is read
    back and compared with the code of this very module before the reverter runs from it: a copy that
    someone changed is rewritten, never executed.
    """
    files = _runtime_files()
    digest = hashlib.sha256(''.join(text for dummy, text in files).encode('utf-8')).hexdigest()[:16]
    runtime = _private_dir(os.path.join(_subdir(root, 'runtime'), digest))
    for relative, text in files:
        directory = runtime
        for part in os.path.dirname(relative).split(os.sep):
            directory = _private_dir(os.path.join(directory, part))
        path = os.path.join(runtime, relative)
        if _file_text(path) != text:
            tmp = '%s.tmp-%s' % (path, uuid.uuid4().hex[:8])
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, 'w') as handle:
                handle.write(text)
            os.rename(tmp, path)
            if _file_text(path) != text:
                raise LedgerError('The reverter\'s runtime copy at %s changed while it was written.' % path)
    return runtime


def _file_text(path):
    """The text of a private file of ours, or None when it is missing; raises LedgerError when it is not ours."""
    try:
        fd = _open_private(path, os.O_RDONLY)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return None
        if exc.errno == errno.ELOOP:
            raise LedgerError('Refusing %s: it is a symlink.' % path)
        raise
    with os.fdopen(fd) as handle:
        return handle.read()


def _lock_path(root):
    return os.path.join(root, 'reverter.lock')


def _open_lock(root):
    try:
        return _open_private(_lock_path(root), os.O_RDWR | os.O_CREAT)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise LedgerError('Refusing %s: it is a symlink.' % _lock_path(root))
        raise


def reverter_running(root):
    """True when a reverter holds the ledger's lock.

    The probe takes the lock shared, never exclusive, and only for an instant; a starting reverter retries its
    exclusive lock for a while (ACQUIRE_SECONDS), so a probe cannot make it give up."""
    try:
        fd = _open_lock(root)
    except (OSError, LedgerError):
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)  # closing drops a lock we may have taken
    return False


def reverter_pid(root):
    try:
        value = _read_json(os.path.join(root, 'reverter.pid'))
    except (OSError, ValueError, LedgerError):
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def reverter_state(root):
    """What the running reverter last said: pid, start (of its process) and listed_at (ns, when its last listing
    of pending/ began), or None."""
    try:
        state = _read_json(os.path.join(root, 'reverter.state'))
    except (OSError, ValueError, LedgerError):
        return None
    if not isinstance(state, dict) or not isinstance(state.get('pid'), int) or \
            not isinstance(state.get('listed_at'), int):
        return None
    return state


def _state_alive(state):
    return state is not None and state.get('start') is not None and _process_start(state['pid']) == state['start']


def _spawn_detached(argv, env, log_path):
    """Start argv as a daemon: double fork, own session, no inherited descriptors; returns the daemon's pid.

    Its own session keeps it alive when the controller's process group is killed or
    the SSH session hangs up; the double fork leaves no zombie behind in the module.
    """
    env.pop('PYTHONSTARTUP', None)
    log_fd = _open_private(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    null_fd = os.open(os.devnull, os.O_RDONLY)
    pid_r, pid_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        try:
            os.setsid()
            grandchild = os.fork()
            if grandchild != 0:
                os.write(pid_w, str(grandchild).encode('ascii'))
                os._exit(0)  # pylint: disable=protected-access
            os.chdir('/')
            os.dup2(null_fd, 0)
            os.dup2(log_fd, 1)
            os.dup2(log_fd, 2)
            os.closerange(3, 65536)
            os.execve(argv[0], argv, env)
        finally:
            os._exit(127)  # pylint: disable=protected-access
    os.close(pid_w)
    os.close(log_fd)
    os.close(null_fd)
    data = b''
    while True:
        chunk = os.read(pid_r, 32)
        if not chunk:
            break
        data += chunk
    os.close(pid_r)
    os.waitpid(pid, 0)
    return int(data) if data.isdigit() else None


def _alive(pid):
    return pid is not None and _process_start(pid) is not None


def _log_tail(root, limit=600):
    try:
        text = _file_text(os.path.join(root, 'reverter.log')) or ''
    except (OSError, LedgerError):
        return ''
    return text[-limit:].strip()


def ensure_reverter(root, confirm_after=None, wait_seconds=START_WAIT_SECONDS):
    """Make sure a reverter runs for ``root`` and, with ``confirm_after`` (time_ns), that it has listed pending/
    since then; returns its pid, or None if that never happened.

    The wait adapts to a slow host: past ``wait_seconds`` it goes on, up to START_WAIT_MAX_SECONDS, for as long as
    a reverter process lives (one we started, or the lock holder)."""
    started = time.time()
    spawned = None
    runtime = None
    while True:
        state = reverter_state(root)
        confirmed = state is not None and (confirm_after is None or state['listed_at'] > confirm_after)
        if confirmed and _state_alive(state):
            return state['pid']
        running = reverter_running(root)
        if not running and not _alive(spawned):
            runtime = runtime or _install_runtime(root)
            path = os.pathsep.join([os.environ.get('PATH', '')] + list(_host_exec.TOOL_DIRS))
            spawned = _spawn_detached([sys.executable, '-m', REVERTER_MODULE, '--ledger-dir', root],
                                      dict(os.environ, PYTHONPATH=runtime, PYTHONDONTWRITEBYTECODE='1', PATH=path),
                                      os.path.join(root, 'reverter.log'))
        elapsed = time.time() - started
        if elapsed >= START_WAIT_MAX_SECONDS or (elapsed >= wait_seconds and not (running or _alive(spawned))):
            return None
        time.sleep(0.02)


def arm(root, entries):
    """Write-ahead: record entries durably and wait until a live reverter has seen them; returns (armed, pid).

    Call BEFORE the fault goes in. Each entry gets ``armed_by`` (this process), so the reverter waits for us to
    settle it (see settle) while we live, and performs it at its provisional deadline if we die first."""
    owner = arming_owner()
    for entry in entries:
        entry['armed_by'] = owner
        entry.pop('applied', None)
    record(root, entries, durable=True)
    pid = ensure_reverter(root, confirm_after=time.time_ns())
    return pid is not None, pid


def arm_failure(root):
    """The message for a reverter that did not confirm, with what its log says."""
    tail = _log_tail(root)
    return 'no reverter confirmed the revert within %d s%s' % (
        START_WAIT_MAX_SECONDS if reverter_running(root) else START_WAIT_SECONDS,
        (': %s' % tail.splitlines()[-1]) if tail else ' (see %s)' % os.path.join(root, 'reverter.log'))


class Reverter:
    """The loop of the detached reverter process."""

    def __init__(self, root, idle_exit=IDLE_EXIT_SECONDS):
        self.root = root
        self.idle_exit = idle_exit
        self.lock_fd = None
        self.inflight = set()
        self.inflight_lock = threading.Lock()
        self.pool = ThreadPoolExecutor(max_workers=REVERT_WORKERS)
        self.cache = {}  # file name -> (mtime_ns, entry): parse each entry once
        self.arming = {}  # entry id -> Future of its prearm
        self.listing = None  # (directory mtime_ns, listed at ns, entries) of the last listing
        self.owner = arming_owner()

    def acquire(self, patience=ACQUIRE_SECONDS):
        """Take the ledger's lock, retrying for ``patience`` seconds (a module's probe holds it shared for an
        instant); then say who we are. False when another reverter holds it."""
        fd = _open_lock(self.root)
        give_up = time.time() + patience
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                if time.time() >= give_up:
                    os.close(fd)
                    return False
                time.sleep(0.01)
        self.lock_fd = fd
        _write_json_atomic(os.path.join(self.root, 'reverter.pid'), os.getpid())
        return True

    def release_lock(self):
        if self.lock_fd is not None:
            os.close(self.lock_fd)
            self.lock_fd = None

    def _say_listed(self, listed_at):
        """Confirm to arming modules that every entry written before ``listed_at`` is in our hands."""
        if self.lock_fd is None:
            return
        state = dict(self.owner, listed_at=listed_at)
        _write_json_atomic(os.path.join(self.root, 'reverter.state'), state)

    def pending(self):
        """The pending entries. Entries only enter or leave pending/ by rename, which bumps the directory's
        mtime, so an unchanged directory is not listed again (a listing taken within the timestamp
        granularity of a change is not trusted)."""
        directory = os.path.join(self.root, 'pending')
        try:
            mtime = os.stat(directory).st_mtime_ns
        except OSError:
            mtime = None
        if mtime is not None and self.listing is not None:
            listed_mtime, listed_at, listed = self.listing
            if listed_mtime == mtime and listed_at - mtime > MTIME_MARGIN_NS:
                return listed
        listed_at = time.time_ns()
        entries = self._list_pending(directory)
        self.listing = (mtime, listed_at, entries)
        self._say_listed(listed_at)
        return entries

    def _list_pending(self, directory):
        entries = []
        seen = set()
        try:
            names = os.listdir(directory)
        except OSError:
            names = []
        for name in names:
            if not name.endswith('.json'):
                continue
            path = os.path.join(directory, name)
            try:
                mtime = os.lstat(path).st_mtime_ns
            except OSError:
                continue
            cached = self.cache.get(name)
            if cached is None or cached[0] != mtime:
                entry, reason = load_entry(path)
                if reason is not None:
                    # Not what we write: set aside, so that it can neither run nor block the others.
                    quarantine(self.root, name, reason)
                    continue
                if entry is None:
                    continue  # renamed meanwhile
                cached = self.cache[name] = (mtime, entry)
            seen.add(name)
            entries.append(cached[1])
        for name in list(self.cache):
            if name not in seen:
                del self.cache[name]
        return entries

    def _run_one(self, entry):
        arming = self.arming.pop(entry['id'], None)
        if arming is not None:
            try:
                arming.result(timeout=PREARM_SECONDS)
            except Exception:  # pylint: disable=broad-exception-caught
                pass  # not armed in time: the steps run one by one
        try:
            status, error = perform(entry)
            if status is not None:
                finish(self.root, entry, status, error)
                return
            entry = dict(entry)
            entry['attempts'] = entry.get('attempts', 0) + 1
            entry['last_error'] = error
            if time.time() - entry['deadline'] > GIVE_UP_AFTER_SECONDS:
                finish(self.root, entry, 'failed', error)
                return
            backoff = RETRY_BACKOFF_SECONDS[min(entry['attempts'], len(RETRY_BACKOFF_SECONDS)) - 1]
            entry['retry_at'] = time.time() + backoff
            release(self.root, entry)
        except Exception:  # pylint: disable=broad-exception-caught
            traceback.print_exc()  # the entry stays claimed; a restarted reverter takes it back
        finally:
            with self.inflight_lock:
                self.inflight.discard(entry['id'])

    def _lease_expired(self, name, now, leases):
        """lease_expired, read once per step: ``leases`` is that step's cache."""
        if name not in leases:
            leases[name] = lease_expired(self.root, name, now)
        return leases[name]

    def _due(self, entry, now, leases=None):
        """When to perform ``entry``: at its deadline, or at once when its lease expired (a failed attempt still
        waits for its retry time). A written-ahead entry whose module still lives and has not settled it waits
        for the module (its fault may be going in right now), for ARMING_PATIENCE_SECONDS at most."""
        deadline = entry['deadline']
        patience_until = deadline + ARMING_PATIENCE_SECONDS
        if entry.get('lease') and self._lease_expired(entry['lease'], now, {} if leases is None else leases):
            deadline = min(deadline, now)
            # The arming began when the entry was written: the patience counts from there, not from a far deadline.
            patience_until = min(patience_until, entry['created_at'] + ARMING_PATIENCE_SECONDS)
        due = max(deadline, entry.get('retry_at') or 0)
        if due <= now and arming_alive(entry) and now < patience_until:
            return now + POLL_SECONDS
        return due

    def step(self):
        """Dispatch every due entry; returns (pending entries, seconds until the next deadline)."""
        now = time.time()
        entries = self.pending()
        next_due = None
        leases = {}  # each lease is read at most once per step
        for entry in entries:
            due = self._due(entry, now, leases)
            if due <= now:
                with self.inflight_lock:
                    if entry['id'] in self.inflight:
                        continue
                if not claim(self.root, entry['id']):
                    continue
                if entry['deadline'] > now and leases.get(entry.get('lease')):
                    entry = dict(entry, ended_by='lease')  # done/ says why it came before its deadline
                with self.inflight_lock:
                    self.inflight.add(entry['id'])
                self.pool.submit(self._run_one, entry)
            else:
                if prearmable(entry) and not entry.get('attempts') and entry['id'] not in self.arming:
                    if due - PREARM_SECONDS <= now:
                        self.arming[entry['id']] = self.pool.submit(prearm, entry)
                    else:
                        due -= PREARM_SECONDS  # wake up in time to prearm it
                if next_due is None or due < next_due:
                    next_due = due
        self._forget_armed(entries)
        return entries, (None if next_due is None else next_due - now)

    def _forget_armed(self, entries):
        """Close the prearmed processes of entries that left pending without us (a module reverted them)."""
        with self.inflight_lock:
            keep = set(e['id'] for e in entries) | self.inflight
        for entry_id, arming in list(self.arming.items()):
            if entry_id not in keep and arming.done():
                self.arming.pop(entry_id, None)
                _close_armed(_take_armed(entry_id))

    def busy(self):
        with self.inflight_lock:
            return bool(self.inflight)

    def run(self):
        if not self.acquire():
            return 0
        recover_claimed(self.root)
        idle_since = None
        while True:
            if not os.path.isdir(self.root):
                break  # the ledger was removed under us: nothing is left to revert, and nobody could arm here
            try:
                entries, wait = self.step()
            except Exception:  # pylint: disable=broad-exception-caught
                # Never die with faults pending: log, and look again.
                traceback.print_exc()
                sys.stderr.flush()
                self.listing = None
                time.sleep(1)
                continue
            if entries or self.busy():
                idle_since = None
            else:
                idle_since = idle_since or time.time()
                if time.time() - idle_since >= self.idle_exit:
                    # Drop the lock first, then look once more: a module that wrote an entry
                    # after our last look either sees the lock free (and starts a reverter)
                    # or wrote before this look (and we carry on).
                    self.release_lock()
                    self.listing = None
                    if not self.pending() or not self.acquire(patience=0):
                        break
                    self.listing = None  # list again under the lock, and confirm what we saw
                    idle_since = None
            time.sleep(POLL_SECONDS if wait is None else max(0.0, min(POLL_SECONDS, wait)))
        self.pool.shutdown(wait=True)
        return 0


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    root = default_ledger_dir()
    if '--ledger-dir' in argv:
        root = argv[argv.index('--ledger-dir') + 1]
    os.umask(0o077)
    try:
        root = check_root(root)
    except LedgerError as exc:
        sys.stderr.write('reverter: %s\n' % exc)
        return 1
    return Reverter(root).run()


if __name__ == '__main__':
    raise SystemExit(main())

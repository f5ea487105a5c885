# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The revert ledger on disk: what we are about to change, how to undo it and by when; leases; the halt marker.

Every timed fault writes one JSON entry to ``<ledger_dir>/pending/`` on the host where the module runs (the
Docker host, when Ansible reaches it over SSH): what to undo, on which engine, by which deadline. An entry moves
``pending/`` -> ``claimed/`` (by whoever performs it: the reverter, or a module reverting early) -> ``done/``.
The rename is the lock: exactly one party performs each revert.

Write-ahead: a module writes (and fsyncs) the entry, and waits until a live reverter has listed it, BEFORE it
changes the target (see _reverter.arm). The entry then carries ``armed_by`` (the module's pid and start time)
and no ``applied`` mark; once the fault is in place the module settles it (``applied``, and the deadline counted
from that moment). Undo steps are idempotent, so an entry whose fault was never or only partly applied is
harmless.

An untimed fault (``untimed: true``: no deadline, on purpose) has no revert to arm; it leaves a note in
``<ledger_dir>/untimed/`` instead, so that the ledger still says what stays in place until someone removes it,
and the removal (``state: absent``, the teardown) closes the note into ``done/``.

Nobody else steers it: every directory under the ledger is ours and every file is checked when opened (see
_private_files.py). An entry that is not what we write is moved to ``quarantine/`` with its reason.
Imports nothing from Ansible: the detached reverter runs it too (see _reverter.py).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import math
import os
import pwd
import re
import socket
import sys
import time
import uuid

from concurrent.futures import ThreadPoolExecutor

from ansible_collections.chaos.engineering.plugins.module_utils._private_files import (
    LedgerError,
    check_ancestors,
    fsync_dir,
    open_private,
    private_dir,
    private_problem,
    read_json,
    read_json_or_none,
    write_json_atomic,
)
from ansible_collections.chaos.engineering.plugins.module_utils._process_identity import still_running

ENV_LEDGER_DIR = 'CHAOS_ENGINEERING_LEDGER_DIR'
# Written-ahead entries fsynced at once (see record).
FSYNC_WORKERS = 16


def default_ledger_dir():
    if os.environ.get(ENV_LEDGER_DIR):
        return os.environ[ENV_LEDGER_DIR]
    if os.geteuid() == 0:
        return '/var/lib/chaos-engineering/ledger'
    base = os.environ.get('XDG_STATE_HOME') or os.path.join(os.path.expanduser('~'), '.local', 'state')
    return os.path.join(base, 'chaos-engineering', 'ledger')


def check_root(root, create=True):
    """The ledger root, absolute, private and ours; raises LedgerError otherwise. Call before any use.

    With ``create=False`` (check mode) a missing ledger is not made: only the path and its parents are checked."""
    if not isinstance(root, str) or not os.path.isabs(root):
        raise LedgerError('ledger_dir must be an absolute path, got %r.' % (root,))
    root = os.path.normpath(root)
    check_ancestors(root)
    if not create and not os.path.lexists(root):
        return root
    return private_dir(root)


def _subdir(root, name):
    return private_dir(os.path.join(root, name))


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
        write_json_atomic(os.path.join(leases, name + '.json'), lease)
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
        if private_problem(os.path.join(root, 'leases'), os.lstat(os.path.join(root, 'leases')), 'dir'):
            return None
        lease = read_json(_lease_path(root, name))
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
        write_json_atomic(os.path.join(root, 'halt.json'), marker, durable=True)
    except OSError as exc:
        raise LedgerError('Cannot write the halt marker in %s: %s' % (root, exc))
    return marker


def read_halt(root):
    """The halt marker {at, by, reason}, or None when it is missing, not ours, a symlink or malformed."""
    marker = read_json_or_none(os.path.join(root, 'halt.json'))
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

def arming_alive(entry):
    """Is the module that wrote this entry ahead of its fault still running (and has not settled it)?"""
    return not entry.get('applied') and still_running(entry.get('armed_by'))


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
        entry = read_json(path)
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
    write_json_atomic(target + '.reason', dict(reason=reason, quarantined_at=time.time()))
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
            reason = read_json(os.path.join(qdir, name + '.reason')).get('reason')
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
        write_json_atomic(os.path.join(pending, entry['id'] + '.json'), entry)
    if durable and entries:
        # One fsync per file and one for the directory: the entries survive a crash of the host too. The files'
        # fsyncs run at once: the filesystem's journal commits them together (50 entries: ~4x faster).
        def fsync_entry(entry):
            fd = open_private(os.path.join(pending, entry['id'] + '.json'), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        if len(entries) == 1:
            fsync_entry(entries[0])
        else:
            with ThreadPoolExecutor(max_workers=min(FSYNC_WORKERS, len(entries))) as pool:
                list(pool.map(fsync_entry, entries))
        fsync_dir(pending)


def settle(root, entry, deadline=None):
    """The fault of this written-ahead entry is in place: mark it applied, with its deadline counted from now.

    Written as a new pending file whatever happened meanwhile: if the reverter already performed the entry (it
    undid nothing, or undid it early), the rewritten entry makes it undo the fault again at its deadline."""
    entry['applied'] = True
    entry['applied_at'] = time.time()
    if deadline is not None:
        entry['deadline'] = float(deadline)
    write_json_atomic(os.path.join(_subdir(root, 'pending'), entry['id'] + '.json'), entry)
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
    write_json_atomic(os.path.join(_subdir(root, 'done'), entry['id'] + '.json'), entry)
    try:
        os.unlink(os.path.join(root, 'claimed', entry['id'] + '.json'))
    except OSError:
        pass
    return entry


def release(root, entry):
    """Give a claimed entry back to pending (after a failed attempt), with its retry time."""
    write_json_atomic(os.path.join(_subdir(root, 'pending'), entry['id'] + '.json'), entry)
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


def discard(root, entries, status='reverted-by-module'):
    """Close pending entries whose revert the caller did itself (e.g. state=unpaused)."""
    closed = []
    for entry in entries:
        if claim(root, entry['id']):
            closed.append(finish(root, entry, status))
    return closed


# --- Untimed faults: kept until removed, on purpose; noted, never performed ---------------------------------

def note_untimed(root, fault, target, docker, **details):
    """Note an untimed fault that is about to go in (it has no revert to arm); returns the note."""
    note = dict(id='%s-%s' % (fault, uuid.uuid4().hex[:12]), fault=fault, untimed=True, target=target,
                docker=docker, created_at=time.time(), details=details)
    write_json_atomic(os.path.join(_subdir(root, 'untimed'), note['id'] + '.json'), note)
    return note


def list_untimed(root):
    """The notes of untimed faults still in place (as far as we know): files that are not ours are left out."""
    directory = os.path.join(root, 'untimed')
    notes = []
    for name in _json_names(directory):
        try:
            note = read_json(os.path.join(directory, name))
        except (OSError, ValueError, LedgerError):
            continue
        if isinstance(note, dict) and note.get('id') and name == note['id'] + '.json' and \
                isinstance(note.get('target'), dict) and isinstance(note.get('docker'), dict):
            notes.append(note)
    return notes


def close_untimed(root, notes, status='removed'):
    """The untimed faults of these notes are gone: move the notes to done/ with ``status``."""
    closed = []
    for note in notes:
        note = dict(note, status=status, finished_at=time.time())
        write_json_atomic(os.path.join(_subdir(root, 'done'), note['id'] + '.json'), note)
        try:
            os.unlink(os.path.join(root, 'untimed', note['id'] + '.json'))
        except OSError:
            continue
        closed.append(note)
    return closed

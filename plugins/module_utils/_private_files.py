# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private directories and files of ours: only the user who runs us steers the ledger.

Directories are made 0700 and files 0600 whatever the umask; each is checked when used (owner, mode, no
symlink, and the directories above it writable only by root or us), files are opened with O_NOFOLLOW, and JSON
is written atomically (a temporary file renamed into place). Imports nothing from Ansible: the detached reverter
runs it too (see _reverter.py).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import json
import os
import stat
import uuid

from ansible_collections.chaos.engineering.plugins.module_utils._errors import FaultError


class LedgerError(FaultError):
    """The ledger cannot be used safely; the message says why and what to do."""


def private_problem(path, st, kind):
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


def check_ancestors(path):
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


def private_dir(path):
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
    problem = private_problem(path, st, 'dir')
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


def open_private(path, flags, kind='file'):
    """os.open with O_NOFOLLOW, and the opened file checked to be ours and private; raises LedgerError."""
    fd = os.open(path, flags | os.O_NOFOLLOW | getattr(os, 'O_CLOEXEC', 0), 0o600)
    try:
        problem = private_problem(path, os.fstat(fd), kind)
    except OSError:
        os.close(fd)
        raise
    if problem:
        os.close(fd)
        raise LedgerError('Refusing %s: %s.' % (path, problem))
    return fd


def fsync_dir(path):
    fd = os.open(path, os.O_RDONLY | getattr(os, 'O_DIRECTORY', 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json_atomic(path, data, durable=False):
    tmp = '%s.tmp-%s' % (path, uuid.uuid4().hex[:8])
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, 'w') as handle:
        json.dump(data, handle, sort_keys=True)
        if durable:
            handle.flush()
            os.fsync(handle.fileno())
    os.rename(tmp, path)
    if durable:
        fsync_dir(os.path.dirname(path))


def read_json(path):
    with os.fdopen(open_private(path, os.O_RDONLY)) as handle:
        return json.load(handle)


def read_json_or_none(path):
    """The JSON in a private file of ours, or None when it is missing, unreadable, not ours or not JSON."""
    try:
        return read_json(path)
    except (OSError, ValueError, LedgerError):
        return None


def file_text(path):
    """The text of a private file of ours, or None when it is missing; raises LedgerError when it is not ours."""
    try:
        fd = open_private(path, os.O_RDONLY)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return None
        if exc.errno == errno.ELOOP:
            raise LedgerError('Refusing %s: it is a symlink.' % path)
        raise
    with os.fdopen(fd) as handle:
        return handle.read()

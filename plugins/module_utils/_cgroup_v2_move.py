# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Move a stress helper's processes into a child cgroup of its target's, on this host's cgroup v2 tree.

The systemd cgroup driver takes only a slice as a container's cgroup parent, and a target's cgroup is a scope, so
the engine cannot start our helper inside it. The kernel can: a process is moved by writing its pid into
cgroup.procs. The child gets no controller of its own (the target has processes, so it may not enable any for
children), so its processes are charged to the target: the target's cpu.max and memory.max hold them. Imports
nothing from Ansible: the detached reverter removes the child with it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import time

CGROUP_ROOT = '/sys/fs/cgroup'


class MoveError(Exception):
    """The helper's processes could not all be moved; the message says why."""


def is_local_v2(root=CGROUP_ROOT):
    """Is this host's cgroup tree the unified (v2) one? Its root has cgroup.controllers only then."""
    return os.path.isfile(os.path.join(root, 'cgroup.controllers'))


def _dir(root, path):
    return os.path.join(root, path.lstrip('/'))


def _pids(directory):
    try:
        with open(os.path.join(directory, 'cgroup.procs')) as handle:
            return [line.strip() for line in handle if line.strip()]
    except (IOError, OSError) as exc:
        if exc.errno == errno.ENOENT:  # systemd removed the emptied scope
            return []
        raise


def move_processes(from_path, to_path, root=CGROUP_ROOT, rounds=50, pause=0.02):
    """Make the cgroup ``to_path`` and move every process of ``from_path`` into it, until ``from_path`` is empty
    (a process forked before its parent moved is moved in the next round). Returns how many were moved."""
    target = _dir(root, to_path)
    try:
        os.mkdir(target)
    except OSError as exc:
        if exc.errno != errno.EEXIST:
            raise MoveError('cannot make the cgroup %s: %s' % (to_path, exc))
    moved = 0
    source = _dir(root, from_path)
    for _round in range(rounds):
        try:
            pids = _pids(source)
        except (IOError, OSError) as exc:
            raise MoveError('cannot read the processes of %s: %s' % (from_path, exc))
        if not pids:
            return moved
        for pid in pids:
            try:
                with open(os.path.join(target, 'cgroup.procs'), 'w') as handle:
                    handle.write(pid)
            except (IOError, OSError) as exc:
                if exc.errno == errno.ESRCH:  # it exited meanwhile
                    continue
                raise MoveError('cannot move process %s into %s: %s' % (pid, to_path, exc))
            moved += 1
        time.sleep(pause)
    raise MoveError('%s still had processes after %d rounds of moving them into %s' % (from_path, rounds, to_path))


def remove_child(path, root=CGROUP_ROOT):
    """Remove our child cgroup ``path``; gone already is fine. Raises OSError while it still has processes."""
    try:
        os.rmdir(_dir(root, path))
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            raise


def remove_children(paths, root=CGROUP_ROOT, wait=2.0):
    """Remove our child cgroups ``paths``, waiting up to ``wait`` seconds for the processes of a helper just
    removed to be reaped; returns the ones left (still busy: another fault's helper of the same stress runs)."""
    give_up = time.time() + wait
    left = list(paths)
    while True:
        busy = []
        for path in left:
            try:
                remove_child(path, root)
            except OSError:
                busy.append(path)
        if not busy or time.time() >= give_up:
            return busy
        left = busy
        time.sleep(0.1)
